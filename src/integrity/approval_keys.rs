//! The approver's side of signed approvals, and the files behind them
//! (IO): loading the allowed-signers file and key files with their
//! ownership checks, and signing an approval with a key file or through
//! ssh-agent (with a timeout). Never decides whether a signature counts
//! (`approval::verify`), never talks to the database.

use crate::integrity::allowed_signers::{AllowedSigners, NAMESPACE};
use ssh_encoding::{Decode as _, Encode as _};
use ssh_key::{HashAlg, LineEnding, PublicKey, SshSig};
use std::path::Path;

/// An allowed-signers file is a line per approver key.
const MAX_ALLOWED_SIGNERS_FILE: u64 = 1024 * 1024;
/// Private and public key files are a few KiB at most.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Loads the allowed-signers file. Whoever can write it decides whose
/// approvals count, so it is checked like the trusted keys: a regular file,
/// not writable by group or others, owned by root or the running user.
pub fn load_allowed_signers(path: &Path) -> Result<AllowedSigners, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_ALLOWED_SIGNERS_FILE)
        .map_err(|e| format!("allowed signers {shown}: {}", e.describe()))?;
    let uid = crate::sys::user::running_uid()?;
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(format!(
            "allowed signers {shown} is owned by uid {}, not by the running user (uid {uid}) or root",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "allowed signers {shown} has mode {mode:04o}: group or others may write it; chmod go-w it"
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| format!("allowed signers {shown} is not text"))?;
    AllowedSigners::parse(&text, &shown.to_string())
}

/// Whether `text` is an OpenSSH private key file (not a `.pub` line).
pub fn is_private_key_file(text: &str) -> bool {
    text.trim_start()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
}

/// Reads an OpenSSH public key (`.pub`) file: its first key line.
pub fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    let shown = path.display();
    let bytes = crate::sys::file::read_regular(path, MAX_KEY_FILE)
        .map_err(|e| format!("public key {shown}: {}", e.describe()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("public key {shown} is not text"))?;
    if is_private_key_file(&text) {
        return Err(format!(
            "{shown} is a private key; give its public half ({shown}.pub)"
        ));
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("public key {shown} holds no key"))?;
    PublicKey::from_openssh(line)
        .map_err(|e| format!("public key {shown}: not an OpenSSH key ({e})"))
}

