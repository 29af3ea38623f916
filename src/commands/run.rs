//! One command from parsed arguments to a verdict: resolve the connection,
//! call the shell, turn every `Stop` into its verdict. No exit numbers here
//! (main owns them) and no SQL (db owns it).

use crate::canon::cser;
use crate::canon::manifest;
use crate::cli::{
    AprsCommand, Cli, Command, ConsumeArgs, EvidenceCommand, Format, ManifestCommand, ProposeArgs,
    ProposePatchArgs, RevokeArgs, Settings,
};
use crate::commands::verdict::{Status, Verdict};
use crate::decide::policy::{Presented, Stop};
use crate::decide::reject::{Done, Fault, Reject};
use crate::integrity::approval::{self, AllowedSigners};
use crate::integrity::signing::{self, SigningKey, TrustedKeys};
use crate::store::connect::{self, Timeouts};
use crate::store::db::{self, GrantKey};

/// What a command prints.
pub enum Output {
    Verdict(Verdict),
    /// Raw stdout bytes (manifest canon/hash) with success.
    Raw(Vec<u8>),
    /// The command line is wrong (exit 2); the message goes to stderr.
    Usage(String),
    /// Text for a human, and the verdict that sets the exit status.
    Text(String, Verdict),
}

/// Runs the command; a deciding command (execute, consume, revoke,
/// propose, propose-patch) also leaves its line in the evidence log when
/// one is configured. The log is opened first: a log that cannot take the
/// line stops the command before it decides anything.
pub fn run(cli: &Cli) -> Output {
    let deciding = matches!(
        cli.command,
        Command::Execute { .. }
            | Command::Review { .. }
            | Command::Consume(_)
            | Command::Revoke(_)
            | Command::Propose(_)
            | Command::ProposePatch(_)
    );
    let settings = cli.settings();
    let log_path = path_option(&settings.evidence_log, crate::integrity::evidence::ENV);
    let log = match log_path {
        Some(path) if deciding => match log_signer(&settings).and_then(|key| {
            crate::integrity::evidence::Log::open(&path, key)
                .map_err(|e| Stop::Fault(Fault::EvidenceLog, e))
        }) {
            Ok(log) => Some(log),
            Err(stop) => return Output::Verdict(Verdict::from(stop)),
        },
        _ => None,
    };
    connect::set_application_name(application_name(&cli.command));
    RESOLVED.with(|cell| cell.take());
    // The anchor a grant minted now records: the head before deciding.
    let head = log.as_ref().map(|l| l.head_at_open().hash.clone());
    let output = warn_if_superuser(name_the_role(
        &cli.command,
        dispatch(cli, &settings, head.as_deref()),
    ));
    match log {
        Some(log) => record_evidence(log, cli, &settings, output),
        None => output,
    }
}

pub const SUPERUSER_WARNING: &str = "connected as a superuser: the least-privilege roles \
     (dot_authorize_build_step, dot_c1_build_consumer, dot_c1_grant_issue) are what this \
     handler is built to run as; a superuser bypasses the table's guard";

/// ERROR_PERMISSION_DENIED names the role the command runs as: the login
/// was connected, but not as one the command's privileges were granted to.
fn name_the_role(command: &Command, output: Output) -> Output {
    let name = |v: Verdict| named_role(command_name(command), v);
    match output {
        Output::Verdict(v) => Output::Verdict(name(v)),
        Output::Text(t, v) => Output::Text(t, name(v)),
        other => other,
    }
}

/// The verdict, and if it is ERROR_PERMISSION_DENIED, the role `command`
/// runs as, in its message and as `role_needed` (once).
fn named_role(command: &str, mut v: Verdict) -> Verdict {
    let Some(role) = crate::cli::role_needed(command) else {
        return v;
    };
    if v.code() != Fault::PermissionDenied.code() || v.details.contains_key("role_needed") {
        return v;
    }
    v.message = format!(
        "{}; `{command}` runs as {role} (see README, \"Which role runs each command\")",
        v.message
    );
    v.detail("role_needed", role)
}

/// Every verdict of a command that ran as a superuser says so.
/// And every verdict of a command that read a server in recovery (a
/// standby, whose data may lag the primary's) carries `in_recovery: true`.
fn warn_if_superuser(output: Output) -> Output {
    let mark = |mut v: Verdict| {
        if db::superuser_seen() {
            v = v.detail("warning", SUPERUSER_WARNING);
        }
        if db::in_recovery_seen() {
            v = v.detail("in_recovery", true);
        }
        v
    };
    match output {
        Output::Verdict(v) => Output::Verdict(mark(v)),
        Output::Text(t, v) => Output::Text(t, mark(v)),
        other => other,
    }
}

/// A path from its flag, else from the environment (empty means unset).
/// `--durability`, else DOT_ABS_DURABILITY, else local; a value that is
/// neither is a usage error.
fn durability(settings: &Settings) -> Result<crate::decide::durability::Durability, String> {
    match settings.durability {
        Some(d) => Ok(d),
        None => match std::env::var(crate::decide::durability::DURABILITY_ENV) {
            Ok(v) if !v.is_empty() => crate::decide::durability::Durability::parse(&v)
                .map_err(|e| format!("{}: {e}", crate::decide::durability::DURABILITY_ENV)),
            _ => Ok(crate::decide::durability::Durability::Local),
        },
    }
}

fn path_option(flag: &Option<std::path::PathBuf>, env: &str) -> Option<std::path::PathBuf> {
    flag.clone().or_else(|| {
        std::env::var_os(env)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    })
}

/// `dot-authorize-build-step <command> [<APR or grant>]`, as
/// pg_stat_activity shows it.
fn application_name(command: &Command) -> String {
    let subject = match command {
        Command::Execute(a) => Some(a.apr.clone()),
        Command::Readback(a) => Some(a.apr.clone()),
        Command::Digest(a) => Some(a.apr.clone()),
        Command::Review(a) => Some(a.apr.clone()),
        Command::Consume(a) => Some(a.auth_code.clone()),
        Command::Show(a) => a.auth_code.clone().or_else(|| a.apr.clone()),
        Command::Aprs(AprsCommand::Show(a)) => Some(a.apr.clone()),
        Command::Revoke(a) => a
            .auth_code
            .clone()
            .or_else(|| a.apr.clone())
            .or_else(|| a.plan.clone())
            .or_else(|| a.key_id.clone())
            .or_else(|| a.forged.then(|| "--forged".to_owned())),
        _ => None,
    };
    let name = match subject {
        Some(s) => format!("dot-authorize-build-step {} {s}", command_name(command)),
        None => format!("dot-authorize-build-step {}", command_name(command)),
    };
    // The server keeps 63 bytes; keep whole characters.
    let mut cut = name.len().min(63);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name[..cut].to_owned()
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Execute(_) => "execute",
        Command::Consume(_) => "consume",
        Command::Revoke(_) => "revoke",
        Command::Readback(_) => "readback",
        Command::Propose(_) => "propose",
        Command::Manifest(_) => "manifest",
        Command::ProposePatch(_) => "propose-patch",
        Command::ShowPatch(_) => "show-patch",
        Command::Keygen { .. } => "keygen",
        Command::List(_) => "list",
        Command::Review(_) => "review",
        Command::Show(_) => "show",
        Command::Keys(_) => "keys",
        Command::Digest(_) => "digest",
        Command::Evidence(_) => "evidence",
        Command::Harness { .. } => "harness",
        Command::Aprs(_) => "aprs",
    }
}

/// Appends the verdict to the evidence log. If the line cannot be written
/// the answer is ERROR_EVIDENCE_LOG (exit 5) carrying the outcome: the
/// caller must not act on a decision that left no evidence (an OK outcome
/// stands in the database; re-running the command, which is idempotent,
/// records it once the log is fixed).
fn record_evidence(
    mut log: crate::integrity::evidence::Log,
    cli: &Cli,
    settings: &Settings,
    output: Output,
) -> Output {
    let Output::Verdict(mut v) = output else {
        return output;
    };
    // A bulk decision leaves one line per grant, as the single command
    // would, then its own.
    let each = std::mem::take(&mut v.each);
    let total = each.len();
    for (done, one) in each.into_iter().enumerate() {
        if let Output::Verdict(f) = record_one(&mut log, cli, settings, one) {
            if f.code() == Fault::EvidenceLog.code() {
                let mut f = f;
                f.message = format!(
                    "{}; the bulk revoke committed {total} revocations, {done} of them are in the log",
                    f.message
                );
                f.details.insert("outcome".into(), v.to_json());
                return Output::Verdict(f);
            }
        }
    }
    record_one(&mut log, cli, settings, v)
}

fn record_one(
    log: &mut crate::integrity::evidence::Log,
    cli: &Cli,
    settings: &Settings,
    v: Verdict,
) -> Output {
    let (os_user, os_uid) = crate::sys::user::os_user();
    let db_user = resolve(settings)
        .ok()
        .and_then(|t| t.config.get_user().map(str::to_owned));
    let mut record = serde_json::Map::new();
    record.insert(
        "at".into(),
        crate::integrity::signing::signed_time(&chrono::Utc::now()).into(),
    );
    record.insert("command".into(), command_name(&cli.command).into());
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    record.insert("argv".into(), redact_request_id(argv).into());
    record.insert("os_user".into(), os_user.into());
    record.insert("os_uid".into(), os_uid.into());
    record.insert("db_user".into(), db_user.into());
    let mut verdict = v.to_json();
    if let Some(id) = verdict.get("request_id").and_then(|x| x.as_str()) {
        verdict["request_id"] = format!("sha256:{}", crate::decide::policy::request_key(id)).into();
    }
    record.insert("verdict".into(), verdict);
    match log.append(record) {
        Ok(head) => Output::Verdict(
            v.detail("evidence_line", head.line)
                .detail("evidence_sha256", head.hash),
        ),
        Err(e) => {
            let outcome = v.to_json();
            let mut fault = Verdict::fault(
                Fault::EvidenceLog,
                format!(
                    "the outcome was {} {} but it is not in the evidence log ({e}); {}",
                    v.kind().as_str(),
                    v.code(),
                    if v.kind() == crate::commands::verdict::Kind::Ok {
                        "the database change stands: fix the log and re-run the same command to record it"
                    } else {
                        "nothing was written to the database"
                    }
                ),
            )
            .detail("outcome", outcome);
            fault.apr = v.apr.clone();
            fault.auth_code = v.auth_code.clone();
            fault.dry_run = v.dry_run;
            Output::Verdict(fault)
        }
    }
}

