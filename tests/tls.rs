//! TLS with libpq's sslmode meanings, against a local server whose
//! certificate comes from a throwaway CA made here. The server accepts TCP
//! only over TLS (hostnossl … reject), so a connection that works was
//! encrypted, and one that tried plaintext is refused by the server.
mod common;
use common::*;
use dot_authorize_build_step::disposable::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::disposable::pgtemp::loopback_address;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::PathBuf;

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
}

/// A CA, a server certificate for `san`, and an unrelated CA.
fn pki(san: &str) -> (Pki, String, String) {
    let dir = std::env::temp_dir().join(format!("dot-abs-pki-{}-{san}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL (psql) takes a certificate whose issuer is its
    // own subject for self-signed.
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dot-abs throwaway CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec![san.to_owned()]).unwrap();
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, san);
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let other_key = KeyPair::generate().unwrap();
    let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    other_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dot-abs unrelated CA");
    let other = other_params.self_signed(&other_key).unwrap();
    let ca = dir.join("ca.pem");
    let other_ca = dir.join("other-ca.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&other_ca, other.pem()).unwrap();
    (
        Pki { dir, ca, other_ca },
        server.pem(),
        server_key.serialize_pem(),
    )
}

fn readback(addr: &str, envs: &[(&str, &str)]) -> Run {
    let keys = TempKeys::new();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "readback",
        "--apr",
        "APR-NOBODY",
        "--json",
        "--connect-timeout",
        "5s",
    ])
    .env_clear()
    .env("PGHOST", addr)
    .env("PGPORT", "5432")
    .env("PGUSER", "dot_authorize_build_step")
    .env("PGDATABASE", TEMPLATE_DB);
    keys.apply(&mut cmd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Run::of(&mut cmd)
}

#[test]
fn sslmode_means_what_it_means_in_libpq() {
    // The server's certificate names a host we will not use, so that
    // verify-ca (chain only) and verify-full (chain and name) differ.
    let (pki, cert, key) = pki("db.other.example");
    let addr = loopback_address();
    let cluster = fixtures::governance_cluster_with_tls(&cert, &key, addr)
        .unwrap_or_else(|e| panic!("cannot start a TLS cluster: {e}"));
    let addr = addr.to_string();
    let ca = pki.ca.to_str().unwrap();
    let other = pki.other_ca.to_str().unwrap();
    // Reaching the database is REJECT_APR_NOT_FOUND (the APR does not exist).
    let reached = |run: &Run| run.code() == "REJECT_APR_NOT_FOUND";
    for (mode, root, should_reach) in [
        ("prefer", None, true),   // TLS when offered, unverified
        ("require", None, true),  // TLS always, unverified
        ("disable", None, false), // plaintext: the server refuses it
        ("verify-ca", Some(ca), true),
        ("verify-ca", Some(other), false), // not our CA
        ("verify-full", Some(ca), false),  // the name does not match
        ("require", Some(other), false),   // a root given: verified as verify-ca
    ] {
        let mut envs = vec![("PGSSLMODE", mode)];
        if let Some(r) = root {
            envs.push(("PGSSLROOTCERT", r));
        }
        let run = readback(&addr, &envs);
        assert_eq!(reached(&run), should_reach, "{mode} {root:?}: {run}");
        if !should_reach {
            assert_eq!(run.exit(), 5, "{run}");
        }
    }
    // In a URL, as psql takes it.
    let url = format!(
        "postgresql://dot_authorize_build_step@{addr}:5432/{TEMPLATE_DB}?sslmode=verify-ca&sslrootcert={ca}"
    );
    let keys = TempKeys::new();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["readback", "--apr", "X", "--json", "--db-url", &url])
        .env_clear();
    keys.apply(&mut cmd);
    let run = Run::of(&mut cmd);
    assert!(reached(&run), "{run}");
    drop(cluster);
    std::fs::remove_dir_all(&pki.dir).ok();
}

