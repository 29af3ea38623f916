//! Whether a grant row is honoured (SPEC §9 invariant 7, §10): signed by
//! a trusted key (as `integrity` found), a full C1 binding, and exactly what
//! the handler would have minted from its APR, on a quorum that still
//! counts. Pure: never verifies a signature, reads the database or looks at
//! the clock.

use crate::canon::cser::Sha256Hex;
use crate::decide::facts::{
    auth_code_for, Apr, Ballot, Checked, Grant, Handler, Quorum, Vocabulary,
};
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::quorum::check_quorum;
use crate::decide::reject::Reject;
use crate::decide::validate::{check_handler_bound, is_plan_ref, validate_payload, Validated};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What makes a grant less than a full C1 binding, if anything.
pub(crate) fn generic_gap(g: &Grant) -> Option<String> {
    let fixed = [
        ("carrier", &g.carrier, payload::CARRIER),
        ("lane", &g.lane, payload::LANE),
        ("target", &g.target, payload::TARGET),
        (
            "protocol_version",
            &g.protocol_version,
            payload::PROTOCOL_VERSION,
        ),
    ];
    for (key, got, want) in fixed {
        if got.as_deref() != Some(want) {
            return Some(format!(
                "{key} is {:?}, not {want:?}",
                got.as_deref().unwrap_or("NULL")
            ));
        }
    }
    if !g.plan_ref.as_deref().is_some_and(is_plan_ref) {
        return Some("no valid plan_ref".into());
    }
    if g.manifest_hash
        .as_deref()
        .and_then(Sha256Hex::parse)
        .is_none()
    {
        return Some("no manifest_hash".into());
    }
    if g.action_set.as_ref().is_none_or(Vec::is_empty) {
        return Some("no action_set".into());
    }
    if g.apr_digest.as_deref().and_then(Sha256Hex::parse).is_none() {
        return Some("no apr_digest".into());
    }
    if !g.scope.as_ref().is_some_and(Value::is_object) {
        return Some("no scope".into());
    }
    if !g.single_use || g.commit_allowed || g.requires_sovereign_esign {
        return Some("not single-use, or allows commit or sovereign e-sign".into());
    }
    None
}

/// Everything the re-check of an existing grant looks at, read in the
/// transaction that would answer OK for it, with the signatures already
/// checked (`integrity::verified::Backing` builds it).
#[derive(Debug, Clone)]
pub struct BackingInput<'a> {
    /// The APR the grant names (request_ref).
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    /// The APR's votes, each with its signature checked.
    pub ballots: &'a [Ballot<'a>],
    pub quorum_function: bool,
    /// The database's wall clock.
    pub now: DateTime<Utc>,
}

/// A grant is honoured only if one of the handler's trusted keys signed its
/// binding (REJECT_GRANT_FORGED): whoever can write the table, the marker
/// or a superuser included, cannot make such a row.
pub fn check_signed(checked: &Checked) -> Result<(), Stop> {
    match &checked.forged {
        None => Ok(()),
        Some(forgery) => Err(Stop::Reject(
            Reject::GrantForged,
            format!(
                "grant {} was not signed by the handler: {forgery}",
                checked.grant.auth_code
            ),
        )),
    }
}

/// SPEC §9, invariant 7: a row is honoured only if the handler would have
/// minted exactly it. Its TTL is within the cap and it was not granted in
/// the future; it carries the full C1 binding under its own auth code; the
/// handler is bound; its APR is approved or applied, and that APR's payload
/// still passes every payload check and gives exactly this row (digest,
/// plan, manifest, action set, rollback plan, TTL to the microsecond, scope,
/// granted_by); and that payload has its quorum (function and recount).
/// Any failure is REJECT_GRANT_INVALID, naming what failed.
pub fn check_grant_backed(checked: &Checked, backing: &BackingInput<'_>) -> Result<(), Stop> {
    let grant = &checked.grant;
    check_lifetime(grant, backing.now)?;
    check_own_binding(grant)?;
    let apr = check_backing_apr(grant, backing)?;
    let v = check_minted_from(grant, apr)?;
    let now_counted = check_quorum(
        apr,
        backing.handler,
        backing.ballots,
        v.digest(),
        backing.quorum_function,
    )
    .map_err(invalid_unless_fault(grant, |r, why| {
        format!("its APR has no quorum ({}: {why})", r.code())
    }))?;
    check_signed(checked)?;
    let required = backing
        .handler
        .and_then(|h| h.min_approvals)
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(usize::MAX);
    check_named_quorum(grant, &now_counted, required).map_err(|why| invalid(grant, why))
}

/// REJECT_GRANT_INVALID for `grant`, naming what failed.
fn invalid(grant: &Grant, why: String) -> Stop {
    Stop::reject(
        Reject::GrantInvalid,
        format!(
            "grant {} is not one the handler would have minted: {why}",
            grant.auth_code
        ),
    )
}

/// A refusal by a check the row stands on, as REJECT_GRANT_INVALID with
/// `why` made of it; a fault stays the fault it is.
fn invalid_unless_fault<'a>(
    grant: &'a Grant,
    why: impl FnOnce(Reject, String) -> String + 'a,
) -> impl FnOnce(Stop) -> Stop + 'a {
    move |stop| match stop {
        Stop::Reject(r, w) => invalid(grant, why(r, w)),
        fault => fault,
    }
}

