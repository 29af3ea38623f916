//! Connecting like psql (issues 20 and 21): each row is a setting given to
//! the tool and to the real psql 15 with the same environment, against the
//! same disposable clusters: a TLS cluster (server certificate from a
//! throwaway CA, client certificates trusted, `cert` and `scram-sha-256`
//! databases, plaintext TCP refused), a primary and its streaming standby
//! (pg_basebackup -R). Each side's outcome is measured, not assumed: which
//! server logged the session (`log_connections`, a unique
//! application_name per run) and whether it was TLS ("SSL enabled" in the
//! same line). The rows where the two differ must be the tool refusing by
//! name; the README's parity table is this test's output, verbatim.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::disposable::pgtemp::{loopback_address, Cluster};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROLE: &str = "dot_authorize_build_step";
const PASSWORD: &str = "parity-pass-1";
const KEY_PASSWORD: &str = "key pass 2";

fn psql() -> PathBuf {
    let p = PathBuf::from("/usr/lib/postgresql/15/bin/psql");
    if p.is_file() {
        return p;
    }
    dot_authorize_build_step::disposable::pgtemp::find_bindir()
        .map(|d| d.join("psql"))
        .filter(|p| p.is_file())
        .expect("a psql beside the server")
}

struct Files {
    dir: PathBuf,
    ca: String,
    other_ca: String,
    client_crt: String,
    client_key: String,
    loose_key: String,
    encrypted_key: String,
    legacy_key: String,
    stranger_crt: String,
    stranger_key: String,
    home: String,
    home_with_cert: String,
    service: String,
}

fn write(path: &Path, text: &str, mode: u32) -> String {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

fn openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// The CA, the server's certificate for `addr`, a client certificate for
/// ROLE (plain, group-readable, PKCS#8-encrypted, legacy-encrypted copies of
/// its key), one from an unrelated CA, and two HOME directories (one with
/// ~/.postgresql/postgresql.crt and .key).
fn pki(addr: &str) -> (Files, String, String, String) {
    let dir = std::env::temp_dir().join(format!("dot-abs-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("dot-abs parity CA");
    let (other_pem, other_issuer) = ca("dot-abs unrelated CA");
    let leaf = |names: Vec<String>, cn: &str, by: &Issuer<'_, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, by).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_crt, server_key) = leaf(vec![addr.to_owned()], addr, &issuer);
    let (client_crt, client_key) = leaf(vec![], ROLE, &issuer);
    let (stranger_crt, stranger_key) = leaf(vec![], ROLE, &other_issuer);
    let f = |n: &str| dir.join(n);
    let client_key_path = write(&f("client.key"), &client_key, 0o600);
    let encrypted = f("client-pkcs8-encrypted.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &client_key_path,
        "-out",
        encrypted.to_str().unwrap(),
        "-passout",
        &format!("pass:{KEY_PASSWORD}"),
    ]);
    std::fs::set_permissions(&encrypted, std::fs::Permissions::from_mode(0o600)).unwrap();
    let legacy = f("client-legacy-encrypted.key");
    openssl(&[
        "ec",
        "-aes256",
        "-in",
        &client_key_path,
        "-out",
        legacy.to_str().unwrap(),
        "-passout",
        &format!("pass:{KEY_PASSWORD}"),
    ]);
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(std::fs::read_to_string(&legacy)
        .unwrap()
        .contains("Proc-Type: 4,ENCRYPTED"));
    let home = f("home");
    std::fs::create_dir_all(&home).unwrap();
    let home_with_cert = f("home-with-cert");
    std::fs::create_dir_all(home_with_cert.join(".postgresql")).unwrap();
    write(
        &home_with_cert.join(".postgresql/postgresql.crt"),
        &client_crt,
        0o644,
    );
    write(
        &home_with_cert.join(".postgresql/postgresql.key"),
        &client_key,
        0o600,
    );
    let files = Files {
        ca: write(&f("ca.pem"), &ca_pem, 0o644),
        other_ca: write(&f("other-ca.pem"), &other_pem, 0o644),
        client_crt: write(&f("client.crt"), &client_crt, 0o644),
        client_key: client_key_path,
        loose_key: write(&f("client-loose.key"), &client_key, 0o644),
        encrypted_key: encrypted.display().to_string(),
        legacy_key: legacy.display().to_string(),
        stranger_crt: write(&f("stranger.crt"), &stranger_crt, 0o644),
        stranger_key: write(&f("stranger.key"), &stranger_key, 0o600),
        home: home.display().to_string(),
        home_with_cert: home_with_cert.display().to_string(),
        service: f("pg_service.conf").display().to_string(),
        dir,
    };
    (files, server_crt, server_key, ca_pem)
}

/// What a run did: refused, or connected to which server, with or
/// without TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Connected { server: &'static str, tls: bool },
    Refused(String),
}

impl Outcome {
    fn cell(&self) -> String {
        match self {
            Outcome::Connected { server, tls } => format!(
                "connects to the {server}, {}",
                if *tls { "TLS" } else { "no TLS" }
            ),
            Outcome::Refused(why) if why.is_empty() => "refused".into(),
            Outcome::Refused(why) => format!("refused (`{why}`)"),
        }
    }
}

struct Servers<'a> {
    named: Vec<(&'static str, &'a Cluster)>,
}

