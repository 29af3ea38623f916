//! Who counts: the approver identity, the one proposer rule
//! (`proposer_match` and its two readings), the recount (`tally`,
//! `check_quorum`), each vote's standing, and whether a login may record a
//! vote (`decide_review`). Signatures arrive checked (`Ballot`): nothing
//! here verifies, reads the database or looks at the clock.

use crate::canon::cser::Sha256Hex;
use crate::decide::facts::{Apr, Ballot, Handler, Member, Quorum, SignatureCheck, Vote};
use crate::decide::outcome::Stop;
use crate::decide::reject::{Fault, Reject};
use serde_json::Value;

/// An approver's identity for counting (SPEC §9, "Approver identity"):
/// trimmed of spaces and ASCII-lowercased. `None` for a name that is empty
/// or holds anything but printable ASCII (a control, invisible or
/// non-ASCII character): such a name is never counted, since it can pass
/// for another. The database's `apr_identity()` is the same rule
/// (staged/approvals-bound.staged.sql); a test holds them together.
pub fn identity(name: &str) -> Option<String> {
    let trimmed = name.trim_matches(' ');
    let readable = !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    readable.then(|| trimmed.to_ascii_lowercase())
}

/// How a voter's name stands to the proposer's: the one proposer rule of
/// the recount, the veto and `review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposerMatch {
    /// The same name, or the same readable identity.
    Same,
    /// One of the two is unreadable: they cannot be told apart.
    CannotTell,
    Different,
}

impl ProposerMatch {
    /// For an approval (counting it, or letting a login record it): only
    /// a name certainly not the proposer's may approve; doubt refuses.
    pub fn may_approve(self) -> bool {
        self == ProposerMatch::Different
    }

    /// For a reject: it is the proposer's own (no veto) only when the
    /// names are certainly the same; doubt vetoes.
    pub fn is_own_reject(self) -> bool {
        self == ProposerMatch::Same
    }
}

pub fn proposer_match(name: &str, proposer: &str) -> ProposerMatch {
    if name == proposer {
        return ProposerMatch::Same;
    }
    match (identity(name), identity(proposer)) {
        (Some(a), Some(b)) if a == b => ProposerMatch::Same,
        (Some(_), Some(_)) => ProposerMatch::Different,
        _ => ProposerMatch::CannotTell,
    }
}

/// The handler's own recount, stricter than `quorum_passed()`: it counts
/// only signed approvals of exactly this payload (matching
/// `payload_digest`, and a valid signature by a key the allowed signers
/// list for that approver), from distinct readable identities that can be
/// told apart from the proposer's. Any reject from someone other than the
/// proposer is a veto, signed or not, whatever the name looks like; the
/// proposer's own reject blocks the quorum.
/// The recount, in structure: how many approvals are required, whose are
/// counted, and each approval not counted with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub required: usize,
    /// Counted identities and the approval that counted for each.
    pub counted: std::collections::BTreeMap<String, Member>,
    pub not_counted: Vec<(String, String)>,
    pub proposer_rejected: bool,
}

impl Tally {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "required": self.required,
            "counted": self.counted.keys().collect::<Vec<_>>(),
            "not_counted": self.not_counted.iter().map(|(who, why)| serde_json::json!({"approver": who, "why": why})).collect::<Vec<_>>(),
            "proposer_rejected": self.proposer_rejected,
        })
    }

    /// The counted approvals, sorted by approver.
    pub fn quorum(&self) -> Quorum {
        let mut members: Vec<Member> = self.counted.values().cloned().collect();
        members.sort();
        Quorum(members)
    }
}

