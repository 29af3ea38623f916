//! Where to connect, the way psql decides it: `--db-url`, else
//! `DATABASE_URL`, else the libpq variables (PGHOST, PGPORT, PGUSER,
//! PGDATABASE, PGPASSWORD, PGPASSFILE, PGSSLMODE, PGCONNECT_TIMEOUT).
//! Also the timeouts every session runs under. A password is never printed:
//! `Target::describe` names host, port, user and database only.

use crate::decide::limits;
use postgres::config::{Host, SslMode};
use postgres::Config;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

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

/// What this tool does with a libpq connection parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Honoured as libpq honours it.
    Supported,
    /// Accepted with the values that change nothing here (the text says
    /// which and why); any other value is refused by name.
    Inert(&'static str),
    /// Refused by name whatever its value (the text says why).
    Refused(&'static str),
}

/// A libpq connection parameter: its name, its environment variable, and
/// what this tool does with it.
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub usage: Usage,
}

const fn p(name: &'static str, env: Option<&'static str>, usage: Usage) -> Parameter {
    Parameter { name, env, usage }
}

/// Every parameter of libpq 15's PQconninfoOptions (fe-connect.c), in its
/// order, then the ones later libpq versions added (which libpq 15 itself
/// calls invalid): each supported as libpq does it, accepted because its
/// value changes nothing here, or refused by name. Nothing is ignored.
pub const PARAMETERS: &[Parameter] = &[
    p("service", Some("PGSERVICE"), Usage::Supported),
    p("user", Some("PGUSER"), Usage::Supported),
    p("password", Some("PGPASSWORD"), Usage::Supported),
    p("passfile", Some("PGPASSFILE"), Usage::Supported),
    p("channel_binding", Some("PGCHANNELBINDING"), Usage::Supported),
    p("connect_timeout", Some("PGCONNECT_TIMEOUT"), Usage::Supported),
    p("dbname", Some("PGDATABASE"), Usage::Supported),
    p("host", Some("PGHOST"), Usage::Supported),
    p("hostaddr", Some("PGHOSTADDR"), Usage::Supported),
    p("port", Some("PGPORT"), Usage::Supported),
    p(
        "client_encoding",
        Some("PGCLIENTENCODING"),
        Usage::Inert("the tool always speaks UTF8, so only UTF8 is accepted"),
    ),
    p("options", Some("PGOPTIONS"), Usage::Supported),
    p("application_name", Some("PGAPPNAME"), Usage::Supported),
    p("fallback_application_name", None, Usage::Supported),
    p("keepalives", None, Usage::Supported),
    p("keepalives_idle", None, Usage::Supported),
    p("keepalives_interval", None, Usage::Supported),
    p("keepalives_count", None, Usage::Supported),
    p("tcp_user_timeout", None, Usage::Supported),
    p("sslmode", Some("PGSSLMODE"), Usage::Supported),
    p(
        "requiressl",
        Some("PGREQUIRESSL"),
        Usage::Refused("it is libpq's deprecated spelling; use sslmode=require"),
    ),
    p(
        "sslcompression",
        Some("PGSSLCOMPRESSION"),
        Usage::Inert("TLS compression does not exist here (nor in Debian's OpenSSL under libpq), so 0 and 1 change nothing"),
    ),
    p("sslcert", Some("PGSSLCERT"), Usage::Supported),
    p("sslkey", Some("PGSSLKEY"), Usage::Supported),
    p("sslpassword", None, Usage::Supported),
    p("sslrootcert", Some("PGSSLROOTCERT"), Usage::Supported),
    p(
        "sslcrl",
        Some("PGSSLCRL"),
        Usage::Refused("certificate revocation lists are not checked by this tool"),
    ),
    p(
        "sslcrldir",
        Some("PGSSLCRLDIR"),
        Usage::Refused("certificate revocation lists are not checked by this tool"),
    ),
    p("sslsni", Some("PGSSLSNI"), Usage::Supported),
    p(
        "requirepeer",
        Some("PGREQUIREPEER"),
        Usage::Refused("the server process's operating-system user is not checked by this tool"),
    ),
    p(
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        Usage::Supported,
    ),
    p(
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        Usage::Supported,
    ),
    p(
        "gssencmode",
        Some("PGGSSENCMODE"),
        Usage::Inert("this tool has no GSSAPI encryption: disable and prefer both mean no GSS here"),
    ),
    p(
        "krbsrvname",
        Some("PGKRBSRVNAME"),
        Usage::Refused("Kerberos/GSSAPI authentication is not supported by this tool"),
    ),
    p(
        "gsslib",
        Some("PGGSSLIB"),
        Usage::Refused("Kerberos/GSSAPI authentication is not supported by this tool"),
    ),
    p(
        "replication",
        None,
        Usage::Refused("a replication connection cannot run the tool's transactions"),
    ),
    p(
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        Usage::Supported,
    ),
    // Added after libpq 15 (psql 15 calls each an invalid option).
    p(
        "sslcertmode",
        Some("PGSSLCERTMODE"),
        Usage::Refused("it is a libpq 16 parameter; a certificate is sent whenever one is found"),
    ),
    p(
        "require_auth",
        Some("PGREQUIREAUTH"),
        Usage::Refused("it is a libpq 16 parameter this tool does not implement"),
    ),
    p(
        "gssdelegation",
        Some("PGGSSDELEGATION"),
        Usage::Refused("Kerberos/GSSAPI authentication is not supported by this tool"),
    ),
    p(
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        Usage::Refused("it is a libpq 16 parameter; hosts are tried in the order given"),
    ),
    p(
        "sslnegotiation",
        Some("PGSSLNEGOTIATION"),
        Usage::Refused("it is a libpq 17 parameter; TLS is always negotiated the PostgreSQL way"),
    ),
    p(
        "min_protocol_version",
        Some("PGMINPROTOCOLVERSION"),
        Usage::Refused("it is a libpq 18 parameter; the tool speaks protocol 3.0"),
    ),
    p(
        "max_protocol_version",
        Some("PGMAXPROTOCOLVERSION"),
        Usage::Refused("it is a libpq 18 parameter; the tool speaks protocol 3.0"),
    ),
    p(
        "scram_client_key",
        None,
        Usage::Refused("it is a libpq 18 parameter this tool does not implement"),
    ),
    p(
        "scram_server_key",
        None,
        Usage::Refused("it is a libpq 18 parameter this tool does not implement"),
    ),
    p(
        "oauth_issuer",
        None,
        Usage::Refused("OAuth authentication (libpq 18) is not supported"),
    ),
    p(
        "oauth_client_id",
        None,
        Usage::Refused("OAuth authentication (libpq 18) is not supported"),
    ),
    p(
        "oauth_client_secret",
        None,
        Usage::Refused("OAuth authentication (libpq 18) is not supported"),
    ),
    p(
        "oauth_scope",
        None,
        Usage::Refused("OAuth authentication (libpq 18) is not supported"),
    ),
];

