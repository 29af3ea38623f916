//! The database shell: the only module that talks SQL. It reads the facts,
//! hands them to `policy`, and writes exactly what policy allowed, in one
//! READ COMMITTED transaction per command (READ ONLY for a dry run, so the
//! server itself refuses any write). Every error becomes a typed `Stop`;
//! a dropped transaction rolls back, so a refusal writes nothing.

use crate::connect::Target;
use crate::payload;
use crate::policy::{
    self, auth_code_for, Apr, Backing, Execute, ExecuteFacts, Grant, Handler, Presented, Revoke,
    Stop, Vocabulary, Vote,
};
use crate::reject::{Done, Fault, Reject};
use crate::signing::{SigningKey, TrustedKeys};
use crate::verdict::Verdict;
use chrono::{DateTime, Utc};
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Row, Transaction};
use serde_json::Value;

/// The canonical-writer marker the guard looks for (SET LOCAL semantics).
const SET_WRITER_MARKER: &str =
    "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true)";

/// Serializes handlers per APR without any table privilege.
const LOCK_APR: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('dot-authorize-build-step:apr:' || $1, 0))";
/// Serializes mints for one carrier/target/plan across APRs.
const LOCK_SCOPE: &str = "SELECT pg_advisory_xact_lock(hashtextextended('dot-authorize-build-step:scope:' || $1 || ':' || $2 || ':' || $3, 0))";

/// The payload is read as text and parsed by `jsonb::read`: serde_json
/// refuses what jsonb stores (deep nesting, huge numbers), and no stored
/// payload may make the handler ERROR (SPEC §9, invariant 9).
const SELECT_APR: &str =
    "SELECT apr_code, action_code, status, proposed_by, proposed_action::text \
     FROM apr_requests WHERE apr_code = $1";
const SELECT_HANDLER: &str = "SELECT handler_ref, status, min_approvals \
     FROM apr_action_types WHERE action_code = 'authorize_build_step'";
const SELECT_VOCABULARY: &str = "SELECT action_code FROM apr_action_types \
     WHERE act_type = 'C1_VOCAB_OP' AND status = 'active'";
const SELECT_VOTES: &str =
    "SELECT approver, decision, payload_digest FROM apr_approvals WHERE apr_code = $1";
const SELECT_QUORUM: &str = "SELECT COALESCE(quorum_passed($1), false)";
/// A row as the decisions read it. Whatever a forged row holds must read:
/// `scope` as text (see SELECT_APR), and timestamps clamped into chrono's
/// range (±infinity would not decode; a clamped one fails the TTL check).
const GRANT_COLUMNS: &str = "auth_code, request_ref, status, carrier, lane, target, plan_ref, manifest_hash, \
     protocol_version, action_set, scope::text AS scope, apr_digest, single_use, commit_allowed, requires_sovereign_esign, \
     LEAST(GREATEST(granted_at, '0001-01-01Z'), '9999-12-31Z') AS granted_at, \
     LEAST(GREATEST(expires_at, '0001-01-01Z'), '9999-12-31Z') AS expires_at, \
     granted_by, rollback_plan_ref, consumed_at, consumed_by, consume_request_id, signature, key_id";
const SELECT_OTHER_ACTIVE_GRANT: &str = "SELECT auth_code FROM governance_build_authorization \
     WHERE status = 'active' AND expires_at > clock_timestamp() AND carrier = $1 AND target = $2 AND plan_ref = $3 \
       AND request_ref <> $4 ORDER BY auth_code LIMIT 1";
/// Sets the writer marker and reads the database's wall clock in one round
/// trip, after every lock is held: that reading is granted_at (SPEC §9,
/// invariant 8), and it is signed, so it is read before the insert.
const SET_WRITER_MARKER_AND_CLOCK: &str =
    "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true), clock_timestamp()";
/// The timestamps are the signed ones, exactly (the database keeps
/// microseconds, as the reading did).
const INSERT_GRANT: &str = "INSERT INTO governance_build_authorization \
     (auth_code, request_ref, status, carrier, lane, target, plan_ref, manifest_hash, protocol_version, \
      action_set, scope, apr_digest, single_use, commit_allowed, requires_sovereign_esign, \
      granted_at, expires_at, granted_by, rollback_plan_ref, signature, key_id) \
     VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, true, false, false, \
             $12, $13, $14, $15, $16, $17) \
     ON CONFLICT (request_ref) DO NOTHING \
     RETURNING expires_at";
