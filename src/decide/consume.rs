//! `consume`'s decision (SPEC §4): REAL_RUN refused (`refuse_real_run`,
//! the one place), then the grant's state, binding, freshness and expiry;
//! and whether a consumed grant is the caller's own spend. Pure: the rows
//! and the database's clock are passed in.

use crate::canon::cser;
use crate::decide::facts::{Apr, Grant, Presented};
use crate::decide::grant::generic_gap;
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::reject::Reject;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// SPEC §4's order for consume: REAL_RUN → not found → status → generic →
/// carrier, lane, target, plan, manifest hash, action set → stale → expired.
/// `apr` is the APR behind the grant; `now` is the database's clock.
pub fn decide_consume(
    presented: &Presented,
    grant: Option<&Grant>,
    apr: Option<&Apr>,
    now: DateTime<Utc>,
) -> Result<(), Stop> {
    refuse_real_run(&presented.mode)?;
    let grant = check_grant_state(grant)?;
    if let Some(gap) = generic_gap(grant) {
        return Err(Stop::reject(
            Reject::AuthGeneric,
            format!("grant {} has no full C1 binding: {gap}", grant.auth_code),
        ));
    }
    let binding = [
        (
            Reject::AuthWrongCarrier,
            "carrier",
            &presented.carrier,
            &grant.carrier,
        ),
        (Reject::AuthWrongLane, "lane", &presented.lane, &grant.lane),
        (
            Reject::AuthWrongTarget,
            "target",
            &presented.target,
            &grant.target,
        ),
        (
            Reject::AuthWrongPlan,
            "plan_ref",
            &presented.plan_ref,
            &grant.plan_ref,
        ),
        (
            Reject::AuthManifestMismatch,
            "manifest_hash",
            &presented.manifest_hash,
            &grant.manifest_hash,
        ),
    ];
    for (reject, key, got, bound) in binding {
        if Some(got) != bound.as_ref() {
            return Err(Stop::reject(
                reject,
                format!(
                    "presented {key} {got:?}; the grant is bound to {:?}",
                    bound.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    if !same_set(
        &presented.action_set,
        grant.action_set.as_deref().unwrap_or(&[]),
    ) {
        return Err(Stop::reject(
            Reject::AuthActionSetMismatch,
            format!(
                "presented action set [{}] is not, as a set without duplicates, the bound [{}]",
                presented.action_set.join(","),
                grant.action_set.as_deref().unwrap_or(&[]).join(",")
            ),
        ));
    }
    check_fresh(grant, apr)?;
    if now >= grant.expires_at {
        return Err(Stop::reject(
            Reject::AuthExpired,
            format!(
                "grant expired at {} (database time {})",
                grant.expires_at.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// REAL_RUN is never authorized by a C1 build-prep grant: the first check
/// of every consume (SPEC §4), before a grant is even looked up. The one
/// place this is decided: the command line's early refusal calls it too.
pub fn refuse_real_run(mode: &str) -> Result<(), Stop> {
    if mode == payload::MODE_REAL_RUN {
        return Err(Stop::reject(
            Reject::RealRunBlocked,
            "REAL_RUN is never authorized by a C1 build-prep grant",
        ));
    }
    Ok(())
}

fn check_grant_state(grant: Option<&Grant>) -> Result<&Grant, Stop> {
    let Some(grant) = grant else {
        return Err(Stop::reject(
            Reject::AuthNotFound,
            "no grant with this auth_code",
        ));
    };
    match grant.status.as_str() {
        "active" => Ok(grant),
        "consumed" => Err(Stop::reject(
            Reject::AuthAlreadyConsumed,
            "grant was already consumed; it is single-use",
        )),
        "revoked" => Err(Stop::reject(Reject::AuthRevoked, "grant was revoked")),
        other => Err(Stop::reject(
            Reject::AuthNotActive,
            format!("grant status is {other:?}, not \"active\""),
        )),
    }
}

fn same_set(presented: &[String], bound: &[String]) -> bool {
    let set: BTreeSet<&String> = presented.iter().collect();
    set.len() == presented.len() && set == bound.iter().collect::<BTreeSet<_>>()
}

/// A grant is fresh while its APR is approved or applied and its payload
/// still hashes to the grant's `apr_digest`.
fn check_fresh(grant: &Grant, apr: Option<&Apr>) -> Result<(), Stop> {
    let Some(apr) = apr else {
        return Err(Stop::reject(
            Reject::AuthStale,
            format!(
                "APR {} behind the grant no longer exists",
                grant.request_ref
            ),
        ));
    };
    if !matches!(apr.status.as_str(), "approved" | "applied") {
        return Err(Stop::reject(
            Reject::AuthStale,
            format!(
                "APR {} is {}, no longer approved or applied",
                apr.apr_code, apr.status
            ),
        ));
    }
    match cser::digest(&apr.payload) {
        Ok(d) if grant.apr_digest.as_deref() == Some(d.as_str()) => Ok(()),
        _ => Err(Stop::reject(
            Reject::AuthStale,
            format!(
                "APR {}'s payload changed after the grant was minted",
                apr.apr_code
            ),
        )),
    }
}

/// What a spend stores of its idempotency key: the SHA-256 of the request
/// id, so that reading the row (show, list, the consumer's SELECT) never
/// reveals a key that would answer as that spender.
pub fn request_key(request_id: &str) -> String {
    cser::Sha256Hex::of(format!("dot-abs-consume-request-v1:{request_id}").as_bytes())
        .as_str()
        .to_owned()
}

/// A consumed grant whose spend carried this request id, by this spender,
/// presented again with the same binding, and that spend one the table
/// could only have taken while the grant was alive: the caller's own
/// spend, answered CONSUMED with nothing written. Anyone else still gets
/// REJECT_AUTH_ALREADY_CONSUMED.
pub fn is_own_spend(presented: &Presented, grant: &Grant, request_id: &str, by: &str) -> bool {
    grant.status == "consumed"
        && grant.consume_request_id.as_deref() == Some(request_key(request_id).as_str())
        && grant.consumed_by.as_deref() == Some(by)
        && grant
            .consumed_at
            .is_some_and(|at| at >= grant.granted_at && at < grant.expires_at)
        && presented.mode == payload::MODE_DRY_RUN
        && Some(&presented.carrier) == grant.carrier.as_ref()
        && Some(&presented.lane) == grant.lane.as_ref()
        && Some(&presented.target) == grant.target.as_ref()
        && Some(&presented.plan_ref) == grant.plan_ref.as_ref()
        && Some(&presented.manifest_hash) == grant.manifest_hash.as_ref()
        && same_set(
            &presented.action_set,
            grant.action_set.as_deref().unwrap_or(&[]),
        )
}

#[cfg(test)]
mod tests;
