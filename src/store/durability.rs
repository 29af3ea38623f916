//! `--durability replicated`: the function it needs is installed and
//! callable, and, after a write, n standbys flushed past it. Decides no
//! grant; writes nothing.

use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::store::conn::OrFault;
use crate::store::conn::{fault, Conn};
use crate::store::sql::{literal, standbys_flushed, WAL_FLUSHED};
use postgres::error::SqlState;

/// `--durability replicated`'s function (staged/durability.staged.sql),
/// in the governance schema.
pub(crate) fn standbys_flushed_fn(conn: &Conn) -> String {
    format!("\"{}\".dot_standbys_flushed", conn.schema.as_str())
}

/// Before anything is written under `--durability replicated`: the
/// function it reads is there and this login may call it, else
/// ERROR_SCHEMA_CONTRACT (or ERROR_PERMISSION_DENIED) with nothing written.
pub fn check_durability_contract(conn: &mut Conn) -> Result<(), Stop> {
    let sql = standbys_flushed(
        &conn.timeouts.set_local(),
        &standbys_flushed_fn(conn),
        "'0/0'",
    );
    match conn.client.batch_execute(&sql) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.client.batch_execute("ROLLBACK");
            match e.code() {
                Some(&SqlState::UNDEFINED_FUNCTION) => Err(Stop::Fault(
                    Fault::SchemaContract,
                    format!(
                        "--durability replicated reads {}(pg_lsn), which is not installed: apply \
                         staged/durability.staged.sql as the owner (runbook STEP 0g); nothing written",
                        standbys_flushed_fn(conn)
                    ),
                )),
                _ => Err(fault(&e)),
            }
        }
    }
}

/// After an OK write (or the state found already written) under
/// `--durability replicated:n`: waits, within the statement timeout, until
/// n standbys have flushed the WAL up to what is flushed here now, which is
/// past the commit (under `replicated` every commit flushes before it
/// returns, and state found is committed over again: `Tx::end_found`).
/// Not the insert position: WAL written after the commit that no commit
/// flushes (a page pruned by a read) would keep an idle server from ever
/// sending it.
/// Short of that, ERROR_COMMIT_UNKNOWN: written here, maybe not on any
/// standby a failover would promote.
pub fn await_replicated(conn: &mut Conn, n: u32) -> Result<(), Stop> {
    let limit = conn.timeouts.statement;
    let started = std::time::Instant::now();
    let position: String = {
        let rows = conn.client.simple_query(WAL_FLUSHED).or_fault()?;
        rows.iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or_else(|| Stop::Fault(Fault::Database, "no WAL position read".into()))?
    };
    let sql = standbys_flushed(
        &conn.timeouts.set_local(),
        &standbys_flushed_fn(conn),
        &literal(&position),
    );
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        let replies = conn.client.simple_query(&sql).or_fault()?;
        let flushed: u32 = replies
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
                _ => None,
            })
            .unwrap_or(0);
        if flushed >= n {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(Stop::Fault(
                Fault::CommitUnknown,
                format!(
                    "committed on the primary, but {flushed} of the {n} standbys --durability \
                     replicated:{n} asks for flushed WAL position {position} within {limit:?} \
                     (the statement timeout): the write may not survive a failover; re-run the \
                     same command once the standbys are back"
                ),
            ));
        }
        std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}
