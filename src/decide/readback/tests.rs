//! Unit tests of the readback checklist, without a database.

use super::*;
use chrono::TimeZone;

fn grant() -> Grant {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    Grant {
        auth_code: "GBA-C1-APR-1".into(),
        request_ref: "APR-1".into(),
        status: "active".into(),
        carrier: Some(payload::CARRIER.into()),
        lane: Some(payload::LANE.into()),
        target: Some(payload::TARGET.into()),
        plan_ref: Some("plan".into()),
        manifest_hash: None,
        protocol_version: None,
        action_set: None,
        scope: Some(serde_json::json!({"target": payload::TARGET})),
        apr_digest: None,
        single_use: true,
        commit_allowed: false,
        requires_sovereign_esign: false,
        granted_at: at,
        expires_at: at + chrono::TimeDelta::seconds(3600),
        granted_by: None,
        rollback_plan_ref: None,
        consumed_at: None,
        consumed_by: None,
        consume_request_id: None,
        signature: None,
        key_id: Some("k1".into()),
        quorum: None,
        evidence_head: None,
    }
}

fn facts(g: &Grant) -> ReadbackFacts<'_> {
    ReadbackFacts {
        apr_code: "APR-1",
        count: 1,
        grant: Some(GrantRead {
            grant: g,
            signature: Ok(()),
            backed: Ok(()),
        }),
        handler_ref: Some(payload::HANDLER_REF.into()),
        apr: Some(("applied".into(), Some(g.granted_at))),
        quorum: true,
    }
}

fn failing(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn a_sound_grant_passes_every_line_in_order() {
    let g = grant();
    let checks = checklist(&facts(&g));
    assert_eq!(failing(&checks), Vec::<&str>::new());
    assert_eq!(checks.len(), 16);
    assert_eq!(checks[0].name, "grant count for the APR is 1");
    assert_eq!(checks[10].seen, "key k1");
    assert_eq!(checks[15].name, "quorum_passed(apr) is true");
}

#[test]
fn each_fact_fails_its_own_line() {
    let mut g = grant();
    g.status = "consumed".into();
    g.expires_at = g.granted_at + chrono::TimeDelta::seconds(payload::TTL_CAP_SECONDS + 1);
    let mut f = facts(&g);
    f.count = 2;
    f.quorum = false;
    f.apr = Some(("approved".into(), None));
    if let Some(read) = f.grant.as_mut() {
        read.signature = Err("no trusted key".into());
        read.backed = Err("REJECT_QUORUM_NOT_MET: gone".into());
    }
    let checks = checklist(&f);
    assert_eq!(
        failing(&checks),
        [
            "grant count for the APR is 1",
            "status is active",
            "expires_at > granted_at, within the TTL cap",
            "signed by a trusted key",
            "its quorum of signed approvals verifies again",
            "APR status is applied",
            "APR applied_at is set",
            "quorum_passed(apr) is true",
        ]
    );
    assert_eq!(checks[10].seen, "no trusted key");
    assert_eq!(checks[14].seen, "NULL");
}

#[test]
fn no_grant_and_no_apr_row_are_one_failing_line_each() {
    let f = ReadbackFacts {
        apr_code: "APR-1",
        count: 0,
        grant: None,
        handler_ref: None,
        apr: None,
        quorum: false,
    };
    let checks = checklist(&f);
    assert_eq!(
        failing(&checks),
        [
            "grant count for the APR is 1",
            "the grant row exists",
            "authorize_build_step handler_ref is bound",
            "the APR exists",
            "quorum_passed(apr) is true",
        ]
    );
}

#[test]
fn a_refusal_is_a_line_and_a_fault_is_no_answer() {
    use crate::decide::reject::Fault;
    assert_eq!(
        not_backed(Stop::Reject(Reject::QuorumNotMet, "why".into())).unwrap(),
        format!("{}: why", Reject::QuorumNotMet.code())
    );
    assert!(not_backed(Stop::Fault(Fault::Database, "down".into())).is_err());
    assert!(require_apr(false).is_err());
    assert!(require_apr(true).is_ok());
}
