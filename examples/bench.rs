//! The benchmark: whole-process timings of the real binary against
//! baselines measured in the same run on the same disposable cluster, as
//! medians and ratios, never as pass/fail:
//! - a `psql -X -q -c 'INSERT …'` process (the real psql binary from the
//!   server's bin directory, not Debian's Perl wrapper), the cheapest
//!   governed write an operator could make by hand;
//! - `pgbench -C`: one connection plus one INSERT transaction, per
//!   transaction, without process start-up;
//! - the same commands through PgBouncer in transaction mode;
//! - with `--scale M`, every command on a database holding M old grants,
//!   as loaded/empty ratios, and 64 concurrent mints on 64 APRs there.
//!
//! Run with `scripts/bench [N] [--scale M]` (N runs per command, default
//! 30; M default 1 000 000 when `--scale` has no number).

use dot_authorize_build_step::disposable::cases;
use dot_authorize_build_step::disposable::fixtures::{self, TEMPLATE_DB};
use dot_authorize_build_step::disposable::pgtemp::{self, Pgbouncer, PGBOUNCER_PORT, SUPERUSER};
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

/// Runs `cmd` to completion; returns its wall time, its peak RSS in KiB
/// (from wait4, for this child alone) and its stdout.
// The child is reaped by wait4 (for its own rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn timed(mut cmd: Command) -> (Duration, i64, Vec<u8>, bool) {
    use std::io::Read as _;
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the
    // child we spawned and have not waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our own child; status and usage are valid pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    assert_eq!(waited, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (took, usage.ru_maxrss, out, ok)
}

struct Bench {
    cluster: pgtemp::Cluster,
    bin: PathBuf,
    bouncer: Pgbouncer,
    action_set: Vec<String>,
    psql: PathBuf,
    peak_rss_kib: std::cell::Cell<i64>,
}

#[derive(Clone, Copy, PartialEq)]
enum Route {
    Direct,
    Pooler,
}

impl Bench {
    fn handler(&self, db: &str, route: Route, argv: &[String]) -> Duration {
        let mut cmd = cases::command(&self.cluster, &self.bin, fixtures::role_for(argv), db, argv);
        if route == Route::Pooler {
            cmd.env("PGHOST", self.bouncer.socket_dir())
                .env("PGPORT", PGBOUNCER_PORT.to_string());
        }
        let (took, rss, out, ok) = timed(cmd);
        assert!(ok, "{argv:?}: {}", String::from_utf8_lossy(&out));
        self.peak_rss_kib.set(self.peak_rss_kib.get().max(rss));
        took
    }

    fn psql(&self, db: &str, route: Route, i: usize) -> Duration {
        let mut cmd = Command::new(&self.psql);
        cmd.args(["-X", "-q", "-h"]);
        match route {
            Route::Direct => cmd.arg(self.cluster.socket_dir()).args(["-p", "5432"]),
            Route::Pooler => cmd
                .arg(self.bouncer.socket_dir())
                .args(["-p", &PGBOUNCER_PORT.to_string()]),
        };
        cmd.args(["-U", SUPERUSER, "-d", db, "-c"]).arg(format!(
            "INSERT INTO bench_baseline VALUES ({i}, 'baseline')"
        ));
        let (took, _, out, ok) = timed(cmd);
        assert!(ok, "psql: {}", String::from_utf8_lossy(&out));
        took
    }