#[test]
fn verify_full_passes_when_the_certificate_names_the_host() {
    let addr = loopback_address();
    let (pki, cert, key) = pki(&addr.to_string());
    let cluster = fixtures::governance_cluster_with_tls(&cert, &key, addr).unwrap();
    let run = readback(
        &addr.to_string(),
        &[
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", pki.ca.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code(), "REJECT_APR_NOT_FOUND", "{run}");
    drop(cluster);
    std::fs::remove_dir_all(&pki.dir).ok();
}

/// The README's connection table, row by row, side by side with the real
/// psql: for each setting both connect, or both refuse.
#[test]
fn each_connection_setting_behaves_as_psql_does() {
    // The one beside the server, else the Debian one (a server from the
    // npm packages ships no psql).
    let psql = dot_authorize_build_step::disposable::pgtemp::find_psql()
        .expect("a psql: beside the server, from pg_config, /usr/lib/postgresql/*/bin or $PATH");
    let addr = loopback_address();
    let (pki, cert, key) = pki(&addr.to_string());
    let cluster = fixtures::governance_cluster_with_tls(&cert, &key, addr).unwrap();
    let ca = pki.ca.to_str().unwrap().to_owned();
    let other = pki.other_ca.to_str().unwrap().to_owned();
    let service = pki.dir.join("pg_service.conf");
    std::fs::write(
        &service,
        format!(
            "[gov-tls]\nhost={addr}\nport=5432\ndbname={TEMPLATE_DB}\nuser=dot_authorize_build_step\nsslmode=verify-full\nsslrootcert={ca}\n\
             [gov-socket]\nhost={}\nport=5432\ndbname={TEMPLATE_DB}\nuser=dot_authorize_build_step\n",
            cluster.socket_dir().display()
        ),
    )
    .unwrap();
    let service = service.to_str().unwrap().to_owned();
    let a = addr.to_string();
    let socket = cluster.socket_dir().display().to_string();
    let base = |host: &str| -> Vec<(&'static str, String)> {
        vec![
            ("PGHOST", host.to_owned()),
            ("PGPORT", "5432".into()),
            ("PGUSER", "dot_authorize_build_step".into()),
            ("PGDATABASE", TEMPLATE_DB.into()),
        ]
    };
    let with = |mut v: Vec<(&'static str, String)>, extra: &[(&'static str, &str)]| {
        for (k, val) in extra {
            v.retain(|(key, _)| key != k);
            v.push((k, val.to_string()));
        }
        v
    };
    type Row<'a> = (&'a str, Vec<(&'static str, String)>, bool);
    let rows: Vec<Row<'_>> = vec![
        ("socket, no sslmode", base(&socket), true),
        (
            "TCP, sslmode=prefer",
            with(base(&a), &[("PGSSLMODE", "prefer")]),
            true,
        ),
        (
            "TCP, sslmode=require",
            with(base(&a), &[("PGSSLMODE", "require")]),
            true,
        ),
        (
            "TCP, sslmode=disable (server wants TLS)",
            with(base(&a), &[("PGSSLMODE", "disable")]),
            false,
        ),
        (
            "verify-full, our CA",
            with(
                base(&a),
                &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)],
            ),
            true,
        ),
        (
            "verify-ca, another CA",
            with(
                base(&a),
                &[("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", &other)],
            ),
            false,
        ),
        (
            "a role that does not exist",
            with(base(&socket), &[("PGUSER", "nobody_here")]),
            false,
        ),
        (
            "PGSERVICE over TLS",
            vec![
                ("PGSERVICEFILE", service.clone()),
                ("PGSERVICE", "gov-tls".into()),
            ],
            true,
        ),
        (
            "PGSERVICE over the socket",
            vec![
                ("PGSERVICEFILE", service.clone()),
                ("PGSERVICE", "gov-socket".into()),
            ],
            true,
        ),
        (
            "PGSERVICE undefined",
            vec![
                ("PGSERVICEFILE", service.clone()),
                ("PGSERVICE", "nope".into()),
            ],
            false,
        ),
        (
            "PGAPPNAME and PGOPTIONS",
            with(
                base(&socket),
                &[("PGAPPNAME", "ops"), ("PGOPTIONS", "-c work_mem=8MB")],
            ),
            true,
        ),
    ];
    let keys = TempKeys::new();
    for (what, env, should) in rows {
        let mut theirs = std::process::Command::new(&psql);
        theirs
            .args(["-X", "-q", "-w", "-c", "SELECT 1"])
            .env_clear();
        let mut ours = std::process::Command::new(BIN);
        ours.args([
            "readback",
            "--apr",
            "APR-NOBODY",
            "--json",
            "--connect-timeout",
            "5s",
        ])
        .env_clear();
        keys.apply(&mut ours);
        for (k, v) in &env {
            theirs.env(k, v);
            ours.env(k, v);
        }
        let psql_ok = theirs.output().unwrap().status.success();
        let run = Run::of(&mut ours);
        let ours_ok = run.code() == "REJECT_APR_NOT_FOUND";
        assert_eq!(psql_ok, should, "psql: {what}");
        assert_eq!(ours_ok, should, "dot-authorize-build-step: {what}: {run}");
    }
    drop(cluster);
    std::fs::remove_dir_all(&pki.dir).ok();
}
