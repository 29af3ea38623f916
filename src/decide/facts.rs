//! The facts the decisions are made of, as the shell read them: the APR,
//! the handler row, the votes, the grant rows, what a consumer presents,
//! the live vocabulary, and what `integrity` found of each signature
//! (`SignatureCheck`, `Ballot`, `Checked`). Data and their plain forms
//! only: nothing here decides, reads, verifies or looks at the clock.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

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