impl Servers<'_> {
    /// Which server ran the session named `app` (the one whose log shows
    /// `statement` from it: a host rejected for target_session_attrs saw
    /// the session too, but not that statement), and whether over TLS.
    fn find(&self, app: &str, statement: &str) -> Option<(&'static str, bool)> {
        let prefix = format!("[{app}] ");
        for (name, cluster) in &self.named {
            let log = std::fs::read_to_string(cluster.log_path()).unwrap_or_default();
            let mine: Vec<&str> = log.lines().filter(|l| l.starts_with(&prefix)).collect();
            if mine
                .iter()
                .any(|l| l.contains(&format!("statement: {statement}")))
            {
                // The authorization line is logged before the session's
                // application_name is in the prefix, but names it.
                let named = format!("application_name={app} ");
                let tls = log.lines().any(|l| {
                    l.contains("connection authorized")
                        && (l.contains(&named) || l.ends_with(&named[..named.len() - 1]))
                        && l.contains("SSL enabled")
                });
                return Some((name, tls));
            }
        }
        None
    }
}

type Env = Vec<(&'static str, String)>;

/// Not a variable: the connection string itself (psql's `-d`, the tool's
/// `--db-url`).
const CONNSTR: &str = "connection string";

struct Row {
    what: String,
    env: Env,
    /// What psql does (asserted), and what the tool does (asserted).
    psql: Expect,
    tool: Expect,
}

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Connects to this server, with or without TLS.
    To(&'static str, bool),
    /// Refused (for the tool: with this code; "usage" for a usage error).
    No(&'static str),
}

fn measure_psql(env: &Env, app: &str, servers: &Servers<'_>) -> Outcome {
    let mut cmd = std::process::Command::new(psql());
    cmd.args(["-X", "-q", "-w", "-c", "SELECT 1"])
        .env_clear()
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        if *k == CONNSTR {
            cmd.args(["-d", v]);
        } else {
            cmd.env(k, v);
        }
    }
    cmd.env("PGAPPNAME", app);
    let out = run_bounded(&mut cmd, Duration::from_secs(30));
    if out.exit() != 0 {
        return Outcome::Refused(String::new());
    }
    let (server, tls) = servers
        .find(app, "SELECT 1")
        .unwrap_or_else(|| panic!("psql connected but no server logged {app}"));
    Outcome::Connected { server, tls }
}

fn measure_tool(env: &Env, app: &str, servers: &Servers<'_>, keys: &TempKeys) -> (Outcome, Run) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["readback", "--apr", "APR-NOBODY", "--json"])
        .env_clear();
    keys.apply(&mut cmd);
    for (k, v) in env {
        if *k == CONNSTR {
            cmd.args(["--db-url", v]);
        } else {
            cmd.env(k, v);
        }
    }
    cmd.env("PGAPPNAME", app);
    let run = run_bounded(&mut cmd, Duration::from_secs(30));
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&run.output.stdout).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    let outcome = match code.as_deref() {
        Some("REJECT_APR_NOT_FOUND") => {
            let (server, tls) = servers
                .find(app, "BEGIN")
                .unwrap_or_else(|| panic!("the tool connected but no server logged {app}\n{run}"));
            Outcome::Connected { server, tls }
        }
        Some(code) => Outcome::Refused(code.to_owned()),
        None if run.exit() == 2 => Outcome::Refused("USAGE".into()),
        None => panic!("no verdict and not a usage error\n{run}"),
    };
    (outcome, run)
}

