//! Unit tests' shared fixtures for `decide`: a valid payload, APRs, votes
//! signed by the test approvers, grants signed by a fixed test key, and
//! `Case` for execute. Test-only (`#[cfg(test)]`): production code never
//! names it.

use crate::canon::cser;
use crate::decide::payload;
use crate::decide::{execute::*, facts::*, outcome::*, quorum::*, validate::*};
use crate::integrity::approval::AllowedSigners;
use crate::integrity::signing::TrustedKeys;
use crate::integrity::verified::{decide_execute, ExecuteFacts};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub const VOCAB: [&str; 3] = ["c1_a", "c1_b", "c1_c"];
pub const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub fn vocabulary() -> Vocabulary {
    Vocabulary::new(VOCAB.iter().map(|s| s.to_string())).unwrap()
}

pub fn valid() -> Value {
    json!({
        "carrier": "C1", "target": "DOT_C1_VOCAB_BUILD", "lane": "BUILD_PREP",
        "mode": "DRY_RUN", "corpus": "SANDBOX", "plan_ref": "LEGO1-C1-PLAN",
        "manifest_hash": HASH, "protocol_version": "cser-v1",
        "action_set": ["c1_c", "c1_a", "c1_b"], "ttl_seconds": 3600,
        "rollback_plan_ref": "RB-1"
    })
}

pub fn with(changes: &[(&str, Option<Value>)]) -> Value {
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

pub fn apr(status: &str, payload: Value) -> Apr {
    Apr {
        payload_text: Some(payload.to_string()),
        apr_code: "APR-1".into(),
        action_code: "authorize_build_step".into(),
        status: status.into(),
        proposed_by: "pat".into(),
        payload,
    }
}

pub fn bound() -> Handler {
    Handler {
        handler_ref: Some("dot-apr-execute:authorize_build_step".into()),
        status: "active".into(),
        min_approvals: Some(2),
    }
}

/// A vote on APR-1, signed by the test approver of that name when it
/// has a digest to sign.
pub fn vote(who: &str, decision: &str, digest: Option<&str>) -> Vote {
    Vote {
        approver: who.into(),
        decision: decision.into(),
        payload_digest: digest.map(str::to_owned),
        signature: digest
            .and_then(|d| crate::disposable::fixtures::sign_test_vote("APR-1", who, decision, d)),
    }
}

pub fn allowed() -> AllowedSigners {
    ALLOWED.get_or_init(load_allowed).clone()
}

static ALLOWED: std::sync::OnceLock<AllowedSigners> = std::sync::OnceLock::new();

pub fn load_allowed() -> AllowedSigners {
    AllowedSigners::parse(&crate::disposable::fixtures::test_allowed_signers(), "test").unwrap()
}

/// The votes with the test approvers' allowed signers, judged at the
/// fixed time of `grant_for`, their signatures checked by `integrity`.
pub fn signed(votes: &[Vote]) -> Vec<Ballot<'_>> {
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

pub fn quorum_for(payload: &Value) -> Vec<Vote> {
    let d = cser::digest(payload).unwrap();
    vec![
        vote("ann", "approve", Some(d.as_str())),
        vote("bo", "approve", Some(d.as_str())),
    ]
}

pub fn grant_for(payload: &Value) -> Grant {
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
pub fn test_key() -> crate::integrity::signing::SigningKey {
    crate::integrity::signing::SigningKey::from_seed([42; 32])
}

pub fn trusted() -> TrustedKeys {
    TrustedKeys::default().with(&test_key().public())
}

pub struct Case {
    pub apr: Option<Apr>,
    pub handler: Option<Handler>,
    pub existing: Option<Grant>,
    pub votes: Vec<Vote>,
    pub quorum_function: bool,
    pub now: DateTime<Utc>,
}

impl Case {
    pub fn good() -> Case {
        Case {
            apr: Some(apr("approved", valid())),
            handler: Some(bound()),
            existing: None,
            votes: quorum_for(&valid()),
            quorum_function: true,
            now: grant_for(&valid()).granted_at,
        }
    }
    pub fn decide(&self) -> Result<Execute, Stop> {
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
    pub fn code(&self) -> &'static str {
        match self.decide() {
            Ok(Execute::AlreadyMinted) => "ALREADY_MINTED",
            Ok(Execute::Mint(..)) => "MINT",
            Err(Stop::Reject(r, _)) => r.code(),
            Err(Stop::Fault(f, _)) => f.code(),
        }
    }
}
