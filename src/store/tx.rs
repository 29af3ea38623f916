//! One transaction (`Tx`): BEGIN and its `SET LOCAL`s in one round trip,
//! every statement unnamed (`query_typed`: parse, bind and execute in one
//! flight, nothing left on the server), a COMMIT bounded and refused when
//! it warns, a ROLLBACK for a path that writes nothing, and a rollback on
//! drop, so a refusal writes nothing. Decides nothing about grants.

use crate::decide::durability::Durability;
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::store::conn::OrFault;
use crate::store::conn::{Conn, Seen, Warnings};
use crate::store::sql::{begin_transaction, LOCK_FOUND_GRANT};
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Row};

/// A typed parameter of an unnamed statement.
pub(crate) type Param<'p> = (&'p (dyn ToSql + Sync), Type);

/// One transaction: BEGIN and its `SET LOCAL`s in one round trip; every
/// statement unnamed; dropped without `commit`, it rolls back.
pub(crate) struct Tx<'c> {
    pub(crate) client: &'c mut Client,
    pub(crate) open: bool,
    pub(crate) superuser: bool,
    /// `quorum_passed` qualified by the governance schema (SPEC §10).
    pub(crate) quorum_fn: String,
    pub(crate) read_only: bool,
    /// Whether a COMMIT of this session waits for synchronous standbys
    /// (`synchronous_standby_names` set, `synchronous_commit` above
    /// `local`): then state found already written is answered OK only
    /// after a commit of our own has waited for the same standbys.
    pub(crate) commits_wait_for_standbys: bool,
    /// `--durability replicated`: state found is committed over again too
    /// (see `end_found`), so that the flushed position is past it.
    pub(crate) replicated: bool,
    /// How long COMMIT may wait (the statement timeout, which the server
    /// does not apply to a synchronous-replication wait).
    pub(crate) commit_limit: std::time::Duration,
    pub(crate) tls: Option<rustls::ClientConfig>,
    pub(crate) warnings: Warnings,
}