/// The key evidence lines are signed with: execute's signing key
/// (--signing-key), else DOT_ABS_SIGNING_KEY for every deciding command,
/// with the checks of `signing::load_signing_key`. A log with no key is
/// refused: an unsigned line proves nothing against the file's writer.
fn log_signer(settings: &Settings) -> Result<SigningKey, Stop> {
    let Some(path) = path_option(&settings.signing_key, signing::SIGNING_KEY_ENV) else {
        return Err(Stop::Fault(
            Fault::EvidenceLog,
            format!(
                "an evidence log is configured but there is no signing key to sign its lines with: \
                 set {} (execute: or --signing-key); nothing decided",
                signing::SIGNING_KEY_ENV
            ),
        ));
    };
    signing::load_signing_key(&path)
        .map_err(|e| Stop::Fault(Fault::SigningKey, format!("the evidence log's {e}")))
}

/// consume's idempotency key answers as its spender, so the evidence log
/// (which others may read) holds only what the table holds: its SHA-256.
fn redact_request_id(argv: Vec<String>) -> Vec<String> {
    let hidden = |id: &str| format!("sha256:{}", crate::decide::policy::request_key(id));
    let mut out = Vec::with_capacity(argv.len());
    let mut next_is_id = false;
    for a in argv {
        if next_is_id {
            out.push(hidden(&a));
            next_is_id = false;
        } else if a == "--request-id" {
            out.push(a);
            next_is_id = true;
        } else if let Some(id) = a.strip_prefix("--request-id=") {
            out.push(format!("--request-id={}", hidden(id)));
        } else {
            out.push(a);
        }
    }
    out
}

/// The trusted public keys from --trusted-keys or DOT_ABS_TRUSTED_KEYS.
fn trusted_keys(settings: &Settings) -> Result<TrustedKeys, Stop> {
    let Some(path) = path_option(&settings.trusted_keys, signing::TRUSTED_KEYS_ENV) else {
        return Err(Stop::Fault(
            Fault::TrustedKeys,
            format!(
                "no trusted keys: give --trusted-keys FILE|DIR or set {}; a grant is honoured only if a trusted key signed it",
                signing::TRUSTED_KEYS_ENV
            ),
        ));
    };
    signing::load_trusted(&path).map_err(|e| Stop::Fault(Fault::TrustedKeys, e))
}

/// Who may sign an approval, from --allowed-signers or
/// DOT_ABS_ALLOWED_SIGNERS: every command that counts a quorum needs it.
fn allowed_signers(settings: &Settings) -> Result<AllowedSigners, Stop> {
    let Some(path) = path_option(&settings.allowed_signers, approval::ALLOWED_SIGNERS_ENV) else {
        return Err(Stop::Fault(
            Fault::AllowedSigners,
            format!(
                "no allowed signers: give --allowed-signers FILE or set {}; an approval counts only when signed by a key it lists for the approver",
                approval::ALLOWED_SIGNERS_ENV
            ),
        ));
    };
    approval::load_allowed_signers(&path).map_err(|e| Stop::Fault(Fault::AllowedSigners, e))
}

/// The signing key from --signing-key or DOT_ABS_SIGNING_KEY; its public
/// half must be trusted, or every grant it signed would be refused.
fn signing_key(settings: &Settings, trusted: &TrustedKeys) -> Result<SigningKey, Stop> {
    let Some(path) = path_option(&settings.signing_key, signing::SIGNING_KEY_ENV) else {
        return Err(Stop::Fault(
            Fault::SigningKey,
            format!(
                "execute mints only with a signing key: give --signing-key FILE or set {}",
                signing::SIGNING_KEY_ENV
            ),
        ));
    };
    let key = signing::load_signing_key(&path).map_err(|e| Stop::Fault(Fault::SigningKey, e))?;
    if !trusted.contains(key.key_id()) {
        return Err(Stop::Fault(
            Fault::SigningKey,
            format!(
                "signing key {} (id {}) is not among the trusted keys ({}): every grant it signed would be refused as forged; add {}.pub to the trusted keys first",
                path.display(),
                key.key_id(),
                trusted.ids().join(", "),
                key.key_id()
            ),
        ));
    }
    Ok(key)
}

fn execute(settings: &Settings, apr: &str, dry_run: bool, evidence_head: Option<&str>) -> Output {
    // A wrong command line is a usage error before anything else is read.
    if let Err(usage) = resolve(settings) {
        return Output::Usage(usage);
    }
    let keys = trusted_keys(settings).and_then(|t| signing_key(settings, &t).map(|k| (t, k)));
    let (trusted, key) = match keys {
        Ok(k) => k,
        Err(stop) => return Output::Verdict(Verdict::from(stop).apr(apr).dry_run(dry_run)),
    };
    let allowed = match allowed_signers(settings) {
        Ok(a) => a,
        Err(stop) => return Output::Verdict(Verdict::from(stop).apr(apr).dry_run(dry_run)),
    };
    let keys = db::Keys {
        signing: Some(&key),
        trusted: &trusted,
        allowed: &allowed,
        evidence_head,
    };
    verdict(with_db_settled(settings, |c| {
        db::execute(c, apr, dry_run, &keys)
            .map(|v| v.apr(apr.to_owned()))
            .map_err(|s| (s, Some(apr.to_owned())))
    }))
    .and_fill(|v| {
        v.dry_run.get_or_insert(dry_run);
    })
}

/// A grant as `list` and `show` print it, with its signature checked
/// against the trusted keys when there are any, and who revoked it.
fn grant_json(
    g: &crate::decide::policy::Grant,
    revoked: &db::Revocation,
    trusted: Option<&TrustedKeys>,
) -> serde_json::Value {
    let signed = match trusted {
        Some(t) => match signing::verify_grant(t, g) {
            Ok(()) => "verified".to_owned(),
            Err(f) => format!("FORGED: {f}"),
        },
        None => UNCHECKED.to_owned(),
    };
    serde_json::json!({
        "auth_code": g.auth_code,
        "apr": g.request_ref,
        "status": g.status,
        "carrier": g.carrier,
        "lane": g.lane,
        "target": g.target,
        "plan_ref": g.plan_ref,
        "manifest_hash": g.manifest_hash,
        "protocol_version": g.protocol_version,
        "action_set": g.action_set,
        "apr_digest": g.apr_digest,
        "rollback_plan_ref": g.rollback_plan_ref,
        "granted_at": crate::canon::text::timestamp(&g.granted_at),
        "granted_by": g.granted_by,
        "expires_at": crate::canon::text::timestamp(&g.expires_at),
        "consumed_at": g.consumed_at.as_ref().map(crate::canon::text::timestamp),
        "consumed_by": g.consumed_by,
        "consume_request_id": g.consume_request_id,
        "revoked_at": revoked.at.as_ref().map(crate::canon::text::timestamp),
        "revoked_by": revoked.by,
        "revoke_reason": revoked.reason,
        "key_id": g.key_id,
        "signature": signed,
        // SPEC §10: who approved it, as its signed binding names them.
        "approved_by": approvers(g),
    })
}

/// What the signature check says when there are no trusted keys.
const UNCHECKED: &str = "not checked (no trusted keys)";

fn approvers(g: &crate::decide::policy::Grant) -> Option<Vec<String>> {
    g.quorum
        .as_ref()
        .and_then(crate::decide::policy::Quorum::from_json)
        .map(|q| q.0.into_iter().map(|m| m.approver).collect())
}

/// The signature check in one word, for a table cell.
fn signature_word(signature: &str) -> &'static str {
    if signature == "verified" {
        "verified"
    } else if signature == UNCHECKED {
        "unchecked"
    } else {
        "FORGED"
    }
}

