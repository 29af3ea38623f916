//! The decisions: is this APR mintable, is this consume acceptable, may this
//! grant be revoked. Pure functions of data the shell (`db`) has read; they
//! never touch the database, the clock or the environment. `Validated` can
//! only be built here, so nothing can be minted from an unchecked payload.

use crate::canon::cser::{self, Sha256Hex};
use crate::decide::payload::{self, RawRequest};
use crate::decide::reject::{Fault, Reject};
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

    /// How a list of operation codes stands to the live vocabulary: the
    /// codes outside it (in the list's order) and the live codes the list
    /// lacks (sorted). The one comparison of an action set with the
    /// vocabulary: the payload check (REJECT_ACTION_SET) and the manifest
    /// check (REJECT_MANIFEST_EXTRA/MISSING_OPERATION) each name its result
    /// with their own code.
    pub fn compare<'a>(&'a self, codes: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
        let outside = codes
            .iter()
            .map(String::as_str)
            .filter(|c| !self.0.contains(*c))
            .collect();
        let lacking = self
            .codes()
            .filter(|live| !codes.iter().any(|c| c == live))
            .collect();
        (outside, lacking)
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
    /// The payload as PostgreSQL prints it: the consume compare-and-swap
    /// checks that it is still exactly this.
    pub payload_text: Option<String>,
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
    /// The approver's SSH signature over the vote (SPEC §10), as stored.
    pub signature: Option<String>,
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
    pub granted_by: Option<String>,
    pub rollback_plan_ref: Option<String>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub consumed_by: Option<String>,
    /// The idempotency key of the consume that spent it.
    pub consume_request_id: Option<String>,
    /// base64 Ed25519 signature over the binding, and the id of the key
    /// that made it (see `signing`).
    pub signature: Option<String>,
    pub key_id: Option<String>,
    /// The approvals the grant was minted on (SPEC §10), under its
    /// signature: `[{"approver", "signature_sha256"}, …]` by approver.
    pub quorum: Option<Value>,
    /// The evidence chain's head when it was minted (SPEC §10), under its
    /// signature; `None` when no evidence log was in use.
    pub evidence_head: Option<String>,
}

/// What `integrity` found of one vote's signature (SPEC §10). Decide never
/// verifies a signature: the result is handed in as data, computed by
/// `integrity::verified` before any decision runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A valid signature over this approval, by a key the allowed signers
    /// list for the approver: the SHA-256 of the signature.
    Verified { signature_sha256: String },
    /// Why the signature does not count.
    NotCounted(String),
}

/// A vote and what `integrity` found of its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot<'a> {
    pub vote: &'a Vote,
    pub signature: SignatureCheck,
}

/// A grant row and what `integrity` found of its signature: `forged` is
/// `None` when one of the handler's trusted keys signed its binding, else
/// why not.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub grant: Grant,
    pub forged: Option<String>,
}

/// The auth code of the grant minted for an APR: `GBA-C1-<apr_code>`.
pub fn auth_code_for(apr_code: &str) -> String {
    format!("GBA-C1-{apr_code}")
}

/// What `execute` should do when nothing refused it.
#[derive(Debug, Clone, PartialEq)]
pub enum Execute {
    /// A grant already exists for this APR and the payload is unchanged.
    AlreadyMinted,
    /// Mint this, on these approvals, if no other APR holds an active grant
    /// for the same scope.
    Mint(Validated, Quorum),
}

/// Everything `decide_execute` looks at, read in one transaction, with the
/// signatures already checked (`integrity::verified::ExecuteFacts` builds
/// it from the rows and the keys).
#[derive(Debug, Clone)]
pub struct ExecuteInput<'a> {
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    /// An existing grant for this APR, with its signature checked.
    pub existing: Option<&'a Checked>,
    pub vocabulary: &'a Vocabulary,
    /// The APR's votes, each with its signature checked.
    pub ballots: &'a [Ballot<'a>],
    /// What `quorum_passed(apr_code)` returned (NULL reads as false).
    pub quorum_function: bool,
    /// The database's wall clock.
    pub now: DateTime<Utc>,
}

/// SPEC §4's order for execute, up to (not including) the check for another
/// APR's active grant, which needs the scope lock the shell takes.
pub fn decide_execute(facts: &ExecuteInput<'_>) -> Result<Execute, Stop> {
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
    if let Some(checked) = facts.existing {
        let grant = &checked.grant;
        return match cser::digest(&apr.payload) {
            Ok(d) if grant.apr_digest.as_deref() == Some(d.as_str()) => {
                // Never OK for a row the handler would not have minted.
                check_grant_backed(
                    checked,
                    &BackingInput {
                        apr: Some(apr),
                        handler: facts.handler,
                        ballots: facts.ballots,
                        quorum_function: facts.quorum_function,
                        now: facts.now,
                    },
                )?;
                Ok(Execute::AlreadyMinted)
            }
            _ => {
                // A row no trusted key signed was never minted: it is named
                // for what it is (revoke retires it), not taken for a
                // tampered APR.
                check_signed(checked)?;
                Err(Stop::reject(
                    Reject::AprTampered,
                    format!(
                        "grant {} was minted for this APR, but the APR's payload has changed since (apr_digest {})",
                        grant.auth_code,
                        grant.apr_digest.as_deref().unwrap_or("NULL")
                    ),
                ))
            }
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
    let quorum = check_quorum(
        apr,
        facts.handler,
        facts.ballots,
        validated.digest(),
        facts.quorum_function,
    )?;
    Ok(Execute::Mint(validated, quorum))
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

/// An approver's identity for counting (SPEC §9, "Approver identity"):
/// trimmed of spaces and ASCII-lowercased. `None` for a name that is empty
/// or holds anything but printable ASCII (a control, invisible or
/// non-ASCII character): such a name is never counted, since it can pass
/// for another. The database's `apr_identity()` is the same rule
/// (staged/approvals-bound.staged.sql); a test holds them together.
pub fn identity(name: &str) -> Option<String> {
    let trimmed = name.trim_matches(' ');
    let readable = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    readable.then(|| trimmed.to_ascii_lowercase())
}

/// How a voter's name stands to the proposer's: the one proposer rule of
/// the recount, the veto and `review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposerMatch {
    /// The same name, or the same readable identity.
    Same,
    /// One of the two is unreadable: they cannot be told apart.
    CannotTell,
    Different,
}

impl ProposerMatch {
    /// For an approval (counting it, or letting a login record it): only
    /// a name certainly not the proposer's may approve; doubt refuses.
    pub fn may_approve(self) -> bool {
        self == ProposerMatch::Different
    }

    /// For a reject: it is the proposer's own (no veto) only when the
    /// names are certainly the same; doubt vetoes.
    pub fn is_own_reject(self) -> bool {
        self == ProposerMatch::Same
    }
}

pub fn proposer_match(name: &str, proposer: &str) -> ProposerMatch {
    if name == proposer {
        return ProposerMatch::Same;
    }
    match (identity(name), identity(proposer)) {
        (Some(a), Some(b)) if a == b => ProposerMatch::Same,
        (Some(_), Some(_)) => ProposerMatch::Different,
        _ => ProposerMatch::CannotTell,
    }
}

/// One approval a quorum counted: who, and the SHA-256 of the signature
/// that made it count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub approver: String,
    pub signature_sha256: String,
}

/// The approvals a quorum was made of, sorted by approver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quorum(pub Vec<Member>);

impl Quorum {
    /// As `governance_build_authorization.quorum` holds it.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|m| serde_json::json!({"approver": m.approver, "signature_sha256": m.signature_sha256}))
                .collect(),
        )
    }

    /// The stored form read back; `None` if it is not exactly that shape.
    pub fn from_json(v: &Value) -> Option<Quorum> {
        let members = v
            .as_array()?
            .iter()
            .map(|m| {
                let o = m.as_object()?;
                (o.len() == 2).then_some(())?;
                Some(Member {
                    approver: o.get("approver")?.as_str()?.to_owned(),
                    signature_sha256: o.get("signature_sha256")?.as_str()?.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Quorum(members))
    }
}

/// The handler's own recount, stricter than `quorum_passed()`: it counts
/// only signed approvals of exactly this payload (matching
/// `payload_digest`, and a valid signature by a key the allowed signers
/// list for that approver), from distinct readable identities that can be
/// told apart from the proposer's. Any reject from someone other than the
/// proposer is a veto, signed or not, whatever the name looks like; the
/// proposer's own reject blocks the quorum.
/// The recount, in structure: how many approvals are required, whose are
/// counted, and each approval not counted with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub required: usize,
    /// Counted identities and the approval that counted for each.
    pub counted: std::collections::BTreeMap<String, Member>,
    pub not_counted: Vec<(String, String)>,
    pub proposer_rejected: bool,
}

impl Tally {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "required": self.required,
            "counted": self.counted.keys().collect::<Vec<_>>(),
            "not_counted": self.not_counted.iter().map(|(who, why)| serde_json::json!({"approver": who, "why": why})).collect::<Vec<_>>(),
            "proposer_rejected": self.proposer_rejected,
        })
    }

    /// The counted approvals, sorted by approver.
    pub fn quorum(&self) -> Quorum {
        let mut members: Vec<Member> = self.counted.values().cloned().collect();
        members.sort();
        Quorum(members)
    }
}

