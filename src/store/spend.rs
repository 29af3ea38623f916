//! Spending and retiring grants: `consume`'s compare-and-swap, `revoke`
//! of one grant and of a selected set. Each decision is `policy`'s; this
//! reads, locks and writes, and returns what happened, never a verdict.

use crate::decide::consume;
use crate::decide::facts::{Grant, Presented};
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::decide::revoke;
use crate::decide::revoke::Revoke;
use crate::integrity::signing::TrustedKeys;
use crate::integrity::verified;
use crate::store::conn::Conn;
use crate::store::conn::OrFault;
use crate::store::grants::{read_grant, read_grants, ConsumeFacts, GrantKey, Keys};
use crate::store::sql::{consume_grant, select_for_bulk_revoke, REVOKE_GRANT, REVOKE_GRANTS};
use crate::store::tx::Tx;
use chrono::{DateTime, Utc};
use postgres::types::Type;

/// What `consume` found or did, with the grant as it now stands.
#[derive(Debug, Clone)]
pub enum Consumed {
    /// Already consumed by this same request; nothing written.
    Replay(Grant),
    /// A dry run: it would be consumed.
    Would(Grant),
    /// Consumed now (the grant with its consume columns as written).
    Spent(Grant),
}

/// `consume`: the single-use compare-and-swap active → consumed, stamped
/// with the caller's idempotency key `request_id`.
pub fn consume(
    conn: &mut Conn,
    auth_code: &str,
    presented: &Presented,
    by: &str,
    request_id: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Consumed, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    // The real run locks the row as it reads it: a concurrent spend is
    // waited for, and the row read is the one the update will change.
    let facts = ConsumeFacts::read(&mut tx, auth_code, !dry_run)?;
    if let Some(g) = &facts.grant {
        if consume::is_own_spend(presented, g, request_id, by) {
            // Never OK for a spend of a grant the handler would not honour
            // now (a consumer writing the consume columns by hand on a
            // vetoed grant, say): the whole row is re-checked, signature
            // last (SPEC §9, invariant 7).
            verified::check_grant_backed(g, &facts.backing(keys))?;
            let v = Consumed::Replay(g.clone());
            tx.end_found(auth_code)?;
            return Ok(v);
        }
    }
    facts.decide(presented, keys)?;
    // decide returned Ok, so both exist and the APR is fresh.
    let (Some(grant), Some(apr)) = (&facts.grant, &facts.d.apr) else {
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "grant vanished".into(),
        ));
    };
    if dry_run {
        let v = Consumed::Would(grant.clone());
        tx.end_unwritten();
        return Ok(v);
    }
    crate::store::failpoint::hit("consume-before-update")?;
    let sql = consume_grant(&tx.quorum_fn);
    let changed = tx.query_opt(
        &sql,
        &[
            (&auth_code, Type::TEXT),
            (&by, Type::TEXT),
            (&presented.carrier, Type::TEXT),
            (&presented.lane, Type::TEXT),
            (&presented.target, Type::TEXT),
            (&presented.plan_ref, Type::TEXT),
            (&presented.manifest_hash, Type::TEXT),
            (&grant.apr_digest, Type::TEXT),
            (&apr.payload_text, Type::TEXT),
            (&consume::request_key(request_id), Type::TEXT),
        ],
    )?;
    match changed {
        Some(row) => {
            let consumed_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            crate::store::failpoint::hit("consume-after-update")?;
            tx.commit()?;
            let mut spent = grant.clone();
            spent.consumed_at = Some(consumed_at);
            spent.consumed_by = Some(by.to_owned());
            spent.consume_request_id = Some(consume::request_key(request_id));
            Ok(Consumed::Spent(spent))
        }
        None => {
            // The row is locked and unchanged, so only time moved: read
            // again (a new statement, a new clock) to name the reason.
            let again = ConsumeFacts::read(&mut tx, auth_code, true)?;
            again.decide(presented, keys)?;
            Err(Stop::Fault(
                Fault::ConcurrentChange,
                "the grant changed while it was being consumed; nothing written".into(),
            ))
        }
    }
}

/// What `revoke` found or did to one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// It was revoked before; nothing written.
    AlreadyRevoked,
    /// A dry run: it would be revoked.
    WouldRevoke,
    /// Revoked now, at this time.
    Revoked(DateTime<Utc>),
    /// A concurrent call revoked it first; nothing written.
    RevokedConcurrently,
}

/// The grant `revoke` read, why it is forged when no trusted key signed
/// it, and what was done.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub grant: Grant,
    pub forged: Option<String>,
    pub outcome: RevokeOutcome,
}

