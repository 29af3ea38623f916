//! Unit tests of `decide::quorum`.

use super::*;
use crate::canon::cser;
use crate::decide::test_support::*;
use crate::decide::{facts::*, outcome::*};

/// SPEC §9 "Approver identity": trimmed, case-insensitive, and names
/// with control, invisible or non-ASCII characters are not counted.
#[test]
fn approver_identity_is_trimmed_case_insensitive_and_readable() {
    let payload = valid();
    let d = cser::digest(&payload).unwrap();
    let a = Apr {
        proposed_by: "mallory".into(),
        ..apr("approved", payload.clone())
    };
    let count = |names: &[&str]| {
        let votes: Vec<Vote> = names
            .iter()
            .map(|n| vote(n, "approve", Some(d.as_str())))
            .collect();
        match check_quorum(&a, Some(&bound()), &signed(&votes), &d, true) {
            Ok(_) => "OK".to_owned(),
            Err(Stop::Reject(r, why)) => format!("{} {why}", r.code()),
            Err(Stop::Fault(f, why)) => format!("{} {why}", f.code()),
        }
    };
    assert_eq!(count(&["alice", "bob"]), "OK");
    for twins in [
        ["alice", "alice\u{200B}"],
        ["alice", "Alice"],
        ["alice", " alice "],
        ["alice", "Mallory"],
        ["alice", "mallory "],
        ["alice", "bob\u{0007}"],
        ["alice", "b\u{00F6}b"],
    ] {
        let got = count(&twins);
        assert!(
            got.starts_with("REJECT_QUORUM_NOT_MET 1 of 2"),
            "{twins:?}: {got}"
        );
        assert!(got.contains("not counted"), "{twins:?}: {got}");
    }
    // A reject is a veto whatever the name looks like, unless it is the
    // proposer's own.
    let votes = vec![
        vote("alice", "approve", Some(d.as_str())),
        vote("bob", "approve", Some(d.as_str())),
        vote("eve\u{200B}", "reject", None),
    ];
    assert!(matches!(
        check_quorum(&a, Some(&bound()), &signed(&votes), &d, true),
        Err(Stop::Reject(Reject::QuorumVetoed, _))
    ));
    let votes = vec![
        vote("alice", "approve", Some(d.as_str())),
        vote("bob", "approve", Some(d.as_str())),
        vote(" MALLORY", "reject", None),
    ];
    assert!(matches!(
        check_quorum(&a, Some(&bound()), &signed(&votes), &d, true),
        Err(Stop::Reject(Reject::QuorumNotMet, _))
    ));
}

#[test]
fn standings_say_of_each_vote_what_the_quorum_check_counts() {
    let payload = valid();
    let d = cser::digest(&payload).unwrap();
    let a = apr("approved", payload);
    let votes = vec![
        vote("ann", "approve", Some(d.as_str())),
        vote("bo", "approve", Some(&"0".repeat(64))),
        vote("pat", "approve", Some(d.as_str())),
        vote("cy", "approve", None),
        vote("pat", "reject", Some(d.as_str())),
        vote("vic", "reject", None),
    ];
    let t = tally(&a, &signed(&votes), &d, 2);
    let st = standings(&t, &a, &votes);
    let got: Vec<(&str, bool, bool, Option<&str>)> = st
        .iter()
        .map(|s| (s.approver.as_str(), s.counts, s.vetoes, s.why.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("ann", true, false, None),
            (
                "bo",
                false,
                false,
                Some("a payload_digest of another payload")
            ),
            ("pat", false, false, Some("the proposer")),
            ("cy", false, false, Some("no payload_digest")),
            (
                "pat",
                false,
                false,
                Some("the proposer's own reject: no quorum while it stands")
            ),
            ("vic", false, true, Some("a reject: it vetoes the APR")),
        ]
    );
    // The same rules as the check: the counted one is the quorum's, and
    // the veto is the one check_quorum names.
    assert_eq!(t.counted.len(), 1);
    let err = check_quorum(&a, Some(&bound()), &signed(&votes), &d, true).unwrap_err();
    assert_eq!(
        err,
        Stop::Reject(Reject::QuorumVetoed, "\"vic\" voted reject".into())
    );
}