/// The parameters the client library parses itself from the connection
/// string; every other one is taken out and read here.
const LIBRARY_PARSES: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "options",
    "application_name",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
];

fn parameter(name: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.name == name)
}

/// Checks one parameter's value against what this tool does with it:
/// `Ok` for a supported one and for an inert one with a value that
/// changes nothing; an error naming the parameter otherwise. `origin`
/// says where it came from (the connection string, a service, a variable).
fn check_parameter(name: &str, value: &str, origin: &str) -> Result<(), String> {
    let Some(param) = parameter(name) else {
        return Err(format!(
            "{name} (in {origin}) is not a libpq connection parameter"
        ));
    };
    let refuse = |why: &str| {
        Err(format!(
            "{name}={value} (from {origin}) is not supported: {why}"
        ))
    };
    match param.usage {
        Usage::Supported => Ok(()),
        // Named without its value, which may be a secret (oauth_client_secret).
        Usage::Refused(why) => Err(format!("{name} (from {origin}) is not supported: {why}")),
        Usage::Inert(why) => {
            let fine = match name {
                "client_encoding" => {
                    let v: String = value
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    v == "utf8" || v == "unicode"
                }
                "sslcompression" => value == "0" || value == "1",
                "gssencmode" => value == "disable" || value == "prefer",
                _ => false,
            };
            if fine {
                Ok(())
            } else {
                refuse(why)
            }
        }
    }
}

/// A connection string split into its parameters (values decoded), and
/// what remains of it for the client library: those it parses itself.
struct Parsed {
    /// Every `key=value` of the string, decoded, in order.
    params: Vec<(String, String)>,
    /// The string rebuilt with only the `LIBRARY_PARSES` parameters.
    rest: String,
}

fn parse_connection_string(conn: &str) -> Result<Parsed, String> {
    let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    if is_url {
        let (base, query) = match conn.split_once('?') {
            Some((b, q)) => (b, q),
            None => (conn, ""),
        };
        let mut params = Vec::new();
        let mut kept = Vec::new();
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                format!("the database URL's parameter {kv:?} has no value (key=value)")
            })?;
            let (k, v) = (percent_decode(k)?, percent_decode(v)?);
            if LIBRARY_PARSES.contains(&k.as_str()) {
                kept.push(kv);
            }
            params.push((k, v));
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok(Parsed { params, rest });
    }
    let params = split_key_values(conn)?;
    let rest = params
        .iter()
        .filter(|(k, _)| LIBRARY_PARSES.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Parsed { params, rest })
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("the database URL has a bad %-escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("the database URL's {s:?} is not UTF-8"))
}

/// libpq's key=value form: `key = value` with optional spaces around `=`,
/// a value either single-quoted (`\` escapes) or up to the next space
/// (`\` escapes too).
fn split_key_values(conn: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = conn.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "the connection string has {key:?} with no \"=\" after it"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "the connection string's {key} has an unterminated quoted value"
                        ))
                    }
                    Some('\\') => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// Reads the environment through `env` (so tests can pass their own).
/// `connect_flag` is `--connect-timeout` when given: it wins over the URL's
/// `connect_timeout`, which wins over `PGCONNECT_TIMEOUT`, which wins over
/// `timeouts.connect` (libpq's order, with the flag on top).
pub fn resolve(
    db_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    timeouts: Timeouts,
) -> Result<Target, String> {
    resolve_with(db_url, env, timeouts, None)
}

fn add_hosts(config: &mut Config, value: &str) {
    for h in value.split(',') {
        if h.starts_with('/') {
            config.host_path(h);
        } else {
            config.host(h);
        }
    }
}

fn add_ports(config: &mut Config, value: &str, what: &str) -> Result<(), String> {
    for p in value.split(',') {
        let p = p.trim();
        if p.is_empty() {
            config.port(5432);
            continue;
        }
        config.port(
            p.parse()
                .ok()
                .filter(|n| *n != 0)
                .ok_or_else(|| format!("{what} {p:?} is not a port number"))?,
        );
    }
    Ok(())
}

fn add_hostaddrs(config: &mut Config, value: &str, what: &str) -> Result<(), String> {
    for a in value.split(',').filter(|a| !a.is_empty()) {
        config.hostaddr(
            a.trim()
                .parse()
                .map_err(|_| format!("{what} {a:?} is not a numeric IP address"))?,
        );
    }
    Ok(())
}

