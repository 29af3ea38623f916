//! Unit tests of the disposable cluster: the major-version parsing and the
//! options each major gets, without a server.

use super::*;

#[test]
fn the_major_is_read_from_every_shape_of_version_line() {
    for (line, major) in [
        ("postgres (PostgreSQL) 13.23", Some(13)),
        ("postgres (PostgreSQL) 14.23\n", Some(14)),
        (
            "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
            Some(15),
        ),
        ("postgres (PostgreSQL) 18beta1", Some(18)),
        ("postgres (PostgreSQL) 9.6.24", Some(9)),
        ("postgres (PostgreSQL)", None),
        ("", None),
    ] {
        assert_eq!(parse_major(line), major, "{line:?}");
    }
}

/// A bin directory whose `postgres --version` prints `line`.
fn fake_server(line: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dot-abs-fake-pg-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    let postgres = dir.join("postgres");
    fs::write(&postgres, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
    fs::set_permissions(&postgres, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_server_older_than_13_is_refused_by_name_and_13_is_taken() {
    let old = fake_server("postgres (PostgreSQL) 12.22");
    let err = server_version(&old).unwrap_err();
    assert!(matches!(err, PgTempError::TooOld { .. }), "{err}");
    assert!(err.to_string().contains("12.22") && err.to_string().contains("13 or later"));
    let ok = fake_server("postgres (PostgreSQL) 13.23");
    assert_eq!(
        server_version(&ok).unwrap(),
        (13, "postgres (PostgreSQL) 13.23".to_owned())
    );
    let odd = fake_server("no version here");
    assert!(matches!(
        server_version(&odd),
        Err(PgTempError::UnknownVersion { .. })
    ));
    for d in [old, ok, odd] {
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn initdb_is_given_no_instructions_only_from_14_on() {
    let base = [
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "-N",
    ];
    assert_eq!(ServerOptions { major: 13 }.initdb_args(), base.to_vec());
    for major in 14..=18 {
        let mut want = base.to_vec();
        want.push("--no-instructions");
        assert_eq!(ServerOptions { major }.initdb_args(), want, "{major}");
    }
}

#[test]
fn the_clone_names_a_strategy_only_from_15_on() {
    for major in [13, 14] {
        assert_eq!(
            ServerOptions { major }.clone_sql("t_1", "tpl"),
            r#"CREATE DATABASE "t_1" TEMPLATE "tpl""#,
            "{major}"
        );
    }
    for major in 15..=18 {
        assert_eq!(
            ServerOptions { major }.clone_sql("t_1", "tpl"),
            r#"CREATE DATABASE "t_1" TEMPLATE "tpl" STRATEGY FILE_COPY"#,
            "{major}"
        );
    }
}