/// Counts the signed approvals of `digest` from approvers other than the
/// proposer, by identity (SPEC §9 approver identity, §10 signed approvals).
pub fn tally(apr: &Apr, ballots: &[Ballot<'_>], digest: &Sha256Hex, required: usize) -> Tally {
    let mut counted = std::collections::BTreeMap::new();
    let mut not_counted = Vec::new();
    for b in ballots.iter().filter(|b| b.vote.decision == "approve") {
        let v = b.vote;
        let why = match countable(apr, b, digest) {
            Err(why) => Some(why),
            Ok((id, member)) => match counted.entry(id) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    Some("the same approver again".to_owned())
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(member);
                    None
                }
            },
        };
        if let Some(why) = why {
            not_counted.push((v.approver.clone(), why));
        }
    }
    Tally {
        required,
        counted,
        not_counted,
        proposer_rejected: ballots.iter().any(|b| b.vote.decision == "reject"),
    }
}

/// One approve vote: its identity and the approval it counts as, or why it
/// does not count, in this order: an unreadable name, the proposer (or a
/// name not told apart from the proposer's), no or another payload digest,
/// then the signature (SPEC §10), as `integrity` found it.
fn countable(apr: &Apr, b: &Ballot<'_>, digest: &Sha256Hex) -> Result<(String, Member), String> {
    let v = b.vote;
    let id = identity(&v.approver)
        .ok_or("an unreadable name (control, invisible or non-ASCII characters)")?;
    match proposer_match(&v.approver, &apr.proposed_by) {
        ProposerMatch::Same => return Err("the proposer".into()),
        ProposerMatch::CannotTell => {
            return Err(
                "the proposer's name is unreadable: no approval can be told apart from it".into(),
            )
        }
        ProposerMatch::Different => {}
    }
    match v.payload_digest.as_deref() {
        None => Err("no payload_digest".into()),
        Some(d) if d != digest.as_str() => Err("a payload_digest of another payload".into()),
        Some(_) => match &b.signature {
            SignatureCheck::NotCounted(why) => Err(why.clone()),
            SignatureCheck::Verified { signature_sha256 } => Ok((
                id,
                Member {
                    approver: v.approver.clone(),
                    signature_sha256: signature_sha256.clone(),
                },
            )),
        },
    }
}

/// A reject vetoes unless it is certainly the proposer's own.
fn is_veto(apr: &Apr, v: &Vote) -> bool {
    v.decision == "reject" && !proposer_match(&v.approver, &apr.proposed_by).is_own_reject()
}

/// One vote as the recount sees it, for `aprs show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub approver: String,
    pub decision: String,
    /// An approve the recount counted.
    pub counts: bool,
    /// A reject that vetoes the APR.
    pub vetoes: bool,
    /// Why it does not count (an approve), or what it does (a reject).
    pub why: Option<String>,
}

/// Every vote of an APR with its standing, by the very rules `check_quorum`
/// applies (`tally` for the approvals, `is_veto` for the rejects): nothing
/// here decides anything of its own.
pub fn standings(tally: &Tally, apr: &Apr, votes: &[Vote]) -> Vec<Standing> {
    votes
        .iter()
        .map(|v| {
            let (counts, vetoes, why) = if v.decision == "approve" {
                let not = tally
                    .not_counted
                    .iter()
                    .find(|(who, _)| *who == v.approver)
                    .map(|(_, why)| why.clone());
                let counted =
                    not.is_none() && tally.counted.values().any(|m| m.approver == v.approver);
                (counted, false, not)
            } else if is_veto(apr, v) {
                (false, true, Some("a reject: it vetoes the APR".to_owned()))
            } else {
                (
                    false,
                    false,
                    Some("the proposer's own reject: no quorum while it stands".to_owned()),
                )
            };
            Standing {
                approver: v.approver.clone(),
                decision: v.decision.clone(),
                counts,
                vetoes,
                why,
            }
        })
        .collect()
}