/// A table whose every column is as wide as its widest cell (escaped),
/// so no value runs into the next column; the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$} "));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// `list`: grants, newest first (or by `--sort-by`), in the format asked.
fn list(settings: &Settings, args: &crate::cli::ListArgs) -> Output {
    let format = match args.format.resolve(settings.json) {
        Ok(f) => f,
        Err(usage) => return Output::Usage(usage),
    };
    // --forged asks a question only the trusted keys answer: without them
    // it is refused, never answered by guessing.
    let trusted = if args.forged {
        match trusted_keys(settings) {
            Ok(t) => Some(t),
            Err(stop) => return refusal("list", format, Verdict::from(stop)),
        }
    } else {
        trusted_keys(settings).ok()
    };
    let filter = db::ListFilter {
        status: args.status.as_deref(),
        apr: args.apr.as_deref(),
        plan: args.plan.as_deref(),
        expiring_within_seconds: args
            .expiring_within
            .map(|d| i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)),
        key_id: args.key_id.as_deref(),
        since: args.since,
        // The signature is checked here, not in SQL: read every match and
        // cut the list after filtering.
        limit: (!args.forged).then_some(args.limit),
        sort: args.sort_by,
    };
    let result = with_db(settings, |c| db::list(c, &filter).map_err(|s| (s, None)));
    let mut listed = match result {
        Err(usage) => return Output::Usage(usage),
        Ok(Err((stop, _))) => return refusal("list", format, Verdict::from(stop)),
        Ok(Ok(l)) => l,
    };
    let mut rows: Vec<serde_json::Value> = listed
        .grants
        .iter()
        .map(|(g, r)| grant_json(g, r, trusted.as_ref()))
        .collect();
    if args.forged {
        let forged = |r: &serde_json::Value| {
            r["signature"]
                .as_str()
                .is_some_and(|s| s.starts_with("FORGED"))
        };
        let (grants, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut listed.grants)
            .into_iter()
            .zip(rows)
            .filter(|(_, r)| forged(r))
            .unzip();
        listed.total = i64::try_from(kept.len()).unwrap_or(i64::MAX);
        let cut = usize::try_from(args.limit).unwrap_or(usize::MAX);
        listed.grants = grants.into_iter().take(cut).collect();
        rows = kept.into_iter().take(cut).collect();
    }
    let (v, message) = match listing(format, &rows, listed.total, args.limit, "grants", "grants") {
        Ok(table) => table,
        Err(done) => return *done,
    };
    let wide = format == Format::Wide;
    let esc = |s: Option<&str>| crate::canon::text::escape(s.unwrap_or(""));
    let cells: Vec<Vec<String>> = listed
        .grants
        .iter()
        .zip(&rows)
        .map(|((g, revoked), r)| {
            let by = match g.status.as_str() {
                "revoked" => revoked.by.as_deref(),
                _ => g.consumed_by.as_deref(),
            };
            let signature = r["signature"].as_str().unwrap_or("");
            let mut row = vec![
                esc(Some(&g.auth_code)),
                esc(Some(&g.status)),
                esc(g.plan_ref.as_deref()),
                crate::canon::text::timestamp(&g.expires_at),
                signature_word(signature).to_owned(),
                esc(by),
            ];
            if wide {
                row.extend([
                    esc(Some(&g.request_ref)),
                    crate::canon::text::timestamp(&g.granted_at),
                    esc(g.granted_by.as_deref()),
                    esc(g.key_id.as_deref()),
                    esc(Some(
                        &approvers(g).map_or_else(|| "-".into(), |a| a.join(",")),
                    )),
                    // The whole check, FORGED's reason included.
                    crate::canon::text::escape(signature),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec![
        "auth_code",
        "status",
        "plan_ref",
        "expires_at",
        "signature",
        "spent/revoked by",
    ];
    if wide {
        header.extend([
            "apr",
            "granted_at",
            "granted_by",
            "key_id",
            "approved_by",
            "signature check",
        ]);
    }
    if args.format.no_headers {
        return Output::Text(rows_only(&header, &cells), v);
    }
    let mut text = table(&header, &cells);
    if cells.iter().any(|c| c[4] == "unchecked") {
        text.push_str(&format!("unchecked: {UNCHECKED}\n"));
    }
    if cells.iter().any(|c| c[4] == "FORGED") {
        text.push_str(
            "FORGED: the signature does not verify (list -o wide, --jsonl or show says why)\n",
        );
    }
    text.push_str(&format!("OK LISTED: {message}\n"));
    Output::Text(text, v)
}

/// A listing's forms other than its table: `jsonl` (a line a row, no
/// verdict), `json` (the verdict, the rows under `key`) and `yaml` (the
/// same as YAML) are `Err` with the output; for table and wide, the
/// verdict and its message. "N of M `noun` shown" when `--limit` cut it.
fn listing(
    format: Format,
    rows: &[serde_json::Value],
    total: i64,
    limit: i64,
    noun: &str,
    key: &str,
) -> Result<(Verdict, String), Box<Output>> {
    if format == Format::Jsonl {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        return Err(Box::new(Output::Raw(text.into_bytes())));
    }
    let shown = rows.len();
    let message = if i64::try_from(shown).unwrap_or(i64::MAX) < total {
        format!("{shown} of {total} {noun} shown (--limit {limit})")
    } else {
        format!("{shown} {noun}")
    };
    let v = Verdict::done(Done::Listed, message.clone())
        .detail("count", shown)
        .detail("total", total);
    match format {
        Format::Json => Err(Box::new(Output::Verdict(v.detail(key, rows.to_vec())))),
        Format::Yaml => {
            let v = v.detail(key, rows.to_vec());
            Err(Box::new(Output::Raw(
                crate::commands::yaml::to_yaml(&v.to_json()).into_bytes(),
            )))
        }
        Format::Table | Format::Wide | Format::Jsonl => Ok((v, message)),
    }
}

/// `table` without its header line: what `--no-headers` prints.
fn rows_only(header: &[&str], rows: &[Vec<String>]) -> String {
    let text = table(header, rows);
    text.split_once('\n')
        .map_or(String::new(), |(_, rest)| rest.to_owned())
}

/// A refusal of a listing: for `-o yaml` the verdict as YAML on stdout (its
/// verdict line on stderr), otherwise as every command prints one.
fn refusal(command: &str, format: Format, v: Verdict) -> Output {
    let v = named_role(command, v);
    match format {
        Format::Yaml => {
            let text = format!(
                "{}{} {}: {}\n",
                crate::commands::yaml::to_yaml(&v.to_json()),
                v.kind().as_str(),
                v.code(),
                crate::canon::text::escape(&v.message)
            );
            Output::Text(text, v)
        }
        _ => Output::Verdict(v),
    }
}

/// An APR as `aprs` prints it: its row, its votes with their standing by
/// the recount's own rules (policy::tally and policy::standings), and the
/// recount's total against its action's min_approvals. Without allowed
/// signers no approval can be judged: each says so, and `counted` is null.
fn apr_json(view: &db::AprView, allowed: Option<&AllowedSigners>) -> serde_json::Value {
    let apr = &view.apr;
    // The digest `digest --apr` prints: of the payload exactly as stored,
    // none for one that cannot be read exactly (or is NULL).
    let digest = apr
        .payload_text
        .as_deref()
        .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
        .filter(|p| !p.is_null())
        .and_then(|p| crate::canon::cser::digest(&p).ok());
    let votes: Vec<crate::decide::policy::Vote> =
        view.votes.iter().map(|d| d.vote.clone()).collect();
    let required = view
        .min_approvals
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m >= 1);
    let tally = match (allowed, &digest, required) {
        (Some(allowed), Some(d), Some(min)) => Some(crate::decide::policy::tally(
            apr,
            &crate::decide::policy::Signed {
                votes: &votes,
                allowed,
                now: view.now,
            },
            d,
            min,
        )),
        _ => None,
    };
    let unjudged = if allowed.is_none() {
        "not checked (no allowed signers)"
    } else if digest.is_none() {
        "not checked (the payload has no cser-v1 digest)"
    } else {
        "not checked (the action has no min_approvals)"
    };
    let empty = crate::decide::policy::Tally {
        required: required.unwrap_or(0),
        counted: std::collections::BTreeMap::new(),
        not_counted: Vec::new(),
        proposer_rejected: false,
    };
    let standings = crate::decide::policy::standings(tally.as_ref().unwrap_or(&empty), apr, &votes);
    let vote_json: Vec<serde_json::Value> = view
        .votes
        .iter()
        .zip(&standings)
        .map(|(d, st)| {
            let judged = tally.is_some() || st.decision != "approve";
            serde_json::json!({
                "approver": d.vote.approver,
                "decision": d.vote.decision,
                "decided_at": d.decided_at.as_ref().map(crate::canon::text::timestamp),
                "payload_digest": d.vote.payload_digest,
                "signed": d.vote.signature.is_some(),
                "counts": judged.then_some(st.counts),
                "vetoes": st.vetoes,
                "why": if judged { st.why.clone() } else { Some(unjudged.to_owned()) },
            })
        })
        .collect();
    let count = |what: &str| {
        view.votes
            .iter()
            .filter(|d| d.vote.decision == what)
            .count()
    };
    serde_json::json!({
        "apr": apr.apr_code,
        "action": apr.action_code,
        "status": apr.status,
        "proposed_by": apr.proposed_by,
        "session_code": view.session_code,
        "created_at": crate::canon::text::timestamp(&view.created_at),
        "approved_at": view.approved_at.as_ref().map(crate::canon::text::timestamp),
        "applied_at": view.applied_at.as_ref().map(crate::canon::text::timestamp),
        "age_seconds": (view.now - view.created_at).num_seconds().max(0),
        "payload_digest": digest.as_ref().map(|d| d.as_str().to_owned()),
        "approvals": count("approve"),
        "rejections": count("reject"),
        "required": view.min_approvals,
        "counted": tally.as_ref().map(|t| t.counted.len()),
        "quorum_passed": view.quorum_function,
        "grant": view.grant,
        "votes": vote_json,
    })
}

/// `aprs list`: APRs, newest first, with their votes in short.
fn aprs_list(settings: &Settings, args: &crate::cli::AprsListArgs) -> Output {
    let format = match args.format.resolve(settings.json) {
        Ok(f) => f,
        Err(usage) => return Output::Usage(usage),
    };
    let allowed = match path_option(&settings.allowed_signers, approval::ALLOWED_SIGNERS_ENV) {
        None => None,
        Some(_) => match allowed_signers(settings) {
            Ok(a) => Some(a),
            Err(stop) => return refusal("aprs", format, Verdict::from(stop)),
        },
    };
    let filter = db::AprFilter {
        apr: None,
        status: args.status.as_deref(),
        pending: args.pending,
        action: args.action.as_deref(),
        since: args.since,
        limit: args.limit,
    };
    let listed = match with_db(settings, |c| {
        db::list_aprs(c, &filter).map_err(|s| (s, None))
    }) {
        Err(usage) => return Output::Usage(usage),
        Ok(Err((stop, _))) => return refusal("aprs", format, Verdict::from(stop)),
        Ok(Ok(l)) => l,
    };
    let rows: Vec<serde_json::Value> = listed
        .aprs
        .iter()
        .map(|a| apr_json(a, allowed.as_ref()))
        .collect();
    let (v, message) = match listing(format, &rows, listed.total, args.limit, "APRs", "aprs") {
        Ok(table) => table,
        Err(done) => return *done,
    };
    let wide = format == Format::Wide;
    let text_of = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => crate::canon::text::escape(s),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let counted = match (&r["counted"], &r["required"]) {
                (serde_json::Value::Null, serde_json::Value::Null) => "-".to_owned(),
                (serde_json::Value::Null, req) => format!("?/{}", text_of(req)),
                (n, req) => format!("{}/{}", text_of(n), text_of(req)),
            };
            let mut row = vec![
                text_of(&r["apr"]),
                text_of(&r["action"]),
                text_of(&r["status"]),
                text_of(&r["proposed_by"]),
                format!("{}/{}", r["approvals"], r["rejections"]),
                counted,
                span_coarse(r["age_seconds"].as_i64().unwrap_or(0)),
            ];
            if wide {
                row.extend([
                    text_of(&r["created_at"]),
                    text_of(&r["quorum_passed"]),
                    text_of(&r["grant"]),
                    text_of(&r["payload_digest"]),
                ]);
            }
            row
        })
        .collect();
    let mut header = vec![
        "apr",
        "action",
        "status",
        "proposed_by",
        "approve/reject",
        "counted",
        "age",
    ];
    if wide {
        header.extend(["created_at", "quorum_passed", "grant", "payload_digest"]);
    }
    if args.format.no_headers {
        return Output::Text(rows_only(&header, &cells), v);
    }
    let mut text = table(&header, &cells);
    if cells.iter().any(|c| c[5].starts_with('?')) {
        text.push_str("?: not counted without --allowed-signers (or DOT_ABS_ALLOWED_SIGNERS)\n");
    }
    text.push_str(&format!("OK LISTED: {message}\n"));
    Output::Text(text, v)
}

/// `keys`: the trusted key ids with what each signed, and the key ids the
/// grants name that are not trusted. Read-only.
fn keys(settings: &Settings, jsonl: bool) -> Output {
    let trusted = match trusted_keys(settings) {
        Ok(t) => t,
        Err(stop) => return Output::Verdict(Verdict::from(stop)),
    };
    let grants = match with_db(settings, |c| db::all_grants(c).map_err(|s| (s, None))) {
        Err(usage) => return Output::Usage(usage),
        Ok(Err((stop, _))) => return Output::Verdict(Verdict::from(stop)),
        Ok(Ok(g)) => g,
    };
    let tally = crate::decide::policy::key_tally(&grants, &trusted);
    let rows: Vec<serde_json::Value> = tally
        .iter()
        .map(|k| {
            serde_json::json!({
                "key_id": k.key_id, "trusted": k.trusted, "active": k.active,
                "consumed": k.consumed, "revoked": k.revoked, "forged": k.forged,
                "forged_active": k.forged_active,
            })
        })
        .collect();
    if jsonl {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        return Output::Raw(text.into_bytes());
    }
    let untrusted = tally.iter().filter(|k| !k.trusted).count();
    let message = format!(
        "{} trusted key{}; {untrusted} other key id{} named by grants (untrusted or unsigned); {} grants read",
        trusted.ids().len(),
        if trusted.ids().len() == 1 { "" } else { "s" },
        if untrusted == 1 { "" } else { "s" },
        grants.len()
    );
    let v = Verdict::done(Done::Listed, message.clone()).detail("count", rows.len());
    if settings.json {
        return Output::Verdict(v.detail("keys", rows));
    }
    let cells: Vec<Vec<String>> = tally
        .iter()
        .map(|k| {
            vec![
                k.key_id
                    .as_deref()
                    .map_or_else(|| "(unsigned)".to_owned(), crate::canon::text::escape),
                if k.trusted { "yes" } else { "no" }.to_owned(),
                k.active.to_string(),
                k.consumed.to_string(),
                k.revoked.to_string(),
                k.forged.to_string(),
                k.forged_active.to_string(),
            ]
        })
        .collect();
    let mut text = table(
        &[
            "key_id",
            "trusted",
            "active",
            "consumed",
            "revoked",
            "forged",
            "forged_active",
        ],
        &cells,
    );
    text.push_str(
        "active/consumed/revoked: grants whose signature by this key verifies; forged: rows that \
         name the key but do not verify (forged_active: of them, still active)\n",
    );
    text.push_str(&format!("OK LISTED: {message}\n"));
    Output::Text(text, v)
}

/// `aprs show --apr CODE`: the APR, every vote and its standing, and what
/// `execute` would answer now: `db::execute` itself, as a dry run, in its
/// own read-only transaction (the signing key, which a dry run does not
/// use, is not asked for).
fn aprs_show(settings: &Settings, apr: &str) -> Output {
    let trusted = trusted_keys(settings);
    let allowed = allowed_signers(settings);
    verdict(with_db(settings, |c| {
        let filter = db::AprFilter {
            apr: Some(apr),
            status: None,
            pending: false,
            action: None,
            since: None,
            limit: 1,
        };
        let listed = db::list_aprs(c, &filter).map_err(|s| (s, Some(apr.to_owned())))?;
        let Some(view) = listed.aprs.first() else {
            return Err((
                Stop::Reject(Reject::AprNotFound, "no APR with this code".into()),
                Some(apr.to_owned()),
            ));
        };
        let answer = match (&trusted, &allowed) {
            (Ok(t), Ok(a)) => {
                let keys = db::Keys {
                    signing: None,
                    trusted: t,
                    allowed: a,
                    evidence_head: None,
                };
                db::execute(c, apr, true, &keys).unwrap_or_else(Verdict::from)
            }
            (Err(stop), _) | (_, Err(stop)) => Verdict::from(stop.clone()),
        };
        let mut shown = apr_json(view, allowed.as_ref().ok());
        shown["payload"] = view.apr.payload.clone();
        let would = serde_json::json!({
            "verdict": answer.kind().as_str(),
            "code": answer.code(),
            "message": answer.message,
            "quorum": answer.details.get("quorum"),
        });
        let mut lines = apr_lines(&shown);
        lines.push(format!(
            "{:<18} {} {}: {}",
            "execute would say",
            answer.kind().as_str(),
            answer.code(),
            answer.message
        ));
        let mut v = Verdict::done(
            Done::Shown,
            format!(
                "{apr} is {}; execute would answer {} {}",
                view.apr.status,
                answer.kind().as_str(),
                answer.code()
            ),
        )
        .apr(apr)
        .detail("apr_request", shown)
        .detail("execute_would", would);
        v.lines = lines;
        Ok(v)
    }))
    .and_then_text(settings.json)
}

/// `aprs show` for a human: one line a fact, then one line a vote.
fn apr_lines(a: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let counted = match a["counted"].as_u64() {
        Some(n) => format!("{n} of {} counted", text(&a["required"])),
        None => format!("not counted (need {})", text(&a["required"])),
    };
    let mut lines: Vec<String> = [
        (
            "apr",
            format!("{} ({})", text(&a["apr"]), text(&a["status"])),
        ),
        ("action", text(&a["action"])),
        ("proposed_by", text(&a["proposed_by"])),
        (
            "created",
            format!(
                "{} ({} ago)",
                text(&a["created_at"]),
                span_coarse(a["age_seconds"].as_i64().unwrap_or(0))
            ),
        ),
        ("payload_digest", text(&a["payload_digest"])),
        (
            "quorum",
            format!("{counted}; quorum_passed(): {}", text(&a["quorum_passed"])),
        ),
        ("grant", text(&a["grant"])),
    ]
    .into_iter()
    .map(|(k, v)| format!("{k:<18} {v}"))
    .collect();
    for vote in a["votes"].as_array().into_iter().flatten() {
        let standing = match (&vote["counts"], vote["vetoes"].as_bool()) {
            (serde_json::Value::Bool(true), _) => "counts".to_owned(),
            (_, Some(true)) => "VETO".to_owned(),
            _ => format!("not counted: {}", text(&vote["why"])),
        };
        lines.push(format!(
            "{:<18} {} {} at {} ({}): {standing}",
            "vote",
            text(&vote["approver"]),
            text(&vote["decision"]),
            text(&vote["decided_at"]),
            if vote["signed"] == true {
                "signed"
            } else {
                "unsigned"
            },
        ));
    }
    lines
}

/// `42m10s`, `1h5m`, `2d3h`: the two largest units of a span.
fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// `3m`, `2h`, `5d`: the largest unit of a span, for "expired … ago".
fn span_coarse(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 86_400 {
        format!("{}d", s / 86_400)
    } else if s >= 3600 {
        format!("{}h", s / 3600)
    } else if s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `show`: one grant, its binding, signature and history.
fn show(settings: &Settings, auth_code: Option<&str>, apr: Option<&str>) -> Output {
    let key = match (auth_code, apr) {
        (Some(c), _) => GrantKey::AuthCode(c),
        (None, Some(a)) => GrantKey::Apr(a),
        (None, None) => return Output::Usage("give --auth-code CODE or --apr CODE".into()),
    };
    let trusted = trusted_keys(settings).ok();
    let output = verdict(with_db(settings, |c| {
        let Some(s) = db::show_grant(c, key).map_err(|s| (s, None))? else {
            return Err((
                Stop::Reject(Reject::AuthNotFound, "no grant found".into()),
                apr.map(str::to_owned),
            ));
        };
        let g = &s.grant;
        let revoked = &s.revocation;
        let mut history = vec![serde_json::json!({
            "at": crate::canon::text::timestamp(&g.granted_at), "event": "minted",
            "by": g.granted_by,
        })];
        if let Some(at) = &g.consumed_at {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(at), "event": "consumed",
                "by": g.consumed_by, "request_id": g.consume_request_id,
            }));
        }
        if let Some(at) = &revoked.at {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(at), "event": "revoked",
                "by": revoked.by, "reason": revoked.reason,
            }));
        }
        // Active as stored, but past its expiry: no consume can spend it.
        let expired = g.status == "active" && g.expires_at <= s.now;
        if expired {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(&g.expires_at), "event": "expired",
            }));
        }
        let state = if expired {
            "expired"
        } else {
            g.status.as_str()
        };
        let mut grant = grant_json(g, revoked, trusted.as_ref());
        grant["state"] = state.into();
        let signature = grant["signature"].as_str().unwrap_or("").to_owned();
        let mut v = Verdict::done(
            Done::Shown,
            format!("{} is {state} ({signature})", g.auth_code),
        )
        .apr(g.request_ref.clone())
        .auth_code(g.auth_code.clone())
        .expires_at(g.expires_at)
        .detail("grant", grant)
        .detail("history", history)
        .detail(
            "apr_status",
            s.apr_status.clone().unwrap_or_else(|| "no APR".into()),
        );
        v.lines = show_lines(&s, state, &signature);
        Ok(v)
    }));
    match output {
        // The human form is the grant once: its lines, then the verdict line.
        Output::Verdict(v) if !settings.json && v.kind() == crate::commands::verdict::Kind::Ok => {
            let mut text: String = v.human_results();
            text.push_str(&format!(
                "OK {}: {}\n",
                v.code(),
                crate::canon::text::escape(&v.message)
            ));
            Output::Text(text, v)
        }
        other => other,
    }
}

