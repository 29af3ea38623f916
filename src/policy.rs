//! The decisions: is this APR mintable, is this consume acceptable, may this
//! grant be revoked. Pure functions of data the shell (`db`) has read; they
//! never touch the database, the clock or the environment. `Validated` can
//! only be built here, so nothing can be minted from an unchecked payload.

use crate::cser::{self, Sha256Hex};
use crate::payload::{self, RawRequest};
use crate::reject::{Fault, Reject};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

/// Why a decision stopped: a refusal of the input, or a fault of the
/// environment. Both carry the exact reason for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Reject(Reject, String),
    Fault(Fault, String),
}

impl Stop {
    fn reject(r: Reject, why: impl Into<String>) -> Stop {
        Stop::Reject(r, why.into())
    }
}

impl From<(Reject, String)> for Stop {
    fn from((r, why): (Reject, String)) -> Stop {
        Stop::Reject(r, why)
    }
}

/// The live C1 vocabulary: the active C1_VOCAB_OP action codes. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary(BTreeSet<String>);

impl Vocabulary {
    pub fn new(codes: impl IntoIterator<Item = String>) -> Option<Vocabulary> {
        let set: BTreeSet<String> = codes.into_iter().collect();
        (!set.is_empty()).then_some(Vocabulary(set))
    }

    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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
    if let Some(unknown) = presented.iter().find(|c| !vocabulary.0.contains(*c)) {
        return refuse(format!(
            "action_set has {unknown:?}, which is not an active C1_VOCAB_OP"
        ));
    }
    let missing: Vec<&str> = vocabulary.codes().filter(|c| !seen.contains(c)).collect();
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

// ---------------------------------------------------------------------------
// execute
// ---------------------------------------------------------------------------

/// The APR as read from `apr_requests`.
#[derive(Debug, Clone, PartialEq)]
pub struct Apr {
    pub apr_code: String,
    pub action_code: String,
    pub status: String,
    pub proposed_by: String,
    /// SQL NULL reads as JSON null (and is malformed).
    pub payload: Value,
}

/// The `authorize_build_step` row of `apr_action_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    pub handler_ref: Option<String>,
    pub status: String,
    pub min_approvals: Option<i32>,
}

/// One row of `apr_approvals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub approver: String,
    pub decision: String,
    pub payload_digest: Option<String>,
}

/// A row of `governance_build_authorization`, every column the decisions use.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub auth_code: String,
    pub request_ref: String,
    pub status: String,
    pub carrier: Option<String>,
    pub lane: Option<String>,
    pub target: Option<String>,
    pub plan_ref: Option<String>,
    pub manifest_hash: Option<String>,
    pub protocol_version: Option<String>,
    pub action_set: Option<Vec<String>>,
    pub scope: Option<Value>,
    pub apr_digest: Option<String>,
    pub single_use: bool,
    pub commit_allowed: bool,
    pub requires_sovereign_esign: bool,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What `execute` should do when nothing refused it.
#[derive(Debug, Clone, PartialEq)]
pub enum Execute {
    /// A grant already exists for this APR and the payload is unchanged.
    AlreadyMinted,
    /// Mint this, if no other APR holds an active grant for the same scope.
    Mint(Validated),
}

/// Everything `decide_execute` looks at, read in one transaction.
#[derive(Debug, Clone)]
pub struct ExecuteFacts<'a> {
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    pub existing: Option<&'a Grant>,
    pub vocabulary: &'a Vocabulary,
    pub votes: &'a [Vote],
    /// What `quorum_passed(apr_code)` returned (NULL reads as false).
    pub quorum_function: bool,
}

/// SPEC §4's order for execute, up to (not including) the check for another
/// APR's active grant, which needs the scope lock the shell takes.
pub fn decide_execute(facts: &ExecuteFacts<'_>) -> Result<Execute, Stop> {
    let Some(apr) = facts.apr else {
        return Err(Stop::reject(Reject::AprNotFound, "no APR with this code"));
    };
    if apr.action_code != payload::ACTION_CODE {
        return Err(Stop::reject(
            Reject::AprWrongAction,
            format!(
                "APR action_code is {:?}; this handler serves only {:?}",
                apr.action_code,
                payload::ACTION_CODE
            ),
        ));
    }
    check_handler_bound(facts.handler)?;
    if let Some(grant) = facts.existing {
        return match cser::digest(&apr.payload) {
            Ok(d) if grant.apr_digest.as_deref() == Some(d.as_str()) => Ok(Execute::AlreadyMinted),
            _ => Err(Stop::reject(
                Reject::AprTampered,
                format!(
                    "grant {} was minted for this APR, but the APR's payload has changed since (apr_digest {})",
                    grant.auth_code,
                    grant.apr_digest.as_deref().unwrap_or("NULL")
                ),
            )),
        };
    }
    match apr.status.as_str() {
        "approved" => {}
        "proposed" => {
            return Err(Stop::reject(
                Reject::AprNotApproved,
                "APR is proposed, not yet approved",
            ))
        }
        "applied" => {
            return Err(Stop::reject(
                Reject::AprTerminal,
                "APR is applied but no grant exists for it",
            ))
        }
        "rejected" | "withdrawn" | "failed" => {
            return Err(Stop::reject(
                Reject::AprTerminal,
                format!("APR is {}", apr.status),
            ))
        }
        other => {
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!("APR status {other:?} is not one the contract knows"),
            ))
        }
    }
    let validated = validate_payload(&apr.payload, facts.vocabulary)?;
    check_quorum(
        apr,
        facts.handler,
        facts.votes,
        validated.digest(),
        facts.quorum_function,
    )?;
    Ok(Execute::Mint(validated))
}

