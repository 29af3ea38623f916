//! Unit tests of `decide::consume`.

use super::*;
use crate::decide::test_support::*;
use chrono::{DateTime, Utc};
use serde_json::json;

fn presented() -> Presented {
    Presented {
        carrier: "C1".into(),
        lane: "BUILD_PREP".into(),
        target: "DOT_C1_VOCAB_BUILD".into(),
        plan_ref: "LEGO1-C1-PLAN".into(),
        mode: "DRY_RUN".into(),
        manifest_hash: HASH.into(),
        action_set: vec!["c1_c".into(), "c1_b".into(), "c1_a".into()],
    }
}

fn consume_code(
    p: &Presented,
    g: Option<&Grant>,
    a: Option<&Apr>,
    now: DateTime<Utc>,
) -> &'static str {
    match decide_consume(p, g, a, now) {
        Ok(()) => "OK",
        Err(Stop::Reject(r, _)) => r.code(),
        Err(Stop::Fault(f, _)) => f.code(),
    }
}

#[test]
fn consume_accepts_the_exact_binding_before_expiry() {
    let g = grant_for(&valid());
    let a = apr("approved", valid());
    assert_eq!(
        consume_code(&presented(), Some(&g), Some(&a), g.granted_at),
        "OK"
    );
    let a = apr("applied", valid());
    assert_eq!(
        consume_code(&presented(), Some(&g), Some(&a), g.granted_at),
        "OK"
    );
}

#[test]
fn consume_checks_run_in_spec_order() {
    let g = grant_for(&valid());
    let a = apr("approved", valid());
    let t = g.granted_at;
    let mut p = presented();
    p.mode = "REAL_RUN".into();
    assert_eq!(consume_code(&p, None, None, t), "C1_PROD_REAL_RUN_BLOCKED");
    assert_eq!(
        consume_code(&presented(), None, None, t),
        "REJECT_AUTH_NOT_FOUND"
    );

    for (status, want) in [
        ("consumed", "REJECT_AUTH_ALREADY_CONSUMED"),
        ("revoked", "REJECT_AUTH_REVOKED"),
        ("granted", "REJECT_AUTH_NOT_ACTIVE"),
        ("expired", "REJECT_AUTH_NOT_ACTIVE"),
    ] {
        let mut g = grant_for(&valid());
        g.status = status.into();
        g.carrier = None; // status decides before the binding
        assert_eq!(consume_code(&presented(), Some(&g), Some(&a), t), want);
    }

    let mut generic = grant_for(&valid());
    generic.manifest_hash = None;
    let mut p = presented();
    p.carrier = "C2".into();
    assert_eq!(
        consume_code(&p, Some(&generic), Some(&a), t),
        "REJECT_AUTH_GENERIC"
    );
    for gap in [
        |g: &mut Grant| g.carrier = None,
        |g: &mut Grant| g.carrier = Some("C2".into()),
        |g: &mut Grant| g.plan_ref = None,
        |g: &mut Grant| g.action_set = Some(vec![]),
        |g: &mut Grant| g.scope = None,
        |g: &mut Grant| g.apr_digest = None,
        |g: &mut Grant| g.commit_allowed = true,
    ] {
        let mut g = grant_for(&valid());
        gap(&mut g);
        assert_eq!(
            consume_code(&presented(), Some(&g), Some(&a), t),
            "REJECT_AUTH_GENERIC"
        );
    }

    // Mismatches in order: carrier, lane, target, plan, hash, set.
    type Wrong = (fn(&mut Presented), &'static str);
    let wrongs: Vec<Wrong> = vec![
        (|p| p.carrier = "C2".into(), "REJECT_AUTH_WRONG_CARRIER"),
        (|p| p.lane = "OTHER".into(), "REJECT_AUTH_WRONG_LANE"),
        (|p| p.target = "OTHER".into(), "REJECT_AUTH_WRONG_TARGET"),
        (|p| p.plan_ref = "OTHER".into(), "REJECT_AUTH_WRONG_PLAN"),
        (
            |p| p.manifest_hash = "f".repeat(64),
            "REJECT_AUTH_MANIFEST_MISMATCH",
        ),
        (
            |p| p.action_set.pop().map_or((), drop),
            "REJECT_AUTH_ACTION_SET_MISMATCH",
        ),
    ];
    for (i, (_, want)) in wrongs.iter().enumerate() {
        let mut p = presented();
        for (apply, _) in &wrongs[i..] {
            apply(&mut p);
        }
        let expired_and_stale = apr("rejected", valid());
        let late = g.expires_at + chrono::Duration::hours(1);
        assert_eq!(
            consume_code(&p, Some(&g), Some(&expired_and_stale), late),
            *want
        );
    }
    let mut dup = presented();
    dup.action_set.push("c1_a".into());
    assert_eq!(
        consume_code(&dup, Some(&g), Some(&a), t),
        "REJECT_AUTH_ACTION_SET_MISMATCH"
    );

    // Stale before expired.
    let late = g.expires_at;
    for stale in [
        None,
        Some(apr("rejected", valid())),
        Some(apr("proposed", valid())),
        Some(apr("approved", with(&[("ttl_seconds", Some(json!(60)))]))),
    ] {
        assert_eq!(
            consume_code(&presented(), Some(&g), stale.as_ref(), late),
            "REJECT_AUTH_STALE"
        );
    }
    assert_eq!(
        consume_code(&presented(), Some(&g), Some(&a), late),
        "REJECT_AUTH_EXPIRED"
    );
    let just_before = g.expires_at - chrono::Duration::microseconds(1);
    assert_eq!(
        consume_code(&presented(), Some(&g), Some(&a), just_before),
        "OK"
    );
}
