//! Unit tests of `decide::revoke`.

use super::*;
use crate::decide::outcome::*;
use crate::decide::test_support::*;
use crate::integrity::verified::{decide_bulk_revoke, decide_revoke, key_tally};

#[test]
fn revoke_moves_only_active_grants() {
    let t = trusted();
    let mut g = grant_for(&valid());
    assert_eq!(decide_revoke(Some(&g), &t), Ok((Revoke::Revoke, None)));
    g.status = "revoked".into();
    assert_eq!(
        decide_revoke(Some(&g), &t),
        Ok((Revoke::AlreadyRevoked, None))
    );
    g.status = "consumed".into();
    assert!(matches!(
        decide_revoke(Some(&g), &t),
        Err(Stop::Reject(Reject::AuthAlreadyConsumed, _))
    ));
    g.status = "granted".into();
    assert!(matches!(
        decide_revoke(Some(&g), &t),
        Err(Stop::Reject(Reject::AuthNotActive, _))
    ));
    assert!(matches!(
        decide_revoke(None, &t),
        Err(Stop::Reject(Reject::AuthNotFound, _))
    ));
}

/// Bulk revoke: the selector picks only active rows, forged ones by
/// their signature, in auth-code order; a count that is not the one
/// expected is refused, naming what is there now.
#[test]
fn a_bulk_set_is_picked_by_selector_and_refused_when_it_is_not_the_expected_size() {
    let good = grant_for(&valid());
    let mut other_plan = good.clone();
    other_plan.auth_code = "GBA-C1-APR-0".into();
    other_plan.plan_ref = Some("OTHER".into());
    other_plan.signature = Some(
        crate::integrity::signing::sign_grant(&test_key(), &other_plan)
            .unwrap()
            .0,
    );
    let mut forged = good.clone();
    forged.auth_code = "GBA-C1-APR-2".into();
    forged.signature = None;
    let mut spent = good.clone();
    spent.auth_code = "GBA-C1-APR-3".into();
    spent.status = "consumed".into();
    let rows = vec![forged.clone(), spent, other_plan, good.clone()];
    let codes = |set: Vec<Selected>| -> Vec<String> {
        set.into_iter().map(|s| s.grant.auth_code).collect()
    };
    let plan = decide_bulk_revoke(
        rows.clone(),
        Selector::Plan("LEGO1-C1-PLAN"),
        &trusted(),
        None,
    );
    assert_eq!(codes(plan.unwrap()), ["GBA-C1-APR-1", "GBA-C1-APR-2"]);
    let forged_only =
        decide_bulk_revoke(rows.clone(), Selector::Forged, &trusted(), Some(1)).unwrap();
    assert_eq!(forged_only.len(), 1);
    assert!(forged_only[0].forged.is_some());
    let id = test_key().key_id().to_owned();
    // Whatever names the key goes, verified or not (the unsigned row
    // still names it).
    let by_key = decide_bulk_revoke(rows.clone(), Selector::KeyId(&id), &trusted(), Some(3));
    assert_eq!(
        codes(by_key.unwrap()),
        ["GBA-C1-APR-0", "GBA-C1-APR-1", "GBA-C1-APR-2"]
    );
    match decide_bulk_revoke(rows, Selector::Plan("LEGO1-C1-PLAN"), &trusted(), Some(1)) {
        Err(Stop::Reject(Reject::BulkMismatch, why)) => {
            assert!(
                why.contains("GBA-C1-APR-1, GBA-C1-APR-2") && why.contains("--expect says 1"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    // `keys`: the trusted key's verified grants by status, the unsigned row apart.
    let mut unsigned = forged.clone();
    unsigned.key_id = None;
    let tally = key_tally(&[good.clone(), forged, unsigned], &trusted());
    assert_eq!(tally.len(), 2);
    assert_eq!((tally[0].active, tally[0].forged), (1, 1));
    assert_eq!(
        (tally[1].key_id.as_deref(), tally[1].forged_active),
        (None, 1)
    );
}
