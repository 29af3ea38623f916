//! Unit tests of the harness report: the table and what it says of a kept
//! cluster.

use super::row::outcome;
use super::*;

fn row(case: &str, failures: Vec<String>) -> Outcome {
    outcome(
        case,
        "what is wrong",
        "FAIL REJECT_X",
        "FAIL REJECT_X".into(),
        0,
        0,
        failures,
    )
}

#[test]
fn the_table_has_a_header_a_row_per_case_the_failures_and_the_closing_count() {
    let report = Report {
        rows: vec![
            row("execute/real_run_mode", vec![]),
            row("consume/expired", vec!["expected OK, got FAIL".into()]),
        ],
        kept: None,
        socket_dir: String::new(),
        server: "postgres (PostgreSQL) 13.23 in /x/bin".into(),
    };
    let text = table(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("case "), "{text}");
    assert!(lines[1].starts_with("execute/real_run_mode") && lines[1].ends_with("PASS"));
    assert!(lines[2].starts_with("consume/expired") && lines[2].ends_with("FAIL"));
    assert!(text.contains("FAIL consume/expired: expected OK, got FAIL"));
    assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
    // The verdict's last line: commands/harness_report.rs's test.
}

#[test]
fn a_kept_cluster_is_printed_with_its_socket_and_data_dirs_and_databases() {
    let report = Report {
        rows: vec![row("execute/real_run_mode", vec![])],
        kept: Some(crate::disposable::pgtemp::Kept {
            stop_with: "pg_ctl -D /x/data -m fast stop && rm -rf /x".into(),
            socket_dir: "/x/sock".into(),
            data_dir: "/x/data".into(),
            databases: vec!["case_1".into(), "postgres".into()],
        }),
        socket_dir: "/x/sock".into(),
        server: "postgres (PostgreSQL) 18.4 in /x/bin".into(),
    };
    let text = summary(&report);
    for want in [
        "socket dir: /x/sock",
        "data dir: /x/data",
        "databases: case_1, postgres",
        "stop it with: pg_ctl -D /x/data -m fast stop && rm -rf /x",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
}
