//! Verification before decision: the signatures a decision depends on (each
//! vote's SSH signature, each grant's Ed25519 signature) are checked here,
//! against the keys, and handed to `decide` as data (`Ballot`, `Checked`).
//! `decide` never verifies anything and never sees a key.
//!
//! Each function keeps the shape the shell calls (rows and keys in,
//! verdict data out): it verifies, then calls the pure decision of the
//! same name. Pure (no file, database or clock: the time is passed in).
//! Must never decide anything of its own beyond "does this signature
//! verify".

use crate::canon::cser::Sha256Hex;
use crate::decide::execute::{self, Execute, ExecuteInput};
use crate::decide::facts::{
    Apr, Ballot, Checked, Grant, Handler, SignatureCheck, Vocabulary, Vote,
};
use crate::decide::grant::{self, BackingInput};
use crate::decide::outcome::Stop;
use crate::decide::quorum::{self, Tally};
use crate::decide::revoke::{self, KeyTally, Revoke, Selected, Selector};
use crate::integrity::approval::{self, AllowedSigners};
use crate::integrity::signing::{self, TrustedKeys};
use chrono::{DateTime, Utc};

/// The votes of an APR with what their signatures are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub votes: &'a [Vote],
    pub allowed: &'a AllowedSigners,
    /// The database's wall clock: validity windows are judged by it.
    pub now: DateTime<Utc>,
}

/// Everything `decide_execute` looks at, read in one transaction.
#[derive(Debug, Clone)]
pub struct ExecuteFacts<'a> {
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    pub existing: Option<&'a Grant>,
    pub vocabulary: &'a Vocabulary,
    pub votes: &'a [Vote],
    /// What `quorum_passed(apr_code)` returned (NULL reads as false).
    pub quorum_function: bool,
    /// The database's wall clock.
    pub now: DateTime<Utc>,
    /// The public keys an existing grant's signature must verify against.
    pub trusted: &'a TrustedKeys,
    /// Who may sign an approval, with which key (SPEC §10).
    pub allowed: &'a AllowedSigners,
}

/// Everything the re-check of an existing grant looks at, read in the
/// transaction that would answer OK for it.
#[derive(Debug, Clone)]
pub struct Backing<'a> {
    /// The APR the grant names (request_ref).
    pub apr: Option<&'a Apr>,
    pub handler: Option<&'a Handler>,
    pub votes: &'a [Vote],
    pub quorum_function: bool,
    /// The database's wall clock.
    pub now: DateTime<Utc>,
    /// The public keys a grant's signature must verify against.
    pub trusted: &'a TrustedKeys,
    /// Who may sign an approval (SPEC §10).
    pub allowed: &'a AllowedSigners,
}

/// One vote's signature, checked: an approval of its own payload digest on
/// APR `apr_code`, signed by a key the allowed signers list for the
/// approver and valid at `now`. A reject, or a vote with no digest, is
/// never counted by its signature (decide refuses it first).
pub fn check_vote(
    apr_code: &str,
    v: &Vote,
    allowed: &AllowedSigners,
    now: DateTime<Utc>,
) -> SignatureCheck {
    let not = SignatureCheck::NotCounted;
    if v.decision != "approve" {
        return not("not an approval".into());
    }
    let Some(d) = v.payload_digest.as_deref() else {
        return not("no payload_digest".into());
    };
    let message = match approval::message(apr_code, &v.approver, "approve", d) {
        Ok(m) => m,
        Err(e) => return not(format!("no message to verify ({e})")),
    };
    match approval::verify(allowed, &v.approver, &message, v.signature.as_deref(), now) {
        Ok(ok) => SignatureCheck::Verified {
            signature_sha256: ok.signature_sha256,
        },
        Err(n) => not(n.reason()),
    }
}

/// Every vote of APR `apr_code` with its signature checked.
pub fn ballots<'a>(apr_code: &str, signed: &Signed<'a>) -> Vec<Ballot<'a>> {
    signed
        .votes
        .iter()
        .map(|vote| Ballot {
            vote,
            signature: check_vote(apr_code, vote, signed.allowed, signed.now),
        })
        .collect()
}

/// The votes of `apr` (none counts without an APR: every decision refuses
/// a missing APR before it counts).
fn ballots_of<'a>(apr: Option<&Apr>, signed: &Signed<'a>) -> Vec<Ballot<'a>> {
    match apr {
        Some(apr) => ballots(&apr.apr_code, signed),
        None => signed
            .votes
            .iter()
            .map(|vote| Ballot {
                vote,
                signature: SignatureCheck::NotCounted("no APR to sign for".into()),
            })
            .collect(),
    }
}

