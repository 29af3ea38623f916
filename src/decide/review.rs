//! `review`'s decisions on what the store read and what its write found:
//! the APR must be there, the payload's cser-v1 form and digest (what the
//! approver signs), and why a vote was not recorded. Pure: the rows are
//! passed in; nothing here reads the database, a file, the environment or
//! the clock. (Whether the login may vote at all is `quorum::decide_review`.)

use crate::canon::cser::Sha256Hex;
use crate::decide::outcome::Stop;
use crate::decide::reject::Reject;

/// The APR under review must exist.
pub fn require_apr(found: bool) -> Result<(), Stop> {
    if found {
        Ok(())
    } else {
        Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code".into(),
        ))
    }
}

/// The payload as stored (PostgreSQL's jsonb text) in cser-v1 form and
/// the digest an approver signs, from cser's one hashing function; `None`
/// when it is NULL, JSON null, or has no exact reading.
pub fn canonical(stored: Option<&str>) -> Option<(String, Sha256Hex)> {
    stored
        .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
        .filter(|p| !p.is_null())
        .and_then(|p| crate::canon::cser::canonical_digest(&p).ok())
}

/// Why the guarded insert recorded no vote: this identity had voted
/// already (`voted_as`: the spelling it voted under), or else the payload
/// or the APR's status changed after it was read.
pub fn vote_refused(apr_code: &str, approver: &str, voted_as: Option<String>) -> Stop {
    match voted_as {
        Some(as_who) => Stop::Reject(
            Reject::AlreadyReviewed,
            format!(
                "{approver:?} already voted on {apr_code} (as {as_who:?}); votes are not changed"
            ),
        ),
        None => Stop::Reject(
            Reject::AprTampered,
            "the payload or the APR's status changed while it was being reviewed (signed); nothing recorded"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &Stop) -> &'static str {
        match s {
            Stop::Reject(r, _) => r.code(),
            Stop::Fault(f, _) => f.code(),
        }
    }

    #[test]
    fn a_missing_apr_is_not_found() {
        assert!(require_apr(true).is_ok());
        assert_eq!(
            code(&require_apr(false).unwrap_err()),
            Reject::AprNotFound.code()
        );
    }

    #[test]
    fn a_vote_already_cast_is_named_with_its_spelling_else_tampered() {
        let again = vote_refused("APR-1", "alice", Some(" Alice".into()));
        assert_eq!(code(&again), Reject::AlreadyReviewed.code());
        let Stop::Reject(_, why) = &again else {
            panic!("a refusal")
        };
        assert!(why.contains(r#"(as " Alice")"#), "{why}");
        let changed = vote_refused("APR-1", "alice", None);
        assert_eq!(code(&changed), Reject::AprTampered.code());
    }

    #[test]
    fn the_digest_is_of_the_canonical_form_and_null_has_none() {
        let (c, d) = canonical(Some(r#"{"b": 1, "a": [true, null]}"#)).expect("reads");
        assert_eq!(c, r#"{"a":[true,null],"b":1}"#);
        assert_eq!(d.as_str(), Sha256Hex::of(c.as_bytes()).as_str());
        assert_eq!(canonical(Some("null")), None);
        assert_eq!(canonical(None), None);
    }
}