pub fn resolve_with(
    db_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    mut timeouts: Timeouts,
    connect_flag: Option<Duration>,
) -> Result<Target, String> {
    let url = db_url.map(str::to_owned).or_else(|| env("DATABASE_URL"));
    // The connection string's own parameters: those the client library
    // reads stay in it; every other one is read here, by libpq's rules,
    // and checked against PARAMETERS (refused by name, never ignored).
    let parsed = match url.as_deref() {
        Some(u) => Some(parse_connection_string(u)?),
        None => None,
    };
    let mut given: std::collections::BTreeMap<String, String> = Default::default();
    if let Some(parsed) = &parsed {
        for (k, v) in &parsed.params {
            check_parameter(k, v, "the connection string")?;
            if !LIBRARY_PARSES.contains(&k.as_str()) {
                given.insert(k.clone(), v.clone());
            }
        }
    }
    let mut config = match &parsed {
        Some(p) => {
            Config::from_str(&p.rest).map_err(|e| format!("the database URL is not valid: {e}"))?
        }
        None => Config::new(),
    };
    // service=NAME in the connection string, else PGSERVICE: a section of
    // the service file whose parameters come after the connection string's
    // own and before the environment's (libpq's order).
    let service = match given.get("service").cloned().or_else(|| env("PGSERVICE")) {
        Some(name) => Some(load_service(&name, env)?),
        None => None,
    };
    if let Some((name, params)) = &service {
        let origin = format!("service {name:?}");
        for (key, value) in params {
            check_parameter(key, value, &origin)?;
            let bad = |what: &str| format!("service {name:?}: {key}={value:?} {what}");
            match key.as_str() {
                "host" if config.get_hosts().is_empty() => add_hosts(&mut config, value),
                "hostaddr" if config.get_hostaddrs().is_empty() => {
                    add_hostaddrs(&mut config, value, &origin)?
                }
                "port" if config.get_ports().is_empty() => add_ports(&mut config, value, &origin)?,
                "dbname" if config.get_dbname().is_none() => {
                    config.dbname(value);
                }
                "user" if config.get_user().is_none() => {
                    config.user(value);
                }
                "password" if config.get_password().is_none() => {
                    config.password(value.as_bytes());
                }
                "application_name" if config.get_application_name().is_none() => {
                    config.application_name(value);
                }
                "options" if config.get_options().is_none() => {
                    config.options(value);
                }
                "connect_timeout" if config.get_connect_timeout().is_none() => {
                    let n: u64 = value
                        .parse()
                        .map_err(|_| bad("is not a number of seconds"))?;
                    config.connect_timeout(Duration::from_secs(n));
                }
                "keepalives" | "keepalives_idle" | "keepalives_interval" => {
                    // Read below with the connection string's own.
                    given
                        .entry(format!("service:{key}"))
                        .or_insert(value.clone());
                }
                k if LIBRARY_PARSES.contains(&k) => {} // the connection string's wins
                "service" => {}
                _ => {
                    given.entry(key.clone()).or_insert(value.clone());
                }
            }
        }
    }
    // The environment, for every parameter still unset (libpq's
    // conninfo_add_defaults); a variable of a refused parameter is refused.
    for param in PARAMETERS {
        let Some(var) = param.env else { continue };
        if LIBRARY_PARSES.contains(&param.name) || param.name == "service" {
            continue;
        }
        if given.contains_key(param.name) {
            continue;
        }
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            check_parameter(param.name, &value, var)?;
            given.insert(param.name.to_owned(), value);
        }
    }
    for key in ["keepalives", "keepalives_idle", "keepalives_interval"] {
        if let Some(v) = given.remove(&format!("service:{key}")) {
            let n: u64 = v
                .parse()
                .map_err(|_| format!("{key}={v:?} is not a whole number"))?;
            match key {
                "keepalives" => {
                    config.keepalives(n != 0);
                }
                "keepalives_idle" => {
                    config.keepalives_idle(Duration::from_secs(n));
                }
                _ => {
                    config.keepalives_interval(Duration::from_secs(n));
                }
            }
        }
    }
    if let Some(v) = given.get("keepalives_count") {
        let n: u32 = v
            .parse()
            .map_err(|_| format!("keepalives_count={v:?} is not a whole number"))?;
        config.keepalives_retries(n);
    }
    if let Some(v) = given.get("tcp_user_timeout") {
        let ms: u64 = v
            .parse()
            .map_err(|_| format!("tcp_user_timeout={v:?} is not a whole number of milliseconds"))?;
        config.tcp_user_timeout(Duration::from_millis(ms));
    }
    // Hosts: the string's or the service's, else PGHOST and PGHOSTADDR;
    // with neither, the default socket directory. A hostaddr alone is a
    // TCP connection to that address (libpq), never the socket directory.
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        if let Some(hosts) = env("PGHOST").filter(|h| !h.is_empty()) {
            add_hosts(&mut config, &hosts);
        }
    }
    if config.get_hostaddrs().is_empty() {
        if let Some(addrs) = env("PGHOSTADDR") {
            add_hostaddrs(&mut config, &addrs, "PGHOSTADDR")?;
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        add_hosts(&mut config, &default_socket_dir());
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").filter(|p| !p.is_empty()) {
            add_ports(&mut config, &p, "PGPORT")?;
        }
    }
    let (nhosts, naddrs, nports) = (
        config.get_hosts().len(),
        config.get_hostaddrs().len(),
        config.get_ports().len(),
    );
    if nhosts > 0 && naddrs > 0 && nhosts != naddrs {
        return Err(format!(
            "could not match {nhosts} host names to {naddrs} hostaddr values (libpq's rule)"
        ));
    }
    if nports > 1 && nports != nhosts.max(naddrs) {
        return Err(format!(
            "could not match {nports} port numbers to {} hosts (libpq's rule)",
            nhosts.max(naddrs)
        ));
    }
    if config.get_user().is_none() {
        // libpq's default is the operating-system user (getpwuid), never
        // a superuser by name and never $USER, which anyone can set.
        let user = match env("PGUSER") {
            Some(u) => u,
            None => os_user().ok_or(
                "no database user: set PGUSER (or a user in --db-url); the operating-system \
                 user could not be determined",
            )?,
        };
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        let db = env("PGDATABASE")
            .or_else(|| config.get_user().map(str::to_owned))
            .unwrap_or_default();
        config.dbname(&db);
    }
    // sslmode: the string's, the service's, else PGSSLMODE (a URL must not
    // silently turn `require` into plaintext); likewise sslrootcert, then
    // ~/.postgresql/root.crt.
    let tls_mode = match given.get("sslmode") {
        Some(m) => crate::store::tls::Mode::parse(m)?,
        None => crate::store::tls::Mode::Prefer,
    };
    let roots = given
        .get("sslrootcert")
        .map(|r| roots_of(r))
        .or_else(|| crate::store::tls::default_roots(env("HOME").as_deref()));
    // Only a TCP host can use TLS: a list of sockets alone needs no root
    // (libpq never opens one there).
    let all_sockets = config.get_hostaddrs().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)));
    if matches!(
        tls_mode,
        crate::store::tls::Mode::VerifyCa | crate::store::tls::Mode::VerifyFull
    ) && roots.is_none()
        && !all_sockets
    {
        return Err(
            "sslmode verify-ca and verify-full need a root certificate: sslrootcert=FILE or system \
             (or PGSSLROOTCERT, or ~/.postgresql/root.crt)"
                .into(),
        );
    }
    // libpq reads ~/.postgresql/root.crl when no sslcrl is named: a list
    // this tool cannot check is refused, not skipped.
    if let Some(home) = env("HOME") {
        let crl = Path::new(&home).join(".postgresql/root.crl");
        if crl.exists()
            && !all_sockets
            && matches!(
                tls_mode,
                crate::store::tls::Mode::VerifyCa | crate::store::tls::Mode::VerifyFull
            )
        {
            return Err(format!(
                "sslcrl (libpq's default {}) is not supported: certificate revocation lists are \
                 not checked by this tool; remove the file or verify otherwise",
                crl.display()
            ));
        }
    }
    config.ssl_mode(match tls_mode {
        crate::store::tls::Mode::Disable | crate::store::tls::Mode::Allow => SslMode::Disable,
        crate::store::tls::Mode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let mut tls_options = crate::store::tls::Options::default();
    match given.get("sslsni").map(String::as_str) {
        None | Some("1") => {}
        Some("0") => tls_options.sni = false,
        Some(other) => return Err(format!("sslsni={other:?} is neither 0 nor 1")),
    }
    tls_options.protocol_range(
        given.get("ssl_min_protocol_version").map(String::as_str),
        given.get("ssl_max_protocol_version").map(String::as_str),
    )?;
    config.channel_binding(match given.get("channel_binding").map(String::as_str) {
        None | Some("prefer") => postgres::config::ChannelBinding::Prefer,
        Some("disable") => postgres::config::ChannelBinding::Disable,
        Some("require") => postgres::config::ChannelBinding::Require,
        Some(other) => {
            return Err(format!(
                "channel_binding {other:?} is not one libpq knows (disable, prefer, require)"
            ))
        }
    });
    let session = match given.get("target_session_attrs") {
        Some(s) => SessionAttrs::parse(s)?,
        None => SessionAttrs::Any,
    };
    let client_cert = CertSpec {
        cert: given.get("sslcert").cloned(),
        key: given.get("sslkey").cloned(),
        password: given.get("sslpassword").cloned(),
        home: env("HOME"),
    };
    // A password given (URL, service, PGPASSWORD) goes to every host, as
    // in libpq; the password file's (passfile, else PGPASSFILE, else
    // ~/.pgpass) goes only to the host its line names.
    let mut host_passwords = Vec::new();
    if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        } else {
            let file = given
                .get("passfile")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
            let found = pgpass_passwords(&config, file);
            match found.first() {
                Some(first) if found.iter().all(|p| p == first) => {
                    if let Some(pw) = first {
                        config.password(pw.as_bytes());
                    }
                }
                _ => host_passwords = found,
            }
        }
    }
    let from_env = match given
        .get("connect_timeout")
        .cloned()
        .or_else(|| env("PGCONNECT_TIMEOUT"))
    {
        None => None,
        Some(s) => match s.trim().parse::<u64>() {
            // libpq waits at least 2 s ("rounding could cause connection
            // to fail unexpectedly quickly"), so 1 means 2, as there.
            Ok(n) if (1..=limits::MAX_TIMEOUT.as_secs()).contains(&n) => {
                Some(Duration::from_secs(n.max(2)))
            }
            _ => {
                return Err(format!(
                    "PGCONNECT_TIMEOUT {s:?} is not a whole number of seconds from 1 to 86400 \
                     (0 would mean waiting for ever)"
                ))
            }
        },
    };
    let from_url = config
        .get_connect_timeout()
        .copied()
        .filter(|d| !d.is_zero())
        .map(|d| d.max(Duration::from_secs(2)));
    timeouts.connect = connect_flag
        .or(from_url)
        .or(from_env)
        .unwrap_or(timeouts.connect);
    config.connect_timeout(timeouts.connect);
    // application_name: the string's, else PGAPPNAME, else
    // fallback_application_name, else the tool and what it is doing
    // (pg_stat_activity then says which command holds a lock).
    if config.get_application_name().is_none() {
        let name = env("PGAPPNAME")
            .or_else(|| given.get("fallback_application_name").cloned())
            .unwrap_or_else(default_application_name);
        config.application_name(&name);
    }
    // options (-c settings sent at startup): the URL's, else PGOPTIONS.
    // Passed on, except anything that could set the writer marker, which
    // only the handler sets, inside its own transaction.
    let options = config
        .get_options()
        .map(str::to_owned)
        .or_else(|| env("PGOPTIONS"));
    if let Some(options) = options {
        refuse_dot_settings(&options)?;
        config.options(&options);
    }
    Ok(Target {
        config,
        timeouts,
        tls: tls_mode,
        roots,
        tls_options,
        client_cert,
        session,
        hostaddr_only: false,
        host_passwords,
        schema: Schema::default(),
    })
}

