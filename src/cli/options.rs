//! The option groups the commands flatten in (connection, keys, evidence
//! log, durability) and their defaults. Definitions only: no IO, no
//! decisions.

use super::validate::parse_timeout;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The defaults, from the one place timeouts are defined.
pub use crate::decide::limits::{DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};

/// How to reach the database and how long to wait for it: flattened only
/// into the commands that connect, so `--help` of the others does not
/// offer options they would ignore.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// PostgreSQL URL or key=value string (without a password)
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Give up connecting, handshake included, after this long, with its unit: 500ms,
    /// 10s, 2m (default: the URL's connect_timeout, else PGCONNECT_TIMEOUT, else 10s)
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub connect_timeout: Option<Duration>,
    /// Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare
    /// number is refused)
    #[arg(long, value_parser = parse_timeout, default_value = "10s", value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Give up on any one statement after this long, with its unit: 30s, 2m
    #[arg(long, value_parser = parse_timeout, default_value = "30s", value_name = "DURATION")]
    pub statement_timeout: Duration,
    /// The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every
    /// transaction's search_path is pg_catalog, this schema, pg_temp
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            db_url: None,
            connect_timeout: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            schema: None,
        }
    }
}

/// execute's private key.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct SigningKeyOption {
    /// The private key execute signs grants with (else DOT_ABS_SIGNING_KEY); mode 0600, yours
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// The public keys a grant is checked against.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct TrustedKeysOption {
    /// Public keys a grant's signature must verify against: a file, or a directory of *.pub
    /// (else DOT_ABS_TRUSTED_KEYS)
    #[arg(long, value_name = "FILE|DIR")]
    pub trusted_keys: Option<PathBuf>,
}

/// Who may sign an approval: every command that counts a quorum reads it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct AllowedSignersOption {
    /// OpenSSH allowed_signers file: which key may sign an approval for which approver
    /// (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// Where a deciding command leaves its evidence line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct EvidenceLogOption {
    /// Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)
    #[arg(long, value_name = "FILE")]
    pub evidence_log: Option<PathBuf>,
}

/// How durable a write must be before it is answered OK.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Durability")]
pub struct DurabilityOption {
    /// local: OK once the server's commit policy is met (with synchronous standbys, once they
    /// confirm); replicated[:N]: also N streaming standbys (default 1) have flushed the commit,
    /// within the statement timeout, else ERROR_COMMIT_UNKNOWN (else DOT_ABS_DURABILITY;
    /// absent: local)
    #[arg(long, value_name = "MODE", value_parser = crate::decide::durability::Durability::parse)]
    pub durability: Option<crate::decide::durability::Durability>,
}
