//! The command line (clap derive). Parsing only: no IO, no decisions.
//! `--help` carries an example per subcommand and the EXIT STATUS section.

pub mod docs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

pub const EXIT_STATUS: &str = "\
EXIT STATUS:
    0  OK     minted, consumed, revoked, proposed, or already so (the code says which)
    2  usage  the command line is wrong; nothing was done
    3  SKIP   not eligible yet (APR not approved, quorum not met); expected, do not force
    4  FAIL   the input is wrong, out of scope, tampered, expired or reused; the code says which
    5  ERROR  the environment is wrong (database unreachable, login, TLS, schema, guard, privilege, timeout)
    Every outcome but OK, and every --dry-run, leaves the database exactly as it was.

CONNECTION:
    The commands that reach a database take the connection options after the command name (see
    `<command> --help`); manifest, keygen, evidence and harness never connect and take none.
    --db-url, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
    PGPASSWORD, PGPASSFILE, PGSERVICE, PGSSLMODE, PGSSLCERT, PGSSLKEY, PGTARGETSESSIONATTRS,
    PGCHANNELBINDING, ...), as psql reads them; without PGUSER the user is the operating-system
    user. A parameter the tool does not support is refused by name, never ignored. A --db-url
    holding a password or sslpassword is refused: keep secrets out of argv (use PGPASSWORD, a 0600
    ~/.pgpass or a service file). PGCONNECT_TIMEOUT (seconds, 1-86400) bounds each host's whole
    handshake unless --connect-timeout or the connection string says otherwise.

KEYS AND EVIDENCE:
    --signing-key (execute), --trusted-keys (execute, consume, revoke, readback, list, show,
    aprs show, keys, evidence verify), --allowed-signers (execute, consume, readback, show, review, aprs)
    and --evidence-log (execute, consume, revoke, review, propose, propose-patch);
    DOT_ABS_SIGNING_KEY, DOT_ABS_TRUSTED_KEYS, DOT_ABS_ALLOWED_SIGNERS and DOT_ABS_EVIDENCE_LOG
    stand in for them.

ROLES:
    Each command runs as one of the staged roles (see its man page, ROLE); a login without it gets
    ERROR_PERMISSION_DENIED naming the role to use.";

/// Which of the staged roles runs each command, by the command's name
/// (staged/handler-role.staged.sql and staged/reviewer-role.staged.sql grant
/// exactly what these need). ERROR_PERMISSION_DENIED names it, each man page
/// has it under ROLE, and the README's table "Which role runs each command"
/// is checked against it. `None`: the command never connects.
pub fn role_needed(command: &str) -> Option<&'static str> {
    const READERS: &str =
        "dot_authorize_build_step (the minter) or dot_c1_build_consumer (the consumer)";
    match command {
        "execute" | "revoke" | "readback" => Some("dot_authorize_build_step (the minter)"),
        "consume" => Some("dot_c1_build_consumer (the consumer)"),
        "propose" | "propose-patch" => Some("dot_c1_grant_issue (the proposer)"),
        "review" => Some("your own login, a member of dot_apr_reviewer"),
        "list" | "show" | "aprs" | "keys" | "evidence" => Some(READERS),
        "digest" | "show-patch" => {
            Some("dot_authorize_build_step, dot_c1_build_consumer, or a login in dot_apr_reviewer")
        }
        _ => None,
    }
}

/// `--version`: the package version, the commit it was built from, and
/// the versions of the formats it speaks.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DOT_ABS_COMMIT"),
    "; canonical JSON cser-v1; verdict schema_version 1)"
);

#[derive(Debug, Parser)]
#[command(
    name = "dot-authorize-build-step",
    version = VERSION,
    about = "The one lawful minter of C1 build-prep grants: execute an approved authorize_build_step APR, \
             consume or revoke its grant, propose APRs, and prove it all on a disposable PostgreSQL.",
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// Print exactly one JSON object (the verdict) on stdout
    #[arg(long, global = true, display_order = 900)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The lock timeout when none is given.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// The statement timeout when none is given.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the database and how long to wait for it: flattened only
