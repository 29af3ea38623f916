//! TLS with libpq's sslmode meanings, against a local server whose
//! certificate comes from a throwaway CA made here. The server accepts TCP
//! only over TLS (hostnossl … reject), so a connection that works was
//! encrypted, and one that tried plaintext is refused by the server.
mod common;
use common::*;
use dot_authorize_build_step::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::pgtemp::loopback_address;
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
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec![san.to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let other_key = KeyPair::generate().unwrap();
    let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
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
    Run {
        argv: vec![format!("{envs:?}")],
        output: cmd.output().unwrap(),
    }
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
    let run = Run {
        argv: vec![url.clone()],
        output: cmd.output().unwrap(),
    };
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
