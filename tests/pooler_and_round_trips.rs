//! Flat at scale, through a transaction-mode pooler, in few round trips:
//! - a counting proxy between the binary and PostgreSQL proves the round
//!   trips per command, that no statement is named (a pooler shares server
//!   connections: named statements collide), and that no setting travels
//!   as a startup option (poolers refuse those);
//! - the negative suite and the races run through a real PgBouncer in
//!   transaction mode with fewer server connections than clients;
//! - the partial index exists (schema and staged migration alike) and the
//!   handler's queries use it on a loaded table.

mod common;
use common::*;
use dot_authorize_build_step::disposable::cases;
use dot_authorize_build_step::disposable::fixtures::{
    self, CONSUMER_ROLE, HANDLER_ROLE, PROPOSER_ROLE,
};
use dot_authorize_build_step::disposable::pgtemp::{Pgbouncer, PGBOUNCER_PORT};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// What one client connection sent.
#[derive(Debug, Default, Clone)]
struct Sent {
    /// Messages that make the client wait for the server: Query ('Q') and
    /// Sync ('S'). With no pipelining, one each is one round trip.
    round_trips: usize,
    /// Names of Parse messages that named their statement.
    named_statements: Vec<String>,
    /// Startup parameters.
    startup: Vec<(String, String)>,
    /// Message types in order, for failure messages.
    trace: String,
}

/// A Unix-socket proxy in front of `upstream` (a socket directory, port
/// 5432) that reports, per connection, what the client sent.
struct Proxy {
    dir: PathBuf,
    sent: mpsc::Receiver<Sent>,
}

fn read_exact(s: &mut UnixStream, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).ok().map(|()| buf)
}

