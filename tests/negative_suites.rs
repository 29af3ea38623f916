//! The negative suites' coverage: every SPEC code has a fixture. The cases
//! themselves run once, through `harness` (tests/harness.rs), and once
//! through a pooler (tests/pooler_and_round_trips.rs).
use dot_authorize_build_step::disposable::cases::suites;

#[test]
fn every_spec_reject_code_has_at_least_one_fixture() {
    let covered: std::collections::BTreeSet<String> = suites()
        .into_iter()
        .flat_map(|(_, s)| s.cases.into_iter().map(|c| c.expect.code))
        .collect();
    let spec = [
        "REJECT_APR_NOT_FOUND",
        "REJECT_APR_NOT_APPROVED",
        "REJECT_APR_TERMINAL",
        "REJECT_APR_WRONG_ACTION",
        "REJECT_HANDLER_NOT_BOUND",
        "REJECT_QUORUM_NOT_MET",
        "REJECT_QUORUM_VETOED",
        "REJECT_PAYLOAD_MALFORMED",
        "REJECT_SCOPE_CARRIER",
        "REJECT_SCOPE_TARGET",
        "REJECT_SCOPE_LANE",
        "C1_PROD_REAL_RUN_BLOCKED",
        "REJECT_SCOPE_PRODUCTION",
        "REJECT_SCOPE_SOVEREIGN",
        "REJECT_MANIFEST_HASH",
        "REJECT_PROTOCOL_VERSION",
        "REJECT_ACTION_SET",
        "REJECT_PLAN_REF",
        "REJECT_TTL",
        "REJECT_ROLLBACK_PLAN_MISSING",
        "REJECT_APR_TAMPERED",
        "REJECT_ACTIVE_GRANT_EXISTS",
        "REJECT_AUTH_NOT_FOUND",
        "REJECT_AUTH_GENERIC",
        "REJECT_AUTH_WRONG_CARRIER",
        "REJECT_AUTH_WRONG_LANE",
        "REJECT_AUTH_WRONG_TARGET",
        "REJECT_AUTH_WRONG_PLAN",
        "REJECT_AUTH_MANIFEST_MISMATCH",
        "REJECT_AUTH_ACTION_SET_MISMATCH",
        "REJECT_AUTH_STALE",
        "REJECT_AUTH_EXPIRED",
        "REJECT_AUTH_REVOKED",
        "REJECT_AUTH_ALREADY_CONSUMED",
        "REJECT_AUTH_NOT_ACTIVE",
        "REJECT_GRANT_INVALID",
        "REJECT_GRANT_FORGED",
        "MINTED",
        "ALREADY_MINTED",
        "CONSUMED",
        "REVOKED",
        "ALREADY_REVOKED",
        "WOULD_MINT",
        "WOULD_CONSUME",
        "WOULD_REVOKE",
    ];
    let missing: Vec<&str> = spec
        .iter()
        .copied()
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
}