const SELECT_WOULD_EXPIRE: &str = "SELECT clock_timestamp() + make_interval(secs => $1::bigint)";
/// The consume compare-and-swap: every condition the policy checked that
/// can change under it, again, in the one statement that changes the row.
/// Expiry is compared with, and consumed_at stamped from, one reading of
/// the wall clock taken when the row is written, after any lock wait
/// (SPEC §9, invariant 8).
const CONSUME_GRANT: &str = "UPDATE governance_build_authorization g \
     SET status = 'consumed', consumed_at = clock_timestamp(), consumed_by = $2, consume_request_id = $10 \
     WHERE g.auth_code = $1 AND g.status = 'active' AND g.expires_at > clock_timestamp() \
       AND g.carrier = $3 AND g.lane = $4 AND g.target = $5 AND g.plan_ref = $6 AND g.manifest_hash = $7 \
       AND g.apr_digest = $8 \
       AND EXISTS (SELECT 1 FROM apr_requests a WHERE a.apr_code = g.request_ref \
                   AND a.status IN ('approved', 'applied') AND a.proposed_action::text = $9) \
       AND quorum_passed(g.request_ref) \
     RETURNING consumed_at";
/// Takes the grant's row lock (the consumer's column UPDATE privilege
/// allows it) so that the compare-and-swap after it runs with no wait.
const LOCK_GRANT: &str = "SELECT 1 FROM governance_build_authorization \
     WHERE auth_code = $1 FOR NO KEY UPDATE";
const REVOKE_GRANT: &str = "UPDATE governance_build_authorization \
     SET status = 'revoked', revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason = $3 \
     WHERE auth_code = $1 AND status = 'active' RETURNING revoked_at";

pub fn connect(target: &Target) -> Result<Client, Stop> {
    target.config.connect(NoTls).map_err(|e| {
        Stop::Fault(
            Fault::DbUnreachable,
            format!(
                "could not connect to {}: {}",
                target.describe(),
                error_text(&e)
            ),
        )
    })
}

/// Maps a database error to the ERROR it is, by SQLSTATE, never by text.
pub fn fault(e: &postgres::Error) -> Stop {
    let text = error_text(e);
    let kind = match e.code() {
        Some(c) if *c == SqlState::QUERY_CANCELED || *c == SqlState::LOCK_NOT_AVAILABLE => {
            Fault::Timeout
        }
        Some(c) if *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => Fault::Timeout,
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => Fault::PermissionDenied,
        Some(c)
            if *c == SqlState::UNDEFINED_TABLE
                || *c == SqlState::UNDEFINED_COLUMN
                || *c == SqlState::UNDEFINED_FUNCTION
                || *c == SqlState::DATATYPE_MISMATCH
                || *c == SqlState::INVALID_TEXT_REPRESENTATION =>
        {
            Fault::SchemaContract
        }
        Some(c) if c.code().starts_with("DG") => Fault::GuardRefused,
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Fault::ConcurrentChange
        }
        None if e.is_closed() => Fault::DbUnreachable,
        // A column of an unexpected type fails in the client, with no code.
        None if text.contains("error deserializing column") => Fault::SchemaContract,
        _ => Fault::Database,
    };
    Stop::Fault(kind, text)
}

fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}: {})", db.message(), db.severity(), db.code().code()),
        None => {
            use std::error::Error as _;
            match e.source() {
                Some(src) => format!("{e}: {src}"),
                None => e.to_string(),
            }
        }
    }
}

trait OrFault<T> {
    fn or_fault(self) -> Result<T, Stop>;
}

impl<T> OrFault<T> for Result<T, postgres::Error> {
    fn or_fault(self) -> Result<T, Stop> {
        self.map_err(|e| fault(&e))
    }
}

fn begin(client: &mut Client, read_only: bool) -> Result<Transaction<'_>, Stop> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .read_only(read_only)
        .start()
        .or_fault()
}

fn read_apr(tx: &mut Transaction<'_>, apr_code: &str) -> Result<Option<Apr>, Stop> {
    let row = tx.query_opt(SELECT_APR, &[&apr_code]).or_fault()?;
    row.map(|r| -> Result<Apr, postgres::Error> {
        let text: Option<String> = r.try_get(4)?;
        Ok(Apr {
            apr_code: r.try_get(0)?,
            action_code: r.try_get(1)?,
            status: r.try_get(2)?,
            proposed_by: r.try_get(3)?,
            // PostgreSQL's own jsonb text always reads; if it ever did not,
            // null is malformed (a FAIL), never an ERROR.
            payload: text
                .as_deref()
                .and_then(|t| crate::jsonb::read(t).ok())
                .unwrap_or(Value::Null),
            payload_text: text,
        })
    })
    .transpose()
    .or_fault()
}