/// A grant row with its own signature checked against the trusted keys.
pub fn check_grant(trusted: &TrustedKeys, grant: &Grant) -> Checked {
    Checked {
        grant: grant.clone(),
        forged: signing::verify_grant(trusted, grant)
            .err()
            .map(|f| f.to_string()),
    }
}

fn check_grants(trusted: &TrustedKeys, grants: &[Grant]) -> Vec<Checked> {
    grants.iter().map(|g| check_grant(trusted, g)).collect()
}

/// `decide::execute::decide_execute`, with the votes' and the existing grant's
/// signatures checked first.
pub fn decide_execute(facts: &ExecuteFacts<'_>) -> Result<Execute, Stop> {
    let (ballots, existing) = execute_inputs(facts);
    execute::decide_execute(&execute_input(facts, &ballots, existing.as_ref()))
}

/// `decide::execute::explain_quorum`, with the votes' signatures checked first.
pub fn explain_quorum(facts: &ExecuteFacts<'_>) -> Option<Tally> {
    let (ballots, existing) = execute_inputs(facts);
    execute::explain_quorum(&execute_input(facts, &ballots, existing.as_ref()))
}

fn execute_inputs<'a>(facts: &ExecuteFacts<'a>) -> (Vec<Ballot<'a>>, Option<Checked>) {
    let signed = Signed {
        votes: facts.votes,
        allowed: facts.allowed,
        now: facts.now,
    };
    (
        ballots_of(facts.apr, &signed),
        facts.existing.map(|g| check_grant(facts.trusted, g)),
    )
}

fn execute_input<'a>(
    facts: &ExecuteFacts<'a>,
    ballots: &'a [Ballot<'a>],
    existing: Option<&'a Checked>,
) -> ExecuteInput<'a> {
    ExecuteInput {
        apr: facts.apr,
        handler: facts.handler,
        existing,
        vocabulary: facts.vocabulary,
        ballots,
        quorum_function: facts.quorum_function,
        now: facts.now,
    }
}

/// `decide::quorum::tally`, with the votes' signatures checked first.
pub fn tally(apr: &Apr, signed: &Signed<'_>, digest: &Sha256Hex, required: usize) -> Tally {
    quorum::tally(apr, &ballots(&apr.apr_code, signed), digest, required)
}

/// `decide::grant::check_grant_backed`, with the grant's and the votes'
/// signatures checked first.
pub fn check_grant_backed(grant: &Grant, backing: &Backing<'_>) -> Result<(), Stop> {
    let ballots = ballots_of(
        backing.apr,
        &Signed {
            votes: backing.votes,
            allowed: backing.allowed,
            now: backing.now,
        },
    );
    grant::check_grant_backed(
        &check_grant(backing.trusted, grant),
        &BackingInput {
            apr: backing.apr,
            handler: backing.handler,
            ballots: &ballots,
            quorum_function: backing.quorum_function,
            now: backing.now,
        },
    )
}

/// `decide::execute::check_no_active_grant`, each row's signature checked first.
pub fn check_no_active_grant(others: &[Grant], trusted: &TrustedKeys) -> Result<(), Stop> {
    execute::check_no_active_grant(&check_grants(trusted, others))
}

/// `decide::revoke::decide_revoke`, the row's signature checked first.
pub fn decide_revoke(
    grant: Option<&Grant>,
    trusted: &TrustedKeys,
) -> Result<(Revoke, Option<String>), Stop> {
    revoke::decide_revoke(grant.map(|g| check_grant(trusted, g)).as_ref())
}

/// `decide::revoke::decide_bulk_revoke`, each row's signature checked first.
pub fn decide_bulk_revoke(
    read: Vec<Grant>,
    selector: Selector<'_>,
    trusted: &TrustedKeys,
    expect: Option<u64>,
) -> Result<Vec<Selected>, Stop> {
    revoke::decide_bulk_revoke(check_grants(trusted, &read), selector, expect)
}

/// `decide::revoke::key_tally`, each row's signature checked first.
pub fn key_tally(grants: &[Grant], trusted: &TrustedKeys) -> Vec<KeyTally> {
    revoke::key_tally(&check_grants(trusted, grants), &trusted.ids())
}
