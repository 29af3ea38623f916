//! Reading grants: by key, every row, the anchored ones, and the facts a
//! grant decision reads with its grant (`ConsumeFacts`). Writes nothing;
//! decisions are `policy`'s.

use crate::decide::consume;
use crate::decide::facts::{Grant, Presented};
use crate::decide::outcome::Stop;
use crate::integrity::approval::AllowedSigners;
use crate::integrity::signing::{SigningKey, TrustedKeys};
use crate::integrity::verified;
use crate::integrity::verified::Backing;
use crate::store::conn::Conn;
use crate::store::conn::OrFault;
use crate::store::rows::{decision_of, grant_of, maybe_grant, Decision};
use crate::store::sql::{all_grants_sql, anchored_grants_sql, grant_by, select_for_consume};
use crate::store::tx::{Param, Tx};
use chrono::Utc;
use postgres::types::Type;
use postgres::Client;

/// Every grant row, as the decisions read them (tests and the harness).
pub fn read_all_grants(client: &mut Client) -> Result<Vec<Grant>, Stop> {
    let sql = all_grants_sql();
    let rows = client.query_typed(sql.as_str(), &[]).or_fault()?;
    rows.iter()
        .map(grant_of)
        .collect::<Result<_, _>>()
        .or_fault()
}

/// Every grant row, in one read-only transaction (`keys`).
pub fn all_grants(conn: &mut Conn) -> Result<Vec<Grant>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = all_grants_sql();
    let grants = read_grants(&mut tx, &sql, &[])?;
    tx.end_unwritten();
    Ok(grants)
}

/// The grants a statement of `GRANT_COLUMNS` returns.
pub(crate) fn read_grants(
    tx: &mut Tx<'_>,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Grant>, Stop> {
    tx.query(sql, params)?
        .iter()
        .map(grant_of)
        .collect::<Result<_, _>>()
        .or_fault()
}

#[derive(Clone, Copy, Debug)]
pub enum GrantKey<'a> {
    AuthCode(&'a str),
    Apr(&'a str),
}

/// Reads one grant by auth_code or by the APR it was minted for; with
/// `lock`, locks its row and sets the writer marker (revoke).
pub(crate) fn read_grant(
    tx: &mut Tx<'_>,
    key: GrantKey<'_>,
    lock: bool,
) -> Result<Option<Grant>, Stop> {
    let (column, value) = match key {
        GrantKey::AuthCode(c) => ("auth_code", c),
        GrantKey::Apr(a) => ("request_ref", a),
    };
    let sql = grant_by(column, lock);
    match tx.query_opt(&sql, &[(&value, Type::TEXT)])? {
        Some(r) => Ok(Some(grant_of(&r).or_fault()?)),
        None => Ok(None),
    }
}

/// The keys a command signs and verifies with (see `signing`), and who may
/// sign an approval (see `approval`). None of them is read from the
/// database.
pub struct Keys<'a> {
    /// Present for `execute` (it mints).
    pub signing: Option<&'a SigningKey>,
    pub trusted: &'a TrustedKeys,
    pub allowed: &'a AllowedSigners,
    /// The evidence chain's head as the command opened the log (SPEC §10):
    /// `execute` stores it, signed, in the grant it mints. `None`: no log.
    pub evidence_head: Option<&'a str>,
}

/// Every grant that records an evidence anchor, oldest first, read in a
/// read-only transaction (`evidence verify --db`).
pub fn anchored_grants(conn: &mut Conn) -> Result<Vec<Grant>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = anchored_grants_sql();
    let rows = tx.query(&sql, &[])?;
    let grants = rows
        .iter()
        .map(grant_of)
        .collect::<Result<Vec<_>, _>>()
        .or_fault()?;
    tx.end_unwritten();
    Ok(grants)
}

/// Everything `consume` decides on, read in its transaction.
pub(crate) struct ConsumeFacts {
    pub(crate) grant: Option<Grant>,
    pub(crate) d: Decision,
}

impl ConsumeFacts {
    pub(crate) fn read(tx: &mut Tx<'_>, auth_code: &str, lock: bool) -> Result<ConsumeFacts, Stop> {
        let sql = select_for_consume(lock, &tx.quorum_fn);
        let row = tx.query_opt(&sql, &[(&auth_code, Type::TEXT)])?;
        match row {
            Some(r) => Ok(ConsumeFacts {
                grant: maybe_grant(&r)?,
                d: decision_of(&r)?,
            }),
            None => Ok(ConsumeFacts {
                grant: None,
                d: Decision {
                    apr: None,
                    handler: None,
                    votes: Vec::new(),
                    quorum_function: false,
                    now: Utc::now(),
                },
            }),
        }
    }

    /// SPEC §4's consume order, then invariant 7: the row must be one the
    /// handler would have minted, and signed by a trusted key.
    pub(crate) fn decide(&self, presented: &Presented, keys: &Keys<'_>) -> Result<(), Stop> {
        consume::decide_consume(
            presented,
            self.grant.as_ref(),
            self.d.apr.as_ref(),
            self.d.now,
        )?;
        match &self.grant {
            Some(g) => verified::check_grant_backed(g, &self.backing(keys)),
            None => Ok(()),
        }
    }

    pub(crate) fn backing<'a>(&'a self, keys: &Keys<'a>) -> Backing<'a> {
        Backing {
            apr: self.d.apr.as_ref(),
            handler: self.d.handler.as_ref(),
            votes: &self.d.votes,
            quorum_function: self.d.quorum_function,
            now: self.d.now,
            trusted: keys.trusted,
            allowed: keys.allowed,
        }
    }
}
