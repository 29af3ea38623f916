//! Ed25519 grant signatures (issue: grants no database user can forge).
//!
//! A grant is honoured only if the handler signed it: `execute` signs the
//! cser-v1 bytes of the whole binding with its private key, and every
//! command that trusts a grant verifies the signature against public keys
//! from the handler's own configuration, never from the database. A role
//! that can set the writer marker, or a superuser, can still insert a row;
//! it cannot make one that verifies.
//!
//! The pure half (binding, sign, verify, parsing key text) has no IO; the
//! loaders at the bottom read key files and check who may read them.

use crate::canon::cser;
use crate::decide::facts::Grant;
use crate::sys::user::running_uid;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey as DalekSigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// First word of a private key file.
pub const SECRET_TAG: &str = "dot-abs-ed25519-secret-v1";
/// First word of a public key line.
pub const PUBLIC_TAG: &str = "dot-abs-ed25519-v1";
/// Environment variables standing in for `--signing-key` / `--trusted-keys`.
pub const SIGNING_KEY_ENV: &str = "DOT_ABS_SIGNING_KEY";
pub const TRUSTED_KEYS_ENV: &str = "DOT_ABS_TRUSTED_KEYS";
/// Key files are a line or a few: anything bigger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The short id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The handler's private key and the id of its public half.
pub struct SigningKey {
    key: DalekSigningKey,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "SigningKey({})", self.key_id)
    }
}

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        let key = DalekSigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        SigningKey { key, key_id }
    }

    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<SigningKey, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| format!("the operating system gave no randomness: {e}"))?;
        Ok(SigningKey::from_seed(seed))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The private key file's text.
    pub fn secret_text(&self) -> String {
        format!("{SECRET_TAG} {}\n", B64.encode(self.key.to_bytes()))
    }

    /// base64 of the Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.key.sign(message).to_bytes())
    }
}

/// The public key line: `dot-abs-ed25519-v1 <key id> <base64 key>`.
pub fn public_line(public: &VerifyingKey) -> String {
    format!(
        "{PUBLIC_TAG} {} {}\n",
        key_id(public),
        B64.encode(public.as_bytes())
    )
}

pub fn parse_secret(text: &str) -> Result<SigningKey, String> {
    let mut words = text.split_whitespace();
    let (Some(SECRET_TAG), Some(b64), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "not a signing key (expected one line: {SECRET_TAG} <base64 seed>)"
        ));
    };
    let bytes = B64
        .decode(b64)
        .map_err(|_| "the signing key is not valid base64".to_owned())?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "the signing key is not 32 bytes".to_owned())?;
    Ok(SigningKey::from_seed(seed))
}

/// The public keys the handler trusts, by key id.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    /// Reads trusted-key text: one `dot-abs-ed25519-v1 <id> <key>` line per
    /// key; blank lines and `#` comments are skipped; anything else, or an
    /// id that is not the key's own, is an error naming the line.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{source}:{}", n + 1);
            let mut words = line.split_whitespace();
            let (Some(PUBLIC_TAG), Some(id), Some(b64)) =
                (words.next(), words.next(), words.next())
            else {
                return Err(format!(
                    "{at}: not a public key line (expected {PUBLIC_TAG} <key id> <base64 key>)"
                ));
            };
            let bytes: [u8; 32] = B64
                .decode(b64)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("{at}: the key is not 32 bytes of base64"))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| format!("{at}: not an Ed25519 public key"))?;
            if key_id(&key) != id {
                return Err(format!(
                    "{at}: key id {id} is not this key's id ({})",
                    key_id(&key)
                ));
            }
            self.keys.insert(id.to_owned(), key);
        }
        Ok(())
    }

    pub fn from_text(text: &str) -> Result<TrustedKeys, String> {
        let mut t = TrustedKeys::default();
        t.add_text(text, "trusted keys")?;
        Ok(t)
    }

    pub fn with(mut self, key: &VerifyingKey) -> TrustedKeys {
        self.keys.insert(key_id(key), *key);
        self
    }

    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a base64 Ed25519 signature of key `id` over `message`
    /// (an evidence line's signed bytes).
    pub fn verify_message(&self, id: &str, message: &[u8], signature: &str) -> Result<(), Forgery> {
        let Some(key) = self.keys.get(id) else {
            return Err(Forgery::UnknownKey(id.to_owned()));
        };
        let bad = || Forgery::BadSignature(id.to_owned());
        let bytes: [u8; 64] = B64
            .decode(signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        key.verify_strict(message, &Signature::from_bytes(&bytes))
            .map_err(|_| bad())
    }
}

