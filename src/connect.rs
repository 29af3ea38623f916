//! Where to connect, the way psql decides it: `--db-url`, else
//! `DATABASE_URL`, else the libpq variables (PGHOST, PGPORT, PGUSER,
//! PGDATABASE, PGPASSWORD, PGPASSFILE, PGSSLMODE, PGCONNECT_TIMEOUT).
//! Also the timeouts every session runs under. A password is never printed:
//! `Target::describe` names host, port, user and database only.

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
            connect: Duration::from_secs(10),
            lock: Duration::from_secs(10),
            statement: Duration::from_secs(30),
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
    pub tls: crate::tls::Mode,
    pub roots: Option<crate::tls::Roots>,
    /// The password file's password for each host of a host list, when
    /// they differ (else the one password is in `config`): each is sent
    /// only to the host its line names, as libpq looks one up per host.
    host_passwords: Vec<Option<String>>,
    /// The schema of the governance tables: with pg_catalog before it and
    /// pg_temp after it, every transaction's whole search_path.
    pub schema: Schema,
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
    /// The connection attempts, in the order libpq makes them: the target
    /// itself, or, when the hosts of its list have passwords of their own,
    /// one target per host carrying only that host's password (and its
    /// port and hostaddr). The caller tries each until one connects, and
    /// stops at a login the server refused, as libpq does.
    pub fn attempts(&self) -> Vec<Target> {
        if self.host_passwords.is_empty() {
            return vec![self.clone()];
        }
        (0..self.config.get_hosts().len())
            .map(|i| {
                let mut config = one_host(&self.config, i);
                if let Some(Some(pw)) = self.host_passwords.get(i) {
                    config.password(pw.as_bytes());
                }
                Target {
                    config,
                    timeouts: self.timeouts,
                    tls: self.tls,
                    roots: self.roots.clone(),
                    host_passwords: Vec::new(),
                    schema: self.schema.clone(),
                }
            })
            .collect()
    }

    /// `host:port (user U, database D)`, for messages. No password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => format!("socket dir {}", path.display()),
            })
            .collect();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{} port {port} as user {} to database {}",
            hosts.join(","),
            self.config.get_user().unwrap_or("?"),
            self.config.get_dbname().unwrap_or("?")
        )
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

