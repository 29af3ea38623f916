//! `execute`: mint a grant for an approved APR (or, with --dry-run, say
//! whether it would). Loads the keys, hands the decision to the store, and
//! settles a lost COMMIT. Never decides policy, never speaks SQL.

use super::context::Context;
use super::output::{verdict, Output};
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::store::grants;

pub(super) fn execute(cx: &Context, apr: &str, dry_run: bool) -> Output {
    // A wrong command line is a usage error before anything else is read.
    if let Err(usage) = cx.target() {
        return Output::Usage(usage);
    }
    let keys = cx
        .trusted_keys()
        .and_then(|t| cx.signing_key(&t).map(|k| (t, k)));
    let (trusted, key) = match keys {
        Ok(k) => k,
        Err(stop) => return Output::Verdict(Verdict::from(stop).apr(apr).dry_run(dry_run)),
    };
    let allowed = match cx.allowed_signers() {
        Ok(a) => a,
        Err(stop) => return Output::Verdict(Verdict::from(stop).apr(apr).dry_run(dry_run)),
    };
    let keys = grants::Keys {
        signing: Some(&key),
        trusted: &trusted,
        allowed: &allowed,
        evidence_head: cx.evidence_head.as_deref(),
    };
    verdict(cx.with_db_settled(|c| {
        outcome::execute(c, apr, dry_run, &keys)
            .map(|v| v.apr(apr.to_owned()))
            .map_err(|s| (s, Some(apr.to_owned())))
    }))
    .and_fill(|v| {
        v.dry_run.get_or_insert(dry_run);
    })
}
