//! The benchmark: whole-process timings of the real binary against a
//! baseline measured in the same run on the same disposable cluster — a
//! `psql -X -q -c 'INSERT …'` process, the cheapest governed write an
//! operator could make by hand. Reported as medians and as ratios to the
//! baseline, never as absolute pass/fail. Run with `scripts/bench [N]`.

use dot_authorize_build_step::cases;
use dot_authorize_build_step::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::pgtemp::SUPERUSER;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let bin = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: bench BINARY [N]");
    let cluster = fixtures::governance_cluster().expect("start a disposable cluster");
    let db = "bench";
    cluster.clone_database(TEMPLATE_DB, db).expect("clone");
    let mut admin = cluster.connect(SUPERUSER, db).expect("connect");
    admin.batch_execute(fixtures::BIND_SQL).expect("bind");
    admin
        .batch_execute("CREATE TABLE bench_baseline (id int PRIMARY KEY, note text)")
        .expect("baseline table");
    for i in 0..n {
        let apr = format!("APR-BENCH-{i}");
        let payload = cases::seed_approved_apr(&mut admin, &apr).expect("seed");
        // one plan per APR, so no APR blocks another's mint
        let mut p = payload.clone();
        p["plan_ref"] = format!("BENCH-PLAN-{i}").into();
        let d = dot_authorize_build_step::cser::digest(&p).unwrap();
        admin
            .execute(
                "UPDATE apr_requests SET proposed_action = $2 WHERE apr_code = $1",
                &[&apr, &p],
            )
            .unwrap();
        admin
            .execute(
                "UPDATE apr_approvals SET payload_digest = $2 WHERE apr_code = $1",
                &[&apr, &d.as_str()],
            )
            .unwrap();
    }
    let action_set = cases::vocabulary(&mut admin).expect("vocabulary");
    let socket = cluster.socket_dir();
    let run = |argv: &[String]| -> Duration {
        let start = Instant::now();
        let out = cases::command(&cluster, &bin, fixtures::role_for(argv), db, argv)
            .output()
            .expect("run");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        took
    };
    let psql = |i: usize| -> Duration {
        let start = Instant::now();
        let out = Command::new("psql")
            .args(["-X", "-q", "-h"])
            .arg(&socket)
            .args(["-U", SUPERUSER, "-d", db, "-c"])
            .arg(format!(
                "INSERT INTO bench_baseline VALUES ({i}, 'baseline')"
            ))
            .output()
            .expect("psql (postgresql-client) is needed for the baseline");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // Warm the page cache and the binary once.
    let _ = psql(1_000_000);
    let mut baseline = Vec::new();
    let mut dry = Vec::new();
    let mut mint = Vec::new();
    let mut again = Vec::new();
    let mut consume = Vec::new();
    for i in 0..n {
        let apr = format!("APR-BENCH-{i}");
        baseline.push(psql(i));
        dry.push(run(&s(&["execute", "--apr", &apr, "--dry-run", "--json"])));
        mint.push(run(&s(&["execute", "--apr", &apr, "--json"])));
        again.push(run(&s(&["execute", "--apr", &apr, "--json"])));
        let mut argv = cases::consume_argv(
            &format!("GBA-C1-{apr}"),
            &format!("BENCH-PLAN-{i}"),
            &action_set,
        );
        argv.push("--json".into());
        consume.push(run(&argv));
    }
    let base = median(baseline);
    println!("median of {n} whole-process runs on a disposable cluster (Unix socket), ratio to the baseline");
    println!("{:<44} {:>9} {:>7}", "command", "median ms", "ratio");
    println!(
        "{:<44} {:>9.2} {:>7.2}",
        "baseline: psql -X -q -c 'INSERT …'",
        ms(base),
        1.0
    );
    for (name, xs) in [
        ("execute --dry-run (WOULD_MINT)", dry),
        ("execute (MINTED)", mint),
        ("execute again (ALREADY_MINTED)", again),
        ("consume (CONSUMED)", consume),
    ] {
        let m = median(xs);
        println!(
            "{name:<44} {:>9.2} {:>7.2}",
            ms(m),
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}