/// into the commands that connect, so `--help` of the others does not
/// offer options they would ignore.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// PostgreSQL URL or key=value string (without a password)
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Give up connecting, handshake included, after this long, with its unit: 500ms,
    /// 10s, 2m (default: the URL's connect_timeout, else PGCONNECT_TIMEOUT, else 10s)
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub connect_timeout: Option<Duration>,
    /// Give up waiting for a lock after this long, with its unit: 10s, 500ms (a bare
    /// number is refused)
    #[arg(long, value_parser = parse_timeout, default_value = "10s", value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Give up on any one statement after this long, with its unit: 30s, 2m
    #[arg(long, value_parser = parse_timeout, default_value = "30s", value_name = "DURATION")]
    pub statement_timeout: Duration,
    /// The schema of the governance tables (else DOT_ABS_SCHEMA, else public); every
    /// transaction's search_path is pg_catalog, this schema, pg_temp
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            db_url: None,
            connect_timeout: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            schema: None,
        }
    }
}

/// execute's private key.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct SigningKeyOption {
    /// The private key execute signs grants with (else DOT_ABS_SIGNING_KEY); mode 0600, yours
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// The public keys a grant is checked against.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct TrustedKeysOption {
    /// Public keys a grant's signature must verify against: a file, or a directory of *.pub
    /// (else DOT_ABS_TRUSTED_KEYS)
    #[arg(long, value_name = "FILE|DIR")]
    pub trusted_keys: Option<PathBuf>,
}

/// Who may sign an approval: every command that counts a quorum reads it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct AllowedSignersOption {
    /// OpenSSH allowed_signers file: which key may sign an approval for which approver
    /// (else DOT_ABS_ALLOWED_SIGNERS); not writable by group or others
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// Where a deciding command leaves its evidence line.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Keys and evidence")]
pub struct EvidenceLogOption {
    /// Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)
    #[arg(long, value_name = "FILE")]
    pub evidence_log: Option<PathBuf>,
}

/// How durable a write must be before it is answered OK.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Durability")]
pub struct DurabilityOption {
    /// local: OK once the server's commit policy is met (with synchronous standbys, once they
    /// confirm); replicated[:N]: also N streaming standbys (default 1) have flushed the commit,
    /// within the statement timeout, else ERROR_COMMIT_UNKNOWN (else DOT_ABS_DURABILITY;
    /// absent: local)
    #[arg(long, value_name = "MODE", value_parser = crate::decide::durability::Durability::parse)]
    pub durability: Option<crate::decide::durability::Durability>,
}

/// Everything a command was told about where and how to run, whichever of
/// the options above it accepts; what it does not accept is absent.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub json: bool,
    pub db_url: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    pub schema: Option<String>,
    pub signing_key: Option<PathBuf>,
    pub trusted_keys: Option<PathBuf>,
    pub allowed_signers: Option<PathBuf>,
    pub evidence_log: Option<PathBuf>,
    pub durability: Option<crate::decide::durability::Durability>,
}

impl Cli {
    /// `-o json` is `--json`: exactly one verdict on stdout, whatever it says.
    pub fn output_json_is_json(mut self) -> Cli {
        let format = match &self.command {
            Command::List(a) => Some(&a.format),
            Command::Aprs(AprsCommand::List(a)) => Some(&a.format),
            _ => None,
        };
        if format.is_some_and(|f| f.output == Some(Format::Json)) {
            self.json = true;
        }
        self
    }