/// Timestamps are signed as text with the database's own precision: the
/// one timestamp text of verdicts and signed messages (`canon::text`), so
/// the two can never drift.
pub use crate::canon::text::timestamp as signed_time;

/// The binding a signature covers: every column that says what the grant
/// allows, for whom, until when, on whose approvals, and the key that
/// vouches for it. Status
/// and the consume/revoke columns are not in it: they move, the binding
/// never does.
///
/// `evidence_head` (the evidence chain's head at the mint, SPEC §10) is in
/// it when the grant has one; a grant minted without a log binds exactly
/// what it bound before the column existed, so its signature still
/// verifies, and neither adding nor removing a head leaves one that does.
pub fn binding(g: &Grant, key_id: &str) -> Value {
    let mut b = json!({
        "auth_code": g.auth_code,
        "request_ref": g.request_ref,
        "apr_digest": g.apr_digest,
        "carrier": g.carrier,
        "lane": g.lane,
        "target": g.target,
        "plan_ref": g.plan_ref,
        "manifest_hash": g.manifest_hash,
        "protocol_version": g.protocol_version,
        "action_set": g.action_set,
        "scope": g.scope,
        "rollback_plan_ref": g.rollback_plan_ref,
        "granted_at": signed_time(&g.granted_at),
        "expires_at": signed_time(&g.expires_at),
        "quorum": g.quorum,
        "key_id": key_id,
    });
    if let (Some(head), Some(obj)) = (&g.evidence_head, b.as_object_mut()) {
        obj.insert("evidence_head".into(), head.clone().into());
    }
    b
}

/// The bytes signed: cser-v1 of the binding.
pub fn message(g: &Grant, key_id: &str) -> Result<Vec<u8>, String> {
    cser::canonical(&binding(g, key_id))
        .map(String::into_bytes)
        .map_err(|e| format!("the binding has no cser-v1 form: {e}"))
}

/// Signs `g`'s binding: (signature, key id) to store on the row.
pub fn sign_grant(key: &SigningKey, g: &Grant) -> Result<(String, String), String> {
    let message = message(g, key.key_id())?;
    Ok((key.sign(&message), key.key_id().to_owned()))
}

/// Why a row's signature does not vouch for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgery {
    Unsigned,
    UnknownKey(String),
    BadSignature(String),
}

impl std::fmt::Display for Forgery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Forgery::Unsigned => write!(f, "it carries no signature"),
            Forgery::UnknownKey(id) => write!(
                f,
                "it names key {id:?}, which is not one of the handler's trusted keys"
            ),
            Forgery::BadSignature(id) => write!(
                f,
                "its signature does not verify against trusted key {id} (the row was not written, or was edited after, by the handler)"
            ),
        }
    }
}

/// Verifies the row's own signature over its own binding.
pub fn verify_grant(trusted: &TrustedKeys, g: &Grant) -> Result<(), Forgery> {
    let (Some(signature), Some(id)) = (&g.signature, &g.key_id) else {
        return Err(Forgery::Unsigned);
    };
    let Some(key) = trusted.keys.get(id) else {
        return Err(Forgery::UnknownKey(id.clone()));
    };
    let bad = || Forgery::BadSignature(id.clone());
    let bytes: [u8; 64] = B64
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let message = message(g, id).map_err(|_| bad())?;
    key.verify_strict(&message, &Signature::from_bytes(&bytes))
        .map_err(|_| bad())
}

// ---------------------------------------------------------------------------
// key files (IO)
// ---------------------------------------------------------------------------

