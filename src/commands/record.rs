//! The evidence log's line for a deciding command: who ran what, and the
//! verdict, signed and chained. A verdict whose line cannot be written
//! becomes ERROR_EVIDENCE_LOG carrying the outcome. Never decides.

use super::context::Context;
use super::output::Output;
use crate::commands::verdict::Verdict;
use crate::decide::reject::Fault;

/// Appends the verdict to the evidence log. If the line cannot be written
/// the answer is ERROR_EVIDENCE_LOG (exit 5) carrying the outcome: the
/// caller must not act on a decision that left no evidence (an OK outcome
/// stands in the database; re-running the command, which is idempotent,
/// records it once the log is fixed).
pub(super) fn record_evidence(
    mut log: crate::integrity::evidence::Log,
    command: &str,
    cx: &Context,
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
        if let Output::Verdict(f) = record_one(&mut log, command, cx, one) {
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
    record_one(&mut log, command, cx, v)
}

fn record_one(
    log: &mut crate::integrity::evidence::Log,
    command: &str,
    cx: &Context,
    v: Verdict,
) -> Output {
    let (os_user, os_uid) = crate::sys::user::os_user();
    let db_user = cx
        .target()
        .ok()
        .and_then(|t| t.config.get_user().map(str::to_owned));
    let mut record = serde_json::Map::new();
    record.insert(
        "at".into(),
        crate::integrity::signing::signed_time(&chrono::Utc::now()).into(),
    );
    record.insert("command".into(), command.into());
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
        verdict["request_id"] =
            format!("sha256:{}", crate::decide::consume::request_key(id)).into();
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

/// consume's idempotency key answers as its spender, so the evidence log
/// (which others may read) holds only what the table holds: its SHA-256.
fn redact_request_id(argv: Vec<String>) -> Vec<String> {
    let hidden = |id: &str| format!("sha256:{}", crate::decide::consume::request_key(id));
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