pub(crate) fn check_quorum(
    apr: &Apr,
    handler: Option<&Handler>,
    ballots: &[Ballot<'_>],
    digest: &Sha256Hex,
    quorum_function: bool,
) -> Result<Quorum, Stop> {
    if let Some(veto) = ballots.iter().map(|b| b.vote).find(|v| is_veto(apr, v)) {
        return Err(Stop::reject(
            Reject::QuorumVetoed,
            format!("{:?} voted reject", veto.approver),
        ));
    }
    let min = match handler.and_then(|h| h.min_approvals) {
        Some(m) if m >= 1 => usize::try_from(m).unwrap_or(usize::MAX),
        other => {
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!(
                    "authorize_build_step min_approvals is {other:?}; a quorum needs at least 1"
                ),
            ))
        }
    };
    let t = tally(apr, ballots, digest, min);
    let not_counted: Vec<String> = t
        .not_counted
        .iter()
        .map(|(who, why)| format!("{who:?}: {why}"))
        .collect();
    let recount = t.counted.len() >= min && !t.proposer_rejected;
    match (recount, quorum_function) {
        (true, true) => Ok(t.quorum()),
        (false, _) => {
            let mut why = format!(
                "{} of {min} signed approvals from approvers other than the proposer for this exact payload ({digest})",
                t.counted.len()
            );
            if !not_counted.is_empty() {
                why.push_str(&format!("; not counted: {}", not_counted.join("; ")));
            }
            if t.proposer_rejected {
                why.push_str("; the proposer voted reject");
            }
            Err(Stop::reject(Reject::QuorumNotMet, why))
        }
        (true, false) => Err(Stop::Fault(
            Fault::QuorumDrift,
            format!(
                "the handler's recount finds {} signed approvals (need {min}) but quorum_passed() says no: the two quorum definitions have drifted",
                t.counted.len()
            ),
        )),
    }
}

/// What `review` decides on, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFacts {
    pub apr_code: String,
    pub status: String,
    pub proposed_by: String,
    /// The database login running the review (session_user).
    pub login: String,
    /// The digest of the payload as stored; `None` if it has no cser-v1
    /// form (NULL, or deeper than the exact reader keeps).
    pub digest: Option<Sha256Hex>,
}

/// Whether this login may record this vote: the APR is still open, the
/// login votes as itself (exactly: the database stores the login's own
/// name), its name is readable, a proposer never approves their own APR,
/// and the payload is the one reviewed. Returns the vote to sign: approver,
/// decision, digest.
pub fn decide_review(
    f: &ReviewFacts,
    approve: bool,
    by: Option<&str>,
    reviewed_digest: Option<&str>,
) -> Result<Vote, Stop> {
    if !matches!(f.status.as_str(), "proposed" | "approved") {
        return Err(Stop::reject(
            Reject::AprTerminal,
            format!("APR is {}: there is nothing left to review", f.status),
        ));
    }
    if let Some(by) = by {
        if by != f.login {
            return Err(Stop::reject(
                Reject::ReviewerNotSelf,
                format!("--by {by:?} is not exactly the login running the review ({:?}): nobody votes for somebody else, or twice under another spelling", f.login),
            ));
        }
    }
    if identity(&f.login).is_none() {
        return Err(Stop::reject(
            Reject::ReviewerNotSelf,
            format!("the login {:?} is not a readable name (printable ASCII): its vote could pass for another's, and is never counted", f.login),
        ));
    }
    if approve && !proposer_match(&f.login, &f.proposed_by).may_approve() {
        return Err(Stop::reject(
            Reject::SelfApproval,
            format!(
                "{:?} proposed {} (as {:?}): a proposer never approves their own APR",
                f.login, f.apr_code, f.proposed_by
            ),
        ));
    }
    let Some(digest) = &f.digest else {
        return Err(Stop::reject(
            Reject::PayloadMalformed,
            "the APR's payload is NULL or has no cser-v1 form: there is nothing to approve",
        ));
    };
    if let Some(seen) = reviewed_digest {
        if seen != digest.as_str() {
            return Err(Stop::reject(
                Reject::DigestMismatch,
                format!(
                    "the payload's digest is {}, not the {seen} you gave; nothing recorded",
                    digest.as_str()
                ),
            ));
        }
    }
    Ok(Vote {
        approver: f.login.clone(),
        decision: if approve { "approve" } else { "reject" }.into(),
        payload_digest: Some(digest.as_str().to_owned()),
        signature: None,
    })
}

#[cfg(test)]
mod tests;