fn read_handler(tx: &mut Transaction<'_>) -> Result<Option<Handler>, Stop> {
    let row = tx.query_opt(SELECT_HANDLER, &[]).or_fault()?;
    row.map(|r| -> Result<Handler, postgres::Error> {
        Ok(Handler {
            handler_ref: r.try_get(0)?,
            status: r.try_get(1)?,
            min_approvals: r.try_get(2)?,
        })
    })
    .transpose()
    .or_fault()
}

pub(crate) fn read_vocabulary(tx: &mut Transaction<'_>) -> Result<Option<Vocabulary>, Stop> {
    let rows = tx.query(SELECT_VOCABULARY, &[]).or_fault()?;
    let codes: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .or_fault()?;
    Ok(Vocabulary::new(codes))
}

fn read_votes(tx: &mut Transaction<'_>, apr_code: &str) -> Result<Vec<Vote>, Stop> {
    let rows = tx.query(SELECT_VOTES, &[&apr_code]).or_fault()?;
    rows.iter()
        .map(|r| -> Result<Vote, postgres::Error> {
            Ok(Vote {
                approver: r.try_get(0)?,
                decision: r.try_get(1)?,
                payload_digest: r.try_get(2)?,
            })
        })
        .collect::<Result<_, _>>()
        .or_fault()
}

fn grant_of(r: &Row) -> Result<Grant, postgres::Error> {
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
            .and_then(|t| crate::jsonb::read(&t).ok()),
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
    })
}

/// Reads one grant by auth_code or by the APR it was minted for.
fn read_grant(tx: &mut Transaction<'_>, key: GrantKey<'_>) -> Result<Option<Grant>, Stop> {
    let (column, value) = match key {
        GrantKey::AuthCode(c) => ("auth_code", c),
        GrantKey::Apr(a) => ("request_ref", a),
    };
    let sql =
        format!("SELECT {GRANT_COLUMNS} FROM governance_build_authorization WHERE {column} = $1");
    let row = tx.query_opt(sql.as_str(), &[&value]).or_fault()?;
    match row {
        Some(r) => Ok(Some(grant_of(&r).or_fault()?)),
        None => Ok(None),
    }
}

/// Every grant row, as the decisions read them (tests and the harness).
pub fn read_all_grants(client: &mut Client) -> Result<Vec<Grant>, Stop> {
    let sql =
        format!("SELECT {GRANT_COLUMNS} FROM governance_build_authorization ORDER BY auth_code");
    let rows = client.query(sql.as_str(), &[]).or_fault()?;
    rows.iter()
        .map(grant_of)
        .collect::<Result<_, _>>()
        .or_fault()
}

#[derive(Clone, Copy, Debug)]
pub enum GrantKey<'a> {
    AuthCode(&'a str),
    Apr(&'a str),
}

/// The database's wall clock now, not the transaction's start time.
fn db_now(tx: &mut Transaction<'_>) -> Result<DateTime<Utc>, Stop> {
    tx.query_one("SELECT clock_timestamp()", &[])
        .and_then(|r| r.try_get(0))
        .or_fault()
}

// ---------------------------------------------------------------------------
// execute
// ---------------------------------------------------------------------------

/// `execute --apr CODE`: check, then mint exactly one grant (or report it).
/// The keys a command signs and verifies with (see `signing`).
pub struct Keys<'a> {
    /// Present for `execute` (it mints); never read from the database.
    pub signing: Option<&'a SigningKey>,
    pub trusted: &'a TrustedKeys,
}