    /// The settings of this command line.
    pub fn settings(&self) -> Settings {
        use Command as C;
        let none = Connection::default();
        let (conn, signing, trusted, evidence) = match &self.command {
            C::Execute(a) => (
                &a.conn,
                Some(&a.signing),
                Some(&a.trusted),
                Some(&a.evidence),
            ),
            C::Consume(a) => (&a.conn, None, Some(&a.trusted), Some(&a.evidence)),
            C::Revoke(a) => (&a.conn, None, Some(&a.trusted), Some(&a.evidence)),
            C::Readback(a) => (&a.conn, None, Some(&a.trusted), None),
            C::List(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Show(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Keys(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Propose(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::ProposePatch(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::Review(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::Digest(a) => (&a.conn, None, None, None),
            C::ShowPatch(a) => (&a.conn, None, None, None),
            C::Evidence(EvidenceCommand::Verify { conn, trusted, .. }) => {
                (conn, None, Some(trusted), None)
            }
            C::Aprs(AprsCommand::List(a)) => (&a.conn, None, None, None),
            C::Aprs(AprsCommand::Show(a)) => (&a.conn, None, Some(&a.trusted), None),
            C::Manifest(_) | C::Keygen { .. } | C::Harness { .. } => (&none, None, None, None),
        };
        let allowed = match &self.command {
            C::Execute(a) => Some(&a.allowed),
            C::Consume(a) => Some(&a.allowed),
            C::Readback(a) => Some(&a.allowed),
            C::Show(a) => Some(&a.allowed),
            C::Review(a) => Some(&a.allowed),
            C::Aprs(AprsCommand::List(a)) => Some(&a.allowed),
            C::Aprs(AprsCommand::Show(a)) => Some(&a.allowed),
            _ => None,
        };
        Settings {
            json: self.json,
            db_url: conn.db_url.clone(),
            connect_timeout: conn.connect_timeout,
            lock_timeout: conn.lock_timeout,
            statement_timeout: conn.statement_timeout,
            schema: conn.schema.clone(),
            signing_key: signing.and_then(|o| o.signing_key.clone()),
            trusted_keys: trusted.and_then(|o| o.trusted_keys.clone()),
            allowed_signers: allowed.and_then(|o| o.allowed_signers.clone()),
            evidence_log: evidence.and_then(|o| o.evidence_log.clone()),
            durability: match &self.command {
                C::Execute(a) => a.durability.durability,
                C::Consume(a) => a.durability.durability,
                C::Revoke(a) => a.durability.durability,
                _ => None,
            },
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an approved APR, check quorum, mint exactly one grant (or report the one minted)
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step execute --apr APR-C1-0001 --json"
    )]
    Execute(ExecuteArgs),
    /// Spend a grant once: active -> consumed, only if every binding matches and it is unexpired
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step consume --auth-code GBA-C1-APR-C1-0001 \\\n        \
        --carrier C1 --lane BUILD_PREP --target DOT_C1_VOCAB_BUILD --plan-ref LEGO1-C1-PLAN \\\n        \
        --manifest c1-manifest.json --by c1-build"
    )]
    Consume(ConsumeArgs),
    /// The owner's rollback: active -> revoked, with who and why; never deletes. One grant,
    /// or in bulk every active grant of a plan, of a key id, or forged (--dry-run first)
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step revoke --apr APR-C1-0001 --reason 'rollback per file 08' --by owner\n    \
        dot-authorize-build-step revoke --key-id 3f2a9c0d1e4b5a67 --reason 'key leaked' --by owner --dry-run\n    \
        dot-authorize-build-step revoke --key-id 3f2a9c0d1e4b5a67 --reason 'key leaked' --by owner --expect 2"
    )]
    Revoke(RevokeArgs),
    /// The seed 004 STEP 7 readback checklist for an APR, as PASS/FAIL lines
    #[command(after_help = "EXAMPLE:\n    dot-authorize-build-step readback --apr APR-C1-0001")]
    Readback(ReadbackArgs),
    /// Build an authorize_build_step APR from a manifest; --dry-run prints it, otherwise inserts it as proposed
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step propose --manifest c1.json --plan-ref LEGO1-C1-PLAN --ttl 2h \\\n        \
        --rollback-plan-ref C1-ROLLBACK-retire-not-delete --by dot-c1-grant-issue --dry-run\n    \
        dot-authorize-build-step propose --manifest c1.json --plan-ref LEGO1-C1-PLAN --ttl 2h \\\n        \
        --rollback-plan-ref C1-ROLLBACK-retire-not-delete --by dot-c1-grant-issue --apr APR-C1-0001"
    )]
    Propose(ProposeArgs),
    /// List grants, newest first: -o table|wide|json|jsonl|yaml (--json one verdict, --jsonl a line each)
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step list --status active --expiring-within 1h\n    \
        dot-authorize-build-step list --plan LEGO1-C1-PLAN --jsonl | jq .auth_code\n    \
        dot-authorize-build-step list --forged --trusted-keys /etc/dot-authorize-build-step/trusted -o wide\n    \
        dot-authorize-build-step list --key-id 3f9a0c1d2e4b5a69 --since 24h --sort-by expires_at --no-headers"
    )]
    List(ListArgs),
    /// One grant with its whole binding, its signature check and its history
    #[command(after_help = "EXAMPLE:\n    dot-authorize-build-step show --apr APR-C1-0001")]
    Show(ShowArgs),
    /// APRs and their votes: `aprs list`, `aprs show --apr CODE` (read-only)
    #[command(subcommand)]
    Aprs(AprsCommand),
    /// Approve or reject an APR: shows its canonical payload and digest, and records the vote with that digest
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step review --apr APR-C1-0001 --approve --by alice --digest 4f0c…e21a\n\n\
        Run it as your own database login (a member of dot_apr_reviewer): the vote is recorded under\n\
        that login's name. --digest, when given, must be the digest you reviewed (see `digest`): if the\n\
        payload changed since, nothing is recorded."
    )]
    Review(ReviewArgs),
    /// The cser-v1 digest of an APR's payload: what an approval must record as payload_digest
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step digest --apr APR-C1-0001\n\n\
        Approvals made through other tools count only if they carry this digest: it is the\n\
        digest of exactly what the approver saw, and the recount counts nothing else."
    )]
    Digest(DigestArgs),
    /// cser-v1 canonical bytes and SHA-256 of a JSON document
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Owner STEP 1: build the patch_ops_code APR that installs the dispatch arm into dot-apr-execute
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step propose-patch --new-content dot-apr-execute.new \\\n        \
        --file-path /opt/incomex/dot/bin/dot-apr-execute --dot-code DOT-310 --session S-C1-ABS-001 \\\n        \
        --test-plan 'bash -n passes; dispatch arm present; KG/create/update/add_field/patch_ops regress OK' \\\n        \
        --by owner --dry-run"
    )]
    ProposePatch(ProposePatchArgs),
    /// Decode a patch_ops_code APR, verify its SHA-256, and diff it or write it out
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step show-patch --apr APR-PATCH-0001 --against /opt/incomex/dot/bin/dot-apr-execute"
    )]
    ShowPatch(ShowPatchArgs),
    /// The trusted key ids, and per key how many grants it signed are active, consumed or
    /// revoked and how many rows claim it but do not verify; also key ids the grants name that
    /// are not trusted. Read-only
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step keys --trusted-keys /etc/dot-authorize-build-step/trusted\n    \
        dot-authorize-build-step keys --jsonl | jq 'select(.forged_active > 0) | .key_id'\n\n\
        A key with forged_active rows, or a key id that is not trusted, is what `revoke --forged` or\n\
        `revoke --key-id ID` retires (run them with --dry-run first)."
    )]
    Keys(KeysArgs),
    /// Make an Ed25519 key pair for signing grants: DIR/signing.key (0600) and DIR/<key id>.pub
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step keygen --out /etc/dot-authorize-build-step/keys\n\n\
        Never overwrites a key. Install signing.key (0600, owned by the user execute runs as),\n\
        put <key id>.pub in the trusted keys of every host that runs consume, revoke or readback,\n\
        and back the .pub file up with the owner's records."
    )]
    Keygen {
        /// Directory to write the key pair into (created 0700 if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The evidence log: verify its hash chain
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Prove every bad input is refused with nothing written, on a disposable PostgreSQL
    #[command(after_help = "EXAMPLE:\n    dot-authorize-build-step harness\n\n\
        Starts its own cluster (needs initdb, pg_ctl and postgres; as root it runs them as the postgres user),\n\
        runs every case as the least-privilege role, prints one row per case and `N passed, M failed`,\n\
        and removes the cluster. Exit 0 only when every case passes.")]
    Harness {
        /// Leave the cluster running afterwards (marked KEPT, so no other run's reaper
        /// removes it) and print its socket dir, data dir, databases and how to stop it
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExecuteArgs {
    /// The APR code (apr_requests.apr_code)
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    /// Check everything and say what would happen; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub signing: SigningKeyOption,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
    #[command(flatten)]
    pub durability: DurabilityOption,
}

#[derive(Debug, Args)]
pub struct ReadbackArgs {
    /// The APR to check
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which_grant").required(true).args(["auth_code", "apr"]))]
pub struct ShowArgs {
    /// The grant with this auth code
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub auth_code: Option<String>,
    /// The grant minted for this APR
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("decision").required(true).args(["approve", "reject"]))]
pub struct ReviewArgs {
    /// The APR to vote on
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    /// Record an approval
    #[arg(long)]
    pub approve: bool,
    /// Record a rejection
    #[arg(long)]
    pub reject: bool,
    /// Who reviews: must be exactly the database login running the command (default: that login)
    #[arg(long, value_name = "WHO", value_parser = name)]
    pub by: Option<String>,
    /// The payload digest you reviewed (64 lowercase hex; else a usage error); refused
    /// with REJECT_DIGEST_MISMATCH if the payload's digest is not that one
    #[arg(long, value_name = "H", value_parser = payload_digest)]
    pub digest: Option<String>,
    /// Why you reject (1-500 printable characters; only with --reject). It is kept in
    /// the verdict and the evidence log only: apr_approvals has no column for it, and
    /// the vote's signature does not cover it
    #[arg(long, value_name = "TEXT", requires = "reject", conflicts_with = "approve", value_parser = reject_reason)]
    pub reason: Option<String>,
    /// Sign the vote with this OpenSSH key (else DOT_ABS_APPROVER_KEY): a private key file (a
    /// passphrase is asked on the terminal), or a .pub file whose key ssh-agent holds
    #[arg(long, value_name = "FILE", conflicts_with = "signature")]
    pub sign_key: Option<PathBuf>,
    /// Record this signature, made elsewhere with `ssh-keygen -Y sign -n dot-apr-approval`
    /// over `digest --message`
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The APR whose payload to digest
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    /// Print the exact bytes an approver signs (the vote message M), for
    /// `ssh-keygen -Y sign -n dot-apr-approval`, instead of the digest
    #[arg(long, requires_all = ["decision", "by"])]
    pub message: bool,
    /// The decision the message records (with --message)
    #[arg(long, value_parser = ["approve", "reject"], requires = "message")]
    pub decision: Option<String>,
    /// The approver the message names: your database login, exactly (with --message)
    #[arg(long, value_name = "NAME", value_parser = name, requires = "message")]
    pub by: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct ShowPatchArgs {
    /// The patch_ops_code APR to decode
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    /// Print a unified diff of the current file against the new content
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Write the verified new content to FILE (refused if FILE exists, unless --force)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Let --out replace an existing file
    #[arg(long, requires = "out")]
    pub force: bool,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only grants with this status as stored (an active grant past its expiry is still active)
    #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(GRANT_STATUSES))]
    pub status: Option<String>,
    /// Only the grant minted for this APR
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: Option<String>,
    /// Only grants for this plan
    #[arg(long, value_name = "P", value_parser = printable)]
    pub plan: Option<String>,
    /// Only active grants that expire within this long from now, with its unit: 30m, 2h
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub expiring_within: Option<Duration>,
    /// Only grants signed with this key id (as `keygen` named it)
    #[arg(long, value_name = "K", value_parser = name)]
    pub key_id: Option<String>,
    /// Only grants whose signature does not verify against the trusted keys (needs
    /// --trusted-keys or DOT_ABS_TRUSTED_KEYS; without them ERROR_TRUSTED_KEYS)
    #[arg(long)]
    pub forged: bool,
    /// Only grants minted within this long (30m, 2h, 7d) or since this time
    /// (2026-12-01T09:00:00Z, 2026-12-01), by the database's clock
    #[arg(long, value_name = "DURATION|TIMESTAMP", value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many (newest first)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub limit: i64,
    /// Sort by this field, ascending (ties by auth_code); default: newest first
    #[arg(long, value_name = "FIELD", value_enum)]
    pub sort_by: Option<GrantSort>,
    #[command(flatten)]
    pub format: FormatOptions,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
}

/// How a listing prints: `-o`, `--no-headers`, and `--jsonl` (kept as the
/// alias of `-o jsonl`; the global `--json` is `-o json`).
#[derive(Debug, Clone, Args)]
pub struct FormatOptions {
    /// table (default), wide (more columns), json (the one verdict, as --json),
    /// jsonl (one object a row, no verdict), yaml (the verdict as YAML)
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum)]
    pub output: Option<Format>,
    /// One JSON object per row per line, instead of the table (no verdict line): -o jsonl
    #[arg(long, conflicts_with_all = ["json", "output"])]
    pub jsonl: bool,
    /// table and wide: the rows only, no header line, no legend, no verdict line (the exit
    /// status still tells)
    #[arg(long)]
    pub no_headers: bool,
}

impl FormatOptions {
    /// The format asked for; `--json` with `-o` other than json is a usage error.
    pub fn resolve(&self, json: bool) -> Result<Format, String> {
        match (json, self.output, self.jsonl) {
            (true, None | Some(Format::Json), _) => Ok(Format::Json),
            (true, Some(other), _) => Err(format!(
                "--json is -o json; it cannot be combined with -o {}",
                other.name()
            )),
            (false, _, true) => Ok(Format::Jsonl),
            (false, Some(f), false) => Ok(f),
            (false, None, false) => Ok(Format::Table),
        }
    }
}

/// The output formats of the listings (kubectl's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Wide,
    Json,
    Jsonl,
    Yaml,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Wide => "wide",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Yaml => "yaml",
        }
    }
}

