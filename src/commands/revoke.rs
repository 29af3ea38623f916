//! `revoke`: one grant (by auth code or APR), or a set (by plan, key id,
//! or every forged one) with its count confirmed. Never decides policy,
//! never speaks SQL.

use super::context::Context;
use super::output::{verdict, Output};
use super::settle::durable;
use crate::cli::RevokeArgs;
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::decide::reject::Fault;
use crate::store::grants::GrantKey;

pub(super) fn revoke(cx: &Context, args: &RevokeArgs) -> Output {
    let key = match (&args.auth_code, &args.apr) {
        (Some(code), _) => GrantKey::AuthCode(code),
        (None, Some(apr)) => GrantKey::Apr(apr),
        (None, None) => return revoke_bulk(cx, args),
    };
    if let Err(usage) = cx.target() {
        return Output::Usage(usage);
    }
    let trusted = match cx.trusted_keys() {
        Ok(t) => t,
        Err(stop) => {
            let mut v = Verdict::from(stop).dry_run(args.dry_run);
            v.auth_code = args.auth_code.clone();
            v.apr = args.apr.clone();
            return Output::Verdict(v);
        }
    };
    verdict(cx.with_db_settled(|c| {
        outcome::revoke(c, key, &args.reason, &args.by, args.dry_run, &trusted)
            .map_err(|s| (s, None))
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
pub(super) fn revoke_bulk(cx: &Context, args: &RevokeArgs) -> Output {
    let selector = match (&args.plan, &args.key_id, args.forged) {
        (Some(p), _, _) => crate::decide::revoke::Selector::Plan(p),
        (None, Some(k), _) => crate::decide::revoke::Selector::KeyId(k),
        (None, None, true) => crate::decide::revoke::Selector::Forged,
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
    if let Err(usage) = cx.target() {
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
    let trusted = match cx.trusted_keys() {
        Ok(t) => t,
        Err(stop) => return Output::Verdict(refine(Verdict::from(stop))),
    };
    let durability = match cx.durability() {
        Ok(d) => d,
        Err(usage) => return Output::Usage(usage),
    };
    match verdict(cx.with_db(durable(durability, |c| {
        outcome::revoke_bulk(
            c,
            selector,
            &args.reason,
            &args.by,
            args.dry_run,
            args.expect,
            &trusted,
        )
        .map_err(|s| (s, None))
    }))) {
        Output::Verdict(v) => Output::Verdict(refine(v)),
        other => other,
    }
}