/// Its lifetime is within 1..=the TTL cap, and it was not granted in the
/// future (by the database's clock).
fn check_lifetime(grant: &Grant, now: DateTime<Utc>) -> Result<(), Stop> {
    let ttl = grant.expires_at - grant.granted_at;
    if ttl <= chrono::TimeDelta::zero()
        || ttl > chrono::TimeDelta::seconds(payload::TTL_CAP_SECONDS)
    {
        return Err(invalid(
            grant,
            format!(
                "its lifetime {}s is outside 1..={}s",
                ttl.num_seconds(),
                payload::TTL_CAP_SECONDS
            ),
        ));
    }
    if grant.granted_at > now {
        return Err(invalid(
            grant,
            format!(
                "granted_at {} is in the future (database time {})",
                grant.granted_at.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// It carries the full C1 binding, under its own auth code, granted by the
/// handler.
fn check_own_binding(grant: &Grant) -> Result<(), Stop> {
    if let Some(gap) = generic_gap(grant) {
        return Err(invalid(grant, format!("no full C1 binding: {gap}")));
    }
    if grant.auth_code != auth_code_for(&grant.request_ref) {
        return Err(invalid(
            grant,
            format!("its auth_code is not {}", auth_code_for(&grant.request_ref)),
        ));
    }
    if grant.granted_by.as_deref() != Some(payload::HANDLER_REF) {
        return Err(invalid(
            grant,
            format!(
                "granted_by is {:?}, not {:?}",
                grant.granted_by.as_deref().unwrap_or("NULL"),
                payload::HANDLER_REF
            ),
        ));
    }
    Ok(())
}

/// The handler is bound, and the APR the grant names exists and is
/// approved or applied.
fn check_backing_apr<'a>(grant: &Grant, backing: &BackingInput<'a>) -> Result<&'a Apr, Stop> {
    check_handler_bound(backing.handler).map_err(invalid_unless_fault(grant, |_, why| why))?;
    let Some(apr) = backing.apr else {
        return Err(invalid(
            grant,
            format!("its APR {} does not exist", grant.request_ref),
        ));
    };
    if !matches!(apr.status.as_str(), "approved" | "applied") {
        return Err(invalid(
            grant,
            format!(
                "its APR {} is {}, not approved or applied",
                apr.apr_code, apr.status
            ),
        ));
    }
    Ok(apr)
}

/// The APR's payload still passes every payload check and gives exactly
/// this row: digest, plan, manifest, action set, rollback plan, TTL to the
/// microsecond, scope.
fn check_minted_from(grant: &Grant, apr: &Apr) -> Result<Validated, Stop> {
    // The grant's own action set stands in for the vocabulary: a grant
    // stays good when the vocabulary changes after it was minted.
    let vocabulary = Vocabulary::new(grant.action_set.clone().unwrap_or_default())
        .ok_or_else(|| invalid(grant, "no action_set".into()))?;
    let v = validate_payload(&apr.payload, &vocabulary)
        .map_err(invalid_unless_fault(grant, |r, why| {
            format!("its APR's payload would not mint ({}: {why})", r.code())
        }))?;
    let ttl = grant.expires_at - grant.granted_at;
    let ttl_exact = chrono::TimeDelta::seconds(v.ttl_seconds());
    let mismatches = [
        (
            "apr_digest",
            grant.apr_digest.as_deref() == Some(v.digest().as_str()),
        ),
        ("plan_ref", grant.plan_ref.as_deref() == Some(v.plan_ref())),
        (
            "manifest_hash",
            grant.manifest_hash.as_deref() == Some(v.manifest_hash().as_str()),
        ),
        (
            "action_set",
            grant.action_set.as_deref() == Some(v.action_set()),
        ),
        (
            "rollback_plan_ref",
            grant.rollback_plan_ref.as_deref() == Some(v.rollback_plan_ref()),
        ),
        ("ttl", ttl == ttl_exact),
        ("scope", grant.scope.as_ref() == Some(&v.scope())),
    ];
    if let Some((field, _)) = mismatches.iter().find(|(_, same)| !same) {
        return Err(invalid(
            grant,
            format!("its {field} is not what its APR's payload gives"),
        ));
    }
    Ok(v)
}

/// SPEC §10, "a grant names its quorum": the approvals a grant was minted
/// on still verify, each of them, and are enough. A later edit of
/// apr_approvals, or an approver key the allowed signers no longer list,
/// cannot leave a grant standing on approvals that no longer count.
pub fn check_named_quorum(
    grant: &Grant,
    now_counted: &Quorum,
    required: usize,
) -> Result<(), String> {
    let Some(named) = grant.quorum.as_ref().and_then(Quorum::from_json) else {
        return Err("it names no quorum (minted before signed approvals, or edited)".into());
    };
    let stale: Vec<&str> = named
        .0
        .iter()
        .filter(|m| !now_counted.0.contains(m))
        .map(|m| m.approver.as_str())
        .collect();
    if !stale.is_empty() {
        return Err(format!(
            "the approvals it was minted on no longer verify: {}",
            stale.join(", ")
        ));
    }
    if named.0.len() < required {
        return Err(format!(
            "it names {} approvals, fewer than the {required} a quorum needs",
            named.0.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