/// The fields `list --sort-by` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantSort {
    #[value(name = "granted_at")]
    GrantedAt,
    #[value(name = "expires_at")]
    ExpiresAt,
    #[value(name = "auth_code")]
    AuthCode,
    #[value(name = "apr")]
    Apr,
    #[value(name = "plan")]
    Plan,
    #[value(name = "status")]
    Status,
    #[value(name = "key_id")]
    KeyId,
}

/// `--since`: a span back from the database's clock, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    At(chrono::DateTime<chrono::Utc>),
}

/// `30m`, `2h`, `7d` (with its unit), or an RFC 3339 time
/// (`2026-12-01T09:00:00Z`), or a date (`2026-12-01`, midnight UTC).
pub fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Since::At(at.with_timezone(&chrono::Utc)));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if s.len() == 10 {
            return Ok(Since::At(day.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
    }
    match parse_duration(s) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(100 * 365 * 86_400) => Ok(Since::Ago(d)),
        Ok(_) => Err(format!("{s:?} is outside 1ms..=100 years")),
        Err(e) => Err(format!(
            "{e}; or give a time: 2026-12-01T09:00:00Z, 2026-12-01"
        )),
    }
}

/// `aprs`: the APRs and their votes, read-only.
#[derive(Debug, Subcommand)]
pub enum AprsCommand {
    /// APRs, newest first: code, action, status, proposer, votes approve/reject, counted, age
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step aprs list --pending\n    \
        dot-authorize-build-step aprs list --action authorize_build_step --since 7d -o wide\n\n\
        counted is the handler's own recount (signed approvals of this exact payload, not the\n\
        proposer's) against the action's min_approvals; it needs --allowed-signers."
    )]
    List(AprsListArgs),
    /// One APR: its payload digest, every vote with whether it counts and why not, and what
    /// `execute` would answer now (its dry run, read-only)
    #[command(after_help = "EXAMPLE:\n    dot-authorize-build-step aprs show --apr APR-C1-0001")]
    Show(AprsShowArgs),
}

