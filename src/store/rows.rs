//! Rows into facts: a grant, the APR and its handler and votes, the live
//! vocabulary, an APR as `aprs` shows it. Whatever a forged row holds must
//! read (SPEC §9, invariant 9); an unreadable row is a typed fault. Sends
//! no statement and decides nothing.

use crate::decide::facts::{Apr, Grant, Handler, Vocabulary, Vote};
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::store::conn::OrFault;
use chrono::{DateTime, Utc};
use postgres::Row;
use serde_json::Value;

pub(crate) fn grant_of(r: &Row) -> Result<Grant, postgres::Error> {
    Ok(Grant {
        auth_code: r.try_get("auth_code")?,
        request_ref: r.try_get("request_ref")?,
        status: r.try_get("status")?,
        carrier: r.try_get("carrier")?,
        lane: r.try_get("lane")?,
        target: r.try_get("target")?,
        plan_ref: r.try_get("plan_ref")?,
        manifest_hash: r.try_get("manifest_hash")?,
        protocol_version: r.try_get("protocol_version")?,
        action_set: r.try_get("action_set")?,
        scope: r
            .try_get::<_, Option<String>>("scope")?
            .and_then(|t| crate::canon::jsonb::read(&t).ok()),
        apr_digest: r.try_get("apr_digest")?,
        single_use: r.try_get::<_, Option<bool>>("single_use")?.unwrap_or(false),
        commit_allowed: r
            .try_get::<_, Option<bool>>("commit_allowed")?
            .unwrap_or(true),
        requires_sovereign_esign: r
            .try_get::<_, Option<bool>>("requires_sovereign_esign")?
            .unwrap_or(true),
        granted_at: r.try_get("granted_at")?,
        expires_at: r.try_get("expires_at")?,
        granted_by: r.try_get("granted_by")?,
        rollback_plan_ref: r.try_get("rollback_plan_ref")?,
        consumed_at: r.try_get("consumed_at")?,
        consumed_by: r.try_get("consumed_by")?,
        consume_request_id: r.try_get("consume_request_id")?,
        signature: r.try_get("signature")?,
        key_id: r.try_get("key_id")?,
        quorum: r
            .try_get::<_, Option<String>>("grant_quorum")?
            .and_then(|t| crate::canon::jsonb::read(&t).ok()),
        evidence_head: r.try_get("evidence_head")?,
    })
}

/// The grant of a row that may have none (a LEFT JOIN).
pub(crate) fn maybe_grant(r: &Row) -> Result<Option<Grant>, Stop> {
    match r.try_get::<_, Option<String>>("auth_code").or_fault()? {
        Some(_) => grant_of(r).map(Some).or_fault(),
        None => Ok(None),
    }
}

/// The facts every grant decision reads with the grant: the APR, the
/// handler row, the votes, quorum_passed() and the wall clock.
pub(crate) struct Decision {
    pub(crate) apr: Option<Apr>,
    pub(crate) handler: Option<Handler>,
    pub(crate) votes: Vec<Vote>,
    pub(crate) quorum_function: bool,
    pub(crate) now: DateTime<Utc>,
}

pub(crate) fn decision_of(r: &Row) -> Result<Decision, Stop> {
    let apr = match r.try_get::<_, Option<String>>("apr_code").or_fault()? {
        None => None,
        Some(apr_code) => {
            let text: Option<String> = r.try_get("apr_payload").or_fault()?;
            Some(Apr {
                apr_code,
                action_code: r.try_get("apr_action_code").or_fault()?,
                status: r.try_get("apr_status").or_fault()?,
                proposed_by: r.try_get("apr_proposed_by").or_fault()?,
                // PostgreSQL's own jsonb text always reads; if it ever did
                // not, null is malformed (a FAIL), never an ERROR.
                payload: text
                    .as_deref()
                    .and_then(|t| crate::canon::jsonb::read(t).ok())
                    .unwrap_or(Value::Null),
                payload_text: text,
            })
        }
    };
    let handler = if r.try_get::<_, bool>("handler_exists").or_fault()? {
        Some(Handler {
            handler_ref: r.try_get("handler_ref").or_fault()?,
            status: r.try_get("handler_status").or_fault()?,
            min_approvals: r.try_get("handler_min_approvals").or_fault()?,
        })
    } else {
        None
    };
    let votes_text: String = r.try_get("votes").or_fault()?;
    Ok(Decision {
        apr,
        handler,
        votes: votes_of(&votes_text)?,
        quorum_function: r.try_get("quorum").or_fault()?,
        now: r.try_get("now").or_fault()?,
    })
}