/// Counts the signed approvals of `digest` from approvers other than the
/// proposer, by identity (SPEC §9 approver identity, §10 signed approvals).
pub fn tally(apr: &Apr, ballots: &[Ballot<'_>], digest: &Sha256Hex, required: usize) -> Tally {
    let mut counted = std::collections::BTreeMap::new();
    let mut not_counted = Vec::new();
    for b in ballots.iter().filter(|b| b.vote.decision == "approve") {
        let v = b.vote;
        let why = match countable(apr, b, digest) {
            Err(why) => Some(why),
            Ok((id, member)) => match counted.entry(id) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    Some("the same approver again".to_owned())
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(member);
                    None
                }
            },
        };
        if let Some(why) = why {
            not_counted.push((v.approver.clone(), why));
        }
    }
    Tally {
        required,
        counted,
        not_counted,
        proposer_rejected: ballots.iter().any(|b| b.vote.decision == "reject"),
    }
}

/// One approve vote: its identity and the approval it counts as, or why it
/// does not count, in this order: an unreadable name, the proposer (or a
/// name not told apart from the proposer's), no or another payload digest,
/// then the signature (SPEC §10), as `integrity` found it.
fn countable(apr: &Apr, b: &Ballot<'_>, digest: &Sha256Hex) -> Result<(String, Member), String> {
    let v = b.vote;
    let id = identity(&v.approver)
        .ok_or("an unreadable name (control, invisible or non-ASCII characters)")?;
    match proposer_match(&v.approver, &apr.proposed_by) {
        ProposerMatch::Same => return Err("the proposer".into()),
        ProposerMatch::CannotTell => {
            return Err(
                "the proposer's name is unreadable: no approval can be told apart from it".into(),
            )
        }
        ProposerMatch::Different => {}
    }
    match v.payload_digest.as_deref() {
        None => Err("no payload_digest".into()),
        Some(d) if d != digest.as_str() => Err("a payload_digest of another payload".into()),
        Some(_) => match &b.signature {
            SignatureCheck::NotCounted(why) => Err(why.clone()),
            SignatureCheck::Verified { signature_sha256 } => Ok((
                id,
                Member {
                    approver: v.approver.clone(),
                    signature_sha256: signature_sha256.clone(),
                },
            )),
        },
    }
}

/// The quorum facts of an APR for a SKIP verdict: `None` when the APR's
/// payload does not even validate (then there is no digest to count).
pub fn explain_quorum(facts: &ExecuteInput<'_>) -> Option<Tally> {
    let apr = facts.apr?;
    let min = facts.handler.and_then(|h| h.min_approvals)?;
    let v = validate_payload(&apr.payload, facts.vocabulary).ok()?;
    Some(tally(
        apr,
        facts.ballots,
        v.digest(),
        usize::try_from(min).ok()?,
    ))
}

/// A reject vetoes unless it is certainly the proposer's own.
fn is_veto(apr: &Apr, v: &Vote) -> bool {
    v.decision == "reject" && !proposer_match(&v.approver, &apr.proposed_by).is_own_reject()
}

/// One vote as the recount sees it, for `aprs show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub approver: String,
    pub decision: String,
    /// An approve the recount counted.
    pub counts: bool,
    /// A reject that vetoes the APR.
    pub vetoes: bool,
    /// Why it does not count (an approve), or what it does (a reject).
    pub why: Option<String>,
}

/// Every vote of an APR with its standing, by the very rules `check_quorum`
/// applies (`tally` for the approvals, `is_veto` for the rejects): nothing
/// here decides anything of its own.
pub fn standings(tally: &Tally, apr: &Apr, votes: &[Vote]) -> Vec<Standing> {
    votes
        .iter()
        .map(|v| {
            let (counts, vetoes, why) = if v.decision == "approve" {
                let not = tally
                    .not_counted
                    .iter()
                    .find(|(who, _)| *who == v.approver)
                    .map(|(_, why)| why.clone());
                let counted =
                    not.is_none() && tally.counted.values().any(|m| m.approver == v.approver);
                (counted, false, not)
            } else if is_veto(apr, v) {
                (false, true, Some("a reject: it vetoes the APR".to_owned()))
            } else {
                (
                    false,
                    false,
                    Some("the proposer's own reject: no quorum while it stands".to_owned()),
                )
            };
            Standing {
                approver: v.approver.clone(),
                decision: v.decision.clone(),
                counts,
                vetoes,
                why,
            }
        })
        .collect()
}

fn check_quorum(
    apr: &Apr,
    handler: Option<&Handler>,
    ballots: &[Ballot<'_>],
    digest: &Sha256Hex,
    quorum_function: bool,
) -> Result<Quorum, Stop> {
    if let Some(veto) = ballots.iter().map(|b| b.vote).find(|v| is_veto(apr, v)) {
        return Err(Stop::reject(
            Reject::QuorumVetoed,
            format!("{:?} voted reject", veto.approver),
        ));
    }
    let min = match handler.and_then(|h| h.min_approvals) {
        Some(m) if m >= 1 => usize::try_from(m).unwrap_or(usize::MAX),
        other => {
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!(
                    "authorize_build_step min_approvals is {other:?}; a quorum needs at least 1"
                ),
            ))
        }
    };
    let t = tally(apr, ballots, digest, min);
    let not_counted: Vec<String> = t
        .not_counted
        .iter()
        .map(|(who, why)| format!("{who:?}: {why}"))
        .collect();
    let recount = t.counted.len() >= min && !t.proposer_rejected;
    match (recount, quorum_function) {
        (true, true) => Ok(t.quorum()),
        (false, _) => {
            let mut why = format!(
                "{} of {min} signed approvals from approvers other than the proposer for this exact payload ({digest})",
                t.counted.len()
            );
            if !not_counted.is_empty() {
                why.push_str(&format!("; not counted: {}", not_counted.join("; ")));
            }
            if t.proposer_rejected {
                why.push_str("; the proposer voted reject");
            }
            Err(Stop::reject(Reject::QuorumNotMet, why))
        }
        (true, false) => Err(Stop::Fault(
            Fault::QuorumDrift,
            format!(
                "the handler's recount finds {} signed approvals (need {min}) but quorum_passed() says no: the two quorum definitions have drifted",
                t.counted.len()
            ),
        )),
    }
}

/// Another APR's active, unexpired grant for the same carrier, target and
/// plan blocks the mint, if a trusted key signed it: a forged row never
/// blocks a lawful mint (it is retired with `revoke`, and is in the table
/// for an operator to find, not for the mint to obey).
pub fn check_no_active_grant(others: &[Checked]) -> Result<(), Stop> {
    match others.iter().find(|c| c.forged.is_none()) {
        None => Ok(()),
        Some(Checked { grant: g, .. }) => Err(Stop::reject(
            Reject::ActiveGrantExists,
            format!(
                "grant {} of another APR is active for the same carrier, target and plan",
                g.auth_code
            ),
        )),
    }
}

// ---------------------------------------------------------------------------
// review
// ---------------------------------------------------------------------------

/// What `review` decides on, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFacts {
    pub apr_code: String,
    pub status: String,
    pub proposed_by: String,
    /// The database login running the review (session_user).
    pub login: String,
    /// The digest of the payload as stored; `None` if it has no cser-v1
    /// form (NULL, or deeper than the exact reader keeps).
    pub digest: Option<Sha256Hex>,
}

