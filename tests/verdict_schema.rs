//! Every command's `--json` output, refusals and usage errors included,
//! matches the versioned verdict schema (docs/verdict.schema.json).
mod common;
use common::*;

#[test]
fn every_command_prints_a_verdict_that_matches_the_schema() {
    let db = approved("APR-S", &valid_payload());
    let keys_dir = std::env::temp_dir().join(format!("dot-abs-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys_dir);
    let log = keys_dir.with_extension("jsonl");
    let spend = consume_args("GBA-C1-APR-S");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let runs: Vec<Vec<&str>> = vec![
        vec!["execute", "--apr", "APR-S", "--dry-run", "--json"],
        vec![
            "execute",
            "--apr",
            "APR-S",
            "--json",
            "--evidence-log",
            log.to_str().unwrap(),
        ],
        vec!["execute", "--apr", "APR-S", "--json"],
        vec!["execute", "--apr", "APR-NONE", "--json"],
        spend.clone(),
        spend,
        vec![
            "revoke", "--apr", "APR-S", "--reason", "r", "--by", "o", "--json",
        ],
        vec!["readback", "--apr", "APR-S", "--json"],
        vec!["readback", "--apr", "APR-NONE", "--json"],
        vec![
            "manifest",
            "hash",
            "fixtures/manifests/c1-valid.json",
            "--json",
        ],
        vec![
            "manifest",
            "canon",
            "fixtures/manifests/c1-valid.json",
            "--json",
        ],
        vec!["manifest", "hash", "/nonexistent.json", "--json"],
        vec![
            "propose",
            "--manifest",
            "fixtures/manifests/c1-valid.json",
            "--plan-ref",
            "P2",
            "--ttl",
            "1h",
            "--rollback-plan-ref",
            "R",
            "--by",
            "dot_c1_grant_issue",
            "--dry-run",
            "--json",
        ],
        vec!["keygen", "--out", keys_dir.to_str().unwrap(), "--json"],
        vec!["evidence", "verify", log.to_str().unwrap(), "--json"],
        vec![
            "evidence",
            "verify",
            "/nonexistent/evidence.jsonl",
            "--json",
        ],
        vec![
            "revoke",
            "--plan",
            "LEGO1-C1-PLAN",
            "--reason",
            "r",
            "--by",
            "o",
            "--dry-run",
            "--json",
        ],
        vec![
            "revoke", "--forged", "--reason", "r", "--by", "o", "--expect", "3", "--json",
        ],
        vec!["keys", "--json"],
        vec!["execute", "--json"],
        vec![
            "execute",
            "--apr",
            "APR-S",
            "--lock-timeout",
            "0s",
            "--json",
        ],
    ];
    let mut verdicts = std::collections::BTreeSet::new();
    for args in &runs {
        let run = db.run(args);
        // json() validates against the schema, and says which run failed.
        let v = run.json();
        assert_eq!(v["schema_version"], 1, "{run}");
        verdicts.insert(v["verdict"].as_str().unwrap().to_owned());
    }
    // Every kind of verdict was among them.
    for kind in ["OK", "FAIL", "ERROR", "USAGE"] {
        assert!(
            verdicts.contains(kind),
            "no {kind} verdict was checked: {verdicts:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&keys_dir);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn the_schema_refuses_what_a_verdict_must_never_be() {
    let schema = verdict_schema();
    for bad in [
        serde_json::json!({"verdict": "OK", "code": "MINTED", "message": "m"}),
        serde_json::json!({"schema_version": 1, "verdict": "MAYBE", "code": "MINTED", "message": "m"}),
        serde_json::json!({"schema_version": 1, "verdict": "ERROR", "code": "REJECT_X", "message": "m"}),
        serde_json::json!({"schema_version": 1, "verdict": "SKIP", "code": "REJECT_APR_TAMPERED", "message": "m"}),
        serde_json::json!({"schema_version": 1, "verdict": "OK", "code": "MINTED", "message": "m", "dry_run": "no"}),
    ] {
        assert!(!schema.is_valid(&bad), "{bad}");
    }
}
