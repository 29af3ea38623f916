//! `evidence verify`: the log's chain and signatures, and with `--db` every
//! anchored grant's MINTED line. Read-only; never writes the log or the
//! database.

use super::context::Context;
use super::output::Output;
use crate::commands::verdict::{Status, Verdict};
use crate::decide::reject::{Done, Fault, Reject};
use crate::integrity::signing;
use crate::store::grants;

/// `evidence verify FILE [--db]`: every line intact, in place and signed
/// by a trusted key; with `--db`, every grant a trusted key signed with an
/// evidence anchor finds the anchor and its MINTED line in the log.
pub(super) fn evidence_verify(cx: &Context, file: &std::path::Path, against_db: bool) -> Output {
    let bytes = match crate::integrity::evidence::read(file) {
        Ok(b) => b,
        Err(e) => return Output::Verdict(Verdict::fault(Fault::EvidenceLog, e)),
    };
    let trusted = match cx.trusted_keys() {
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
    let grants = match cx.with_db(|c| grants::anchored_grants(c).map_err(|s| (s, None))) {
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
