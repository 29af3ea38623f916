//! Signatures and evidence: binding grants to keys, verifying signed
//! approvals, the evidence log. Uses the layers below; never the database.

pub mod allowed_signers;
pub mod approval;
pub mod approval_keys;
pub mod evidence;
pub mod signing;
pub mod verified;
