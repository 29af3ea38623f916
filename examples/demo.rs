//! The demo: the whole lifecycle on a disposable PostgreSQL, then teardown.
//! Run it with `scripts/demo`. Every step states the verdict it expects;
//! the demo stops with exit 1 at the first surprise.

use dot_authorize_build_step::disposable::fixtures::{
    self, CONSUMER_ROLE, HANDLER_ROLE, PROPOSER_ROLE, TEMPLATE_DB,
};
use dot_authorize_build_step::disposable::pgtemp::{Cluster, SUPERUSER};
use dot_authorize_build_step::integrity::approval::ALLOWED_SIGNERS_ENV;
use dot_authorize_build_step::integrity::evidence::ENV as EVIDENCE_ENV;
use dot_authorize_build_step::integrity::signing::{SIGNING_KEY_ENV, TRUSTED_KEYS_ENV};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const DB: &str = "governance_demo";

struct Demo {
    cluster: Cluster,
    bin: PathBuf,
    root: PathBuf,
    /// The handler's signing key and the directory of trusted public keys.
    signing_key: PathBuf,
    trusted: PathBuf,
    evidence: PathBuf,
    /// Who may sign an approval, and the approvers' own key files.
    allowed_signers: PathBuf,
    approver_keys: PathBuf,
}

impl Demo {
    fn say(&self, text: &str) {
        println!("\n== {text}");
    }

