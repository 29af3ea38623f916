//! The commands operators reach for: `list` and `show`.
mod common;
use common::*;

#[test]
fn list_filters_and_prints_a_table_json_or_json_lines() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-L1", "PLAN-A");
    db.mint_for_plan("APR-L2", "PLAN-B");
    db.mint_for_plan("APR-L3", "PLAN-C");
    db.run(&[
        "revoke", "--apr", "APR-L3", "--reason", "r", "--by", "owner", "--json",
    ])
    .expect(0, "OK", "REVOKED");
    let before = db.snapshot();
    let all = db.run(&["list", "--json"]);
    all.expect(0, "OK", "LISTED");
    assert_eq!(all.json()["count"], 3);
    assert!(all.json()["grants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["signature"] == "verified"));
    let active = db.run(&["list", "--status", "active", "--json"]);
    assert_eq!(active.json()["count"], 2, "{active}");
    let plan = db.run(&["list", "--plan", "PLAN-B", "--json"]);
    assert_eq!(plan.json()["grants"][0]["auth_code"], "GBA-C1-APR-L2");
    let soon = db.run(&["list", "--expiring-within", "2h", "--json"]);
    assert_eq!(soon.json()["count"], 2, "{soon}");
    let later = db.run(&["list", "--expiring-within", "1m", "--json"]);
    assert_eq!(later.json()["count"], 0, "{later}");
    let lines = db.run(&["list", "--jsonl", "--limit", "2"]);
    assert_eq!(lines.exit(), 0);
    let rows: Vec<serde_json::Value> = lines
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let table = db.run(&["list"]);
    assert!(table.stdout().starts_with("auth_code "), "{table}");
    assert!(table.stdout().contains("GBA-C1-APR-L3") && table.stdout().contains("revoked"));
    assert!(
        table.stdout().trim_end().ends_with("OK LISTED: 3 grants"),
        "{table}"
    );
    assert_eq!(db.snapshot(), before, "list writes nothing");
}

#[test]
fn show_gives_the_binding_the_signature_check_and_the_history() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-S1", "PLAN-S");
    let spend = consume_args("GBA-C1-APR-S1");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let mut spend = spend.clone();
    let plan_at = spend.iter().position(|a| *a == "--plan-ref").unwrap() + 1;
    spend[plan_at] = "PLAN-S";
    db.run(&spend).expect(0, "OK", "CONSUMED");
    let shown = db.run(&["show", "--apr", "APR-S1", "--json"]);
    shown.expect(0, "OK", "SHOWN");
    let v = shown.json();
    assert_eq!(v["grant"]["status"], "consumed");
    assert_eq!(v["grant"]["plan_ref"], "PLAN-S");
    assert_eq!(v["grant"]["signature"], "verified");
    let events: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["minted", "consumed"]);
    let human = db.run(&["show", "--auth-code", "GBA-C1-APR-S1"]);
    assert!(human.stdout().contains("OK SHOWN"), "{human}");
    db.run(&["show", "--apr", "APR-NONE", "--json"])
        .expect(4, "FAIL", "REJECT_AUTH_NOT_FOUND");
    // A row whose signature was stripped is shown, and called forged.
    db.mint_for_plan("APR-S2", "PLAN-T");
    db.sql(
        "SET session_replication_role = replica; \
         UPDATE governance_build_authorization SET signature = NULL WHERE request_ref = 'APR-S2'; \
         SET session_replication_role = origin;",
    );
    let forged = db.run(&["show", "--apr", "APR-S2", "--json"]);
    assert!(
        forged.json()["grant"]["signature"]
            .as_str()
            .unwrap()
            .starts_with("FORGED"),
        "{forged}"
    );
}

/// Approvers' logins, members of the staged reviewer role (roles are the
/// cluster's, shared by every test database).
fn reviewers(db: &Db<'_>) {
    logins(db, &["alice_rv", "bob_rv"], Some("dot_apr_reviewer"));
}

