//! What a case (and a harness check, and an integration test) stands on:
//! the valid payload and the consume that matches it, a fresh database
//! cloned from the template, the command line an operator would run
//! (optionally routed through a pooler), snapshots that prove nothing was
//! written, and seeded APRs and re-signed grants. Test machinery only:
//! never a path of the handler.

use crate::canon::cser;
use crate::disposable::fixtures::{self, TEMPLATE_DB};
use crate::disposable::pgtemp::{Cluster, PgTempError};
use postgres::Client;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub const VALID_MANIFEST_HASH: &str =
    "c9286d3a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5cec00";

/// The payload every case starts from: one `execute` accepts against the
/// fixture vocabulary.
pub fn valid_payload(vocabulary: &[String]) -> Value {
    json!({
        "carrier": "C1",
        "target": "DOT_C1_VOCAB_BUILD",
        "lane": "BUILD_PREP",
        "mode": "DRY_RUN",
        "corpus": "SANDBOX",
        "plan_ref": "LEGO1-C1-PLAN",
        "manifest_hash": VALID_MANIFEST_HASH,
        "protocol_version": "cser-v1",
        "action_set": vocabulary,
        "ttl_seconds": 3600,
        "rollback_plan_ref": "C1-ROLLBACK-retire-not-delete",
    })
}

/// The argv of a `consume` that presents the exact binding of a grant
/// minted from `valid_payload` for `plan_ref` (add `--json` etc. after).
pub fn consume_argv(auth_code: &str, plan_ref: &str, action_set: &[String]) -> Vec<String> {
    [
        "consume",
        "--auth-code",
        auth_code,
        "--carrier",
        "C1",
        "--lane",
        "BUILD_PREP",
        "--target",
        "DOT_C1_VOCAB_BUILD",
        "--plan-ref",
        plan_ref,
        "--manifest-hash",
        VALID_MANIFEST_HASH,
        "--action-set",
        &action_set.join(","),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A database per case, cloned from the governance template.
pub fn fresh_database(cluster: &Cluster) -> Result<String, PgTempError> {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "case_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    cluster.clone_database(TEMPLATE_DB, &name)?;
    Ok(name)
}

/// Where handler runs against a cluster connect instead of its own socket
/// (a pooler in front of it), by the cluster's socket directory.
type Routes = Vec<(std::path::PathBuf, (std::path::PathBuf, u16))>;
static ROUTES: std::sync::Mutex<Routes> = std::sync::Mutex::new(Vec::new());

/// Sends every handler run against `cluster` through `via` (socket
/// directory, port), or directly again with `None`.
pub fn route_through(cluster: &Cluster, via: Option<(std::path::PathBuf, u16)>) {
    let mut routes = ROUTES.lock().unwrap_or_else(|p| p.into_inner());
    let key = cluster.socket_dir();
    routes.retain(|(k, _)| *k != key);
    if let Some(via) = via {
        routes.push((key, via));
    }
}

/// The command to run `bin` against `dbname` as `role`, configured the way
/// an operator would: PGHOST, PGPORT, PGUSER, PGDATABASE.
pub fn command(
    cluster: &Cluster,
    bin: &Path,
    role: &str,
    dbname: &str,
    args: &[String],
) -> Command {
    let mut cmd = Command::new(bin);
    match fixtures::test_keys(cluster) {
        Ok(keys) => keys.apply(&mut cmd),
        // The handler then refuses with ERROR_SIGNING_KEY, naming why.
        Err(e) => {
            cmd.env(
                crate::integrity::signing::SIGNING_KEY_ENV,
                format!("(test keys: {e})"),
            );
        }
    }
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .env("PGUSER", role)
        .env("PGDATABASE", dbname);
    let socket = cluster.socket_dir();
    let route = ROUTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(k, _)| *k == socket)
        .map(|(_, via)| via.clone());
    match route {
        Some((dir, port)) => cmd.env("PGHOST", dir).env("PGPORT", port.to_string()),
        None => cmd.env("PGHOST", socket).env("PGPORT", "5432"),
    };
    cmd
}

/// Every row of every public table and every sequence's state, as text:
/// equal snapshots mean nothing was written.
pub fn snapshot(client: &mut Client) -> Result<String, postgres::Error> {
    let mut out = String::new();
    let relations = client.query(
        "SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') ORDER BY c.relkind, c.relname",
        &[],
    )?;
    for rel in relations {
        let name: String = rel.get(0);
        let kind: String = rel.get(1);
        let quoted = crate::disposable::pgtemp::ident(&name);
        let sql = if kind == "S" {
            format!("SELECT format('%s %s', last_value, is_called) FROM {quoted}")
        } else {
            format!("SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY to_jsonb(x)::text), '[]')::text FROM {quoted} x")
        };
        let text: String = client.query_one(sql.as_str(), &[])?.get(0);
        out.push_str(&format!("{name}: {text}\n"));
    }
    Ok(out)
}

pub fn grant_count(client: &mut Client) -> Result<i64, postgres::Error> {
    Ok(client
        .query_one("SELECT count(*) FROM governance_build_authorization", &[])?
        .get(0))
}

/// The live vocabulary, sorted.
pub fn vocabulary(client: &mut Client) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT action_code FROM apr_action_types WHERE act_type = 'C1_VOCAB_OP' AND status = 'active' ORDER BY 1",
        &[],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Inserts an approved authorize_build_step APR with the valid payload and
/// two signed approvals of its exact digest; returns the payload.
pub fn seed_approved_apr(client: &mut Client, apr: &str) -> Result<Value, String> {
    seed_approved_apr_for_plan(client, apr, None)
}

/// `seed_approved_apr`, for a plan of its own when `plan` is given.
pub fn seed_approved_apr_for_plan(
    client: &mut Client,
    apr: &str,
    plan: Option<&str>,
) -> Result<Value, String> {
    let vocab = vocabulary(client).map_err(|e| e.to_string())?;
    let mut payload = valid_payload(&vocab);
    if let Some(plan) = plan {
        payload["plan_ref"] = plan.into();
    }
    let digest = cser::digest(&payload).map_err(|e| e.to_string())?;
    client
        .execute(
            "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
             VALUES ($1, 'authorize_build_step', $2, 'proposer', 'approved')",
            &[&apr, &payload],
        )
        .map_err(|e| e.to_string())?;
    for who in ["alice", "bob"] {
        fixtures::insert_vote(client, apr, who, "approve", Some(digest.as_str()))
            .map_err(|e| e.to_string())?;
    }
    Ok(payload)
}

/// Signs every grant row again with `key` (as superuser, the guard trigger
/// off): test machinery that stands for the passage of time, never a path
/// of the handler.
pub fn resign_grants(
    admin: &mut Client,
    key: &crate::integrity::signing::SigningKey,
) -> Result<usize, String> {
    let grants = crate::store::grants::read_all_grants(admin).map_err(|s| format!("{s:?}"))?;
    let mut tx = admin.transaction().map_err(|e| e.to_string())?;
    tx.batch_execute("SET LOCAL session_replication_role = replica")
        .map_err(|e| e.to_string())?;
    for g in &grants {
        let (signature, key_id) = crate::integrity::signing::sign_grant(key, g)?;
        tx.execute(
            "UPDATE governance_build_authorization SET signature = $1, key_id = $2 WHERE auth_code = $3",
            &[&signature, &key_id, &g.auth_code],
        )
        .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(grants.len())
}