/// `show` for a human: one line a fact, the state in words (the TTL left,
/// or how long ago it expired), the approvers, then the history.
fn show_lines(s: &db::Shown, state: &str, signature: &str) -> Vec<String> {
    let g = &s.grant;
    let left = (g.expires_at - s.now).num_seconds();
    let state_words = match state {
        "active" => format!("active, expires in {}", span(left)),
        "expired" => format!(
            "expired {} ago (stored as active; no consume can spend it)",
            span_coarse(-left)
        ),
        other => other.to_owned(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut facts: Vec<(&str, String)> = vec![
        ("auth_code", g.auth_code.clone()),
        (
            "apr",
            format!(
                "{} ({})",
                g.request_ref,
                s.apr_status.as_deref().unwrap_or("no APR")
            ),
        ),
        ("state", state_words),
        ("signature", signature.to_owned()),
        (
            "approved_by",
            approvers(g).map_or_else(|| "-".into(), |a| a.join(", ")),
        ),
        ("plan_ref", opt(&g.plan_ref)),
        ("carrier", opt(&g.carrier)),
        ("lane", opt(&g.lane)),
        ("target", opt(&g.target)),
        ("manifest_hash", opt(&g.manifest_hash)),
        ("protocol_version", opt(&g.protocol_version)),
        (
            "action_set",
            g.action_set
                .as_ref()
                .map_or_else(|| "-".into(), |a| a.join(",")),
        ),
        ("apr_digest", opt(&g.apr_digest)),
        ("rollback_plan_ref", opt(&g.rollback_plan_ref)),
        ("key_id", opt(&g.key_id)),
        (
            "granted",
            format!(
                "{} by {}",
                crate::canon::text::timestamp(&g.granted_at),
                opt(&g.granted_by)
            ),
        ),
        ("expires_at", crate::canon::text::timestamp(&g.expires_at)),
    ];
    if let Some(at) = &g.consumed_at {
        facts.push((
            "consumed",
            format!(
                "{} by {} (request id {})",
                crate::canon::text::timestamp(at),
                opt(&g.consumed_by),
                opt(&g.consume_request_id)
            ),
        ));
    }
    let r = &s.revocation;
    if let Some(at) = &r.at {
        facts.push((
            "revoked",
            format!(
                "{} by {}: {}",
                crate::canon::text::timestamp(at),
                opt(&r.by),
                opt(&r.reason)
            ),
        ));
    }
    facts
        .into_iter()
        .map(|(k, v)| format!("{k:<18} {v}"))
        .collect()
}

/// `digest --apr`: the cser-v1 digest of the APR's payload as stored; with
/// `--message`, the exact bytes an approver signs for a vote on it.
fn digest(settings: &Settings, a: &crate::cli::DigestArgs) -> Output {
    let apr = a.apr.as_str();
    let result = with_db(settings, |c| {
        let (_, payload) = db::read_apr_payload(c, apr).map_err(|s| (s, Some(apr.to_owned())))?;
        let refuse = |why: String| {
            (
                Stop::Reject(Reject::PayloadMalformed, why),
                Some(apr.to_owned()),
            )
        };
        if payload.is_null() {
            return Err(refuse(
                "the APR's payload is NULL, or nested too deep to digest exactly: there is nothing to approve".into(),
            ));
        }
        let canonical = cser::canonical(&payload)
            .map_err(|e| refuse(format!("the APR's payload has no cser-v1 form: {e}")))?;
        let d = cser::Sha256Hex::of(canonical.as_bytes());
        let mut v = Verdict::done(Done::Digest, d.as_str())
            .apr(apr)
            .detail("payload_digest", d.as_str())
            .detail("canonical_payload", canonical);
        if let (true, Some(decision), Some(by)) = (a.message, &a.decision, &a.by) {
            let m = approval::message(apr, by, decision, d.as_str()).map_err(refuse)?;
            v = v.detail("message", String::from_utf8_lossy(&m).into_owned());
        }
        Ok(v)
    });
    match result {
        // The message alone, byte for byte, for `| ssh-keygen -Y sign`.
        Ok(Ok(v)) if a.message && !settings.json => Output::Raw(
            v.details
                .get("message")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
        ),
        other => verdict(other),
    }
}

/// `review`: reads the APR, decides whether this login may vote, signs the
/// vote (outside any transaction), checks that the signature would count,
/// and records it.
fn review(settings: &Settings, a: &crate::cli::ReviewArgs) -> Output {
    let allowed = match path_option(&settings.allowed_signers, approval::ALLOWED_SIGNERS_ENV) {
        Some(path) => match approval::load_allowed_signers(&path) {
            Ok(allowed) => Some(allowed),
            Err(e) => {
                return Output::Verdict(Verdict::fault(Fault::AllowedSigners, e).apr(a.apr.clone()))
            }
        },
        None => None,
    };
    let tag = |s: Stop| (s, Some(a.apr.clone()));
    verdict(with_db(settings, |c| {
        let read = db::read_for_review(c, &a.apr).map_err(tag)?;
        let mut vote = crate::decide::policy::decide_review(
            &read.facts,
            a.approve,
            a.by.as_deref(),
            a.digest.as_deref(),
        )
        .map_err(tag)?;
        let digest = vote.payload_digest.clone().unwrap_or_default();
        let message = approval::message(&a.apr, &vote.approver, &vote.decision, &digest)
            .map_err(|e| tag(Stop::Fault(Fault::ApproverKey, e)))?;
        vote.signature =
            sign_vote(a, allowed.as_ref(), &vote.approver, &message, read.now).map_err(tag)?;
        if let (Some(signature), Some(allowed), true) = (&vote.signature, &allowed, a.approve) {
            approval::verify(allowed, &vote.approver, &message, Some(signature), read.now)
                .map_err(|n| {
                    tag(Stop::Reject(
                        Reject::ApprovalSignature,
                        format!(
                            "this approval would not be counted: {}; nothing recorded",
                            n.reason()
                        ),
                    ))
                })?;
        }
        let recorded = db::record_vote(c, &read, &vote).map_err(tag)?;
        // Not in the database (apr_approvals has no column for it): the
        // verdict, and through it the evidence log, is where it is kept.
        Ok(match &a.reason {
            Some(reason) => recorded.detail("reason", reason.as_str()),
            None => recorded,
        })
    }))
}

/// The vote's signature: a file made elsewhere (`--signature`), the
/// approver's key file or its public half held by ssh-agent
/// (`--sign-key`), or the one key ssh-agent holds that the allowed signers
/// list for this approver. A reject needs none (it vetoes signed or not);
/// an approve without one would never count, so it is refused.
fn sign_vote(
    a: &crate::cli::ReviewArgs,
    allowed: Option<&AllowedSigners>,
    approver: &str,
    message: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, Stop> {
    let key_fault = |e: String| Stop::Fault(Fault::ApproverKey, e);
    let agent = || {
        std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(std::path::PathBuf::from)
    };
    if let Some(path) = &a.signature {
        let bytes = crate::sys::file::read_regular(path, 16 * 1024)
            .map_err(|e| key_fault(format!("signature {}: {}", path.display(), e.describe())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| key_fault(format!("signature {} is not text", path.display())))?;
        return Ok(Some(text));
    }
    let sign_key = a
        .sign_key
        .clone()
        .or_else(|| std::env::var_os(approval::APPROVER_KEY_ENV).map(std::path::PathBuf::from));
    if let Some(path) = &sign_key {
        let bytes = crate::sys::file::read_regular(path, 64 * 1024)
            .map_err(|e| key_fault(format!("approval key {}: {}", path.display(), e.describe())))?;
        if approval::is_private_key_file(&String::from_utf8_lossy(&bytes)) {
            return approval::sign_with_key_file(path, message)
                .map(Some)
                .map_err(key_fault);
        }
        let key = approval::read_public_key(path).map_err(key_fault)?;
        let sock = agent().ok_or_else(|| {
            key_fault(format!(
                "{} is a public key: signing with it needs ssh-agent, and SSH_AUTH_SOCK is not set",
                path.display()
            ))
        })?;
        return approval::sign_with_agent(&sock, &key, message)
            .map(Some)
            .map_err(key_fault);
    }
    if !a.approve {
        return Ok(None);
    }
    let no_key = "an approval counts only when signed: give --sign-key FILE (a private key, or the .pub of a key ssh-agent holds), or --signature FILE made with `ssh-keygen -Y sign -n dot-apr-approval` over `digest --message`";
    let Some(sock) = agent() else {
        return Err(key_fault(format!("{no_key}; SSH_AUTH_SOCK is not set")));
    };
    let Some(allowed) = allowed else {
        return Err(key_fault(format!(
            "{no_key}; to pick the ssh-agent key the allowed signers list for {approver:?}, give --allowed-signers FILE"
        )));
    };
    let listed = allowed.listed_for(approver, now);
    let held = approval::agent_identities(&sock).map_err(key_fault)?;
    let usable: Vec<_> = held
        .iter()
        .filter(|k| listed.iter().any(|l| l.key_data() == k.key_data()))
        .collect();
    match usable.as_slice() {
        [key] => approval::sign_with_agent(&sock, key, message)
            .map(Some)
            .map_err(key_fault),
        [] => Err(key_fault(format!(
            "ssh-agent holds {} keys, none of which the allowed signers list for {approver:?}",
            held.len()
        ))),
        _ => Err(key_fault(format!(
            "ssh-agent holds {} keys the allowed signers list for {approver:?}: name one with --sign-key KEY.pub",
            usable.len()
        ))),
    }
}

fn keygen(out: &std::path::Path) -> Output {
    match signing::keygen(out) {
        Ok(g) => Output::Verdict(
            Verdict::done(
                Done::KeyGenerated,
                format!(
                    "key {} generated: keep {} secret (0600); trust {}",
                    g.key_id,
                    g.secret_path.display(),
                    g.public_path.display()
                ),
            )
            .detail("key_id", g.key_id)
            .detail("public_key", g.public_line)
            .detail("signing_key", g.secret_path.display().to_string())
            .detail("public_key_file", g.public_path.display().to_string()),
        ),
        Err(e) => Output::Verdict(Verdict::fault(Fault::SigningKey, e)),
    }
}

/// `evidence verify FILE [--db]`: every line intact, in place and signed
/// by a trusted key; with `--db`, every grant a trusted key signed with an
/// evidence anchor finds the anchor and its MINTED line in the log.
fn evidence_verify(settings: &Settings, file: &std::path::Path, against_db: bool) -> Output {
    let bytes = match crate::integrity::evidence::read(file) {
        Ok(b) => b,
        Err(e) => return Output::Verdict(Verdict::fault(Fault::EvidenceLog, e)),
    };
    let trusted = match trusted_keys(settings) {
        Ok(t) => t,
        Err(stop) => return Output::Verdict(Verdict::from(stop)),
    };
    let entries = match crate::integrity::evidence::verify(&bytes, &trusted) {
        Ok(e) => e,
        Err(b) => {
            return Output::Verdict(
                Verdict::new(
                    Status::Reject(Reject::EvidenceBroken),
                    format!("line {}: {}", b.line, b.why),
                )
                .detail("line", b.line),
            )
        }
    };
    let n = entries.len();
    if !against_db {
        return Output::Verdict(
            Verdict::done(
                Done::EvidenceVerified,
                format!(
                    "{n} lines, chain intact and signed by trusted keys; the tail was not checked \
                     against the database (give --db: a log cut short is found only there)"
                ),
            )
            .detail("lines", n)
            .detail("tail_checked", false),
        );
    }
    let grants = match with_db(settings, |c| db::anchored_grants(c).map_err(|s| (s, None))) {
        Err(usage) => return Output::Usage(usage),
        Ok(Err((stop, _))) => return Output::Verdict(Verdict::from(stop)),
        Ok(Ok(g)) => g,
    };
    // Only grants a trusted key signed anchor anything: a row written by
    // hand (REJECT_GRANT_FORGED wherever it is used) cannot make an intact
    // log fail, nor vouch for one.
    let (signed, unsigned): (Vec<_>, Vec<_>) = grants
        .iter()
        .partition(|g| signing::verify_grant(&trusted, g).is_ok());
    let anchors: Vec<crate::integrity::evidence::Anchor> = signed
        .iter()
        .filter_map(|g| {
            g.evidence_head
                .as_ref()
                .map(|h| crate::integrity::evidence::Anchor {
                    auth_code: g.auth_code.clone(),
                    head: h.clone(),
                })
        })
        .collect();
    let missing = crate::integrity::evidence::missing_anchors(&entries, &anchors);
    let not_signed: Vec<&str> = unsigned.iter().map(|g| g.auth_code.as_str()).collect();
    if missing.is_empty() {
        let mut v = Verdict::done(
            Done::EvidenceVerified,
            format!(
                "{n} lines, chain intact and signed by trusted keys; all {} grants minted \
                     with a log find their anchor and MINTED line in it",
                anchors.len()
            ),
        )
        .detail("lines", n)
        .detail("tail_checked", true)
        .detail("grants_checked", anchors.len());
        if !not_signed.is_empty() {
            v = v.detail("grants_not_signed", not_signed);
        }
        return Output::Verdict(v);
    }
    let named: Vec<String> = missing
        .iter()
        .map(|(code, why)| format!("grant {code}: {why}"))
        .collect();
    Output::Verdict(
        Verdict::new(
            Status::Reject(Reject::EvidenceBroken),
            format!(
                "the log was cut short or rewritten: its {n} lines chain, but {}",
                named.join("; ")
            ),
        )
        .detail("lines", n)
        .detail(
            "grants_missing",
            missing.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        )
        .detail("grants_checked", anchors.len()),
    )
}

/// A patch payload's base64 as a human reads it: its head and its length.
/// Returns whether there was one to shorten.
fn shorten_base64(payload: &mut serde_json::Value) -> bool {
    let Some(field) = payload
        .as_object_mut()
        .and_then(|o| o.get_mut("new_content_base64"))
    else {
        return false;
    };
    let Some(b64) = field.as_str().filter(|b| b.chars().count() > 64) else {
        return false;
    };
    let head: String = b64.chars().take(24).collect();
    *field = format!("{head}… ({} characters; --json prints them all)", b64.len()).into();
    true
}

/// review and digest for a human: a patch APR's canonical payload with its
/// base64 shortened (the digest stays that of the whole payload; --json
/// prints the canonical text whole).
fn canonical_for_humans(output: Output) -> Output {
    let Output::Verdict(mut v) = output else {
        return output;
    };
    let shortened = v
        .details
        .get("canonical_payload")
        .and_then(serde_json::Value::as_str)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|mut p| shorten_base64(&mut p).then_some(p));
    if let Some(p) = shortened {
        v.details
            .insert("canonical_payload".into(), p.to_string().into());
    }
    Output::Verdict(v)
}

fn dispatch(cli: &Cli, settings: &Settings, evidence_head: Option<&str>) -> Output {
    let output = dispatch_command(cli, settings, evidence_head);
    if !cli.json && matches!(cli.command, Command::Review(_) | Command::Digest(_)) {
        canonical_for_humans(output)
    } else {
        output
    }
}

fn dispatch_command(cli: &Cli, settings: &Settings, evidence_head: Option<&str>) -> Output {
    match &cli.command {
        Command::Execute(a) => execute(settings, &a.apr, a.dry_run, evidence_head),
        Command::Keygen { out } => keygen(out),
        Command::List(args) => list(settings, args),
        Command::Aprs(AprsCommand::List(args)) => aprs_list(settings, args),
        Command::Aprs(AprsCommand::Show(a)) => aprs_show(settings, &a.apr),
        Command::Review(a) => review(settings, a),
        Command::Show(a) => show(settings, a.auth_code.as_deref(), a.apr.as_deref()),
        Command::Keys(a) => keys(settings, a.jsonl),
        Command::Digest(a) => digest(settings, a),
        Command::Evidence(EvidenceCommand::Verify { file, db, .. }) => {
            evidence_verify(settings, file, *db)
        }
        Command::Consume(args) => consume(settings, args),
        Command::Revoke(args) => revoke(settings, args),
        Command::Readback(a) => readback(settings, &a.apr),
        Command::Propose(args) => propose(settings, args),
        Command::Manifest(m) => manifest_cmd(m, cli.json),
        Command::Harness { keep } => harness(cli.json, *keep),
        Command::ProposePatch(args) => propose_patch(settings, args),
        Command::ShowPatch(a) => show_patch(
            settings,
            &a.apr,
            a.against.as_deref(),
            a.out.as_deref(),
            a.force,
        ),
    }
}

fn propose_patch(settings: &Settings, args: &ProposePatchArgs) -> Output {
    let refuse = |stop: Stop| {
        let mut v = Verdict::from(stop).dry_run(args.dry_run);
        v.apr = args.apr.clone();
        Output::Verdict(v)
    };
    let cap = crate::decide::patch::MAX_CONTENT_BYTES as u64;
    let content = match crate::sys::file::read_regular(&args.new_content, cap) {
        Ok(c) => c,
        Err(crate::sys::file::ReadError::TooLarge) => {
            return refuse(Stop::Reject(
                Reject::PatchTooLarge,
                format!("the new content is larger than {cap} bytes"),
            ))
        }
        Err(e) => {
            return refuse(Stop::Reject(
                Reject::PatchMissing,
                format!(
                    "cannot read --new-content {}: {e:?}",
                    args.new_content.display()
                ),
            ))
        }
    };
    let request = crate::decide::patch::PatchRequest {
        content,
        file_path: args.file_path.clone(),
        dot_code: args.dot_code.clone(),
        session: args.session.clone(),
        test_plan: args.test_plan.clone(),
        restore: args.restore,
    };
    if let Err(stop) = crate::decide::patch::check(&request) {
        return refuse(stop);
    }
    let payload = crate::decide::patch::payload(&request);
    let digest = match cser::digest(&payload) {
        Ok(d) => d,
        Err(e) => return refuse(Stop::Fault(Fault::Io, e.to_string())),
    };
    let apr = args
        .apr
        .clone()
        .unwrap_or_else(|| format!("APR-PATCH-{}", &digest.as_str()[..12]));
    // A human reads the payload with its base64 shortened; --json (and the
    // database) carry it whole.
    let mut shown = payload.clone();
    if !settings.json {
        shorten_base64(&mut shown);
    }
    let facts = |v: Verdict| {
        v.apr(apr.clone())
            .dry_run(args.dry_run)
            .detail("payload", shown.clone())
            .detail("payload_digest", digest.as_str())
            .detail("new_content_sha256", payload["new_content_sha256"].clone())
            .detail("new_content_bytes", request.content.len())
    };
    if args.dry_run {
        return Output::Verdict(facts(Verdict::done(
            Done::WouldPropose,
            "dry run: would propose this patch_ops_code APR; nothing written",
        )));
    }
    verdict(with_db(settings, |c| {
        db::insert_apr(
            c,
            &apr,
            crate::decide::patch::REQUEST_TYPE,
            crate::decide::patch::ACTION_CODE,
            &payload,
            &args.by,
            Some(&args.session),
        )
        .map(|()| {
            facts(Verdict::done(
                Done::Proposed,
                format!("proposed {apr}; approve it to high-risk quorum"),
            ))
        })
        .map_err(|s| (s, Some(apr.clone())))
    }))
}

fn show_patch(
    settings: &Settings,
    apr: &str,
    against: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
    force: bool,
) -> Output {
    let result = with_db(settings, |c| {
        let (action, payload) =
            db::read_apr_payload(c, apr).map_err(|s| (s, Some(apr.to_owned())))?;
        if action != crate::decide::patch::ACTION_CODE {
            return Err((
                Stop::Reject(
                    Reject::AprWrongAction,
                    format!("APR action_code is {action:?}, not \"patch_ops_code\""),
                ),
                Some(apr.to_owned()),
            ));
        }
        let bytes =
            crate::decide::patch::verify(&payload).map_err(|s| (s, Some(apr.to_owned())))?;
        let mut v = Verdict::done(
            Done::PatchVerified,
            "the new content matches its recorded SHA-256",
        )
        .apr(apr)
        .detail("file_path", payload["file_path"].clone())
        .detail("new_content_sha256", payload["new_content_sha256"].clone())
        .detail("new_content_bytes", bytes.len());
        if let Some(path) = out {
            use std::io::Write as _;
            // Never a silent overwrite: create_new unless --force.
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if force {
                options.create(true).truncate(true);
            } else {
                options.create_new(true);
            }
            options
                .open(path)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                        format!("{} exists; give --force to replace it", path.display())
                    } else {
                        format!("cannot write {}: {e}", path.display())
                    };
                    (Stop::Fault(Fault::Io, why), None)
                })?;
            v = v.detail("written_to", path.display().to_string());
        }
        if let Some(path) = against {
            let cap = crate::decide::patch::MAX_CONTENT_BYTES as u64 * 4;
            let current = crate::sys::file::read_regular(path, cap).map_err(|e| {
                (
                    Stop::Fault(
                        Fault::Io,
                        format!("cannot read {}: {}", path.display(), e.describe()),
                    ),
                    None,
                )
            })?;
            let diff = crate::decide::patch::unified_diff(
                &String::from_utf8_lossy(&current),
                &String::from_utf8_lossy(&bytes),
                &path.display().to_string(),
                &format!("{apr}:new_content"),
            );
            v.lines = if diff.is_empty() {
                vec!["no differences".to_owned()]
            } else {
                diff.lines().map(str::to_owned).collect()
            };
            v = v.detail("diff", diff);
        } else if out.is_none() {
            v.lines = String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect();
            // --json has no result lines: the content goes in the verdict,
            // as text when it is text (new_content_sha256 is over the bytes).
            if let Ok(text) = std::str::from_utf8(&bytes) {
                v = v.detail("new_content", text);
            }
        }
        Ok(v)
    });
    verdict(result)
}