pub fn execute(
    client: &mut Client,
    apr_code: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Verdict, Stop> {
    let mut tx = begin(client, dry_run)?;
    if !dry_run {
        // Under READ COMMITTED every statement after the lock sees what the
        // previous holder committed: the existence check below is sound.
        tx.execute(LOCK_APR, &[&apr_code]).or_fault()?;
        crate::failpoint::hit("execute-after-apr-lock")?;
    }
    let apr = read_apr(&mut tx, apr_code)?;
    let handler = read_handler(&mut tx)?;
    let existing = read_grant(&mut tx, GrantKey::Apr(apr_code))?;
    let vocabulary = read_vocabulary(&mut tx)?.ok_or_else(|| {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_action_types has no active C1_VOCAB_OP rows".into(),
        )
    })?;
    let votes = read_votes(&mut tx, apr_code)?;
    let quorum_function: bool = tx
        .query_one(SELECT_QUORUM, &[&apr_code])
        .and_then(|r| r.try_get(0))
        .or_fault()?;
    let now = db_now(&mut tx)?;
    let facts = ExecuteFacts {
        apr: apr.as_ref(),
        handler: handler.as_ref(),
        existing: existing.as_ref(),
        vocabulary: &vocabulary,
        votes: &votes,
        quorum_function,
        now,
        trusted: keys.trusted,
    };
    let validated = match policy::decide_execute(&facts)? {
        Execute::AlreadyMinted => {
            let grant = existing.expect("AlreadyMinted is decided only from an existing grant");
            return Ok(Verdict::done(
                Done::AlreadyMinted,
                format!(
                    "grant {} was already minted for this APR; nothing written",
                    grant.auth_code
                ),
            )
            .apr(apr_code)
            .auth_code(grant.auth_code.clone())
            .expires_at(grant.expires_at)
            .dry_run(dry_run)
            .detail("grant_status", grant.status.clone())
            .detail("granted_at", crate::verdict::timestamp(&grant.granted_at))
            .detail("apr_digest", grant.apr_digest.clone().unwrap_or_default()));
        }
        Execute::Mint(v) => v,
    };
    crate::failpoint::hit("execute-after-quorum-check")?;
    let auth_code = auth_code_for(apr_code);
    if !dry_run {
        tx.execute(
            LOCK_SCOPE,
            &[
                &validated.carrier(),
                &validated.target(),
                &validated.plan_ref(),
            ],
        )
        .or_fault()?;
    }
    let other: Option<String> = tx
        .query_opt(
            SELECT_OTHER_ACTIVE_GRANT,
            &[
                &validated.carrier(),
                &validated.target(),
                &validated.plan_ref(),
                &apr_code,
            ],
        )
        .and_then(|r| r.map(|r| r.try_get(0)).transpose())
        .or_fault()?;
    policy::check_no_active_grant(other.as_deref())?;

    let mint_facts = |v: Verdict| {
        v.apr(apr_code)
            .auth_code(auth_code.clone())
            .dry_run(dry_run)
            .detail("plan_ref", validated.plan_ref())
            .detail("manifest_hash", validated.manifest_hash().as_str())
            .detail("ttl_seconds", validated.ttl_seconds())
            .detail("apr_digest", validated.digest().as_str())
    };
    if dry_run {
        let would_expire: DateTime<Utc> = tx
            .query_one(SELECT_WOULD_EXPIRE, &[&validated.ttl_seconds()])
            .and_then(|r| r.try_get(0))
            .or_fault()?;
        return Ok(mint_facts(Verdict::done(
            Done::WouldMint,
            format!(
                "dry run: would mint {auth_code}; read without locks in a read-only transaction, nothing written"
            ),
        ))
        .expires_at(would_expire));
    }
    let Some(signing_key) = keys.signing else {
        return Err(Stop::Fault(
            Fault::SigningKey,
            "execute mints only with a signing key (--signing-key FILE or DOT_ABS_SIGNING_KEY)"
                .into(),
        ));
    };
    let granted_at: DateTime<Utc> = tx
        .query_one(SET_WRITER_MARKER_AND_CLOCK, &[])
        .and_then(|r| r.try_get(1))
        .or_fault()?;
    let mut grant = minted_grant(&auth_code, apr_code, &validated, granted_at);
    let (signature, key_id) = crate::signing::sign_grant(signing_key, &grant)
        .map_err(|e| Stop::Fault(Fault::SigningKey, e))?;
    grant.signature = Some(signature);
    grant.key_id = Some(key_id);
    let action_set: Vec<&str> = validated.action_set().iter().map(String::as_str).collect();
    let inserted = tx
        .query_opt(
            INSERT_GRANT,
            &[
                &grant.auth_code,
                &grant.request_ref,
                &validated.carrier(),
                &validated.lane(),
                &validated.target(),
                &validated.plan_ref(),
                &validated.manifest_hash().as_str(),
                &validated.protocol_version(),
                &action_set,
                &grant.scope,
                &validated.digest().as_str(),
                &grant.granted_at,
                &grant.expires_at,
                &payload::HANDLER_REF,
                &validated.rollback_plan_ref(),
                &grant.signature,
                &grant.key_id,
            ],
        )
        .or_fault()?;
    let Some(row) = inserted else {
        // Only a writer that ignores the APR lock can get here. Fail closed.
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "a grant for this APR appeared while the APR lock was held; nothing written".into(),
        ));
    };
    let expires_at: DateTime<Utc> = row.try_get(0).or_fault()?;
    crate::failpoint::hit("execute-after-insert")?;
    commit(tx)?;
    Ok(
        mint_facts(Verdict::done(Done::Minted, format!("minted {auth_code}")))
            .expires_at(expires_at)
            .detail("key_id", signing_key.key_id()),
    )
}