/// `config` with only its `i`th host (and that host's hostaddr and port):
/// every other setting as it is, no password. A hostaddr without a host
/// name is connected to as that address (and is the TLS server name).
fn one_host(config: &Config, i: usize) -> Config {
    let mut one = Config::new();
    match config.get_hosts().get(i) {
        Some(Host::Tcp(name)) => {
            one.host(name);
        }
        Some(Host::Unix(path)) => {
            one.host_path(path);
        }
        None => {
            if let Some(addr) = config.get_hostaddrs().get(i) {
                one.host(&addr.to_string());
            }
        }
    };
    if let Some(addr) = config.get_hostaddrs().get(i) {
        one.hostaddr(*addr);
    }
    let ports = config.get_ports();
    if let Some(port) = ports.get(i).or(ports.first().filter(|_| ports.len() == 1)) {
        one.port(*port);
    }
    if let Some(user) = config.get_user() {
        one.user(user);
    }
    if let Some(db) = config.get_dbname() {
        one.dbname(db);
    }
    if let Some(options) = config.get_options() {
        one.options(options);
    }
    if let Some(name) = config.get_application_name() {
        one.application_name(name);
    }
    if let Some(t) = config.get_connect_timeout() {
        one.connect_timeout(*t);
    }
    if let Some(t) = config.get_tcp_user_timeout() {
        one.tcp_user_timeout(*t);
    }
    one.ssl_mode(config.get_ssl_mode())
        .ssl_negotiation(config.get_ssl_negotiation())
        .keepalives(config.get_keepalives())
        .keepalives_idle(config.get_keepalives_idle())
        .target_session_attrs(config.get_target_session_attrs())
        .channel_binding(config.get_channel_binding())
        .load_balance_hosts(config.get_load_balance_hosts());
    if let Some(t) = config.get_keepalives_interval() {
        one.keepalives_interval(t);
    }
    if let Some(n) = config.get_keepalives_retries() {
        one.keepalives_retries(n);
    }
    one
}

/// Refuses connection options that would set any `dot.*` setting (the
/// writer marker `dot.canonical_writer` among them) for the whole session:
/// only the handler sets the marker, inside its own transaction. The
/// options are read as the server reads them, not searched for a
/// spelling: split at unescaped white space with `\` escaping the next
/// character (`pg_split_opts`), then taken as the backend's switches
/// (getopt over `B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:`, clusters
/// and attached arguments included), where `-c NAME=VALUE` and
/// `--NAME=VALUE` set NAME with every `-` turned into `_`, compared
/// without ASCII case. Options the server would refuse are refused here
/// too, so nothing ambiguous is ever sent.
pub fn refuse_dot_settings(options: &str) -> Result<(), String> {
    let refuse = |why: String| {
        format!(
            "the connection options (PGOPTIONS, the URL's or the service's options) {why}; \
             only the handler sets dot.canonical_writer, inside its transaction"
        )
    };
    for (name, _) in startup_settings(options).map_err(refuse)? {
        if name.to_ascii_lowercase().starts_with("dot.") {
            return Err(refuse(format!("set {name:?}, a dot.* setting")));
        }
    }
    Ok(())
}

/// Spellings of the writer marker in connection options that the server
/// reads as `dot.canonical_writer` (tests and `harness` try each).
pub const DOT_SPELLINGS: [&str; 11] = [
    "-c dot.canonical_writer=dot-authorize-build-step",
    "-cDOT.Canonical_Writer=x",
    "-c dot.canonical-writer=x",
    "--dot.canonical-writer=x",
    "--dot.canonical_writer=x",
    "-c dot.canonical\\_writer=x",
    "-c d\\ot.canonical_writer=x",
    "-ec dot.canonical_writer=x",
    "-e -c dot.canonical_writer=x",
    "-c work_mem=8MB --DOT.canonical-writer=x",
    "-c\tdot.canonical_writer=x",
];

