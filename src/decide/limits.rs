//! How long anything may wait, in one place: the default timeouts and the
//! cap on any timeout given. Constants only; nothing here reads the
//! environment or the clock.

use std::time::Duration;

/// Each host's whole handshake, when no connect timeout is given.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The lock timeout when none is given.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// The statement timeout when none is given.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// No timeout is longer than a day (`--*-timeout`, PGCONNECT_TIMEOUT).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