/// Whether this login may record this vote: the APR is still open, the
/// login votes as itself (exactly: the database stores the login's own
/// name), its name is readable, a proposer never approves their own APR,
/// and the payload is the one reviewed. Returns the vote to sign: approver,
/// decision, digest.
pub fn decide_review(
    f: &ReviewFacts,
    approve: bool,
    by: Option<&str>,
    reviewed_digest: Option<&str>,
) -> Result<Vote, Stop> {
    if !matches!(f.status.as_str(), "proposed" | "approved") {
        return Err(Stop::reject(
            Reject::AprTerminal,
            format!("APR is {}: there is nothing left to review", f.status),
        ));
    }
    if let Some(by) = by {
        if by != f.login {
            return Err(Stop::reject(
                Reject::ReviewerNotSelf,
                format!("--by {by:?} is not exactly the login running the review ({:?}): nobody votes for somebody else, or twice under another spelling", f.login),
            ));
        }
    }
    if identity(&f.login).is_none() {
        return Err(Stop::reject(
            Reject::ReviewerNotSelf,
            format!("the login {:?} is not a readable name (printable ASCII): its vote could pass for another's, and is never counted", f.login),
        ));
    }
    if approve && !proposer_match(&f.login, &f.proposed_by).may_approve() {
        return Err(Stop::reject(
            Reject::SelfApproval,
            format!(
                "{:?} proposed {} (as {:?}): a proposer never approves their own APR",
                f.login, f.apr_code, f.proposed_by
            ),
        ));
    }
    let Some(digest) = &f.digest else {
        return Err(Stop::reject(
            Reject::PayloadMalformed,
            "the APR's payload is NULL or has no cser-v1 form: there is nothing to approve",
        ));
    };
    if let Some(seen) = reviewed_digest {
        if seen != digest.as_str() {
            return Err(Stop::reject(
                Reject::DigestMismatch,
                format!(
                    "the payload's digest is {}, not the {seen} you gave; nothing recorded",
                    digest.as_str()
                ),
            ));
        }
    }
    Ok(Vote {
        approver: f.login.clone(),
        decision: if approve { "approve" } else { "reject" }.into(),
        payload_digest: Some(digest.as_str().to_owned()),
        signature: None,
    })
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
    let invalid = |why: String| {
        Stop::reject(
            Reject::GrantInvalid,
            format!(
                "grant {} is not one the handler would have minted: {why}",
                grant.auth_code
            ),
        )
    };
    let ttl = grant.expires_at - grant.granted_at;
    if ttl <= chrono::TimeDelta::zero()
        || ttl > chrono::TimeDelta::seconds(payload::TTL_CAP_SECONDS)
    {
        return Err(invalid(format!(
            "its lifetime {}s is outside 1..={}s",
            ttl.num_seconds(),
            payload::TTL_CAP_SECONDS
        )));
    }
    if grant.granted_at > backing.now {
        return Err(invalid(format!(
            "granted_at {} is in the future (database time {})",
            grant.granted_at.to_rfc3339(),
            backing.now.to_rfc3339()
        )));
    }
    if let Some(gap) = generic_gap(grant) {
        return Err(invalid(format!("no full C1 binding: {gap}")));
    }
    if grant.auth_code != auth_code_for(&grant.request_ref) {
        return Err(invalid(format!(
            "its auth_code is not {}",
            auth_code_for(&grant.request_ref)
        )));
    }
    if grant.granted_by.as_deref() != Some(payload::HANDLER_REF) {
        return Err(invalid(format!(
            "granted_by is {:?}, not {:?}",
            grant.granted_by.as_deref().unwrap_or("NULL"),
            payload::HANDLER_REF
        )));
    }
    check_handler_bound(backing.handler).map_err(|stop| match stop {
        Stop::Reject(_, why) => invalid(why),
        fault => fault,
    })?;
    let Some(apr) = backing.apr else {
        return Err(invalid(format!(
            "its APR {} does not exist",
            grant.request_ref
        )));
    };
    if !matches!(apr.status.as_str(), "approved" | "applied") {
        return Err(invalid(format!(
            "its APR {} is {}, not approved or applied",
            apr.apr_code, apr.status
        )));
    }
    // The grant's own action set stands in for the vocabulary: a grant
    // stays good when the vocabulary changes after it was minted.
    let vocabulary = Vocabulary::new(grant.action_set.clone().unwrap_or_default())
        .ok_or_else(|| invalid("no action_set".into()))?;
    let v = validate_payload(&apr.payload, &vocabulary).map_err(|stop| match stop {
        Stop::Reject(r, why) => invalid(format!(
            "its APR's payload would not mint ({}: {why})",
            r.code()
        )),
        fault => fault,
    })?;
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
        return Err(invalid(format!(
            "its {field} is not what its APR's payload gives"
        )));
    }
    let now = check_quorum(
        apr,
        backing.handler,
        backing.ballots,
        v.digest(),
        backing.quorum_function,
    )
    .map_err(|stop| match stop {
        Stop::Reject(r, why) => invalid(format!("its APR has no quorum ({}: {why})", r.code())),
        fault => fault,
    })?;
    check_signed(checked)?;
    let required = backing
        .handler
        .and_then(|h| h.min_approvals)
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(usize::MAX);
    check_named_quorum(grant, &now, required).map_err(invalid)
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

/// What `revoke` should do with the grant it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    Revoke,
    AlreadyRevoked,
}