fn harness(json: bool, keep: bool) -> Output {
    let bin = match std::env::current_exe() {
        Ok(b) => b,
        Err(e) => {
            return Output::Verdict(Verdict::fault(
                Fault::Io,
                format!("cannot find this binary: {e}"),
            ))
        }
    };
    let report = match crate::disposable::harness::run(&bin, keep) {
        Ok(r) => r,
        Err(e) => {
            return Output::Verdict(Verdict::fault(
                Fault::Io,
                format!("the harness could not run: {e}"),
            ))
        }
    };
    let (passed, failed) = (report.passed(), report.failed());
    let mut v = if failed == 0 {
        Verdict::done(
            Done::HarnessPassed,
            format!("{passed} passed, {failed} failed"),
        )
    } else {
        Verdict::new(
            Status::Reject(Reject::HarnessFailed),
            format!("{passed} passed, {failed} failed"),
        )
    };
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "case": r.case, "wrong": r.wrong, "expected": r.expected, "got": r.got,
                "grants_before": r.grants_before, "grants_after": r.grants_after,
                "pass": r.passed(), "failures": r.failures,
            })
        })
        .collect();
    v = v
        .detail("passed", passed)
        .detail("failed", failed)
        .detail("server", report.server.clone());
    if let Some(kept) = &report.kept {
        v = v
            .detail("kept_socket_dir", kept.socket_dir.clone())
            .detail("kept_data_dir", kept.data_dir.clone())
            .detail("kept_databases", kept.databases.clone())
            .detail("stop_with", kept.stop_with.clone());
    }
    if json {
        return Output::Verdict(v.detail("cases", rows));
    }
    let text = crate::commands::harness_report::text(&report, &v);
    Output::Text(text, v)
}

