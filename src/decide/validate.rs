//! Payload validation (SPEC §5): `validate_payload` is the only builder of
//! `Validated`, so nothing can be minted from an unchecked payload; and
//! whether the handler row is bound. Pure: never reads the database, files
//! or the clock.

use crate::canon::cser::{self, Sha256Hex};
use crate::decide::facts::{Handler, Vocabulary};
use crate::decide::outcome::Stop;
use crate::decide::payload::{self, RawRequest};
use crate::decide::reject::Reject;
use serde_json::Value;
use std::collections::BTreeSet;

/// A payload every check has passed. Private fields: only
/// `validate_payload` builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    plan_ref: String,
    manifest_hash: Sha256Hex,
    action_set: Vec<String>,
    ttl_seconds: i64,
    rollback_plan_ref: String,
    digest: Sha256Hex,
}

impl Validated {
    pub fn carrier(&self) -> &'static str {
        payload::CARRIER
    }
    pub fn target(&self) -> &'static str {
        payload::TARGET
    }
    pub fn lane(&self) -> &'static str {
        payload::LANE
    }
    pub fn protocol_version(&self) -> &'static str {
        payload::PROTOCOL_VERSION
    }
    pub fn plan_ref(&self) -> &str {
        &self.plan_ref
    }
    pub fn manifest_hash(&self) -> &Sha256Hex {
        &self.manifest_hash
    }
    /// Sorted, each code once.
    pub fn action_set(&self) -> &[String] {
        &self.action_set
    }
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }
    pub fn rollback_plan_ref(&self) -> &str {
        &self.rollback_plan_ref
    }
    /// cser-v1 hash of the whole payload: the grant's `apr_digest`.
    pub fn digest(&self) -> &Sha256Hex {
        &self.digest
    }
    /// The whole binding, as stored in the grant's `scope` column.
    pub fn scope(&self) -> Value {
        serde_json::json!({
            "carrier": self.carrier(),
            "target": self.target(),
            "lane": self.lane(),
            "mode": payload::MODE_DRY_RUN,
            "corpus": payload::CORPUS_SANDBOX,
            "plan_ref": self.plan_ref,
            "manifest_hash": self.manifest_hash.as_str(),
            "protocol_version": self.protocol_version(),
            "action_set": self.action_set,
            "single_use": true,
            "commit_allowed": false,
            "requires_sovereign_esign": false,
        })
    }
}