impl<'c> Tx<'c> {
    pub(crate) fn begin(conn: &'c mut Conn, read_only: bool) -> Result<Tx<'c>, Stop> {
        Tx::begin_then(conn, read_only, "")
    }

    /// BEGIN, the `SET LOCAL`s, then `first` (a statement without
    /// parameters: its values already quoted with `literal`), in one round
    /// trip. Each statement of a simple query takes its own snapshot, so a
    /// lock taken in `first` is held before anything after it reads.
    pub(crate) fn begin_then(
        conn: &'c mut Conn,
        read_only: bool,
        first: &str,
    ) -> Result<Tx<'c>, Stop> {
        // The search_path is pinned before anything is read (SPEC §10): no
        // temporary object, per-role setting or pooled session's leftover
        // changes what a name means. An object in the governance schema can
        // still shadow a built-in of a looser signature (count(text) over
        // count("any")) whatever the search_path, so the polymorphic
        // built-ins the handler calls are written pg_catalog.*, and a schema
        // that PUBLIC may create in is refused outright.
        let schema = conn.schema.as_str();
        let replicated = conn.durability != Durability::Local;
        let sql = begin_transaction(
            read_only,
            &conn.timeouts.set_local(),
            &conn.schema.search_path(),
            schema,
            replicated,
            first,
        );
        let replies = conn.client.simple_query(&sql).or_fault()?;
        // The second row of a writer: whether LIFT_SYNCHRONOUS_COMMIT
        // raised the session's setting (then commits wait for standbys).
        let lifted = !read_only
            && replies
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .nth(1)
                .is_some_and(|r| r.try_get(0).ok().flatten() == Some("on"));
        // Unreadable answers read as the cautious ones: PUBLIC may
        // create, commits wait for standbys.
        let (superuser, public_creates, waits, in_recovery) = replies
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    let column = |i| r.try_get(i).ok().flatten();
                    Some((
                        column(0) == Some("on"),
                        column(1) != Some("false"),
                        column(2) != Some("false"),
                        column(3) == Some("true"),
                    ))
                }
                _ => None,
            })
            .unwrap_or((false, true, true, false));
        conn.superuser = Some(superuser);
        conn.seen = conn.seen.and(Seen {
            superuser,
            in_recovery,
        });
        if public_creates {
            let _ = conn.client.batch_execute("ROLLBACK");
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!(
                    "PUBLIC may create objects in schema {schema}: any login could shadow a function \
                     the quorum is judged by; REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC \
                     (staged/approvals-bound.staged.sql); nothing read, nothing written"
                ),
            ));
        }
        Ok(Tx {
            client: &mut conn.client,
            open: true,
            superuser,
            quorum_fn: format!("\"{schema}\".quorum_passed"),
            read_only,
            commits_wait_for_standbys: waits || lifted,
            replicated,
            commit_limit: conn.timeouts.statement,
            tls: conn.tls.clone(),
            warnings: conn.warnings.clone(),
        })
    }

    pub(crate) fn client_is_not_superuser(&self) -> bool {
        !self.superuser
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Stop> {
        self.client.query_typed(sql, params).or_fault()
    }

    /// A statement that returns at most one row; more than one is a fault
    /// (as rust-postgres's `query_opt` raises), never the first of several.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, Stop> {
        at_most_one(self.query(sql, params)?)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, Stop> {
        self.query_opt(sql, params)?.ok_or_else(|| {
            Stop::Fault(
                Fault::Database,
                "a statement that returns one row returned none".into(),
            )
        })
    }

    /// Commits; a connection lost while COMMIT was under way is
    /// ERROR_COMMIT_UNKNOWN (never "unreachable"): the caller reconnects
    /// and reads back what happened.
    ///
    /// The server does not apply statement_timeout to COMMIT's wait for
    /// synchronous standbys, and a wait cut short by a cancel still
    /// answers COMMIT with success, after a WARNING that the transaction
    /// "has already committed locally, but might not have been replicated
    /// to the standby". So COMMIT is bounded here: past the statement
    /// timeout a cancel request is sent, and a COMMIT that was cancelled
    /// or warned is ERROR_COMMIT_UNKNOWN, never OK (SPEC §10): the write
    /// may not survive a failover.
    pub(crate) fn commit(mut self) -> Result<(), Stop> {
        crate::store::failpoint::hit("before-commit")?;
        self.open = false;
        if let Ok(mut w) = self.warnings.lock() {
            w.clear();
        }
        let limit = self.commit_limit;
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let token = self.client.cancel_token();
        let tls = self.tls.clone();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return false;
            }
            let _ = match tls {
                Some(c) => token.cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(c)),
                None => token.cancel_query(NoTls),
            };
            true
        });
        let result = self.client.batch_execute("COMMIT");
        drop(done);
        let cancelled = watchdog.join().unwrap_or(true);
        let warned: Vec<String> = self
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_else(|_| vec!["the warnings could not be read".into()]);
        let result = crate::store::failpoint::lose_commit(result.as_ref().err())
            .map_or_else(|| result.or_fault(), Err);
        if cancelled || !warned.is_empty() {
            let why = if cancelled {
                format!(
                    "COMMIT was still waiting after {limit:?} (the statement timeout; a wait for \
                     synchronous standbys is bounded by nothing else) and was cancelled"
                )
            } else {
                "COMMIT warned".to_owned()
            };
            let said = match (&result, warned.is_empty()) {
                (_, false) => format!("; the server said: {}", warned.join("; ")),
                (Err(Stop::Fault(_, e) | Stop::Reject(_, e)), true) => format!("; {e}"),
                _ => String::new(),
            };
            return Err(Stop::Fault(
                Fault::CommitUnknown,
                format!(
                    "{why}{said}: the write may be committed on this server but not on its \
                     standbys, and may not survive a failover"
                ),
            ));
        }
        result
    }

    /// Ends a transaction that found what it would have written already
    /// there (ALREADY_MINTED, a replayed CONSUMED, ALREADY_REVOKED): grant
    /// `auth_code`. Where commits wait for synchronous standbys, that state
    /// may be committed here and not yet on them (its own COMMIT cancelled,
    /// say), so the answer is OK only after a commit of our own has waited
    /// for them: the WAL it waits for comes after the state found. A commit
    /// waits only if the transaction wrote WAL (an xid alone does not), so
    /// the grant's row is locked FOR KEY SHARE (which logs the lock, and
    /// blocks only another FOR UPDATE). Under `--durability replicated`
    /// likewise, so that the state found is flushed here before the
    /// standbys' flushed position is compared with ours. Elsewhere, one
    /// ROLLBACK as before.
    pub(crate) fn end_found(mut self, auth_code: &str) -> Result<(), Stop> {
        if !(self.commits_wait_for_standbys || self.replicated) || self.read_only {
            self.end_unwritten();
            return Ok(());
        }
        let locked = self.query(LOCK_FOUND_GRANT, &[(&auth_code, Type::TEXT)])?;
        if locked.is_empty() {
            return Err(Stop::Fault(
                Fault::ConcurrentChange,
                format!("grant {auth_code} vanished while it was being read; nothing written"),
            ));
        }
        self.commit()
    }

    /// Ends a transaction that wrote nothing. One ROLLBACK round trip, on
    /// purpose: closing the connection mid-transaction would end it for
    /// free on a direct connection, but a transaction-mode pooler must then
    /// throw its server connection away, and the next client pays for a
    /// new backend (measured with scripts/bench: a mint through PgBouncer
    /// after such a close took 8.9 ms, after a ROLLBACK 4.4 ms; direct runs
    /// did not change).
    pub(crate) fn end_unwritten(mut self) {
        self.open = false;
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

/// The one row of a statement that returns at most one, or none; more
/// than one fails closed (ERROR_DATABASE): a read meant to find one row
/// never decides on whichever came first.
pub(crate) fn at_most_one<T>(rows: Vec<T>) -> Result<Option<T>, Stop> {
    let n = rows.len();
    if n > 1 {
        return Err(Stop::Fault(
            Fault::Database,
            format!("a statement that returns at most one row returned {n}; nothing decided"),
        ));
    }
    Ok(rows.into_iter().next())
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A refusal on a write path: roll back now, so that nothing the
            // transaction locked or set outlives it, even through a pooler.
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_row_read_fails_closed_on_several_rows() {
        assert_eq!(at_most_one(Vec::<u8>::new()).ok(), Some(None));
        assert_eq!(at_most_one(vec![7]).ok(), Some(Some(7)));
        // rust-postgres's query_opt raises here; the first of several is
        // never what a decision reads.
        match at_most_one(vec![1, 2]) {
            Err(Stop::Fault(Fault::Database, why)) => assert!(why.contains("returned 2"), "{why}"),
            other => panic!("two rows must be a fault, got {other:?}"),
        }
    }
}
