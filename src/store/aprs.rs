//! APRs: `review`'s read and its guarded vote, `propose` and the patch
//! commands' insert, the stored payload, and `aprs list`'s read. Decisions
//! are `decide::review`, `policy` and `propose`'s; never a verdict.

use crate::decide::facts;
use crate::decide::outcome::Stop;
use crate::decide::quorum;
use crate::decide::reject::Reject;
use crate::decide::validate;
use crate::decide::{payload, review};
use crate::store::conn::Conn;
use crate::store::conn::OrFault;
use crate::store::read::{since_params, Since};
use crate::store::rows::{apr_view_of, vocabulary_of, AprView};
use crate::store::sql::{
    list_aprs_sql, APR_PAYLOAD, INSERT_APR, INSERT_VOTE, REVIEW_READ, SESSION_USER,
    VOCABULARY_AND_STAMP, VOTE_OF_IDENTITY,
};
use crate::store::tx::Tx;
use chrono::{DateTime, Utc};
use postgres::types::Type;
use serde_json::Value;

/// What `review` decides on: the APR, its payload as stored and in cser-v1
/// form, the login that runs the review, and the database's clock.
pub struct ReviewRead {
    pub facts: quorum::ReviewFacts,
    /// The payload as PostgreSQL prints it: the vote is recorded only if
    /// it is still exactly this.
    pub payload_text: Option<String>,
    pub canonical: Option<String>,
    pub now: DateTime<Utc>,
}

/// `review`, first half: reads the APR in a read-only transaction. The
/// vote is signed between this and `record_vote`, outside any
/// transaction (a passphrase prompt must not hold one open).
pub fn read_for_review(conn: &mut Conn, apr_code: &str) -> Result<ReviewRead, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let row = tx.query_one(REVIEW_READ, &[(&apr_code, Type::TEXT)])?;
    let found: Option<String> = row.try_get(0).or_fault()?;
    review::require_apr(found.is_some())?;
    let text: Option<String> = row.try_get(3).or_fault()?;
    let (canonical, digest) = review::canonical(text.as_deref()).unzip();
    let read = ReviewRead {
        facts: quorum::ReviewFacts {
            apr_code: apr_code.to_owned(),
            status: row.try_get(1).or_fault()?,
            proposed_by: row.try_get(2).or_fault()?,
            login: row.try_get(4).or_fault()?,
            digest,
        },
        payload_text: text,
        canonical,
        now: row.try_get(5).or_fault()?,
    };
    tx.end_unwritten();
    Ok(read)
}

/// `review`, second half: records the vote, only if the payload is still
/// the one reviewed and this login has not voted yet (under any spelling:
/// the database keeps one vote per identity, and binds it to the login).
pub fn record_vote(conn: &mut Conn, read: &ReviewRead, vote: &facts::Vote) -> Result<(), Stop> {
    let apr_code = read.facts.apr_code.as_str();
    let mut tx = Tx::begin(conn, false)?;
    let inserted = tx.query_opt(
        INSERT_VOTE,
        &[
            (&apr_code, Type::TEXT),
            (&vote.approver, Type::TEXT),
            (&vote.decision, Type::TEXT),
            (&vote.payload_digest, Type::TEXT),
            (&read.payload_text, Type::TEXT),
            (&vote.signature, Type::TEXT),
        ],
    )?;
    if inserted.is_none() {
        // Any vote of this identity (a schema without the one-per-identity
        // index may hold several spellings): the first names it.
        let voted = tx
            .query(
                VOTE_OF_IDENTITY,
                &[(&apr_code, Type::TEXT), (&vote.approver, Type::TEXT)],
            )?
            .into_iter()
            .next();
        let voted_as: Option<String> = voted.map(|r| r.try_get(0)).transpose().or_fault()?;
        return Err(review::vote_refused(apr_code, &vote.approver, voted_as));
    }
    tx.commit()
}

/// What `aprs list` filters on.
pub struct AprFilter<'a> {
    pub apr: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Proposed, or approved with no grant yet.
    pub pending: bool,
    pub action: Option<&'a str>,
    pub since: Option<Since>,
    pub limit: i64,
}

/// What `aprs list` read: the APRs shown and how many match.
pub struct ListedAprs {
    pub aprs: Vec<AprView>,
    pub total: i64,
}