fn expected(e: Expect) -> Outcome {
    match e {
        Expect::To(server, tls) => Outcome::Connected { server, tls },
        Expect::No(code) => Outcome::Refused(code.to_owned()),
    }
}

/// A listener on 127.0.0.1 that accepts and never answers.
fn silent_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// A URL component: every `/` and other reserved byte %-escaped.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn log_connections(cluster: &Cluster) {
    let mut c = cluster.connect("postgres", "postgres").unwrap();
    for setting in [
        "log_connections = on",
        "log_statement = 'all'",
        "log_line_prefix = '[%a] '",
    ] {
        c.batch_execute(&format!("ALTER SYSTEM SET {setting}"))
            .unwrap();
    }
    c.query("SELECT pg_reload_conf()", &[]).unwrap();
    // The reload is asynchronous: wait until a new session has the settings.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut fresh = cluster.connect("postgres", "postgres").unwrap();
        let row = fresh.query_one("SHOW log_line_prefix", &[]).unwrap();
        if row.get::<_, String>(0) == "[%a] " {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not reload its settings: {:?}",
            row.get::<_, String>(0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_connection_setting_behaves_as_psql_15_does_and_the_readme_table_is_current() {
    let addr = loopback_address();
    let a = addr.to_string();
    let (files, server_crt, server_key, ca_pem) = pki(&a);
    let hba = "hostssl gov_cert all 127.0.0.0/8 cert\n\
               hostssl gov_pw all 127.0.0.0/8 scram-sha-256\n\
               hostssl all all 127.0.0.0/8 trust\n\
               hostnossl all all 127.0.0.0/8 reject";
    let tls = Cluster::start_with_tls_auth(&server_crt, &server_key, addr, &ca_pem, hba)
        .unwrap_or_else(|e| panic!("cannot start the TLS cluster: {e}"));
    let scripts = [
        fixtures::SCHEMA_SQL,
        fixtures::HARDEN_SQL,
        fixtures::APPROVALS_BOUND_SQL,
        fixtures::HANDLER_ROLE_SQL,
        fixtures::REVIEWER_ROLE_SQL,
    ];
    tls.create_database(TEMPLATE_DB, &scripts).unwrap();
    tls.clone_database(TEMPLATE_DB, "gov_cert").unwrap();
    tls.clone_database(TEMPLATE_DB, "gov_pw").unwrap();
    {
        let mut c = tls.connect("postgres", "postgres").unwrap();
        c.batch_execute(&format!("ALTER ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"))
            .unwrap();
    }
    log_connections(&tls);
    let primary = fixtures::governance_cluster().unwrap();
    log_connections(&primary);
    let standby = primary
        .start_standby()
        .unwrap_or_else(|e| panic!("cannot start the standby: {e}"));
    let servers = Servers {
        named: vec![
            ("TLS server", &tls),
            ("primary", &primary),
            ("standby", &standby),
        ],
    };
    let sock = tls.socket_dir().display().to_string();
    let p_sock = primary.socket_dir().display().to_string();
    let s_sock = standby.socket_dir().display().to_string();
    std::fs::write(
        &files.service,
        format!(
            "[gov-tls]\nhost={a}\nport=5432\ndbname={TEMPLATE_DB}\nuser={ROLE}\nsslmode=verify-full\nsslrootcert={ca}\n\
             [gov-cert]\nhost={a}\ndbname=gov_cert\nuser={ROLE}\nsslcert={crt}\nsslkey={enc}\nsslpassword={KEY_PASSWORD}\n\
             [gov-cert-wrong]\nhost={a}\ndbname=gov_cert\nuser={ROLE}\nsslcert={crt}\nsslkey={enc}\nsslpassword=wrong\n\
             [gov-cert-legacy]\nhost={a}\ndbname=gov_cert\nuser={ROLE}\nsslcert={crt}\nsslkey={legacy}\nsslpassword={KEY_PASSWORD}\n\
             [gov-primary]\nhost={s_sock},{p_sock}\ndbname={TEMPLATE_DB}\nuser={ROLE}\ntarget_session_attrs=primary\n\
             [gov-socket]\nhost={sock}\nport=5432\ndbname={TEMPLATE_DB}\nuser={ROLE}\n",
            ca = files.ca,
            crt = files.client_crt,
            enc = files.encrypted_key,
            legacy = files.legacy_key,
        ),
    )
    .unwrap();
    let base = |host: &str, db: &str| -> Env {
        vec![
            ("HOME", files.home.clone()),
            ("PGHOST", host.to_owned()),
            ("PGPORT", "5432".into()),
            ("PGUSER", ROLE.into()),
            ("PGDATABASE", db.to_owned()),
        ]
    };
    let with = |mut v: Env, extra: &[(&'static str, &str)]| -> Env {
        for (k, val) in extra {
            v.retain(|(key, _)| key != k);
            if !val.is_empty() {
                v.push((k, val.to_string()));
            } else {
                v.retain(|(key, _)| key != k);
            }
        }
        v
    };
    let tcp = || base(&a, TEMPLATE_DB);
    let socket = || base(&sock, TEMPLATE_DB);
    let cert_db = || base(&a, "gov_cert");
    let pw_db = || base(&a, "gov_pw");
    let pair = || base(&format!("{s_sock},{p_sock}"), TEMPLATE_DB);
    let silent = silent_listener();
    let silent_first = with(
        base(&format!("127.0.0.1,{p_sock}"), TEMPLATE_DB),
        &[
            ("PGPORT", &format!("{silent},5432")),
            ("PGCONNECT_TIMEOUT", "2"),
            ("PGSSLMODE", "disable"),
        ],
    );
    use Expect::{No, To};
    const TLS: &str = "TLS server";
    let row = |what: &str, env: Env, psql: Expect, tool: Expect| Row {
        what: what.to_owned(),
        env,
        psql,
        tool,
    };
    let rows = vec![
        row(
            "Unix socket, no sslmode",
            socket(),
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "Unix socket, `sslmode=require` (libpq: no TLS on sockets)",
            with(socket(), &[("PGSSLMODE", "require")]),
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "Unix socket, `sslmode=verify-full`, no root certificate",
            with(socket(), &[("PGSSLMODE", "verify-full")]),
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "TCP, `sslmode=prefer` (default)",
            tcp(),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "TCP, `sslmode=allow` (server refuses plaintext)",
            with(tcp(), &[("PGSSLMODE", "allow")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "TCP, `sslmode=require`",
            with(tcp(), &[("PGSSLMODE", "require")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "TCP, `sslmode=disable` (server wants TLS)",
            with(tcp(), &[("PGSSLMODE", "disable")]),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`verify-full`, the server's CA",
            with(
                tcp(),
                &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &files.ca)],
            ),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`verify-ca`, another CA",
            with(
                tcp(),
                &[
                    ("PGSSLMODE", "verify-ca"),
                    ("PGSSLROOTCERT", &files.other_ca),
                ],
            ),
            No(""),
            No("ERROR_DB_TLS"),
        ),
        row(
            "`verify-full`, a name the certificate does not hold (`PGHOST=localhost PGHOSTADDR=`…)",
            with(
                tcp(),
                &[
                    ("PGHOST", "localhost"),
                    ("PGHOSTADDR", &a),
                    ("PGSSLMODE", "verify-full"),
                    ("PGSSLROOTCERT", &files.ca),
                ],
            ),
            No(""),
            No("ERROR_DB_TLS"),
        ),
        row(
            "`PGHOSTADDR` alone, `sslmode=prefer`",
            with(tcp(), &[("PGHOST", ""), ("PGHOSTADDR", &a)]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGHOSTADDR` alone, `sslmode=require`",
            with(
                tcp(),
                &[("PGHOST", ""), ("PGHOSTADDR", &a), ("PGSSLMODE", "require")],
            ),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGHOSTADDR` alone, `verify-ca`",
            with(
                tcp(),
                &[
                    ("PGHOST", ""),
                    ("PGHOSTADDR", &a),
                    ("PGSSLMODE", "verify-ca"),
                    ("PGSSLROOTCERT", &files.ca),
                ],
            ),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`cert` login, `PGSSLCERT` and `PGSSLKEY`",
            with(
                cert_db(),
                &[
                    ("PGSSLCERT", &files.client_crt),
                    ("PGSSLKEY", &files.client_key),
                ],
            ),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`cert` login, `~/.postgresql/postgresql.crt` and `.key`",
            with(cert_db(), &[("HOME", &files.home_with_cert)]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`cert` login, a service with `sslcert`, an encrypted PKCS#8 `sslkey`, `sslpassword`",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-cert".into()),
            ],
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`cert` login, a service with an encrypted `sslkey` and a wrong `sslpassword`",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-cert-wrong".into()),
            ],
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`cert` login, no client certificate",
            cert_db(),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`cert` login, a certificate of another CA",
            with(
                cert_db(),
                &[
                    ("PGSSLCERT", &files.stranger_crt),
                    ("PGSSLKEY", &files.stranger_key),
                ],
            ),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`cert` login, key file mode 0644",
            with(
                cert_db(),
                &[
                    ("PGSSLCERT", &files.client_crt),
                    ("PGSSLKEY", &files.loose_key),
                ],
            ),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`scram-sha-256` login, `PGPASSWORD`",
            with(pw_db(), &[("PGPASSWORD", PASSWORD)]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`scram-sha-256` login, no password",
            pw_db(),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`scram-sha-256` login, a wrong password",
            with(pw_db(), &[("PGPASSWORD", "wrong")]),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`PGCHANNELBINDING=require`, SCRAM over TLS",
            with(
                pw_db(),
                &[("PGPASSWORD", PASSWORD), ("PGCHANNELBINDING", "require")],
            ),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGCHANNELBINDING=require`, `trust` (no SCRAM)",
            with(socket(), &[("PGCHANNELBINDING", "require")]),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`PGGSSENCMODE=disable`",
            with(tcp(), &[("PGGSSENCMODE", "disable")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGGSSENCMODE=prefer` (no Kerberos credentials here)",
            with(tcp(), &[("PGGSSENCMODE", "prefer")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGGSSENCMODE=require`",
            with(tcp(), &[("PGGSSENCMODE", "require")]),
            No(""),
            No("USAGE"),
        ),
        row(
            "`PGSSLSNI=0`",
            with(tcp(), &[("PGSSLSNI", "0")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGSSLMINPROTOCOLVERSION=TLSv1.3`",
            with(tcp(), &[("PGSSLMINPROTOCOLVERSION", "TLSv1.3")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGSSLMAXPROTOCOLVERSION=TLSv1.2`",
            with(tcp(), &[("PGSSLMAXPROTOCOLVERSION", "TLSv1.2")]),
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGCLIENTENCODING=UTF8`",
            with(socket(), &[("PGCLIENTENCODING", "UTF8")]),
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "`PGOPTIONS=-c work_mem=8MB`",
            with(socket(), &[("PGOPTIONS", "-c work_mem=8MB")]),
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "a role that does not exist",
            with(socket(), &[("PGUSER", "nobody_here")]),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "`PGSERVICE`, `verify-full` over TCP",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-tls".into()),
            ],
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "`PGSERVICE`, the socket",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-socket".into()),
            ],
            To(TLS, false),
            To(TLS, false),
        ),
        row(
            "`PGSERVICE` not defined",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "nope".into()),
            ],
            No(""),
            No("USAGE"),
        ),
        row(
            "`PGPORT=p1,p2`, a host list (`/nonexistent` first)",
            with(
                base(&format!("/nonexistent,{p_sock}"), TEMPLATE_DB),
                &[("PGPORT", "5999,5432")],
            ),
            To("primary", false),
            To("primary", false),
        ),
        row(
            "`PGCONNECT_TIMEOUT=2`, the first host accepts TCP and never answers",
            silent_first,
            To("primary", false),
            To("primary", false),
        ),
        row(
            "standby listed first, no `target_session_attrs`",
            pair(),
            To("standby", false),
            To("standby", false),
        ),
    ]
    .into_iter()
    .chain(
        [
            ("read-write", "primary"),
            ("read-only", "standby"),
            ("primary", "primary"),
            ("standby", "standby"),
            ("prefer-standby", "standby"),
            ("any", "standby"),
        ]
        .into_iter()
        .map(|(attrs, lands)| {
            row(
                &format!("standby first, `PGTARGETSESSIONATTRS={attrs}`"),
                with(pair(), &[("PGTARGETSESSIONATTRS", attrs)]),
                To(lands, false),
                To(lands, false),
            )
        }),
    )
    .chain([
        row(
            "primary alone, `PGTARGETSESSIONATTRS=prefer-standby` (second pass)",
            with(
                base(&p_sock, TEMPLATE_DB),
                &[("PGTARGETSESSIONATTRS", "prefer-standby")],
            ),
            To("primary", false),
            To("primary", false),
        ),
        row(
            "standby alone, `PGTARGETSESSIONATTRS=primary`",
            with(
                base(&s_sock, TEMPLATE_DB),
                &[("PGTARGETSESSIONATTRS", "primary")],
            ),
            No(""),
            No("ERROR_DB_UNREACHABLE"),
        ),
        row(
            "a service with `target_session_attrs=primary`, standby first",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-primary".into()),
            ],
            To("primary", false),
            To("primary", false),
        ),
        row(
            "host list, the first refuses the login (pg_hba), the primary second",
            with(
                base(&format!("{a},{p_sock}"), TEMPLATE_DB),
                &[("PGSSLMODE", "disable")],
            ),
            No(""),
            No("ERROR_DB_AUTH"),
        ),
        row(
            "host list, the first fails TLS verification (`verify-ca`, another CA), the primary second",
            with(
                base(&format!("{a},{p_sock}"), TEMPLATE_DB),
                &[("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", &files.other_ca)],
            ),
            No(""),
            No("ERROR_DB_TLS"),
        ),
        row(
            "a URL, a host list of sockets, `?target_session_attrs=primary`",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!("postgresql://{ROLE}@{},{}/{TEMPLATE_DB}?target_session_attrs=primary", enc(&s_sock), enc(&p_sock))),
            ],
            To("primary", false),
            To("primary", false),
        ),
        row(
            "a `key=value` string, `target_session_attrs=standby`, primary first",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!("host={p_sock},{s_sock} dbname={TEMPLATE_DB} user={ROLE} target_session_attrs=standby")),
            ],
            To("standby", false),
            To("standby", false),
        ),
        row(
            "a URL with `sslcert`, `sslkey` and `sslmode=verify-full`",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!(
                    "postgresql://{ROLE}@{a}/gov_cert?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
                    enc(&files.ca), enc(&files.client_crt), enc(&files.client_key)
                )),
            ],
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "a `key=value` string, `hostaddr=` alone, `sslmode=require`",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!("hostaddr={a} dbname={TEMPLATE_DB} user={ROLE} sslmode=require")),
            ],
            To(TLS, true),
            To(TLS, true),
        ),
        row(
            "a `key=value` string, `gssencmode=require`",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!("host={a} dbname={TEMPLATE_DB} user={ROLE} gssencmode=require")),
            ],
            No(""),
            No("USAGE"),
        ),
        // Refused by name: the only rows allowed to differ from psql.
        row(
            "a `key=value` string, `sslcrl=`…",
            vec![
                ("HOME", files.home.clone()),
                (CONNSTR, format!("host={a} dbname={TEMPLATE_DB} user={ROLE} sslcrl={}/none.crl", files.dir.display())),
            ],
            To(TLS, true),
            No("USAGE"),
        ),
        row(
            "`PGKRBSRVNAME=postgres` (Kerberos)",
            with(socket(), &[("PGKRBSRVNAME", "postgres")]),
            To(TLS, false),
            No("USAGE"),
        ),
        row(
            "`PGREQUIRESSL=1` (deprecated)",
            with(tcp(), &[("PGREQUIRESSL", "1")]),
            To(TLS, true),
            No("USAGE"),
        ),
        row(
            "`PGCLIENTENCODING=LATIN1`",
            with(socket(), &[("PGCLIENTENCODING", "LATIN1")]),
            To(TLS, false),
            No("USAGE"),
        ),
        row(
            "`cert` login, a legacy-encrypted key (`Proc-Type: 4,ENCRYPTED`)",
            vec![
                ("HOME", files.home.clone()),
                ("PGSERVICEFILE", files.service.clone()),
                ("PGSERVICE", "gov-cert-legacy".into()),
            ],
            To(TLS, true),
            No("ERROR_DB_AUTH"),
        ),
    ])
    .collect::<Vec<_>>();
    let keys = TempKeys::new();
    let mut table = String::from("| setting | psql 15 | this tool |\n|---|---|---|\n");
    let mut wrong = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        let started = Instant::now();
        let theirs = measure_psql(&r.env, &format!("parity-{n}-psql"), &servers);
        let (ours, run) = measure_tool(&r.env, &format!("parity-{n}-tool"), &servers, &keys);
        let want_theirs = match expected(r.psql) {
            Outcome::Refused(_) => Outcome::Refused(String::new()),
            o => o,
        };
        if theirs != want_theirs {
            wrong.push(format!(
                "{}: psql {theirs:?}, expected {want_theirs:?}",
                r.what
            ));
        }
        if ours != expected(r.tool) {
            wrong.push(format!(
                "{}: the tool {ours:?}, expected {:?}\n{run}",
                r.what,
                expected(r.tool)
            ));
        }
        // Differing from psql is allowed only where the tool refuses by
        // name (a usage error naming the parameter, or a key format it
        // cannot read, named).
        let same = match (&theirs, &ours) {
            (Outcome::Refused(_), Outcome::Refused(_)) => true,
            (a, b) => a == b,
        };
        if !same {
            let text = run.stdout() + &run.stderr();
            let named = [
                "krbsrvname",
                "requiressl",
                "client_encoding",
                "sslcrl",
                "Proc-Type: 4,ENCRYPTED",
            ]
            .iter()
            .any(|p| text.contains(p) && text.contains("not supported"));
            if !named {
                wrong.push(format!(
                    "{}: differs from psql without a refusal by name\n{run}",
                    r.what
                ));
            }
        }
        // Issue 20: a read from a standby says so in the verdict.
        if let Outcome::Connected { server, .. } = &ours {
            let marked = run.json().get("in_recovery") == Some(&serde_json::Value::Bool(true));
            if marked != (*server == "standby") {
                wrong.push(format!(
                    "{}: in_recovery {marked} on the {server}\n{run}",
                    r.what
                ));
            }
        }
        if r.what.contains("never answers") {
            assert!(
                started.elapsed() < Duration::from_secs(12),
                "the silent host held both too long"
            );
        }
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            r.what,
            theirs.cell(),
            ours.cell()
        ));
    }
    let out = Path::new(MANIFEST_DIR).join("target/libpq-parity-table.md");
    let _ = std::fs::write(&out, &table);
    assert!(
        wrong.is_empty(),
        "{}\n\ntable:\n{table}",
        wrong.join("\n\n")
    );
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's parity table is not the measured one (written to {}):\n{table}",
        out.display()
    );
    drop(standby);
    drop(primary);
    drop(tls);
    std::fs::remove_dir_all(&files.dir).ok();
}

