//! The harness's checks of issues 18 and 22's findings that a shared
//! disposable cluster can show: hostile environment and inputs, one person
//! acting as a quorum, grants laundered by hand. Each returns report rows;
//! none prints, and each cleans up what it wrote outside its database.

use super::row::{code_of, outcome, race_database};
use crate::disposable::cases::{self, Outcome};
use crate::disposable::fixtures::{self, HANDLER_ROLE};
use crate::disposable::pgtemp::Cluster;
use std::path::Path;

/// Issue 18's findings that a shared cluster can show (the per-host
/// password one needs a pg_hba.conf of its own: tests/untrusted_inputs.rs):
/// every spelling of the writer marker in PGOPTIONS is a usage error with
/// nothing written (7); a dispatcher that redefines the arm after it is
/// refused (6); invisible characters never reach human output raw (8); a
/// loose password file is warned about once per command (10).
pub(super) fn hostile_inputs(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-HOSTILE")?;
    let run = |args: &[&str], env: &[(&str, &std::ffi::OsStr)]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut cmd = cases::command(cluster, bin, fixtures::role_for(&argv), &db, &argv);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();

    let mut failures = Vec::new();
    for spelling in crate::store::connect::DOT_SPELLINGS {
        let out = run(
            &["execute", "--apr", "APR-C1-HOSTILE", "--dry-run", "--json"],
            &[("PGOPTIONS", spelling.as_ref())],
        )?;
        if out.status.code() != Some(2) {
            failures.push(format!(
                "PGOPTIONS={spelling:?}: exit {:?}",
                out.status.code()
            ));
        }
    }
    if cases::snapshot(&mut c).map_err(|e| e.to_string())? != before {
        failures.push("something was written".into());
    }
    rows.push(outcome(
        "issue18/options-dot-setting",
        "PGOPTIONS sets dot.canonical_writer, in 11 spellings",
        "usage (exit 2) for each",
        if failures.is_empty() {
            "usage x11".into()
        } else {
            "accepted".into()
        },
        grants,
        grants,
        failures,
    ));

    let dir = std::env::temp_dir().join(format!("dot-abs-harness-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt as _;
        let arm = crate::decide::patch::ARM;
        let evil = format!(
            "#!/usr/bin/env bash\n{arm}\nexecute_authorize_build_step() {{ apr_mark_applied \"$1\"; }}\n\
             case $1 in\n    authorize_build_step) execute_authorize_build_step \"$2\" ;;\nesac\n"
        );
        let file = dir.join("redefined.new");
        std::fs::write(&file, evil).map_err(|e| e.to_string())?;
        let path = file.display().to_string();
        let out = run(
            &[
                "propose-patch",
                "--new-content",
                &path,
                "--file-path",
                "/opt/incomex/dot/bin/dot-apr-execute",
                "--dot-code",
                "DOT-310",
                "--session",
                "S-HARNESS",
                "--test-plan",
                "harness",
                "--by",
                "owner",
                "--dry-run",
                "--json",
            ],
            &[],
        )?;
        let got = code_of(&out);
        rows.push(outcome(
            "issue18/patch-arm-redefined",
            "the dispatcher defines the arm's function again after it",
            "FAIL REJECT_PATCH_ARM_STALE",
            got.clone(),
            grants,
            grants,
            if got == "FAIL REJECT_PATCH_ARM_STALE" {
                vec![]
            } else {
                vec![format!("got {got}")]
            },
        ));

        let hidden = "\u{E0049}\u{E0047}\u{3164}\u{115F}\u{2800}\u{FFA0}\u{E000}\u{0378}\u{2029}";
        let payload = serde_json::json!({ "note": format!("x{hidden}y") });
        c.execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
             VALUES ('APR-C1-HIDDEN', 'authorize_build_step', $1, 'proposer', 'proposed')",
            &[&payload],
        )
        .map_err(|e| e.to_string())?;
        let out = run(&["digest", "--apr", "APR-C1-HIDDEN"], &[])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let raw: Vec<String> = hidden
            .chars()
            .filter(|h| text.contains(*h))
            .map(|h| format!("U+{:04X}", u32::from(h)))
            .collect();
        rows.push(outcome(
            "issue18/invisible-in-human-output",
            "a payload holds tag characters, fillers, private use, unassigned",
            "all escaped by digest",
            if raw.is_empty() {
                "all escaped".into()
            } else {
                format!("raw: {}", raw.join(" "))
            },
            grants,
            grants,
            if raw.is_empty() && out.status.success() {
                vec![]
            } else {
                vec![format!("raw {raw:?}, exit {:?}", out.status.code())]
            },
        ));

        let loose = dir.join("pgpass");
        std::fs::write(&loose, "*:*:*:*:unused\n").map_err(|e| e.to_string())?;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        let out = run(
            &["execute", "--apr", "APR-C1-HOSTILE", "--dry-run", "--json"],
            &[
                ("PGPASSFILE", loose.as_os_str()),
                (
                    "DOT_ABS_EVIDENCE_LOG",
                    dir.join("evidence.jsonl").as_os_str(),
                ),
            ],
        )?;
        let warnings = String::from_utf8_lossy(&out.stderr)
            .matches("warning: password file")
            .count();
        rows.push(outcome(
            "issue18/resolved-once",
            "a loose password file, an evidence log",
            "one warning",
            format!("{warnings} warnings, {}", code_of(&out)),
            grants,
            grants,
            if warnings == 1 {
                vec![]
            } else {
                vec![format!("{warnings} warnings")]
            },
        ));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(rows)
}

/// Issue 22's findings a disposable cluster can show: a reviewer login
/// writing a vote under another's name is refused by the database (1); a
/// superuser's unsigned or misattributed approvals are not counted (1, and
/// any route short of the approvers' keys); a search_path set on the
/// minter's role and a schema PUBLIC may create in change nothing (4).
/// The pooled temporary view needs PgBouncer: tests/one_person_quorum.rs.
pub(super) fn one_person(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-ONE")?;
    let sql = |c: &mut postgres::Client, q: &str| c.batch_execute(q).map_err(|e| e.to_string());
    let run = |args: &[&str]| {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        cases::command(cluster, bin, fixtures::role_for(&argv), &db, &argv)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let expect = |case: &str, wrong: &str, want: &str, got: String, unchanged: bool| {
        let mut failures = Vec::new();
        if got != want {
            failures.push(format!("got {got}"));
        }
        if !unchanged {
            failures.push("something was written".into());
        }
        outcome(case, wrong, want, got, grants, grants, failures)
    };
    let mut rows = Vec::new();

    sql(
        &mut c,
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alice') THEN \
           CREATE ROLE alice LOGIN; END IF; END $$; GRANT dot_apr_reviewer TO alice;",
    )?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let mut alice = cluster.connect("alice", &db).map_err(|e| e.to_string())?;
    let got = match alice.batch_execute(
        "INSERT INTO apr_approvals (apr_code, approver, decision) VALUES ('APR-C1-ONE', 'bob', 'reject')",
    ) {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused {}", e.code().map(|c| c.code()).unwrap_or("?")),
    };
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/vote-as-another",
        "the reviewer login alice writes a vote as bob with psql",
        "refused DG004",
        got,
        unchanged,
    ));

    let payload: serde_json::Value = c
        .query_one(
            "SELECT proposed_action FROM apr_requests WHERE apr_code = 'APR-C1-ONE'",
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())?;
    let digest = crate::canon::cser::digest(&payload).map_err(|e| e.to_string())?;
    c.execute(
        "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
         VALUES ('APR-C1-FORGED', 'authorize_build_step', $1, 'proposer', 'approved')",
        &[&payload],
    )
    .map_err(|e| e.to_string())?;
    // bob's vote, signed with alice's key: a key not listed for bob.
    let alices =
        crate::integrity::approval::message("APR-C1-FORGED", "bob", "approve", digest.as_str())
            .ok()
            .and_then(|m| {
                fixtures::test_approver_key("alice")
                    .sign(
                        crate::integrity::approval::NAMESPACE,
                        ssh_key::HashAlg::Sha512,
                        &m,
                    )
                    .ok()
            })
            .and_then(|s| s.to_pem(ssh_key::LineEnding::LF).ok());
    c.execute(
        "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         VALUES ('APR-C1-FORGED', 'bob', 'approve', $1, $2), ('APR-C1-FORGED', 'carol', 'approve', $1, NULL)",
        &[&digest.as_str(), &alices],
    )
    .map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-FORGED", "--json"])?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/superuser-approvals",
        "a superuser writes bob's approval signed by alice's key and carol's unsigned",
        "SKIP REJECT_QUORUM_NOT_MET",
        code_of(&out),
        unchanged,
    ));

    fixtures::insert_vote(
        &mut c,
        "APR-C1-ONE",
        "carol",
        "reject",
        Some(digest.as_str()),
    )
    .map_err(|e| e.to_string())?;
    sql(
        &mut c,
        &format!(
            "CREATE SCHEMA shadow; GRANT USAGE ON SCHEMA shadow TO {HANDLER_ROLE}; \
             CREATE VIEW shadow.apr_approvals AS SELECT * FROM public.apr_approvals WHERE decision = 'approve'; \
             GRANT SELECT ON shadow.apr_approvals TO {HANDLER_ROLE}; \
             ALTER ROLE {HANDLER_ROLE} IN DATABASE \"{db}\" SET search_path = shadow, public;"
        ),
    )?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-ONE", "--json"]);
    sql(
        &mut c,
        &format!("ALTER ROLE {HANDLER_ROLE} IN DATABASE \"{db}\" RESET search_path"),
    )?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/role-search-path",
        "the minter's role setting puts a view hiding carol's veto first",
        "FAIL REJECT_QUORUM_VETOED",
        code_of(&out?),
        unchanged,
    ));

    sql(&mut c, "GRANT CREATE ON SCHEMA public TO PUBLIC")?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-FORGED", "--dry-run", "--json"]);
    sql(&mut c, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")?;
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(expect(
        "issue22/public-may-create",
        "PUBLIC may create in the governance schema (PostgreSQL 13/14's default)",
        "ERROR ERROR_SCHEMA_CONTRACT",
        code_of(&out?),
        unchanged,
    ));
    Ok(rows)
}