/// The statuses an APR can have (apr_requests' CHECK constraint).
pub const APR_STATUSES: [&str; 6] = [
    "proposed",
    "approved",
    "applied",
    "rejected",
    "withdrawn",
    "failed",
];

#[derive(Debug, Args)]
pub struct AprsListArgs {
    /// Only APRs with this status
    #[arg(long, value_name = "STATUS", value_parser = clap::builder::PossibleValuesParser::new(APR_STATUSES))]
    pub status: Option<String>,
    /// Only APRs still waiting: proposed, or approved with no grant minted yet
    #[arg(long, conflicts_with = "status")]
    pub pending: bool,
    /// Only APRs of this action code (authorize_build_step, patch_ops_code, ...)
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub action: Option<String>,
    /// Only APRs created within this long (30m, 2h, 7d) or since this time
    /// (2026-12-01T09:00:00Z, 2026-12-01), by the database's clock
    #[arg(long, value_name = "DURATION|TIMESTAMP", value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many (newest first)
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub limit: i64,
    #[command(flatten)]
    pub format: FormatOptions,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
}

#[derive(Debug, Args)]
pub struct AprsShowArgs {
    /// The APR to show
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: String,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// One JSON object per key id per line, instead of the table (no verdict line)
    #[arg(long, conflicts_with = "json")]
    pub jsonl: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
}

