//! Issue 20: exactly once across a failover. A primary and a streaming
//! standby made by the project's disposable-cluster code; parallel
//! dispatchers each run `execute` then `consume --request-id` through a
//! host list (`target_session_attrs=read-write`); mid-stream the primary is
//! stopped at once (`pg_ctl stop -m immediate`) and the standby promoted;
//! then every command is re-run on the new primary. For synchronous
//! replication and for `--durability replicated` over asynchronous
//! replication: every OK given is on the new primary, no APR has two
//! grants, no grant is spent twice.

mod common;

use common::*;
use dot_authorize_build_step::disposable::cases;
use dot_authorize_build_step::disposable::fixtures::role_for;
use dot_authorize_build_step::disposable::pgtemp::{Cluster, SUPERUSER};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const APRS: usize = 24;
const DISPATCHERS: usize = 6;

fn plan(i: usize) -> String {
    format!("PLAN-FO-{i:02}")
}

fn apr(i: usize) -> String {
    format!("APR-FO-{i:02}")
}

fn auth(i: usize) -> String {
    format!("GBA-C1-{}", apr(i))
}

fn vocabulary() -> Vec<String> {
    VOCABULARY.iter().map(|s| s.to_string()).collect()
}

fn execute_argv(i: usize, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["execute", "--apr", &apr(i), "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn consume_argv(i: usize, request_id: &str, extra: &[&str]) -> Vec<String> {
    let mut v = cases::consume_argv(&auth(i), &plan(i), &vocabulary());
    v.extend(["--by", "c1-build", "--json", "--request-id", request_id].map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The command against `hosts` (a libpq host list), as the dispatcher runs it.
fn run_on(db: &Db<'_>, hosts: &str, argv: &[String]) -> Run {
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut cmd = db.command_as(role_for(&refs), &refs);
    cmd.env("PGHOST", hosts)
        .env("PGTARGETSESSIONATTRS", "read-write");
    run_bounded(&mut cmd, Duration::from_secs(120))
}

fn hosts(clusters: &[&Cluster]) -> String {
    clusters
        .iter()
        .map(|c| c.socket_dir().display().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// What one failover run saw.
struct Outcome {
    minted_ok: usize,
    consumed_ok: usize,
    errors: BTreeMap<String, usize>,
}

/// The drill: APRS approved APRs of distinct plans, DISPATCHERS parallel
/// dispatchers, the primary crashed after `crash_after` OKs, the standby
/// promoted, every command re-run on it. `durability` is passed to every
/// command before the failover.
fn drill(sync: bool, durability: &[&str]) -> Outcome {
    let pg = Pg::own();
    let db = pg.db();
    db.bind();
    for i in 0..APRS {
        let mut payload = valid_payload();
        payload["plan_ref"] = plan(i).into();
        db.approved_apr(&apr(i), &payload);
    }
    let standby = pg
        .cluster
        .start_standby()
        .expect("start a streaming standby");
    let primary = &pg.cluster;
    let mut su = primary.connect(SUPERUSER, "postgres").unwrap();
    if sync {
        su.batch_execute("ALTER SYSTEM SET synchronous_standby_names = 'standby'")
            .unwrap();
    }
    // The disposable clusters commit asynchronously for speed; a real
    // primary does not.
    su.batch_execute("ALTER SYSTEM SET synchronous_commit = on")
        .unwrap();
    su.batch_execute("SELECT pg_reload_conf()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c: String = primary
            .connect(SUPERUSER, "postgres")
            .unwrap()
            .query_one("SHOW synchronous_commit", &[])
            .unwrap()
            .get(0);
        if c == "on" {
            break;
        }
        assert!(Instant::now() < deadline, "the reload did not take");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everything before the drill is on the standby (and flushed).
    su.batch_execute("CHECKPOINT").unwrap();

    let list = hosts(&[primary, &standby]);
    let oks = AtomicUsize::new(0);
    let seen: Mutex<Vec<(usize, &'static str, Run)>> = Mutex::new(Vec::new());
    let crash_after = APRS / 2;
    std::thread::scope(|s| {
        for k in 0..DISPATCHERS {
            let (db, list, oks, seen) = (&db, &list, &oks, &seen);
            s.spawn(move || {
                for i in (k..APRS).step_by(DISPATCHERS) {
                    let ex = run_on(db, list, &execute_argv(i, durability));
                    let minted = ex.exit() == 0;
                    if minted {
                        oks.fetch_add(1, Ordering::SeqCst);
                    }
                    seen.lock().unwrap().push((i, "execute", ex));
                    if minted {
                        let co = run_on(db, list, &consume_argv(i, &format!("R-{i}"), durability));
                        if co.exit() == 0 {
                            oks.fetch_add(1, Ordering::SeqCst);
                        }
                        seen.lock().unwrap().push((i, "consume", co));
                    }
                }
            });
        }
        // Mid-stream: the primary crashes, the standby is promoted.
        let deadline = Instant::now() + Duration::from_secs(120);
        while oks.load(Ordering::SeqCst) < crash_after {
            assert!(
                Instant::now() < deadline,
                "the dispatchers made no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        primary.stop_immediately().expect("crash the primary");
        standby.promote().expect("promote the standby");
    });

    // On the new primary: every OK given is there.
    let seen = seen.into_inner().unwrap();
    let mut new = standby.connect(SUPERUSER, &db.name).unwrap();
    let mut outcome = Outcome {
        minted_ok: 0,
        consumed_ok: 0,
        errors: BTreeMap::new(),
    };
    for (i, what, run) in &seen {
        let row = new
            .query_opt(
                "SELECT status, consume_request_id FROM governance_build_authorization \
                 WHERE auth_code = $1",
                &[&auth(*i)],
            )
            .unwrap();
        match (run.exit(), *what) {
            (0, "execute") => {
                outcome.minted_ok += 1;
                assert!(
                    row.is_some(),
                    "OK {} for {} lost at the failover",
                    run.code(),
                    apr(*i)
                );
            }
            (0, _) => {
                outcome.consumed_ok += 1;
                let status: Option<String> = row.as_ref().map(|r| r.get(0));
                assert_eq!(
                    status.as_deref(),
                    Some("consumed"),
                    "OK CONSUMED for {} lost at the failover",
                    auth(*i)
                );
            }
            _ => *outcome.errors.entry(run.code()).or_default() += 1,
        }
    }
    // Every command re-run on the new primary (it has no standby of its
    // own: --durability local): each settles.
    let only_new = hosts(&[&standby]);
    for i in 0..APRS {
        let ex = run_on(&db, &only_new, &execute_argv(i, &[]));
        assert!(
            ["MINTED", "ALREADY_MINTED"].contains(&ex.code().as_str()),
            "{ex}"
        );
        let co = run_on(&db, &only_new, &consume_argv(i, &format!("R-{i}"), &[]));
        co.expect(0, "OK", "CONSUMED");
        // Nobody else spends it again.
        run_on(&db, &only_new, &consume_argv(i, &format!("other-{i}"), &[])).expect(
            4,
            "FAIL",
            "REJECT_AUTH_ALREADY_CONSUMED",
        );
    }
    let twice: i64 = new
        .query_one(
            "SELECT count(*) FROM (SELECT request_ref FROM governance_build_authorization \
             GROUP BY 1 HAVING count(*) > 1) d",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "an APR with two grants");
    let spent: i64 = new
        .query_one(
            "SELECT count(*) FROM governance_build_authorization \
             WHERE status = 'consumed' AND consume_request_id IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(spent as usize, APRS);
    eprintln!(
        "failover drill (sync={sync}, {durability:?}): {} MINTED/ALREADY_MINTED and {} CONSUMED OKs \
         during the drill, all on the new primary; errors: {:?}; 0 APRs with two \
         grants, 0 grants spent twice",
        outcome.minted_ok, outcome.consumed_ok, outcome.errors
    );
    outcome
}

#[test]
fn synchronous_replication_every_ok_survives_a_failover() {
    let o = drill(true, &["--connect-timeout", "10s"]);
    assert!(
        o.minted_ok + o.consumed_ok >= APRS / 2,
        "the crash came mid-stream"
    );
}

#[test]
fn durability_replicated_over_asynchronous_replication_every_ok_survives_a_failover() {
    // A short statement timeout: once promoted, the new primary has no
    // standby, so every replicated write there ends ERROR_COMMIT_UNKNOWN.
    let o = drill(
        false,
        &[
            "--durability",
            "replicated",
            "--connect-timeout",
            "10s",
            "--statement-timeout",
            "3s",
        ],
    );
    assert!(
        o.minted_ok + o.consumed_ok >= APRS / 2,
        "the crash came mid-stream"
    );
}
