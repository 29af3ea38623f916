//! The old address of the decisions, kept while the layers refactor
//! (issue 19) lands: every item that lived here is re-exported from the
//! file it moved to, so `crate::decide::policy::X` still names it. New code
//! names the file itself. Nothing is defined here, and nothing in
//! `decide/` imports through here.
//!
//! What moved where:
//! - `outcome`: Stop.
//! - `facts`: Vocabulary, Apr, Handler, Vote, Grant, Presented, Member,
//!   Quorum, auth_code_for, and what `integrity` found of signatures:
//!   SignatureCheck, Ballot, Checked.
//! - `validate`: Validated, validate_payload, is_plan_ref.
//! - `quorum`: identity, ProposerMatch, proposer_match, Tally, tally,
//!   Standing, standings, ReviewFacts, decide_review.
//! - `execute`: Execute, ExecuteInput (was ExecuteFacts, now without keys:
//!   the keyed `ExecuteFacts` is `integrity::verified`), decide_execute,
//!   explain_quorum, check_no_active_grant.
//! - `grant`: BackingInput (the keyed `Backing` is `integrity::verified`),
//!   check_signed, check_grant_backed, check_named_quorum.
//! - `consume`: refuse_real_run, decide_consume, request_key, is_own_spend.
//! - `revoke`: Revoke, decide_revoke, Selector, Selected,
//!   decide_bulk_revoke, KeyTally, key_tally.

pub use crate::decide::consume::{decide_consume, is_own_spend, refuse_real_run, request_key};
pub use crate::decide::execute::{
    check_no_active_grant, decide_execute, explain_quorum, Execute, ExecuteInput,
};
pub use crate::decide::facts::{
    auth_code_for, Apr, Ballot, Checked, Grant, Handler, Member, Presented, Quorum, SignatureCheck,
    Vocabulary, Vote,
};
pub use crate::decide::grant::{
    check_grant_backed, check_named_quorum, check_signed, BackingInput,
};
pub use crate::decide::outcome::Stop;
pub use crate::decide::quorum::{
    decide_review, identity, proposer_match, standings, tally, ProposerMatch, ReviewFacts,
    Standing, Tally,
};
pub use crate::decide::revoke::{
    decide_bulk_revoke, decide_revoke, key_tally, KeyTally, Revoke, Selected, Selector,
};
pub use crate::decide::validate::{is_plan_ref, validate_payload, Validated};