/// `active` (expired or not) may be revoked; a revoked grant is already
/// done; a consumed one is history and stays so. A row no trusted key
/// signed is revocable too (revoking only ever lowers authority, and a
/// forged row must never sit active for ever): the second value says why
/// it is forged, for the verdict.
pub fn decide_revoke(checked: Option<&Checked>) -> Result<(Revoke, Option<String>), Stop> {
    let Some(Checked { grant, forged }) = checked else {
        return Err(Stop::reject(Reject::AuthNotFound, "no grant found"));
    };
    let forged = forged.clone();
    match grant.status.as_str() {
        "active" => Ok((Revoke::Revoke, forged)),
        "revoked" => Ok((Revoke::AlreadyRevoked, forged)),
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

/// Which grants a bulk `revoke` retires (exactly one selector per run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// Every active grant of this plan.
    Plan(&'a str),
    /// Every active grant that names this key id, verified or not (a
    /// leaked key: whatever claims it goes, genuine or forged).
    KeyId(&'a str),
    /// Every active grant whose signature does not verify against the
    /// trusted keys.
    Forged,
}

impl Selector<'_> {
    /// The selector as the command line spells it.
    pub fn describe(&self) -> String {
        match self {
            Selector::Plan(p) => format!("--plan {p}"),
            Selector::KeyId(k) => format!("--key-id {k}"),
            Selector::Forged => "--forged".to_owned(),
        }
    }

    /// Whether an active row is in the set.
    fn selects(&self, g: &Grant, forged: bool) -> bool {
        match self {
            Selector::Plan(p) => g.plan_ref.as_deref() == Some(*p),
            Selector::KeyId(k) => g.key_id.as_deref() == Some(*k),
            Selector::Forged => forged,
        }
    }
}

/// One grant a bulk revoke retires, and why it is forged when it is.
pub type Selected = Checked;

/// Bulk `revoke`: of the rows read (the shell reads every active row the
/// selector could match, locked), the set the selector picks, in auth-code
/// order. With `expect`, the set must be exactly that big: revoking more
/// (or fewer) grants than the operator saw in the dry run is refused, never
/// done silently.
pub fn decide_bulk_revoke(
    read: Vec<Checked>,
    selector: Selector<'_>,
    expect: Option<u64>,
) -> Result<Vec<Selected>, Stop> {
    let mut set: Vec<Selected> = read
        .into_iter()
        .filter(|c| c.grant.status == "active")
        .filter(|c| selector.selects(&c.grant, c.forged.is_some()))
        .collect();
    set.sort_by(|a, b| a.grant.auth_code.cmp(&b.grant.auth_code));
    if let Some(n) = expect {
        let found = set.len() as u64;
        if found != n {
            let codes: Vec<&str> = set.iter().map(|s| s.grant.auth_code.as_str()).collect();
            return Err(Stop::Reject(
                Reject::BulkMismatch,
                format!(
                    "{found} active grant{} match {} now ({}), but --expect says {n}: the set changed \
                     since it was counted; nothing revoked (run --dry-run again and check it)",
                    if found == 1 { "" } else { "s" },
                    selector.describe(),
                    if codes.is_empty() {
                        "none".to_owned()
                    } else {
                        codes.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(set)
}

/// What `keys` says of one key id (or of the unsigned rows, `key_id`
/// None): grants it signed that verify, by status, and rows that name it
/// but do not verify.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyTally {
    pub key_id: Option<String>,
    pub trusted: bool,
    pub active: u64,
    pub consumed: u64,
    pub revoked: u64,
    pub forged: u64,
    pub forged_active: u64,
}

/// Every trusted key id (signed nothing or not), then every other key id
/// the rows name, then the unsigned rows if any. `trusted_ids` are the ids
/// of the handler's trusted keys; each row comes with its signature checked.
pub fn key_tally(grants: &[Checked], trusted_ids: &[String]) -> Vec<KeyTally> {
    let mut by_id: std::collections::BTreeMap<(bool, Option<String>), KeyTally> = trusted_ids
        .iter()
        .cloned()
        .map(|id| {
            let t = KeyTally {
                key_id: Some(id.clone()),
                trusted: true,
                ..KeyTally::default()
            };
            ((false, Some(id)), t)
        })
        .collect();
    for Checked { grant: g, forged } in grants {
        let is_trusted = g
            .key_id
            .as_deref()
            .is_some_and(|k| trusted_ids.iter().any(|t| t == k));
        // Trusted first, then the others, then the unsigned (None sorts
        // first among Options, so the rank says it).
        let rank = (!is_trusted, g.key_id.clone());
        let t = by_id.entry(rank).or_insert_with(|| KeyTally {
            key_id: g.key_id.clone(),
            trusted: is_trusted,
            ..KeyTally::default()
        });
        if forged.is_none() {
            match g.status.as_str() {
                "active" => t.active += 1,
                "consumed" => t.consumed += 1,
                _ => t.revoked += 1,
            }
        } else {
            t.forged += 1;
            if g.status == "active" {
                t.forged_active += 1;
            }
        }
    }
    let mut out: Vec<KeyTally> = by_id.into_values().collect();
    // The unsigned rows last.
    out.sort_by_key(|t| (!t.trusted, t.key_id.is_none()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::approval::AllowedSigners;
    use crate::integrity::signing::TrustedKeys;
    use crate::integrity::verified::{
        check_grant_backed, check_no_active_grant, decide_bulk_revoke, decide_execute,
        decide_revoke, key_tally, Backing, ExecuteFacts,
    };
    use serde_json::json;

    const VOCAB: [&str; 3] = ["c1_a", "c1_b", "c1_c"];
    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn vocabulary() -> Vocabulary {
        Vocabulary::new(VOCAB.iter().map(|s| s.to_string())).unwrap()
    }

    fn valid() -> Value {
        json!({
            "carrier": "C1", "target": "DOT_C1_VOCAB_BUILD", "lane": "BUILD_PREP",
            "mode": "DRY_RUN", "corpus": "SANDBOX", "plan_ref": "LEGO1-C1-PLAN",
            "manifest_hash": HASH, "protocol_version": "cser-v1",
            "action_set": ["c1_c", "c1_a", "c1_b"], "ttl_seconds": 3600,
            "rollback_plan_ref": "RB-1"
        })
    }

    fn with(changes: &[(&str, Option<Value>)]) -> Value {
        let mut v = valid();
        for (k, change) in changes {
            match change {
                Some(x) => v[*k] = x.clone(),
                None => {
                    v.as_object_mut().unwrap().remove(*k);
                }
            }
        }
        v
    }

    fn code(payload: &Value) -> &'static str {
        match validate_payload(payload, &vocabulary()) {
            Ok(_) => "OK",
            Err(Stop::Reject(r, _)) => r.code(),
            Err(Stop::Fault(f, _)) => f.code(),
        }
    }

    #[test]
    fn the_valid_payload_is_accepted_with_a_sorted_action_set_and_its_digest() {
        let v = validate_payload(&valid(), &vocabulary()).unwrap();
        assert_eq!(v.action_set(), ["c1_a", "c1_b", "c1_c"]);
        assert_eq!(v.ttl_seconds(), 3600);
        assert_eq!(v.digest(), &cser::digest(&valid()).unwrap());
        assert_eq!(v.scope()["target"], "DOT_C1_VOCAB_BUILD");
    }

    #[test]
    fn each_payload_fault_gets_its_own_code() {
        let s = |x: &str| Some(json!(x));
        let cases: Vec<(Value, &str)> = vec![
            (with(&[("mode", s("REAL_RUN"))]), "C1_PROD_REAL_RUN_BLOCKED"),
            (
                with(&[("corpus", s("PRODUCTION"))]),
                "REJECT_SCOPE_PRODUCTION",
            ),
            (with(&[("corpus", s("CURRENT"))]), "REJECT_SCOPE_PRODUCTION"),
            (
                with(&[("commit_allowed", Some(json!(false)))]),
                "REJECT_SCOPE_SOVEREIGN",
            ),
            (
                with(&[("sovereign", Some(json!(null)))]),
                "REJECT_SCOPE_SOVEREIGN",
            ),
            (
                with(&[("requires_sovereign_esign", Some(json!(false)))]),
                "REJECT_SCOPE_SOVEREIGN",
            ),
            (
                with(&[("production_authority", Some(json!(0)))]),
                "REJECT_SCOPE_SOVEREIGN",
            ),
            (json!("not an object"), "REJECT_PAYLOAD_MALFORMED"),
            (json!([valid()]), "REJECT_PAYLOAD_MALFORMED"),
            (json!(null), "REJECT_PAYLOAD_MALFORMED"),
            (with(&[("extra", s("x"))]), "REJECT_PAYLOAD_MALFORMED"),
            (with(&[("plan_ref", None)]), "REJECT_PAYLOAD_MALFORMED"),
            (
                with(&[("carrier", Some(json!(1)))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (
                with(&[("action_set", s("c1_a,c1_b,c1_c"))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (
                with(&[("action_set", Some(json!(["c1_a", 2, "c1_c"])))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (
                with(&[("ttl_seconds", s("3600"))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (with(&[("mode", s("dry_run"))]), "REJECT_PAYLOAD_MALFORMED"),
            (
                with(&[("corpus", s("sandbox"))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (
                with(&[("rollback_plan_ref", Some(json!(7)))]),
                "REJECT_PAYLOAD_MALFORMED",
            ),
            (with(&[("carrier", s("C2"))]), "REJECT_SCOPE_CARRIER"),
            (with(&[("carrier", s("C7"))]), "REJECT_SCOPE_CARRIER"),
            (
                with(&[("target", s("DOT_C1_VOCAB_VERIFY"))]),
                "REJECT_SCOPE_TARGET",
            ),
            (with(&[("lane", s("REAL_RUN_PREP"))]), "REJECT_SCOPE_LANE"),
            (
                with(&[("protocol_version", s("cser-v2"))]),
                "REJECT_PROTOCOL_VERSION",
            ),
            (
                with(&[("manifest_hash", s(&HASH.to_uppercase()))]),
                "REJECT_MANIFEST_HASH",
            ),
            (
                with(&[("manifest_hash", s(&HASH[1..]))]),
                "REJECT_MANIFEST_HASH",
            ),
            (
                with(&[("action_set", Some(json!([])))]),
                "REJECT_ACTION_SET",
            ),
            (
                with(&[("action_set", Some(json!(["c1_a", "c1_b", "c1_c", "c1_a"])))]),
                "REJECT_ACTION_SET",
            ),
            (
                with(&[("action_set", Some(json!(["c1_a", "c1_b", "c1_c", "c1_x"])))]),
                "REJECT_ACTION_SET",
            ),
            (
                with(&[("action_set", Some(json!(["c1_a", "c1_b"])))]),
                "REJECT_ACTION_SET",
            ),
            (with(&[("plan_ref", s(""))]), "REJECT_PLAN_REF"),
            (with(&[("plan_ref", s("has space"))]), "REJECT_PLAN_REF"),
            (
                with(&[("plan_ref", s(&"p".repeat(129)))]),
                "REJECT_PLAN_REF",
            ),
            (with(&[("ttl_seconds", None)]), "REJECT_TTL"),
            (with(&[("ttl_seconds", Some(json!(null)))]), "REJECT_TTL"),
            (with(&[("ttl_seconds", Some(json!(0)))]), "REJECT_TTL"),
            (with(&[("ttl_seconds", Some(json!(-1)))]), "REJECT_TTL"),
            (with(&[("ttl_seconds", Some(json!(86_401)))]), "REJECT_TTL"),
            (with(&[("ttl_seconds", Some(json!(3600.5)))]), "REJECT_TTL"),
            (
                with(&[("rollback_plan_ref", None)]),
                "REJECT_ROLLBACK_PLAN_MISSING",
            ),
            (
                with(&[("rollback_plan_ref", Some(json!(null)))]),
                "REJECT_ROLLBACK_PLAN_MISSING",
            ),
            (
                with(&[("rollback_plan_ref", s(""))]),
                "REJECT_ROLLBACK_PLAN_MISSING",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(code(&payload), want, "payload: {payload}");
        }
    }

    #[test]
    fn boundaries_that_are_accepted() {
        assert_eq!(code(&with(&[("ttl_seconds", Some(json!(1)))])), "OK");
        assert_eq!(code(&with(&[("ttl_seconds", Some(json!(86_400)))])), "OK");
        assert_eq!(
            code(&with(&[("plan_ref", Some(json!("a".repeat(128))))])),
            "OK"
        );
        assert_eq!(code(&with(&[("plan_ref", Some(json!("A.b_c:d-9")))])), "OK");
    }

    #[test]
    fn values_match_exactly_without_trimming_or_case_folding() {
        for (key, bad, want) in [
            ("carrier", "c1", "REJECT_SCOPE_CARRIER"),
            ("carrier", " C1", "REJECT_SCOPE_CARRIER"),
            ("carrier", "C1 ", "REJECT_SCOPE_CARRIER"),
            ("target", "dot_c1_vocab_build", "REJECT_SCOPE_TARGET"),
            ("lane", "BUILD_PREP\n", "REJECT_SCOPE_LANE"),
            ("protocol_version", "CSER-V1", "REJECT_PROTOCOL_VERSION"),
            ("mode", " DRY_RUN", "REJECT_PAYLOAD_MALFORMED"),
            ("corpus", "SANDBOX ", "REJECT_PAYLOAD_MALFORMED"),
            ("mode", "real_run", "REJECT_PAYLOAD_MALFORMED"),
            ("corpus", "production", "REJECT_PAYLOAD_MALFORMED"),
        ] {
            assert_eq!(
                code(&with(&[(key, Some(json!(bad)))])),
                want,
                "{key}={bad:?}"
            );
        }
        let padded = with(&[("action_set", Some(json!(["c1_a ", "c1_b", "c1_c"])))]);
        assert_eq!(code(&padded), "REJECT_ACTION_SET");
    }

    #[test]
    fn real_run_anywhere_wins_over_everything() {
        let nested = with(&[("unknown", Some(json!({"deep": ["x", "REAL_RUN"]})))]);
        assert_eq!(code(&nested), "C1_PROD_REAL_RUN_BLOCKED");
        let in_set = with(&[("action_set", Some(json!(["REAL_RUN"])))]);
        assert_eq!(code(&in_set), "C1_PROD_REAL_RUN_BLOCKED");
        assert_eq!(code(&json!("REAL_RUN")), "C1_PROD_REAL_RUN_BLOCKED");
        let everything = with(&[
            ("corpus", Some(json!("PRODUCTION"))),
            ("sovereign", Some(json!(true))),
            ("carrier", Some(json!("C2"))),
            ("lane", Some(json!("REAL_RUN"))),
        ]);
        assert_eq!(code(&everything), "C1_PROD_REAL_RUN_BLOCKED");
        // A key named REAL_RUN is not a value: it is an unknown key.
        assert_eq!(
            code(&with(&[("REAL_RUN", Some(json!(1)))])),
            "REJECT_PAYLOAD_MALFORMED"
        );
    }

    /// SPEC §5's order, one adjacent pair at a time: with both faults
    /// present, the earlier one decides.
    #[test]
    fn precedence_follows_the_spec_order() {
        let s = |x: &str| Some(json!(x));
        let faults: Vec<((&str, Option<Value>), &str)> = vec![
            (("corpus", s("PRODUCTION")), "REJECT_SCOPE_PRODUCTION"),
            (("sovereign", Some(json!(true))), "REJECT_SCOPE_SOVEREIGN"),
            (("bogus", s("x")), "REJECT_PAYLOAD_MALFORMED"),
            (("carrier", s("C3")), "REJECT_SCOPE_CARRIER"),
            (("target", s("OTHER")), "REJECT_SCOPE_TARGET"),
            (("lane", s("OTHER")), "REJECT_SCOPE_LANE"),
            (
                ("protocol_version", s("cser-v0")),
                "REJECT_PROTOCOL_VERSION",
            ),
            (("manifest_hash", s("xyz")), "REJECT_MANIFEST_HASH"),
            (("action_set", Some(json!([]))), "REJECT_ACTION_SET"),
            (("plan_ref", s("bad plan")), "REJECT_PLAN_REF"),
            (("ttl_seconds", Some(json!(0))), "REJECT_TTL"),
            (("rollback_plan_ref", s("")), "REJECT_ROLLBACK_PLAN_MISSING"),
        ];
        for pair in faults.windows(2) {
            let (first, want) = &pair[0];
            let (second, _) = &pair[1];
            let payload = with(&[(first.0, first.1.clone()), (second.0, second.1.clone())]);
            assert_eq!(code(&payload), *want, "{payload}");
        }
        // Malformed beats every value check, whatever comes later.
        let p = with(&[("carrier", s("C2")), ("ttl_seconds", s("1h"))]);
        assert_eq!(code(&p), "REJECT_PAYLOAD_MALFORMED");
    }

    // --- execute ---------------------------------------------------------

    fn apr(status: &str, payload: Value) -> Apr {
        Apr {
            payload_text: Some(payload.to_string()),
            apr_code: "APR-1".into(),
            action_code: "authorize_build_step".into(),
            status: status.into(),
            proposed_by: "pat".into(),
            payload,
        }
    }

    fn bound() -> Handler {
        Handler {
            handler_ref: Some("dot-apr-execute:authorize_build_step".into()),
            status: "active".into(),
            min_approvals: Some(2),
        }
    }

    /// A vote on APR-1, signed by the test approver of that name when it
    /// has a digest to sign.
    fn vote(who: &str, decision: &str, digest: Option<&str>) -> Vote {
        Vote {
            approver: who.into(),
            decision: decision.into(),
            payload_digest: digest.map(str::to_owned),
            signature: digest.and_then(|d| {
                crate::disposable::fixtures::sign_test_vote("APR-1", who, decision, d)
            }),
        }
    }

    fn allowed() -> AllowedSigners {
        ALLOWED.get_or_init(load_allowed).clone()
    }

    static ALLOWED: std::sync::OnceLock<AllowedSigners> = std::sync::OnceLock::new();

    fn load_allowed() -> AllowedSigners {
        AllowedSigners::parse(&crate::disposable::fixtures::test_allowed_signers(), "test").unwrap()
    }

    /// The votes with the test approvers' allowed signers, judged at the
    /// fixed time of `grant_for`, their signatures checked by `integrity`.
    fn signed(votes: &[Vote]) -> Vec<Ballot<'_>> {
        crate::integrity::verified::ballots(
            "APR-1",
            &crate::integrity::verified::Signed {
                votes,
                allowed: ALLOWED.get_or_init(load_allowed),
                now: chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            },
        )
    }

    fn quorum_for(payload: &Value) -> Vec<Vote> {
        let d = cser::digest(payload).unwrap();
        vec![
            vote("ann", "approve", Some(d.as_str())),
            vote("bo", "approve", Some(d.as_str())),
        ]
    }

    fn grant_for(payload: &Value) -> Grant {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let v = validate_payload(payload, &vocabulary()).unwrap();
        let mut g = Grant {
            auth_code: "GBA-C1-APR-1".into(),
            request_ref: "APR-1".into(),
            status: "active".into(),
            carrier: Some("C1".into()),
            lane: Some("BUILD_PREP".into()),
            target: Some("DOT_C1_VOCAB_BUILD".into()),
            plan_ref: Some("LEGO1-C1-PLAN".into()),
            manifest_hash: Some(HASH.into()),
            protocol_version: Some("cser-v1".into()),
            action_set: Some(VOCAB.iter().map(|s| s.to_string()).collect()),
            scope: Some(v.scope()),
            apr_digest: Some(cser::digest(payload).unwrap().as_str().into()),
            single_use: true,
            commit_allowed: false,
            requires_sovereign_esign: false,
            granted_at: now,
            expires_at: now + chrono::Duration::seconds(v.ttl_seconds()),
            granted_by: Some(payload::HANDLER_REF.into()),
            rollback_plan_ref: Some(v.rollback_plan_ref().into()),
            consumed_at: None,
            consumed_by: None,
            consume_request_id: None,
            signature: None,
            key_id: None,
            quorum: None,
            evidence_head: None,
        };
        let t = tally(
            &apr("approved", payload.clone()),
            &signed(&quorum_for(payload)),
            &cser::digest(payload).unwrap(),
            2,
        );
        g.quorum = Some(t.quorum().to_json());
        let (signature, key_id) = crate::integrity::signing::sign_grant(&test_key(), &g).unwrap();
        g.signature = Some(signature);
        g.key_id = Some(key_id);
        g
    }

    /// A fixed key for the pure tests (no secret: it signs nothing real).
    fn test_key() -> crate::integrity::signing::SigningKey {
        crate::integrity::signing::SigningKey::from_seed([42; 32])
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::default().with(&test_key().public())
    }

    struct Case {
        apr: Option<Apr>,
        handler: Option<Handler>,
        existing: Option<Grant>,
        votes: Vec<Vote>,
        quorum_function: bool,
        now: DateTime<Utc>,
    }

    impl Case {
        fn good() -> Case {
            Case {
                apr: Some(apr("approved", valid())),
                handler: Some(bound()),
                existing: None,
                votes: quorum_for(&valid()),
                quorum_function: true,
                now: grant_for(&valid()).granted_at,
            }
        }
        fn decide(&self) -> Result<Execute, Stop> {
            let vocabulary = vocabulary();
            let trusted = trusted();
            let allowed = allowed();
            decide_execute(&ExecuteFacts {
                apr: self.apr.as_ref(),
                handler: self.handler.as_ref(),
                existing: self.existing.as_ref(),
                vocabulary: &vocabulary,
                votes: &self.votes,
                quorum_function: self.quorum_function,
                now: self.now,
                trusted: &trusted,
                allowed: &allowed,
            })
        }
        fn code(&self) -> &'static str {
            match self.decide() {
                Ok(Execute::AlreadyMinted) => "ALREADY_MINTED",
                Ok(Execute::Mint(..)) => "MINT",
                Err(Stop::Reject(r, _)) => r.code(),
                Err(Stop::Fault(f, _)) => f.code(),
            }
        }
    }

    #[test]
    fn execute_mints_an_approved_apr_with_quorum() {
        assert_eq!(Case::good().code(), "MINT");
    }

    #[test]
    fn execute_checks_run_in_spec_order() {
        let mut c = Case::good();
        c.apr = None;
        c.handler = None;
        assert_eq!(c.code(), "REJECT_APR_NOT_FOUND");

        let mut c = Case::good();
        c.apr.as_mut().unwrap().action_code = "patch_ops_code".into();
        c.handler = None;
        assert_eq!(c.code(), "REJECT_APR_WRONG_ACTION");

        let mut c = Case::good();
        c.handler.as_mut().unwrap().handler_ref = Some("unimplemented".into());
        c.existing = Some(grant_for(&valid()));
        assert_eq!(c.code(), "REJECT_HANDLER_NOT_BOUND");
        c.handler = None;
        assert_eq!(c.code(), "REJECT_HANDLER_NOT_BOUND");

        // An existing grant decides before the APR's status or payload.
        let mut c = Case::good();
        c.existing = Some(grant_for(&valid()));
        c.apr.as_mut().unwrap().status = "applied".into();
        assert_eq!(c.code(), "ALREADY_MINTED");
        c.existing.as_mut().unwrap().status = "revoked".into();
        assert_eq!(c.code(), "ALREADY_MINTED");
        // ... but never OK for a row without a quorum behind it (invariant 7).
        let no_votes = {
            let mut c = Case::good();
            c.existing = Some(grant_for(&valid()));
            c.votes.clear();
            c
        };
        assert_eq!(no_votes.code(), "REJECT_GRANT_INVALID");
        c.apr.as_mut().unwrap().payload = with(&[("ttl_seconds", Some(json!(60)))]);
        assert_eq!(c.code(), "REJECT_APR_TAMPERED");
        // A row edited after it was signed is no longer the handler's.
        c.existing.as_mut().unwrap().apr_digest = None;
        c.apr.as_mut().unwrap().payload = valid();
        assert_eq!(c.code(), "REJECT_GRANT_FORGED");

        for (status, want) in [
            ("proposed", "REJECT_APR_NOT_APPROVED"),
            ("applied", "REJECT_APR_TERMINAL"),
            ("rejected", "REJECT_APR_TERMINAL"),
            ("withdrawn", "REJECT_APR_TERMINAL"),
            ("failed", "REJECT_APR_TERMINAL"),
            ("bogus", "ERROR_SCHEMA_CONTRACT"),
        ] {
            let mut c = Case::good();
            c.apr.as_mut().unwrap().status = status.into();
            c.apr.as_mut().unwrap().payload = json!("garbage");
            assert_eq!(c.code(), want, "{status}");
        }

        // Payload before veto, veto before quorum.
        let mut c = Case::good();
        c.apr.as_mut().unwrap().payload = with(&[("lane", Some(json!("X")))]);
        c.votes.push(vote("vic", "reject", None));
        assert_eq!(c.code(), "REJECT_SCOPE_LANE");
        let mut c = Case::good();
        c.votes = vec![vote("vic", "reject", None)];
        c.quorum_function = false;
        assert_eq!(c.code(), "REJECT_QUORUM_VETOED");
    }

    /// Every way a row can differ from what the handler would mint, each
    /// refused with REJECT_GRANT_INVALID (execute's already-minted path
    /// and consume share this check).
    #[test]
    fn a_row_the_handler_would_not_have_minted_is_invalid() {
        let payload = valid();
        let a = apr("approved", payload.clone());
        let votes = quorum_for(&payload);
        let handler = bound();
        let good = grant_for(&payload);
        let trusted = trusted();
        let allowed = allowed();
        let backing = |now| Backing {
            apr: Some(&a),
            handler: Some(&handler),
            votes: &votes,
            quorum_function: true,
            now,
            trusted: &trusted,
            allowed: &allowed,
        };
        let code = |g: &Grant, b: &Backing<'_>| match check_grant_backed(g, b) {
            Ok(()) => "OK",
            Err(Stop::Reject(r, _)) => r.code(),
            Err(Stop::Fault(f, _)) => f.code(),
        };
        let at = good.granted_at;
        assert_eq!(code(&good, &backing(at)), "OK");
        type Forge = Box<dyn Fn(&mut Grant)>;
        let forged: Vec<(&str, Forge)> = vec![
            (
                "ten-year TTL",
                Box::new(|g| g.expires_at = g.granted_at + chrono::Duration::days(3650)),
            ),
            (
                "TTL off by a second",
                Box::new(|g| g.expires_at += chrono::Duration::seconds(1)),
            ),
            (
                "granted in the future",
                Box::new(|g| {
                    g.granted_at += chrono::Duration::minutes(5);
                    g.expires_at += chrono::Duration::minutes(5);
                }),
            ),
            ("no binding", Box::new(|g| g.carrier = None)),
            (
                "other plan",
                Box::new(|g| g.plan_ref = Some("OTHER-PLAN".into())),
            ),
            (
                "other manifest",
                Box::new(|g| g.manifest_hash = Some("f".repeat(64))),
            ),
            (
                "other rollback plan",
                Box::new(|g| g.rollback_plan_ref = Some("RB-X".into())),
            ),
            (
                "smaller action set",
                Box::new(|g| g.action_set = Some(vec!["c1_a".into()])),
            ),
            (
                "scope disagrees",
                Box::new(|g| g.scope = Some(json!({"target": "DOT_C1_VOCAB_BUILD"}))),
            ),
            (
                "other auth code",
                Box::new(|g| g.auth_code = "GBA-C1-OTHER".into()),
            ),
            (
                "not granted by the handler",
                Box::new(|g| g.granted_by = Some("psql".into())),
            ),
        ];
        for (what, forge) in forged {
            let mut g = good.clone();
            forge(&mut g);
            assert_eq!(code(&g, &backing(at)), "REJECT_GRANT_INVALID", "{what}");
        }
        let no_votes: Vec<Vote> = Vec::new();
        let b = Backing {
            votes: &no_votes,
            ..backing(at)
        };
        assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "no quorum");
        let veto = [quorum_for(&payload), vec![vote("cy", "reject", None)]].concat();
        let b = Backing {
            votes: &veto,
            ..backing(at)
        };
        assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "vetoed since");
        let b = Backing {
            quorum_function: false,
            ..backing(at)
        };
        assert_eq!(
            code(&good, &b),
            "ERROR_QUORUM_DRIFT",
            "function and recount disagree"
        );
        let rejected = apr("rejected", payload.clone());
        let b = Backing {
            apr: Some(&rejected),
            ..backing(at)
        };
        assert_eq!(
            code(&good, &b),
            "REJECT_GRANT_INVALID",
            "APR rejected since"
        );
        let b = Backing {
            apr: None,
            ..backing(at)
        };
        assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "APR gone");
        let unbound = Handler {
            handler_ref: Some("unimplemented".into()),
            ..bound()
        };
        let b = Backing {
            handler: Some(&unbound),
            ..backing(at)
        };
        assert_eq!(
            code(&good, &b),
            "REJECT_GRANT_INVALID",
            "handler unbound since"
        );
        // The vocabulary may change after minting: the grant's own action
        // set stands in for it.
        assert_eq!(
            code(&good, &backing(at + chrono::Duration::seconds(5))),
            "OK"
        );
    }

    /// SPEC §9 "Approver identity": trimmed, case-insensitive, and names
    /// with control, invisible or non-ASCII characters are not counted.
    #[test]
    fn approver_identity_is_trimmed_case_insensitive_and_readable() {
        let payload = valid();
        let d = cser::digest(&payload).unwrap();
        let a = Apr {
            proposed_by: "mallory".into(),
            ..apr("approved", payload.clone())
        };
        let count = |names: &[&str]| {
            let votes: Vec<Vote> = names
                .iter()
                .map(|n| vote(n, "approve", Some(d.as_str())))
                .collect();
            match check_quorum(&a, Some(&bound()), &signed(&votes), &d, true) {
                Ok(_) => "OK".to_owned(),
                Err(Stop::Reject(r, why)) => format!("{} {why}", r.code()),
                Err(Stop::Fault(f, why)) => format!("{} {why}", f.code()),
            }
        };
        assert_eq!(count(&["alice", "bob"]), "OK");
        for twins in [
            ["alice", "alice\u{200B}"],
            ["alice", "Alice"],
            ["alice", " alice "],
            ["alice", "Mallory"],
            ["alice", "mallory "],
            ["alice", "bob\u{0007}"],
            ["alice", "b\u{00F6}b"],
        ] {
            let got = count(&twins);
            assert!(
                got.starts_with("REJECT_QUORUM_NOT_MET 1 of 2"),
                "{twins:?}: {got}"
            );
            assert!(got.contains("not counted"), "{twins:?}: {got}");
        }
        // A reject is a veto whatever the name looks like, unless it is the
        // proposer's own.
        let votes = vec![
            vote("alice", "approve", Some(d.as_str())),
            vote("bob", "approve", Some(d.as_str())),
            vote("eve\u{200B}", "reject", None),
        ];
        assert!(matches!(
            check_quorum(&a, Some(&bound()), &signed(&votes), &d, true),
            Err(Stop::Reject(Reject::QuorumVetoed, _))
        ));
        let votes = vec![
            vote("alice", "approve", Some(d.as_str())),
            vote("bob", "approve", Some(d.as_str())),
            vote(" MALLORY", "reject", None),
        ];
        assert!(matches!(
            check_quorum(&a, Some(&bound()), &signed(&votes), &d, true),
            Err(Stop::Reject(Reject::QuorumNotMet, _))
        ));
    }

    #[test]
    fn the_recount_counts_only_distinct_non_proposers_who_approved_this_exact_payload() {
        let d = cser::digest(&valid()).unwrap();
        let d = Some(d.as_str());
        let stale = Some(HASH);
        for (votes, want) in [
            (vec![vote("ann", "approve", d)], "REJECT_QUORUM_NOT_MET"),
            (
                vec![vote("ann", "approve", d), vote("pat", "approve", d)],
                "REJECT_QUORUM_NOT_MET",
            ),
            (
                vec![vote("ann", "approve", d), vote("bo", "approve", stale)],
                "REJECT_QUORUM_NOT_MET",
            ),
            (
                vec![vote("ann", "approve", d), vote("bo", "approve", None)],
                "REJECT_QUORUM_NOT_MET",
            ),
            (
                vec![
                    vote("ann", "approve", d),
                    vote("bo", "approve", d),
                    vote("pat", "reject", None),
                ],
                "REJECT_QUORUM_NOT_MET",
            ),
            (
                vec![vote("ann", "approve", d), vote("bo", "reject", d)],
                "REJECT_QUORUM_VETOED",
            ),
            (
                vec![
                    vote("ann", "approve", d),
                    vote("bo", "approve", d),
                    vote("cy", "approve", stale),
                ],
                "MINT",
            ),
        ] {
            let mut c = Case::good();
            c.votes = votes;
            assert_eq!(c.code(), want, "{:?}", c.votes);
        }
    }

    #[test]
    fn quorum_needs_both_the_function_and_the_recount() {
        let mut c = Case::good();
        c.quorum_function = false;
        assert_eq!(
            c.code(),
            "ERROR_QUORUM_DRIFT",
            "recount yes, function no: drift"
        );
        c.votes.truncate(1);
        assert_eq!(c.code(), "REJECT_QUORUM_NOT_MET", "both no");
        c.quorum_function = true;
        assert_eq!(
            c.code(),
            "REJECT_QUORUM_NOT_MET",
            "function yes, recount no: the stricter wins"
        );
    }

    #[test]
    fn an_unconfigured_quorum_is_an_error_not_a_pass() {
        for min in [None, Some(0), Some(-1)] {
            let mut c = Case::good();
            c.handler.as_mut().unwrap().min_approvals = min;
            assert_eq!(c.code(), "ERROR_SCHEMA_CONTRACT", "{min:?}");
        }
    }

    #[test]
    fn another_active_grant_blocks_the_mint_only_if_a_trusted_key_signed_it() {
        let t = trusted();
        assert!(check_no_active_grant(&[], &t).is_ok());
        let signed = grant_for(&valid());
        let mut forged = signed.clone();
        forged.signature = None;
        assert!(check_no_active_grant(std::slice::from_ref(&forged), &t).is_ok());
        assert!(matches!(
            check_no_active_grant(&[forged, signed], &t),
            Err(Stop::Reject(Reject::ActiveGrantExists, _))
        ));
    }

    // --- consume ---------------------------------------------------------

    fn presented() -> Presented {
        Presented {
            carrier: "C1".into(),
            lane: "BUILD_PREP".into(),
            target: "DOT_C1_VOCAB_BUILD".into(),
            plan_ref: "LEGO1-C1-PLAN".into(),
            mode: "DRY_RUN".into(),
            manifest_hash: HASH.into(),
            action_set: vec!["c1_c".into(), "c1_b".into(), "c1_a".into()],
        }
    }

    fn consume_code(
        p: &Presented,
        g: Option<&Grant>,
        a: Option<&Apr>,
        now: DateTime<Utc>,
    ) -> &'static str {
        match decide_consume(p, g, a, now) {
            Ok(()) => "OK",
            Err(Stop::Reject(r, _)) => r.code(),
            Err(Stop::Fault(f, _)) => f.code(),
        }
    }

    #[test]
    fn consume_accepts_the_exact_binding_before_expiry() {
        let g = grant_for(&valid());
        let a = apr("approved", valid());
        assert_eq!(
            consume_code(&presented(), Some(&g), Some(&a), g.granted_at),
            "OK"
        );
        let a = apr("applied", valid());
        assert_eq!(
            consume_code(&presented(), Some(&g), Some(&a), g.granted_at),
            "OK"
        );
    }

    #[test]
    fn consume_checks_run_in_spec_order() {
        let g = grant_for(&valid());
        let a = apr("approved", valid());
        let t = g.granted_at;
        let mut p = presented();
        p.mode = "REAL_RUN".into();
        assert_eq!(consume_code(&p, None, None, t), "C1_PROD_REAL_RUN_BLOCKED");
        assert_eq!(
            consume_code(&presented(), None, None, t),
            "REJECT_AUTH_NOT_FOUND"
        );

        for (status, want) in [
            ("consumed", "REJECT_AUTH_ALREADY_CONSUMED"),
            ("revoked", "REJECT_AUTH_REVOKED"),
            ("granted", "REJECT_AUTH_NOT_ACTIVE"),
            ("expired", "REJECT_AUTH_NOT_ACTIVE"),
        ] {
            let mut g = grant_for(&valid());
            g.status = status.into();
            g.carrier = None; // status decides before the binding
            assert_eq!(consume_code(&presented(), Some(&g), Some(&a), t), want);
        }

        let mut generic = grant_for(&valid());
        generic.manifest_hash = None;
        let mut p = presented();
        p.carrier = "C2".into();
        assert_eq!(
            consume_code(&p, Some(&generic), Some(&a), t),
            "REJECT_AUTH_GENERIC"
        );
        for gap in [
            |g: &mut Grant| g.carrier = None,
            |g: &mut Grant| g.carrier = Some("C2".into()),
            |g: &mut Grant| g.plan_ref = None,
            |g: &mut Grant| g.action_set = Some(vec![]),
            |g: &mut Grant| g.scope = None,
            |g: &mut Grant| g.apr_digest = None,
            |g: &mut Grant| g.commit_allowed = true,
        ] {
            let mut g = grant_for(&valid());
            gap(&mut g);
            assert_eq!(
                consume_code(&presented(), Some(&g), Some(&a), t),
                "REJECT_AUTH_GENERIC"
            );
        }

        // Mismatches in order: carrier, lane, target, plan, hash, set.
        type Wrong = (fn(&mut Presented), &'static str);
        let wrongs: Vec<Wrong> = vec![
            (|p| p.carrier = "C2".into(), "REJECT_AUTH_WRONG_CARRIER"),
            (|p| p.lane = "OTHER".into(), "REJECT_AUTH_WRONG_LANE"),
            (|p| p.target = "OTHER".into(), "REJECT_AUTH_WRONG_TARGET"),
            (|p| p.plan_ref = "OTHER".into(), "REJECT_AUTH_WRONG_PLAN"),
            (
                |p| p.manifest_hash = "f".repeat(64),
                "REJECT_AUTH_MANIFEST_MISMATCH",
            ),
            (
                |p| p.action_set.pop().map_or((), drop),
                "REJECT_AUTH_ACTION_SET_MISMATCH",
            ),
        ];
        for (i, (_, want)) in wrongs.iter().enumerate() {
            let mut p = presented();
            for (apply, _) in &wrongs[i..] {
                apply(&mut p);
            }
            let expired_and_stale = apr("rejected", valid());
            let late = g.expires_at + chrono::Duration::hours(1);
            assert_eq!(
                consume_code(&p, Some(&g), Some(&expired_and_stale), late),
                *want
            );
        }
        let mut dup = presented();
        dup.action_set.push("c1_a".into());
        assert_eq!(
            consume_code(&dup, Some(&g), Some(&a), t),
            "REJECT_AUTH_ACTION_SET_MISMATCH"
        );

        // Stale before expired.
        let late = g.expires_at;
        for stale in [
            None,
            Some(apr("rejected", valid())),
            Some(apr("proposed", valid())),
            Some(apr("approved", with(&[("ttl_seconds", Some(json!(60)))]))),
        ] {
            assert_eq!(
                consume_code(&presented(), Some(&g), stale.as_ref(), late),
                "REJECT_AUTH_STALE"
            );
        }
        assert_eq!(
            consume_code(&presented(), Some(&g), Some(&a), late),
            "REJECT_AUTH_EXPIRED"
        );
        let just_before = g.expires_at - chrono::Duration::microseconds(1);
        assert_eq!(
            consume_code(&presented(), Some(&g), Some(&a), just_before),
            "OK"
        );
    }

    #[test]
    fn revoke_moves_only_active_grants() {
        let t = trusted();
        let mut g = grant_for(&valid());
        assert_eq!(decide_revoke(Some(&g), &t), Ok((Revoke::Revoke, None)));
        g.status = "revoked".into();
        assert_eq!(
            decide_revoke(Some(&g), &t),
            Ok((Revoke::AlreadyRevoked, None))
        );
        g.status = "consumed".into();
        assert!(matches!(
            decide_revoke(Some(&g), &t),
            Err(Stop::Reject(Reject::AuthAlreadyConsumed, _))
        ));
        g.status = "granted".into();
        assert!(matches!(
            decide_revoke(Some(&g), &t),
            Err(Stop::Reject(Reject::AuthNotActive, _))
        ));
        assert!(matches!(
            decide_revoke(None, &t),
            Err(Stop::Reject(Reject::AuthNotFound, _))
        ));
    }

    /// A row every other check accepts is still refused when no trusted
    /// key signed it: not even ALREADY_MINTED; revoking it is allowed.
    #[test]
    fn a_perfect_row_without_a_trusted_signature_is_forged() {
        let payload = valid();
        let a = apr("approved", payload.clone());
        let votes = quorum_for(&payload);
        let handler = bound();
        let good = grant_for(&payload);
        let other_key = crate::integrity::signing::SigningKey::from_seed([43; 32]);
        let only_other = TrustedKeys::default().with(&other_key.public());
        let mut unsigned = good.clone();
        unsigned.signature = None;
        let mut resigned = good.clone();
        let (sig, id) = crate::integrity::signing::sign_grant(&other_key, &good).unwrap();
        resigned.signature = Some(sig);
        resigned.key_id = Some(id);
        let t = trusted();
        for (what, g, keys) in [
            ("unsigned", &unsigned, &t),
            ("signed by an untrusted key", &resigned, &t),
            ("trusted keys do not hold the signer", &good, &only_other),
        ] {
            let backing = Backing {
                apr: Some(&a),
                handler: Some(&handler),
                votes: &votes,
                quorum_function: true,
                now: good.granted_at,
                trusted: keys,
                allowed: &allowed(),
            };
            assert!(
                matches!(
                    check_grant_backed(g, &backing),
                    Err(Stop::Reject(Reject::GrantForged, _))
                ),
                "{what}"
            );
            let mut case = Case::good();
            case.existing = Some(g.clone());
            if std::ptr::eq(keys, &t) {
                assert_eq!(case.code(), "REJECT_GRANT_FORGED", "{what}");
            }
            // Revoking a forged row only lowers authority: allowed, and
            // the verdict says it was forged (issue 18, finding 4).
            assert!(
                matches!(decide_revoke(Some(g), keys), Ok((Revoke::Revoke, Some(_)))),
                "{what}"
            );
            let mut revoked = g.clone();
            revoked.status = "revoked".into();
            assert!(
                matches!(
                    decide_revoke(Some(&revoked), keys),
                    Ok((Revoke::AlreadyRevoked, Some(_)))
                ),
                "{what}"
            );
        }
        let mut case = Case::good();
        case.existing = Some(good.clone());
        assert_eq!(case.code(), "ALREADY_MINTED");
    }

    // --- aprs show: each vote's standing -----------------------------------

    #[test]
    fn standings_say_of_each_vote_what_the_quorum_check_counts() {
        let payload = valid();
        let d = cser::digest(&payload).unwrap();
        let a = apr("approved", payload);
        let votes = vec![
            vote("ann", "approve", Some(d.as_str())),
            vote("bo", "approve", Some(&"0".repeat(64))),
            vote("pat", "approve", Some(d.as_str())),
            vote("cy", "approve", None),
            vote("pat", "reject", Some(d.as_str())),
            vote("vic", "reject", None),
        ];
        let t = tally(&a, &signed(&votes), &d, 2);
        let st = standings(&t, &a, &votes);
        let got: Vec<(&str, bool, bool, Option<&str>)> = st
            .iter()
            .map(|s| (s.approver.as_str(), s.counts, s.vetoes, s.why.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("ann", true, false, None),
                (
                    "bo",
                    false,
                    false,
                    Some("a payload_digest of another payload")
                ),
                ("pat", false, false, Some("the proposer")),
                ("cy", false, false, Some("no payload_digest")),
                (
                    "pat",
                    false,
                    false,
                    Some("the proposer's own reject: no quorum while it stands")
                ),
                ("vic", false, true, Some("a reject: it vetoes the APR")),
            ]
        );
        // The same rules as the check: the counted one is the quorum's, and
        // the veto is the one check_quorum names.
        assert_eq!(t.counted.len(), 1);
        let err = check_quorum(&a, Some(&bound()), &signed(&votes), &d, true).unwrap_err();
        assert_eq!(
            err,
            Stop::Reject(Reject::QuorumVetoed, "\"vic\" voted reject".into())
        );
    }

    /// Bulk revoke: the selector picks only active rows, forged ones by
    /// their signature, in auth-code order; a count that is not the one
    /// expected is refused, naming what is there now.
    #[test]
    fn a_bulk_set_is_picked_by_selector_and_refused_when_it_is_not_the_expected_size() {
        let good = grant_for(&valid());
        let mut other_plan = good.clone();
        other_plan.auth_code = "GBA-C1-APR-0".into();
        other_plan.plan_ref = Some("OTHER".into());
        other_plan.signature = Some(
            crate::integrity::signing::sign_grant(&test_key(), &other_plan)
                .unwrap()
                .0,
        );
        let mut forged = good.clone();
        forged.auth_code = "GBA-C1-APR-2".into();
        forged.signature = None;
        let mut spent = good.clone();
        spent.auth_code = "GBA-C1-APR-3".into();
        spent.status = "consumed".into();
        let rows = vec![forged.clone(), spent, other_plan, good.clone()];
        let codes = |set: Vec<Selected>| -> Vec<String> {
            set.into_iter().map(|s| s.grant.auth_code).collect()
        };
        let plan = decide_bulk_revoke(
            rows.clone(),
            Selector::Plan("LEGO1-C1-PLAN"),
            &trusted(),
            None,
        );
        assert_eq!(codes(plan.unwrap()), ["GBA-C1-APR-1", "GBA-C1-APR-2"]);
        let forged_only =
            decide_bulk_revoke(rows.clone(), Selector::Forged, &trusted(), Some(1)).unwrap();
        assert_eq!(forged_only.len(), 1);
        assert!(forged_only[0].forged.is_some());
        let id = test_key().key_id().to_owned();
        // Whatever names the key goes, verified or not (the unsigned row
        // still names it).
        let by_key = decide_bulk_revoke(rows.clone(), Selector::KeyId(&id), &trusted(), Some(3));
        assert_eq!(
            codes(by_key.unwrap()),
            ["GBA-C1-APR-0", "GBA-C1-APR-1", "GBA-C1-APR-2"]
        );
        match decide_bulk_revoke(rows, Selector::Plan("LEGO1-C1-PLAN"), &trusted(), Some(1)) {
            Err(Stop::Reject(Reject::BulkMismatch, why)) => {
                assert!(
                    why.contains("GBA-C1-APR-1, GBA-C1-APR-2") && why.contains("--expect says 1"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        // `keys`: the trusted key's verified grants by status, the unsigned row apart.
        let mut unsigned = forged.clone();
        unsigned.key_id = None;
        let tally = key_tally(&[good.clone(), forged, unsigned], &trusted());
        assert_eq!(tally.len(), 2);
        assert_eq!((tally[0].active, tally[0].forged), (1, 1));
        assert_eq!(
            (tally[1].key_id.as_deref(), tally[1].forged_active),
            (None, 1)
        );
    }
}
