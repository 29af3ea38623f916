//! `list`: grants, filtered and sorted, as a table, wide table, JSON,
//! JSON lines or YAML, each signature checked when keys are trusted.
//! Read-only; never writes.

use super::context::Context;
use super::output::Output;
use super::render::{
    approvers, grant_json, listing, refusal, rows_only, signature_word, table, UNCHECKED,
};
use crate::cli::Format;
use crate::commands::verdict::Verdict;
use crate::store::read;

/// `list`: grants, newest first (or by `--sort-by`), in the format asked.
pub(super) fn list(cx: &Context, args: &crate::cli::ListArgs) -> Output {
    let format = match args.format.resolve(cx.settings.json) {
        Ok(f) => f,
        Err(usage) => return Output::Usage(usage),
    };
    // --forged asks a question only the trusted keys answer: without them
    // it is refused, never answered by guessing.
    let trusted = if args.forged {
        match cx.trusted_keys() {
            Ok(t) => Some(t),
            Err(stop) => return refusal("list", format, Verdict::from(stop)),
        }
    } else {
        cx.trusted_keys().ok()
    };
    let filter = read::ListFilter {
        status: args.status.as_deref(),
        apr: args.apr.as_deref(),
        plan: args.plan.as_deref(),
        expiring_within_seconds: args
            .expiring_within
            .map(|d| i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)),
        key_id: args.key_id.as_deref(),
        since: args.since.map(Into::into),
        // The signature is checked here, not in SQL: read every match and
        // cut the list after filtering.
        limit: (!args.forged).then_some(args.limit),
        sort: args.sort_by.map(Into::into),
    };
    let result = cx.with_db(|c| read::list(c, &filter).map_err(|s| (s, None)));
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
