//! The man page and completions in share/ are what the command-line
//! definition generates now: a change to an option without
//! `scripts/gen-docs` fails here. And the documentation stands alone: a
//! clone needs nothing outside it to follow a link or a citation.
#[path = "../examples/gen_docs/docs.rs"]
mod docs;

#[test]
fn share_holds_the_current_man_page_and_completions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("share");
    let files = docs::files().expect("render");
    assert!(files.len() > 4);
    for (path, want) in files {
        let have = std::fs::read(root.join(&path))
            .unwrap_or_else(|e| panic!("share/{path}: {e}; run scripts/gen-docs"));
        assert!(
            have == want,
            "share/{path} is stale; run scripts/gen-docs and commit it"
        );
    }
}

#[test]
fn the_man_page_and_every_completion_know_every_subcommand() {
    let files: Vec<_> = docs::files()
        .expect("render")
        .into_iter()
        .filter(|(p, _)| !p.starts_with("man/man1/dot-authorize-build-step-"))
        .collect();
    for sub in [
        "execute",
        "consume",
        "revoke",
        "readback",
        "propose",
        "digest",
        "keygen",
        "evidence",
        "list",
        "show",
        "review",
        "harness",
        "manifest",
        "propose-patch",
        "show-patch",
        "aprs",
    ] {
        for (path, bytes) in &files {
            let text = String::from_utf8_lossy(bytes).replace("\\-", "-");
            assert!(text.contains(sub), "{path} does not mention {sub}");
        }
    }
}

#[test]
fn every_page_the_main_page_refers_to_is_there() {
    let files = docs::files().expect("render");
    let main = files
        .iter()
        .find(|(p, _)| p == "man/man1/dot-authorize-build-step.1")
        .map(|(_, b)| String::from_utf8_lossy(b).replace("\\-", "-"))
        .unwrap();
    // SUBCOMMANDS has one a line; SEE ALSO lists them `a(1), b(1)`.
    for line in main
        .lines()
        .flat_map(|l| l.split(", "))
        .filter(|l| l.starts_with("dot-authorize-build-step-") && l.ends_with("(1)"))
    {
        let page = line.trim_end_matches("(1)");
        assert!(
            files
                .iter()
                .any(|(p, _)| *p == format!("man/man1/{page}.1")),
            "{page}(1) is referred to but not generated"
        );
    }
}

/// The files a user of a clone reads: the READMEs, docs/, the staged
/// files, the scripts and the source.
fn project_texts() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![
        root.join("docs"),
        root.join("staged"),
        root.join("scripts"),
        root.join("src"),
        root.join("examples"),
    ];
    out.push(root.join("README.md"));
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect()
}

#[test]
fn the_repository_stands_alone_every_link_and_citation_resolves_inside_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let contract = std::fs::read_to_string(root.join("docs/contract.md")).unwrap();
    let mut problems = Vec::new();
    for (path, text) in project_texts() {
        let name = path.strip_prefix(root).unwrap().display().to_string();
        if text.contains("../shared") {
            problems.push(format!(
                "{name} points at ../shared, which a clone does not have"
            ));
        }
        // Every "SPEC §N" names a section the contract's own table maps.
        for (at, _) in text.match_indices("SPEC §") {
            let n: String = text[at + "SPEC §".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if n.is_empty() {
                continue; // "SPEC §N", the placeholder
            }
            let mapped = contract.lines().any(|l| {
                l.starts_with("| SPEC §")
                    && l.split('|').nth(1).is_some_and(|cited| {
                        [format!("§{n} "), format!("§{n}–"), format!("–{n} ")]
                            .iter()
                            .any(|form| cited.contains(form.as_str()))
                    })
            });
            if !mapped {
                problems.push(format!(
                    "{name} cites SPEC §{n}, which docs/contract.md does not map"
                ));
            }
        }
        // Every relative Markdown link reaches a file of the repository.
        if name.ends_with(".md") {
            for (at, _) in text.match_indices("](") {
                let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
                let file = target.split('#').next().unwrap_or("");
                if file.is_empty() || file.contains("://") {
                    continue;
                }
                if !path.parent().unwrap().join(file).exists() {
                    problems.push(format!("{name} links to {target}, which is not there"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
