//! The command line (clap derive). Parsing only: no IO, no decisions.
//! `--help` carries an example per subcommand and the EXIT STATUS section.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

pub const EXIT_STATUS: &str = "\
EXIT STATUS:
    0  OK     minted, consumed, revoked, proposed, or already so (the code says which)
    2  usage  the command line is wrong; nothing was done
    3  SKIP   not eligible yet (APR not approved, quorum not met); expected, do not force
    4  FAIL   the input is wrong, out of scope, tampered, expired or reused; the code says which
    5  ERROR  the environment is wrong (database unreachable, schema, guard, privilege, timeout)
    Every outcome but OK, and every --dry-run, leaves the database exactly as it was.

CONNECTION:
    --db-url, else DATABASE_URL, else PGHOST/PGPORT/PGUSER/PGDATABASE/PGPASSWORD/PGPASSFILE/PGSSLMODE,
    as psql reads them; without PGUSER the user is the operating-system user. A --db-url holding a
    password is refused: keep passwords out of argv (use PGPASSWORD or a 0600 ~/.pgpass).
    PGCONNECT_TIMEOUT (seconds, 1-86400) bounds the whole handshake unless --connect-timeout or the
    URL's connect_timeout says otherwise.

KEYS AND EVIDENCE:
    DOT_ABS_SIGNING_KEY, DOT_ABS_TRUSTED_KEYS and DOT_ABS_EVIDENCE_LOG stand in for the flags.";

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
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// PostgreSQL URL or key=value string (without a password)
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub db_url: Option<String>,
    /// Print exactly one JSON object (the verdict) on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up connecting, handshake included, after this long (default: the URL's
    /// connect_timeout, else PGCONNECT_TIMEOUT, else 10s)
    #[arg(long, global = true, value_parser = parse_timeout, value_name = "DURATION", help_heading = "Connection")]
    pub connect_timeout: Option<Duration>,
    /// Give up waiting for a lock after this long (e.g. 10s, 500ms)
    #[arg(long, global = true, value_parser = parse_timeout, default_value = "10s", value_name = "DURATION", help_heading = "Connection")]
    pub lock_timeout: Duration,
    /// Give up on any one statement after this long
    #[arg(long, global = true, value_parser = parse_timeout, default_value = "30s", value_name = "DURATION", help_heading = "Connection")]
    pub statement_timeout: Duration,
    /// The private key execute signs grants with (else DOT_ABS_SIGNING_KEY); mode 0600, yours
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Keys and evidence"
    )]
    pub signing_key: Option<PathBuf>,
    /// Public keys a grant's signature must verify against: a file, or a directory of *.pub
    /// (else DOT_ABS_TRUSTED_KEYS)
    #[arg(
        long,
        global = true,
        value_name = "FILE|DIR",
        help_heading = "Keys and evidence"
    )]
    pub trusted_keys: Option<PathBuf>,
    /// Append one hash-chained JSON line per decision to FILE (else DOT_ABS_EVIDENCE_LOG; absent: none)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Keys and evidence"
    )]
    pub evidence_log: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an approved APR, check quorum, mint exactly one grant (or report the one minted)
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step execute --apr APR-C1-0001 --json"
    )]
    Execute {
        /// The APR code (apr_requests.apr_code)
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: String,
        /// Check everything and say what would happen; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Spend a grant once: active -> consumed, only if every binding matches and it is unexpired
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step consume --auth-code GBA-C1-APR-C1-0001 \\\n        \
        --carrier C1 --lane BUILD_PREP --target DOT_C1_VOCAB_BUILD --plan-ref LEGO1-C1-PLAN \\\n        \
        --manifest c1-manifest.json --by c1-build"
    )]
    Consume(ConsumeArgs),
    /// The owner's rollback: active -> revoked, with who and why; never deletes
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step revoke --apr APR-C1-0001 --reason 'rollback per file 08' --by owner"
    )]
    Revoke(RevokeArgs),
    /// The seed 004 STEP 7 readback checklist for an APR, as PASS/FAIL lines
    #[command(after_help = "EXAMPLE:\n    dot-authorize-build-step readback --apr APR-C1-0001")]
    Readback {
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: String,
    },
    /// Build an authorize_build_step APR from a manifest; --dry-run prints it, otherwise inserts it as proposed
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step propose --manifest c1.json --plan-ref LEGO1-C1-PLAN --ttl 2h \\\n        \
        --rollback-plan-ref C1-ROLLBACK-retire-not-delete --by dot-c1-grant-issue --dry-run\n    \
        dot-authorize-build-step propose --manifest c1.json --plan-ref LEGO1-C1-PLAN --ttl 2h \\\n        \
        --rollback-plan-ref C1-ROLLBACK-retire-not-delete --by dot-c1-grant-issue --apr APR-C1-0001"
    )]
    Propose(ProposeArgs),
    /// List grants, newest first: a table, --json one verdict with them all, --jsonl a line each
    #[command(
        after_help = "EXAMPLES:\n    dot-authorize-build-step list --status active --expiring-within 1h\n    \
        dot-authorize-build-step list --plan LEGO1-C1-PLAN --jsonl | jq .auth_code"
    )]
    List(ListArgs),
    /// One grant with its whole binding, its signature check and its history
    #[command(
        group = clap::ArgGroup::new("which_grant").required(true).args(["auth_code", "apr"]),
        after_help = "EXAMPLE:\n    dot-authorize-build-step show --apr APR-C1-0001"
    )]
    Show {
        #[arg(long, value_name = "CODE", value_parser = name)]
        auth_code: Option<String>,
        /// The grant minted for this APR
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: Option<String>,
    },
    /// Approve or reject an APR: shows its canonical payload and digest, and records the vote with that digest
    #[command(
        group = clap::ArgGroup::new("decision").required(true).args(["approve", "reject"]),
        after_help = "EXAMPLE:\n    dot-authorize-build-step review --apr APR-C1-0001 --approve --by alice --digest 4f0c…e21a\n\n\
        Run it as your own database login (a member of dot_apr_reviewer): the vote is recorded under\n\
        that login's name. --digest, when given, must be the digest you reviewed (see `digest`): if the\n\
        payload changed since, nothing is recorded."
    )]
    Review {
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: String,
        #[arg(long)]
        approve: bool,
        #[arg(long)]
        reject: bool,
        /// Who reviews: must be the database login running the command (default: that login)
        #[arg(long, value_name = "WHO", value_parser = name)]
        by: Option<String>,
        /// The payload digest you reviewed; refused if the payload is no longer that one
        #[arg(long, value_name = "H", value_parser = printable)]
        digest: Option<String>,
    },
    /// The cser-v1 digest of an APR's payload: what an approval must record as payload_digest
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step digest --apr APR-C1-0001\n\n\
        Approvals made through other tools count only if they carry this digest: it is the\n\
        digest of exactly what the approver saw, and the recount counts nothing else."
    )]
    Digest {
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: String,
    },
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
    ShowPatch {
        #[arg(long, value_name = "CODE", value_parser = name)]
        apr: String,
        /// Print a unified diff of the current file against the new content
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
        /// Write the verified new content to FILE (refused if FILE exists, unless --force)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Let --out replace an existing file
        #[arg(long, requires = "out")]
        force: bool,
    },
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
        /// Leave the cluster running afterwards and print how to stop it
        #[arg(long)]
        keep: bool,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only grants with this status (active, consumed, revoked, …)
    #[arg(long, value_name = "STATUS", value_parser = name)]
    pub status: Option<String>,
    /// Only the grant minted for this APR
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: Option<String>,
    /// Only grants for this plan
    #[arg(long, value_name = "P", value_parser = printable)]
    pub plan: Option<String>,
    /// Only active grants that expire within this long from now (e.g. 30m)
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub expiring_within: Option<Duration>,
    /// At most this many (newest first)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub limit: i64,
    /// One JSON object per grant per line, instead of the table (no verdict line)
    #[arg(long, conflicts_with = "json")]
    pub jsonl: bool,
}

