//! Unit tests of resolving a connection target: precedence, the password
//! file, services, timeouts, application_name, hostaddr.

use super::*;
use std::collections::HashMap;

pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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
        APPLICATION_NAME,
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
