//! The shell completions in share/ complete every option of every
//! subcommand, each shell driven for real: bash (the script sourced, the
//! function `complete -p` names called with COMP_WORDS / COMP_CWORD,
//! COMPREPLY read), zsh (an interactive zsh on a pseudo-terminal through
//! zsh/zpty, compinit with share/completions on its fpath, TAB pressed,
//! every match the completion system adds recorded) and fish (`complete -C`
//! with share/completions on fish_complete_path). A shell that is not
//! installed fails its test with how to install it: .ci/run installs them.
//! The structural checks of the zsh and fish scripts stay as a second look.
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

/// Fails, saying how to install it, when `shell` is not on PATH: a
/// completion that was never run proves nothing.
fn require(shell: &str) {
    let found = Command::new(shell)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{shell} is not installed, so its completion cannot be proven: \
         install it (apt-get install -y {shell}; .ci/run does) and run the tests again"
    );
}

/// PATH with the built binary first: fish loads a command's completions
/// only for a command it can find.
fn path_with_binary() -> std::ffi::OsString {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_dot-authorize-build-step"))
        .parent()
        .expect("the binary's directory")
        .to_owned();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("a PATH")
}

/// Runs `cmd`, killed if it has not finished within 60 s.
fn bounded(cmd: &mut Command) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the shell");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait for the shell").is_some() {
            return child.wait_with_output().expect("read the shell's output");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("read the shell's output");
            panic!(
                "the shell did not finish within 60 s\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What zsh's own completion offers: the line typed into an interactive
/// zsh on a pseudo-terminal, then TAB. `compadd` is wrapped to append
/// every match it adds to a file, and a post-completion hook writes a
/// marker and exits; the driver waits (bounded) for the marker.
fn zsh_complete(path: &[String], cur: &str) -> (Vec<String>, String) {
    const INIT: &str = r#"PROMPT=
RPROMPT=
fpath=("$ZT_FPATH" $fpath)
autoload -Uz compinit
compinit -u -D
bindkey '^I' complete-word
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd () {
    # The completion system's own bookkeeping calls (-O, -A, -D) pass through.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return $?
    fi
    typeset -a __hits
    builtin compadd -A __hits "$@"
    (( $#__hits )) && print -rl -- $__hits >> "$ZT_OUT"
    return 0
}
zt_done () { print -r -- __ZT_DONE__ >> "$ZT_OUT"; exit }
comppostfuncs=( zt_done )
"#;
    const DRIVE: &str = r#"zmodload zsh/zpty || { print -u2 'no zsh/zpty module'; exit 3 }
zpty z zsh -f -i
zpty -w z "source ${(q)ZT_INIT}"
zpty -w z "$1"$'\t'
integer i
for (( i = 0; i < 1000; i++ )); do
    [[ -f $ZT_OUT ]] && grep -q __ZT_DONE__ "$ZT_OUT" && break
    sleep 0.05
done
zpty -d z
[[ -f $ZT_OUT ]] && grep -q __ZT_DONE__ "$ZT_OUT"
"#;
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dot-abs-zsh-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (init, drive, out) = (dir.join("init.zsh"), dir.join("drive.zsh"), dir.join("out"));
    std::fs::write(&init, INIT).unwrap();
    std::fs::write(&drive, DRIVE).unwrap();
    let mut words = vec![NAME.to_string()];
    words.extend(path.iter().cloned());
    let line = format!("{} {cur}", words.join(" "));
    let result = bounded(
        Command::new("zsh")
            .arg("-f")
            .arg(&drive)
            .arg(&line)
            .env("PATH", path_with_binary())
            .env("ZT_FPATH", share(""))
            .env("ZT_INIT", &init)
            .env("ZT_OUT", &out)
            .env("HOME", &dir),
    );
    let recorded = std::fs::read_to_string(&out).unwrap_or_default();
    let log = format!(
        "zsh for {line:?}: exit {:?}\nrecorded:\n{recorded}\nstderr:\n{}",
        result.status.code(),
        String::from_utf8_lossy(&result.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.status.success(), "{log}");
    let offered = recorded
        .lines()
        .filter(|l| *l != "__ZT_DONE__")
        .map(|l| l.trim_end_matches('=').to_string())
        .collect();
    (offered, log)
}

/// What fish's own completion offers (`complete -C`), the candidates
/// without their descriptions.
fn fish_complete(path: &[String], cur: &str) -> (Vec<String>, String) {
    let mut words = vec![NAME.to_string()];
    words.extend(path.iter().cloned());
    let line = format!("{} {cur}", words.join(" "));
    let out = bounded(
        Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg("set -p fish_complete_path $argv[1]; complete -C $argv[2]")
            .arg(share(""))
            .arg(&line)
            .env("PATH", path_with_binary()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log = format!(
        "fish for {line:?}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    let offered = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    (offered, log)
}

/// Every option of every subcommand at `--<TAB>`, nothing but options; a
/// prefix narrows; an option's value does not stop the options; the
/// subcommands complete, `keys` among them.
fn completes_everything(shell: &str, complete: fn(&[String], &str) -> (Vec<String>, String)) {
    require(shell);
    for (path, longs) in paths() {
        let (offered, log) = complete(&path, "--");
        for long in &longs {
            assert!(
                offered.contains(long),
                "{shell}: `{NAME} {} --<TAB>` does not offer {long}\n{log}",
                path.join(" ")
            );
        }
        assert!(
            offered.iter().all(|o| o.starts_with("--")),
            "{shell}: offers something that is not an option\n{log}"
        );
    }
    let (offered, log) = complete(&["execute".into()], "--dry");
    assert_eq!(offered, ["--dry-run"], "{log}");
    let (offered, log) = complete(&["revoke".into(), "--plan".into(), "P".into()], "--ex");
    assert_eq!(offered, ["--expect"], "{log}");
    let (offered, log) = complete(
        &["--json".into(), "evidence".into(), "verify".into()],
        "--tr",
    );
    assert_eq!(offered, ["--trusted-keys"], "{log}");
    let (offered, log) = complete(&[], "");
    for sub in Cli::command().get_subcommands() {
        assert!(
            offered.contains(&sub.get_name().to_string()),
            "{shell}: `{NAME} <TAB>` does not offer {}\n{log}",
            sub.get_name()
        );
    }
    let (offered, log) = complete(&["manifest".into()], "");
    assert!(
        offered.contains(&"hash".to_string()) && offered.contains(&"canon".to_string()),
        "{log}"
    );
}

#[test]
fn zsh_completes_every_option_of_every_subcommand_driven_through_a_pty() {
    completes_everything("zsh", zsh_complete);
}

#[test]
fn fish_completes_every_option_of_every_subcommand_with_complete_dash_c() {
    completes_everything("fish", fish_complete);
}
