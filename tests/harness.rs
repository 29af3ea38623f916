//! `harness` end to end: the binary alone starts its cluster, runs every
//! fixture and both races, and says so in one JSON verdict.
mod common;
use common::*;

#[test]
fn harness_runs_every_fixture_and_both_races_and_all_pass() {
    let out = std::process::Command::new(BIN)
        .args(["harness", "--json"])
        .output()
        .unwrap();
    let run = Run {
        argv: vec!["harness".into(), "--json".into()],
        output: out,
    };
    run.expect(0, "OK", "HARNESS_PASSED");
    let json = run.json();
    let cases = json["cases"].as_array().unwrap();
    let fixtures: usize = dot_authorize_build_step::cases::suites()
        .iter()
        .map(|(_, s)| s.cases.len())
        .sum();
    assert_eq!(
        cases.len(),
        fixtures + 3,
        "bind/unbind + every fixture + 2 races"
    );
    assert_eq!(json["passed"], cases.len());
    assert_eq!(json["failed"], 0);
    for name in [
        "staged/bind-then-unbind",
        "race/execute-x64",
        "race/consume-x64",
        "execute/positive_rerun",
    ] {
        assert!(
            cases.iter().any(|c| c["case"] == name && c["pass"] == true),
            "{name}"
        );
    }
}

#[test]
fn harness_prints_a_table_and_the_closing_count() {
    let out = std::process::Command::new(BIN)
        .args(["harness"])
        .output()
        .unwrap();
    let run = Run {
        argv: vec!["harness".into()],
        output: out,
    };
    assert_eq!(run.exit(), 0, "{run}");
    let text = run.stdout();
    let last = text.lines().last().unwrap_or_default().to_owned();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert!(text.lines().next().unwrap().starts_with("case "), "{text}");
    assert!(
        text.contains("execute/real_run_mode") && text.contains("C1_PROD_REAL_RUN_BLOCKED"),
        "{text}"
    );
}

#[test]
fn missing_server_binaries_are_an_error_that_says_how_to_install_them() {
    let empty = std::env::temp_dir().join(format!("dot-abs-no-pg-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["harness", "--json"])
        .env("PG_BIN", &empty)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&empty).ok();
    let run = Run {
        argv: vec!["harness".into()],
        output: out,
    };
    run.expect(5, "ERROR", "ERROR_IO");
    let message = run.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("apt-get install postgresql") && message.contains("PG_BIN"),
        "{message}"
    );
}
