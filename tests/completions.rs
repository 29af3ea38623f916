//! The shell completions in share/ complete every option of every
//! subcommand: bash is driven for real (the script sourced, the function
//! `complete -p` names called with COMP_WORDS / COMP_CWORD, COMPREPLY read);
//! zsh and fish are not installed on the build machine, so their scripts
//! are checked structurally: every option of every subcommand sits in the
//! block for that subcommand.
use clap::CommandFactory as _;
use dot_authorize_build_step::cli::Cli;
use std::process::Command;

const NAME: &str = "dot-authorize-build-step";

fn share(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("share/completions")
        .join(file)
}

/// Every subcommand path (`["manifest", "hash"]`) with its long options,
/// clap's own `help` subcommands left out (they take no options).
fn paths() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let longs = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .chain(["--help".to_string()])
            .collect();
        out.push((path.clone(), longs));
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, Vec::new(), &mut out);
    out.retain(|(p, _)| !p.iter().any(|s| s == "help"));
    out
}

/// What bash's completion offers for `NAME <path…> <cur>`.
fn bash_complete(path: &[String], cur: &str) -> (Vec<String>, String) {
    let mut words = vec![NAME.to_string()];
    words.extend(path.iter().cloned());
    words.push(cur.to_string());
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        r#"set -u
source "$1"
spec=$(complete -p {NAME})
fn=$(printf '%s\n' "$spec" | sed -E 's/.*-F ([^ ]+) .*/\1/')
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$fn" {NAME} "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .arg("bash")
        .arg(share(&format!("{NAME}.bash")))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log = format!(
        "bash for {words:?}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    (stdout.lines().map(str::to_string).collect(), log)
}

#[test]
fn bash_completes_every_option_of_every_subcommand_nested_ones_too() {
    let all = paths();
    for must in [
        vec!["execute"],
        vec!["list"],
        vec!["show"],
        vec!["propose-patch"],
        vec!["manifest", "hash"],
        vec!["evidence", "verify"],
        vec!["aprs", "list"],
        vec!["aprs", "show"],
    ] {
        assert!(
            all.iter().any(|(p, _)| *p == must),
            "{must:?} is not a subcommand path"
        );
    }
    for (path, longs) in &all {
        let (offered, log) = bash_complete(path, "--");
        for long in longs {
            assert!(
                offered.contains(long),
                "`{NAME} {} --<TAB>` does not offer {long}\n{log}",
                path.join(" ")
            );
        }
        assert!(
            offered.iter().all(|o| o.starts_with("--")),
            "offers something that is not an option\n{log}"
        );
    }
    // A prefix narrows it, and the subcommands themselves complete.
    let (offered, log) = bash_complete(&["execute".into()], "--dry");
    assert_eq!(offered, ["--dry-run"], "{log}");
    // After an option and its value, the options still complete.
    let (offered, log) = bash_complete(&["execute".into(), "--apr".into(), "APR-1".into()], "--d");
    assert!(
        offered.contains(&"--dry-run".to_string()) && offered.contains(&"--db-url".to_string()),
        "{log}"
    );
    let (offered, log) = bash_complete(
        &["--json".into(), "evidence".into(), "verify".into()],
        "--tr",
    );
    assert_eq!(offered, ["--trusted-keys"], "{log}");
    let (offered, log) = bash_complete(&["manifest".into()], "");
    assert!(
        offered.contains(&"hash".to_string()) && offered.contains(&"canon".to_string()),
        "{log}"
    );
}

/// clap writes one `(name)` case arm per level, each level's arms after
/// its parent's, and the level's `_arguments` block right after its arm.
#[test]
fn zsh_script_lists_every_option_under_its_subcommand() {
    let text = std::fs::read_to_string(share(&format!("_{NAME}"))).unwrap();
    for (path, longs) in paths() {
        // Walk down: each level is a `(name)` arm after the previous one.
        let mut at = 0;
        for name in &path {
            let arm = format!("({name})");
            let mut found = None;
            let mut offset = at;
            for line in text[at..].split_inclusive('\n') {
                offset += line.len();
                if line.trim() == arm {
                    found = Some(offset);
                    break;
                }
            }
            at = found.unwrap_or_else(|| panic!("zsh: no arm for {path:?}"));
        }
        // The arm's own `_arguments` block runs up to its closing `&& ret=0`.
        let block_end = text[at..].find("&& ret=0").expect("an _arguments block") + at;
        let block = &text[at..block_end];
        for long in &longs {
            assert!(
                [format!("{long}["), format!("{long}=[")]
                    .iter()
                    .any(|spec| {
                        // Preceded by the quote, an exclusion list `(…)` or `*`.
                        block
                            .match_indices(spec.as_str())
                            .any(|(i, _)| i > 0 && b"')*".contains(&block.as_bytes()[i - 1]))
                    }),
                "zsh: {path:?} does not complete {long}:\n{block}"
            );
        }
    }
}

#[test]
fn fish_script_lists_every_option_under_its_subcommand() {
    let text = std::fs::read_to_string(share(&format!("{NAME}.fish"))).unwrap();
    for (path, longs) in paths() {
        let condition = match path.as_slice() {
            [] => "__fish_dot_authorize_build_step_needs_command".to_string(),
            [one] => format!("__fish_dot_authorize_build_step_using_subcommand {one}"),
            [one, two] => format!(
                "__fish_dot_authorize_build_step_using_subcommand {one}; and __fish_seen_subcommand_from {two}"
            ),
            deeper => panic!("fish: no check written for {deeper:?}"),
        };
        for long in &longs {
            let flag = format!(" -l {}", long.trim_start_matches("--"));
            assert!(
                text.lines().any(|l| {
                    let head = format!("complete -c {NAME} -n \"{condition}");
                    l.starts_with(&format!("{head}\""))
                        || l.starts_with(&format!("{head}; and not __fish_seen_subcommand_from "))
                            && (l.contains(&format!("{flag} ")) || l.ends_with(&flag))
                }),
                "fish: {path:?} does not complete {long}"
            );
        }
    }
}
