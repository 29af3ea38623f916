//! Unit tests of `decide::validate`.

use super::*;
use crate::decide::test_support::*;
use serde_json::{json, Value};

fn code(payload: &Value) -> &'static str {
    match validate_payload(payload, &vocabulary()) {
        Ok(_) => "OK",
        Err(Stop::Reject(r, _)) => r.code(),
        Err(Stop::Fault(f, _)) => f.code(),
    }
}

#[test]
fn the_valid_payload_is_accepted_with_a_sorted_action_set_and_its_digest() {
    let v = validate_payload(&valid(), &vocabulary()).unwrap();
    assert_eq!(v.action_set(), ["c1_a", "c1_b", "c1_c"]);
    assert_eq!(v.ttl_seconds(), 3600);
    assert_eq!(v.digest(), &cser::digest(&valid()).unwrap());
    assert_eq!(v.scope()["target"], "DOT_C1_VOCAB_BUILD");
}

#[test]
fn each_payload_fault_gets_its_own_code() {
    let s = |x: &str| Some(json!(x));
    let cases: Vec<(Value, &str)> = vec![
        (with(&[("mode", s("REAL_RUN"))]), "C1_PROD_REAL_RUN_BLOCKED"),
        (
            with(&[("corpus", s("PRODUCTION"))]),
            "REJECT_SCOPE_PRODUCTION",
        ),
        (with(&[("corpus", s("CURRENT"))]), "REJECT_SCOPE_PRODUCTION"),
        (
            with(&[("commit_allowed", Some(json!(false)))]),
            "REJECT_SCOPE_SOVEREIGN",
        ),
        (
            with(&[("sovereign", Some(json!(null)))]),
            "REJECT_SCOPE_SOVEREIGN",
        ),
        (
            with(&[("requires_sovereign_esign", Some(json!(false)))]),
            "REJECT_SCOPE_SOVEREIGN",
        ),
        (
            with(&[("production_authority", Some(json!(0)))]),
            "REJECT_SCOPE_SOVEREIGN",
        ),
        (json!("not an object"), "REJECT_PAYLOAD_MALFORMED"),
        (json!([valid()]), "REJECT_PAYLOAD_MALFORMED"),
        (json!(null), "REJECT_PAYLOAD_MALFORMED"),
        (with(&[("extra", s("x"))]), "REJECT_PAYLOAD_MALFORMED"),
        (with(&[("plan_ref", None)]), "REJECT_PAYLOAD_MALFORMED"),
        (
            with(&[("carrier", Some(json!(1)))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (
            with(&[("action_set", s("c1_a,c1_b,c1_c"))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (
            with(&[("action_set", Some(json!(["c1_a", 2, "c1_c"])))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (
            with(&[("ttl_seconds", s("3600"))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (with(&[("mode", s("dry_run"))]), "REJECT_PAYLOAD_MALFORMED"),
        (
            with(&[("corpus", s("sandbox"))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (
            with(&[("rollback_plan_ref", Some(json!(7)))]),
            "REJECT_PAYLOAD_MALFORMED",
        ),
        (with(&[("carrier", s("C2"))]), "REJECT_SCOPE_CARRIER"),
        (with(&[("carrier", s("C7"))]), "REJECT_SCOPE_CARRIER"),
        (
            with(&[("target", s("DOT_C1_VOCAB_VERIFY"))]),
            "REJECT_SCOPE_TARGET",
        ),
        (with(&[("lane", s("REAL_RUN_PREP"))]), "REJECT_SCOPE_LANE"),
        (
            with(&[("protocol_version", s("cser-v2"))]),
            "REJECT_PROTOCOL_VERSION",
        ),
        (
            with(&[("manifest_hash", s(&HASH.to_uppercase()))]),
            "REJECT_MANIFEST_HASH",
        ),
        (
            with(&[("manifest_hash", s(&HASH[1..]))]),
            "REJECT_MANIFEST_HASH",
        ),
        (
            with(&[("action_set", Some(json!([])))]),
            "REJECT_ACTION_SET",
        ),
        (
            with(&[("action_set", Some(json!(["c1_a", "c1_b", "c1_c", "c1_a"])))]),
            "REJECT_ACTION_SET",
        ),
        (
            with(&[("action_set", Some(json!(["c1_a", "c1_b", "c1_c", "c1_x"])))]),
            "REJECT_ACTION_SET",
        ),
        (
            with(&[("action_set", Some(json!(["c1_a", "c1_b"])))]),
            "REJECT_ACTION_SET",
        ),
        (with(&[("plan_ref", s(""))]), "REJECT_PLAN_REF"),
        (with(&[("plan_ref", s("has space"))]), "REJECT_PLAN_REF"),
        (
            with(&[("plan_ref", s(&"p".repeat(129)))]),
            "REJECT_PLAN_REF",
        ),
        (with(&[("ttl_seconds", None)]), "REJECT_TTL"),
        (with(&[("ttl_seconds", Some(json!(null)))]), "REJECT_TTL"),
        (with(&[("ttl_seconds", Some(json!(0)))]), "REJECT_TTL"),
        (with(&[("ttl_seconds", Some(json!(-1)))]), "REJECT_TTL"),
        (with(&[("ttl_seconds", Some(json!(86_401)))]), "REJECT_TTL"),
        (with(&[("ttl_seconds", Some(json!(3600.5)))]), "REJECT_TTL"),
        (
            with(&[("rollback_plan_ref", None)]),
            "REJECT_ROLLBACK_PLAN_MISSING",
        ),
        (
            with(&[("rollback_plan_ref", Some(json!(null)))]),
            "REJECT_ROLLBACK_PLAN_MISSING",
        ),
        (
            with(&[("rollback_plan_ref", s(""))]),
            "REJECT_ROLLBACK_PLAN_MISSING",
        ),
    ];
    for (payload, want) in cases {
        assert_eq!(code(&payload), want, "payload: {payload}");
    }
}

#[test]
fn boundaries_that_are_accepted() {
    assert_eq!(code(&with(&[("ttl_seconds", Some(json!(1)))])), "OK");
    assert_eq!(code(&with(&[("ttl_seconds", Some(json!(86_400)))])), "OK");
    assert_eq!(
        code(&with(&[("plan_ref", Some(json!("a".repeat(128))))])),
        "OK"
    );
    assert_eq!(code(&with(&[("plan_ref", Some(json!("A.b_c:d-9")))])), "OK");
}

#[test]
fn values_match_exactly_without_trimming_or_case_folding() {
    for (key, bad, want) in [
        ("carrier", "c1", "REJECT_SCOPE_CARRIER"),
        ("carrier", " C1", "REJECT_SCOPE_CARRIER"),
        ("carrier", "C1 ", "REJECT_SCOPE_CARRIER"),
        ("target", "dot_c1_vocab_build", "REJECT_SCOPE_TARGET"),
        ("lane", "BUILD_PREP\n", "REJECT_SCOPE_LANE"),
        ("protocol_version", "CSER-V1", "REJECT_PROTOCOL_VERSION"),
        ("mode", " DRY_RUN", "REJECT_PAYLOAD_MALFORMED"),
        ("corpus", "SANDBOX ", "REJECT_PAYLOAD_MALFORMED"),
        ("mode", "real_run", "REJECT_PAYLOAD_MALFORMED"),
        ("corpus", "production", "REJECT_PAYLOAD_MALFORMED"),
    ] {
        assert_eq!(
            code(&with(&[(key, Some(json!(bad)))])),
            want,
            "{key}={bad:?}"
        );
    }
    let padded = with(&[("action_set", Some(json!(["c1_a ", "c1_b", "c1_c"])))]);
    assert_eq!(code(&padded), "REJECT_ACTION_SET");
}

#[test]
fn real_run_anywhere_wins_over_everything() {
    let nested = with(&[("unknown", Some(json!({"deep": ["x", "REAL_RUN"]})))]);
    assert_eq!(code(&nested), "C1_PROD_REAL_RUN_BLOCKED");
    let in_set = with(&[("action_set", Some(json!(["REAL_RUN"])))]);
    assert_eq!(code(&in_set), "C1_PROD_REAL_RUN_BLOCKED");
    assert_eq!(code(&json!("REAL_RUN")), "C1_PROD_REAL_RUN_BLOCKED");
    let everything = with(&[
        ("corpus", Some(json!("PRODUCTION"))),
        ("sovereign", Some(json!(true))),
        ("carrier", Some(json!("C2"))),
        ("lane", Some(json!("REAL_RUN"))),
    ]);
    assert_eq!(code(&everything), "C1_PROD_REAL_RUN_BLOCKED");
    // A key named REAL_RUN is not a value: it is an unknown key.
    assert_eq!(
        code(&with(&[("REAL_RUN", Some(json!(1)))])),
        "REJECT_PAYLOAD_MALFORMED"
    );
}

/// SPEC §5's order, one adjacent pair at a time: with both faults
/// present, the earlier one decides.
#[test]
fn precedence_follows_the_spec_order() {
    let s = |x: &str| Some(json!(x));
    let faults: Vec<((&str, Option<Value>), &str)> = vec![
        (("corpus", s("PRODUCTION")), "REJECT_SCOPE_PRODUCTION"),
        (("sovereign", Some(json!(true))), "REJECT_SCOPE_SOVEREIGN"),
        (("bogus", s("x")), "REJECT_PAYLOAD_MALFORMED"),
        (("carrier", s("C3")), "REJECT_SCOPE_CARRIER"),
        (("target", s("OTHER")), "REJECT_SCOPE_TARGET"),
        (("lane", s("OTHER")), "REJECT_SCOPE_LANE"),
        (
            ("protocol_version", s("cser-v0")),
            "REJECT_PROTOCOL_VERSION",
        ),
        (("manifest_hash", s("xyz")), "REJECT_MANIFEST_HASH"),
        (("action_set", Some(json!([]))), "REJECT_ACTION_SET"),
        (("plan_ref", s("bad plan")), "REJECT_PLAN_REF"),
        (("ttl_seconds", Some(json!(0))), "REJECT_TTL"),
        (("rollback_plan_ref", s("")), "REJECT_ROLLBACK_PLAN_MISSING"),
    ];
    for pair in faults.windows(2) {
        let (first, want) = &pair[0];
        let (second, _) = &pair[1];
        let payload = with(&[(first.0, first.1.clone()), (second.0, second.1.clone())]);
        assert_eq!(code(&payload), *want, "{payload}");
    }
    // Malformed beats every value check, whatever comes later.
    let p = with(&[("carrier", s("C2")), ("ttl_seconds", s("1h"))]);
    assert_eq!(code(&p), "REJECT_PAYLOAD_MALFORMED");
}
