//! The SQL the project ships, compiled in, so `harness` and the demo need
//! nothing but the binary and PostgreSQL's server binaries.

/// The model of the live governance database (SPEC §5).
pub const SCHEMA_SQL: &str = include_str!("../../fixtures/schema.sql");
/// The constraints that refuse what the handler would never write (staged;
/// SPEC §9). Already in `SCHEMA_SQL`; applying it there is a no-op.
pub const HARDEN_SQL: &str = include_str!("../../staged/harden-tables.staged.sql");
/// Votes and proposals bound to their login, one vote per identity, the
/// quorum's names pinned (staged; SPEC §10).
pub const APPROVALS_BOUND_SQL: &str = include_str!("../../staged/approvals-bound.staged.sql");
/// The least-privilege roles (staged; SPEC §8, §9).
pub const HANDLER_ROLE_SQL: &str = include_str!("../../staged/handler-role.staged.sql");
/// What `--durability replicated` reads: standbys' flushed WAL (staged).
pub const DURABILITY_SQL: &str = include_str!("../../staged/durability.staged.sql");
/// The approvers' group role for `review` (staged).
pub const REVIEWER_ROLE_SQL: &str = include_str!("../../staged/reviewer-role.staged.sql");
/// Binds authorize_build_step to its handler (staged; SPEC §8).
pub const BIND_SQL: &str =
    include_str!("../../staged/bind-authorize_build_step-handler.staged.sql");
/// The exact reverse of `BIND_SQL`.
pub const UNBIND_SQL: &str =
    include_str!("../../staged/unbind-authorize_build_step-handler.staged.sql");

/// The minter: the role `execute`, `revoke` and `readback` run as.
pub const HANDLER_ROLE: &str = "dot_authorize_build_step";
/// The consumer: the role the C1 build step runs `consume` as.
pub const CONSUMER_ROLE: &str = "dot_c1_build_consumer";
/// The role `propose` and `propose-patch` run as.
pub const PROPOSER_ROLE: &str = "dot_c1_grant_issue";

/// The approvers' group role (`review` runs as a member's login).
pub const REVIEWER_ROLE: &str = "dot_apr_reviewer";

/// The least-privilege role a subcommand runs as, from its argv.
pub fn role_for<S: AsRef<str>>(argv: &[S]) -> &'static str {
    match argv.first().map(AsRef::as_ref) {
        Some("consume") => CONSUMER_ROLE,
        Some("propose" | "propose-patch") => PROPOSER_ROLE,
        _ => HANDLER_ROLE,
    }
}
/// The template database every disposable copy is cloned from.
pub const TEMPLATE_DB: &str = "governance_template";

/// What the governance template database is made of, in order: the
/// schema, its hardening and the roles (the handler still unbound).
const TEMPLATE_SQL: &[&str] = &[
    SCHEMA_SQL,
    HARDEN_SQL,
    APPROVALS_BOUND_SQL,
    HANDLER_ROLE_SQL,
    REVIEWER_ROLE_SQL,
    DURABILITY_SQL,
];

/// Starts a disposable cluster with the governance template loaded (schema
/// and roles, handler still unbound).
pub fn governance_cluster(
) -> Result<crate::disposable::pgtemp::Cluster, crate::disposable::pgtemp::PgTempError> {
    let cluster = crate::disposable::pgtemp::Cluster::start()?;
    cluster.create_database(TEMPLATE_DB, TEMPLATE_SQL)?;
    Ok(cluster)
}

/// The negative-suite fixture files, by name.
pub const CASE_FILES: &[(&str, &str)] = &[
    (
        "execute.json",
        include_str!("../../fixtures/cases/execute.json"),
    ),
    (
        "consume.json",
        include_str!("../../fixtures/cases/consume.json"),
    ),
    (
        "revoke.json",
        include_str!("../../fixtures/cases/revoke.json"),
    ),
];

/// The key pair a disposable cluster's handler signs with: `signing.key`
/// and the directory of trusted `*.pub` files (the same directory), made
/// once per cluster in its scratch directory and removed with it; and the
/// `allowed_signers` file of the test approvers beside them.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub signing_key: std::path::PathBuf,
    pub trusted_dir: std::path::PathBuf,
    pub key_id: String,
    pub allowed_signers: std::path::PathBuf,
}

/// The approvers of the disposable databases (tests, the demo, `harness`):
/// each has an Ed25519 key derived from its name, listed for exactly that
/// name in the allowed-signers file `test_keys` writes. Test keys only:
/// anyone can derive them, so no operator's allowed signers lists them.
pub const TEST_APPROVERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ann", "bo", "cy", "pat",
    "vic", "alice_rv", "bob_rv", "carol_rv",
];

/// A test approver's private key, derived from the name.
pub fn test_approver_key(name: &str) -> ssh_key::PrivateKey {
    use sha2::Digest as _;
    let seed: [u8; 32] =
        sha2::Sha256::digest(format!("dot-abs-test-approver-v1:{name}").as_bytes()).into();
    let mut key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&seed));
    key.set_comment(format!("{name}@test"));
    key
}

/// A test approver's signature over a vote, as `review` would record it;
/// `None` for a name that is not a test approver.
pub fn sign_test_vote(
    apr_code: &str,
    approver: &str,
    decision: &str,
    payload_digest: &str,
) -> Option<String> {
    let key = test_approver_key(TEST_APPROVERS.iter().find(|n| **n == approver)?);
    let message =
        crate::integrity::approval::message(apr_code, approver, decision, payload_digest).ok()?;
    let sig = key
        .sign(
            crate::integrity::approval::NAMESPACE,
            ssh_key::HashAlg::Sha512,
            &message,
        )
        .ok()?;
    sig.to_pem(ssh_key::LineEnding::LF).ok()
}

