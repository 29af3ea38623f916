//! cser-v1 manifests: `{"protocol_version": "cser-v1", "carrier": "C1",
//! "operations": [{"operation_code": …, …}, …]}`. Parses a manifest file,
//! refuses a malformed one with its own code, and yields the two things a
//! grant is bound to: the hash of the canonical bytes and the action set.
//! Pure but for `load`, which reads the one file it is given.

use crate::canon::cser::{self, Sha256Hex};
use crate::decide::payload;
use crate::decide::policy::{Stop, Vocabulary};
use crate::decide::reject::Reject;
use crate::sys::file::{read_regular, ReadError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const KEYS: [&str; 3] = ["protocol_version", "carrier", "operations"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// SHA-256 of `canonical`: the value a grant's `manifest_hash` binds.
    pub hash: Sha256Hex,
    pub canonical: String,
    /// The operation codes, sorted, each once.
    pub action_set: Vec<String>,
}

/// The largest manifest read (SPEC §9 hardening; documented in the README).
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and checks a manifest file.
pub fn load(path: &Path) -> Result<Manifest, Stop> {
    from_bytes(&read_manifest(path)?)
}

/// The bytes of a manifest: a regular file of at most MAX_MANIFEST_BYTES.
/// A FIFO, a device (/dev/zero), a directory or a larger file is refused
/// with its own code before anything is hashed.
pub fn read_manifest(path: &Path) -> Result<Vec<u8>, Stop> {
    read_regular(path, MAX_MANIFEST_BYTES).map_err(|e| match e {
        ReadError::Io(e) => Stop::Reject(
            Reject::ManifestMissing,
            format!("cannot read manifest {}: {e}", path.display()),
        ),
        ReadError::NotRegular(kind) => Stop::Reject(
            Reject::ManifestNotRegular,
            format!("manifest {} is {kind}, not a regular file", path.display()),
        ),
        ReadError::TooLarge => Stop::Reject(
            Reject::ManifestTooLarge,
            format!(
                "manifest {} is larger than {MAX_MANIFEST_BYTES} bytes",
                path.display()
            ),
        ),
    })
}

/// A manifest from standard input (`manifest hash -`), bounded like a file:
/// at most MAX_MANIFEST_BYTES, read through a `cap + 1` limit so that a
/// larger stdin is refused as too large, not cut.
pub fn read_manifest_stdin() -> Result<Vec<u8>, Stop> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Stop::Reject(
                Reject::ManifestMissing,
                format!("cannot read the manifest from stdin: {e}"),
            )
        })?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Stop::Reject(
            Reject::ManifestTooLarge,
            format!("the manifest on stdin is larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, Stop> {
    let invalid = |why: String| Stop::Reject(Reject::ManifestInvalid, why);
    let value =
        cser::parse(bytes).map_err(|e| invalid(format!("manifest is not cser-v1 JSON: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| invalid("manifest is not a JSON object".into()))?;
    if let Some(k) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("manifest has unknown key {k:?}")));
    }
    match map.get("protocol_version") {
        Some(Value::String(p)) if p == payload::PROTOCOL_VERSION => {}
        other => {
            return Err(Stop::Reject(
                Reject::ManifestProtocolVersion,
                format!(
                    "manifest protocol_version is {}, not \"cser-v1\"",
                    show(other)
                ),
            ))
        }
    }
    match map.get("carrier") {
        Some(Value::String(c)) if c == payload::CARRIER => {}
        other => {
            return Err(Stop::Reject(
                Reject::ManifestCarrier,
                format!("manifest carrier is {}, not \"C1\"", show(other)),
            ))
        }
    }
    let ops = match map.get("operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        other => {
            return Err(invalid(format!(
                "operations is {}, not a non-empty array",
                show(other)
            )))
        }
    };
    let mut codes = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        let code = op
            .get("operation_code")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| invalid(format!("operations[{i}] has no string operation_code")))?;
        if !codes.insert(code.to_owned()) {
            return Err(Stop::Reject(
                Reject::ManifestDuplicateOperation,
                format!("operation {code:?} appears more than once"),
            ));
        }
    }
    let canonical = cser::canonical(&value).map_err(|e| invalid(e.to_string()))?;
    Ok(Manifest {
        hash: Sha256Hex::of(canonical.as_bytes()),
        canonical,
        action_set: codes.into_iter().collect(),
    })
}

impl Manifest {
    /// The manifest's operations must be exactly the live C1 vocabulary.
    pub fn check_vocabulary(&self, vocabulary: &Vocabulary) -> Result<(), Stop> {
        let have: BTreeSet<&str> = self.action_set.iter().map(String::as_str).collect();
        let live: BTreeSet<&str> = vocabulary.codes().collect();
        let extra: Vec<&str> = have.difference(&live).copied().collect();
        if !extra.is_empty() {
            return Err(Stop::Reject(
                Reject::ManifestExtraOperation,
                format!(
                    "manifest has operations outside the live C1 vocabulary: {}",
                    extra.join(",")
                ),
            ));
        }
        let missing: Vec<&str> = live.difference(&have).copied().collect();
        if !missing.is_empty() {
            return Err(Stop::Reject(
                Reject::ManifestMissingOperation,
                format!("manifest lacks live C1 operations: {}", missing.join(",")),
            ));
        }
        Ok(())
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or("missing".into(), Value::to_string)
}