/// The row `execute` is about to insert, as the signature sees it.
fn minted_grant(
    auth_code: &str,
    apr_code: &str,
    v: &policy::Validated,
    granted_at: DateTime<Utc>,
) -> Grant {
    Grant {
        auth_code: auth_code.to_owned(),
        request_ref: apr_code.to_owned(),
        status: "active".into(),
        carrier: Some(v.carrier().to_owned()),
        lane: Some(v.lane().to_owned()),
        target: Some(v.target().to_owned()),
        plan_ref: Some(v.plan_ref().to_owned()),
        manifest_hash: Some(v.manifest_hash().as_str().to_owned()),
        protocol_version: Some(v.protocol_version().to_owned()),
        action_set: Some(v.action_set().to_vec()),
        scope: Some(v.scope()),
        apr_digest: Some(v.digest().as_str().to_owned()),
        single_use: true,
        commit_allowed: false,
        requires_sovereign_esign: false,
        granted_at,
        expires_at: granted_at + chrono::TimeDelta::seconds(v.ttl_seconds()),
        granted_by: Some(payload::HANDLER_REF.to_owned()),
        rollback_plan_ref: Some(v.rollback_plan_ref().to_owned()),
        consumed_at: None,
        consumed_by: None,
        consume_request_id: None,
        signature: None,
        key_id: None,
    }
}

// ---------------------------------------------------------------------------
// consume
// ---------------------------------------------------------------------------

/// Everything `consume` decides on, read in its transaction.
struct ConsumeFacts {
    grant: Option<Grant>,
    apr: Option<Apr>,
    handler: Option<Handler>,
    votes: Vec<Vote>,
    quorum_function: bool,
    now: DateTime<Utc>,
}

impl ConsumeFacts {
    fn read(tx: &mut Transaction<'_>, auth_code: &str) -> Result<ConsumeFacts, Stop> {
        let (grant, apr) = read_grant_and_apr(tx, auth_code)?;
        let (votes, quorum_function) = match &grant {
            Some(g) => (
                read_votes(tx, &g.request_ref)?,
                quorum_of(tx, &g.request_ref)?,
            ),
            None => (Vec::new(), false),
        };
        Ok(ConsumeFacts {
            grant,
            apr,
            handler: read_handler(tx)?,
            votes,
            quorum_function,
            now: db_now(tx)?,
        })
    }

    /// SPEC §4's consume order, then invariant 7: the row must be one the
    /// handler would have minted.
    fn decide(&self, presented: &Presented, trusted: &TrustedKeys) -> Result<(), Stop> {
        policy::decide_consume(presented, self.grant.as_ref(), self.apr.as_ref(), self.now)?;
        match &self.grant {
            Some(g) => policy::check_grant_backed(g, &self.backing(trusted)),
            None => Ok(()),
        }
    }

    fn backing<'a>(&'a self, trusted: &'a TrustedKeys) -> Backing<'a> {
        Backing {
            apr: self.apr.as_ref(),
            handler: self.handler.as_ref(),
            votes: &self.votes,
            quorum_function: self.quorum_function,
            now: self.now,
            trusted,
        }
    }
}

fn quorum_of(tx: &mut Transaction<'_>, apr_code: &str) -> Result<bool, Stop> {
    tx.query_one(SELECT_QUORUM, &[&apr_code])
        .and_then(|r| r.try_get(0))
        .or_fault()
}

