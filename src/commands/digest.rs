//! `digest --apr`: the cser-v1 digest of an APR's stored payload and, with
//! `--message`, the exact bytes an approver signs. Read-only.

use super::context::Context;
use super::output::{verdict, Output};
use crate::canon::cser;
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Reject};
use crate::integrity::approval;
use crate::store::aprs;

/// `digest --apr`: the cser-v1 digest of the APR's payload as stored; with
/// `--message`, the exact bytes an approver signs for a vote on it.
pub(super) fn digest(cx: &Context, a: &crate::cli::DigestArgs) -> Output {
    let apr = a.apr.as_str();
    let result = cx.with_db(|c| {
        let (_, payload) = aprs::read_apr_payload(c, apr).map_err(|s| (s, Some(apr.to_owned())))?;
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
        let no_form = |e| refuse(format!("the APR's payload has no cser-v1 form: {e}"));
        // The text to show, and the digest from cser's one hashing function
        // (never a SHA-256 of the text taken here by hand).
        let (canonical, d) = cser::canonical_digest(&payload).map_err(no_form)?;
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
        Ok(Ok(v)) if a.message && !cx.settings.json => Output::Raw(
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
