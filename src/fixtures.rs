//! The SQL the project ships, compiled in, so `harness` and the demo need
//! nothing but the binary and PostgreSQL's server binaries.

/// The model of the live governance database (SPEC §5).
pub const SCHEMA_SQL: &str = include_str!("../fixtures/schema.sql");
/// The constraints that refuse what the handler would never write (staged;
/// SPEC §9). Already in `SCHEMA_SQL`; applying it there is a no-op.
pub const HARDEN_SQL: &str = include_str!("../staged/harden-tables.staged.sql");
/// The least-privilege roles (staged; SPEC §8, §9).
pub const HANDLER_ROLE_SQL: &str = include_str!("../staged/handler-role.staged.sql");
/// The approvers' group role for `review` (staged).
pub const REVIEWER_ROLE_SQL: &str = include_str!("../staged/reviewer-role.staged.sql");
/// Binds authorize_build_step to its handler (staged; SPEC §8).
pub const BIND_SQL: &str = include_str!("../staged/bind-authorize_build_step-handler.staged.sql");
/// The exact reverse of `BIND_SQL`.
pub const UNBIND_SQL: &str =
    include_str!("../staged/unbind-authorize_build_step-handler.staged.sql");

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

/// Starts a disposable cluster with the governance template loaded (schema
/// and roles, handler still unbound).
pub fn governance_cluster() -> Result<crate::pgtemp::Cluster, crate::pgtemp::PgTempError> {
    let cluster = crate::pgtemp::Cluster::start()?;
    cluster.create_database(
        TEMPLATE_DB,
        &[SCHEMA_SQL, HARDEN_SQL, HANDLER_ROLE_SQL, REVIEWER_ROLE_SQL],
    )?;
    Ok(cluster)
}

/// The negative-suite fixture files, by name.
pub const CASE_FILES: &[(&str, &str)] = &[
    (
        "execute.json",
        include_str!("../fixtures/cases/execute.json"),
    ),
    (
        "consume.json",
        include_str!("../fixtures/cases/consume.json"),
    ),
    ("revoke.json", include_str!("../fixtures/cases/revoke.json")),
];

/// The key pair a disposable cluster's handler signs with: `signing.key`
/// and the directory of trusted `*.pub` files (the same directory), made
/// once per cluster in its scratch directory and removed with it.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub signing_key: std::path::PathBuf,
    pub trusted_dir: std::path::PathBuf,
    pub key_id: String,
}

pub fn test_keys(cluster: &crate::pgtemp::Cluster) -> Result<KeyFiles, String> {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = cluster.scratch_dir().join("keys");
    let signing_key = dir.join("signing.key");
    if signing_key.exists() {
        let key = crate::signing::load_signing_key(&signing_key)?;
        return Ok(KeyFiles {
            signing_key,
            trusted_dir: dir,
            key_id: key.key_id().to_owned(),
        });
    }
    let made = crate::signing::keygen(&dir)?;
    Ok(KeyFiles {
        signing_key: made.secret_path,
        trusted_dir: dir,
        key_id: made.key_id,
    })
}

impl KeyFiles {
    /// Sets the handler's key environment on a command.
    pub fn apply(&self, cmd: &mut std::process::Command) {
        cmd.env(crate::signing::SIGNING_KEY_ENV, &self.signing_key)
            .env(crate::signing::TRUSTED_KEYS_ENV, &self.trusted_dir);
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
) -> Result<crate::pgtemp::Cluster, crate::pgtemp::PgTempError> {
    let cluster = crate::pgtemp::Cluster::start_with_tls(cert_pem, key_pem, addr)?;
    cluster.create_database(
        TEMPLATE_DB,
        &[SCHEMA_SQL, HARDEN_SQL, HANDLER_ROLE_SQL, REVIEWER_ROLE_SQL],
    )?;
    Ok(cluster)
}
