//! `execute`: read everything it decides on in one statement under the
//! APR and scope locks, let `policy` decide, sign the row, and insert
//! exactly one grant (or find it already minted). Returns what happened as
//! `Executed`, never a verdict.

use crate::decide::execute::Execute;
use crate::decide::facts;
use crate::decide::facts::{auth_code_for, Grant};
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::reject::{Fault, Reject};
use crate::decide::validate;
use crate::integrity::verified;
use crate::integrity::verified::ExecuteFacts;
use crate::store::conn::Conn;
use crate::store::conn::OrFault;
use crate::store::grants::{read_grants, Keys};
use crate::store::rows::{decision_of, maybe_grant, vocabulary_of};
use crate::store::sql::{insert_grant, lock_apr, other_active_grants, select_for_execute};
use crate::store::tx::{Param, Tx};
use chrono::{DateTime, Utc};
use postgres::types::Type;
use serde_json::Value;

/// What a mint carries into its verdict (`commands::outcome`).
#[derive(Debug, Clone)]
pub struct Mint {
    pub auth_code: String,
    pub plan_ref: String,
    pub manifest_hash: String,
    pub ttl_seconds: i64,
    pub apr_digest: String,
}

/// What `execute` found or did.
#[derive(Debug, Clone)]
pub enum Executed {
    /// SKIP: the quorum is not met; the recount (required, counted, and
    /// every approval not counted with why) when there is one.
    QuorumNotMet { why: String, recount: Option<Value> },
    /// The grant already minted for this APR; nothing written.
    AlreadyMinted(Box<Grant>),
    /// A dry run: what would be minted, and when it would expire.
    WouldMint {
        mint: Mint,
        expires_at: DateTime<Utc>,
    },
    /// Minted and committed, signed with `key_id`.
    Minted {
        mint: Mint,
        expires_at: DateTime<Utc>,
        key_id: String,
    },
}