#[test]
fn review_reject_reason_is_in_the_verdict_and_refused_with_approve_or_when_malformed() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db);
    let payload = valid_payload();
    db.insert_apr("APR-RR", "authorize_build_step", &payload, "proposed");
    let before = db.snapshot();
    let long = "x".repeat(501);
    for (decision, reason) in [
        ("--approve", "looks fine"),
        ("--reject", ""),
        ("--reject", "two\nlines"),
        ("--reject", long.as_str()),
    ] {
        let run = db.run_as(
            "alice_rv",
            &[
                "review", "--apr", "APR-RR", decision, "--reason", reason, "--json",
            ],
        );
        assert_eq!(run.exit(), 2, "{run}");
        assert_eq!(run.json()["verdict"], "USAGE", "{run}");
    }
    assert_eq!(db.snapshot(), before);
    let run = db.run_as(
        "alice_rv",
        &[
            "review",
            "--apr",
            "APR-RR",
            "--reject",
            "--reason",
            "wrong plan ref",
            "--json",
        ],
    );
    run.expect(0, "OK", "REVIEWED");
    assert_eq!(run.json()["decision"], "reject", "{run}");
    assert_eq!(run.json()["reason"], "wrong plan ref", "{run}");
}

#[test]
fn review_with_a_mistyped_digest_is_usage_and_another_payloads_digest_is_digest_mismatch() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db);
    let payload = valid_payload();
    let d = digest(&payload);
    db.insert_apr("APR-DM", "authorize_build_step", &payload, "proposed");
    let before = db.snapshot();
    let upper = d.to_uppercase();
    let short = &d[..63];
    for bad in ["4f0c", short, upper.as_str(), "not-a-digest"] {
        let run = db.run_as(
            "alice_rv",
            &[
                "review", "--apr", "APR-DM", "--reject", "--digest", bad, "--json",
            ],
        );
        assert_eq!(run.exit(), 2, "{run}");
        assert_eq!(run.json()["verdict"], "USAGE", "{run}");
    }
    let other = "0".repeat(64);
    db.run_as(
        "alice_rv",
        &[
            "review", "--apr", "APR-DM", "--reject", "--digest", &other, "--json",
        ],
    )
    .expect(4, "FAIL", "REJECT_DIGEST_MISMATCH");
    assert_eq!(db.snapshot(), before);
    db.run_as(
        "alice_rv",
        &[
            "review", "--apr", "APR-DM", "--reject", "--digest", &d, "--json",
        ],
    )
    .expect(0, "OK", "REVIEWED");
}