/// Records a vote as the superuser does in tests and the harness: signed
/// by the test approver of that name when there is one and a digest to
/// sign, unsigned otherwise.
pub fn insert_vote(
    client: &mut postgres::Client,
    apr_code: &str,
    approver: &str,
    decision: &str,
    payload_digest: Option<&str>,
) -> Result<u64, postgres::Error> {
    let signature = payload_digest.and_then(|d| sign_test_vote(apr_code, approver, decision, d));
    client.execute(
        "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         VALUES ($1, $2, $3, $4, $5)",
        &[&apr_code, &approver, &decision, &payload_digest, &signature],
    )
}

/// Each test approver's private key as an OpenSSH key file (mode 0600)
/// named after it, as `review --sign-key` reads it.
pub fn write_approver_keys(dir: &std::path::Path) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in TEST_APPROVERS {
        let path = dir.join(name);
        let text = test_approver_key(name)
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| format!("{name}: {e}"))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

impl KeyFiles {
    /// The key file `review` signs with for the test approver `name`.
    pub fn approver_key(&self, name: &str) -> std::path::PathBuf {
        self.trusted_dir.join("approvers").join(name)
    }
}

/// The allowed-signers file of the test approvers: each key for its own
/// name, for the approval namespace only.
pub fn test_allowed_signers() -> String {
    TEST_APPROVERS
        .iter()
        .map(|name| {
            let public = test_approver_key(name)
                .public_key()
                .to_openssh()
                .expect("an Ed25519 public key has an OpenSSH form");
            format!(
                "{name} namespaces=\"{}\" {public}\n",
                crate::integrity::approval::NAMESPACE
            )
        })
        .collect()
}

pub fn test_keys(cluster: &crate::disposable::pgtemp::Cluster) -> Result<KeyFiles, String> {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = cluster.scratch_dir().join("keys");
    keys_in(&dir)
}

/// `test_keys` in a directory of the caller's: made on first use, read
/// after.
pub fn keys_in(dir: &std::path::Path) -> Result<KeyFiles, String> {
    let signing_key = dir.join("signing.key");
    let allowed_signers = dir.join("allowed_signers");
    if signing_key.exists() {
        let key = crate::integrity::signing::load_signing_key(&signing_key)?;
        return Ok(KeyFiles {
            signing_key,
            trusted_dir: dir.to_owned(),
            key_id: key.key_id().to_owned(),
            allowed_signers,
        });
    }
    let made = crate::integrity::signing::keygen(dir)?;
    std::fs::write(&allowed_signers, test_allowed_signers())
        .map_err(|e| format!("{}: {e}", allowed_signers.display()))?;
    write_approver_keys(&dir.join("approvers"))?;
    Ok(KeyFiles {
        signing_key: made.secret_path,
        trusted_dir: dir.to_owned(),
        key_id: made.key_id,
        allowed_signers,
    })
}

impl KeyFiles {
    /// Sets the handler's key environment on a command.
    pub fn apply(&self, cmd: &mut std::process::Command) {
        cmd.env(
            crate::integrity::signing::SIGNING_KEY_ENV,
            &self.signing_key,
        )
        .env(
            crate::integrity::signing::TRUSTED_KEYS_ENV,
            &self.trusted_dir,
        )
        .env(
            crate::integrity::approval::ALLOWED_SIGNERS_ENV,
            &self.allowed_signers,
        );
    }
}

/// Loads `n` old grants (consumed long ago, each for its own APR and plan)
/// straight into the table, as the superuser with the guard trigger off:
/// the "loaded database" the scale tests and `bench --scale` measure on.
/// Every row satisfies the table's constraints. Then ANALYZE.
pub fn load_old_grants(client: &mut postgres::Client, n: i64) -> Result<(), postgres::Error> {
    client.batch_execute("BEGIN; SET LOCAL session_replication_role = replica;")?;
    client.execute(
        "INSERT INTO governance_build_authorization \
           (auth_code, request_ref, status, carrier, lane, target, plan_ref, manifest_hash, protocol_version, \
            action_set, scope, apr_digest, granted_at, expires_at, granted_by, rollback_plan_ref, \
            consumed_at, consumed_by) \
         SELECT 'GBA-C1-OLD-' || i, 'OLD-' || i, 'consumed', 'C1', 'BUILD_PREP', 'DOT_C1_VOCAB_BUILD', \
                'OLD-PLAN-' || (i % 1000), md5(i::text) || md5(i::text), 'cser-v1', \
                '{c1_term_define}', '{\"target\": \"DOT_C1_VOCAB_BUILD\"}', md5(i::text) || md5((i + 1)::text), \
                now() - interval '30 days', now() - interval '30 days' + interval '1 hour', \
                'dot-apr-execute:authorize_build_step', 'C1-ROLLBACK-retire-not-delete', \
                now() - interval '30 days' + interval '1 minute', 'c1-build' \
           FROM generate_series(1, $1::bigint) AS i",
        &[&n],
    )?;
    client.batch_execute("COMMIT; ANALYZE governance_build_authorization;")
}

/// `governance_cluster`, also listening for TLS on `addr` (see
/// `Cluster::start_with_tls`).
pub fn governance_cluster_with_tls(
    cert_pem: &str,
    key_pem: &str,
    addr: std::net::Ipv4Addr,
) -> Result<crate::disposable::pgtemp::Cluster, crate::disposable::pgtemp::PgTempError> {
    let cluster = crate::disposable::pgtemp::Cluster::start_with_tls(cert_pem, key_pem, addr)?;
    cluster.create_database(TEMPLATE_DB, TEMPLATE_SQL)?;
    Ok(cluster)
}