/// The statuses a grant row can have (the table's CHECK constraint):
/// `list --status` accepts these and nothing else.
pub const GRANT_STATUSES: [&str; 3] = ["active", "consumed", "revoked"];

#[derive(Debug, Args)]
pub struct ProposePatchArgs {
    /// The whole new dot-apr-execute, with the staged arm in it
    #[arg(long, value_name = "FILE")]
    pub new_content: PathBuf,
    /// Where the dispatcher lives (absolute, no '..')
    #[arg(long, value_name = "PATH", value_parser = printable)]
    pub file_path: String,
    /// The DOT code the patch is filed under (e.g. DOT-310)
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub dot_code: String,
    /// apr_requests.session_code
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub session: String,
    /// How the patched dispatcher is tested, for the approvers
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub test_plan: String,
    /// Who proposes (apr_requests.proposed_by): exactly the database login proposing
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    /// The APR code; generated when absent
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub apr: Option<String>,
    /// Rollback: the content is the dispatcher as it was before the arm (it must not carry the arm)
    #[arg(long)]
    pub restore: bool,
    /// Print the APR; write nothing (no database needed)
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
}

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The cser-v1 manifest the grant will be bound to (its hash and operations)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "manifest_hash",
        required_unless_present = "manifest_hash"
    )]
    pub manifest: Option<PathBuf>,
    /// Instead of --manifest: the manifest's cser-v1 hash; the action set is then the live C1
    /// vocabulary (seed 004 STEP 6), so a database must answer
    #[arg(long, value_name = "H", value_parser = printable)]
    pub manifest_hash: Option<String>,
    /// The plan the grant is bound to (1-128 of [A-Za-z0-9._:-])
    #[arg(long, value_name = "P", value_parser = printable)]
    pub plan_ref: String,
    /// How long the grant lives once minted, with its unit: 90s, 30m, 2h (at most 24h;
    /// a bare number is refused)
    #[arg(long, value_name = "DURATION")]
    pub ttl: String,
    /// The plan that undoes the build (1-128 of [A-Za-z0-9._:-])
    #[arg(long, value_name = "R", value_parser = printable)]
    pub rollback_plan_ref: String,
    /// Who proposes (apr_requests.proposed_by): exactly the database login proposing
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    /// The APR code; generated (APR-C1-<utc time>-<digest prefix>) when absent
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub apr: Option<String>,
    /// apr_requests.session_code
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub session: Option<String>,
    /// Print the APR; write nothing (the live vocabulary is checked only if a database answers)
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The grant to spend
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub auth_code: String,
    /// The target being built; must be the grant's (DOT_C1_VOCAB_BUILD)
    #[arg(long, value_parser = printable)]
    pub target: String,
    /// The carrier; must be the grant's (C1)
    #[arg(long, value_parser = printable)]
    pub carrier: String,
    /// The lane; must be the grant's (BUILD_PREP)
    #[arg(long, value_parser = printable)]
    pub lane: String,
    /// The plan being run; must be the grant's
    #[arg(long, value_name = "P", value_parser = printable)]
    pub plan_ref: String,
    /// DRY_RUN; REAL_RUN is always refused (C1_PROD_REAL_RUN_BLOCKED)
    #[arg(long, default_value = "DRY_RUN", value_parser = printable)]
    pub mode: String,
    /// The manifest about to be built: hash and action set computed from it
    #[arg(long, value_name = "FILE", conflicts_with_all = ["manifest_hash", "action_set"], required_unless_present_all = ["manifest_hash", "action_set"])]
    pub manifest: Option<PathBuf>,
    /// The manifest's cser-v1 hash (with --action-set, instead of --manifest)
    #[arg(long, value_name = "H", requires = "action_set", value_parser = printable)]
    pub manifest_hash: Option<String>,
    /// Comma-separated operation codes; compared as a set, a duplicate is a mismatch
    #[arg(long, value_name = "a,b,c", requires = "manifest_hash", value_parser = printable)]
    pub action_set: Option<String>,
    /// Who consumes (recorded in consumed_by)
    #[arg(long, value_name = "WHO", default_value = "c1-build-step", value_parser = name)]
    pub by: String,
    /// Idempotency key stored with the spend: a re-run with the same key and
    /// binding answers CONSUMED; anyone else gets ALREADY_CONSUMED.
    /// 1-128 of [A-Za-z0-9._:-]; a fresh random one when absent
    #[arg(long, value_name = "ID", value_parser = request_id)]
    pub request_id: Option<String>,
    /// Check everything and say whether it would be consumed; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub allowed: AllowedSignersOption,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
    #[command(flatten)]
    pub durability: DurabilityOption,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).multiple(false)
    .args(["auth_code", "apr", "plan", "key_id", "forged"]))]