pub fn resolve_with(
    db_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    mut timeouts: Timeouts,
    connect_flag: Option<Duration>,
) -> Result<Target, String> {
    let url = db_url.map(str::to_owned).or_else(|| env("DATABASE_URL"));
    // service=NAME in the connection string, else PGSERVICE: a section of
    // the service file whose parameters come after the connection string's
    // own and before the environment's (libpq's order).
    let (url, url_service) = match url {
        Some(u) => {
            let (rest, service) = take_service(&u);
            (Some(rest), service)
        }
        None => (None, None),
    };
    let service = match url_service.or_else(|| env("PGSERVICE")) {
        Some(name) => Some(load_service(&name, env)?),
        None => None,
    };
    // sslmode and sslrootcert are read here, with libpq's meanings (the
    // client library knows neither verify-ca nor verify-full nor roots).
    let (parsed, url_sslmode, url_rootcert) = match url.as_deref() {
        Some(u) => {
            let (u, mode) = take_param(u, "sslmode");
            let (u, root) = take_param(&u, "sslrootcert");
            (Some(u), mode, root)
        }
        None => (None, None, None),
    };
    let mut tls_mode = url_sslmode
        .as_deref()
        .map(crate::tls::Mode::parse)
        .transpose()?;
    let mut roots = url_rootcert.map(|r| roots_of(&r));
    let url_has_sslmode = tls_mode.is_some();
    let mut config = match &parsed {
        Some(u) => {
            Config::from_str(u).map_err(|e| format!("the database URL is not valid: {e}"))?
        }
        None => Config::new(),
    };
    let _ = url_has_sslmode;
    if let Some((name, params)) = &service {
        for (key, value) in params {
            let bad = |what: &str| format!("service {name:?}: {key}={value:?} {what}");
            match key.as_str() {
                "host" if config.get_hosts().is_empty() => {
                    for h in value.split(',') {
                        if h.starts_with('/') {
                            config.host_path(h);
                        } else {
                            config.host(h);
                        }
                    }
                }
                "hostaddr" if config.get_hostaddrs().is_empty() => {
                    for a in value.split(',') {
                        config.hostaddr(
                            a.trim()
                                .parse()
                                .map_err(|_| bad("is not a numeric IP address"))?,
                        );
                    }
                }
                "port" if config.get_ports().is_empty() => {
                    config.port(value.parse().map_err(|_| bad("is not a port number"))?);
                }
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
                "sslmode" if tls_mode.is_none() => {
                    tls_mode = Some(
                        crate::tls::Mode::parse(value)
                            .map_err(|_| bad("is not a known sslmode"))?,
                    );
                }
                "sslrootcert" if roots.is_none() => {
                    roots = Some(roots_of(value));
                }
                "sslmode" | "sslrootcert" => {}
                "host" | "hostaddr" | "port" | "dbname" | "user" | "password"
                | "application_name" | "options" | "connect_timeout" => {} // the connection string's wins
                _ => return Err(bad("is a parameter this tool does not support")),
            }
        }
    }
    if config.get_hosts().is_empty() {
        let hosts = env("PGHOST").unwrap_or_else(default_socket_dir);
        for h in hosts.split(',') {
            if h.starts_with('/') {
                config.host_path(h);
            } else {
                config.host(h);
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT") {
            config.port(
                p.parse()
                    .map_err(|_| format!("PGPORT {p:?} is not a port number"))?,
            );
        }
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
    // PGSSLMODE applies whenever the URL (or service) does not name an
    // sslmode (psql does the same): a URL must not silently turn `require`
    // into plaintext. Likewise PGSSLROOTCERT, then ~/.postgresql/root.crt.
    if tls_mode.is_none() {
        if let Some(mode) = env("PGSSLMODE") {
            tls_mode = Some(crate::tls::Mode::parse(&mode).map_err(|e| format!("PGSSLMODE: {e}"))?);
        }
    }
    if roots.is_none() {
        roots = env("PGSSLROOTCERT")
            .map(|r| roots_of(&r))
            .or_else(|| crate::tls::default_roots(env("HOME").as_deref()));
    }
    let tls_mode = tls_mode.unwrap_or(crate::tls::Mode::Prefer);
    if matches!(
        tls_mode,
        crate::tls::Mode::VerifyCa | crate::tls::Mode::VerifyFull
    ) && roots.is_none()
    {
        return Err(
            "sslmode verify-ca and verify-full need a root certificate: sslrootcert=FILE or system \
             (or PGSSLROOTCERT, or ~/.postgresql/root.crt)"
                .into(),
        );
    }
    config.ssl_mode(match tls_mode {
        crate::tls::Mode::Disable => SslMode::Disable,
        crate::tls::Mode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    // A password given (URL, service, PGPASSWORD) goes to every host, as
    // in libpq; the password file's goes only to the host its line names.
    let mut host_passwords = Vec::new();
    if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        } else {
            let found = pgpass_passwords(&config, env);
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
    let from_env = match env("PGCONNECT_TIMEOUT") {
        None => None,
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if (1..=86_400).contains(&n) => Some(Duration::from_secs(n)),
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
        .filter(|d| !d.is_zero());
    timeouts.connect = connect_flag
        .or(from_url)
        .or(from_env)
        .unwrap_or(timeouts.connect);
    config.connect_timeout(timeouts.connect);
    // application_name: the URL's, else PGAPPNAME, else the tool and what
    // it is doing (pg_stat_activity then says which command holds a lock).
    if config.get_application_name().is_none() {
        let name = env("PGAPPNAME").unwrap_or_else(default_application_name);
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
    // PGHOSTADDR: numeric addresses used instead of resolving PGHOST.
    if config.get_hostaddrs().is_empty() {
        if let Some(addrs) = env("PGHOSTADDR") {
            for a in addrs.split(',').filter(|a| !a.is_empty()) {
                let ip = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("PGHOSTADDR {a:?} is not a numeric IP address"))?;
                config.hostaddr(ip);
            }
        }
    }
    Ok(Target {
        config,
        timeouts,
        tls: tls_mode,
        roots,
        host_passwords,
        schema: Schema::default(),
    })
}

/// `config` with only its `i`th host (and that host's hostaddr and port):
/// every other setting as it is, no password.
fn one_host(config: &Config, i: usize) -> Config {
    let mut one = Config::new();
    match &config.get_hosts()[i] {
        Host::Tcp(name) => one.host(name),
        Host::Unix(path) => one.host_path(path),
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

fn roots_of(value: &str) -> crate::tls::Roots {
    if value == "system" {
        crate::tls::Roots::System
    } else {
        crate::tls::Roots::File(PathBuf::from(value))
    }
}

/// Splits `service=NAME` out of a URL's query or a key=value string.
fn take_service(conn: &str) -> (String, Option<String>) {
    take_param(conn, "service")
}

/// Splits `key=VALUE` out of a URL's query or a key=value string (for the
/// parameters the client library does not parse itself).
fn take_param(conn: &str, key: &str) -> (String, Option<String>) {
    let prefix = format!("{key}=");
    let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
    if is_url {
        let Some((base, query)) = conn.split_once('?') else {
            return (conn.to_owned(), None);
        };
        let mut service = None;
        let rest: Vec<&str> = query
            .split('&')
            .filter(|kv| match kv.strip_prefix(prefix.as_str()) {
                Some(v) => {
                    service = Some(v.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        let rebuilt = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        return (rebuilt, service);
    }
    let mut service = None;
    let rest: Vec<&str> = conn
        .split_whitespace()
        .filter(|kv| match kv.strip_prefix(prefix.as_str()) {
            Some(v) => {
                service = Some(v.trim_matches('\'').to_owned());
                false
            }
            None => true,
        })
        .collect();
    (rest.join(" "), service)
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
    let bytes = crate::manifest::read_regular(path, 1 << 20).ok()?;
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

/// The operating-system user running this process, by uid (as libpq's
/// getpwuid), from /etc/passwd.
pub fn os_user() -> Option<String> {
    crate::evidence::os_user().0
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
fn pgpass_passwords(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let none = vec![None; config.get_hosts().len()];
    let Some(path) = env("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")))
    else {
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
    // when it is the default directory.
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or(ports.first())
                .copied()
                .unwrap_or(5432)
                .to_string();
            let names: Vec<String> = match host {
                Host::Tcp(h) => vec![h.clone()],
                Host::Unix(p) => {
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
        assert_eq!(t.tls, crate::tls::Mode::VerifyFull);
        assert_eq!(t.roots, Some(crate::tls::Roots::System));
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
        assert_eq!(t.roots, Some(crate::tls::Roots::File("/etc/ca.pem".into())));
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
             sslmode=disable\n\n[other]\nhost=elsewhere\n[odd]\nsslcert=/x\n",
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
        assert!(resolve(None, &odd, Timeouts::default())
            .err()
            .unwrap()
            .contains("does not support"));
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
        assert_eq!(t.attempts().len(), 1, "one password for all: one attempt");
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

    #[test]
    fn a_bad_port_is_refused_not_guessed() {
        let env = env_of(&[("PGPORT", "fifty")]);
        assert!(resolve(None, &env, Timeouts::default()).is_err());
    }
}
