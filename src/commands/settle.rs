//! Settling a COMMIT whose outcome is unknown: the idempotent writers
//! (execute, consume with its request id, revoke) read back on a new
//! connection, with backoff, within the connect timeout; and `--durability
//! replicated` waits for standbys. Never answers OK on doubt.

use super::context::{connect, connect_before, Context};
use super::output::Attempt;
use crate::commands::verdict::{Status, Verdict};
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Fault};
use crate::store::conn;
use crate::store::durability;

/// `f` under `--durability`: with `replicated:N`, its contract checked
/// before anything is written, and an OK write (or state found written)
/// answered only once N standbys have flushed it.
pub(super) fn durable(
    durability: crate::decide::durability::Durability,
    f: impl Fn(&mut conn::Conn) -> Attempt,
) -> impl Fn(&mut conn::Conn) -> Attempt {
    move |c: &mut conn::Conn| -> Attempt {
        let crate::decide::durability::Durability::Replicated(n) = durability else {
            return f(c);
        };
        c.durability = durability;
        durability::check_durability_contract(c).map_err(|s| (s, None))?;
        let v = f(c)?;
        let written = matches!(
            v.status,
            Status::Done(
                Done::Minted
                    | Done::AlreadyMinted
                    | Done::Consumed
                    | Done::Revoked
                    | Done::AlreadyRevoked
            )
        );
        if written && v.dry_run != Some(true) {
            durability::await_replicated(c, n).map_err(|s| (s, v.apr.clone()))?;
        }
        Ok(v)
    }
}

impl Context {
    /// `with_db` for the idempotent writers (execute, consume with its request
    /// id, revoke). When the connection is lost while COMMIT is under way, the
    /// outcome is read back by running the same command once more on a new
    /// connection: it waits for the first attempt's locks, then either finds
    /// the write (ALREADY_MINTED, the caller's own CONSUMED, ALREADY_REVOKED)
    /// or makes it. Only if that cannot settle it is the answer
    /// ERROR_COMMIT_UNKNOWN, which says to re-run.
    pub(super) fn with_db_settled(
        &self,
        f: impl Fn(&mut conn::Conn) -> Attempt,
    ) -> Result<Attempt, String> {
        let target = self.target()?;
        let f = durable(self.durability()?, f);
        let first = match connect(&target) {
            Ok(mut c) => self.on(&mut c, &f),
            Err(stop) => return Ok(Err((stop, None))),
        };
        let lost = match &first {
            Err((Stop::Fault(Fault::CommitUnknown, why), _)) => why.clone(),
            _ => return Ok(first),
        };
        let unknown = |tries: u32, again: String| {
            Err((
                Stop::Fault(
                    Fault::CommitUnknown,
                    format!(
                        "{lost}; reading back on a new connection did not settle it ({tries} \
                         attempt{} within the connect timeout, {:?}; the last: {again}); re-run the \
                         same command (it is idempotent)",
                        if tries == 1 { "" } else { "s" },
                        target.timeouts.connect
                    ),
                ),
                None,
            ))
        };
        // Read back until it settles, within the connect timeout: a failover
        // takes a while (the old primary gone, the standby not yet promoted
        // or still read-only), so each failed try waits longer (50 ms,
        // doubling, at most 1 s) and connects afresh, following the host list
        // and target_session_attrs to whichever server now takes writes.
        let deadline = std::time::Instant::now() + target.timeouts.connect;
        let mut pause = std::time::Duration::from_millis(50);
        let mut tries = 0;
        loop {
            tries += 1;
            // Each try ends by the deadline: its connect timeout is the time
            // left, never a whole one past it.
            let again = match connect_before(&target, Some(deadline)) {
                Ok(mut c) => match self.on(&mut c, &f) {
                    Err((Stop::Fault(kind, why), _)) if settling_may_retry(kind, &why) => why,
                    settled => return Ok(settled),
                },
                Err(Stop::Fault(kind, why)) if settling_may_retry(kind, &why) => why,
                Err(stop) => return Ok(unknown(tries, Verdict::from(stop).message)),
            };
            if std::time::Instant::now() + pause > deadline {
                return Ok(unknown(tries, again));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
        }
    }
}

/// What settling a lost commit tries again: the commit still unknown
/// because the connection was lost again, no server (or none that takes
/// writes yet: a standby being promoted answers "read-only transaction"),
/// a connect timeout. Anything else is an answer; so is a server that
/// answered that its standbys did not confirm within the statement timeout
/// (a COMMIT cancelled or warned, `--durability replicated` short): trying
/// again would wait that long once more, past the settling bound (a third
/// 300 s wait after two cancels, tests/sync_replication.rs).
fn settling_may_retry(kind: Fault, why: &str) -> bool {
    match kind {
        Fault::CommitUnknown => why.starts_with("the connection was lost"),
        Fault::DbUnreachable | Fault::Timeout => true,
        Fault::Database => why.contains("read-only transaction"),
        _ => false,
    }
}
