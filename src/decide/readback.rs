//! The readback checklist (seed 004 STEP 7) as a function of what the
//! store read: which line passes, and what each line saw. Pure: the rows,
//! the signature's verification and the quorum's re-check are passed in;
//! nothing here reads the database, a file, the environment or the clock.

use crate::decide::facts;
use crate::decide::facts::Grant;
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::reject::Reject;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One line of the readback checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub seen: String,
}

/// The grant row and what its two verifications said.
pub struct GrantRead<'a> {
    pub grant: &'a Grant,
    /// The signature checked against the trusted keys: `Err(why)` when it
    /// does not verify, or when no trusted keys could be loaded.
    pub signature: Result<(), String>,
    /// The approvals it names verified again and the row one the handler
    /// would mint now (`grant::check_grant_backed`; see `not_backed`), or
    /// why not.
    pub backed: Result<(), String>,
}

/// Everything the checklist judges, for one APR.
pub struct ReadbackFacts<'a> {
    pub apr_code: &'a str,
    /// Grant rows for the APR.
    pub count: i64,
    pub grant: Option<GrantRead<'a>>,
    /// `authorize_build_step`'s handler_ref (None: no row, or NULL).
    pub handler_ref: Option<String>,
    /// The APR's status and applied_at (None: no row).
    pub apr: Option<(String, Option<DateTime<Utc>>)>,
    /// What quorum_passed() says.
    pub quorum: bool,
}

/// An APR that is not there has nothing to read back.
pub fn require_apr(exists: bool) -> Result<(), Stop> {
    if exists {
        Ok(())
    } else {
        Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code: nothing to read back".into(),
        ))
    }
}

/// What a failed `check_grant_backed` says on the checklist: a refusal is
/// a failing line naming its code; a fault is no answer at all.
pub fn not_backed(stop: Stop) -> Result<String, Stop> {
    match stop {
        Stop::Reject(r, why) => Ok(format!("{}: {why}", r.code())),
        fault => Err(fault),
    }
}

/// The STEP 7 checklist, in its order.
pub fn checklist(f: &ReadbackFacts<'_>) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |name: &str, pass: bool, seen: String| {
        checks.push(Check {
            name: name.into(),
            pass,
            seen,
        })
    };
    check(
        "grant count for the APR is 1",
        f.count == 1,
        f.count.to_string(),
    );
    let apr_code = f.apr_code;
    match &f.grant {
        Some(read) => {
            let g = read.grant;
            check(
                "auth_code is GBA-C1-<apr>",
                g.auth_code == facts::auth_code_for(apr_code),
                g.auth_code.clone(),
            );
            check("status is active", g.status == "active", g.status.clone());
            check(
                "commit_allowed is false",
                !g.commit_allowed,
                g.commit_allowed.to_string(),
            );
            check(
                "requires_sovereign_esign is false",
                !g.requires_sovereign_esign,
                g.requires_sovereign_esign.to_string(),
            );
            check("single_use is true", g.single_use, g.single_use.to_string());
            check(
                "carrier is C1",
                g.carrier.as_deref() == Some(payload::CARRIER),
                show(&g.carrier),
            );
            let scope_target = g
                .scope
                .as_ref()
                .and_then(|s| s.get("target"))
                .and_then(Value::as_str);
            check(
                "scope->>'target' is DOT_C1_VOCAB_BUILD",
                scope_target == Some(payload::TARGET),
                scope_target.unwrap_or("NULL").to_owned(),
            );
            check(
                "request_ref is the APR",
                g.request_ref == apr_code,
                g.request_ref.clone(),
            );
            let ttl = (g.expires_at - g.granted_at).num_seconds();
            check(
                "expires_at > granted_at, within the TTL cap",
                g.expires_at > g.granted_at && ttl <= payload::TTL_CAP_SECONDS,
                format!(
                    "{} (ttl {ttl}s)",
                    crate::canon::text::timestamp(&g.expires_at)
                ),
            );
            let signed = read
                .signature
                .clone()
                .map(|()| format!("key {}", g.key_id.as_deref().unwrap_or("")));
            check(
                "signed by a trusted key",
                signed.is_ok(),
                signed.unwrap_or_else(|why| why),
            );
            // SPEC §10: the approvals it names verify again, and the row is
            // one the handler would mint now (invariant 7).
            let backed = read.backed.clone().map(|()| approvers(g));
            check(
                "its quorum of signed approvals verifies again",
                backed.is_ok(),
                backed.map_or_else(|why| why, |who| format!("approved by {who}")),
            );
        }
        None => check("the grant row exists", false, "no row".into()),
    }
    check(
        "authorize_build_step handler_ref is bound",
        f.handler_ref.as_deref() == Some(payload::HANDLER_REF),
        f.handler_ref.clone().unwrap_or_else(|| "NULL".into()),
    );
    match &f.apr {
        Some((status, applied_at)) => {
            check("APR status is applied", status == "applied", status.clone());
            check(
                "APR applied_at is set",
                applied_at.is_some(),
                applied_at.map_or("NULL".into(), |t| crate::canon::text::timestamp(&t)),
            );
        }
        None => check("the APR exists", false, "no row".into()),
    }
    check("quorum_passed(apr) is true", f.quorum, f.quorum.to_string());
    checks
}

/// The approvers the grant's signed quorum names, as the line shows them.
fn approvers(g: &Grant) -> String {
    facts::Quorum::from_json(g.quorum.as_ref().unwrap_or(&Value::Null))
        .map(|q| {
            q.0.iter()
                .map(|m| m.approver.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".into())
}

#[cfg(test)]
mod tests;
