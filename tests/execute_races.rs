//! Concurrency is an input: 64 copies of the binary, released together
//! against one database, must mint exactly one grant per APR.
mod common;
use common::*;

const COPIES: usize = 64;
const ROUNDS: usize = 4;

#[test]
fn sixty_four_concurrent_executes_mint_exactly_one_grant_every_round() {
    let pg = Pg::start();
    for round in 0..ROUNDS {
        // given an approved APR and 64 handlers queued on its lock
        let db = pg.db();
        db.bind();
        let apr = format!("APR-RACE-{round}");
        db.approved_apr(&apr, &valid_payload());
        let gate = db.gate_apr(&apr);
        // when they are released together
        let runs = spawn_all(
            &db,
            COPIES,
            &["execute", "--apr", &apr, "--json"],
            Some(gate),
        );
        // then one mints, 63 report the same grant, none errs, one row exists
        let counts = tally(&runs);
        let all: String = runs
            .iter()
            .filter(|r| r.exit() != 0)
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            counts.get("MINTED"),
            Some(&1),
            "round {round}: {counts:?}\n{all}"
        );
        assert_eq!(
            counts.get("ALREADY_MINTED"),
            Some(&(COPIES - 1)),
            "round {round}: {counts:?}\n{all}"
        );
        assert!(runs
            .iter()
            .all(|r| r.exit() == 0 && r.json()["auth_code"] == format!("GBA-C1-{apr}")));
        assert_eq!(db.grant_count(), 1, "round {round}");
    }
}

#[test]
fn concurrent_executes_of_two_aprs_for_one_plan_leave_one_active_grant() {
    let pg = Pg::start();
    for round in 0..ROUNDS {
        let db = pg.db();
        db.bind();
        let (a, b) = (format!("APR-A-{round}"), format!("APR-B-{round}"));
        db.approved_apr(&a, &valid_payload());
        db.approved_apr(&b, &valid_payload());
        let children: Vec<_> = (0..16)
            .map(|i| {
                let apr = if i % 2 == 0 { &a } else { &b };
                let mut cmd = db.command_as(
                    dot_authorize_build_step::disposable::fixtures::HANDLER_ROLE,
                    &["execute", "--apr", apr, "--json"],
                );
                let argv = argv_of(&cmd);
                let child = cmd
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                (argv, child)
            })
            .collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|(argv, c)| Run {
                argv,
                output: c.wait_with_output().unwrap(),
            })
            .collect();
        let counts = tally(&runs);
        assert_eq!(counts.get("MINTED"), Some(&1), "round {round}: {counts:?}");
        assert_eq!(
            counts.get("ALREADY_MINTED").copied().unwrap_or(0)
                + counts
                    .get("REJECT_ACTIVE_GRANT_EXISTS")
                    .copied()
                    .unwrap_or(0),
            15,
            "round {round}: {counts:?}"
        );
        assert_eq!(db.grant_count(), 1, "round {round}");
    }
}