/// `[[approver, decision, payload_digest, signature], ...]` as `json_agg`
/// prints it.
pub(crate) fn votes_of(text: &str) -> Result<Vec<Vote>, Stop> {
    let unreadable = || {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_approvals holds a row without an approver or a decision".into(),
        )
    };
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|_| unreadable())?;
    rows.into_iter()
        .map(
            |(approver, decision, payload_digest, signature)| match (approver, decision) {
                (Some(approver), Some(decision)) => Ok(Vote {
                    approver,
                    decision,
                    payload_digest,
                    signature,
                }),
                _ => Err(unreadable()),
            },
        )
        .collect()
}

/// The live C1 vocabulary from an `array_agg` column; none is a schema
/// fault (the contract promises an active vocabulary).
pub(crate) fn vocabulary_of(
    row: &Row,
    column: impl postgres::row::RowIndex + std::fmt::Display,
) -> Result<Vocabulary, Stop> {
    row.try_get::<_, Option<Vec<String>>>(column)
        .or_fault()?
        .and_then(Vocabulary::new)
        .ok_or_else(|| {
            Stop::Fault(
                Fault::SchemaContract,
                "apr_action_types has no active C1_VOCAB_OP rows".into(),
            )
        })
}

/// Who revoked a grant, why, when (all None for a grant not revoked).
#[derive(Debug, Clone, Default)]
pub struct Revocation {
    pub at: Option<DateTime<Utc>>,
    pub by: Option<String>,
    pub reason: Option<String>,
}

pub(crate) fn revocation_of(r: &postgres::Row) -> Result<Revocation, Stop> {
    Ok(Revocation {
        at: r.try_get("revoked_at").or_fault()?,
        by: r.try_get("revoked_by").or_fault()?,
        reason: r.try_get("revoke_reason").or_fault()?,
    })
}

/// One vote as `aprs` shows it: the row, and when it was cast.
#[derive(Debug, Clone)]
pub struct DatedVote {
    pub vote: Vote,
    pub decided_at: Option<DateTime<Utc>>,
}

/// One APR as `aprs` reads it: the row, its action's min_approvals, its
/// votes (oldest first), what quorum_passed() says, and the clock.
#[derive(Debug, Clone)]
pub struct AprView {
    pub apr: Apr,
    pub session_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    pub min_approvals: Option<i32>,
    pub votes: Vec<DatedVote>,
    pub quorum_function: bool,
    pub grant: Option<String>,
    pub now: DateTime<Utc>,
}

pub(crate) fn apr_view_of(r: &Row) -> Result<AprView, Stop> {
    let text: Option<String> = r.try_get("payload").or_fault()?;
    Ok(AprView {
        apr: Apr {
            apr_code: r.try_get("apr_code").or_fault()?,
            action_code: r.try_get("action_code").or_fault()?,
            status: r.try_get("status").or_fault()?,
            proposed_by: r.try_get("proposed_by").or_fault()?,
            payload: text
                .as_deref()
                .and_then(|t| crate::canon::jsonb::read(t).ok())
                .unwrap_or(Value::Null),
            payload_text: text,
        },
        session_code: r.try_get("session_code").or_fault()?,
        created_at: r.try_get("created_at").or_fault()?,
        approved_at: r.try_get("approved_at").or_fault()?,
        applied_at: r.try_get("applied_at").or_fault()?,
        min_approvals: r.try_get("min_approvals").or_fault()?,
        votes: dated_votes_of(&r.try_get::<_, String>("votes").or_fault()?)?,
        quorum_function: r.try_get("quorum").or_fault()?,
        grant: r.try_get("grant_code").or_fault()?,
        now: r.try_get("now").or_fault()?,
    })
}

/// `[[approver, decision, payload_digest, signature, decided_at], ...]`.
pub(crate) fn dated_votes_of(text: &str) -> Result<Vec<DatedVote>, Stop> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let unreadable = || {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_approvals holds a row without an approver or a decision".into(),
        )
    };
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|_| unreadable())?;
    rows.into_iter()
        .map(|(approver, decision, payload_digest, signature, at)| {
            let (Some(approver), Some(decision)) = (approver, decision) else {
                return Err(unreadable());
            };
            Ok(DatedVote {
                vote: Vote {
                    approver,
                    decision,
                    payload_digest,
                    signature,
                },
                decided_at: at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            })
        })
        .collect()
}