/// The settings (name as the server names it, value) that startup options
/// make, or why the server would refuse them.
fn startup_settings(options: &str) -> Result<Vec<(String, String)>, String> {
    const WITH_ARGUMENT: &str = "BcCDdfhkNprStvW-";
    const WITHOUT_ARGUMENT: &str = "bEeFijlnOPsT";
    let words = split_options(options);
    let mut settings = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("hold {word:?}, which is no option"));
        };
        for (at, flag) in flags.char_indices() {
            if WITHOUT_ARGUMENT.contains(flag) {
                continue;
            }
            if !WITH_ARGUMENT.contains(flag) {
                return Err(format!("hold the unknown option -{flag}"));
            }
            let attached = &flags[at + flag.len_utf8()..];
            let argument = if !attached.is_empty() {
                attached.to_owned()
            } else if let Some(next) = words.get(i) {
                i += 1;
                next.clone()
            } else {
                return Err(format!("end with -{flag} and no value"));
            };
            if matches!(flag, 'c' | '-') {
                let Some((name, value)) = argument.split_once('=') else {
                    return Err(format!("give -{flag} {argument:?} without a value"));
                };
                settings.push((name.replace('-', "_"), value.to_owned()));
            }
            break;
        }
    }
    Ok(settings)
}

/// `pg_split_opts`: words at unescaped ASCII white space; `\` takes the
/// next character literally (a space, a backslash, anything).
fn split_options(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = options.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| is_c_space(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut escaped = false;
        while let Some(&c) = chars.peek() {
            if is_c_space(c) && !escaped {
                break;
            }
            chars.next();
            if !escaped && c == '\\' {
                escaped = true;
            } else {
                escaped = false;
                word.push(c);
            }
        }
        words.push(word);
    }
}

/// C's isspace in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

fn roots_of(value: &str) -> crate::store::tls::Roots {
    if value == "system" {
        crate::store::tls::Roots::System
    } else {
        crate::store::tls::Roots::File(PathBuf::from(value))
    }
}

