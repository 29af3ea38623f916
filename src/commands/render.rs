//! Rendering shared by the commands: tables, listings in every format,
//! spans of time, a grant as JSON, the role a refusal names, a payload's
//! base64 shortened for a human. Turns values into text; never reads,
//! connects or decides.

use super::output::Output;
use crate::cli::Format;
use crate::commands::verdict::Verdict;
use crate::decide::reject::{Done, Fault};
use crate::integrity::signing::{self, TrustedKeys};
use crate::store::rows;

/// The verdict, and if it is ERROR_PERMISSION_DENIED, the role `command`
/// runs as, in its message and as `role_needed` (once).
pub(super) fn named_role(command: &str, mut v: Verdict) -> Verdict {
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

/// What the signature check says when there are no trusted keys.
pub(super) const UNCHECKED: &str = "not checked (no trusted keys)";

pub(super) fn approvers(g: &crate::decide::facts::Grant) -> Option<Vec<String>> {
    g.quorum
        .as_ref()
        .and_then(crate::decide::facts::Quorum::from_json)
        .map(|q| q.0.into_iter().map(|m| m.approver).collect())
}

/// The signature check in one word, for a table cell.
pub(super) fn signature_word(signature: &str) -> &'static str {
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
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
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

/// A listing's forms other than its table: `jsonl` (a line a row, no
/// verdict), `json` (the verdict, the rows under `key`) and `yaml` (the
/// same as YAML) are `Err` with the output; for table and wide, the
/// verdict and its message. "N of M `noun` shown" when `--limit` cut it.
pub(super) fn listing(
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
pub(super) fn rows_only(header: &[&str], rows: &[Vec<String>]) -> String {
    let text = table(header, rows);
    text.split_once('\n')
        .map_or(String::new(), |(_, rest)| rest.to_owned())
}

/// A refusal of a listing: for `-o yaml` the verdict as YAML on stdout (its
/// verdict line on stderr), otherwise as every command prints one.
pub(super) fn refusal(command: &str, format: Format, v: Verdict) -> Output {
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

/// `42m10s`, `1h5m`, `2d3h`: the two largest units of a span.
pub(super) fn span(seconds: i64) -> String {
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
pub(super) fn span_coarse(seconds: i64) -> String {
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

/// A grant as `list` and `show` print it, with its signature checked
/// against the trusted keys when there are any, and who revoked it.
pub(super) fn grant_json(
    g: &crate::decide::facts::Grant,
    revoked: &rows::Revocation,
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

/// A patch payload's base64 as a human reads it: its head and its length.
/// Returns whether there was one to shorten.
pub(super) fn shorten_base64(payload: &mut serde_json::Value) -> bool {
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
pub(super) fn canonical_for_humans(output: Output) -> Output {
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
