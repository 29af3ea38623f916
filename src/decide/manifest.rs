//! cser-v1 manifests: `{"protocol_version": "cser-v1", "carrier": "C1",
//! "operations": [{"operation_code": …, …}, …]}`. Decides whether a
//! manifest's bytes are one the handler accepts, refusing a malformed one
//! with its own code, and yields the two things a grant is bound to: the
//! hash of the canonical bytes and the action set. Pure: the bytes are read
//! by `sys::file` (`read_regular`, `read_stdin`) and a read that failed is
//! handed here to be named (`read_refused`, `stdin_refused`).

use crate::canon::cser;
use crate::decide::facts::Vocabulary;
use crate::decide::outcome::Stop;
use crate::decide::payload;
use crate::decide::reject::Reject;
use crate::sys::file::ReadError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const KEYS: [&str; 3] = ["protocol_version", "carrier", "operations"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// SHA-256 of `canonical`: the value a grant's `manifest_hash` binds.
    pub hash: cser::Sha256Hex,
    pub canonical: String,
    /// The operation codes, sorted, each once.
    pub action_set: Vec<String>,
}

/// The largest manifest read (SPEC §9 hardening; documented in the README).
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// A manifest file, as `sys::file::read_regular(path, MAX_MANIFEST_BYTES)`
/// read it, checked: a failed read refused by `read_refused`.
pub fn from_file(path: &Path, read: Result<Vec<u8>, ReadError>) -> Result<Manifest, Stop> {
    from_bytes(&read.map_err(|e| read_refused(path, e))?)
}

/// Why a manifest file could not be read, with its own code: a FIFO, a
/// device (/dev/zero), a directory or a larger file is refused before
/// anything is hashed.
pub fn read_refused(path: &Path, e: ReadError) -> Stop {
    match e {
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
    }
}

/// Why a manifest on standard input (`manifest hash -`, read by
/// `sys::file::read_stdin(MAX_MANIFEST_BYTES)`) could not be read: a
/// larger stdin is refused as too large, not cut.
pub fn stdin_refused(e: ReadError) -> Stop {
    match e {
        ReadError::TooLarge => Stop::Reject(
            Reject::ManifestTooLarge,
            format!("the manifest on stdin is larger than {MAX_MANIFEST_BYTES} bytes"),
        ),
        ReadError::Io(e) => Stop::Reject(
            Reject::ManifestMissing,
            format!("cannot read the manifest from stdin: {e}"),
        ),
        ReadError::NotRegular(kind) => Stop::Reject(
            Reject::ManifestMissing,
            format!("cannot read the manifest from stdin: it is {kind}"),
        ),
    }
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
    let (canonical, hash) = cser::canonical_digest(&value).map_err(|e| invalid(e.to_string()))?;
    Ok(Manifest {
        hash,
        canonical,
        action_set: codes.into_iter().collect(),
    })
}

impl Manifest {
    /// The manifest's operations must be exactly the live C1 vocabulary.
    pub fn check_vocabulary(&self, vocabulary: &Vocabulary) -> Result<(), Stop> {
        // The action set is sorted, each code once: the codes outside the
        // vocabulary come sorted too.
        let (extra, missing) = vocabulary.compare(&self.action_set);
        if !extra.is_empty() {
            return Err(Stop::Reject(
                Reject::ManifestExtraOperation,
                format!(
                    "manifest has operations outside the live C1 vocabulary: {}",
                    extra.join(",")
                ),
            ));
        }
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
