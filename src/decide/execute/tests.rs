//! Unit tests of `decide::execute`.

use super::*;
use crate::canon::cser;
use crate::decide::test_support::*;
use crate::integrity::verified::check_no_active_grant;
use serde_json::json;

#[test]
fn execute_mints_an_approved_apr_with_quorum() {
    assert_eq!(Case::good().code(), "MINT");
}

#[test]
fn execute_checks_run_in_spec_order() {
    let mut c = Case::good();
    c.apr = None;
    c.handler = None;
    assert_eq!(c.code(), "REJECT_APR_NOT_FOUND");

    let mut c = Case::good();
    c.apr.as_mut().unwrap().action_code = "patch_ops_code".into();
    c.handler = None;
    assert_eq!(c.code(), "REJECT_APR_WRONG_ACTION");

    let mut c = Case::good();
    c.handler.as_mut().unwrap().handler_ref = Some("unimplemented".into());
    c.existing = Some(grant_for(&valid()));
    assert_eq!(c.code(), "REJECT_HANDLER_NOT_BOUND");
    c.handler = None;
    assert_eq!(c.code(), "REJECT_HANDLER_NOT_BOUND");

    // An existing grant decides before the APR's status or payload.
    let mut c = Case::good();
    c.existing = Some(grant_for(&valid()));
    c.apr.as_mut().unwrap().status = "applied".into();
    assert_eq!(c.code(), "ALREADY_MINTED");
    c.existing.as_mut().unwrap().status = "revoked".into();
    assert_eq!(c.code(), "ALREADY_MINTED");
    // ... but never OK for a row without a quorum behind it (invariant 7).
    let no_votes = {
        let mut c = Case::good();
        c.existing = Some(grant_for(&valid()));
        c.votes.clear();
        c
    };
    assert_eq!(no_votes.code(), "REJECT_GRANT_INVALID");
    c.apr.as_mut().unwrap().payload = with(&[("ttl_seconds", Some(json!(60)))]);
    assert_eq!(c.code(), "REJECT_APR_TAMPERED");
    // A row edited after it was signed is no longer the handler's.
    c.existing.as_mut().unwrap().apr_digest = None;
    c.apr.as_mut().unwrap().payload = valid();
    assert_eq!(c.code(), "REJECT_GRANT_FORGED");

    for (status, want) in [
        ("proposed", "REJECT_APR_NOT_APPROVED"),
        ("applied", "REJECT_APR_TERMINAL"),
        ("rejected", "REJECT_APR_TERMINAL"),
        ("withdrawn", "REJECT_APR_TERMINAL"),
        ("failed", "REJECT_APR_TERMINAL"),
        ("bogus", "ERROR_SCHEMA_CONTRACT"),
    ] {
        let mut c = Case::good();
        c.apr.as_mut().unwrap().status = status.into();
        c.apr.as_mut().unwrap().payload = json!("garbage");
        assert_eq!(c.code(), want, "{status}");
    }

    // Payload before veto, veto before quorum.
    let mut c = Case::good();
    c.apr.as_mut().unwrap().payload = with(&[("lane", Some(json!("X")))]);
    c.votes.push(vote("vic", "reject", None));
    assert_eq!(c.code(), "REJECT_SCOPE_LANE");
    let mut c = Case::good();
    c.votes = vec![vote("vic", "reject", None)];
    c.quorum_function = false;
    assert_eq!(c.code(), "REJECT_QUORUM_VETOED");
}

#[test]
fn the_recount_counts_only_distinct_non_proposers_who_approved_this_exact_payload() {
    let d = cser::digest(&valid()).unwrap();
    let d = Some(d.as_str());
    let stale = Some(HASH);
    for (votes, want) in [
        (vec![vote("ann", "approve", d)], "REJECT_QUORUM_NOT_MET"),
        (
            vec![vote("ann", "approve", d), vote("pat", "approve", d)],
            "REJECT_QUORUM_NOT_MET",
        ),
        (
            vec![vote("ann", "approve", d), vote("bo", "approve", stale)],
            "REJECT_QUORUM_NOT_MET",
        ),
        (
            vec![vote("ann", "approve", d), vote("bo", "approve", None)],
            "REJECT_QUORUM_NOT_MET",
        ),
        (
            vec![
                vote("ann", "approve", d),
                vote("bo", "approve", d),
                vote("pat", "reject", None),
            ],
            "REJECT_QUORUM_NOT_MET",
        ),
        (
            vec![vote("ann", "approve", d), vote("bo", "reject", d)],
            "REJECT_QUORUM_VETOED",
        ),
        (
            vec![
                vote("ann", "approve", d),
                vote("bo", "approve", d),
                vote("cy", "approve", stale),
            ],
            "MINT",
        ),
    ] {
        let mut c = Case::good();
        c.votes = votes;
        assert_eq!(c.code(), want, "{:?}", c.votes);
    }
}

#[test]
fn quorum_needs_both_the_function_and_the_recount() {
    let mut c = Case::good();
    c.quorum_function = false;
    assert_eq!(
        c.code(),
        "ERROR_QUORUM_DRIFT",
        "recount yes, function no: drift"
    );
    c.votes.truncate(1);
    assert_eq!(c.code(), "REJECT_QUORUM_NOT_MET", "both no");
    c.quorum_function = true;
    assert_eq!(
        c.code(),
        "REJECT_QUORUM_NOT_MET",
        "function yes, recount no: the stricter wins"
    );
}

#[test]
fn an_unconfigured_quorum_is_an_error_not_a_pass() {
    for min in [None, Some(0), Some(-1)] {
        let mut c = Case::good();
        c.handler.as_mut().unwrap().min_approvals = min;
        assert_eq!(c.code(), "ERROR_SCHEMA_CONTRACT", "{min:?}");
    }
}

#[test]
fn another_active_grant_blocks_the_mint_only_if_a_trusted_key_signed_it() {
    let t = trusted();
    assert!(check_no_active_grant(&[], &t).is_ok());
    let signed = grant_for(&valid());
    let mut forged = signed.clone();
    forged.signature = None;
    assert!(check_no_active_grant(std::slice::from_ref(&forged), &t).is_ok());
    assert!(matches!(
        check_no_active_grant(&[forged, signed], &t),
        Err(Stop::Reject(Reject::ActiveGrantExists, _))
    ));
}