/// Issue 18's findings 1, 2 and 4 (3 needs an evidence log and its keys:
/// tests/evidence_anchored.rs): an expired grant marked consumed by hand is
/// refused by the table (1); a spend's stored key answers no one, and the
/// real key answers only its spender (2); a forged active row for the plan
/// does not block a lawful mint (4).
pub(super) fn no_laundering(cluster: &Cluster, bin: &Path) -> Result<Vec<Outcome>, String> {
    let (db, mut c) = race_database(cluster, "APR-C1-LAUNDER")?;
    let run = |args: &[String]| {
        cases::command(cluster, bin, fixtures::role_for(args), &db, args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))
    };
    let vocabulary = cases::vocabulary(&mut c).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mint = run(&["execute", "--apr", "APR-C1-LAUNDER", "--json"].map(String::from))?;
    if code_of(&mint) != "OK MINTED" {
        return Err(format!("no-laundering: mint: {}", code_of(&mint)));
    }
    let auth = "GBA-C1-APR-C1-LAUNDER";
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;

    // 1: the grant expires (moved back, guard off), then the consumer
    // login marks it consumed by hand, inside its life.
    c.batch_execute(&format!(
        "SET session_replication_role = replica; UPDATE governance_build_authorization \
           SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' \
         WHERE auth_code = '{auth}'; SET session_replication_role = origin;"
    ))
    .map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let mut consumer = cluster
        .connect(fixtures::CONSUMER_ROLE, &db)
        .map_err(|e| e.to_string())?;
    let got = match consumer.batch_execute(&format!(
        "BEGIN; SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true); \
         UPDATE governance_build_authorization SET status = 'consumed', \
           consumed_at = granted_at + interval '1 second', consumed_by = 'c1-build' \
         WHERE auth_code = '{auth}'; COMMIT"
    )) {
        Ok(()) => "accepted".to_owned(),
        Err(e) => format!("refused {}", e.code().map(|c| c.code()).unwrap_or("?")),
    };
    let _ = consumer.batch_execute("ROLLBACK");
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(outcome(
        "issue18/expired-spend-by-hand",
        "the consumer login marks an expired grant consumed inside its life",
        "refused DG007",
        got.clone(),
        grants,
        grants,
        [
            (got != "refused DG007").then(|| format!("got {got}")),
            (!unchanged).then(|| "something was written".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    ));

    // 2: a fresh grant spent by c1-build; its stored key, and the real key
    // under another --by, answer ALREADY_CONSUMED; the spender's re-run
    // answers CONSUMED.
    cases::seed_approved_apr_for_plan(&mut c, "APR-C1-SPEND", Some("SPEND-PLAN"))?;
    let mint = run(&["execute", "--apr", "APR-C1-SPEND", "--json"].map(String::from))?;
    if code_of(&mint) != "OK MINTED" {
        return Err(format!("no-laundering: mint: {}", code_of(&mint)));
    }
    let spent = "GBA-C1-APR-C1-SPEND";
    let spend_plan = |request_id: &str, by: &str| {
        let mut argv = cases::consume_argv(spent, "SPEND-PLAN", &vocabulary);
        argv.extend(
            ["--request-id", request_id, "--by", by, "--json"]
                .iter()
                .map(|s| s.to_string()),
        );
        run(&argv)
    };
    let first = spend_plan("R-HARNESS", "c1-build")?;
    let stored: String = c
        .query_one(
            "SELECT consume_request_id FROM governance_build_authorization WHERE auth_code = $1",
            &[&spent],
        )
        .map(|r| r.get(0))
        .map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let before = cases::snapshot(&mut c).map_err(|e| e.to_string())?;
    let got = [
        code_of(&first),
        code_of(&spend_plan(&stored, "c1-build")?),
        code_of(&spend_plan("R-HARNESS", "someone-else")?),
        code_of(&spend_plan("R-HARNESS", "c1-build")?),
    ]
    .join(", ");
    let want = "OK CONSUMED, FAIL REJECT_AUTH_ALREADY_CONSUMED, FAIL REJECT_AUTH_ALREADY_CONSUMED, OK CONSUMED";
    let unchanged = cases::snapshot(&mut c).map_err(|e| e.to_string())? == before;
    rows.push(outcome(
        "issue18/spend-replayed",
        "the stored key, and the real key under another --by, are presented again",
        want,
        got.clone(),
        grants,
        grants,
        [
            (got != want).then(|| format!("got {got}")),
            (!unchanged).then(|| "something was written".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    ));

    // 4: a forged active row for a plan does not block the lawful APR.
    cases::seed_approved_apr_for_plan(&mut c, "APR-C1-LAWFUL", Some("FORGED-PLAN"))?;
    c.batch_execute(
        "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', false); \
         INSERT INTO governance_build_authorization (auth_code, request_ref, status, carrier, lane, target, \
           plan_ref, manifest_hash, protocol_version, action_set, scope, apr_digest, granted_at, expires_at, \
           granted_by, rollback_plan_ref) \
         SELECT 'GBA-C1-APR-C1-PLANTED', 'APR-C1-PLANTED', 'active', carrier, lane, target, 'FORGED-PLAN', \
           manifest_hash, protocol_version, action_set, scope || '{\"plan_ref\": \"FORGED-PLAN\"}', apr_digest, \
           now(), now() + interval '1 hour', granted_by, rollback_plan_ref \
           FROM governance_build_authorization WHERE auth_code = 'GBA-C1-APR-C1-SPEND'; \
         SELECT set_config('dot.canonical_writer', '', false);",
    )
    .map_err(|e| e.to_string())?;
    let grants = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let out = run(&["execute", "--apr", "APR-C1-LAWFUL", "--json"].map(String::from))?;
    let after = cases::grant_count(&mut c).map_err(|e| e.to_string())?;
    let got = code_of(&out);
    rows.push(outcome(
        "issue18/forged-row-blocks-nothing",
        "an unsigned active row for the plan, planted with the marker",
        "OK MINTED",
        got.clone(),
        grants,
        after,
        if got == "OK MINTED" && after == grants + 1 {
            vec![]
        } else {
            vec![format!("got {got}, {grants} -> {after} rows")]
        },
    ));
    Ok(rows)
}