pub struct RevokeArgs {
    /// The grant to revoke
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub auth_code: Option<String>,
    /// Revoke the grant minted for this APR
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: Option<String>,
    /// Bulk: revoke every active grant of this plan (expired ones included)
    #[arg(long, value_name = "P", value_parser = name)]
    pub plan: Option<String>,
    /// Bulk: revoke every active grant that names this key id, verified or not (a leaked
    /// key); 16 hex digits, as `keys` lists them
    #[arg(long, value_name = "ID", value_parser = key_id)]
    pub key_id: Option<String>,
    /// Bulk: revoke every active grant whose signature does not verify against the
    /// trusted keys
    #[arg(long)]
    pub forged: bool,
    /// Bulk: the number of grants --dry-run listed; required without --dry-run, and if the
    /// set is not exactly N grants now, nothing is revoked (REJECT_BULK_MISMATCH)
    #[arg(long, value_name = "N", conflicts_with_all = ["auth_code", "apr"])]
    pub expect: Option<u64>,
    /// Why (recorded in revoke_reason)
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub reason: String,
    /// Who revokes (recorded in revoked_by)
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    /// Check everything and say whether it would be revoked (in bulk: list every grant it
    /// would revoke, and with --expect check the count too); write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub conn: Connection,
    #[command(flatten)]
    pub trusted: TrustedKeysOption,
    #[command(flatten)]
    pub evidence: EvidenceLogOption,
    #[command(flatten)]
    pub durability: DurabilityOption,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Walk the chain and check every line's signature: exit 0 with the count, or exit 4
    /// naming the first broken line; with --db, also the grant whose anchor or MINTED line
    /// the log lacks
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step evidence verify /var/log/dot-authorize-build-step/evidence.jsonl --trusted-keys /etc/dot-authorize-build-step/trusted\n    dot-authorize-build-step evidence verify /var/log/dot-authorize-build-step/evidence.jsonl --db"
    )]
    Verify {
        /// The evidence log to walk
        file: PathBuf,
        /// Also check the log against the grants (read-only): each grant minted with a log
        /// must find its anchor and its MINTED line in it, or the log was cut short or rewritten
        #[arg(long)]
        db: bool,
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        trusted: TrustedKeysOption,
    },
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Print the lowercase hex SHA-256 of the canonical bytes
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step manifest hash fixtures/manifests/c1-valid.json\n    \
        jq . c1.json | dot-authorize-build-step manifest hash -"
    )]
    Hash {
        /// The JSON document (a regular file; - reads standard input, at most 16 MiB either way)
        file: PathBuf,
    },
    /// Print the canonical bytes (RFC 8785), no trailing newline
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step manifest canon c1.json | sha256sum"
    )]
    Canon {
        /// The JSON document (a regular file; - reads standard input, at most 16 MiB either way)
        file: PathBuf,
    },
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        printable(s)
    }
}