type Attempt = Result<Verdict, (Stop, Option<String>)>;

fn verdict(result: Result<Attempt, String>) -> Output {
    match result {
        Err(usage) => Output::Usage(usage),
        Ok(Ok(v)) => Output::Verdict(v),
        Ok(Err((stop, apr))) => {
            let mut v = Verdict::from(stop);
            v.apr = apr;
            Output::Verdict(v)
        }
    }
}

/// Resolves the target, connects (an unreachable database is a verdict,
/// not a panic) and runs `f`. `Err` is a usage problem.
fn with_db<T>(
    settings: &Settings,
    f: impl FnOnce(&mut db::Conn) -> Result<T, (Stop, Option<String>)>,
) -> Result<Result<T, (Stop, Option<String>)>, String> {
    let target = resolve(settings)?;
    let mut client = match connect(&target) {
        Ok(c) => c,
        Err(stop) => return Ok(Err((stop, None))),
    };
    Ok(f(&mut client))
}

/// `f` under `--durability`: with `replicated:N`, its contract checked
/// before anything is written, and an OK write (or state found written)
/// answered only once N standbys have flushed it.
fn durable(
    durability: crate::decide::durability::Durability,
    f: impl Fn(&mut db::Conn) -> Attempt,
) -> impl Fn(&mut db::Conn) -> Attempt {
    move |c: &mut db::Conn| -> Attempt {
        let crate::decide::durability::Durability::Replicated(n) = durability else {
            return f(c);
        };
        c.durability = durability;
        db::check_durability_contract(c).map_err(|s| (s, None))?;
        let v = f(c)?;
        let written = matches!(
            v.status,
            Status::Done(
                Done::Minted
                    | Done::AlreadyMinted
                    | Done::Consumed
                    | Done::Revoked
                    | Done::AlreadyRevoked
            )
        );
        if written && v.dry_run != Some(true) {
            db::await_replicated(c, n).map_err(|s| (s, v.apr.clone()))?;
        }
        Ok(v)
    }
}