/// `revoke`: active → revoked, with who, when and why. Never a DELETE.
pub fn revoke(
    conn: &mut Conn,
    key: GrantKey<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
) -> Result<Revoked, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    let grant = read_grant(&mut tx, key, !dry_run)?;
    let (decision, forged) = verified::decide_revoke(grant.as_ref(), trusted)?;
    let grant =
        grant.ok_or_else(|| Stop::Fault(Fault::ConcurrentChange, "grant vanished".into()))?;
    // A row no trusted key signed is retired like any other, and the
    // verdict says what it was.
    let done = |outcome| Revoked {
        grant: grant.clone(),
        forged: forged.clone(),
        outcome,
    };
    match decision {
        Revoke::AlreadyRevoked => {
            tx.end_found(&grant.auth_code)?;
            return Ok(done(RevokeOutcome::AlreadyRevoked));
        }
        Revoke::Revoke if dry_run => {
            tx.end_unwritten();
            return Ok(done(RevokeOutcome::WouldRevoke));
        }
        Revoke::Revoke => {}
    }
    let changed = tx.query_opt(
        REVOKE_GRANT,
        &[
            (&grant.auth_code, Type::TEXT),
            (&by, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )?;
    match changed {
        Some(row) => {
            let revoked_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            tx.commit()?;
            Ok(done(RevokeOutcome::Revoked(revoked_at)))
        }
        None => {
            let again = read_grant(&mut tx, GrantKey::AuthCode(&grant.auth_code), false)?;
            match verified::decide_revoke(again.as_ref(), trusted)?.0 {
                Revoke::AlreadyRevoked => tx
                    .end_found(&grant.auth_code)
                    .map(|()| done(RevokeOutcome::RevokedConcurrently)),
                Revoke::Revoke => Err(Stop::Fault(
                    Fault::ConcurrentChange,
                    "the grant changed while it was being revoked; nothing written".into(),
                )),
            }
        }
    }
}

/// What a bulk revoke did with the set it selected.
#[derive(Debug, Clone)]
pub enum BulkOutcome {
    /// The set is empty; nothing written.
    Nothing,
    /// A dry run: the set would be revoked.
    Would,
    /// Every grant of the set revoked, each at its time.
    Revoked(std::collections::BTreeMap<String, DateTime<Utc>>),
}

/// The set a bulk revoke selected (in auth_code order), and what was done.
#[derive(Debug, Clone)]
pub struct BulkRevoked {
    pub set: Vec<revoke::Selected>,
    pub outcome: BulkOutcome,
}

/// Bulk `revoke` (`--plan`, `--key-id`, `--forged`): one transaction that
/// locks every active row the selector picks, checks the count against
/// `expect`, and revokes them all or none. A dry run lists the set and
/// writes nothing; so does every refusal.
pub fn revoke_bulk(
    conn: &mut Conn,
    selector: revoke::Selector<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    expect: Option<u64>,
    trusted: &TrustedKeys,
) -> Result<BulkRevoked, Stop> {
    let (plan, key_id) = match selector {
        revoke::Selector::Plan(p) => (Some(p), None),
        revoke::Selector::KeyId(k) => (None, Some(k)),
        revoke::Selector::Forged => (None, None),
    };
    let mut tx = Tx::begin(conn, dry_run)?;
    let read = read_grants(
        &mut tx,
        &select_for_bulk_revoke(!dry_run),
        &[(&plan, Type::TEXT), (&key_id, Type::TEXT)],
    )?;
    let set = verified::decide_bulk_revoke(read, selector, trusted, expect)?;
    let codes: Vec<String> = set.iter().map(|s| s.grant.auth_code.clone()).collect();
    let n = set.len();
    if set.is_empty() {
        tx.end_unwritten();
        return Ok(BulkRevoked {
            set,
            outcome: BulkOutcome::Nothing,
        });
    }
    if dry_run {
        tx.end_unwritten();
        return Ok(BulkRevoked {
            set,
            outcome: BulkOutcome::Would,
        });
    }
    let changed = tx.query(
        REVOKE_GRANTS,
        &[
            (&codes, Type::TEXT_ARRAY),
            (&by, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )?;
    let mut at: std::collections::BTreeMap<String, DateTime<Utc>> = Default::default();
    for row in &changed {
        at.insert(row.try_get(0).or_fault()?, row.try_get(1).or_fault()?);
    }
    if at.len() != n {
        // The rows are locked: only something outside the contract could
        // get here. Dropping the transaction rolls it back.
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            format!(
                "{} of the {} locked grants changed while they were being revoked; nothing written",
                n - at.len(),
                n
            ),
        ));
    }
    tx.commit()?;
    Ok(BulkRevoked {
        set,
        outcome: BulkOutcome::Revoked(at),
    })
}