    /// Runs the binary as `role`, prints the command and its summary, and
    /// checks the code.
    fn run(&self, role: &str, args: &[&str], want: &str) -> Value {
        println!("$ dot-authorize-build-step {}", args.join(" "));
        let out = Command::new(&self.bin)
            .args(args)
            .arg("--json")
            .env("PGHOST", self.cluster.socket_dir())
            .env("PGPORT", "5432")
            .env("PGUSER", role)
            .env("PGDATABASE", DB)
            .env(SIGNING_KEY_ENV, &self.signing_key)
            .env(TRUSTED_KEYS_ENV, &self.trusted)
            .env(ALLOWED_SIGNERS_ENV, &self.allowed_signers)
            .env(EVIDENCE_ENV, &self.evidence)
            .current_dir(&self.root)
            .output()
            .expect("run the binary");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            fail(&format!(
                "not JSON: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        });
        println!(
            "  -> exit {} {} {}: {}",
            out.status.code().unwrap_or(-1),
            v["verdict"].as_str().unwrap_or("?"),
            v["code"].as_str().unwrap_or("?"),
            v["message"].as_str().unwrap_or("")
        );
        if v["code"] != want {
            fail(&format!("expected {want}"));
        }
        v
    }

    fn sql(&self, sql: &str) {
        let mut c = self
            .cluster
            .connect(SUPERUSER, DB)
            .unwrap_or_else(|e| fail(&e.to_string()));
        c.batch_execute(sql)
            .unwrap_or_else(|e| fail(&format!("{e}: {sql}")));
    }

    /// Each approver, as their own login, reviews the payload and signs
    /// their vote with their own key; then the approval flow marks the APR
    /// approved.
    fn approve(&self, apr: &str, digest: &str, approvers: &[&str]) {
        for who in approvers {
            let key = self.approver_keys.join(who);
            self.run(
                who,
                &[
                    "review",
                    "--apr",
                    apr,
                    "--approve",
                    "--digest",
                    digest,
                    "--sign-key",
                    key.to_str().unwrap_or_default(),
                ],
                "REVIEWED",
            );
        }
        self.sql(&format!("UPDATE apr_requests SET status = 'approved', approved_at = now() WHERE apr_code = '{apr}'"));
        println!(
            "  (approvers {} signed their approval of digest {}…; APR {apr} is approved)",
            approvers.join(", "),
            &digest[..12]
        );
    }

    /// A query as `role`, expected to be refused by the database; prints
    /// the refusal.
    fn refused_sql(&self, role: &str, sql: &str) {
        println!("$ psql -U {role} -c \"{sql}\"");
        let mut c = self
            .cluster
            .connect(role, DB)
            .unwrap_or_else(|e| fail(&e.to_string()));
        match c.batch_execute(sql) {
            Ok(()) => fail(&format!("the database took it: {sql}")),
            Err(e) => println!(
                "  -> refused: {}",
                e.as_db_error().map(|d| d.message()).unwrap_or("?")
            ),
        }
    }

    fn propose(&self, apr: &str, plan: &str) -> String {
        let v = self.run(
            PROPOSER_ROLE,
            &[
                "propose",
                "--manifest",
                "fixtures/manifests/c1-valid.json",
                "--plan-ref",
                plan,
                "--ttl",
                "2h",
                "--rollback-plan-ref",
                "C1-ROLLBACK-retire-not-delete",
                "--by",
                "dot_c1_grant_issue",
                "--apr",
                apr,
            ],
            "PROPOSED",
        );
        v["payload_digest"].as_str().unwrap_or_default().to_owned()
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("demo: {msg}");
    std::process::exit(1)
}

fn main() {
    let exe = std::env::current_exe().expect("own path");
    let bin = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            exe.parent()
                .and_then(Path::parent)
                .map(|d| d.join("dot-authorize-build-step"))
                .expect("target dir")
        });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    println!("== Start a disposable PostgreSQL (Unix socket only), load fixtures/schema.sql and the staged roles");
    let cluster = fixtures::governance_cluster().unwrap_or_else(|e| fail(&e.to_string()));
    cluster
        .clone_database(TEMPLATE_DB, DB)
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!("  socket dir {}", cluster.socket_dir().display());
    println!("  server {}", cluster.server());

    println!("\n== The handler's signing key: only grants it signs are honoured");
    let keys = cluster.scratch_dir().join("keys");
    println!("$ dot-authorize-build-step keygen --out {}", keys.display());
    let made = Command::new(&bin)
        .args(["keygen", "--out"])
        .arg(&keys)
        .arg("--json")
        .output()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let made: Value =
        serde_json::from_slice(&made.stdout).unwrap_or_else(|_| fail("keygen printed no JSON"));
    if made["code"] != "KEY_GENERATED" {
        fail(&format!("keygen: {made}"));
    }
    println!("  -> {}", made["message"].as_str().unwrap_or(""));
    println!(
        "  public key: {}",
        made["public_key"].as_str().unwrap_or("")
    );
    let evidence = cluster.scratch_dir().join("evidence.jsonl");
    println!(
        "  (every command below runs with {SIGNING_KEY_ENV}, {TRUSTED_KEYS_ENV}={} and {EVIDENCE_ENV}={})",
        keys.display(),
        evidence.display()
    );
    println!("\n== The approvers: alice, bob and carol log in as themselves and sign their votes with their own SSH keys");
    let approver_keys = cluster.scratch_dir().join("approvers");
    fixtures::write_approver_keys(&approver_keys).unwrap_or_else(|e| fail(&e));
    let allowed_signers = cluster.scratch_dir().join("allowed_signers");
    std::fs::write(&allowed_signers, fixtures::test_allowed_signers())
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "  ({ALLOWED_SIGNERS_ENV}={}: one line per approver, their login first, namespace dot-apr-approval)",
        allowed_signers.display()
    );
    let demo = Demo {
        cluster,
        bin,
        root,
        signing_key: keys.join("signing.key"),
        trusted: keys,
        evidence,
        allowed_signers,
        approver_keys,
    };
    demo.sql(
        "CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE carol LOGIN; \
         GRANT dot_apr_reviewer TO alice, bob, carol;",
    );