/// Loads the private key. It must be a regular file owned by the running
/// user that neither group nor others may read or write: a key others can
/// read is a key others can mint with.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_KEY_FILE)
        .map_err(|e| format!("signing key {shown}: {}", e.describe()))?;
    let uid = running_uid()?;
    if meta.uid() != uid {
        return Err(format!(
            "signing key {shown} is owned by uid {}, not by the user running the handler (uid {uid})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "signing key {shown} has mode {mode:04o}: group or others may use it; chmod 600 it"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("signing key {shown} is not text"))?;
    parse_secret(&text).map_err(|e| format!("signing key {shown}: {e}"))
}

/// Loads the trusted public keys from a file, or from every `*.pub` file
/// of a directory. Whoever can write them can make the handler trust a
/// forger's key, so neither the file nor the directory may be writable by
/// group or others, and each must belong to the running user or root.
pub fn load_trusted(path: &Path) -> Result<TrustedKeys, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let uid = running_uid()?;
    let guarded = |what: &str, meta: &std::fs::Metadata| -> Result<(), String> {
        if meta.uid() != uid && meta.uid() != 0 {
            return Err(format!(
                "trusted keys {what} is owned by uid {}, not by the running user (uid {uid}) or root",
                meta.uid()
            ));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(format!(
                "trusted keys {what} has mode {mode:04o}: group or others may write it; chmod go-w it"
            ));
        }
        Ok(())
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("trusted keys {shown}: {e}"))?;
    let mut trusted = TrustedKeys::default();
    if meta.is_dir() {
        guarded(&shown.to_string(), &meta)?;
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("trusted keys {shown}: {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect();
        files.sort();
        for file in files {
            let (bytes, meta) = crate::sys::file::read_regular_with_meta(&file, MAX_KEY_FILE)
                .map_err(|e| format!("trusted key {}: {}", file.display(), e.describe()))?;
            guarded(&file.display().to_string(), &meta)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("trusted key {} is not text", file.display()))?;
            trusted.add_text(&text, &file.display().to_string())?;
        }
    } else {
        let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_KEY_FILE)
            .map_err(|e| format!("trusted keys {shown}: {}", e.describe()))?;
        guarded(&shown.to_string(), &meta)?;
        let text =
            String::from_utf8(bytes).map_err(|_| format!("trusted keys {shown} is not text"))?;
        trusted.add_text(&text, &shown.to_string())?;
    }
    if trusted.is_empty() {
        return Err(format!("trusted keys {shown} holds no key"));
    }
    Ok(trusted)
}

/// What `keygen --out DIR` wrote.
pub struct Generated {
    pub key_id: String,
    pub public_line: String,
    pub secret_path: std::path::PathBuf,
    pub public_path: std::path::PathBuf,
}

