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
    as psql reads them. A --db-url holding a password is refused: keep passwords out of argv
    (use PGPASSWORD or a 0600 ~/.pgpass).";

#[derive(Debug, Parser)]
#[command(
    name = "dot-authorize-build-step",
    version,
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
    #[arg(long, global = true, value_name = "URL")]
    pub db_url: Option<String>,
    /// Print exactly one JSON object (the verdict) on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up connecting after this long (e.g. 10s)
    #[arg(long, global = true, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// Give up waiting for a lock after this long (e.g. 10s, 500ms)
    #[arg(long, global = true, value_parser = parse_duration, default_value = "10s", value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Give up on any one statement after this long
    #[arg(long, global = true, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    pub statement_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an approved APR, check quorum, mint exactly one grant (or report the one minted)
    #[command(
        after_help = "EXAMPLE:\n    dot-authorize-build-step execute --apr APR-C1-0001 --json"
    )]
    Execute {
        /// The APR code (apr_requests.apr_code)
        #[arg(long, value_name = "CODE")]
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
        #[arg(long, value_name = "CODE")]
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
        #[arg(long, value_name = "CODE")]
        apr: String,
        /// Print a unified diff of the current file against the new content
        #[arg(long, value_name = "FILE")]
        against: Option<PathBuf>,
        /// Write the verified new content to FILE
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
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
pub struct ProposePatchArgs {
    /// The whole new dot-apr-execute, with the staged arm in it
    #[arg(long, value_name = "FILE")]
    pub new_content: PathBuf,
    /// Where the dispatcher lives (absolute, no '..')
    #[arg(long, value_name = "PATH")]
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
    /// The cser-v1 manifest the grant will be bound to
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    #[arg(long, value_name = "P")]
    pub plan_ref: String,
    /// How long the grant lives once minted: 90s, 30m, 2h (at most 24h)
    #[arg(long, value_name = "DURATION")]
    pub ttl: String,
    #[arg(long, value_name = "R")]
    pub rollback_plan_ref: String,
    /// Who proposes (apr_requests.proposed_by)
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    /// The APR code; generated (APR-C1-<utc time>-<digest prefix>) when absent
    #[arg(long, value_name = "CODE", value_parser = non_empty)]
    pub apr: Option<String>,
    /// apr_requests.session_code
    #[arg(long, value_name = "CODE")]
    pub session: Option<String>,
    /// Print the APR; write nothing (the live vocabulary is checked only if a database answers)
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[arg(long, value_name = "CODE")]
    pub auth_code: String,
    #[arg(long)]
    pub target: String,
    #[arg(long)]
    pub carrier: String,
    #[arg(long)]
    pub lane: String,
    #[arg(long, value_name = "P")]
    pub plan_ref: String,
    /// DRY_RUN; REAL_RUN is always refused (C1_PROD_REAL_RUN_BLOCKED)
    #[arg(long, default_value = "DRY_RUN")]
    pub mode: String,
    /// The manifest about to be built: hash and action set computed from it
    #[arg(long, value_name = "FILE", conflicts_with_all = ["manifest_hash", "action_set"], required_unless_present_all = ["manifest_hash", "action_set"])]
    pub manifest: Option<PathBuf>,
    /// The manifest's cser-v1 hash (with --action-set, instead of --manifest)
    #[arg(long, value_name = "H", requires = "action_set")]
    pub manifest_hash: Option<String>,
    /// Comma-separated operation codes; compared as a set, a duplicate is a mismatch
    #[arg(long, value_name = "a,b,c", requires = "manifest_hash")]
    pub action_set: Option<String>,
    /// Who consumes (recorded in consumed_by)
    #[arg(long, value_name = "WHO", default_value = "c1-build-step")]
    pub by: String,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["auth_code", "apr"]))]
pub struct RevokeArgs {
    #[arg(long, value_name = "CODE")]
    pub auth_code: Option<String>,
    /// Revoke the grant minted for this APR
    #[arg(long, value_name = "CODE")]
    pub apr: Option<String>,
    #[arg(long, value_name = "TEXT", value_parser = non_empty)]
    pub reason: String,
    #[arg(long, value_name = "WHO", value_parser = non_empty)]
    pub by: String,
    #[arg(long)]
    pub dry_run: bool,
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
        Ok(s.to_owned())
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
}