/// `consume`: the single-use compare-and-swap active → consumed, stamped
/// with the caller's idempotency key `request_id`.
pub fn consume(
    client: &mut Client,
    auth_code: &str,
    presented: &Presented,
    by: &str,
    request_id: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    let mut tx = begin(client, dry_run)?;
    let facts = ConsumeFacts::read(&mut tx, auth_code)?;
    if let Some(g) = &facts.grant {
        if policy::is_own_spend(presented, g, request_id) {
            policy::check_signed(g, trusted)?;
            return Ok(consumed_verdict(g, auth_code, dry_run, true));
        }
    }
    facts.decide(presented, trusted)?;
    // decide returned Ok, so both exist and the APR is fresh.
    let (Some(grant), Some(apr)) = (&facts.grant, &facts.apr) else {
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "grant vanished".into(),
        ));
    };
    if dry_run {
        return Ok(Verdict::done(
            Done::WouldConsume,
            format!("dry run: {auth_code} would be consumed; read without locks, nothing written"),
        )
        .apr(grant.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(grant.expires_at));
    }
    tx.query_one(SET_WRITER_MARKER, &[]).or_fault()?;
    // Wait for the row first: a row lock held elsewhere and released
    // unchanged does not make the UPDATE re-read its clock, so without this
    // the expiry below would be compared before the wait, not at the write.
    tx.query_opt(LOCK_GRANT, &[&auth_code]).or_fault()?;
    crate::failpoint::hit("consume-before-update")?;
    let changed = tx
        .query_opt(
            CONSUME_GRANT,
            &[
                &auth_code,
                &by,
                &presented.carrier,
                &presented.lane,
                &presented.target,
                &presented.plan_ref,
                &presented.manifest_hash,
                &grant.apr_digest,
                &apr.payload_text,
                &request_id,
            ],
        )
        .or_fault()?;
    match changed {
        Some(row) => {
            let consumed_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            crate::failpoint::hit("consume-after-update")?;
            commit(tx)?;
            let mut spent = grant.clone();
            spent.consumed_at = Some(consumed_at);
            spent.consumed_by = Some(by.to_owned());
            spent.consume_request_id = Some(request_id.to_owned());
            Ok(consumed_verdict(&spent, auth_code, false, false))
        }
        None => {
            // Lost a race. A new statement sees what the winner committed;
            // a grant only moves forward, so this names the reason soundly.
            let again = ConsumeFacts::read(&mut tx, auth_code)?;
            again.decide(presented, trusted)?;
            Err(Stop::Fault(
                Fault::ConcurrentChange,
                "the grant changed while it was being consumed; nothing written".into(),
            ))
        }
    }
}