/// Makes a key pair in `dir` (created 0700 if missing): `signing.key`
/// (0600, never overwritten) and `<key id>.pub`.
pub fn keygen(dir: &Path) -> Result<Generated, String> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let key = SigningKey::generate()?;
    let secret_path = dir.join("signing.key");
    let public_path = dir.join(format!("{}.pub", key.key_id()));
    let write_new = |path: &Path, mode: u32, text: &str| -> Result<(), String> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "{} already exists; keygen never overwrites a key (move it away first)",
                    path.display()
                ),
                _ => format!("cannot create {}: {e}", path.display()),
            })?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write_new(&secret_path, 0o600, &key.secret_text())?;
    let public_line = public_line(&key.public());
    if let Err(e) = write_new(&public_path, 0o644, &public_line) {
        let _ = std::fs::remove_file(&secret_path);
        return Err(e);
    }
    Ok(Generated {
        key_id: key.key_id().to_owned(),
        public_line: public_line.trim_end().to_owned(),
        secret_path,
        public_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Utc};

    /// The signed text is the one every grant was signed with before the
    /// timestamp became one function (`%Y-%m-%dT%H:%M:%S%.6fZ`), at the
    /// edges too: a changed text would unsign every grant.
    #[test]
    fn the_signed_time_text_is_the_one_grants_were_signed_with() {
        let times = [
            Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
                + chrono::TimeDelta::microseconds(123_456),
            Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
                + chrono::TimeDelta::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 1, 12, 0, 0).unwrap(),
        ];
        for t in times {
            assert_eq!(
                signed_time(&t),
                t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                "{t:?}"
            );
        }
    }

    fn grant() -> Grant {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
            + chrono::TimeDelta::microseconds(123_456);
        Grant {
            auth_code: "GBA-C1-APR-1".into(),
            request_ref: "APR-1".into(),
            status: "active".into(),
            carrier: Some("C1".into()),
            lane: Some("BUILD_PREP".into()),
            target: Some("DOT_C1_VOCAB_BUILD".into()),
            plan_ref: Some("P".into()),
            manifest_hash: Some("a".repeat(64)),
            protocol_version: Some("cser-v1".into()),
            action_set: Some(vec!["c1_a".into(), "c1_b".into()]),
            scope: Some(json!({"carrier": "C1"})),
            apr_digest: Some("b".repeat(64)),
            single_use: true,
            commit_allowed: false,
            requires_sovereign_esign: false,
            granted_at: at,
            expires_at: at + chrono::TimeDelta::hours(1),
            granted_by: Some("dot-apr-execute:authorize_build_step".into()),
            rollback_plan_ref: Some("R".into()),
            consumed_at: None,
            consumed_by: None,
            consume_request_id: None,
            signature: None,
            key_id: None,
            quorum: None,
            evidence_head: None,
        }
    }

    fn signed(key: &SigningKey) -> Grant {
        let mut g = grant();
        let (sig, id) = sign_grant(key, &g).unwrap();
        g.signature = Some(sig);
        g.key_id = Some(id);
        g
    }

    #[test]
    fn a_signed_grant_verifies_and_any_edit_to_its_binding_does_not() {
        let key = SigningKey::from_seed([7; 32]);
        let trusted = TrustedKeys::default().with(&key.public());
        let g = signed(&key);
        assert_eq!(verify_grant(&trusted, &g), Ok(()));
        // The moving columns are not signed.
        let mut spent = g.clone();
        spent.status = "consumed".into();
        spent.consumed_by = Some("x".into());
        assert_eq!(verify_grant(&trusted, &spent), Ok(()));
        type Edit = Box<dyn Fn(&mut Grant)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("plan_ref", Box::new(|g| g.plan_ref = Some("Q".into()))),
            (
                "expires_at",
                Box::new(|g| g.expires_at += chrono::TimeDelta::microseconds(1)),
            ),
            (
                "granted_at",
                Box::new(|g| g.granted_at -= chrono::TimeDelta::seconds(1)),
            ),
            (
                "action_set order",
                Box::new(|g| g.action_set = Some(vec!["c1_b".into(), "c1_a".into()])),
            ),
            (
                "manifest_hash",
                Box::new(|g| g.manifest_hash = Some("c".repeat(64))),
            ),
            ("apr_digest", Box::new(|g| g.apr_digest = None)),
            (
                "evidence_head added",
                Box::new(|g| g.evidence_head = Some("0".repeat(64))),
            ),
            ("request_ref", Box::new(|g| g.request_ref = "APR-2".into())),
            (
                "scope",
                Box::new(|g| g.scope = Some(json!({"carrier": "C2"}))),
            ),
            (
                "rollback",
                Box::new(|g| g.rollback_plan_ref = Some("S".into())),
            ),
            (
                "signature byte",
                Box::new(|g| {
                    let mut b = B64.decode(g.signature.as_ref().unwrap()).unwrap();
                    b[0] ^= 1;
                    g.signature = Some(B64.encode(b));
                }),
            ),
            (
                "signature garbage",
                Box::new(|g| g.signature = Some("not base64!".into())),
            ),
        ];
        for (what, edit) in edits {
            let mut forged = g.clone();
            edit(&mut forged);
            assert!(
                matches!(
                    verify_grant(&trusted, &forged),
                    Err(Forgery::BadSignature(_))
                ),
                "an edit of {what} still verifies"
            );
        }
        let mut unsigned = g.clone();
        unsigned.signature = None;
        assert_eq!(verify_grant(&trusted, &unsigned), Err(Forgery::Unsigned));
    }

    #[test]
    fn a_key_that_is_not_trusted_does_not_vouch_and_rotation_keeps_both() {
        let old = SigningKey::from_seed([1; 32]);
        let new = SigningKey::from_seed([2; 32]);
        let only_new = TrustedKeys::default().with(&new.public());
        assert!(matches!(
            verify_grant(&only_new, &signed(&old)),
            Err(Forgery::UnknownKey(_))
        ));
        // A forger who names a trusted key id but signs with his own key.
        let mut g = signed(&old);
        g.key_id = Some(new.key_id().to_owned());
        assert!(matches!(
            verify_grant(&only_new, &g),
            Err(Forgery::BadSignature(_))
        ));
        let both = only_new.with(&old.public());
        assert_eq!(verify_grant(&both, &signed(&old)), Ok(()));
        assert_eq!(verify_grant(&both, &signed(&new)), Ok(()));
    }

    #[test]
    fn key_text_round_trips_and_a_lying_key_id_is_refused() {
        let key = SigningKey::from_seed([9; 32]);
        let again = parse_secret(&key.secret_text()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        let line = public_line(&key.public());
        let trusted = TrustedKeys::from_text(&format!("# comment\n\n{line}")).unwrap();
        assert!(trusted.contains(key.key_id()));
        let lying = line.replace(key.key_id(), "0000000000000000");
        assert!(TrustedKeys::from_text(&lying)
            .unwrap_err()
            .contains("is not this key's id"));
        assert!(TrustedKeys::from_text("ssh-ed25519 AAAA").is_err());
        assert!(parse_secret("dot-abs-ed25519-secret-v1 AAAA").is_err());
        assert!(parse_secret("").is_err());
        assert!(!format!("{key:?}").contains(&B64.encode(key.key.to_bytes())));
    }
}
