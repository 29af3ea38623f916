//! The subcommands and the arguments of each (clap derive), with the
//! example every `--help` carries. Definitions only: no IO, no decisions.

use super::options::{
    AllowedSignersOption, Connection, DurabilityOption, EvidenceLogOption, SigningKeyOption,
    TrustedKeysOption,
};
use super::validate::{
    key_id, name, non_empty, payload_digest, printable, reject_reason, request_id,
};
use super::views::{AprsCommand, KeysArgs, ListArgs};
use clap::{Args, Subcommand};
use std::path::PathBuf;

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
