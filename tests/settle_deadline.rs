//! Issue 20: settling a lost commit ends by its deadline. The read-back
//! tries run within the connect timeout; a try started near the deadline
//! gets only the time left, never a whole connect timeout past it (before:
//! each host of a try had its full connect timeout, so a try begun just
//! before the deadline could run that long past it).
//!
//! Needs the `failpoints` feature, which the README's test command turns on.
mod common;

#[cfg(not(feature = "failpoints"))]
#[test]
fn settle_deadline_needs_the_failpoints_feature() {
    panic!("run the README's test command, `cargo test --locked --features failpoints`");
}

#[cfg(feature = "failpoints")]
mod with_failpoints {
    use super::common::*;
    use dot_authorize_build_step::disposable::fixtures::role_for;

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

    /// The host list is a silent host, then the server. The command's own
    /// try reaches the server after the silent host's connect timeout and
    /// loses its commit; the read-back's first try spends all the time left
    /// on the silent host, so the server, next in the list, is not tried
    /// past the deadline (before: it was, a whole connect timeout late, and
    /// the last failure was the fail point's lost commit again).
    #[test]
    fn a_read_back_try_near_the_deadline_does_not_run_past_it() {
        let pg = Pg::start();
        let db = pg.db();
        db.bind();
        db.approved_apr("APR-SD", &valid_payload());
        let before = db.snapshot();
        let args = [
            "execute",
            "--apr",
            "APR-SD",
            "--json",
            "--connect-timeout",
            "2s",
        ];
        let silent = silent_listener();
        let out = db
            .command_as(role_for(&args), &args)
            .env(
                "PGHOST",
                format!("127.0.0.1,{}", pg.cluster.socket_dir().display()),
            )
            .env("PGPORT", format!("{silent},5432"))
            .env("PGSSLMODE", "disable")
            .env("DOT_ABS_FAILPOINT", "before-commit:lose")
            .output()
            .unwrap();
        let run = Run {
            argv: args.iter().map(|s| s.to_string()).collect(),
            output: out,
        };
        run.expect(5, "ERROR", "ERROR_COMMIT_UNKNOWN");
        let message = run.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("not tried, no time left before the deadline"),
            "{run}"
        );
        assert!(message.contains("re-run"), "{run}");
        assert_eq!(db.snapshot(), before);
    }
}
