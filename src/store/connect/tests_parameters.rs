//! Unit tests of the parameters: every unsupported one refused by name,
//! every variable of a supported one read, target_session_attrs, ports.

use super::tests::env_of;
use super::*;

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
