//! What `harness` prints for a human: the harness's own summary
//! (disposable::harness::summary: the table, the server, a kept cluster)
//! and, like every command, the verdict as the last line. It renders only;
//! it runs nothing.

use crate::commands::verdict::Verdict;
use crate::disposable::harness::{summary, Report};

/// The summary, then `VERDICT CODE: message`.
pub fn text(report: &Report, verdict: &Verdict) -> String {
    let mut text = summary(report);
    text.push_str(&format!(
        "{} {}: {}\n",
        verdict.kind().as_str(),
        verdict.code(),
        crate::canon::text::escape(&verdict.message)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::verdict::Status;
    use crate::decide::reject::Reject;
    use crate::disposable::cases::Outcome;

    #[test]
    fn the_verdict_is_the_last_line_after_the_server() {
        let row = |case: &str, failures: Vec<String>| Outcome {
            case: case.into(),
            wrong: "what is wrong".into(),
            expected: "FAIL REJECT_X".into(),
            got: "FAIL REJECT_X".into(),
            grants_before: 0,
            grants_after: 0,
            failures,
            transcript: String::new(),
        };
        let report = Report {
            rows: vec![
                row("execute/real_run_mode", vec![]),
                row("consume/expired", vec!["expected OK, got FAIL".into()]),
            ],
            kept: None,
            socket_dir: String::new(),
            server: "postgres (PostgreSQL) 13.23 in /x/bin".into(),
        };
        let v = Verdict::new(Status::Reject(Reject::HarnessFailed), "1 passed, 1 failed");
        let full = text(&report, &v);
        assert!(
            full.contains("\nserver: postgres (PostgreSQL) 13.23 in /x/bin\n"),
            "{full}"
        );
        assert_eq!(
            full.lines().last(),
            Some("FAIL HARNESS_FAILED: 1 passed, 1 failed")
        );
    }
}
