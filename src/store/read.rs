//! Read-only views of grants: `list`, `show` and the readback checklist's
//! facts (judged by `decide::readback`). Writes nothing.

use crate::decide::facts::Grant;
use crate::decide::outcome::Stop;
use crate::decide::readback;
use crate::integrity::approval::AllowedSigners;
use crate::integrity::signing::TrustedKeys;
use crate::integrity::verified;
use crate::store::conn::Conn;
use crate::store::conn::OrFault;
use crate::store::grants::{read_grant, ConsumeFacts, GrantKey, Keys};
use crate::store::rows::{grant_of, revocation_of, Revocation};
use crate::store::sql::{
    list_grants, quorum_passed, show_grant_sql, APR_APPLIED, APR_EXISTS, GRANT_COUNT,
    HANDLER_REF_OF,
};
use crate::store::tx::Tx;
use chrono::{DateTime, Utc};
use postgres::types::Type;

/// What `list` filters on.
pub struct ListFilter<'a> {
    pub status: Option<&'a str>,
    pub apr: Option<&'a str>,
    pub plan: Option<&'a str>,
    pub expiring_within_seconds: Option<i64>,
    pub key_id: Option<&'a str>,
    pub since: Option<Since>,
    /// `None`: every matching row (the caller filters further, e.g. on the
    /// signature, which no SQL can check, and cuts the list itself).
    pub limit: Option<i64>,
    pub sort: Option<GrantSort>,
}

/// `--since`: a span back from the database's clock, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(std::time::Duration),
    At(DateTime<Utc>),
}

/// The orders `list` reads grants in (`list --sort-by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSort {
    GrantedAt,
    ExpiresAt,
    AuthCode,
    Apr,
    Plan,
    Status,
    KeyId,
}

/// `--since` as SQL parameters: seconds back from the wall clock, or a moment.
pub(crate) fn since_params(since: Option<Since>) -> (Option<f64>, Option<DateTime<Utc>>) {
    match since {
        None => (None, None),
        Some(Since::Ago(d)) => (Some(d.as_secs_f64()), None),
        Some(Since::At(at)) => (None, Some(at)),
    }
}

/// `list --sort-by`: each field's ORDER BY, from this fixed list only.
pub(crate) fn grant_order(sort: Option<GrantSort>) -> &'static str {
    match sort {
        None => "g.granted_at DESC, g.auth_code",
        Some(GrantSort::GrantedAt) => "g.granted_at, g.auth_code",
        Some(GrantSort::ExpiresAt) => "g.expires_at, g.auth_code",
        Some(GrantSort::AuthCode) => "g.auth_code",
        Some(GrantSort::Apr) => "g.request_ref, g.auth_code",
        Some(GrantSort::Plan) => "g.plan_ref COLLATE \"C\", g.auth_code",
        Some(GrantSort::Status) => "g.status, g.auth_code",
        Some(GrantSort::KeyId) => "g.key_id COLLATE \"C\", g.auth_code",
    }
}

/// What `list` read: the grants shown, and how many match the filters
/// (more than shown when the limit cut the list).
pub struct Listed {
    pub grants: Vec<(Grant, Revocation)>,
    pub total: i64,
}

/// Grants, newest first, as the decisions read them. The total is counted
/// in the same statement (a window over the filtered rows, taken before
/// LIMIT), so it and the rows are one snapshot.
pub fn list(conn: &mut Conn, f: &ListFilter<'_>) -> Result<Listed, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = list_grants(grant_order(f.sort));
    let (since_secs, since_at) = since_params(f.since);
    let rows = tx.query(
        &sql,
        &[
            (&f.status, Type::TEXT),
            (&f.apr, Type::TEXT),
            (&f.plan, Type::TEXT),
            (&f.expiring_within_seconds, Type::INT8),
            (&f.limit, Type::INT8),
            (&f.key_id, Type::TEXT),
            (&since_secs, Type::FLOAT8),
            (&since_at, Type::TIMESTAMPTZ),
        ],
    )?;
    tx.end_unwritten();
    let total = match rows.first() {
        Some(r) => r.try_get("total").or_fault()?,
        None => 0,
    };
    let grants = rows
        .iter()
        .map(|r| Ok((grant_of(r).or_fault()?, revocation_of(r)?)))
        .collect::<Result<_, Stop>>()?;
    Ok(Listed { grants, total })
}

