//! `propose`: the APR payload `execute` will later judge, built from a
//! manifest so the hash and action set cannot drift from the file. Pure:
//! building and checking, with the time passed in; `store::aprs::propose` does the
//! one insert, and `commands::verdict` renders the `Proposal`.

use crate::decide::facts::Vocabulary;
use crate::decide::manifest::Manifest;
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::reject::Done;
use crate::decide::validate::{validate_payload, Validated};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Everything a proposal needs, parsed from the command line.
#[derive(Debug, Clone)]
pub struct Request {
    /// The manifest, or `None` with `--manifest-hash` (the action set is
    /// then the live vocabulary, filled in by `with_live_action_set`).
    pub manifest: Option<Manifest>,
    pub payload: Value,
    pub apr: Option<String>,
    pub proposed_by: String,
    pub session: Option<String>,
}

impl Request {
    /// With `--manifest-hash`: the payload's action set is the live
    /// vocabulary, sorted.
    pub fn with_live_action_set(&self, live: &Vocabulary) -> Request {
        let mut r = self.clone();
        if r.manifest.is_none() {
            r.payload["action_set"] = live.codes().collect::<Vec<_>>().into();
        }
        r
    }
}

/// SPEC §5's payload for this manifest hash, action set and plan.
pub fn payload(
    manifest_hash: &str,
    action_set: &[String],
    plan_ref: &str,
    ttl_seconds: Value,
    rollback_plan_ref: &str,
) -> Value {
    json!({
        "carrier": payload::CARRIER,
        "target": payload::TARGET,
        "lane": payload::LANE,
        "mode": payload::MODE_DRY_RUN,
        "corpus": payload::CORPUS_SANDBOX,
        "plan_ref": plan_ref,
        "manifest_hash": manifest_hash,
        "protocol_version": payload::PROTOCOL_VERSION,
        "action_set": action_set,
        "ttl_seconds": ttl_seconds,
        "rollback_plan_ref": rollback_plan_ref,
    })
}

/// The same checks `execute` runs on a payload, so that a proposal
/// `execute` would refuse is refused here with the same code. With the live
/// vocabulary the manifest must match it exactly; without one (an offline
/// dry run) the manifest's own operations stand in.
pub fn check(request: &Request, live: Option<&Vocabulary>) -> Result<Validated, Stop> {
    let Some(manifest) = &request.manifest else {
        // --manifest-hash: only the live vocabulary can give the action set.
        let live = live.ok_or_else(|| {
            Stop::Fault(
                crate::decide::reject::Fault::DbUnreachable,
                "with --manifest-hash the action set is the live C1 vocabulary, and no database answered; \
                 give --manifest FILE to check offline"
                    .into(),
            )
        })?;
        return validate_payload(&request.with_live_action_set(live).payload, live);
    };
    if let Some(v) = live {
        manifest.check_vocabulary(v)?;
    }
    let own = Vocabulary::new(manifest.action_set.iter().cloned());
    let vocabulary = live.or(own.as_ref()).ok_or_else(|| {
        Stop::Reject(
            crate::decide::reject::Reject::ManifestInvalid,
            "manifest has no operations".into(),
        )
    })?;
    validate_payload(&request.payload, vocabulary)
}

/// The generated APR code: `APR-C1-<UTC time>-<first 8 of the digest>`.
pub fn apr_code(request: &Request, utc_stamp: &str, validated: &Validated) -> String {
    request
        .apr
        .clone()
        .unwrap_or_else(|| format!("APR-C1-{utc_stamp}-{}", &validated.digest().as_str()[..8]))
}

/// What the verdict for a proposal says (printed or inserted): data, which
/// `commands::verdict` renders (`Verdict::from`).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub done: Done,
    pub message: String,
    pub apr: String,
    pub payload: Value,
    pub payload_digest: String,
    pub manifest_hash: String,
    pub proposed_by: String,
}

/// The verdict for a proposal (printed or inserted).
pub fn verdict(
    done: Done,
    apr: &str,
    request: &Request,
    validated: &Validated,
    message: String,
) -> Proposal {
    Proposal {
        done,
        message,
        apr: apr.to_owned(),
        payload: request.payload.clone(),
        payload_digest: validated.digest().as_str().to_owned(),
        manifest_hash: validated.manifest_hash().as_str().to_owned(),
        proposed_by: request.proposed_by.clone(),
    }
}

/// A dry run with no database: structural checks only, said plainly.
/// `now` is the caller's clock (the APR code's UTC time).
pub fn offline(request: &Request, now: DateTime<Utc>) -> Result<Proposal, Stop> {
    let validated = check(request, None)?;
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let apr = apr_code(request, &stamp, &validated);
    Ok(verdict(
        Done::WouldPropose,
        &apr,
        request,
        &validated,
        "dry run: would propose this APR; no database answered, so the action set was checked against the \
         manifest only, not the live vocabulary; nothing written"
            .into(),
    ))
}
