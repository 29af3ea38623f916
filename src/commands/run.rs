//! One command from parsed arguments to a verdict: open the evidence log,
//! build the command's context, dispatch to its file, mark the verdict
//! (the role a refusal names, a superuser, a standby), record it. No exit
//! numbers here (main owns them) and no SQL (the store owns it).

use super::context::{path_option, Context};
use super::record::record_evidence;
use super::render::{canonical_for_humans, named_role};
use crate::cli::{AprsCommand, Cli, Command, EvidenceCommand};
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::store::conn::Seen;

pub use super::output::Output;

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
    let mut cx = Context::new(cli.settings(), application_name(&cli.command));
    let log_path = path_option(&cx.settings.evidence_log, crate::integrity::evidence::ENV);
    let log = match log_path {
        Some(path) if deciding => match cx.log_signer().and_then(|key| {
            crate::integrity::evidence::Log::open(&path, key)
                .map_err(|e| Stop::Fault(Fault::EvidenceLog, e))
        }) {
            Ok(log) => Some(log),
            Err(stop) => return Output::Verdict(Verdict::from(stop)),
        },
        _ => None,
    };
    // The anchor a grant minted now records: the head before deciding.
    cx.evidence_head = log.as_ref().map(|l| l.head_at_open().hash.clone());
    let output = name_the_role(&cli.command, dispatch(cli, &cx));
    let output = warn_if_superuser(cx.seen(), output);
    match log {
        Some(log) => record_evidence(log, command_name(&cli.command), &cx, output),
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

/// Every verdict of a command that ran as a superuser says so.
/// And every verdict of a command that read a server in recovery (a
/// standby, whose data may lag the primary's) carries `in_recovery: true`.
fn warn_if_superuser(seen: Seen, output: Output) -> Output {
    let mark = |mut v: Verdict| {
        if seen.superuser {
            v = v.detail("warning", SUPERUSER_WARNING);
        }
        if seen.in_recovery {
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

/// The subcommand's name, as its man page and the evidence log name it.
pub(super) fn command_name(command: &Command) -> &'static str {
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

/// The command's own file; review and digest for a human shorten a patch
/// payload's base64.
fn dispatch(cli: &Cli, cx: &Context) -> Output {
    let output = dispatch_command(cli, cx);
    if !cli.json && matches!(cli.command, Command::Review(_) | Command::Digest(_)) {
        canonical_for_humans(output)
    } else {
        output
    }
}

fn dispatch_command(cli: &Cli, cx: &Context) -> Output {
    match &cli.command {
        Command::Execute(a) => super::execute::execute(cx, &a.apr, a.dry_run),
        Command::Keygen { out } => super::keys::keygen(out),
        Command::List(args) => super::list::list(cx, args),
        Command::Aprs(AprsCommand::List(args)) => super::aprs::aprs_list(cx, args),
        Command::Aprs(AprsCommand::Show(a)) => super::aprs::aprs_show(cx, &a.apr),
        Command::Review(a) => super::review::review(cx, a),
        Command::Show(a) => super::show::show(cx, a.auth_code.as_deref(), a.apr.as_deref()),
        Command::Keys(a) => super::keys::keys(cx, a.jsonl),
        Command::Digest(a) => super::digest::digest(cx, a),
        Command::Evidence(EvidenceCommand::Verify { file, db, .. }) => {
            super::evidence::evidence_verify(cx, file, *db)
        }
        Command::Consume(args) => super::consume::consume(cx, args),
        Command::Revoke(args) => super::revoke::revoke(cx, args),
        Command::Readback(a) => super::readback::readback(cx, &a.apr),
        Command::Propose(args) => super::propose::propose(cx, args),
        Command::Manifest(m) => super::manifest::manifest_cmd(m, cli.json),
        Command::Harness { keep } => super::harness::harness(cli.json, *keep),
        Command::ProposePatch(args) => super::patch::propose_patch(cx, args),
        Command::ShowPatch(a) => {
            super::patch::show_patch(cx, &a.apr, a.against.as_deref(), a.out.as_deref(), a.force)
        }
    }
}
