//! The man pages in share/man/man1 as a reader meets them: every page
//! (the top level, each subcommand, each nested one) has EXIT STATUS,
//! ENVIRONMENT and EXAMPLES, and every `name(1)` it refers to is a page
//! that is there.
use std::collections::BTreeMap;

const NAME: &str = "dot-authorize-build-step";

fn man1() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("share/man/man1")
}

/// Every page: file name → its roff text with `\-` read as `-`.
fn pages() -> BTreeMap<String, String> {
    std::fs::read_dir(man1())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap().replace("\\-", "-");
            (p.file_name().unwrap().to_string_lossy().to_string(), text)
        })
        .collect()
}

/// The `.SH` sections of a page, in order, each with its body.
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix(".SH ") {
            out.push((name.trim_matches('"').to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn every_page_has_exit_status_environment_and_examples_and_no_extra() {
    let pages = pages();
    for must in [
        format!("{NAME}.1"),
        format!("{NAME}-execute.1"),
        format!("{NAME}-evidence-verify.1"),
        format!("{NAME}-manifest-hash.1"),
        format!("{NAME}-manifest-canon.1"),
    ] {
        assert!(pages.contains_key(&must), "no page {must}");
    }
    for (file, text) in &pages {
        let sections = sections(text);
        let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"] {
            let body = sections
                .iter()
                .find(|(n, _)| n == want)
                .map(|(_, b)| b)
                .unwrap_or_else(|| panic!("{file} has no {want} section: {names:?}"));
            assert!(
                body.lines()
                    .any(|l| !l.starts_with('.') && !l.trim().is_empty()),
                "{file}: {want} is empty"
            );
        }
        assert!(
            !names.contains(&"EXTRA"),
            "{file} still has EXTRA: {names:?}"
        );
        let (_, examples) = sections.iter().find(|(n, _)| n == "EXAMPLES").unwrap();
        assert!(
            examples.lines().any(|l| l.trim_start().starts_with(NAME)),
            "{file}: EXAMPLES shows no command line:\n{examples}"
        );
        let (_, exit) = sections.iter().find(|(n, _)| n == "EXIT STATUS").unwrap();
        for code in ["0", "2", "3", "4", "5"] {
            assert!(
                exit.lines().any(|l| l.trim_start().starts_with(code)),
                "{file}: EXIT STATUS does not list {code}:\n{exit}"
            );
        }
    }
}

#[test]
fn every_page_a_page_refers_to_is_in_share_man_man1() {
    let pages = pages();
    let mut refs = 0;
    for (file, text) in &pages {
        for (at, _) in text.match_indices("(1)") {
            let name: String = text[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            assert!(!name.is_empty(), "{file}: a (1) with no name before it");
            refs += 1;
            assert!(
                man1().join(format!("{name}.1")).exists(),
                "{file} refers to {name}(1), which share/man/man1 does not have"
            );
        }
    }
    assert!(refs > pages.len(), "only {refs} references read");
    for (file, text) in &pages {
        if file != &format!("{NAME}.1") {
            assert!(
                text.contains(&format!("{NAME}(1)")),
                "{file} does not refer back to {NAME}(1)"
            );
        }
    }
}