/// Issue 21: a failure names every host and port of the list with its own
/// failure, and a hostaddr is named as such, never as the default socket
/// directory.
#[test]
fn messages_name_every_host_and_port_that_failed() {
    let keys = TempKeys::new();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args([
            "readback",
            "--apr",
            "APR-NOBODY",
            "--json",
            "--connect-timeout",
            "3s",
        ])
        .env_clear()
        .env("PGUSER", ROLE);
        keys.apply(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_bounded(&mut cmd, Duration::from_secs(30))
    };
    let r = run(&[
        ("PGHOST", "/nonexistent-a,/nonexistent-b"),
        ("PGPORT", "5999,5998"),
    ]);
    r.expect(5, "ERROR", "ERROR_DB_UNREACHABLE");
    let m = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        m.contains("socket dir /nonexistent-a port 5999")
            && m.contains("socket dir /nonexistent-b port 5998"),
        "{m}"
    );
    let port = closed.to_string();
    let r = run(&[
        ("PGHOSTADDR", "127.0.0.1"),
        ("PGPORT", &port),
        ("PGSSLMODE", "require"),
    ]);
    r.expect(5, "ERROR", "ERROR_DB_UNREACHABLE");
    let m = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        m.contains(&format!("hostaddr 127.0.0.1 port {closed}")),
        "{m}"
    );
    assert!(
        !m.contains("socket dir") && !m.contains("no hostname"),
        "{m}"
    );
}
