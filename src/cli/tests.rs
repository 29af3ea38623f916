//! Unit tests of the command line: durations, names, timeouts, `--since`,
//! and that every option is described and offered only where it is used.

use super::*;
use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn durations_parse_with_units_and_refuse_garbage() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    for bad in ["15", "0", "", "s", "1.5h", "-1s", "10x", " 1s"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn since_is_a_span_with_its_unit_or_a_time() {
    assert_eq!(parse_since("2h"), Ok(Since::Ago(Duration::from_secs(7200))));
    let at = |s: &str| match parse_since(s) {
        Ok(Since::At(t)) => t.to_rfc3339(),
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(at("2026-12-01"), "2026-12-01T00:00:00+00:00");
    assert_eq!(at("2026-12-01T09:30:00+02:00"), "2026-12-01T07:30:00+00:00");
    for bad in ["15", "0s", "yesterday", "2026-13-01", "2026-12-1", ""] {
        assert!(parse_since(bad).is_err(), "{bad}");
    }
}

#[test]
fn timeouts_the_server_cannot_hold_are_refused_at_parse_time() {
    assert_eq!(parse_timeout("24h"), Ok(MAX_TIMEOUT));
    assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
    for bad in ["0s", "0ms", "1073742s", "25h", "2d"] {
        assert!(parse_timeout(bad).is_err(), "{bad}");
    }
}

#[test]
fn codes_and_names_with_hidden_characters_are_refused() {
    for bad in [
        "APR-1\nOK MINTED",
        "a\u{200B}",
        "x\u{202E}y",
        "tab\there",
        "\u{FEFF}bom",
        "",
    ] {
        assert!(name(bad).is_err(), "{bad:?}");
    }
    assert_eq!(name("APR-C1-0001"), Ok("APR-C1-0001".into()));
    assert_eq!(name("Zoë Ω"), Ok("Zoë Ω".into()));
}

mod help_tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand, nested ones included, with its path.
    fn commands() -> Vec<(String, clap::Command)> {
        let mut root = Cli::command();
        root.build();
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), root)];
        while let Some((path, cmd)) = stack.pop() {
            for sub in cmd.get_subcommands() {
                stack.push((
                    format!("{path} {}", sub.get_name()).trim().to_owned(),
                    sub.clone(),
                ));
            }
            out.push((path, cmd));
        }
        out
    }

    #[test]
    fn every_option_and_argument_is_described() {
        let mut bare = Vec::new();
        for (path, cmd) in commands() {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && !arg.is_hide_set() {
                    bare.push(format!("{path}: {}", arg.get_id()));
                }
            }
        }
        assert!(bare.is_empty(), "options without a description: {bare:#?}");
    }

    /// The options a command's help offers, by id.
    fn options(cmd: &clap::Command) -> Vec<String> {
        cmd.get_arguments()
            .filter(|a| !a.is_hide_set())
            .map(|a| a.get_id().to_string())
            .collect()
    }

    #[test]
    fn connection_and_key_options_are_offered_only_where_they_are_used() {
        const CONNECTION: [&str; 5] = [
            "db_url",
            "connect_timeout",
            "lock_timeout",
            "statement_timeout",
            "schema",
        ];
        const KEYS: [&str; 4] = [
            "signing_key",
            "trusted_keys",
            "allowed_signers",
            "evidence_log",
        ];
        // Which options each command offers: connection, signing key,
        // trusted keys, allowed signers, evidence log ("" is the top level).
        struct Uses(&'static str, [bool; 5]);
        let uses = [
            Uses("execute", [true, true, true, true, true]),
            Uses("consume", [true, false, true, true, true]),
            Uses("revoke", [true, false, true, false, true]),
            Uses("readback", [true, false, true, true, false]),
            Uses("list", [true, false, true, false, false]),
            Uses("show", [true, false, true, true, false]),
            Uses("keys", [true, false, true, false, false]),
            Uses("propose", [true, false, false, false, true]),
            Uses("propose-patch", [true, false, false, false, true]),
            Uses("review", [true, false, false, true, true]),
            Uses("digest", [true, false, false, false, false]),
            Uses("show-patch", [true, false, false, false, false]),
            Uses("manifest hash", [false; 5]),
            Uses("manifest canon", [false; 5]),
            Uses("keygen", [false; 5]),
            Uses("evidence verify", [true, false, true, false, false]),
            Uses("aprs list", [true, false, false, true, false]),
            Uses("aprs show", [true, false, true, true, false]),
            Uses("harness", [false; 5]),
            Uses("", [false; 5]),
        ];
        let all = commands();
        for Uses(path, [connects, keys @ ..]) in &uses {
            let cmd = &all.iter().find(|(p, _)| p == path).expect(path).1;
            let have = options(cmd);
            for id in CONNECTION {
                assert_eq!(have.iter().any(|h| h == id), *connects, "{path:?} --{id}");
            }
            for (id, wanted) in KEYS.iter().zip(keys) {
                assert_eq!(have.iter().any(|h| h == id), *wanted, "{path:?} --{id}");
            }
            // --durability: only the commands that write a grant's state.
            assert_eq!(
                have.iter().any(|h| h == "durability"),
                ["execute", "consume", "revoke"].contains(path),
                "{path:?} --durability"
            );
            // Command options come first; connection and keys under their own headings.
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                let heading = arg.get_help_heading();
                if CONNECTION.contains(&id) {
                    assert_eq!(heading, Some("Connection"), "{path:?} --{id}");
                } else if KEYS.contains(&id) {
                    assert_eq!(heading, Some("Keys and evidence"), "{path:?} --{id}");
                } else if id == "durability" {
                    assert_eq!(heading, Some("Durability"), "{path:?} --{id}");
                } else {
                    assert_eq!(heading, None, "{path:?} --{id}");
                }
            }
        }
        // Every subcommand is in the table above.
        for (path, cmd) in &all {
            if cmd.get_subcommands().next().is_none() && !path.split(' ').any(|w| w == "help") {
                assert!(
                    uses.iter().any(|u| u.0 == path),
                    "{path:?} is not classified"
                );
            }
        }
    }

    #[test]
    fn a_command_that_never_connects_refuses_connection_options() {
        for argv in [
            &["x", "keygen", "--out", "d", "--db-url", "host=h"][..],
            &["x", "manifest", "hash", "f", "--lock-timeout", "1s"],
            &["x", "evidence", "verify", "f", "--signing-key", "k"],
            &["x", "digest", "--apr", "A", "--signing-key", "k"],
            &["x", "list", "--evidence-log", "l"],
            &["x", "--db-url", "host=h", "execute", "--apr", "A"],
        ] {
            let err = Cli::try_parse_from(argv).expect_err(&format!("{argv:?}"));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{argv:?}"
            );
        }
        let ok = Cli::try_parse_from([
            "x",
            "execute",
            "--apr",
            "A",
            "--json",
            "--lock-timeout",
            "2s",
        ])
        .expect("execute takes connection options");
        let settings = ok.settings();
        assert!(settings.json);
        assert_eq!(settings.lock_timeout, Duration::from_secs(2));
        assert_eq!(settings.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
        let plain = Cli::try_parse_from(["x", "digest", "--apr", "A"]).expect("digest");
        assert_eq!(plain.settings().lock_timeout, DEFAULT_LOCK_TIMEOUT);
        assert_eq!(Connection::default().lock_timeout, DEFAULT_LOCK_TIMEOUT);
    }
}
