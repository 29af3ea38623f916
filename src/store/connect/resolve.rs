//! `resolve_with`: one connection target from `--db-url`, `DATABASE_URL`,
//! a service, the libpq variables and their defaults, in libpq's order of
//! precedence. Reads the environment only through the function passed in.

use super::*;

/// Reads the environment through `env` (so tests can pass their own).
/// `connect_flag` is `--connect-timeout` when given: it wins over the URL's
/// `connect_timeout`, which wins over `PGCONNECT_TIMEOUT`, which wins over
/// `timeouts.connect` (libpq's order, with the flag on top).
/// `default_name` is the application_name when nothing else names one.
pub fn resolve(
    db_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    timeouts: Timeouts,
) -> Result<Target, String> {
    resolve_with(db_url, env, timeouts, None, APPLICATION_NAME)
}

pub fn resolve_with(
    db_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    mut timeouts: Timeouts,
    connect_flag: Option<Duration>,
    default_name: &str,
) -> Result<Target, String> {
    let url = db_url.map(str::to_owned).or_else(|| env("DATABASE_URL"));
    let (mut config, mut given) = from_connection_string(url.as_deref())?;
    apply_service(&mut config, &mut given, env)?;
    add_environment(&mut given, env)?;
    apply_keepalives(&mut config, &mut given)?;
    hosts_and_ports(&mut config, env)?;
    user_and_dbname(&mut config, env)?;
    let (tls_mode, roots, tls_options) = tls_settings(&mut config, &given, env)?;
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
    let host_passwords = passwords(&mut config, &given, env);
    timeouts.connect = connect_timeout(&config, &given, env, connect_flag, timeouts.connect)?;
    config.connect_timeout(timeouts.connect);
    application_name_and_options(&mut config, &given, env, default_name)?;
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

/// The parameters read here rather than by the client library, by name.
type Given = std::collections::BTreeMap<String, String>;

/// The connection string's own parameters: those the client library
/// reads stay in it; every other one is read here, by libpq's rules,
/// and checked against PARAMETERS (refused by name, never ignored).
fn from_connection_string(url: Option<&str>) -> Result<(Config, Given), String> {
    let parsed = match url {
        Some(u) => Some(parse_connection_string(u)?),
        None => None,
    };
    let mut given: Given = Default::default();
    if let Some(parsed) = &parsed {
        for (k, v) in &parsed.params {
            check_parameter(k, v, "the connection string")?;
            if !LIBRARY_PARSES.contains(&k.as_str()) {
                given.insert(k.clone(), v.clone());
            }
        }
    }
    let config = match &parsed {
        Some(p) => {
            Config::from_str(&p.rest).map_err(|e| format!("the database URL is not valid: {e}"))?
        }
        None => Config::new(),
    };
    Ok((config, given))
}

/// service=NAME in the connection string, else PGSERVICE: a section of
/// the service file whose parameters come after the connection string's
/// own and before the environment's (libpq's order).
fn apply_service(
    config: &mut Config,
    given: &mut Given,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
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
                "host" if config.get_hosts().is_empty() => add_hosts(config, value),
                "hostaddr" if config.get_hostaddrs().is_empty() => {
                    add_hostaddrs(config, value, &origin)?
                }
                "port" if config.get_ports().is_empty() => add_ports(config, value, &origin)?,
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
    Ok(())
}

/// The environment, for every parameter still unset (libpq's
/// conninfo_add_defaults); a variable of a refused parameter is refused.
fn add_environment(given: &mut Given, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
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
    Ok(())
}

/// The keepalives a service gave, keepalives_count and tcp_user_timeout.
fn apply_keepalives(config: &mut Config, given: &mut Given) -> Result<(), String> {
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
    Ok(())
}

/// Hosts: the string's or the service's, else PGHOST and PGHOSTADDR;
/// with neither, the default socket directory. A hostaddr alone is a
/// TCP connection to that address (libpq), never the socket directory.
/// Then the ports, and libpq's rule that the lists match.
fn hosts_and_ports(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        if let Some(hosts) = env("PGHOST").filter(|h| !h.is_empty()) {
            add_hosts(config, &hosts);
        }
    }
    if config.get_hostaddrs().is_empty() {
        if let Some(addrs) = env("PGHOSTADDR") {
            add_hostaddrs(config, &addrs, "PGHOSTADDR")?;
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        add_hosts(config, &default_socket_dir());
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT").filter(|p| !p.is_empty()) {
            add_ports(config, &p, "PGPORT")?;
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
    Ok(())
}

/// The user (PGUSER, else the operating-system user) and the database
/// (PGDATABASE, else the user's name), when the string names neither.
fn user_and_dbname(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
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
    Ok(())
}

/// sslmode: the string's, the service's, else PGSSLMODE (a URL must not
/// silently turn `require` into plaintext); likewise sslrootcert, then
/// ~/.postgresql/root.crt; sslsni, the protocol range, channel_binding.
fn tls_settings(
    config: &mut Config,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<
    (
        crate::store::tls::Mode,
        Option<crate::store::tls::Roots>,
        crate::store::tls::Options,
    ),
    String,
> {
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
    Ok((tls_mode, roots, tls_options))
}

/// A password given (URL, service, PGPASSWORD) goes to every host, as
/// in libpq; the password file's (passfile, else PGPASSFILE, else
/// ~/.pgpass) goes only to the host its line names: then one per host.
fn passwords(
    config: &mut Config,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Option<String>> {
    let mut host_passwords = Vec::new();
    if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        } else {
            let file = given
                .get("passfile")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
            let found = pgpass_passwords(config, file);
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
    host_passwords
}

/// The connect timeout: the flag, else the string's, else
/// PGCONNECT_TIMEOUT, else `default`.
fn connect_timeout(
    config: &Config,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
    connect_flag: Option<Duration>,
    default: Duration,
) -> Result<Duration, String> {
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
    Ok(connect_flag.or(from_url).or(from_env).unwrap_or(default))
}

/// application_name: the string's, else PGAPPNAME, else
/// fallback_application_name, else the tool and what it is doing
/// (pg_stat_activity then says which command holds a lock). Then options.
fn application_name_and_options(
    config: &mut Config,
    given: &Given,
    env: &dyn Fn(&str) -> Option<String>,
    default_name: &str,
) -> Result<(), String> {
    if config.get_application_name().is_none() {
        let name = env("PGAPPNAME")
            .or_else(|| given.get("fallback_application_name").cloned())
            .unwrap_or_else(|| default_name.to_owned());
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
    Ok(())
}

/// `config` with only its `i`th host (and that host's hostaddr and port):
/// every other setting as it is, no password. A hostaddr without a host
/// name is connected to as that address (and is the TLS server name).
pub(crate) fn one_host(config: &Config, i: usize) -> Config {
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