fn relay(mut client: UnixStream, upstream: PathBuf, report: mpsc::Sender<Sent>) {
    let Ok(mut server) = UnixStream::connect(upstream.join(".s.PGSQL.5432")) else {
        return;
    };
    let (mut from_server, mut to_client) =
        (server.try_clone().unwrap(), client.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    let mut sent = Sent::default();
    // Startup (possibly after an SSLRequest): length, then the body.
    while let Some(len) = read_exact(&mut client, 4) {
        let n = u32::from_be_bytes(len.clone().try_into().unwrap()) as usize;
        let Some(body) = read_exact(&mut client, n - 4) else {
            break;
        };
        server.write_all(&len).unwrap();
        server.write_all(&body).unwrap();
        let code = u32::from_be_bytes(body[..4].try_into().unwrap());
        if code == 80877103 {
            continue; // SSLRequest: the real startup follows
        }
        let fields: Vec<String> = body[4..]
            .split(|&b| b == 0)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        sent.startup = fields
            .chunks(2)
            .filter(|kv| kv.len() == 2 && !kv[0].is_empty())
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect();
        break;
    }
    while let Some(head) = read_exact(&mut client, 5) {
        let n = u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize;
        let Some(body) = read_exact(&mut client, n - 4) else {
            break;
        };
        let kind = head[0] as char;
        sent.trace.push(kind);
        match kind {
            'Q' | 'S' => sent.round_trips += 1,
            'P' => {
                let name = body.split(|&b| b == 0).next().unwrap_or_default();
                if !name.is_empty() {
                    sent.named_statements
                        .push(String::from_utf8_lossy(name).into_owned());
                }
            }
            _ => {}
        }
        if server.write_all(&head).is_err() || server.write_all(&body).is_err() {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Both);
    let _ = back.join();
    let _ = report.send(sent);
}

impl Proxy {
    fn start(upstream: &Path) -> Proxy {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-proxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join(".s.PGSQL.5432")).unwrap();
        let (tx, rx) = mpsc::channel();
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (up, report) = (upstream.clone(), tx.clone());
                std::thread::spawn(move || relay(client, up, report));
            }
        });
        Proxy { dir, sent: rx }
    }

    /// Runs the binary through the proxy; returns the run and what its one
    /// connection sent.
    fn run(&self, db: &Db<'_>, args: &[&str]) -> (Run, Sent) {
        let mut cmd = db.command_as(fixtures::role_for(args), args);
        cmd.env("PGHOST", &self.dir);
        let run = Run {
            argv: args.iter().map(|s| s.to_string()).collect(),
            output: cmd.output().unwrap(),
        };
        let sent = self
            .sent
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no connection reached the proxy: {run}"));
        assert!(
            self.sent.try_recv().is_err(),
            "more than one connection for {args:?}"
        );
        (run, sent)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pooler_safe(what: &str, sent: &Sent) {
    assert!(
        sent.named_statements.is_empty(),
        "{what}: named statements {:?} would collide behind a pooler",
        sent.named_statements
    );
    assert!(
        !sent.startup.iter().any(|(k, _)| k == "options"),
        "{what}: startup options {:?} are refused by poolers",
        sent.startup
    );
}

#[test]
fn every_command_is_pooler_safe_and_within_its_round_trip_budget() {
    let db = approved("APR-RT", &valid_payload());
    let pg = db.pg;
    let proxy = Proxy::start(&pg.cluster.socket_dir());
    let spend = consume_args("GBA-C1-APR-RT");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let mut spend_dry = spend.clone();
    spend_dry.push("--dry-run");
    let revoke = [
        "revoke", "--apr", "APR-RT2", "--reason", "r", "--by", "owner", "--json",
    ];
    let mut other = valid_payload();
    other["plan_ref"] = "LEGO1-C1-PLAN-RT2".into();
    db.approved_apr("APR-RT2", &other);

    let budget: Vec<(&str, Vec<&str>, &str, usize)> = vec![
        (
            "dry-run mint",
            vec!["execute", "--apr", "APR-RT", "--dry-run", "--json"],
            "WOULD_MINT",
            4,
        ),
        (
            "mint",
            vec!["execute", "--apr", "APR-RT", "--json"],
            "MINTED",
            4,
        ),
        (
            "already minted",
            vec!["execute", "--apr", "APR-RT", "--json"],
            "ALREADY_MINTED",
            3,
        ),
        ("dry-run consume", spend_dry.clone(), "WOULD_CONSUME", 3),
        ("consume", spend.clone(), "CONSUMED", 4),
        (
            "refused consume",
            spend.clone(),
            "REJECT_AUTH_ALREADY_CONSUMED",
            4,
        ),
        (
            "second mint",
            vec!["execute", "--apr", "APR-RT2", "--json"],
            "MINTED",
            4,
        ),
        ("revoke", revoke.to_vec(), "REVOKED", 4),
        ("already revoked", revoke.to_vec(), "ALREADY_REVOKED", 4),
    ];
    let mut report = Vec::new();
    for (what, args, code, most) in &budget {
        let (run, sent) = proxy.run(&db, args);
        assert_eq!(run.code(), *code, "{what}: {run}");
        pooler_safe(what, &sent);
        assert!(
            sent.round_trips <= *most,
            "{what}: {} round trips (at most {most}); sent {}",
            sent.round_trips,
            sent.trace
        );
        report.push(format!("{what}: {}", sent.round_trips));
    }
    // A run that wrote nothing ends its transaction with ROLLBACK before it
    // closes (a pooler keeps its server connection only then): BEGIN…,
    // then ROLLBACK, are its only simple queries.
    let (_, sent) = proxy.run(&db, &["execute", "--apr", "APR-RT", "--json"]);
    assert_eq!(sent.trace.matches('Q').count(), 2, "{}", sent.trace);
    assert!(sent.trace.ends_with("QX"), "{}", sent.trace);
    // propose and readback too: unnamed statements, no startup options.
    let (run, sent) = proxy.run(
        &db,
        &[
            "propose",
            "--manifest",
            "fixtures/manifests/c1-valid.json",
            "--plan-ref",
            "P-RT",
            "--ttl",
            "1h",
            "--rollback-plan-ref",
            "R",
            "--by",
            "dot_c1_grant_issue",
            "--apr",
            "APR-RT3",
            "--json",
        ],
    );
    assert_eq!(run.code(), "PROPOSED", "{run}");
    pooler_safe("propose", &sent);
    let (_, sent) = proxy.run(&db, &["readback", "--apr", "APR-RT", "--json"]);
    pooler_safe("readback", &sent);
    eprintln!("round trips: {}", report.join(", "));
    // The APR code travels quoted in the BEGIN batch: quotes, backslashes
    // and SQL in it are only ever a code.
    for code in [
        "APR-'; DROP TABLE apr_requests; --",
        "APR-\\'\\",
        "APR-$$x$$",
    ] {
        let mut p = valid_payload();
        p["plan_ref"] = "LEGO1-C1-PLAN-Q".into();
        db.approved_apr(code, &p);
        let (run, _) = proxy.run(&db, &["execute", "--apr", code, "--json"]);
        assert_eq!(run.code(), "MINTED", "{run}");
        assert_eq!(run.json()["apr"], code);
        db.run(&[
            "revoke", "--apr", code, "--reason", "r", "--by", "o", "--json",
        ])
        .expect(0, "OK", "REVOKED");
    }
    let _ = (HANDLER_ROLE, CONSUMER_ROLE, PROPOSER_ROLE);
}

/// PgBouncer in transaction mode, 4 server connections for 64 clients:
/// the old named statements failed 49–60 of 64 runs here.
fn bouncer(pg: &Pg, pool: u32) -> Pgbouncer {
    Pgbouncer::start(
        &pg.cluster,
        pool,
        &[HANDLER_ROLE, CONSUMER_ROLE, PROPOSER_ROLE],
    )
    .unwrap_or_else(|e| panic!("cannot start pgbouncer: {e}"))
}

#[test]
fn races_through_a_transaction_mode_pooler_still_mint_and_spend_exactly_once() {
    let pg = Pg::own();
    let pool = 4;
    let b = bouncer(&pg, pool);
    cases::route_through(
        &pg.cluster,
        Some((b.socket_dir().to_owned(), PGBOUNCER_PORT)),
    );
    let db = pg.db();
    db.bind();
    db.approved_apr("APR-PB", &valid_payload());
    let gate = db.gate_apr("APR-PB");
    let runs = spawn_all_released_at(
        &db,
        64,
        &["execute", "--apr", "APR-PB", "--json"],
        gate,
        pool,
    );
    let counts = tally(&runs);
    assert_eq!(counts.get("MINTED"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("ALREADY_MINTED"), Some(&63), "{counts:?}");
    assert_eq!(db.grant_count(), 1);
    let spend = consume_args("GBA-C1-APR-PB");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    let gate = db.gate_grant("GBA-C1-APR-PB");
    let runs = spawn_all_released_at(&db, 64, &spend, gate, pool);
    let counts = tally(&runs);
    assert_eq!(counts.get("CONSUMED"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("REJECT_AUTH_ALREADY_CONSUMED"),
        Some(&63),
        "{counts:?}"
    );
    cases::route_through(&pg.cluster, None);
}

/// `spawn_all` for a pooler: only `pool` clients can reach the server at
/// once, so the gate opens when that many wait on it.
fn spawn_all_released_at(
    db: &Db<'_>,
    n: usize,
    args: &[&str],
    gate: cases::Gate,
    pool: u32,
) -> Vec<Run> {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let children: Vec<_> = (0..n)
        .map(|_| {
            cases::command(
                &db.pg.cluster,
                Path::new(BIN),
                fixtures::role_for(&argv),
                &db.name,
                &argv,
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    gate.release_when_waiting(pool as usize).unwrap();
    children
        .into_iter()
        .map(|c| Run {
            argv: argv.clone(),
            output: c.wait_with_output().unwrap(),
        })
        .collect()
}

#[test]
fn the_negative_suite_gets_the_same_verdicts_through_a_transaction_mode_pooler() {
    let pg = Pg::own();
    let b = bouncer(&pg, 2);
    cases::route_through(
        &pg.cluster,
        Some((b.socket_dir().to_owned(), PGBOUNCER_PORT)),
    );
    let outcomes = cases::run_all_cases(&pg.cluster, Path::new(BIN), cases::default_workers())
        .unwrap_or_else(|e| panic!("{e}"));
    cases::route_through(&pg.cluster, None);
    let ran = outcomes.len();
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{}: {}\n{}", o.case, o.failures.join("; "), o.transcript))
        .collect();
    assert!(ran > 100, "{ran}");
    assert!(
        failed.is_empty(),
        "through pgbouncer:\n{}",
        failed.join("\n")
    );
}

fn index_def(db: &Db<'_>) -> Option<(String, bool)> {
    db.superuser()
        .query_opt(
            "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'gba_active_scope_idx'",
            &[],
        )
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// Applies the staged file the way psql -f does: one statement at a time,
/// outside any transaction (CREATE INDEX CONCURRENTLY refuses one).
fn apply_statements(db: &Db<'_>, sql: &str) -> Result<(), postgres::Error> {
    let mut c = db.superuser();
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let (create, rest) = body.split_once(';').unwrap();
    c.batch_execute(create)?;
    c.batch_execute(rest)
}

#[test]
fn the_staged_index_migration_builds_exactly_the_schema_index_concurrently_and_refuses_an_invalid_one(
) {
    let pg = Pg::start();
    let db = pg.db();
    let schema = index_def(&db).expect("fixtures/schema.sql has the index");
    assert!(schema.1);
    db.sql("DROP INDEX gba_active_scope_idx");
    let staged = std::fs::read_to_string(format!(
        "{MANIFEST_DIR}/staged/index-active-scope.staged.sql"
    ))
    .unwrap();
    apply_statements(&db, &staged).unwrap();
    assert_eq!(index_def(&db), Some(schema.clone()));
    // Idempotent.
    apply_statements(&db, &staged).unwrap();
    assert_eq!(index_def(&db), Some(schema));
    // An interrupted build leaves an INVALID index: the readback refuses it.
    db.sql("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'gba_active_scope_idx'::regclass");
    let err = apply_statements(&db, &staged).unwrap_err();
    assert!(
        err.to_string().contains("INVALID") || format!("{err:?}").contains("INVALID"),
        "{err:?}"
    );
}

#[test]
fn on_a_table_of_two_hundred_thousand_old_grants_the_handler_uses_its_indexes() {
    let pg = Pg::start();
    let db = pg.db();
    db.bind();
    fixtures::load_old_grants(&mut db.superuser(), 200_000).unwrap();
    let mut c = db.superuser();
    let mut plan = |sql: &str| -> String {
        c.query(&format!("EXPLAIN {sql}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let guard = plan(
        "SELECT o.auth_code FROM governance_build_authorization o \
         WHERE o.status = 'active' AND o.expires_at > clock_timestamp() \
           AND o.carrier = 'C1' AND o.target = 'DOT_C1_VOCAB_BUILD' AND o.plan_ref = 'LEGO1-C1-PLAN' \
           AND o.request_ref <> 'APR-X' ORDER BY o.auth_code LIMIT 1",
    );
    assert!(guard.contains("gba_active_scope_idx"), "{guard}");
    assert!(
        !guard.contains("Seq Scan") && !guard.contains("Gather"),
        "{guard}"
    );
    for (what, sql) in [
        (
            "by auth_code",
            "SELECT 1 FROM governance_build_authorization WHERE auth_code = 'GBA-C1-OLD-5'",
        ),
        (
            "by request_ref",
            "SELECT 1 FROM governance_build_authorization WHERE request_ref = 'OLD-5'",
        ),
    ] {
        let p = plan(sql);
        assert!(
            p.contains("Index") && !p.contains("Seq Scan"),
            "{what}: {p}"
        );
    }
    // And the mint on the loaded table is an ordinary mint.
    db.approved_apr("APR-BIG", &valid_payload());
    db.run(&["execute", "--apr", "APR-BIG", "--json"])
        .expect(0, "OK", "MINTED");
    let spend = consume_args("GBA-C1-APR-BIG");
    let spend: Vec<&str> = spend.iter().map(String::as_str).collect();
    db.run(&spend).expect(0, "OK", "CONSUMED");
}
