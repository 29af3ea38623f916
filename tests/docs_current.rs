//! The man page and completions in share/ are what the command-line
//! definition generates now: a change to an option without
//! `scripts/gen-docs` fails here.
use dot_authorize_build_step::docs;

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
    for line in main
        .lines()
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