    /// pgbench -C: per transaction (connect + one INSERT), in ms.
    fn pgbench(&self, db: &str, transactions: usize) -> f64 {
        let script = self.cluster.scratch_dir().join("bench.sql");
        std::fs::write(
            &script,
            "INSERT INTO bench_baseline VALUES (1000000 + :client_id * 1000000 + floor(random() * 100000000)::int, 'pgbench') ON CONFLICT DO NOTHING;\n",
        )
        .expect("pgbench script");
        let out = Command::new(self.psql.with_file_name("pgbench"))
            .args(["-n", "-C", "-c", "1", "-t", &transactions.to_string(), "-f"])
            .arg(&script)
            .arg("-h")
            .arg(self.cluster.socket_dir())
            .args(["-U", SUPERUSER, db])
            .output()
            .expect("pgbench (in the server's bin directory) is needed for this baseline");
        let text = String::from_utf8_lossy(&out.stdout);
        let tps: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("pgbench printed no tps: {text}"));
        1000.0 / tps
    }

    /// An approved APR with its own plan, so that no APR blocks another.
    fn seed(&self, admin: &mut postgres::Client, apr: &str) {
        cases::seed_approved_apr_for_plan(admin, apr, Some(&format!("PLAN-{apr}"))).expect("seed");
    }

    fn database(&self, name: &str, old_grants: i64, aprs: &[String]) {
        self.cluster
            .clone_database(TEMPLATE_DB, name)
            .expect("clone");
        let mut admin = self.cluster.connect(SUPERUSER, name).expect("connect");
        admin.batch_execute(fixtures::BIND_SQL).expect("bind");
        admin
            .batch_execute("CREATE TABLE bench_baseline (id int PRIMARY KEY, note text)")
            .expect("baseline table");
        if old_grants > 0 {
            let start = Instant::now();
            fixtures::load_old_grants(&mut admin, old_grants).expect("load old grants");
            eprintln!(
                "loaded {old_grants} old grants into {name} in {:.1} s",
                start.elapsed().as_secs_f64()
            );
        }
        for apr in aprs {
            self.seed(&mut admin, apr);
        }
    }

    fn consume_argv(&self, apr: &str) -> Vec<String> {
        let mut argv = cases::consume_argv(
            &format!("GBA-C1-{apr}"),
            &format!("PLAN-{apr}"),
            &self.action_set,
        );
        argv.push("--json".into());
        argv
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// One command's timings on one database and route.
#[derive(Default)]
struct Series {
    dry: Vec<Duration>,
    mint: Vec<Duration>,
    again: Vec<Duration>,
    consume: Vec<Duration>,
    revoke: Vec<Duration>,
}

impl Series {
    fn run(&mut self, b: &Bench, db: &str, route: Route, tag: &str, i: usize) {
        let apr = format!("APR-{tag}-{i}");
        let rev = format!("APR-{tag}-R{i}");
        self.dry.push(b.handler(
            db,
            route,
            &s(&["execute", "--apr", &apr, "--dry-run", "--json"]),
        ));
        self.mint
            .push(b.handler(db, route, &s(&["execute", "--apr", &apr, "--json"])));
        self.again
            .push(b.handler(db, route, &s(&["execute", "--apr", &apr, "--json"])));
        self.consume
            .push(b.handler(db, route, &b.consume_argv(&apr)));
        b.handler(db, route, &s(&["execute", "--apr", &rev, "--json"]));
        self.revoke.push(b.handler(
            db,
            route,
            &s(&[
                "revoke", "--apr", &rev, "--reason", "bench", "--by", "bench", "--json",
            ]),
        ));
    }

    fn medians(self) -> Vec<(&'static str, Duration)> {
        vec![
            ("execute --dry-run (WOULD_MINT)", median(self.dry)),
            ("execute (MINTED)", median(self.mint)),
            ("execute again (ALREADY_MINTED)", median(self.again)),
            ("consume (CONSUMED)", median(self.consume)),
            ("revoke (REVOKED)", median(self.revoke)),
        ]
    }
}

fn aprs(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| [format!("APR-{tag}-{i}"), format!("APR-{tag}-R{i}")])
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(args.next().expect("usage: bench BINARY [N] [--scale [M]]"));
    let rest: Vec<String> = args.collect();
    let n: usize = rest
        .first()
        .filter(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let scale: Option<i64> = rest.iter().position(|a| a == "--scale").map(|p| {
        rest.get(p + 1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(1_000_000)
    });
    let psql = pgtemp::find_bindir()
        .map(|d| d.join("psql"))
        .filter(|p| p.is_file())
        .expect("the psql binary in the server's bin directory");
    let cluster = fixtures::governance_cluster().expect("start a disposable cluster");
    let bouncer = Pgbouncer::start(
        &cluster,
        8,
        &[
            fixtures::HANDLER_ROLE,
            fixtures::CONSUMER_ROLE,
            fixtures::PROPOSER_ROLE,
        ],
    )
    .expect("start pgbouncer (apt-get install pgbouncer)");
    let mut admin = cluster.connect(SUPERUSER, TEMPLATE_DB).expect("connect");
    let action_set = cases::vocabulary(&mut admin).expect("vocabulary");
    drop(admin);
    let b = Bench {
        cluster,
        bin,
        bouncer,
        action_set,
        psql,
        peak_rss_kib: std::cell::Cell::new(0),
    };
    let racers = 64;
    let race_aprs: Vec<String> = (0..racers).map(|i| format!("APR-RACE-{i}")).collect();
    let mut empty_aprs = [aprs("D", n), aprs("P", n)].concat();
    if scale.is_none() {
        empty_aprs.extend(race_aprs.iter().cloned());
    }
    b.database("bench_empty", 0, &empty_aprs);
    if let Some(m) = scale {
        b.database(
            "bench_loaded",
            m,
            &[aprs("L", n), race_aprs.clone()].concat(),
        );
    }

    // Warm the page cache and the binaries once, then interleave.
    let _ = b.psql("bench_empty", Route::Direct, 999_999_999);
    let (mut psql_direct, mut psql_pooler) = (Vec::new(), Vec::new());
    let (mut direct, mut pooler, mut loaded) =
        (Series::default(), Series::default(), Series::default());
    for i in 0..n {
        psql_direct.push(b.psql("bench_empty", Route::Direct, i));
        psql_pooler.push(b.psql("bench_empty", Route::Pooler, 100_000 + i));
        direct.run(&b, "bench_empty", Route::Direct, "D", i);
        pooler.run(&b, "bench_empty", Route::Pooler, "P", i);
        if scale.is_some() {
            loaded.run(&b, "bench_loaded", Route::Direct, "L", i);
        }
    }
    let pgbench_ms = b.pgbench("bench_empty", (n * 10).max(100));
    let base = median(psql_direct);
    let base_ms = ms(base);

    println!("median of {n} interleaved whole-process runs on a disposable cluster (Unix socket)");
    println!("baselines: psql = {} -X -q -c 'INSERT …' (a process); pgbench -C = connect + one INSERT, per transaction", b.psql.display());
    println!();
    println!(
        "{:<34} {:>9} {:>8} {:>10} {:>9} {:>8}",
        "", "direct", "/ psql", "/ pgbench", "pgbouncer", "/ psql"
    );
    println!(
        "{:<34} {:>9.2} {:>8.2} {:>10.2} {:>9.2} {:>8.2}",
        "psql one INSERT",
        base_ms,
        1.0,
        base_ms / pgbench_ms,
        ms(median(psql_pooler.clone())),
        ms(median(psql_pooler)) / base_ms
    );
    println!(
        "{:<34} {:>9.2} {:>8.2} {:>10.2}",
        "pgbench -C, per transaction",
        pgbench_ms,
        pgbench_ms / base_ms,
        1.0
    );
    let direct = direct.medians();
    for ((name, d), (_, p)) in direct.iter().zip(pooler.medians()) {
        println!(
            "{name:<34} {:>9.2} {:>8.2} {:>10.2} {:>9.2} {:>8.2}",
            ms(*d),
            ms(*d) / base_ms,
            ms(*d) / pgbench_ms,
            ms(p),
            ms(p) / base_ms
        );
    }
    println!();
    println!(
        "peak RSS of the handler over every run: {:.1} MiB",
        b.peak_rss_kib.get() as f64 / 1024.0
    );

    let race_db = if let Some(m) = scale {
        println!();
        println!("loaded with {m} old grants / empty (same run, direct):");
        for ((name, e), (_, l)) in direct.iter().zip(loaded.medians()) {
            println!("{name:<34} {:>9.2} ms {:>7.2}x", ms(l), ms(l) / ms(*e));
        }
        "bench_loaded"
    } else {
        "bench_empty"
    };
    let start = Instant::now();
    let children: Vec<_> = race_aprs
        .iter()
        .map(|apr| {
            let argv = s(&["execute", "--apr", apr, "--json"]);
            cases::command(
                &b.cluster,
                &b.bin,
                fixtures::role_for(&argv),
                race_db,
                &argv,
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
        })
        .collect();
    let minted = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("\"MINTED\""))
        .count();
    println!();
    println!(
        "{racers} concurrent mints on {racers} APRs ({race_db}): {:.0} ms wall, {minted} MINTED",
        ms(start.elapsed())
    );
}
