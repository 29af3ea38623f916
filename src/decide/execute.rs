//! `execute`'s decision (SPEC §4): mint, already minted, or why not, up to
//! the check for another APR's active grant (which needs the scope lock
//! the shell takes). Pure: the rows, the clock and the signature results
//! are passed in (`integrity::verified` builds `ExecuteInput`).

use crate::canon::cser;
use crate::decide::facts::{Apr, Ballot, Checked, Handler, Quorum, Vocabulary};
use crate::decide::grant::{check_grant_backed, check_signed, BackingInput};
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::quorum::{check_quorum, tally, Tally};
use crate::decide::reject::{Fault, Reject};
use crate::decide::validate::{check_handler_bound, validate_payload, Validated};
use chrono::{DateTime, Utc};

/// What `execute` should do when nothing refused it.
#[derive(Debug, Clone, PartialEq)]
pub enum Execute {
    /// A grant already exists for this APR and the payload is unchanged.
    AlreadyMinted,
    /// Mint this, on these approvals, if no other APR holds an active grant
    /// for the same scope.
    Mint(Validated, Quorum),
}

/// Everything `decide_execute` looks at, read in one transaction, with the
/// signatures already checked (`integrity::verified::ExecuteFacts` builds
/// it from the rows and the keys).
#[derive(Debug, Clone)]
pub struct ExecuteInput<'a> {
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    /// An existing grant for this APR, with its signature checked.
    pub existing: Option<&'a Checked>,
    pub vocabulary: &'a Vocabulary,
    /// The APR's votes, each with its signature checked.
    pub ballots: &'a [Ballot<'a>],
    /// What `quorum_passed(apr_code)` returned (NULL reads as false).
    pub quorum_function: bool,
    /// The database's wall clock.
    pub now: DateTime<Utc>,
}

/// SPEC §4's order for execute, up to (not including) the check for another
/// APR's active grant, which needs the scope lock the shell takes.
pub fn decide_execute(facts: &ExecuteInput<'_>) -> Result<Execute, Stop> {
    let Some(apr) = facts.apr else {
        return Err(Stop::reject(Reject::AprNotFound, "no APR with this code"));
    };
    if apr.action_code != payload::ACTION_CODE {
        return Err(Stop::reject(
            Reject::AprWrongAction,
            format!(
                "APR action_code is {:?}; this handler serves only {:?}",
                apr.action_code,
                payload::ACTION_CODE
            ),
        ));
    }
    check_handler_bound(facts.handler)?;
    if let Some(checked) = facts.existing {
        let grant = &checked.grant;
        return match cser::digest(&apr.payload) {
            Ok(d) if grant.apr_digest.as_deref() == Some(d.as_str()) => {
                // Never OK for a row the handler would not have minted.
                check_grant_backed(
                    checked,
                    &BackingInput {
                        apr: Some(apr),
                        handler: facts.handler,
                        ballots: facts.ballots,
                        quorum_function: facts.quorum_function,
                        now: facts.now,
                    },
                )?;
                Ok(Execute::AlreadyMinted)
            }
            _ => {
                // A row no trusted key signed was never minted: it is named
                // for what it is (revoke retires it), not taken for a
                // tampered APR.
                check_signed(checked)?;
                Err(Stop::reject(
                    Reject::AprTampered,
                    format!(
                        "grant {} was minted for this APR, but the APR's payload has changed since (apr_digest {})",
                        grant.auth_code,
                        grant.apr_digest.as_deref().unwrap_or("NULL")
                    ),
                ))
            }
        };
    }
    match apr.status.as_str() {
        "approved" => {}
        "proposed" => {
            return Err(Stop::reject(
                Reject::AprNotApproved,
                "APR is proposed, not yet approved",
            ))
        }
        "applied" => {
            return Err(Stop::reject(
                Reject::AprTerminal,
                "APR is applied but no grant exists for it",
            ))
        }
        "rejected" | "withdrawn" | "failed" => {
            return Err(Stop::reject(
                Reject::AprTerminal,
                format!("APR is {}", apr.status),
            ))
        }
        other => {
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!("APR status {other:?} is not one the contract knows"),
            ))
        }
    }
    let validated = validate_payload(&apr.payload, facts.vocabulary)?;
    let quorum = check_quorum(
        apr,
        facts.handler,
        facts.ballots,
        validated.digest(),
        facts.quorum_function,
    )?;
    Ok(Execute::Mint(validated, quorum))
}

/// The quorum facts of an APR for a SKIP verdict: `None` when the APR's
/// payload does not even validate (then there is no digest to count).
pub fn explain_quorum(facts: &ExecuteInput<'_>) -> Option<Tally> {
    let apr = facts.apr?;
    let min = facts.handler.and_then(|h| h.min_approvals)?;
    let v = validate_payload(&apr.payload, facts.vocabulary).ok()?;
    Some(tally(
        apr,
        facts.ballots,
        v.digest(),
        usize::try_from(min).ok()?,
    ))
}

/// Another APR's active, unexpired grant for the same carrier, target and
/// plan blocks the mint, if a trusted key signed it: a forged row never
/// blocks a lawful mint (it is retired with `revoke`, and is in the table
/// for an operator to find, not for the mint to obey).
pub fn check_no_active_grant(others: &[Checked]) -> Result<(), Stop> {
    match others.iter().find(|c| c.forged.is_none()) {
        None => Ok(()),
        Some(Checked { grant: g, .. }) => Err(Stop::reject(
            Reject::ActiveGrantExists,
            format!(
                "grant {} of another APR is active for the same carrier, target and plan",
                g.auth_code
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