fn check_handler_bound(handler: Option<&Handler>) -> Result<(), Stop> {
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

/// The handler's own recount, stricter than `quorum_passed()`: it counts
/// only approvals of exactly this payload (matching `payload_digest`), from
/// distinct approvers other than the proposer. Any non-proposer reject is a
/// veto; the proposer's own reject blocks the quorum.
fn check_quorum(
    apr: &Apr,
    handler: Option<&Handler>,
    votes: &[Vote],
    digest: &Sha256Hex,
    quorum_function: bool,
) -> Result<(), Stop> {
    if let Some(veto) = votes
        .iter()
        .find(|v| v.decision == "reject" && v.approver != apr.proposed_by)
    {
        return Err(Stop::reject(
            Reject::QuorumVetoed,
            format!("{} voted reject", veto.approver),
        ));
    }
    let min =
        match handler.and_then(|h| h.min_approvals) {
            Some(m) if m >= 1 => usize::try_from(m).unwrap_or(usize::MAX),
            other => return Err(Stop::Fault(
                Fault::SchemaContract,
                format!(
                    "authorize_build_step min_approvals is {other:?}; a quorum needs at least 1"
                ),
            )),
        };
    let counted: BTreeSet<&str> = votes
        .iter()
        .filter(|v| v.decision == "approve" && v.approver != apr.proposed_by)
        .filter(|v| v.payload_digest.as_deref() == Some(digest.as_str()))
        .map(|v| v.approver.as_str())
        .collect();
    let uncounted = votes
        .iter()
        .filter(|v| v.decision == "approve" && v.approver != apr.proposed_by)
        .count()
        - counted.len();
    let proposer_rejected = votes.iter().any(|v| v.decision == "reject");
    let recount = counted.len() >= min && !proposer_rejected;
    match (recount, quorum_function) {
        (true, true) => Ok(()),
        (false, _) => {
            let mut why = format!(
                "{} of {min} approvals from approvers other than the proposer for this exact payload",
                counted.len()
            );
            if uncounted > 0 {
                why.push_str(&format!(
                    "; {uncounted} approval(s) not counted because their payload_digest is not this payload's ({digest})"
                ));
            }
            if proposer_rejected {
                why.push_str("; the proposer voted reject");
            }
            Err(Stop::reject(Reject::QuorumNotMet, why))
        }
        (true, false) => Err(Stop::Fault(
            Fault::QuorumDrift,
            format!(
                "the handler's recount finds {} approvals (need {min}) but quorum_passed() says no: the two quorum definitions have drifted",
                counted.len()
            ),
        )),
    }
}

/// Another APR's active, unexpired grant for the same carrier, target and
/// plan blocks the mint.
pub fn check_no_active_grant(other: Option<&str>) -> Result<(), Stop> {
    match other {
        None => Ok(()),
        Some(code) => Err(Stop::reject(
            Reject::ActiveGrantExists,
            format!("grant {code} of another APR is active for the same carrier, target and plan"),
        )),
    }
}

// ---------------------------------------------------------------------------
// consume and revoke
// ---------------------------------------------------------------------------

/// What the consumer is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub carrier: String,
    pub lane: String,
    pub target: String,
    pub plan_ref: String,
    pub mode: String,
    pub manifest_hash: String,
    /// As presented; a duplicate is a mismatch.
    pub action_set: Vec<String>,
}

/// SPEC §4's order for consume: REAL_RUN → not found → status → generic →
/// carrier, lane, target, plan, manifest hash, action set → stale → expired.
/// `apr` is the APR behind the grant; `now` is the database's clock.
pub fn decide_consume(
    presented: &Presented,
    grant: Option<&Grant>,
    apr: Option<&Apr>,
    now: DateTime<Utc>,
) -> Result<(), Stop> {
    if presented.mode == payload::MODE_REAL_RUN {
        return Err(Stop::reject(
            Reject::RealRunBlocked,
            "REAL_RUN is never authorized by a C1 build-prep grant",
        ));
    }
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

/// What makes a grant less than a full C1 binding, if anything.
fn generic_gap(g: &Grant) -> Option<String> {
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
    if g.manifest_hash.as_deref().and_then(Sha256Hex::parse).is_none() {
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

/// What `revoke` should do with the grant it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    Revoke,
    AlreadyRevoked,
}

/// `active` (expired or not) may be revoked; a revoked grant is already
/// done; a consumed one is history and stays so.
pub fn decide_revoke(grant: Option<&Grant>) -> Result<Revoke, Stop> {
    let Some(grant) = grant else {
        return Err(Stop::reject(Reject::AuthNotFound, "no grant found"));
    };
    match grant.status.as_str() {
        "active" => Ok(Revoke::Revoke),
        "revoked" => Ok(Revoke::AlreadyRevoked),
        "consumed" => Err(Stop::reject(
            Reject::AuthAlreadyConsumed,
            "grant was already consumed; a consumed grant cannot be revoked",
        )),
        other => Err(Stop::reject(
            Reject::AuthNotActive,
            format!("grant status is {other:?}; only an active grant can be revoked"),
        )),
    }
}
