//! Signed approvals (SPEC §10): the message an approver signs, OpenSSH's
//! `allowed_signers` file, and the check that decides whether an `approve`
//! row counts, exactly as `ssh-keygen -Y verify -f FILE -I NAME -n
//! dot-apr-approval` would.
//!
//! The SSHSIG format and the OpenSSH key formats are RustCrypto's `ssh-key`,
//! never hand-written here. This file is pure: time is passed in, no file or
//! socket is touched. The allowed-signers format is `allowed_signers`, the
//! loaders and signers (key files, the terminal, ssh-agent: IO) are
//! `approval_keys`; both are re-exported here under their old names. This module never talks to the
//! database and never decides a quorum: it only says whether one signature
//! counts, and why not.

use crate::canon::cser;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use ssh_encoding::Decode as _;
use ssh_key::{HashAlg, PublicKey, SshSig};

use crate::integrity::allowed_signers::{matches_list, Entry, WHITESPACE};
pub use crate::integrity::allowed_signers::{AllowedSigners, NAMESPACE};
pub use crate::integrity::approval_keys::{
    agent_identities, is_private_key_file, load_allowed_signers, read_public_key, sign_with_agent,
    sign_with_key_file,
};

/// The `protocol` member of the signed message.
pub const PROTOCOL: &str = "dot-apr-approval-v1";
/// Environment variable standing in for `--allowed-signers`.
pub const ALLOWED_SIGNERS_ENV: &str = "DOT_ABS_ALLOWED_SIGNERS";
/// Environment variable standing in for `review --sign-key`.
pub const APPROVER_KEY_ENV: &str = "DOT_ABS_APPROVER_KEY";

/// An armored signature larger than this is not one an approver made.
const MAX_ARMORED: usize = 16 * 1024;
/// OpenSSH's PEM line width for armored signatures.
pub(crate) const ARMOR_LINE_WIDTH: usize = 70;

/// The bytes an approver signs: cser-v1 of the vote, no trailing newline.
pub fn message(
    apr_code: &str,
    approver: &str,
    decision: &str,
    payload_digest: &str,
) -> Result<Vec<u8>, String> {
    let vote = json!({
        "apr_code": apr_code,
        "approver": approver,
        "decision": decision,
        "payload_digest": payload_digest,
        "protocol": PROTOCOL,
    });
    cser::canonical(&vote)
        .map(String::into_bytes)
        .map_err(|e| format!("the approval message has no cser-v1 form: {e}"))
}

/// Why an approval's signature does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCounted {
    NoSignature,
    Unreadable(String),
    WrongNamespace(String),
    KeyNotListed,
    NamespaceNotAllowed,
    OutsideValidity(String),
    BadSignature,
}

impl NotCounted {
    /// Short human text for the quorum SKIP line.
    pub fn reason(&self) -> String {
        match self {
            NotCounted::NoSignature => "no signature".into(),
            NotCounted::Unreadable(why) => format!("an unreadable signature ({why})"),
            NotCounted::WrongNamespace(ns) => {
                format!("a signature in namespace {ns:?}, not {NAMESPACE:?}")
            }
            NotCounted::KeyNotListed => {
                "signed by a key the allowed signers do not list for this approver".into()
            }
            NotCounted::NamespaceNotAllowed => {
                format!("a key not allowed for namespace {NAMESPACE}")
            }
            NotCounted::OutsideValidity(when) => {
                format!("a key outside its validity ({when})")
            }
            NotCounted::BadSignature => "a signature that does not verify over this vote \
                 (another APR, decision or payload digest)"
                .into(),
        }
    }
}

impl std::fmt::Display for NotCounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// A signature that counts. Only `verify` builds one (the private field),
/// so whatever takes a `Verified` knows the check ran.
// Not #[non_exhaustive]: that would still let the rest of this crate
// build one; a private field keeps it to this module.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Lowercase hex SHA-256 of the decoded binary SSHSIG blob.
    pub signature_sha256: String,
    /// `SHA256:…` of the signing key.
    pub fingerprint: String,
    _only_verify_builds_this: (),
}

/// Decides whether `armored` is `principal`'s signature over `message` in
/// the approval namespace, by a key `allowed` lists for that principal,
/// allowed for the namespace and valid at `now`. Accepts what `ssh-keygen
/// -Y verify` accepts (SSHSIG v1, hash sha256 or sha512, RSA only with
/// rsa-sha2-256/512); the reasons come in the order of `NotCounted`.
pub fn verify(
    allowed: &AllowedSigners,
    principal: &str,
    message: &[u8],
    armored: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Verified, NotCounted> {
    let armored = armored.ok_or(NotCounted::NoSignature)?;
    if armored.trim().is_empty() {
        return Err(NotCounted::NoSignature);
    }
    if armored.len() > MAX_ARMORED {
        return Err(NotCounted::Unreadable(format!(
            "{} bytes, more than {MAX_ARMORED}",
            armored.len()
        )));
    }
    let (blob, sig) = dearmor(armored).map_err(NotCounted::Unreadable)?;
    if sig.namespace() != NAMESPACE {
        return Err(NotCounted::WrongNamespace(sig.namespace().to_owned()));
    }
    let signer = sig.public_key();
    let listed: Vec<&Entry> = allowed
        .entries
        .iter()
        .filter(|e| e.key.key_data() == signer && matches_list(principal, &e.principals))
        .collect();
    if listed.is_empty() {
        return Err(NotCounted::KeyNotListed);
    }
    let in_namespace: Vec<&&Entry> = listed.iter().filter(|e| e.namespace_allowed()).collect();
    if in_namespace.is_empty() {
        return Err(NotCounted::NamespaceNotAllowed);
    }
    let t = now.timestamp();
    if let Some(first) = in_namespace.first() {
        if in_namespace.iter().all(|e| e.outside_validity(t).is_some()) {
            let why = first.outside_validity(t).unwrap_or_default();
            return Err(NotCounted::OutsideValidity(why));
        }
    }
    // OpenSSH refuses RSA signatures made with SHA-1 (RSA_SIGN_ALLOWED);
    // ssh-key cannot even decode one, but say so rather than rely on it.
    if let ssh_key::Algorithm::Rsa { hash: None } = sig.algorithm() {
        return Err(NotCounted::BadSignature);
    }
    let key = PublicKey::from(signer.clone());
    key.verify(NAMESPACE, message, &sig)
        .map_err(|_| NotCounted::BadSignature)?;
    Ok(Verified {
        signature_sha256: hex(&Sha256::digest(&blob)),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        _only_verify_builds_this: (),
    })
}

/// The binary blob inside the armor, and the signature decoded from it
/// with nothing left over.
fn dearmor(armored: &str) -> Result<(Vec<u8>, SshSig), String> {
    let text = armored.trim_matches(WHITESPACE);
    let mut decoder = ssh_encoding::pem::Decoder::new_wrapped(text.as_bytes(), ARMOR_LINE_WIDTH)
        .map_err(|e| format!("not an SSH SIGNATURE armor: {e}"))?;
    if decoder.type_label() != "SSH SIGNATURE" {
        return Err(format!(
            "armor labelled {:?}, not \"SSH SIGNATURE\"",
            decoder.type_label()
        ));
    }
    let mut blob = Vec::new();
    decoder
        .decode_to_end(&mut blob)
        .map_err(|e| format!("bad base64: {e}"))?;
    let mut reader: &[u8] = &blob;
    let sig = SshSig::decode(&mut reader).map_err(|e| format!("not an SSHSIG: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes after the SSHSIG", reader.len()));
    }
    Ok((blob, sig))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