#[test]
fn review_records_a_vote_with_the_digest_shown_under_the_login_that_cast_it() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    reviewers(&db);
    let payload = valid_payload();
    let d = digest(&payload);
    db.insert_apr("APR-RV", "authorize_build_step", &payload, "proposed");
    let first = db.run_as(
        "alice_rv",
        &["review", "--apr", "APR-RV", "--approve", "--json"],
    );
    first.expect(0, "OK", "REVIEWED");
    assert_eq!(first.json()["payload_digest"], d.as_str());
    assert_eq!(first.json()["approver"], "alice_rv");
    db.run_as(
        "alice_rv",
        &["review", "--apr", "APR-RV", "--reject", "--json"],
    )
    .expect(4, "FAIL", "REJECT_ALREADY_REVIEWED");
    let before = db.snapshot();
    db.run_as(
        "bob_rv",
        &[
            "review",
            "--apr",
            "APR-RV",
            "--approve",
            "--by",
            "alice_rv",
            "--json",
        ],
    )
    .expect(4, "FAIL", "REJECT_REVIEWER_NOT_SELF");
    db.run_as(
        "bob_rv",
        &[
            "review",
            "--apr",
            "APR-RV",
            "--approve",
            "--digest",
            &"0".repeat(64),
            "--json",
        ],
    )
    .expect(4, "FAIL", "REJECT_DIGEST_MISMATCH");
    db.run_as(
        "bob_rv",
        &["review", "--apr", "APR-NONE", "--approve", "--json"],
    )
    .expect(4, "FAIL", "REJECT_APR_NOT_FOUND");
    assert_eq!(db.snapshot(), before, "a refused review records nothing");
    // A reviewer cannot mint: the role touches approvals only.
    db.sql("UPDATE apr_requests SET status = 'approved' WHERE apr_code = 'APR-RV'");
    db.run_as("bob_rv", &["execute", "--apr", "APR-RV", "--json"])
        .expect(5, "ERROR", "ERROR_PERMISSION_DENIED");
    // --by names the login exactly, or the vote is refused: another
    // spelling would be another vote (issue 22, finding 2).
    let before = db.snapshot();
    for spelling in ["BOB_RV ", "Bob_rv", " bob_rv"] {
        db.run_as(
            "bob_rv",
            &[
                "review",
                "--apr",
                "APR-RV",
                "--approve",
                "--by",
                spelling,
                "--json",
            ],
        )
        .expect(4, "FAIL", "REJECT_REVIEWER_NOT_SELF");
    }
    assert_eq!(db.snapshot(), before, "a refused review records nothing");
    db.run_as(
        "bob_rv",
        &[
            "review",
            "--apr",
            "APR-RV",
            "--approve",
            "--by",
            "bob_rv",
            "--digest",
            &d,
            "--json",
        ],
    )
    .expect(0, "OK", "REVIEWED");
    // Two reviews of this exact payload: the quorum the recount counts.
    db.run(&["execute", "--apr", "APR-RV", "--json"])
        .expect(0, "OK", "MINTED");
    // A payload nested deeper than can be shown exactly records nothing.
    db.insert_apr(
        "APR-RV-DEEP",
        "authorize_build_step",
        &serde_json::json!([]),
        "proposed",
    );
    db.sql(
        "UPDATE apr_requests SET proposed_action = (repeat('[', 200) || '1' || repeat(']', 200))::jsonb \
         WHERE apr_code = 'APR-RV-DEEP'",
    );
    let before_deep = db.snapshot();
    db.run_as(
        "alice_rv",
        &["review", "--apr", "APR-RV-DEEP", "--approve", "--json"],
    )
    .expect(4, "FAIL", "REJECT_PAYLOAD_MALFORMED");
    assert_eq!(db.snapshot(), before_deep);
    db.sql("UPDATE apr_requests SET status = 'withdrawn' WHERE apr_code = 'APR-RV'");
    db.run_as(
        "alice_rv",
        &["review", "--apr", "APR-RV", "--approve", "--json"],
    )
    .expect(4, "FAIL", "REJECT_APR_TERMINAL");
}