    demo.say("An APR before the handler is bound is refused");
    let digest = demo.propose("APR-C1-DEMO-0", "LEGO0-C1-PLAN");
    demo.approve("APR-C1-DEMO-0", &digest, &["alice", "bob"]);
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-0"],
        "REJECT_HANDLER_NOT_BOUND",
    );

    demo.say("Owner STEP 4: apply staged/bind-authorize_build_step-handler.staged.sql");
    demo.sql(fixtures::BIND_SQL);
    println!("  handler_ref = dot-apr-execute:authorize_build_step");

    demo.say(
        "dot-c1-grant-issue proposes an APR from the manifest (dry run first: nothing written)",
    );
    println!("$ dot-authorize-build-step manifest hash fixtures/manifests/c1-valid.json");
    let hash = Command::new(&demo.bin)
        .args(["manifest", "hash", "fixtures/manifests/c1-valid.json"])
        .current_dir(&demo.root)
        .output()
        .unwrap();
    print!("  {}", String::from_utf8_lossy(&hash.stdout));
    demo.run(
        PROPOSER_ROLE,
        &[
            "propose",
            "--manifest",
            "fixtures/manifests/c1-valid.json",
            "--plan-ref",
            "LEGO1-C1-PLAN",
            "--ttl",
            "2h",
            "--rollback-plan-ref",
            "C1-ROLLBACK-retire-not-delete",
            "--by",
            "dot_c1_grant_issue",
            "--dry-run",
        ],
        "WOULD_PROPOSE",
    );
    let digest = demo.propose("APR-C1-DEMO-1", "LEGO1-C1-PLAN");

    demo.say("execute before approval: SKIP, nothing written");
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-1"],
        "REJECT_APR_NOT_APPROVED",
    );
    demo.approve("APR-C1-DEMO-1", &digest, &["alice", "bob"]);

    demo.say("execute: dry run, mint, and the idempotent re-run");
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-1", "--dry-run"],
        "WOULD_MINT",
    );
    let minted = demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-1"],
        "MINTED",
    );
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-1"],
        "ALREADY_MINTED",
    );
    let auth = minted["auth_code"].as_str().unwrap_or_default().to_owned();

    demo.say("One refusal of each kind (every one writes nothing)");
    demo.sql(
        "INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
         SELECT 'APR-C1-BAD-REALRUN', action_code, jsonb_set(proposed_action, '{mode}', '\"REAL_RUN\"'), 'mallory', 'approved' \
           FROM apr_requests WHERE apr_code = 'APR-C1-DEMO-1'; \
         INSERT INTO apr_requests (apr_code, action_code, proposed_action, proposed_by, status) \
         SELECT 'APR-C1-BAD-C2', action_code, jsonb_set(proposed_action, '{carrier}', '\"C2\"'), 'mallory', 'approved' \
           FROM apr_requests WHERE apr_code = 'APR-C1-DEMO-1';",
    );
    println!("  (two hand-written APRs: one asks for REAL_RUN, one for carrier C2)");
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-BAD-REALRUN"],
        "C1_PROD_REAL_RUN_BLOCKED",
    );
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-BAD-C2"],
        "REJECT_SCOPE_CARRIER",
    );
    let digest = demo.propose("APR-C1-DEMO-Q", "LEGOQ-C1-PLAN");
    demo.approve("APR-C1-DEMO-Q", &digest, &["alice"]);
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-Q"],
        "REJECT_QUORUM_NOT_MET",
    );

    demo.say(
        "One person is never a quorum: alice alone tries to make one, and every route is refused",
    );
    let digest = demo.propose("APR-C1-DEMO-X", "LEGOX-C1-PLAN");
    demo.approve("APR-C1-DEMO-X", &digest, &["alice"]);
    demo.refused_sql(
        "alice",
        &format!("INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest) VALUES ('APR-C1-DEMO-X', 'bob', 'approve', '{digest}')"),
    );
    demo.run(
        "alice",
        &[
            "review",
            "--apr",
            "APR-C1-DEMO-X",
            "--approve",
            "--by",
            "ALICE",
        ],
        "REJECT_REVIEWER_NOT_SELF",
    );
    println!("  (a database superuser writes bob's and carol's approvals itself, with alice's signature on bob's)");
    demo.sql(&format!(
        "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         SELECT 'APR-C1-DEMO-X', 'bob', 'approve', '{digest}', signature FROM apr_approvals \
          WHERE apr_code = 'APR-C1-DEMO-X' AND approver = 'alice'; \
         INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest) \
         VALUES ('APR-C1-DEMO-X', 'carol', 'approve', '{digest}');"
    ));
    let forged = demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-X"],
        "REJECT_QUORUM_NOT_MET",
    );
    for n in forged["quorum"]["not_counted"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "     not counted: {}: {}",
            n["approver"].as_str().unwrap_or("?"),
            n["why"].as_str().unwrap_or("?")
        );
    }
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-NOPE"],
        "REJECT_APR_NOT_FOUND",
    );
    println!("$ PGHOST=/nonexistent dot-authorize-build-step execute --apr APR-C1-DEMO-1");
    let down = Command::new(&demo.bin)
        .args(["execute", "--apr", "APR-C1-DEMO-1"])
        .env("PGHOST", "/nonexistent")
        .env("PGUSER", HANDLER_ROLE)
        .env(SIGNING_KEY_ENV, &demo.signing_key)
        .env(TRUSTED_KEYS_ENV, &demo.trusted)
        .env(ALLOWED_SIGNERS_ENV, &demo.allowed_signers)
        .output()
        .unwrap();
    // Without --json a verdict that is not OK goes to stderr.
    let said = String::from_utf8_lossy(&down.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    println!("  -> exit {} {said}", down.status.code().unwrap_or(-1));
    if down.status.code() != Some(5) || !said.starts_with("ERROR ERROR_DB_UNREACHABLE") {
        fail("expected exit 5 ERROR_DB_UNREACHABLE, said on stderr, for an unreachable database");
    }
    println!("$ psql -c \"INSERT INTO governance_build_authorization …\"   (a manual write, even as superuser)");
    let mut admin = demo
        .cluster
        .connect(SUPERUSER, DB)
        .unwrap_or_else(|e| fail(&e.to_string()));
    match admin.batch_execute(
        "INSERT INTO governance_build_authorization (auth_code, request_ref, status, expires_at) \
         VALUES ('GBA-C1-MANUAL', 'MANUAL', 'active', now() + interval '1 hour')",
    ) {
        Err(e) => println!(
            "  -> refused: {}",
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().to_owned())
        ),
        Ok(()) => fail("the guard let a manual INSERT through"),
    }

    demo.say("The C1 build step consumes the grant once, bound to the manifest it builds");
    let consume = |manifest: &str, plan: &str, want: &str| {
        demo.run(
            CONSUMER_ROLE,
            &[
                "consume",
                "--auth-code",
                &auth,
                "--carrier",
                "C1",
                "--lane",
                "BUILD_PREP",
                "--target",
                "DOT_C1_VOCAB_BUILD",
                "--plan-ref",
                plan,
                "--manifest",
                manifest,
                "--by",
                "c1-build",
            ],
            want,
        )
    };
    consume(
        "fixtures/manifests/c1-valid.json",
        "LEGO2-C1-PLAN",
        "REJECT_AUTH_WRONG_PLAN",
    );
    consume(
        "fixtures/manifests/c1-semantic-rewrite.json",
        "LEGO1-C1-PLAN",
        "REJECT_AUTH_MANIFEST_MISMATCH",
    );
    consume(
        "fixtures/manifests/c1-valid.json",
        "LEGO1-C1-PLAN",
        "CONSUMED",
    );
    consume(
        "fixtures/manifests/c1-valid.json",
        "LEGO1-C1-PLAN",
        "REJECT_AUTH_ALREADY_CONSUMED",
    );

    demo.say("A superuser sets the writer marker and copies a perfect grant: consume refuses it as forged");
    let digest = demo.propose("APR-C1-DEMO-F", "LEGOF-C1-PLAN");
    demo.approve("APR-C1-DEMO-F", &digest, &["alice", "bob"]);
    println!("$ psql -c \"SET dot.canonical_writer = 'dot-authorize-build-step'; INSERT INTO governance_build_authorization …\"");
    demo.sql(
        "SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', false); \
         INSERT INTO governance_build_authorization (auth_code, request_ref, status, carrier, lane, target, plan_ref, \
           manifest_hash, protocol_version, action_set, scope, apr_digest, granted_at, expires_at, granted_by, rollback_plan_ref) \
         SELECT 'GBA-C1-APR-C1-DEMO-F', 'APR-C1-DEMO-F', 'active', carrier, lane, target, 'LEGOF-C1-PLAN', manifest_hash, \
                protocol_version, action_set, jsonb_set(scope, '{plan_ref}', '\"LEGOF-C1-PLAN\"'), \
                (SELECT payload_digest FROM apr_approvals WHERE apr_code = 'APR-C1-DEMO-F' LIMIT 1), \
                now(), now() + (expires_at - granted_at), granted_by, rollback_plan_ref \
           FROM governance_build_authorization WHERE request_ref = 'APR-C1-DEMO-1'",
    );
    println!(
        "  (the guard let it in: the marker is set; every column is what the handler would write)"
    );
    demo.run(
        CONSUMER_ROLE,
        &[
            "consume",
            "--auth-code",
            "GBA-C1-APR-C1-DEMO-F",
            "--carrier",
            "C1",
            "--lane",
            "BUILD_PREP",
            "--target",
            "DOT_C1_VOCAB_BUILD",
            "--plan-ref",
            "LEGOF-C1-PLAN",
            "--manifest",
            "fixtures/manifests/c1-valid.json",
            "--by",
            "c1-build",
        ],
        "REJECT_GRANT_FORGED",
    );

    demo.say(
        "The owner looks at the keys, then retires every forged row in bulk: \
         a dry run lists them, the run must --expect the count it showed",
    );
    demo.run(HANDLER_ROLE, &["keys"], "LISTED");
    let forged = demo.run(
        HANDLER_ROLE,
        &[
            "revoke",
            "--forged",
            "--reason",
            "not signed by the handler",
            "--by",
            "owner",
            "--dry-run",
        ],
        "WOULD_REVOKE",
    );
    let count = forged["count"].as_u64().unwrap_or(0).to_string();
    demo.run(
        HANDLER_ROLE,
        &[
            "revoke",
            "--forged",
            "--reason",
            "not signed by the handler",
            "--by",
            "owner",
            "--expect",
            &count,
        ],
        "REVOKED",
    );

    demo.say("The owner rolls a second grant back (revoke, never delete)");
    let digest = demo.propose("APR-C1-DEMO-2", "LEGO2-C1-PLAN");
    demo.approve("APR-C1-DEMO-2", &digest, &["alice", "carol"]);
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-2"],
        "MINTED",
    );
    demo.run(
        HANDLER_ROLE,
        &[
            "revoke",
            "--apr",
            "APR-C1-DEMO-2",
            "--reason",
            "rollback drill (file 08 §A)",
            "--by",
            "owner",
        ],
        "REVOKED",
    );
    demo.run(
        HANDLER_ROLE,
        &[
            "revoke",
            "--apr",
            "APR-C1-DEMO-2",
            "--reason",
            "again",
            "--by",
            "owner",
        ],
        "ALREADY_REVOKED",
    );

    demo.say("STEP 7 readback of a fresh grant, after the dispatcher marked its APR applied");
    let digest = demo.propose("APR-C1-DEMO-3", "LEGO3-C1-PLAN");
    demo.approve("APR-C1-DEMO-3", &digest, &["bob", "carol"]);
    demo.run(
        HANDLER_ROLE,
        &["execute", "--apr", "APR-C1-DEMO-3"],
        "MINTED",
    );
    demo.sql("UPDATE apr_requests SET status = 'applied', applied_at = now() WHERE apr_code = 'APR-C1-DEMO-3'");
    println!("$ dot-authorize-build-step readback --apr APR-C1-DEMO-3");
    let rb = Command::new(&demo.bin)
        .args(["readback", "--apr", "APR-C1-DEMO-3"])
        .env("PGHOST", demo.cluster.socket_dir())
        .env("PGUSER", HANDLER_ROLE)
        .env("PGDATABASE", DB)
        .env(TRUSTED_KEYS_ENV, &demo.trusted)
        .env(ALLOWED_SIGNERS_ENV, &demo.allowed_signers)
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&rb.stdout).lines() {
        println!("  {line}");
    }
    if !rb.status.success() {
        fail("readback did not pass");
    }

    demo.say("The grant table now");
    let rows = admin
        .query(
            "SELECT auth_code, status, plan_ref, left(manifest_hash, 12) || '…', to_char(expires_at - granted_at, 'HH24:MI'), \
                    coalesce(consumed_by, revoked_by, '') FROM governance_build_authorization ORDER BY auth_code",
            &[],
        )
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "  {:<22} {:<9} {:<14} {:<14} {:<5} by",
        "auth_code", "status", "plan_ref", "manifest", "ttl"
    );
    for r in rows {
        println!(
            "  {:<22} {:<9} {:<14} {:<14} {:<5} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3),
            r.get::<_, String>(4),
            r.get::<_, String>(5)
        );
    }
    demo.say(
        "The evidence log: one signed, hash-chained line per decision, refusals included, \
         checked against the grants' anchors",
    );
    println!(
        "$ dot-authorize-build-step evidence verify {} --trusted-keys {} --db",
        demo.evidence.display(),
        demo.trusted.display()
    );
    let verified = Command::new(&demo.bin)
        .args(["evidence", "verify"])
        .arg(&demo.evidence)
        .arg("--trusted-keys")
        .arg(&demo.trusted)
        .arg("--db")
        .env("PGHOST", demo.cluster.socket_dir())
        .env("PGPORT", "5432")
        .env("PGUSER", HANDLER_ROLE)
        .env("PGDATABASE", DB)
        .output()
        .unwrap();
    print!("  {}", String::from_utf8_lossy(&verified.stdout));
    if !verified.status.success() {
        fail("the evidence chain did not verify");
    }
    drop(admin);
    drop(demo);
    println!("\n== Stopped the cluster and removed its directory. Demo complete.");
}
