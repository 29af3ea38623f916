//! `aprs list` and `aprs show`: APRs with their votes, each vote's standing
//! by the recount's own rules, and what `execute` would answer now (a dry
//! run). Read-only; never writes.

use super::context::{path_option, Context};
use super::output::{verdict, Output};
use super::render::{listing, refusal, rows_only, span_coarse, table};
use crate::cli::Format;
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Reject};
use crate::integrity::approval::{self, AllowedSigners};
use crate::store::aprs;
use crate::store::grants;
use crate::store::rows;

/// An APR as `aprs` prints it: its row, its votes with their standing by
/// the recount's own rules (verified::tally and policy::standings), and the
/// recount's total against its action's min_approvals. Without allowed
/// signers no approval can be judged: each says so, and `counted` is null.
pub(super) fn apr_json(
    view: &rows::AprView,
    allowed: Option<&AllowedSigners>,
) -> serde_json::Value {
    let apr = &view.apr;
    // The digest `digest --apr` prints: of the payload exactly as stored,
    // none for one that cannot be read exactly (or is NULL).
    let digest = apr
        .payload_text
        .as_deref()
        .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
        .filter(|p| !p.is_null())
        .and_then(|p| crate::canon::cser::digest(&p).ok());
    let votes: Vec<crate::decide::facts::Vote> =
        view.votes.iter().map(|d| d.vote.clone()).collect();
    let required = view
        .min_approvals
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m >= 1);
    let tally = match (allowed, &digest, required) {
        (Some(allowed), Some(d), Some(min)) => Some(crate::integrity::verified::tally(
            apr,
            &crate::integrity::verified::Signed {
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
    let empty = crate::decide::quorum::Tally {
        required: required.unwrap_or(0),
        counted: std::collections::BTreeMap::new(),
        not_counted: Vec::new(),
        proposer_rejected: false,
    };
    let standings = crate::decide::quorum::standings(tally.as_ref().unwrap_or(&empty), apr, &votes);
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
pub(super) fn aprs_list(cx: &Context, args: &crate::cli::AprsListArgs) -> Output {
    let format = match args.format.resolve(cx.settings.json) {
        Ok(f) => f,
        Err(usage) => return Output::Usage(usage),
    };
    let allowed = match path_option(&cx.settings.allowed_signers, approval::ALLOWED_SIGNERS_ENV) {
        None => None,
        Some(_) => match cx.allowed_signers() {
            Ok(a) => Some(a),
            Err(stop) => return refusal("aprs", format, Verdict::from(stop)),
        },
    };
    let filter = aprs::AprFilter {
        apr: None,
        status: args.status.as_deref(),
        pending: args.pending,
        action: args.action.as_deref(),
        since: args.since.map(Into::into),
        limit: args.limit,
    };
    let listed = match cx.with_db(|c| aprs::list_aprs(c, &filter).map_err(|s| (s, None))) {
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

/// `aprs show --apr CODE`: the APR, every vote and its standing, and what
/// `execute` would answer now: `mint::execute` itself, as a dry run, in its
/// own read-only transaction (the signing key, which a dry run does not
/// use, is not asked for).
pub(super) fn aprs_show(cx: &Context, apr: &str) -> Output {
    let trusted = cx.trusted_keys();
    let allowed = cx.allowed_signers();
    verdict(cx.with_db(|c| {
        let filter = aprs::AprFilter {
            apr: Some(apr),
            status: None,
            pending: false,
            action: None,
            since: None,
            limit: 1,
        };
        let listed = aprs::list_aprs(c, &filter).map_err(|s| (s, Some(apr.to_owned())))?;
        let Some(view) = listed.aprs.first() else {
            return Err((
                Stop::Reject(Reject::AprNotFound, "no APR with this code".into()),
                Some(apr.to_owned()),
            ));
        };
        let answer = match (&trusted, &allowed) {
            (Ok(t), Ok(a)) => {
                let keys = grants::Keys {
                    signing: None,
                    trusted: t,
                    allowed: a,
                    evidence_head: None,
                };
                outcome::execute(c, apr, true, &keys).unwrap_or_else(Verdict::from)
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
    .and_then_text(cx.settings.json)
}

/// `aprs show` for a human: one line a fact, then one line a vote.
pub(super) fn apr_lines(a: &serde_json::Value) -> Vec<String> {
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