#[test]
fn a_patch_aprs_base64_is_shortened_for_humans_by_review_and_digest_and_whole_in_json() {
    let pg = Pg::start();
    let db = pg.db();
    reviewers(&db);
    let b64 = "QUJD".repeat(500);
    let payload = serde_json::json!({
        "dot_code": "DOT-310",
        "file_path": "/opt/incomex/dot/bin/dot-apr-execute",
        "new_content_base64": b64,
        "new_content_sha256": "0".repeat(64),
    });
    let d = digest(&payload);
    db.insert_apr("APR-PATCH-H", "patch_ops_code", &payload, "proposed");
    let shortened = "… (2000 characters; --json prints them all)";

    let human = db.run(&["digest", "--apr", "APR-PATCH-H"]);
    assert_eq!(human.exit(), 0, "{human}");
    assert!(human.stdout().contains(shortened), "{human}");
    assert!(!human.stdout().contains(&b64[..100]), "{human}");
    assert!(human.stdout().contains(&d), "{human}");
    let json = db.run(&["digest", "--apr", "APR-PATCH-H", "--json"]);
    json.expect(0, "OK", "DIGEST");
    assert!(json.json()["canonical_payload"]
        .as_str()
        .unwrap()
        .contains(&b64));

    let vote = db.run_as("alice_rv", &["review", "--apr", "APR-PATCH-H", "--approve"]);
    assert_eq!(vote.exit(), 0, "{vote}");
    assert!(vote.stdout().contains(shortened), "{vote}");
    assert!(!vote.stdout().contains(&b64[..100]), "{vote}");
    // What is recorded is the digest of the whole payload, as --json shows.
    let recorded: Option<String> = db
        .superuser()
        .query_one(
            "SELECT payload_digest FROM apr_approvals WHERE apr_code = 'APR-PATCH-H'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(recorded.as_deref(), Some(d.as_str()));
}

#[test]
fn list_status_bogus_is_a_usage_error_naming_the_accepted_statuses_before_any_read() {
    let pg = Pg::start();
    let db = pg.db();
    let run = db.run(&["list", "--status", "bogus"]);
    assert_eq!(run.exit(), 2, "{run}");
    for status in ["active", "consumed", "revoked"] {
        assert!(run.stderr().contains(status), "names {status}: {run}");
    }
    let json = db.run(&["list", "--status", "bogus", "--json"]);
    assert_eq!(json.exit(), 2, "{json}");
    assert_eq!(json.json()["verdict"], "USAGE", "{json}");
    // Nothing is read: with no server behind the socket it is still usage.
    let output = std::process::Command::new(BIN)
        .args(["list", "--status", "bogus"])
        .env_clear()
        .env("PGHOST", "/nonexistent-socket-dir")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// The table's cells by the header's columns: each header word starts a
/// column, and every row's value must start exactly there.
fn cells(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let starts: Vec<usize> = [
        "auth_code",
        "status",
        "plan_ref",
        "expires_at",
        "signature",
        "spent/revoked by",
    ]
    .iter()
    .map(|h| header.find(h).unwrap_or_else(|| panic!("no {h}: {header}")))
    .collect();
    lines
        .take_while(|l| l.starts_with("GBA-"))
        .map(|l| {
            starts
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    assert!(
                        s == 0 || l.len() < s || l.as_bytes()[s - 1] == b' ',
                        "a cell runs into column {i}:\n{header}\n{l}"
                    );
                    let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                    l.get(s..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn list_names_the_revoker_shows_whole_cells_and_says_n_of_m_when_the_limit_cut_it() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-LV1", "PLAN-A");
    db.mint_for_plan("APR-LV2", "PLAN-B");
    db.mint_for_plan("APR-LV3", "PLAN-C");
    db.run(&[
        "revoke",
        "--apr",
        "APR-LV3",
        "--reason",
        "wrong plan",
        "--by",
        "owner",
        "--json",
    ])
    .expect(0, "OK", "REVOKED");
    let all = db.run(&["list", "--json"]);
    let grants = all.json()["grants"].as_array().unwrap().clone();
    let by_apr = |apr: &str| grants.iter().find(|g| g["apr"] == apr).unwrap().clone();
    let revoked = by_apr("APR-LV3");
    assert_eq!(revoked["revoked_by"], "owner", "{all}");
    assert_eq!(revoked["revoke_reason"], "wrong plan", "{all}");
    assert!(
        revoked["revoked_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{all}"
    );
    let active = by_apr("APR-LV1");
    for key in ["revoked_at", "revoked_by", "revoke_reason"] {
        assert!(
            active.as_object().unwrap().contains_key(key),
            "{key}: {all}"
        );
        assert!(active[key].is_null(), "{key}: {all}");
    }

    let table = db.run(&["list"]);
    assert_eq!(table.exit(), 0, "{table}");
    let rows = cells(&table.stdout());
    assert_eq!(rows.len(), 3, "{table}");
    for row in &rows {
        let g = grants.iter().find(|g| g["auth_code"] == row[0]).unwrap();
        assert_eq!(row[3], g["expires_at"].as_str().unwrap(), "{table}");
        assert_eq!(row[4], "verified", "{table}");
    }
    let row3 = rows.iter().find(|r| r[0] == "GBA-C1-APR-LV3").unwrap();
    assert_eq!(
        (row3[1].as_str(), row3[5].as_str()),
        ("revoked", "owner"),
        "{table}"
    );

    // Without trusted keys the cell says so in a word, explained once.
    let mut cmd = db.command_as(
        dot_authorize_build_step::disposable::fixtures::role_for(&["list"]),
        &["list"],
    );
    cmd.env_remove(dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV);
    let output = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(output.status.code(), Some(0), "{text}");
    for row in cells(&text) {
        assert_eq!(row[4], "unchecked", "{text}");
    }
    assert_eq!(
        text.matches("unchecked: not checked (no trusted keys)")
            .count(),
        1,
        "{text}"
    );

    // --limit cut it: N of M, M counted with the same filters.
    let cut = db.run(&["list", "--limit", "2"]);
    assert!(
        cut.stdout()
            .trim_end()
            .ends_with("OK LISTED: 2 of 3 grants shown (--limit 2)"),
        "{cut}"
    );
    let cut = db.run(&["list", "--status", "active", "--limit", "1", "--json"]);
    cut.expect(0, "OK", "LISTED");
    assert_eq!(cut.json()["count"], 1, "{cut}");
    assert_eq!(cut.json()["total"], 2, "{cut}");
    assert_eq!(
        cut.json()["message"],
        "1 of 2 grants shown (--limit 1)",
        "{cut}"
    );
    let whole = db.run(&["list", "--status", "active", "--json"]);
    assert_eq!(whole.json()["message"], "2 grants", "{whole}");
    assert_eq!(whole.json()["total"], 2, "{whole}");
}

#[test]
fn show_prints_the_grant_once_with_its_ttl_and_approvers_and_calls_a_past_expiry_expired() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    db.mint_for_plan("APR-SV1", "PLAN-SV");
    let human = db.run(&["show", "--apr", "APR-SV1"]);
    assert_eq!(human.exit(), 0, "{human}");
    let out = human.stdout();
    assert!(
        !out.lines().any(|l| l.contains('{')),
        "no JSON in the human form: {human}"
    );
    assert_eq!(
        out.matches("GBA-C1-APR-SV1").count(),
        2,
        "once, and in the verdict: {human}"
    );
    assert_eq!(out.matches("PLAN-SV").count(), 1, "{human}");
    assert!(
        out.contains("expires in 59m") || out.contains("expires in 1h0m"),
        "{human}"
    );
    let approvers = out
        .lines()
        .find(|l| l.starts_with("approved_by"))
        .unwrap_or_else(|| panic!("no approved_by: {human}"));
    assert!(
        approvers.contains("alice") && approvers.contains("bob"),
        "{human}"
    );
    let json = db.run(&["show", "--apr", "APR-SV1", "--json"]);
    assert_eq!(json.json()["grant"]["status"], "active", "{json}");
    assert_eq!(json.json()["grant"]["state"], "active", "{json}");

    // Its expiry passed (moved back by hand): shown as expired, stored as active.
    db.sql(
        "SET session_replication_role = replica; \
         UPDATE governance_build_authorization \
            SET granted_at = clock_timestamp() - interval '1 hour 3 minutes 20 seconds', \
                expires_at = clock_timestamp() - interval '3 minutes 20 seconds' \
          WHERE request_ref = 'APR-SV1'; \
         SET session_replication_role = origin;",
    );
    let human = db.run(&["show", "--apr", "APR-SV1"]);
    assert_eq!(human.exit(), 0, "{human}");
    assert!(human.stdout().contains("expired 3m ago"), "{human}");
    let state = human
        .stdout()
        .lines()
        .find(|l| l.starts_with("state"))
        .unwrap_or_else(|| panic!("no state line: {human}"))
        .to_string();
    assert!(
        state.contains("expired") && !state.contains("active,"),
        "{human}"
    );
    assert!(
        human.stdout().contains("is expired"),
        "the verdict says it too: {human}"
    );
    let json = db.run(&["show", "--apr", "APR-SV1", "--json"]);
    assert_eq!(json.json()["grant"]["status"], "active", "{json}");
    assert_eq!(json.json()["grant"]["state"], "expired", "{json}");
}