/// One grant and the rest of its story: who revoked it, why, when; its
/// APR's status now; the database clock.
pub struct Shown {
    pub grant: Grant,
    pub revocation: Revocation,
    pub apr_status: Option<String>,
    pub now: DateTime<Utc>,
}

pub fn show_grant(conn: &mut Conn, key: GrantKey<'_>) -> Result<Option<Shown>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let (column, value) = match key {
        GrantKey::AuthCode(c) => ("auth_code", c),
        GrantKey::Apr(a) => ("request_ref", a),
    };
    let sql = show_grant_sql(column);
    let row = tx.query_opt(&sql, &[(&value, Type::TEXT)])?;
    tx.end_unwritten();
    row.map(|r| -> Result<Shown, Stop> {
        Ok(Shown {
            grant: grant_of(&r).or_fault()?,
            revocation: revocation_of(&r)?,
            apr_status: r.try_get("apr_status").or_fault()?,
            now: r.try_get("now").or_fault()?,
        })
    })
    .transpose()
}

pub use crate::decide::readback::Check;

/// The STEP 7 checklist for one APR, read in a read-only transaction and
/// judged by `decide::readback`. `trusted` is `Err(why)` when no trusted
/// keys could be loaded: the signature line then fails, saying why, and
/// the rest still reads.
pub fn readback(
    conn: &mut Conn,
    apr_code: &str,
    trusted: Result<&TrustedKeys, &str>,
    allowed: Result<&AllowedSigners, &str>,
) -> Result<Vec<Check>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let exists = tx
        .query_opt(APR_EXISTS, &[(&apr_code, Type::TEXT)])?
        .is_some();
    if let Err(stop) = readback::require_apr(exists) {
        tx.end_unwritten();
        return Err(stop);
    }
    let count: i64 = tx
        .query_one(GRANT_COUNT, &[(&apr_code, Type::TEXT)])?
        .try_get(0)
        .or_fault()?;
    let grant = read_grant(&mut tx, GrantKey::Apr(apr_code), false)?;
    let grant_read = match &grant {
        Some(g) => {
            let signature = match trusted {
                Ok(t) => crate::integrity::signing::verify_grant(t, g).map_err(|f| f.to_string()),
                Err(why) => Err(why.to_owned()),
            };
            let backed = match (trusted, allowed) {
                (Ok(trusted), Ok(allowed)) => {
                    let facts = ConsumeFacts::read(&mut tx, &g.auth_code, false)?;
                    let keys = Keys {
                        signing: None,
                        trusted,
                        allowed,
                        evidence_head: None,
                    };
                    match verified::check_grant_backed(g, &facts.backing(&keys)) {
                        Ok(()) => Ok(()),
                        Err(stop) => Err(readback::not_backed(stop)?),
                    }
                }
                (Err(why), _) | (_, Err(why)) => Err(why.to_owned()),
            };
            Some(readback::GrantRead {
                grant: g,
                signature,
                backed,
            })
        }
        None => None,
    };
    let handler_ref: Option<String> = tx
        .query_opt(HANDLER_REF_OF, &[])?
        .map(|r| r.try_get(0))
        .transpose()
        .or_fault()?
        .flatten();
    let apr = match tx.query_opt(APR_APPLIED, &[(&apr_code, Type::TEXT)])? {
        Some(r) => Some((r.try_get(0).or_fault()?, r.try_get(1).or_fault()?)),
        None => None,
    };
    let sql = quorum_passed(&tx.quorum_fn);
    let quorum: bool = tx
        .query_one(&sql, &[(&apr_code, Type::TEXT)])?
        .try_get(0)
        .or_fault()?;
    tx.end_unwritten();
    Ok(readback::checklist(&readback::ReadbackFacts {
        apr_code,
        count,
        grant: grant_read,
        handler_ref,
        apr,
        quorum,
    }))
}