#[derive(Debug, Args)]
pub struct ProposePatchArgs {
    /// The whole new dot-apr-execute, with the staged arm in it
    #[arg(long, value_name = "FILE")]
    pub new_content: PathBuf,
    /// Where the dispatcher lives (absolute, no '..')
    #[arg(long, value_name = "PATH", value_parser = printable)]
    pub file_path: String,
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub dot_code: String,
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub session: String,
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub test_plan: String,
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub apr: Option<String>,
    /// Rollback: the content is the dispatcher as it was before the arm (it must not carry the arm)
    #[arg(long)]
    pub restore: bool,
    /// Print the APR; write nothing (no database needed)
    #[arg(long)]
    pub dry_run: bool,
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
    #[arg(long, value_name = "P", value_parser = printable)]
    pub plan_ref: String,
    /// How long the grant lives once minted: 90s, 30m, 2h (at most 24h)
    #[arg(long, value_name = "DURATION")]
    pub ttl: String,
    #[arg(long, value_name = "R", value_parser = printable)]
    pub rollback_plan_ref: String,
    /// Who proposes (apr_requests.proposed_by)
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
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub auth_code: String,
    #[arg(long, value_parser = printable)]
    pub target: String,
    #[arg(long, value_parser = printable)]
    pub carrier: String,
    #[arg(long, value_parser = printable)]
    pub lane: String,
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
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["auth_code", "apr"]))]
pub struct RevokeArgs {
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub auth_code: Option<String>,
    /// Revoke the grant minted for this APR
    #[arg(long, value_name = "CODE", value_parser = name)]
    pub apr: Option<String>,
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub reason: String,
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Walk the chain: exit 0 with the count, or exit 4 naming the first broken line
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step evidence verify /var/log/dot-authorize-build-step/evidence.jsonl"
    )]
    Verify { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Print the lowercase hex SHA-256 of the canonical bytes
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step manifest hash fixtures/manifests/c1-valid.json"
    )]
    Hash { file: PathBuf },
    /// Print the canonical bytes (RFC 8785), no trailing newline
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step manifest canon c1.json | sha256sum"
    )]
    Canon { file: PathBuf },
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

/// Control characters and the invisible or direction-changing format
/// characters that make two different strings look alike.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// consume's idempotency key: 1-128 of [A-Za-z0-9._:-].
fn request_id(s: &str) -> Result<String, String> {
    if crate::policy::is_plan_ref(s) {
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

/// `90s`, `30m`, `2h`, `1d`, `500ms`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m, 2h"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a duration like 90s, 30m, 2h"))
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
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        for bad in ["", "s", "1.5h", "-1s", "10x", " 1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
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
