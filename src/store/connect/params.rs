//! libpq's connection parameters: which are supported and where each may
//! come from (`PARAMETERS`), their values checked, and the two forms of a
//! connection string (URL and key=value) parsed as libpq parses them.
//! Text only: reads no file and no environment.

use super::*;

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

pub(crate) const fn p(name: &'static str, env: Option<&'static str>, usage: Usage) -> Parameter {
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
pub(crate) const LIBRARY_PARSES: &[&str] = &[
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

pub(crate) fn parameter(name: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.name == name)
}

/// Checks one parameter's value against what this tool does with it:
/// `Ok` for a supported one and for an inert one with a value that
/// changes nothing; an error naming the parameter otherwise. `origin`
/// says where it came from (the connection string, a service, a variable).
pub(crate) fn check_parameter(name: &str, value: &str, origin: &str) -> Result<(), String> {
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
pub(crate) struct Parsed {
    /// Every `key=value` of the string, decoded, in order.
    pub(crate) params: Vec<(String, String)>,
    /// The string rebuilt with only the `LIBRARY_PARSES` parameters.
    pub(crate) rest: String,
}

pub(crate) fn parse_connection_string(conn: &str) -> Result<Parsed, String> {
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

pub(crate) fn percent_decode(s: &str) -> Result<String, String> {
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
pub(crate) fn split_key_values(conn: &str) -> Result<Vec<(String, String)>, String> {
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

pub(crate) fn add_hosts(config: &mut Config, value: &str) {
    for h in value.split(',') {
        if h.starts_with('/') {
            config.host_path(h);
        } else {
            config.host(h);
        }
    }
}

pub(crate) fn add_ports(config: &mut Config, value: &str, what: &str) -> Result<(), String> {
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

pub(crate) fn add_hostaddrs(config: &mut Config, value: &str, what: &str) -> Result<(), String> {
    for a in value.split(',').filter(|a| !a.is_empty()) {
        config.hostaddr(
            a.trim()
                .parse()
                .map_err(|_| format!("{what} {a:?} is not a numeric IP address"))?,
        );
    }
    Ok(())
}