fn consumed_verdict(g: &Grant, auth_code: &str, dry_run: bool, replay: bool) -> Verdict {
    let message = if replay {
        format!("{auth_code} was already consumed by this same request (same --request-id and binding); nothing written")
    } else {
        format!("consumed {auth_code}; it cannot be used again")
    };
    let mut v = Verdict::done(Done::Consumed, message)
        .apr(g.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(g.expires_at)
        .detail(
            "request_id",
            g.consume_request_id.clone().unwrap_or_default(),
        )
        .detail("consumed_by", g.consumed_by.clone().unwrap_or_default());
    if let Some(at) = &g.consumed_at {
        v = v.detail("consumed_at", crate::verdict::timestamp(at));
    }
    v
}

fn read_grant_and_apr(
    tx: &mut Transaction<'_>,
    auth_code: &str,
) -> Result<(Option<Grant>, Option<Apr>), Stop> {
    let grant = read_grant(tx, GrantKey::AuthCode(auth_code))?;
    let apr = match &grant {
        Some(g) => read_apr(tx, &g.request_ref)?,
        None => None,
    };
    Ok((grant, apr))
}

/// Commits; a connection lost while COMMIT was under way is
/// ERROR_COMMIT_UNKNOWN (never "unreachable"): the caller reconnects and
/// reads back what happened.
fn commit(tx: Transaction<'_>) -> Result<(), Stop> {
    crate::failpoint::hit("before-commit")?;
    let result = tx.commit();
    crate::failpoint::lose_commit(result.as_ref().err()).map_or_else(|| result.or_fault(), Err)
}

// ---------------------------------------------------------------------------
// revoke
// ---------------------------------------------------------------------------

/// `revoke`: active → revoked, with who, when and why. Never a DELETE.
pub fn revoke(
    client: &mut Client,
    key: GrantKey<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    let mut tx = begin(client, dry_run)?;
    let grant = read_grant(&mut tx, key)?;
    let decision = policy::decide_revoke(grant.as_ref(), trusted)?;
    let grant =
        grant.ok_or_else(|| Stop::Fault(Fault::ConcurrentChange, "grant vanished".into()))?;
    let base = |v: Verdict| {
        v.apr(grant.request_ref.clone())
            .auth_code(grant.auth_code.clone())
            .expires_at(grant.expires_at)
            .dry_run(dry_run)
    };
    match decision {
        Revoke::AlreadyRevoked => {
            return Ok(base(Verdict::done(
                Done::AlreadyRevoked,
                format!("{} was already revoked; nothing written", grant.auth_code),
            )))
        }
        Revoke::Revoke if dry_run => {
            return Ok(base(Verdict::done(
                Done::WouldRevoke,
                format!(
                    "dry run: {} would be revoked; nothing written",
                    grant.auth_code
                ),
            )))
        }
        Revoke::Revoke => {}
    }
    tx.query_one(SET_WRITER_MARKER, &[]).or_fault()?;
    let changed = tx
        .query_opt(REVOKE_GRANT, &[&grant.auth_code, &by, &reason])
        .or_fault()?;
    match changed {
        Some(row) => {
            let revoked_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            commit(tx)?;
            Ok(base(Verdict::done(
                Done::Revoked,
                format!("revoked {}", grant.auth_code),
            ))
            .detail("revoked_at", crate::verdict::timestamp(&revoked_at))
            .detail("revoked_by", by)
            .detail("revoke_reason", reason))
        }
        None => {
            let again = read_grant(&mut tx, GrantKey::AuthCode(&grant.auth_code))?;
            match policy::decide_revoke(again.as_ref(), trusted)? {
                Revoke::AlreadyRevoked => Ok(base(Verdict::done(
                    Done::AlreadyRevoked,
                    format!(
                        "{} was revoked by a concurrent call; nothing written",
                        grant.auth_code
                    ),
                ))),
                Revoke::Revoke => Err(Stop::Fault(
                    Fault::ConcurrentChange,
                    "the grant changed while it was being revoked; nothing written".into(),
                )),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// readback (seed 004 STEP 7)
// ---------------------------------------------------------------------------

/// One line of the readback checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub seen: String,
}

/// The STEP 7 checklist for one APR, read in a read-only transaction.
/// `trusted` is `Err(why)` when no trusted keys could be loaded: the
/// signature line then fails, saying why, and the rest still reads.
pub fn readback(
    client: &mut Client,
    apr_code: &str,
    trusted: Result<&TrustedKeys, &str>,
) -> Result<Vec<Check>, Stop> {
    let mut tx = begin(client, true)?;
    let mut checks = Vec::new();
    let mut check = |name: &str, pass: bool, seen: String| {
        checks.push(Check {
            name: name.into(),
            pass,
            seen,
        })
    };
    let count: i64 = tx
        .query_one(
            "SELECT count(*) FROM governance_build_authorization WHERE request_ref = $1",
            &[&apr_code],
        )
        .and_then(|r| r.try_get(0))
        .or_fault()?;
    check(
        "grant count for the APR is 1",
        count == 1,
        count.to_string(),
    );
    let grant = read_grant(&mut tx, GrantKey::Apr(apr_code))?;
    let expected_code = auth_code_for(apr_code);
    match &grant {
        Some(g) => {
            check(
                "auth_code is GBA-C1-<apr>",
                g.auth_code == expected_code,
                g.auth_code.clone(),
            );
            check("status is active", g.status == "active", g.status.clone());
            check(
                "commit_allowed is false",
                !g.commit_allowed,
                g.commit_allowed.to_string(),
            );
            check(
                "requires_sovereign_esign is false",
                !g.requires_sovereign_esign,
                g.requires_sovereign_esign.to_string(),
            );
            check("single_use is true", g.single_use, g.single_use.to_string());
            check(
                "carrier is C1",
                g.carrier.as_deref() == Some(payload::CARRIER),
                show(&g.carrier),
            );
            let scope_target = g
                .scope
                .as_ref()
                .and_then(|s| s.get("target"))
                .and_then(Value::as_str);
            check(
                "scope->>'target' is DOT_C1_VOCAB_BUILD",
                scope_target == Some(payload::TARGET),
                scope_target.unwrap_or("NULL").to_owned(),
            );
            check(
                "request_ref is the APR",
                g.request_ref == apr_code,
                g.request_ref.clone(),
            );
            let ttl = (g.expires_at - g.granted_at).num_seconds();
            check(
                "expires_at > granted_at, within the TTL cap",
                g.expires_at > g.granted_at && ttl <= payload::TTL_CAP_SECONDS,
                format!("{} (ttl {ttl}s)", crate::verdict::timestamp(&g.expires_at)),
            );
            let signed = match trusted {
                Ok(t) => crate::signing::verify_grant(t, g)
                    .map(|()| format!("key {}", g.key_id.as_deref().unwrap_or("")))
                    .map_err(|f| f.to_string()),
                Err(why) => Err(why.to_owned()),
            };
            check(
                "signed by a trusted key",
                signed.is_ok(),
                signed.unwrap_or_else(|why| why),
            );
        }
        None => check("the grant row exists", false, "no row".into()),
    }
    let handler = read_handler(&mut tx)?;
    let handler_ref = handler.as_ref().and_then(|h| h.handler_ref.clone());
    check(
        "authorize_build_step handler_ref is bound",
        handler_ref.as_deref() == Some(payload::HANDLER_REF),
        handler_ref.unwrap_or_else(|| "NULL".into()),
    );
    let apr_row = tx
        .query_opt(
            "SELECT status, applied_at FROM apr_requests WHERE apr_code = $1",
            &[&apr_code],
        )
        .or_fault()?;
    match apr_row {
        Some(r) => {
            let status: String = r.try_get(0).or_fault()?;
            let applied_at: Option<DateTime<Utc>> = r.try_get(1).or_fault()?;
            check("APR status is applied", status == "applied", status);
            check(
                "APR applied_at is set",
                applied_at.is_some(),
                applied_at.map_or("NULL".into(), |t| crate::verdict::timestamp(&t)),
            );
        }
        None => check("the APR exists", false, "no row".into()),
    }
    let quorum: bool = tx
        .query_one(SELECT_QUORUM, &[&apr_code])
        .and_then(|r| r.try_get(0))
        .or_fault()?;
    check("quorum_passed(apr) is true", quorum, quorum.to_string());
    Ok(checks)
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".into())
}

// ---------------------------------------------------------------------------
// propose
// ---------------------------------------------------------------------------

/// No status and no timestamps: the proposer role may not name them, so
/// every APR it writes is born `proposed` (the column default).
const INSERT_APR: &str = "INSERT INTO apr_requests \
     (apr_code, request_type, action_code, proposed_action, proposed_by, session_code) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (apr_code) DO NOTHING RETURNING apr_code";

/// One `proposed` APR in `tx`; an existing code is REJECT_APR_EXISTS.
fn insert_proposed(
    tx: &mut Transaction<'_>,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let inserted = tx
        .query_opt(
            INSERT_APR,
            &[
                &apr,
                &request_type,
                &action_code,
                payload,
                &proposed_by,
                &session,
            ],
        )
        .or_fault()?;
    match inserted {
        Some(_) => Ok(()),
        None => Err(Stop::Reject(
            Reject::AprExists,
            format!("an APR with code {apr} already exists"),
        )),
    }
}

/// `propose`: check against the live vocabulary, then insert one `proposed`
/// APR (never approved, never a grant), or say what would be inserted.
pub fn propose(
    client: &mut Client,
    request: &crate::propose::Request,
    dry_run: bool,
) -> Result<Verdict, Stop> {
    let mut tx = begin(client, dry_run)?;
    let vocabulary = read_vocabulary(&mut tx)?.ok_or_else(|| {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_action_types has no active C1_VOCAB_OP rows".into(),
        )
    })?;
    let validated = crate::propose::check(request, Some(&vocabulary))?;
    let stamp: String = tx
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .or_fault()?;
    let apr = crate::propose::apr_code(request, &stamp, &validated);
    if dry_run {
        return Ok(crate::propose::verdict(
            Done::WouldPropose,
            &apr,
            request,
            &validated,
            "dry run: would propose this APR (checked against the live vocabulary); nothing written".into(),
        ));
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
    tx.commit().or_fault()?;
    Ok(crate::propose::verdict(
        Done::Proposed,
        &apr,
        request,
        &validated,
        format!("proposed {apr}; it needs approval before execute will mint"),
    ))
}

// ---------------------------------------------------------------------------
// patch APRs
// ---------------------------------------------------------------------------

/// Inserts one `proposed` APR; an existing code is REJECT_APR_EXISTS.
pub fn insert_apr(
    client: &mut Client,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let mut tx = begin(client, false)?;
    insert_proposed(
        &mut tx,
        apr,
        request_type,
        action_code,
        payload,
        proposed_by,
        session,
    )?;
    tx.commit().or_fault()
}

/// An APR's action code and payload, read-only.
pub fn read_apr_payload(client: &mut Client, apr: &str) -> Result<(String, Value), Stop> {
    let mut tx = begin(client, true)?;
    match read_apr(&mut tx, apr)? {
        Some(a) => Ok((a.action_code, a.payload)),
        None => Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code".into(),
        )),
    }
}
