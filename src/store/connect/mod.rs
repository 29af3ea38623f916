//! Where to connect, the way psql decides it: `--db-url`, else
//! `DATABASE_URL`, else the libpq variables (PGHOST, PGPORT, PGUSER,
//! PGDATABASE, PGPASSWORD, PGPASSFILE, PGSSLMODE, PGCONNECT_TIMEOUT).
//! Also the timeouts every session runs under. A password is never printed:
//! `Target::describe` names host, port, user and database only.
//!
//! The parts: `params` (every parameter, and the connection string's two
//! forms), `resolve` (one target, in libpq's order of precedence),
//! `service` (service files), `pgpass` (the password file) and `options`
//! (PGOPTIONS, `dot.` settings refused); tests in `tests` and
//! `tests_parameters`.

use crate::decide::limits;
use postgres::config::{Host, SslMode};
use postgres::Config;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

mod options;
mod params;
mod pgpass;
mod resolve;
mod service;

pub use options::*;
pub use params::*;
use pgpass::*;
pub use resolve::*;
use service::*;

/// Timeouts. Nothing waits forever: hitting one is an ERROR, nothing written.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub lock: Duration,
    pub statement: Duration,
}

impl Timeouts {
    /// The statements that start every transaction, sent with BEGIN as one
    /// simple query (one round trip). The values are our own numbers.
    pub fn set_local(&self) -> String {
        format!(
            "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}; \
             SET LOCAL idle_in_transaction_session_timeout = {};",
            self.lock.as_millis().max(1),
            self.statement.as_millis().max(1),
            (self.statement.as_millis() * 2).max(1),
        )
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: limits::DEFAULT_CONNECT_TIMEOUT,
            lock: limits::DEFAULT_LOCK_TIMEOUT,
            statement: limits::DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

/// A resolved connection target, and the timeouts every transaction on it
/// sets for itself (`SET LOCAL`, never startup options: a transaction-mode
/// pooler refuses those, and no setting may outlive the command).
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub timeouts: Timeouts,
    /// sslmode and root certificates, with libpq's meanings (see `tls`).
    pub tls: crate::store::tls::Mode,
    pub roots: Option<crate::store::tls::Roots>,
    /// sslsni and the TLS protocol range.
    pub tls_options: crate::store::tls::Options,
    /// sslcert, sslkey, sslpassword as given (else PGSSLCERT, PGSSLKEY),
    /// and HOME for libpq's defaults; read only when TLS is used.
    pub client_cert: CertSpec,
    /// target_session_attrs (else PGTARGETSESSIONATTRS), libpq's six.
    pub session: SessionAttrs,
    /// An entry of a host list given by hostaddr alone (no host name to
    /// verify a certificate against).
    pub hostaddr_only: bool,
    /// The password file's password for each host of a host list (else
    /// the one password is in `config`): each is sent only to the host its
    /// line names, as libpq looks one up per host.
    host_passwords: Vec<Option<String>>,
    /// The schema of the governance tables: with pg_catalog before it and
    /// pg_temp after it, every transaction's whole search_path.
    pub schema: Schema,
}

/// The client certificate settings as given, resolved (with libpq's
/// defaults under ~/.postgresql) only when a TLS handshake needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertSpec {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub password: Option<String>,
    pub home: Option<String>,
}

impl CertSpec {
    pub fn resolve(&self) -> Result<Option<crate::store::tls::ClientCert>, String> {
        crate::store::tls::client_cert(
            self.cert.as_deref(),
            self.key.as_deref(),
            self.password.as_deref(),
            self.home.as_deref(),
        )
    }
}

/// libpq's `target_session_attrs`: which server of a host list will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    Any,
    /// `SHOW transaction_read_only` is off.
    ReadWrite,
    /// `SHOW transaction_read_only` is on.
    ReadOnly,
    /// Not in recovery (`pg_is_in_recovery()` is false).
    Primary,
    /// In recovery.
    Standby,
    /// A standby if any host of the list is one, else any (libpq's second
    /// pass over the list).
    PreferStandby,
}

