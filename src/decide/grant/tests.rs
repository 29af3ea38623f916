//! Unit tests of `decide::grant`.

use super::*;
use crate::decide::test_support::*;
use crate::decide::{facts::*, outcome::*, revoke::*};
use crate::integrity::signing::TrustedKeys;
use crate::integrity::verified::{check_grant_backed, decide_revoke, Backing};
use serde_json::json;

/// Every way a row can differ from what the handler would mint, each
/// refused with REJECT_GRANT_INVALID (execute's already-minted path
/// and consume share this check).
#[test]
fn a_row_the_handler_would_not_have_minted_is_invalid() {
    let payload = valid();
    let a = apr("approved", payload.clone());
    let votes = quorum_for(&payload);
    let handler = bound();
    let good = grant_for(&payload);
    let trusted = trusted();
    let allowed = allowed();
    let backing = |now| Backing {
        apr: Some(&a),
        handler: Some(&handler),
        votes: &votes,
        quorum_function: true,
        now,
        trusted: &trusted,
        allowed: &allowed,
    };
    let code = |g: &Grant, b: &Backing<'_>| match check_grant_backed(g, b) {
        Ok(()) => "OK",
        Err(Stop::Reject(r, _)) => r.code(),
        Err(Stop::Fault(f, _)) => f.code(),
    };
    let at = good.granted_at;
    assert_eq!(code(&good, &backing(at)), "OK");
    type Forge = Box<dyn Fn(&mut Grant)>;
    let forged: Vec<(&str, Forge)> = vec![
        (
            "ten-year TTL",
            Box::new(|g| g.expires_at = g.granted_at + chrono::Duration::days(3650)),
        ),
        (
            "TTL off by a second",
            Box::new(|g| g.expires_at += chrono::Duration::seconds(1)),
        ),
        (
            "granted in the future",
            Box::new(|g| {
                g.granted_at += chrono::Duration::minutes(5);
                g.expires_at += chrono::Duration::minutes(5);
            }),
        ),
        ("no binding", Box::new(|g| g.carrier = None)),
        (
            "other plan",
            Box::new(|g| g.plan_ref = Some("OTHER-PLAN".into())),
        ),
        (
            "other manifest",
            Box::new(|g| g.manifest_hash = Some("f".repeat(64))),
        ),
        (
            "other rollback plan",
            Box::new(|g| g.rollback_plan_ref = Some("RB-X".into())),
        ),
        (
            "smaller action set",
            Box::new(|g| g.action_set = Some(vec!["c1_a".into()])),
        ),
        (
            "scope disagrees",
            Box::new(|g| g.scope = Some(json!({"target": "DOT_C1_VOCAB_BUILD"}))),
        ),
        (
            "other auth code",
            Box::new(|g| g.auth_code = "GBA-C1-OTHER".into()),
        ),
        (
            "not granted by the handler",
            Box::new(|g| g.granted_by = Some("psql".into())),
        ),
    ];
    for (what, forge) in forged {
        let mut g = good.clone();
        forge(&mut g);
        assert_eq!(code(&g, &backing(at)), "REJECT_GRANT_INVALID", "{what}");
    }
    let no_votes: Vec<Vote> = Vec::new();
    let b = Backing {
        votes: &no_votes,
        ..backing(at)
    };
    assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "no quorum");
    let veto = [quorum_for(&payload), vec![vote("cy", "reject", None)]].concat();
    let b = Backing {
        votes: &veto,
        ..backing(at)
    };
    assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "vetoed since");
    let b = Backing {
        quorum_function: false,
        ..backing(at)
    };
    assert_eq!(
        code(&good, &b),
        "ERROR_QUORUM_DRIFT",
        "function and recount disagree"
    );
    let rejected = apr("rejected", payload.clone());
    let b = Backing {
        apr: Some(&rejected),
        ..backing(at)
    };
    assert_eq!(
        code(&good, &b),
        "REJECT_GRANT_INVALID",
        "APR rejected since"
    );
    let b = Backing {
        apr: None,
        ..backing(at)
    };
    assert_eq!(code(&good, &b), "REJECT_GRANT_INVALID", "APR gone");
    let unbound = Handler {
        handler_ref: Some("unimplemented".into()),
        ..bound()
    };
    let b = Backing {
        handler: Some(&unbound),
        ..backing(at)
    };
    assert_eq!(
        code(&good, &b),
        "REJECT_GRANT_INVALID",
        "handler unbound since"
    );
    // The vocabulary may change after minting: the grant's own action
    // set stands in for it.
    assert_eq!(
        code(&good, &backing(at + chrono::Duration::seconds(5))),
        "OK"
    );
}

/// A row every other check accepts is still refused when no trusted
/// key signed it: not even ALREADY_MINTED; revoking it is allowed.
#[test]
fn a_perfect_row_without_a_trusted_signature_is_forged() {
    let payload = valid();
    let a = apr("approved", payload.clone());
    let votes = quorum_for(&payload);
    let handler = bound();
    let good = grant_for(&payload);
    let other_key = crate::integrity::signing::SigningKey::from_seed([43; 32]);
    let only_other = TrustedKeys::default().with(&other_key.public());
    let mut unsigned = good.clone();
    unsigned.signature = None;
    let mut resigned = good.clone();
    let (sig, id) = crate::integrity::signing::sign_grant(&other_key, &good).unwrap();
    resigned.signature = Some(sig);
    resigned.key_id = Some(id);
    let t = trusted();
    for (what, g, keys) in [
        ("unsigned", &unsigned, &t),
        ("signed by an untrusted key", &resigned, &t),
        ("trusted keys do not hold the signer", &good, &only_other),
    ] {
        let backing = Backing {
            apr: Some(&a),
            handler: Some(&handler),
            votes: &votes,
            quorum_function: true,
            now: good.granted_at,
            trusted: keys,
            allowed: &allowed(),
        };
        assert!(
            matches!(
                check_grant_backed(g, &backing),
                Err(Stop::Reject(Reject::GrantForged, _))
            ),
            "{what}"
        );
        let mut case = Case::good();
        case.existing = Some(g.clone());
        if std::ptr::eq(keys, &t) {
            assert_eq!(case.code(), "REJECT_GRANT_FORGED", "{what}");
        }
        // Revoking a forged row only lowers authority: allowed, and
        // the verdict says it was forged (issue 18, finding 4).
        assert!(
            matches!(decide_revoke(Some(g), keys), Ok((Revoke::Revoke, Some(_)))),
            "{what}"
        );
        let mut revoked = g.clone();
        revoked.status = "revoked".into();
        assert!(
            matches!(
                decide_revoke(Some(&revoked), keys),
                Ok((Revoke::AlreadyRevoked, Some(_)))
            ),
            "{what}"
        );
    }
    let mut case = Case::good();
    case.existing = Some(good.clone());
    assert_eq!(case.code(), "ALREADY_MINTED");
}
