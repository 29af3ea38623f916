//! `review`: a reviewer's signed vote on an APR — read, decided by policy,
//! signed outside any transaction, checked that it would count, recorded.
//! Never decides who may vote (decide does), never speaks SQL.

use super::context::{path_option, Context};
use super::output::{verdict, Output};
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Fault, Reject};
use crate::integrity::approval::{self, AllowedSigners};
use crate::store::aprs;

/// `review`: reads the APR, decides whether this login may vote, signs the
/// vote (outside any transaction), checks that the signature would count,
/// and records it.
pub(super) fn review(cx: &Context, a: &crate::cli::ReviewArgs) -> Output {
    let allowed = match path_option(&cx.settings.allowed_signers, approval::ALLOWED_SIGNERS_ENV) {
        Some(path) => match approval::load_allowed_signers(&path) {
            Ok(allowed) => Some(allowed),
            Err(e) => {
                return Output::Verdict(Verdict::fault(Fault::AllowedSigners, e).apr(a.apr.clone()))
            }
        },
        None => None,
    };
    let tag = |s: Stop| (s, Some(a.apr.clone()));
    verdict(cx.with_db(|c| {
        let read = aprs::read_for_review(c, &a.apr).map_err(tag)?;
        let mut vote = crate::decide::quorum::decide_review(
            &read.facts,
            a.approve,
            a.by.as_deref(),
            a.digest.as_deref(),
        )
        .map_err(tag)?;
        let digest = vote.payload_digest.clone().unwrap_or_default();
        let message = approval::message(&a.apr, &vote.approver, &vote.decision, &digest)
            .map_err(|e| tag(Stop::Fault(Fault::ApproverKey, e)))?;
        vote.signature =
            sign_vote(a, allowed.as_ref(), &vote.approver, &message, read.now).map_err(tag)?;
        if let (Some(signature), Some(allowed), true) = (&vote.signature, &allowed, a.approve) {
            approval::verify(allowed, &vote.approver, &message, Some(signature), read.now)
                .map_err(|n| {
                    tag(Stop::Reject(
                        Reject::ApprovalSignature,
                        format!(
                            "this approval would not be counted: {}; nothing recorded",
                            n.reason()
                        ),
                    ))
                })?;
        }
        let recorded = outcome::record_vote(c, &read, &vote).map_err(tag)?;
        // Not in the database (apr_approvals has no column for it): the
        // verdict, and through it the evidence log, is where it is kept.
        Ok(match &a.reason {
            Some(reason) => recorded.detail("reason", reason.as_str()),
            None => recorded,
        })
    }))
}

/// The vote's signature: a file made elsewhere (`--signature`), the
/// approver's key file or its public half held by ssh-agent
/// (`--sign-key`), or the one key ssh-agent holds that the allowed signers
/// list for this approver. A reject needs none (it vetoes signed or not);
/// an approve without one would never count, so it is refused.
pub(super) fn sign_vote(
    a: &crate::cli::ReviewArgs,
    allowed: Option<&AllowedSigners>,
    approver: &str,
    message: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, Stop> {
    let key_fault = |e: String| Stop::Fault(Fault::ApproverKey, e);
    let agent = || {
        std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(std::path::PathBuf::from)
    };
    if let Some(path) = &a.signature {
        let bytes = crate::sys::file::read_regular(path, 16 * 1024)
            .map_err(|e| key_fault(format!("signature {}: {}", path.display(), e.describe())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| key_fault(format!("signature {} is not text", path.display())))?;
        return Ok(Some(text));
    }
    let sign_key = a
        .sign_key
        .clone()
        .or_else(|| std::env::var_os(approval::APPROVER_KEY_ENV).map(std::path::PathBuf::from));
    if let Some(path) = &sign_key {
        let bytes = crate::sys::file::read_regular(path, 64 * 1024)
            .map_err(|e| key_fault(format!("approval key {}: {}", path.display(), e.describe())))?;
        if approval::is_private_key_file(&String::from_utf8_lossy(&bytes)) {
            return approval::sign_with_key_file(path, message)
                .map(Some)
                .map_err(key_fault);
        }
        let key = approval::read_public_key(path).map_err(key_fault)?;
        let sock = agent().ok_or_else(|| {
            key_fault(format!(
                "{} is a public key: signing with it needs ssh-agent, and SSH_AUTH_SOCK is not set",
                path.display()
            ))
        })?;
        return approval::sign_with_agent(&sock, &key, message)
            .map(Some)
            .map_err(key_fault);
    }
    if !a.approve {
        return Ok(None);
    }
    let no_key = "an approval counts only when signed: give --sign-key FILE (a private key, or the .pub of a key ssh-agent holds), or --signature FILE made with `ssh-keygen -Y sign -n dot-apr-approval` over `digest --message`";
    let Some(sock) = agent() else {
        return Err(key_fault(format!("{no_key}; SSH_AUTH_SOCK is not set")));
    };
    let Some(allowed) = allowed else {
        return Err(key_fault(format!(
            "{no_key}; to pick the ssh-agent key the allowed signers list for {approver:?}, give --allowed-signers FILE"
        )));
    };
    let listed = allowed.listed_for(approver, now);
    let held = approval::agent_identities(&sock).map_err(key_fault)?;
    let usable: Vec<_> = held
        .iter()
        .filter(|k| listed.iter().any(|l| l.key_data() == k.key_data()))
        .collect();
    match usable.as_slice() {
        [key] => approval::sign_with_agent(&sock, key, message)
            .map(Some)
            .map_err(key_fault),
        [] => Err(key_fault(format!(
            "ssh-agent holds {} keys, none of which the allowed signers list for {approver:?}",
            held.len()
        ))),
        _ => Err(key_fault(format!(
            "ssh-agent holds {} keys the allowed signers list for {approver:?}: name one with --sign-key KEY.pub",
            usable.len()
        ))),
    }
}