impl SessionAttrs {
    pub fn parse(s: &str) -> Result<SessionAttrs, String> {
        Ok(match s {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "read-only" => SessionAttrs::ReadOnly,
            "primary" => SessionAttrs::Primary,
            "standby" => SessionAttrs::Standby,
            "prefer-standby" => SessionAttrs::PreferStandby,
            other => {
                return Err(format!(
                    "target_session_attrs {other:?} is not one libpq knows (any, read-write, \
                     read-only, primary, standby, prefer-standby)"
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }

    /// The passes libpq makes over the host list.
    pub fn passes(self) -> Vec<SessionAttrs> {
        match self {
            SessionAttrs::PreferStandby => vec![SessionAttrs::Standby, SessionAttrs::Any],
            s => vec![s],
        }
    }
}

/// The governance schema's name: a plain lower-case identifier, so that it
/// means the same quoted or not (`public` unless `--schema` or
/// DOT_ABS_SCHEMA says otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema(String);

/// The environment variable standing in for `--schema`.
pub const SCHEMA_ENV: &str = "DOT_ABS_SCHEMA";

impl Schema {
    pub fn new(name: &str) -> Result<Schema, String> {
        let mut chars = name.chars();
        let plain = matches!(chars.next(), Some('a'..='z' | '_'))
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            && name.len() <= 63;
        if plain {
            Ok(Schema(name.to_owned()))
        } else {
            Err(format!(
                "schema {name:?} is not a plain lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The one search_path of every transaction (SPEC §10): pg_catalog
    /// first, so nothing shadows a built-in of the same signature, then the
    /// governance schema, then the session's temporary schema last, so no
    /// temporary object stands in for a governance table.
    pub fn search_path(&self) -> String {
        format!("pg_catalog, \"{}\", pg_temp", self.0)
    }
}

impl Default for Schema {
    fn default() -> Schema {
        Schema("public".into())
    }
}

impl Target {
    /// The connection attempts, in the order libpq makes them: one target
    /// per entry of the host list (its host, hostaddr and port), each
    /// carrying only the password meant for it. The caller tries each, each
    /// within the connect timeout, until one connects and suits
    /// `target_session_attrs`, and stops at a login the server refused, as
    /// libpq does.
    pub fn attempts(&self) -> Vec<Target> {
        let n = self
            .config
            .get_hosts()
            .len()
            .max(self.config.get_hostaddrs().len());
        (0..n)
            .map(|i| {
                let mut config = one_host(&self.config, i);
                match self.host_passwords.get(i) {
                    Some(Some(pw)) => {
                        config.password(pw.as_bytes());
                    }
                    Some(None) => {}
                    None => {
                        if let Some(pw) = self.config.get_password() {
                            config.password(pw);
                        }
                    }
                }
                Target {
                    config,
                    host_passwords: Vec::new(),
                    hostaddr_only: self.config.get_hosts().get(i).is_none(),
                    ..self.clone()
                }
            })
            .collect()
    }

    /// `host H port P, host H2 port P2 as user U to database D`, for
    /// messages: every entry of the host list with its own port. No
    /// password.
    pub fn describe(&self) -> String {
        let ports = self.config.get_ports();
        let addrs = self.config.get_hostaddrs();
        // An attempt at a hostaddr alone connects to it as its host: named
        // as the hostaddr it is.
        let hosts: &[Host] = if self.hostaddr_only {
            &[]
        } else {
            self.config.get_hosts()
        };
        let n = hosts.len().max(addrs.len());
        let entries: Vec<String> = (0..n)
            .map(|i| {
                let port = ports
                    .get(i)
                    .or(ports.first().filter(|_| ports.len() == 1))
                    .copied()
                    .unwrap_or(5432);
                let host = match (hosts.get(i), addrs.get(i)) {
                    (Some(Host::Unix(path)), _) => format!("socket dir {}", path.display()),
                    (Some(Host::Tcp(name)), Some(a)) if name != &a.to_string() => {
                        format!("host {name} (hostaddr {a})")
                    }
                    (Some(Host::Tcp(name)), _) => format!("host {name}"),
                    (None, Some(a)) => format!("hostaddr {a}"),
                    (None, None) => "no host".into(),
                };
                format!("{host} port {port}")
            })
            .collect();
        format!(
            "{} as user {} to database {}",
            entries.join(", "),
            self.config.get_user().unwrap_or("?"),
            self.config.get_dbname().unwrap_or("?")
        )
    }
}

fn roots_of(value: &str) -> crate::store::tls::Roots {
    if value == "system" {
        crate::store::tls::Roots::System
    } else {
        crate::store::tls::Roots::File(PathBuf::from(value))
    }
}

/// What a connection calls itself when nothing else names it and the
/// caller gives no name of its own (`resolve_with`'s `default_name`).
pub const APPLICATION_NAME: &str = "dot-authorize-build-step";

/// The home directory libpq uses for its files (~/.pgpass,
/// ~/.pg_service.conf, ~/.postgresql/): $HOME, else, when it is unset or
/// empty, the running user's home from /etc/passwd (libpq's getpwuid
/// fallback).
pub fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(h) = env("HOME").filter(|h| !h.is_empty()) {
        return Some(h);
    }
    let uid = crate::sys::user::running_uid().ok()?.to_string();
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[2] == uid && !f[5].is_empty()).then(|| f[5].to_owned())
    })
}

/// The operating-system user running this process, by uid (as libpq's
/// getpwuid), from /etc/passwd.
pub fn os_user() -> Option<String> {
    crate::sys::user::os_user().0
}

fn default_socket_dir() -> String {
    if Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql".into()
    } else {
        "/tmp".into()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parameters;