/// Signs `message` with an OpenSSH private key file, as `ssh-keygen -Y sign
/// -n dot-apr-approval -f KEY` does (sha512). The key must be a regular
/// file of the running user that group and others cannot read. An
/// encrypted key's passphrase is read from the terminal, without echo.
pub fn sign_with_key_file(path: &Path, message: &[u8]) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_KEY_FILE)
        .map_err(|e| format!("approval key {shown}: {}", e.describe()))?;
    let uid = crate::sys::user::running_uid()?;
    if meta.uid() != uid {
        return Err(format!(
            "approval key {shown} is owned by uid {}, not by the user signing (uid {uid})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "approval key {shown} has mode {mode:04o}: group or others may use it; chmod 600 it"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("approval key {shown} is not text"))?;
    if !is_private_key_file(&text) {
        return Err(format!(
            "approval key {shown} is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)"
        ));
    }
    let mut key = ssh_key::PrivateKey::from_openssh(&text)
        .map_err(|e| format!("approval key {shown}: {e}"))?;
    if key.is_encrypted() {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_err()
        {
            return Err(format!(
                "approval key {shown} is encrypted and there is no terminal to ask for its passphrase; \
                 load it into ssh-agent (ssh-add) and sign with the agent, or use an unencrypted key"
            ));
        }
        let passphrase = rpassword::prompt_password(format!("Enter passphrase for {shown}: "))
            .map_err(|e| format!("cannot read the passphrase for {shown}: {e}"))?;
        key = key
            .decrypt(passphrase.as_bytes())
            .map_err(|_| format!("approval key {shown}: wrong passphrase"))?;
    }
    let sig = match key.key_data() {
        ssh_key::private::KeypairData::Rsa(rsa_key) => sign_rsa(rsa_key, message),
        _ => key.sign(NAMESPACE, HashAlg::Sha512, message),
    }
    .map_err(|e| format!("cannot sign with {shown}: {e}"))?;
    armor(&sig)
}

/// An SSHSIG by an RSA key (rsa-sha2-512, as ssh-keygen signs). ssh-key
/// 0.6.7's own RSA signer builds the private key from primes (p, p), not
/// (p, q), and always fails; the key is built here from the file's own
/// components and only the PKCS#1 v1.5 step is done outside ssh-key.
fn sign_rsa(key: &ssh_key::private::RsaKeypair, message: &[u8]) -> Result<SshSig, ssh_key::Error> {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use rsa::traits::PublicKeyParts as _;
    let int = |m: &ssh_key::Mpint| -> Result<rsa::BigUint, ssh_key::Error> {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or(ssh_key::Error::Crypto)
    };
    let private = rsa::RsaPrivateKey::from_components(
        int(&key.public.n)?,
        int(&key.public.e)?,
        int(&key.private.d)?,
        vec![int(&key.private.p)?, int(&key.private.q)?],
    )
    .map_err(|_| ssh_key::Error::Crypto)?;
    // OpenSSH refuses RSA keys under 2048 bits; so does ssh-key's verifier.
    if private.size() * 8 < 2048 {
        return Err(ssh_key::Error::Crypto);
    }
    let signed_data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)?;
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(private)
        .try_sign(&signed_data)
        .map_err(|_| ssh_key::Error::Crypto)?;
    let signature = ssh_key::Signature::new(
        ssh_key::Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        signature.to_vec(),
    )?;
    let sig = SshSig::new(
        ssh_key::public::KeyData::Rsa(key.public.clone()),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )?;
    // Never hand out a signature that does not verify under the key's
    // public half (a file whose components do not belong together).
    PublicKey::from(sig.public_key().clone()).verify(NAMESPACE, message, &sig)?;
    Ok(sig)
}

fn armor(sig: &SshSig) -> Result<String, String> {
    let mut text = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| format!("cannot armor the signature: {e}"))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

// ssh-agent protocol (draft-miller-ssh-agent).
const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
const SSH_AGENT_RSA_SHA2_512: u32 = 4;
/// OpenSSH's agent caps messages at 256 KiB.
const MAX_AGENT_REPLY: usize = 256 * 1024;
const AGENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One request, one reply: (type, body).
fn agent_call(sock: &Path, kind: u8, body: &[u8]) -> Result<(u8, Vec<u8>), String> {
    use std::io::{Read as _, Write as _};
    let shown = sock.display();
    let fail = |what: &str, e: std::io::Error| format!("ssh-agent {shown}: {what}: {e}");
    let mut stream =
        std::os::unix::net::UnixStream::connect(sock).map_err(|e| fail("cannot connect", e))?;
    stream
        .set_read_timeout(Some(AGENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(AGENT_TIMEOUT)))
        .map_err(|e| fail("cannot set a timeout", e))?;
    let len = u32::try_from(body.len() + 1)
        .map_err(|_| format!("ssh-agent {shown}: request too large"))?;
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(kind);
    frame.extend_from_slice(body);
    stream
        .write_all(&frame)
        .map_err(|e| fail("cannot write", e))?;
    let mut head = [0u8; 4];
    stream
        .read_exact(&mut head)
        .map_err(|e| fail("no reply", e))?;
    let len = u32::from_be_bytes(head) as usize;
    if len == 0 || len > MAX_AGENT_REPLY {
        return Err(format!("ssh-agent {shown}: a reply of {len} bytes"));
    }
    let mut reply = vec![0u8; len];
    stream
        .read_exact(&mut reply)
        .map_err(|e| fail("a reply cut short", e))?;
    let kind = reply.remove(0);
    Ok((kind, reply))
}

fn encoding_error(e: impl std::fmt::Display) -> String {
    format!("a malformed ssh-agent message: {e}")
}

/// The public keys an ssh-agent holds (certificates and key types this
/// build cannot use are left out).
pub fn agent_identities(sock: &Path) -> Result<Vec<PublicKey>, String> {
    let (kind, body) = agent_call(sock, SSH_AGENTC_REQUEST_IDENTITIES, &[])?;
    if kind != SSH_AGENT_IDENTITIES_ANSWER {
        return Err(format!(
            "ssh-agent {}: answered message type {kind} to a request for identities",
            sock.display()
        ));
    }
    let mut reader: &[u8] = &body;
    let count = u32::decode(&mut reader).map_err(encoding_error)?;
    let mut keys = Vec::new();
    for _ in 0..count {
        let blob = Vec::<u8>::decode(&mut reader).map_err(encoding_error)?;
        let comment = String::decode(&mut reader).map_err(encoding_error)?;
        if let Ok(key) = PublicKey::from_bytes(&blob) {
            let mut key = key;
            key.set_comment(comment);
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Signs `message` with `key` held by the ssh-agent at `sock`: the SSHSIG
/// signed data is built by ssh-key, the agent signs it, and the result is
/// armored as `ssh-keygen -Y sign` writes it.
pub fn sign_with_agent(sock: &Path, key: &PublicKey, message: &[u8]) -> Result<String, String> {
    let signed_data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| format!("cannot build the data to sign: {e}"))?;
    let mut key_blob = Vec::new();
    key.key_data()
        .encode(&mut key_blob)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let flags = if matches!(key.algorithm(), ssh_key::Algorithm::Rsa { .. }) {
        SSH_AGENT_RSA_SHA2_512
    } else {
        0
    };
    let mut body = Vec::new();
    key_blob
        .encode(&mut body)
        .and_then(|()| signed_data.encode(&mut body))
        .and_then(|()| flags.encode(&mut body))
        .map_err(encoding_error)?;
    let (kind, reply) = agent_call(sock, SSH_AGENTC_SIGN_REQUEST, &body)?;
    let fp = key.fingerprint(HashAlg::Sha256);
    match kind {
        SSH_AGENT_SIGN_RESPONSE => {}
        SSH_AGENT_FAILURE => {
            return Err(format!(
                "ssh-agent {} refused to sign with {fp} (is that key loaded? ssh-add -l)",
                sock.display()
            ))
        }
        other => {
            return Err(format!(
                "ssh-agent {}: answered message type {other} to a sign request",
                sock.display()
            ))
        }
    }
    let mut reader: &[u8] = &reply;
    let sig_blob = Vec::<u8>::decode(&mut reader).map_err(encoding_error)?;
    let signature = ssh_key::Signature::try_from(sig_blob.as_slice()).map_err(encoding_error)?;
    let sig = SshSig::new(
        key.key_data().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .map_err(|e| format!("cannot build the signature: {e}"))?;
    // An agent that signs with another key, or badly, must not produce an
    // approval that only fails later at the recount.
    key.verify(NAMESPACE, message, &sig).map_err(|_| {
        format!(
            "ssh-agent {} returned a signature that does not verify",
            sock.display()
        )
    })?;
    armor(&sig)
}
