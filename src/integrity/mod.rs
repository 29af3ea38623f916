//! Signatures and evidence: signing and verifying grant bindings
//! (`signing`), signed approvals (`approval`: the message and its check;
//! `allowed_signers`: OpenSSH's file format; `approval_keys`: key files and
//! ssh-agent), verification before decision (`verified`: checks every
//! signature a decision depends on and hands `decide` the results as data),
//! and the evidence log (`evidence`).
//!
//! Uses only the layers below (sys, canon, decide). Must never talk to the
//! database, and never decide anything beyond "does this signature verify":
//! what a verified or forged row means is `decide`'s.

pub mod allowed_signers;
pub mod approval;
pub mod approval_keys;
pub mod evidence;
pub mod signing;
pub mod verified;
