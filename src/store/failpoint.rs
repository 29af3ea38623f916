//! Named fail points for the crash-safety tests. They act only in a build
//! with the `failpoints` feature (release builds never enable it), and only
//! when `DOT_ABS_FAILPOINT=NAME:ACTION` names them:
//! - `pause`: print `failpoint NAME reached` on stderr and wait to be
//!   killed (the test kills the handler, or stops PostgreSQL, right there);
//! - `lose`: behave as if the connection dropped at that point;
//! - `wait:FILE`: print `failpoint NAME waiting` on stderr and go on only
//!   once FILE exists (the interleaving tests run another session in
//!   between), or fail after a minute;
//! - `lose-after:FILE`: wait as `wait:FILE`, then behave as `lose` (the
//!   test stops the server in between).
//!
//! Points: `execute-after-apr-lock`, `execute-after-quorum-check`,
//! `execute-after-insert`, `consume-before-update`, `consume-after-update`,
//! `before-commit`, `after-commit` (COMMIT sent and answered).
//! Without the feature every point is a no-op the compiler removes.

use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;

#[cfg(feature = "failpoints")]
fn action(name: &str) -> Option<String> {
    let spec = std::env::var("DOT_ABS_FAILPOINT").ok()?;
    let (point, action) = spec.split_once(':')?;
    (point == name).then(|| action.to_owned())
}

#[cfg(not(feature = "failpoints"))]
fn action(_name: &str) -> Option<String> {
    None
}

fn lost(name: &str) -> Stop {
    Stop::Fault(
        Fault::CommitUnknown,
        format!("the connection was lost at {name} (fail point)"),
    )
}

/// Passes a named point.
pub fn hit(name: &str) -> Result<(), Stop> {
    match action(name).as_deref() {
        Some("pause") => {
            eprintln!("failpoint {name} reached");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Some("lose") => Err(lost(name)),
        Some(action) if action.starts_with("lose-after:") => {
            wait_for(name, &action["lose-after:".len()..])?;
            Err(lost(name))
        }
        Some(action) if action.starts_with("wait:") => wait_for(name, &action["wait:".len()..]),
        _ => Ok(()),
    }
}

/// Prints `failpoint NAME waiting` and goes on once `file` exists, or
/// fails after a minute.
fn wait_for(name: &str, file: &str) -> Result<(), Stop> {
    let release = std::path::Path::new(file);
    eprintln!("failpoint {name} waiting");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !release.exists() {
        if std::time::Instant::now() > deadline {
            return Err(Stop::Fault(
                Fault::Timeout,
                format!("fail point {name} was not released within 60 s"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// What a commit's result means: a connection lost while COMMIT was under
/// way (`conn::connection_lost`: no SQLSTATE, a FATAL, a shutdown or a
/// connection exception) is ERROR_COMMIT_UNKNOWN, never "unreachable"; the `after-commit` point acts after a commit succeeded.
pub fn lose_commit(err: Option<&postgres::Error>) -> Option<Stop> {
    match err {
        Some(e) if e.code().is_none() || crate::store::conn::connection_lost(e) => {
            Some(Stop::Fault(
                Fault::CommitUnknown,
                format!("the connection was lost while committing: {e}"),
            ))
        }
        Some(_) => None,
        None => hit("after-commit").err(),
    }
}