/// `with_db` for the idempotent writers (execute, consume with its request
/// id, revoke). When the connection is lost while COMMIT is under way, the
/// outcome is read back by running the same command once more on a new
/// connection: it waits for the first attempt's locks, then either finds
/// the write (ALREADY_MINTED, the caller's own CONSUMED, ALREADY_REVOKED)
/// or makes it. Only if that cannot settle it is the answer
/// ERROR_COMMIT_UNKNOWN, which says to re-run.
fn with_db_settled(
    settings: &Settings,
    f: impl Fn(&mut db::Conn) -> Attempt,
) -> Result<Attempt, String> {
    let target = resolve(settings)?;
    let f = durable(durability(settings)?, f);
    let first = match connect(&target) {
        Ok(mut c) => f(&mut c),
        Err(stop) => return Ok(Err((stop, None))),
    };
    let lost = match &first {
        Err((Stop::Fault(Fault::CommitUnknown, why), _)) => why.clone(),
        _ => return Ok(first),
    };
    let unknown = |tries: u32, again: String| {
        Err((
            Stop::Fault(
                Fault::CommitUnknown,
                format!(
                    "{lost}; reading back on a new connection did not settle it ({tries} \
                     attempt{} within the connect timeout, {:?}; the last: {again}); re-run the \
                     same command (it is idempotent)",
                    if tries == 1 { "" } else { "s" },
                    target.timeouts.connect
                ),
            ),
            None,
        ))
    };
    // Read back until it settles, within the connect timeout: a failover
    // takes a while (the old primary gone, the standby not yet promoted
    // or still read-only), so each failed try waits longer (50 ms,
    // doubling, at most 1 s) and connects afresh, following the host list
    // and target_session_attrs to whichever server now takes writes.
    let deadline = std::time::Instant::now() + target.timeouts.connect;
    let mut pause = std::time::Duration::from_millis(50);
    let mut tries = 0;
    loop {
        tries += 1;
        let again = match connect(&target) {
            Ok(mut c) => match f(&mut c) {
                Err((Stop::Fault(kind, why), _)) if settling_may_retry(kind, &why) => why,
                settled => return Ok(settled),
            },
            Err(Stop::Fault(kind, why)) if settling_may_retry(kind, &why) => why,
            Err(stop) => return Ok(unknown(tries, Verdict::from(stop).message)),
        };
        if std::time::Instant::now() + pause > deadline {
            return Ok(unknown(tries, again));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// What settling a lost commit tries again: the commit still unknown
/// because the connection was lost again, no server (or none that takes
/// writes yet: a standby being promoted answers "read-only transaction"),
/// a connect timeout. Anything else is an answer; so is a server that
/// answered that its standbys did not confirm within the statement timeout
/// (a COMMIT cancelled or warned, `--durability replicated` short): trying
/// again would wait that long once more, past the settling bound (a third
/// 300 s wait after two cancels, tests/sync_replication.rs).
fn settling_may_retry(kind: Fault, why: &str) -> bool {
    match kind {
        Fault::CommitUnknown => why.starts_with("the connection was lost"),
        Fault::DbUnreachable | Fault::Timeout => true,
        Fault::Database => why.contains("read-only transaction"),
        _ => false,
    }
}

/// Connects as libpq does: each entry of the host list in turn (each
/// with its own password file entry and its own connect timeout), the
/// first that answers and suits `target_session_attrs` wins;
/// `prefer-standby` makes a second pass taking any server. A server that
/// answered and refused (a login, TLS verification, a missing database)
/// ends the search, as in libpq (the next host is not offered the same
/// try). When none connects, the message names every
/// host and port with its own failure; the code is ERROR_DB_TLS if a
/// server failed TLS verification, ERROR_TIMEOUT if every host timed out,
/// else ERROR_DB_UNREACHABLE.
fn connect(target: &connect::Target) -> Result<db::Conn, Stop> {
    let mut failures: Vec<(Fault, String)> = Vec::new();
    for pass in target.session.passes() {
        for attempt in target.attempts() {
            match db::connect(&attempt, pass) {
                Ok(c) => return Ok(c),
                Err(db::Failed {
                    stop: Stop::Fault(kind, why),
                    next_host: true,
                }) => failures.push((kind, why)),
                Err(failed) => return Err(failed.stop),
            }
        }
    }
    let kind = if failures.iter().any(|(k, _)| *k == Fault::DbTls) {
        Fault::DbTls
    } else if !failures.is_empty() && failures.iter().all(|(k, _)| *k == Fault::Timeout) {
        Fault::Timeout
    } else {
        Fault::DbUnreachable
    };
    Err(match failures.len() {
        0 => Stop::Fault(Fault::DbUnreachable, "no host to connect to".into()),
        1 => Stop::Fault(kind, failures.remove(0).1),
        n => Stop::Fault(
            kind,
            format!(
                "no host of the list connected ({n} attempts): {}",
                failures
                    .into_iter()
                    .map(|(_, why)| why)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    })
}

thread_local! {
    /// The connection settings of the command being run, resolved once:
    /// resolving reads the environment and the password and service files
    /// (and warns about a loose password file), so every step of one
    /// command must see the same answer, once. `run` empties it.
    static RESOLVED: std::cell::RefCell<Option<Result<connect::Target, String>>> =
        const { std::cell::RefCell::new(None) };
}

fn resolve(settings: &Settings) -> Result<connect::Target, String> {
    RESOLVED.with(|cell| {
        if let Some(done) = cell.borrow().as_ref() {
            return done.clone();
        }
        let done = resolve_now(settings);
        *cell.borrow_mut() = Some(done.clone());
        done
    })
}

fn resolve_now(settings: &Settings) -> Result<connect::Target, String> {
    let timeouts = Timeouts {
        connect: std::time::Duration::from_secs(10),
        lock: settings.lock_timeout,
        statement: settings.statement_timeout,
    };
    if let Some(url) = &settings.db_url {
        if connect::resolve(Some(url), &|_| None, timeouts)
            .is_ok_and(|t| t.config.get_password().is_some() || t.client_cert.password.is_some())
        {
            return Err(
                "--db-url must not carry a password or an sslpassword (it would be visible in the \
                 process list); use PGPASSWORD, a 0600 ~/.pgpass, or a service file"
                    .into(),
            );
        }
    }
    let schema = match settings
        .schema
        .clone()
        .or_else(|| std::env::var(connect::SCHEMA_ENV).ok())
    {
        Some(name) => connect::Schema::new(&name)
            .map_err(|e| format!("--schema / {}: {e}", connect::SCHEMA_ENV))?,
        None => connect::Schema::default(),
    };
    // HOME as libpq finds it: $HOME, else the passwd entry's home.
    let home = connect::home_dir(&|k| std::env::var(k).ok());
    let mut target = connect::resolve_with(
        settings.db_url.as_deref(),
        &|k| match k {
            "HOME" => home.clone(),
            _ => std::env::var(k).ok(),
        },
        timeouts,
        settings.connect_timeout,
    )?;
    target.schema = schema;
    Ok(target)
}

fn consume(settings: &Settings, args: &ConsumeArgs) -> Output {
    let refuse = |stop: Stop| {
        Output::Verdict(
            Verdict::from(stop)
                .auth_code(args.auth_code.clone())
                .dry_run(args.dry_run),
        )
    };
    // REAL_RUN is refused before anything is read: first in SPEC's order.
    if args.mode == crate::decide::payload::MODE_REAL_RUN {
        return refuse(Stop::Reject(
            Reject::RealRunBlocked,
            "REAL_RUN is never authorized by a C1 build-prep grant".into(),
        ));
    }
    if args.mode != crate::decide::payload::MODE_DRY_RUN {
        return Output::Usage(format!(
            "--mode {:?}: only DRY_RUN (or REAL_RUN, always refused) is known",
            args.mode
        ));
    }
    let (manifest_hash, action_set) = match (&args.manifest, &args.manifest_hash, &args.action_set)
    {
        (Some(path), _, _) => match manifest::load(path) {
            Ok(m) => (m.hash.as_str().to_owned(), m.action_set),
            Err(stop) => return refuse(stop),
        },
        (None, Some(h), Some(set)) => (h.clone(), set.split(',').map(str::to_owned).collect()),
        _ => {
            return Output::Usage(
                "give --manifest FILE, or --manifest-hash H with --action-set a,b,c".into(),
            )
        }
    };
    let presented = Presented {
        carrier: args.carrier.clone(),
        lane: args.lane.clone(),
        target: args.target.clone(),
        plan_ref: args.plan_ref.clone(),
        mode: args.mode.clone(),
        manifest_hash,
        action_set,
    };
    let request_id = args
        .request_id
        .clone()
        .unwrap_or_else(crate::cli::fresh_request_id);
    if let Err(usage) = resolve(settings) {
        return Output::Usage(usage);
    }
    let (trusted, allowed) =
        match trusted_keys(settings).and_then(|t| allowed_signers(settings).map(|a| (t, a))) {
            Ok(k) => k,
            Err(stop) => return refuse(stop),
        };
    let keys = db::Keys {
        signing: None,
        trusted: &trusted,
        allowed: &allowed,
        evidence_head: None,
    };
    verdict(with_db_settled(settings, |c| {
        db::consume(
            c,
            &args.auth_code,
            &presented,
            &args.by,
            &request_id,
            args.dry_run,
            &keys,
        )
        .map_err(|s| (s, None))
    }))
    .and_fill(|v| {
        v.auth_code.get_or_insert_with(|| args.auth_code.clone());
        v.dry_run.get_or_insert(args.dry_run);
    })
}

fn revoke(settings: &Settings, args: &RevokeArgs) -> Output {
    let key = match (&args.auth_code, &args.apr) {
        (Some(code), _) => GrantKey::AuthCode(code),
        (None, Some(apr)) => GrantKey::Apr(apr),
        (None, None) => return revoke_bulk(settings, args),
    };
    if let Err(usage) = resolve(settings) {
        return Output::Usage(usage);
    }
    let trusted = match trusted_keys(settings) {
        Ok(t) => t,
        Err(stop) => {
            let mut v = Verdict::from(stop).dry_run(args.dry_run);
            v.auth_code = args.auth_code.clone();
            v.apr = args.apr.clone();
            return Output::Verdict(v);
        }
    };
    verdict(with_db_settled(settings, |c| {
        db::revoke(c, key, &args.reason, &args.by, args.dry_run, &trusted).map_err(|s| (s, None))
    }))
    .and_fill(|v| {
        if v.auth_code.is_none() {
            v.auth_code = args.auth_code.clone();
        }
        if v.apr.is_none() {
            v.apr = args.apr.clone();
        }
        v.dry_run.get_or_insert(args.dry_run);
    })
}

/// Bulk `revoke --plan | --key-id | --forged`: a dry run lists the set; a
/// run must say how many it expects (`--expect N`, what the dry run
/// listed), and revokes all of them or none.
fn revoke_bulk(settings: &Settings, args: &RevokeArgs) -> Output {
    let selector = match (&args.plan, &args.key_id, args.forged) {
        (Some(p), _, _) => crate::decide::policy::Selector::Plan(p),
        (None, Some(k), _) => crate::decide::policy::Selector::KeyId(k),
        (None, None, true) => crate::decide::policy::Selector::Forged,
        (None, None, false) => {
            return Output::Usage(
                "give one of --auth-code CODE, --apr CODE, --plan P, --key-id ID, --forged".into(),
            )
        }
    };
    if !args.dry_run && args.expect.is_none() {
        return Output::Usage(format!(
            "a bulk revoke ({}) needs --expect N: run it with --dry-run first, check the grants it \
             lists, then run it again with --expect <the count it showed>",
            selector.describe()
        ));
    }
    if let Err(usage) = resolve(settings) {
        return Output::Usage(usage);
    }
    let refine = |v: Verdict| {
        let mut v = v.dry_run(args.dry_run);
        v.details
            .entry("selector")
            .or_insert_with(|| selector.describe().into());
        if let Some(n) = args.expect {
            v = v.detail("expected", n);
        }
        // Not `with_db_settled`: re-running a bulk revoke after a lost
        // COMMIT would count a different set; the operator looks instead.
        if v.code() == Fault::CommitUnknown.code() {
            v.message.push_str(
                "; whether the grants were revoked is unknown: run the same revoke with --dry-run \
                 to see which are still active",
            );
        }
        v
    };
    let trusted = match trusted_keys(settings) {
        Ok(t) => t,
        Err(stop) => return Output::Verdict(refine(Verdict::from(stop))),
    };
    let durability = match durability(settings) {
        Ok(d) => d,
        Err(usage) => return Output::Usage(usage),
    };
    match verdict(with_db(
        settings,
        durable(durability, |c| {
            db::revoke_bulk(
                c,
                selector,
                &args.reason,
                &args.by,
                args.dry_run,
                args.expect,
                &trusted,
            )
            .map_err(|s| (s, None))
        }),
    )) {
        Output::Verdict(v) => Output::Verdict(refine(v)),
        other => other,
    }
}

fn readback(settings: &Settings, apr: &str) -> Output {
    let trusted = trusted_keys(settings).map_err(|stop| Verdict::from(stop).message);
    let allowed = allowed_signers(settings).map_err(|stop| Verdict::from(stop).message);
    verdict(with_db(settings, |c| {
        let checks = db::readback(
            c,
            apr,
            trusted.as_ref().map_err(String::as_str),
            allowed.as_ref().map_err(String::as_str),
        )
        .map_err(|s| (s, Some(apr.to_owned())))?;
        let failed = checks.iter().filter(|c| !c.pass).count();
        let lines: Vec<String> = checks
            .iter()
            .map(|c| {
                format!(
                    "{}  {}  (seen: {})",
                    if c.pass { "PASS" } else { "FAIL" },
                    c.name,
                    c.seen
                )
            })
            .collect();
        let json: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| serde_json::json!({"check": c.name, "pass": c.pass, "seen": c.seen}))
            .collect();
        let v = if failed == 0 {
            Verdict::done(
                Done::ReadbackPassed,
                format!("all {} readback checks pass", checks.len()),
            )
        } else {
            Verdict::new(
                Status::Reject(Reject::ReadbackFailed),
                format!("{failed} of {} readback checks fail", checks.len()),
            )
        };
        let mut v = v.apr(apr).detail("checks", json);
        v.lines = lines;
        Ok(v)
    }))
}

fn propose(settings: &Settings, args: &ProposeArgs) -> Output {
    let refuse = |stop: Stop| {
        let mut v = Verdict::from(stop).dry_run(args.dry_run);
        v.apr = args.apr.clone();
        Output::Verdict(v)
    };
    let manifest = match (&args.manifest, &args.manifest_hash) {
        (Some(path), _) => match manifest::load(path) {
            Ok(m) => Some(m),
            Err(stop) => return refuse(stop),
        },
        (None, Some(_)) => None,
        (None, None) => return Output::Usage("give --manifest FILE or --manifest-hash H".into()),
    };
    let (hash, action_set) = match &manifest {
        Some(m) => (m.hash.as_str().to_owned(), m.action_set.clone()),
        // The action set comes from the live vocabulary (db::propose).
        None => (args.manifest_hash.clone().unwrap_or_default(), Vec::new()),
    };
    // A bare number is a slip of the hand, not a TTL out of range: usage.
    if !args.ttl.is_empty() && args.ttl.bytes().all(|b| b.is_ascii_digit()) {
        return Output::Usage(format!(
            "--ttl {:?} has no unit: add one, e.g. {}s or {}m (s, m, h)",
            args.ttl, args.ttl, args.ttl
        ));
    }
    let ttl_seconds = match crate::cli::parse_duration(&args.ttl) {
        Ok(d) if d.subsec_nanos() == 0 => serde_json::Value::from(d.as_secs()),
        Ok(_) => {
            return refuse(Stop::Reject(
                Reject::Ttl,
                format!("--ttl {} is not a whole number of seconds", args.ttl),
            ))
        }
        Err(e) => return refuse(Stop::Reject(Reject::Ttl, e)),
    };
    let request = crate::decide::propose::Request {
        payload: crate::decide::propose::payload(
            &hash,
            &action_set,
            &args.plan_ref,
            ttl_seconds,
            &args.rollback_plan_ref,
        ),
        manifest,
        apr: args.apr.clone(),
        proposed_by: args.by.clone(),
        session: args.session.clone(),
    };
    let target = match resolve(settings) {
        Ok(t) => t,
        Err(usage) => return Output::Usage(usage),
    };
    let client = connect(&target);
    let result = match (client, args.dry_run) {
        (Ok(mut c), dry_run) => db::propose(&mut c, &request, dry_run),
        // Only "no database answered" falls back to the offline check; a
        // refused login or a timeout is an answer, and an ERROR.
        (Err(Stop::Fault(Fault::DbUnreachable, _)), true) => {
            crate::decide::propose::offline(&request)
        }
        (Err(stop), _) => Err(stop),
    };
    match result {
        Ok(v) => Output::Verdict(v.dry_run(args.dry_run)),
        Err(stop) => refuse(stop),
    }
}

fn manifest_cmd(m: &ManifestCommand, json: bool) -> Output {
    let (path, want_hash) = match m {
        ManifestCommand::Hash { file } => (file, true),
        ManifestCommand::Canon { file } => (file, false),
    };
    let stdin = path.as_os_str() == "-";
    let read = if stdin {
        manifest::read_manifest_stdin()
    } else {
        manifest::read_manifest(path)
    };
    let bytes = match read {
        Ok(b) => b,
        Err(stop) => return Output::Verdict(Verdict::from(stop)),
    };
    let source = if stdin {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    match cser::parse(&bytes).and_then(|v| cser::canonical(&v)) {
        Ok(canon) if json => {
            let hash = cser::Sha256Hex::of(canon.as_bytes());
            let v = Verdict::done(Done::Hashed, format!("cser-v1 SHA-256 of {source}"))
                .detail("sha256", hash.as_str());
            Output::Verdict(if want_hash {
                v
            } else {
                v.detail("canonical", canon)
            })
        }
        Ok(canon) if want_hash => {
            Output::Raw(format!("{}\n", cser::Sha256Hex::of(canon.as_bytes())).into_bytes())
        }
        Ok(canon) => Output::Raw(canon.into_bytes()),
        Err(e) => Output::Verdict(Verdict::new(
            Status::Reject(Reject::ManifestInvalid),
            format!("{source} is not cser-v1 JSON: {e}"),
        )),
    }
}

impl Output {
    /// A read-only view's OK verdict for a human: its lines once, then the
    /// verdict line (not the facts again).
    fn and_then_text(self, json: bool) -> Output {
        match self {
            Output::Verdict(v) if !json && v.kind() == crate::commands::verdict::Kind::Ok => {
                let mut text: String = v.human_results();
                text.push_str(&format!(
                    "OK {}: {}\n",
                    v.code(),
                    crate::canon::text::escape(&v.message)
                ));
                Output::Text(text, v)
            }
            other => other,
        }
    }

    fn and_fill(self, f: impl FnOnce(&mut Verdict)) -> Output {
        match self {
            Output::Verdict(mut v) => {
                f(&mut v);
                Output::Verdict(v)
            }
            other => other,
        }
    }
}
