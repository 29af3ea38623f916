//! `keys` (the trusted key ids and what each signed) and `keygen` (a new
//! signing key pair). `keys` only reads; `keygen` never connects.

use super::context::Context;
use super::output::Output;
use super::render::table;
use crate::commands::verdict::Verdict;
use crate::decide::reject::{Done, Fault};
use crate::integrity::signing;
use crate::store::grants;

/// `keys`: the trusted key ids with what each signed, and the key ids the
/// grants name that are not trusted. Read-only.
pub(super) fn keys(cx: &Context, jsonl: bool) -> Output {
    let trusted = match cx.trusted_keys() {
        Ok(t) => t,
        Err(stop) => return Output::Verdict(Verdict::from(stop)),
    };
    let grants = match cx.with_db(|c| grants::all_grants(c).map_err(|s| (s, None))) {
        Err(usage) => return Output::Usage(usage),
        Ok(Err((stop, _))) => return Output::Verdict(Verdict::from(stop)),
        Ok(Ok(g)) => g,
    };
    let tally = crate::integrity::verified::key_tally(&grants, &trusted);
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
    if cx.settings.json {
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

pub(super) fn keygen(out: &std::path::Path) -> Output {
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