/// APRs, newest first, with their votes, in one read-only statement (the
/// total is a window over the filtered rows, before LIMIT: one snapshot).
/// quorum_passed() is what the dispatcher judges every APR by.
pub fn list_aprs(conn: &mut Conn, f: &AprFilter<'_>) -> Result<ListedAprs, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = list_aprs_sql(&tx.quorum_fn);
    let (since_secs, since_at) = since_params(f.since);
    let rows = tx.query(
        &sql,
        &[
            (&f.apr, Type::TEXT),
            (&f.status, Type::TEXT),
            (&f.action, Type::TEXT),
            (&since_secs, Type::FLOAT8),
            (&since_at, Type::TIMESTAMPTZ),
            (&f.limit, Type::INT8),
            (&f.pending, Type::BOOL),
        ],
    )?;
    tx.end_unwritten();
    let total = match rows.first() {
        Some(r) => r.try_get("total").or_fault()?,
        None => 0,
    };
    let aprs = rows.iter().map(apr_view_of).collect::<Result<_, Stop>>()?;
    Ok(ListedAprs { aprs, total })
}

/// One `proposed` APR in `tx`; an existing code is REJECT_APR_EXISTS.
pub(crate) fn insert_proposed(
    tx: &mut Tx<'_>,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let inserted = tx.query_opt(
        INSERT_APR,
        &[
            (&apr, Type::TEXT),
            (&request_type, Type::TEXT),
            (&action_code, Type::TEXT),
            (payload, Type::JSONB),
            (&proposed_by, Type::TEXT),
            (&session, Type::TEXT),
        ],
    )?;
    if inserted.is_some() {
        return Ok(());
    }
    let login: String = tx.query_one(SESSION_USER, &[])?.try_get(0).or_fault()?;
    if proposed_by != login && tx.client_is_not_superuser() {
        return Err(Stop::Reject(
            Reject::ProposerNotSelf,
            format!(
                "--by {proposed_by:?} is not exactly the login proposing ({login:?}): an APR is proposed only under its proposer's own login, so the proposer can never approve it under another name; nothing written"
            ),
        ));
    }
    Err(Stop::Reject(
        Reject::AprExists,
        format!("an APR with code {apr} already exists"),
    ))
}

/// What `propose` checked, and whether it wrote it.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub apr: String,
    /// The request with its action set as checked (the live vocabulary's
    /// under `--manifest-hash`).
    pub request: crate::decide::propose::Request,
    pub validated: validate::Validated,
    /// False for a dry run: nothing written.
    pub written: bool,
}

/// `propose`: check against the live vocabulary, then insert one `proposed`
/// APR (never approved, never a grant), or say what would be inserted.
pub fn propose(
    conn: &mut Conn,
    request: &crate::decide::propose::Request,
    dry_run: bool,
) -> Result<Proposed, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    let row = tx.query_one(VOCABULARY_AND_STAMP, &[])?;
    let vocabulary = vocabulary_of(&row, 0)?;
    let stamp: String = row.try_get(1).or_fault()?;
    let request = request.with_live_action_set(&vocabulary);
    let validated = crate::decide::propose::check(&request, Some(&vocabulary))?;
    let apr = crate::decide::propose::apr_code(&request, &stamp, &validated);
    if dry_run {
        tx.end_unwritten();
        return Ok(Proposed {
            apr,
            request,
            validated,
            written: false,
        });
    }
    insert_proposed(
        &mut tx,
        &apr,
        "governance_authorization",
        payload::ACTION_CODE,
        &request.payload,
        &request.proposed_by,
        request.session.as_deref(),
    )?;
    tx.commit()?;
    Ok(Proposed {
        apr,
        request,
        validated,
        written: true,
    })
}

/// Inserts one `proposed` APR; an existing code is REJECT_APR_EXISTS.
pub fn insert_apr(
    conn: &mut Conn,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let mut tx = Tx::begin(conn, false)?;
    insert_proposed(
        &mut tx,
        apr,
        request_type,
        action_code,
        payload,
        proposed_by,
        session,
    )?;
    tx.commit()
}

/// An APR's action code and payload exactly as stored (null when it
/// cannot be read exactly), read-only.
pub fn read_apr_payload(conn: &mut Conn, apr: &str) -> Result<(String, Value), Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let row = tx.query_opt(APR_PAYLOAD, &[(&apr, Type::TEXT)])?;
    tx.end_unwritten();
    match row {
        Some(r) => {
            let action: String = r.try_get(0).or_fault()?;
            let text: Option<String> = r.try_get(1).or_fault()?;
            // Exactly what is stored, or null: show-patch and digest print
            // and hash it, so nothing may be silently truncated.
            let payload = text
                .as_deref()
                .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
                .unwrap_or(Value::Null);
            Ok((action, payload))
        }
        None => Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code".into(),
        )),
    }
}