/// The parameters of service `name`: from PGSERVICEFILE, else
/// ~/.pg_service.conf, else PGSYSCONFDIR/pg_service.conf (the first file
/// that has the section). A service that is defined nowhere is an error.
fn load_service(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<(String, String)>), String> {
    let files: Vec<PathBuf> = [
        env("PGSERVICEFILE").map(PathBuf::from),
        env("HOME").map(|h| Path::new(&h).join(".pg_service.conf")),
        env("PGSYSCONFDIR").map(|d| Path::new(&d).join("pg_service.conf")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for file in &files {
        let Some(text) = config_text(file) else {
            continue;
        };
        let mut in_section = false;
        let mut found = false;
        let mut params = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_section = section.trim() == name;
                found |= in_section;
                continue;
            }
            if in_section {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| format!("{}:{}: not a key=value line", file.display(), n + 1))?;
                params.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        if found {
            return Ok((name.to_owned(), params));
        }
    }
    Err(format!(
        "service {name:?} is not defined in {}",
        if files.is_empty() {
            "any service file (set PGSERVICEFILE or HOME)".to_owned()
        } else {
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ))
}

/// A configuration file's text (service file, password file): a regular
/// file of at most 1 MiB, opened without blocking, so that a FIFO or a
/// device in its place is skipped, never waited on.
fn config_text(path: &Path) -> Option<String> {
    let bytes = crate::sys::file::read_regular(path, 1 << 20).ok()?;
    String::from_utf8(bytes).ok()
}

/// What a connection calls itself when nothing else names it.
static APPLICATION_NAME: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Sets the default application_name for this process's connections (the
/// command and the APR or grant it works on).
pub fn set_application_name(name: String) {
    if let Ok(mut n) = APPLICATION_NAME.lock() {
        *n = Some(name);
    }
}

fn default_application_name() -> String {
    APPLICATION_NAME
        .lock()
        .ok()
        .and_then(|n| n.clone())
        .unwrap_or_else(|| "dot-authorize-build-step".into())
}

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

/// For each host of the list, the first matching line of the password
/// file, as libpq reads it: `host:port:database:user:password`, `*`
/// matches anything, `\\` escapes. A file readable by group or others is
/// ignored (with one warning), as libpq does.
fn pgpass_passwords(config: &Config, file: Option<PathBuf>) -> Vec<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let n = hosts.len().max(addrs.len());
    let none = vec![None; n];
    let Some(path) = file else {
        return none;
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return none;
    };
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file {} has group or world access; ignoring it (chmod 0600)",
            path.display()
        );
        return none;
    }
    let Some(text) = config_text(&path) else {
        return none;
    };
    let entries: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(split_pgpass)
        .filter(|f| f.len() == 5)
        .collect();
    let ports = config.get_ports();
    let (db, user) = (
        config.get_dbname().unwrap_or(""),
        config.get_user().unwrap_or(""),
    );
    // A socket directory matches by its path, and also as `localhost`
    // when it is the default directory; a hostaddr without a host name
    // matches by the address (libpq's rule).
    (0..n)
        .map(|i| {
            let port = ports
                .get(i)
                .or(ports.first())
                .copied()
                .unwrap_or(5432)
                .to_string();
            let names: Vec<String> = match hosts.get(i) {
                None => addrs
                    .get(i)
                    .map(|a| vec![a.to_string()])
                    .unwrap_or_default(),
                Some(Host::Tcp(h)) => vec![h.clone()],
                Some(Host::Unix(p)) => {
                    let mut n = vec![p.display().to_string()];
                    if p.display().to_string() == default_socket_dir() {
                        n.push("localhost".into());
                    }
                    n
                }
            };
            entries
                .iter()
                .find(|f| {
                    (f[0] == "*" || names.contains(&f[0]))
                        && [port.as_str(), db, user]
                            .iter()
                            .zip(&f[1..4])
                            .all(|(w, f)| f == "*" || f == w)
                })
                .map(|f| f[4].clone())
        })
        .collect()
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flag_wins_over_database_url_and_pg_variables() {
        let env = env_of(&[("DATABASE_URL", "postgresql://a@h1/d1"), ("PGUSER", "b")]);
        let t = resolve(Some("postgresql://c@h2:6543/d2"), &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_user(), Some("c"));
        assert_eq!(t.config.get_dbname(), Some("d2"));
        assert_eq!(t.config.get_ports(), &[6543]);
    }

    #[test]
    fn pg_variables_are_used_like_psql() {
        let env = env_of(&[
            ("PGHOST", "/run/sock"),
            ("PGPORT", "5433"),
            ("PGUSER", "u"),
            ("PGPASSWORD", "s3cret"),
        ]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Unix("/run/sock".into())]);
        assert_eq!(t.config.get_ports(), &[5433]);
        assert_eq!(
            t.config.get_dbname(),
            Some("u"),
            "PGDATABASE defaults to the user, as in libpq"
        );
        assert_eq!(t.config.get_password(), Some(&b"s3cret"[..]));
        assert!(!t.describe().contains("s3cret"));
    }

    #[test]
    fn pgpass_is_read_with_wildcards_and_escapes_and_only_when_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dot-abs-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\n/run/sock:5432:*:u:pa\\:ss\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = file.display().to_string();
        let env = env_of(&[
            ("PGHOST", "/run/sock"),
            ("PGUSER", "u"),
            ("PGPASSFILE", &path),
        ]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"pa:ss"[..]));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_password(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_pguser_the_user_is_the_os_user_not_postgres_and_not_dollar_user() {
        let env = env_of(&[("PGHOST", "/run/sock"), ("USER", "postgres")]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_user(), os_user().as_deref());
    }

    #[test]
    fn pgsslmode_applies_to_a_url_without_sslmode() {
        let env = env_of(&[("PGSSLMODE", "require")]);
        let t = resolve(Some("postgresql://u@h/d"), &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        let t = resolve(
            Some("postgresql://u@h/d?sslmode=disable"),
            &env,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let t = resolve(
            Some("postgresql://u@h/d?sslmode=verify-full&sslrootcert=system"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.tls, crate::store::tls::Mode::VerifyFull);
        assert_eq!(t.roots, Some(crate::store::tls::Roots::System));
        // A socket never uses TLS: verify-full there needs no root (libpq).
        assert!(resolve(
            Some("host=/run/sock user=u sslmode=verify-full"),
            &env_of(&[]),
            Timeouts::default()
        )
        .is_ok());
        // Verifying needs something to verify against: refused, not weakened.
        assert!(resolve(
            Some("postgresql://u@h/d?sslmode=verify-ca"),
            &env_of(&[]),
            Timeouts::default()
        )
        .is_err());
        let t = resolve(
            None,
            &env_of(&[
                ("PGUSER", "u"),
                ("PGSSLMODE", "verify-full"),
                ("PGSSLROOTCERT", "/etc/ca.pem"),
            ]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(
            t.roots,
            Some(crate::store::tls::Roots::File("/etc/ca.pem".into()))
        );
    }

    #[test]
    fn connect_timeout_precedence_is_flag_then_url_then_environment() {
        let env = env_of(&[("PGCONNECT_TIMEOUT", "7")]);
        let secs = |t: Target| t.timeouts.connect.as_secs();
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(secs(t), 7);
        let t = resolve(
            Some("postgresql://u@h/d?connect_timeout=5"),
            &env,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(secs(t), 5);
        let t = resolve_with(
            Some("postgresql://u@h/d?connect_timeout=5"),
            &env,
            Timeouts::default(),
            Some(Duration::from_secs(3)),
        )
        .unwrap();
        assert_eq!(secs(t), 3);
        for bad in ["0", "-1", "ten", "1e3", "86401"] {
            let env = env_of(&[("PGCONNECT_TIMEOUT", bad)]);
            assert!(resolve(None, &env, Timeouts::default()).is_err(), "{bad}");
        }
        // libpq's floor: 1 second means 2, from the string or the variable.
        let env1 = env_of(&[("PGCONNECT_TIMEOUT", "1")]);
        assert_eq!(secs(resolve(None, &env1, Timeouts::default()).unwrap()), 2);
        let t = resolve(
            Some("host=h user=u connect_timeout=1"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(secs(t), 2);
        // The client library reads a URL's connect_timeout=0 as "none
        // given": the default applies, never "wait for ever".
        let t = resolve(
            Some("postgresql://u@h/d?connect_timeout=0"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(secs(t), 10);
    }

    #[test]
    fn application_name_options_and_hostaddr_as_libpq_reads_them() {
        let t = resolve(None, &env_of(&[("PGUSER", "u")]), Timeouts::default()).unwrap();
        assert!(t
            .config
            .get_application_name()
            .unwrap()
            .starts_with("dot-authorize-build-step"));
        let env = env_of(&[
            ("PGUSER", "u"),
            ("PGAPPNAME", "ops-shell"),
            ("PGOPTIONS", "-c work_mem=8MB"),
            ("PGHOSTADDR", "127.0.0.1"),
        ]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_application_name(), Some("ops-shell"));
        assert_eq!(t.config.get_options(), Some("-c work_mem=8MB"));
        assert_eq!(t.config.get_hostaddrs().len(), 1);
        let t = resolve(
            Some("postgresql://u@h/d?application_name=from-url"),
            &env,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.config.get_application_name(), Some("from-url"));
        for bad in [
            "-c dot.canonical_writer=dot-authorize-build-step",
            "-cDOT.Canonical_Writer=x",
        ] {
            let env = env_of(&[("PGUSER", "u"), ("PGOPTIONS", bad)]);
            assert!(resolve(None, &env, Timeouts::default()).is_err(), "{bad}");
        }
        assert!(resolve(
            Some("postgresql://u@h/d?options=-c%20dot.canonical_writer%3Dx"),
            &env_of(&[]),
            Timeouts::default()
        )
        .is_err());
        let env = env_of(&[("PGUSER", "u"), ("PGHOSTADDR", "not-an-ip")]);
        assert!(resolve(None, &env, Timeouts::default()).is_err());
    }

    #[test]
    fn a_service_gives_defaults_between_the_connection_string_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("dot-abs-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pg_service.conf");
        std::fs::write(
            &file,
            "# services\n[gov]\nhost=/run/gov\nport=6000\ndbname=governance\nuser=dot_authorize_build_step\n\
             sslmode=disable\n\n[other]\nhost=elsewhere\n[odd]\nkrbsrvname=x\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let env = env_of(&[
            ("PGSERVICEFILE", &path),
            ("PGSERVICE", "gov"),
            ("PGUSER", "from_env"),
            ("PGSSLMODE", "require"),
        ]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Unix("/run/gov".into())]);
        assert_eq!(t.config.get_ports(), &[6000]);
        assert_eq!(t.config.get_dbname(), Some("governance"));
        assert_eq!(
            t.config.get_user(),
            Some("dot_authorize_build_step"),
            "the service wins over PGUSER"
        );
        assert_eq!(
            t.config.get_ssl_mode(),
            SslMode::Disable,
            "and over PGSSLMODE"
        );
        // service= in the connection string, and its own parameters win.
        let t = resolve(Some("dbname=mine service=gov"), &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_dbname(), Some("mine"));
        assert_eq!(t.config.get_ports(), &[6000]);
        let t = resolve(
            Some("postgresql://u@/d?service=other&application_name=x"),
            &env,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Tcp("elsewhere".into())]);
        assert_eq!(t.config.get_application_name(), Some("x"));
        let missing = env_of(&[("PGSERVICEFILE", &path), ("PGSERVICE", "nope")]);
        assert!(resolve(None, &missing, Timeouts::default())
            .err()
            .unwrap()
            .contains("not defined"));
        let odd = env_of(&[("PGSERVICEFILE", &path), ("PGSERVICE", "odd")]);
        let refused = resolve(None, &odd, Timeouts::default()).err().unwrap();
        assert!(
            refused.contains("krbsrvname (from service") && refused.contains("is not supported"),
            "{refused}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn finding_9_pgpass_password_goes_only_to_the_host_its_line_names() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dot-abs-pgpass-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(&file, "db2.internal:5432:*:u:second\nsame-a:*:*:u:same\nsame-b:*:*:u:same\nx:*:*:u:ex\ny:*:*:u:why\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = file.display().to_string();
        let with_hosts =
            |hosts: &str| env_of(&[("PGHOST", hosts), ("PGUSER", "u"), ("PGPASSFILE", &path)]);
        // Only the second host has an entry: it goes to the second host
        // and to no other (issue 18, finding 9).
        let passwords = |t: &Target| -> Vec<Option<Vec<u8>>> {
            t.attempts()
                .iter()
                .map(|a| a.config.get_password().map(<[u8]>::to_vec))
                .collect()
        };
        let t = resolve(
            None,
            &with_hosts("db1.internal,db2.internal"),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(passwords(&t), [None, Some(b"second".to_vec())]);
        let t = resolve(None, &with_hosts("same-a,same-b"), Timeouts::default()).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"same"[..]));
        assert_eq!(
            passwords(&t),
            [Some(b"same".to_vec()), Some(b"same".to_vec())],
            "one password for all: one attempt per host, each with it"
        );
        // Different passwords per host: each to its own host.
        let t = resolve(None, &with_hosts("x,y"), Timeouts::default()).unwrap();
        assert_eq!(passwords(&t), [Some(b"ex".to_vec()), Some(b"why".to_vec())]);
        let hosts: Vec<_> = t
            .attempts()
            .iter()
            .map(|a| a.config.get_hosts().to_vec())
            .collect();
        assert_eq!(
            hosts,
            [vec![Host::Tcp("x".into())], vec![Host::Tcp("y".into())]]
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Issue 18, finding 7: the marker refusal was a substring match, so
    /// the spellings the server reads as the same setting got through.
    /// Every spelling that sets a dot.* setting is refused; settings of
    /// other names, however spelled, pass.
    #[test]
    fn finding_7_every_spelling_of_a_dot_setting_in_the_options_is_refused() {
        for bad in DOT_SPELLINGS {
            assert!(refuse_dot_settings(bad).is_err(), "{bad}");
            let env = env_of(&[("PGUSER", "u"), ("PGOPTIONS", bad)]);
            assert!(resolve(None, &env, Timeouts::default()).is_err(), "{bad}");
        }
        for (options, names) in [
            ("-c work_mem=8MB", vec!["work_mem"]),
            (
                "--work-mem=8MB -c search\\_path=x",
                vec!["work_mem", "search_path"],
            ),
            ("-e -cstatement_timeout=5s", vec!["statement_timeout"]),
            ("-c dot_canonical_writer=x", vec!["dot_canonical_writer"]),
            ("-c my.dot.x=1", vec!["my.dot.x"]),
            ("  ", vec![]),
        ] {
            assert!(refuse_dot_settings(options).is_ok(), "{options}");
            let got: Vec<String> = startup_settings(options)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert_eq!(got, names, "{options}");
        }
        // What the server would refuse is refused, never guessed at.
        for odd in [
            "-c dot.other=x",
            "--Dot.Anything=1",
            "-c",
            "-c dot",
            "--x",
            "-Z",
            "plain",
            "-",
        ] {
            assert!(refuse_dot_settings(odd).is_err(), "{odd}");
        }
    }

    /// Issue 21: every libpq parameter the tool does not support is
    /// refused by name, wherever it is given; none is ignored, and none is
    /// "invalid connection string".
    #[test]
    fn every_unsupported_parameter_is_refused_by_name_wherever_it_is_given() {
        let base = env_of(&[("PGUSER", "u"), ("PGHOST", "/run/sock")]);
        for param in PARAMETERS {
            let Usage::Refused(_) = param.usage else {
                continue;
            };
            let name = param.name;
            for conn in [
                format!("host=/run/sock user=u {name}=1"),
                format!("postgresql://u@h/d?{name}=1"),
            ] {
                let err = resolve(Some(&conn), &base, Timeouts::default()).err();
                let err = err.unwrap_or_else(|| panic!("{conn} was accepted"));
                assert!(
                    err.starts_with(&format!(
                        "{name} (from the connection string) is not supported"
                    )),
                    "{conn}: {err}"
                );
                assert!(!err.contains("=1"), "the value is not repeated: {err}");
            }
            if let Some(var) = param.env {
                let env = env_of(&[("PGUSER", "u"), ("PGHOST", "/run/sock"), (var, "x")]);
                let err = resolve(None, &env, Timeouts::default()).err();
                let err = err.unwrap_or_else(|| panic!("{var} was ignored"));
                assert!(err.contains(name) && err.contains(var), "{var}: {err}");
            }
        }
        let err = resolve(Some("host=/x user=u tty=1"), &base, Timeouts::default())
            .err()
            .unwrap();
        assert!(
            err.contains("tty") && err.contains("not a libpq connection parameter"),
            "{err}"
        );
        let err = resolve(
            Some("postgresql://u@h/d?bogus=1"),
            &base,
            Timeouts::default(),
        )
        .err()
        .unwrap();
        assert!(err.contains("bogus"), "{err}");
        // Inert ones: the values that change nothing are accepted, others
        // refused by name.
        for ok in [
            "gssencmode=disable",
            "gssencmode=prefer",
            "client_encoding=UTF8",
            "client_encoding=utf-8",
            "sslcompression=0",
            "sslcompression=1",
        ] {
            resolve(
                Some(&format!("host=/x user=u {ok}")),
                &base,
                Timeouts::default(),
            )
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, says) in [
            (
                "gssencmode=require",
                "gssencmode=require (from the connection string) is not supported",
            ),
            ("client_encoding=LATIN1", "client_encoding=LATIN1"),
        ] {
            let err = resolve(
                Some(&format!("host=/x user=u {bad}")),
                &base,
                Timeouts::default(),
            )
            .err()
            .unwrap();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let env = env_of(&[("PGUSER", "u"), ("PGGSSENCMODE", "require")]);
        let err = resolve(None, &env, Timeouts::default()).err().unwrap();
        assert!(
            err.contains("gssencmode=require (from PGGSSENCMODE) is not supported"),
            "{err}"
        );
        assert!(resolve(
            None,
            &env_of(&[("PGUSER", "u"), ("PGGSSENCMODE", "prefer")]),
            Timeouts::default()
        )
        .is_ok());
    }

    /// Issue 21/20: the libpq variables of the supported parameters are
    /// read (PGCHANNELBINDING, PGTARGETSESSIONATTRS, PGSSLCERT, PGSSLKEY,
    /// PGPORT lists, ...); PGSSLPASSWORD is not one of them.
    #[test]
    fn every_libpq_variable_of_a_supported_parameter_is_read() {
        let env = env_of(&[
            ("PGUSER", "u"),
            ("PGHOST", "a,b"),
            ("PGPORT", "5433,5434"),
            ("PGCHANNELBINDING", "require"),
            ("PGTARGETSESSIONATTRS", "prefer-standby"),
            ("PGSSLCERT", "/c.crt"),
            ("PGSSLKEY", "/c.key"),
            ("PGSSLPASSWORD", "not-libpq"),
            ("PGSSLSNI", "0"),
            ("PGSSLMINPROTOCOLVERSION", "TLSv1.3"),
        ]);
        let t = resolve(None, &env, Timeouts::default()).unwrap();
        assert_eq!(t.config.get_ports(), &[5433, 5434]);
        assert_eq!(
            t.config.get_channel_binding(),
            postgres::config::ChannelBinding::Require
        );
        assert_eq!(t.session, SessionAttrs::PreferStandby);
        assert_eq!(t.client_cert.cert.as_deref(), Some("/c.crt"));
        assert_eq!(t.client_cert.key.as_deref(), Some("/c.key"));
        assert_eq!(t.client_cert.password, None, "libpq has no PGSSLPASSWORD");
        assert!(!t.tls_options.sni && !t.tls_options.tls12 && t.tls_options.tls13);
        let d = t.describe();
        assert!(
            d.contains("host a port 5433") && d.contains("host b port 5434"),
            "{d}"
        );
        let ports: Vec<_> = t
            .attempts()
            .iter()
            .map(|a| a.config.get_ports().to_vec())
            .collect();
        assert_eq!(ports, [vec![5433], vec![5434]]);
        // Three ports for two hosts: libpq's refusal.
        let env = env_of(&[("PGUSER", "u"), ("PGHOST", "a,b"), ("PGPORT", "1,2,3")]);
        assert!(resolve(None, &env, Timeouts::default())
            .err()
            .unwrap()
            .contains("3 port numbers to 2 hosts"));
        // The connection string wins over the variables.
        let env = env_of(&[
            ("PGUSER", "u"),
            ("PGTARGETSESSIONATTRS", "standby"),
            ("PGCHANNELBINDING", "require"),
        ]);
        let t = resolve(
            Some("host=x target_session_attrs=read-write channel_binding=disable"),
            &env,
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.session, SessionAttrs::ReadWrite);
        assert_eq!(
            t.config.get_channel_binding(),
            postgres::config::ChannelBinding::Disable
        );
    }

    #[test]
    fn target_session_attrs_all_six_in_strings_urls_services_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("dot-abs-tsa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pg_service.conf");
        let mut text = String::new();
        for v in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            text.push_str(&format!("[s-{v}]\nhost=h1,h2\ntarget_session_attrs={v}\n"));
        }
        std::fs::write(&file, text).unwrap();
        let path = file.display().to_string();
        for v in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            let want = SessionAttrs::parse(v).unwrap();
            let e = env_of(&[("PGUSER", "u")]);
            let from = [
                resolve(
                    Some(&format!("host=h target_session_attrs={v}")),
                    &e,
                    Timeouts::default(),
                ),
                resolve(
                    Some(&format!("postgresql://u@h1,h2/d?target_session_attrs={v}")),
                    &e,
                    Timeouts::default(),
                ),
                resolve(
                    None,
                    &env_of(&[("PGUSER", "u"), ("PGTARGETSESSIONATTRS", v)]),
                    Timeouts::default(),
                ),
                resolve(
                    None,
                    &env_of(&[
                        ("PGUSER", "u"),
                        ("PGSERVICEFILE", &path),
                        ("PGSERVICE", &format!("s-{v}")),
                    ]),
                    Timeouts::default(),
                ),
            ];
            for (i, t) in from.into_iter().enumerate() {
                assert_eq!(
                    t.unwrap_or_else(|e| panic!("{v} #{i}: {e}")).session,
                    want,
                    "{v} #{i}"
                );
            }
        }
        assert_eq!(
            SessionAttrs::PreferStandby.passes(),
            [SessionAttrs::Standby, SessionAttrs::Any]
        );
        assert!(resolve(
            Some("host=h target_session_attrs=master"),
            &env_of(&[("PGUSER", "u")]),
            Timeouts::default()
        )
        .is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Issue 21: a hostaddr alone is TCP to that address, never the
    /// default socket directory, and messages say so.
    #[test]
    fn hostaddr_alone_is_tcp_to_that_address_not_the_socket_directory() {
        let t = resolve(
            None,
            &env_of(&[("PGUSER", "u"), ("PGHOSTADDR", "127.0.0.1")]),
            Timeouts::default(),
        )
        .unwrap();
        assert!(t.config.get_hosts().is_empty());
        let d = t.describe();
        assert!(
            d.contains("hostaddr 127.0.0.1 port 5432") && !d.contains("socket"),
            "{d}"
        );
        let a = &t.attempts()[0];
        assert!(a.hostaddr_only);
        assert_eq!(a.config.get_hosts(), &[Host::Tcp("127.0.0.1".into())]);
        let t = resolve(
            Some("hostaddr=127.0.0.2 user=u"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert!(
            t.describe().starts_with("hostaddr 127.0.0.2 port 5432"),
            "{}",
            t.describe()
        );
        // Quoted values and sslpassword in key=value form.
        let t = resolve(
            Some("host=h user=u sslcert='/a b/c.crt' sslpassword='it\\'s'"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.client_cert.cert.as_deref(), Some("/a b/c.crt"));
        assert_eq!(t.client_cert.password.as_deref(), Some("it's"));
        let t = resolve(
            Some("postgresql://u@h/d?sslcert=%2Fx%2Fc.crt&sslkey=/x/c.key"),
            &env_of(&[]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.client_cert.cert.as_deref(), Some("/x/c.crt"));
        assert_eq!(t.client_cert.key.as_deref(), Some("/x/c.key"));
    }

    #[test]
    fn passfile_and_home_as_libpq_finds_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dot-abs-passfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "h:*:*:u:from-passfile\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let conn = format!("host=h user=u passfile={}", file.display());
        let t = resolve(Some(&conn), &env_of(&[]), Timeouts::default()).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"from-passfile"[..]));
        let path = file.display().to_string();
        let t = resolve(
            Some("host=h user=u"),
            &env_of(&[("PGPASSFILE", &path)]),
            Timeouts::default(),
        )
        .unwrap();
        assert_eq!(t.config.get_password(), Some(&b"from-passfile"[..]));
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(home_dir(&env_of(&[("HOME", "/h")])).as_deref(), Some("/h"));
        let fallback = home_dir(&env_of(&[("HOME", "")]));
        assert!(
            fallback.is_some_and(|h| h.starts_with('/')),
            "the passwd home"
        );
    }

    #[test]
    fn a_bad_port_is_refused_not_guessed() {
        let env = env_of(&[("PGPORT", "fifty")]);
        assert!(resolve(None, &env, Timeouts::default()).is_err());
    }
}