/// A plan reference: 1–128 characters of `[A-Za-z0-9._:-]`.
pub fn is_plan_ref(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// SPEC §5 in its order: REAL_RUN anywhere → production → sovereign →
/// malformed → carrier → target → lane → protocol → manifest hash → action
/// set → plan → TTL → rollback plan. The first that applies decides.
pub fn validate_payload(value: &Value, vocabulary: &Vocabulary) -> Result<Validated, Stop> {
    if payload::mentions_real_run(value) {
        return Err(Stop::reject(
            Reject::RealRunBlocked,
            "the payload asks for REAL_RUN; this handler grants DRY_RUN build-prep only",
        ));
    }
    if payload::asks_for_production(value) {
        return Err(Stop::reject(
            Reject::ScopeProduction,
            format!(
                "corpus {} is production scope; only SANDBOX is granted",
                value["corpus"]
            ),
        ));
    }
    if let Some(key) = payload::sovereign_key(value) {
        return Err(Stop::reject(
            Reject::ScopeSovereign,
            format!("key {key:?} asks for commit, sovereign or production authority, which is never granted"),
        ));
    }
    let raw: RawRequest = payload::parse(value)?;
    check_value(
        &raw.carrier,
        payload::CARRIER,
        Reject::ScopeCarrier,
        "carrier",
    )?;
    check_value(&raw.target, payload::TARGET, Reject::ScopeTarget, "target")?;
    check_value(&raw.lane, payload::LANE, Reject::ScopeLane, "lane")?;
    check_value(
        &raw.protocol_version,
        payload::PROTOCOL_VERSION,
        Reject::ProtocolVersion,
        "protocol_version",
    )?;
    let manifest_hash = Sha256Hex::parse(&raw.manifest_hash).ok_or_else(|| {
        Stop::reject(
            Reject::ManifestHash,
            format!(
                "manifest_hash {:?} is not 64 lowercase hex digits",
                raw.manifest_hash
            ),
        )
    })?;
    let action_set = check_action_set(&raw.action_set, vocabulary)?;
    if !is_plan_ref(&raw.plan_ref) {
        return Err(Stop::reject(
            Reject::PlanRef,
            format!(
                "plan_ref {:?} is not 1-128 characters of [A-Za-z0-9._:-]",
                raw.plan_ref
            ),
        ));
    }
    let ttl_seconds = check_ttl(raw.ttl_seconds.as_ref())?;
    let rollback_plan_ref = match raw.rollback_plan_ref {
        Some(r) if is_plan_ref(&r) => r,
        Some(r) => {
            return Err(Stop::reject(
                Reject::RollbackPlanMissing,
                format!("rollback_plan_ref {r:?} is not 1-128 characters of [A-Za-z0-9._:-]"),
            ))
        }
        None => {
            return Err(Stop::reject(
                Reject::RollbackPlanMissing,
                "rollback_plan_ref is missing",
            ))
        }
    };
    // Every value is now a string, an array of strings or a small integer,
    // so the digest cannot fail; if it ever did, refuse rather than mint.
    let digest = cser::digest(value).map_err(|e| {
        Stop::reject(
            Reject::PayloadMalformed,
            format!("payload has no cser-v1 digest: {e}"),
        )
    })?;
    Ok(Validated {
        plan_ref: raw.plan_ref,
        manifest_hash,
        action_set,
        ttl_seconds,
        rollback_plan_ref,
        digest,
    })
}

fn check_value(got: &str, want: &str, reject: Reject, key: &str) -> Result<(), Stop> {
    if got == want {
        Ok(())
    } else {
        Err(Stop::reject(
            reject,
            format!("{key} is {got:?}; only {want:?} is granted"),
        ))
    }
}

fn check_action_set(presented: &[String], vocabulary: &Vocabulary) -> Result<Vec<String>, Stop> {
    let refuse = |why: String| Err(Stop::reject(Reject::ActionSet, why));
    if presented.is_empty() {
        return refuse("action_set is empty".into());
    }
    let mut seen = BTreeSet::new();
    for code in presented {
        if !seen.insert(code.as_str()) {
            return refuse(format!("action_set lists {code:?} twice"));
        }
    }
    let (outside, missing) = vocabulary.compare(presented);
    if let Some(unknown) = outside.first() {
        return refuse(format!(
            "action_set has {unknown:?}, which is not an active C1_VOCAB_OP"
        ));
    }
    if !missing.is_empty() {
        return refuse(format!(
            "action_set lacks {} of the live C1 vocabulary: {}",
            missing.len(),
            missing.join(",")
        ));
    }
    Ok(seen.into_iter().map(str::to_owned).collect())
}

fn check_ttl(ttl: Option<&serde_json::Number>) -> Result<i64, Stop> {
    let refuse = |why: String| Err(Stop::reject(Reject::Ttl, why));
    let Some(n) = ttl else {
        return refuse("ttl_seconds is missing".into());
    };
    match n.as_i64() {
        Some(s) if (1..=payload::TTL_CAP_SECONDS).contains(&s) => Ok(s),
        Some(s) => refuse(format!(
            "ttl_seconds {s} is outside 1..={}",
            payload::TTL_CAP_SECONDS
        )),
        None => refuse(format!(
            "ttl_seconds {n} is not an integer number of seconds in 1..={}",
            payload::TTL_CAP_SECONDS
        )),
    }
}

pub(crate) fn check_handler_bound(handler: Option<&Handler>) -> Result<(), Stop> {
    match handler {
        Some(h) if h.handler_ref.as_deref() == Some(payload::HANDLER_REF) && h.status == "active" => Ok(()),
        Some(h) => Err(Stop::reject(
            Reject::HandlerNotBound,
            format!(
                "apr_action_types.authorize_build_step has handler_ref {:?} and status {:?}; expected {:?} and \"active\"",
                h.handler_ref.as_deref().unwrap_or("NULL"),
                h.status,
                payload::HANDLER_REF
            ),
        )),
        None => Err(Stop::reject(
            Reject::HandlerNotBound,
            "apr_action_types has no authorize_build_step row",
        )),
    }
}

#[cfg(test)]
mod tests;
