//! The read-only views' arguments: `list`, `aprs`, `keys`, and the output
//! formats, sort orders and `--since` they share. Definitions only.

use super::options::{AllowedSignersOption, Connection, TrustedKeysOption};
use super::validate::{name, parse_since, parse_timeout, printable, Since};
use clap::{Args, Subcommand};
use std::time::Duration;

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