/// A code or name: non-empty, and no character that could forge or hide
/// output (control characters, line breaks, invisible and bidi formatting).
pub fn name(s: &str) -> Result<String, String> {
    non_empty(s)
}

/// Free text (no control or invisible characters, may be empty).
pub fn printable(s: &str) -> Result<String, String> {
    match s.chars().find(|c| is_hidden(*c)) {
        Some(c) => Err(format!(
            "holds the character U+{:04X}; control, line-break and invisible characters are refused",
            u32::from(c)
        )),
        None => Ok(s.to_owned()),
    }
}

/// review's `--digest`: a cser-v1 SHA-256, 64 lowercase hex digits. Anything
/// else is a slip of the hand, told apart from a digest of another payload.
fn payload_digest(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s.to_owned())
    } else {
        Err("must be 64 lowercase hex digits, as `digest --apr CODE` prints".into())
    }
}

/// `revoke --key-id`: a key id as `keys` and `keygen` print it, 16
/// lowercase hex digits (a mistyped id would silently match nothing).
fn key_id(s: &str) -> Result<String, String> {
    if s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s.to_owned())
    } else {
        Err("must be 16 lowercase hex digits, as `keys` lists them".into())
    }
}

/// review's `--reason`: 1-500 characters, none of them hidden.
fn reject_reason(s: &str) -> Result<String, String> {
    let n = s.chars().count();
    if !(1..=500).contains(&n) {
        return Err(format!("must be 1-500 characters, not {n}"));
    }
    printable(s)
}

/// Control characters and the invisible or direction-changing format
/// characters that make two different strings look alike.
pub fn is_hidden(c: char) -> bool {
    crate::canon::text::is_hidden(c)
}

/// consume's idempotency key: 1-128 of [A-Za-z0-9._:-].
fn request_id(s: &str) -> Result<String, String> {
    if crate::decide::policy::is_plan_ref(s) {
        Ok(s.to_owned())
    } else {
        Err("must be 1-128 characters of [A-Za-z0-9._:-]".into())
    }
}

/// A fresh random request id (128 bits from the OS).
pub fn fresh_request_id() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No OS randomness: still unique enough per process and instant.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos ^ (u128::from(std::process::id()) << 96)).to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("req-{hex}")
}

/// The longest timeout accepted: every one must be one the server can hold
/// (PostgreSQL's are int milliseconds, and the idle-in-transaction timeout
/// is twice the statement timeout), and nothing should wait longer anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// A timeout: a duration from 1ms to 24h (0 would mean "wait forever").
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() || d > MAX_TIMEOUT {
        Err(format!("{s:?} is outside 1ms..=24h"))
    } else {
        Ok(d)
    }
}

/// `90s`, `30m`, `2h`, `1d`, `500ms`. A bare number is refused: PostgreSQL
/// reads a bare `lock_timeout` as milliseconds, so guessing seconds here
/// would be off by a thousand for whoever brings that habit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 90s, 30m, 2h"))?;
    let secs = match unit {
        "" => {
            return Err(format!(
                "{s:?} has no unit: add one, e.g. {s}ms or {s}s (ms, s, m, h, d)"
            ))
        }
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a duration like 500ms, 90s, 30m, 2h"))
}

#[cfg(test)]
mod tests {
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
}

#[cfg(test)]
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