/// `execute --apr CODE`: check, then mint exactly one grant (or report it).
pub fn execute(
    conn: &mut Conn,
    apr_code: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Executed, Stop> {
    // Under READ COMMITTED every statement after the lock sees what the
    // previous holder committed: the read below is sound.
    let mut tx = if dry_run {
        Tx::begin(conn, true)?
    } else {
        let tx = Tx::begin_then(conn, false, &lock_apr(apr_code))?;
        crate::store::failpoint::hit("execute-after-apr-lock")?;
        tx
    };
    let sql = select_for_execute(!dry_run, &tx.quorum_fn);
    let row = tx.query_one(&sql, &[(&apr_code, Type::TEXT)])?;
    let scope_locked_at: Option<DateTime<Utc>> = row.try_get("scope_locked_at").or_fault()?;
    let vocabulary = vocabulary_of(&row, "vocabulary")?;
    let d = decision_of(&row)?;
    let existing = maybe_grant(&row)?;
    let facts = ExecuteFacts {
        apr: d.apr.as_ref(),
        handler: d.handler.as_ref(),
        existing: existing.as_ref(),
        vocabulary: &vocabulary,
        votes: &d.votes,
        quorum_function: d.quorum_function,
        now: d.now,
        trusted: keys.trusted,
        allowed: keys.allowed,
    };
    let decided = match verified::decide_execute(&facts) {
        Err(Stop::Reject(Reject::QuorumNotMet, why)) => {
            // SKIP, with the recount in structure: required, counted, and
            // every approval not counted with why.
            return Ok(Executed::QuorumNotMet {
                why,
                recount: verified::explain_quorum(&facts).map(|t| t.to_json()),
            });
        }
        other => other?,
    };
    let validated = match decided {
        Execute::AlreadyMinted => {
            let grant = existing.expect("AlreadyMinted is decided only from an existing grant");
            // Nothing to write, but where commits wait for standbys the
            // grant found must have reached them too.
            tx.end_found(&grant.auth_code)?;
            return Ok(Executed::AlreadyMinted(Box::new(grant)));
        }
        Execute::Mint(v, q) => (v, q),
    };
    let (validated, quorum) = validated;
    crate::store::failpoint::hit("execute-after-quorum-check")?;
    let auth_code = auth_code_for(apr_code);
    let mint = Mint {
        auth_code: auth_code.clone(),
        plan_ref: validated.plan_ref().to_owned(),
        manifest_hash: validated.manifest_hash().as_str().to_owned(),
        ttl_seconds: validated.ttl_seconds(),
        apr_digest: validated.digest().as_str().to_owned(),
    };
    let (carrier, target, plan_ref) = (
        validated.carrier(),
        validated.target(),
        validated.plan_ref(),
    );
    let scope: [Param<'_>; 4] = [
        (&carrier, Type::TEXT),
        (&target, Type::TEXT),
        (&plan_ref, Type::TEXT),
        (&apr_code, Type::TEXT),
    ];
    if dry_run {
        let others = read_grants(&mut tx, &other_active_grants(), &scope)?;
        verified::check_no_active_grant(&others, keys.trusted)?;
        let would_expire = d.now + chrono::TimeDelta::seconds(validated.ttl_seconds());
        tx.end_unwritten();
        return Ok(Executed::WouldMint {
            mint,
            expires_at: would_expire,
        });
    }
    let Some(signing_key) = keys.signing else {
        return Err(Stop::Fault(
            Fault::SigningKey,
            "execute mints only with a signing key (--signing-key FILE or DOT_ABS_SIGNING_KEY)"
                .into(),
        ));
    };
    let Some(granted_at) = scope_locked_at else {
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "the scope lock was not taken for a payload that validates; nothing written".into(),
        ));
    };
    let mut grant = minted_grant(&auth_code, apr_code, &validated, granted_at, &quorum);
    grant.evidence_head = keys.evidence_head.map(str::to_owned);
    let (signature, key_id) = crate::integrity::signing::sign_grant(signing_key, &grant)
        .map_err(|e| Stop::Fault(Fault::SigningKey, e))?;
    grant.signature = Some(signature);
    grant.key_id = Some(key_id);
    let action_set: Vec<&str> = validated.action_set().iter().map(String::as_str).collect();
    let (lane, manifest_hash, protocol, digest, rollback) = (
        validated.lane(),
        validated.manifest_hash().as_str(),
        validated.protocol_version(),
        validated.digest().as_str(),
        validated.rollback_plan_ref(),
    );
    // A forged row in the scope never blocks the mint: when the insert is
    // refused, the rows that refused it are read and judged, and the insert
    // is made once more past those no trusted key signed.
    let mut forged: Vec<String> = Vec::new();
    let insert_sql = insert_grant();
    let row = loop {
        let inserted = tx.query_opt(
            &insert_sql,
            &[
                (&grant.auth_code, Type::TEXT),
                (&grant.request_ref, Type::TEXT),
                (&carrier, Type::TEXT),
                (&lane, Type::TEXT),
                (&target, Type::TEXT),
                (&plan_ref, Type::TEXT),
                (&manifest_hash, Type::TEXT),
                (&protocol, Type::TEXT),
                (&action_set, Type::TEXT_ARRAY),
                (&grant.scope, Type::JSONB),
                (&digest, Type::TEXT),
                (&grant.granted_at, Type::TIMESTAMPTZ),
                (&grant.expires_at, Type::TIMESTAMPTZ),
                (&payload::HANDLER_REF, Type::TEXT),
                (&rollback, Type::TEXT),
                (&grant.signature, Type::TEXT),
                (&grant.key_id, Type::TEXT),
                (&grant.quorum, Type::JSONB),
                (&grant.evidence_head, Type::TEXT),
                (&forged, Type::TEXT_ARRAY),
            ],
        )?;
        if let Some(row) = inserted {
            break row;
        }
        // Refused by the guard in the insert: another APR's active grant
        // for the scope (the SPEC's code, if a trusted key signed it), or,
        // only for a writer that ignores the APR lock, a grant for this
        // APR. Fail closed.
        let others = read_grants(&mut tx, &other_active_grants(), &scope)?;
        verified::check_no_active_grant(&others, keys.trusted)?;
        let blocking: Vec<String> = others.into_iter().map(|g| g.auth_code).collect();
        if blocking.is_empty() || blocking.iter().all(|c| forged.contains(c)) {
            return Err(Stop::Fault(
                Fault::ConcurrentChange,
                "a grant for this APR appeared while the APR lock was held; nothing written".into(),
            ));
        }
        forged.extend(blocking);
    };
    let expires_at: DateTime<Utc> = row.try_get(0).or_fault()?;
    crate::store::failpoint::hit("execute-after-insert")?;
    tx.commit()?;
    Ok(Executed::Minted {
        mint,
        expires_at,
        key_id: signing_key.key_id().to_owned(),
    })
}

/// The row `execute` is about to insert, as the signature sees it.
pub(crate) fn minted_grant(
    auth_code: &str,
    apr_code: &str,
    v: &validate::Validated,
    granted_at: DateTime<Utc>,
    quorum: &facts::Quorum,
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
        quorum: Some(quorum.to_json()),
        evidence_head: None,
    }
}
