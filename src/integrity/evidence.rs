//! The evidence log: one JSON line per decision (execute, consume, revoke,
//! review, propose, propose-patch; refusals and dry runs included), chained
//! by hash and signed with the handler's key, so that no line can be
//! edited, dropped, moved or re-chained by whoever can write the file
//! without `evidence verify` naming the line.
//!
//! A line is the cser-v1 canonical form of
//! `{"v":2,"line":N,"prev":H(N-1),"at":…,"command":…,"argv":[…],
//!   "os_user":…,"os_uid":…,"db_user":…,"verdict":{…},"key_id":K,
//!   "hash":H(N),"sig":S(N)}`
//! where `H(N)` is the SHA-256 of the canonical bytes of the same object
//! without `hash` and `sig`, the first line's `prev` is 64 zeros, and
//! `S(N)` is the Ed25519 signature of key `K` over
//! `dot-abs-evidence-v1\n` followed by `H(N)`. The hash covers `prev`, so
//! the signatures chain: an edit that leaves `hash` alone breaks its own
//! line; one that recomputes it (anyone can: it is plain SHA-256) leaves a
//! signature that no longer verifies; a dropped or moved line breaks the
//! numbering. Version 1 lines (unsigned) are refused, never trusted.
//!
//! What the file alone cannot show is a cut tail: `execute` therefore
//! stores the head it read (`Log::head_at_open`) in the grant it mints,
//! under the grant's signature, and `evidence verify --db` requires each
//! such anchor and the grant's MINTED line to be in the log
//! (`missing_anchors`).
//!
//! The file is opened with `O_NOFOLLOW` and checked on the open handle: a
//! symlink, anything but a regular file, a file of another owner or one
//! that group or others may write is refused. Appends are one `write` with
//! `O_APPEND` under an exclusive lock on the file, followed by `fsync`:
//! concurrent handlers queue, never interleave or fork the chain. The
//! database is never touched from here.

use crate::canon::cser;
use crate::integrity::signing::{SigningKey, TrustedKeys};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

pub const ENV: &str = "DOT_ABS_EVIDENCE_LOG";
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const FORMAT_VERSION: u64 = 2;
/// What a line's signature covers, before its hash: a signature made for
/// anything else (a grant, an approval) is never a line's.
pub const SIGNATURE_DOMAIN: &str = "dot-abs-evidence-v1\n";
/// How far back a last line is looked for: far beyond any verdict
/// (propose-patch carries at most a few MiB of base64).
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// An open evidence log and the key its lines are signed with.
#[derive(Debug)]
pub struct Log {
    file: File,
    path: PathBuf,
    signer: SigningKey,
    head_at_open: Head,
}

/// Where the chain stands: the last line's number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub line: u64,
    pub hash: String,
}

impl Head {
    fn genesis() -> Head {
        Head {
            line: 0,
            hash: GENESIS.into(),
        }
    }
}

impl Log {
    /// Opens (creating, mode 0600) the log before the command does
    /// anything, and checks that its chain can be extended: a log that
    /// cannot take the line must stop the command before it decides.
    ///
    /// The path's last component must not be a symlink (`O_NOFOLLOW`: a
    /// dangling one would make the handler create the file it names), and
    /// the open handle (`fstat`, not the path) must be a regular file of
    /// the running user that neither group nor others may write.
    pub fn open(path: &Path, signer: SigningKey) -> Result<Log, String> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let shown = path.display();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| format!("evidence log {shown}: {}", open_error(&e)))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("evidence log {shown}: {e}"))?;
        check_owned_and_private(&shown.to_string(), &meta)?;
        let mut log = Log {
            file,
            path: path.to_owned(),
            signer,
            head_at_open: Head::genesis(),
        };
        log.file
            .lock_shared()
            .map_err(|e| format!("evidence log {shown}: cannot lock: {e}"))?;
        let head = log.head();
        let _ = log.file.unlock();
        log.head_at_open = head?;
        Ok(log)
    }

    /// The head as the log was opened, before the command decided: what a
    /// grant minted by this command records as its anchor.
    pub fn head_at_open(&self) -> &Head {
        &self.head_at_open
    }

    /// The chain's head, read from the last line.
    fn head(&self) -> Result<Head, String> {
        let shown = self.path.display();
        let Some(last) = last_line(&self.file).map_err(|e| format!("evidence log {shown}: {e}"))?
        else {
            return Ok(Head::genesis());
        };
        let value: Value = serde_json::from_slice(&last).map_err(|_| {
            format!(
                "evidence log {shown}: its last line is not JSON; run `evidence verify {shown}`"
            )
        })?;
        if value.get("v").and_then(Value::as_u64) != Some(FORMAT_VERSION) {
            return Err(format!(
                "evidence log {shown}: its last line is not a v{FORMAT_VERSION} (signed) line; \
                 `evidence verify` refuses unsigned lines, so start a new log (move this one aside)"
            ));
        }
        match (
            value.get("line").and_then(Value::as_u64),
            value.get("hash").and_then(Value::as_str),
        ) {
            (Some(line), Some(hash)) => Ok(Head {
                line,
                hash: hash.to_owned(),
            }),
            _ => Err(format!(
                "evidence log {shown}: its last line has no line number or hash; run `evidence verify {shown}`"
            )),
        }
    }

    /// Appends one record (the fields besides v, line, prev and hash) and
    /// syncs it. Returns the new head.
    pub fn append(&mut self, record: Map<String, Value>) -> Result<Head, String> {
        let shown = self.path.display().to_string();
        self.file
            .lock()
            .map_err(|e| format!("evidence log {shown}: cannot lock: {e}"))?;
        let result = (|| {
            let head = self.head()?;
            let (bytes, new_head) = seal(record, &head, &self.signer)?;
            // One write: O_APPEND puts it at the end whatever the offset,
            // and the lock keeps every other appender out meanwhile.
            self.file
                .write_all(&bytes)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| format!("evidence log {shown}: cannot append: {e}"))?;
            Ok(new_head)
        })();
        let _ = self.file.unlock();
        result
    }
}

/// The canonical line (with its newline) that extends `head` with
/// `record`, signed with `key`.
pub fn seal(
    mut record: Map<String, Value>,
    head: &Head,
    key: &SigningKey,
) -> Result<(Vec<u8>, Head), String> {
    record.insert("v".into(), FORMAT_VERSION.into());
    record.insert("line".into(), (head.line + 1).into());
    record.insert("prev".into(), head.hash.clone().into());
    record.insert("key_id".into(), key.key_id().into());
    record.remove("hash");
    record.remove("sig");
    let hash = body_hash(&Value::Object(record.clone()))?;
    record.insert("hash".into(), hash.clone().into());
    record.insert("sig".into(), key.sign(&signed_bytes(&hash)).into());
    let mut bytes = cser::canonical(&Value::Object(record))
        .map_err(|e| format!("the evidence record has no cser-v1 form: {e}"))?
        .into_bytes();
    bytes.push(b'\n');
    Ok((
        bytes,
        Head {
            line: head.line + 1,
            hash,
        },
    ))
}

/// The bytes a line's signature covers.
fn signed_bytes(hash: &str) -> Vec<u8> {
    format!("{SIGNATURE_DOMAIN}{hash}").into_bytes()
}

/// The open error, with the refused symlink said in words (the kernel
/// answers `O_NOFOLLOW` on a symlink with ELOOP).
fn open_error(e: &std::io::Error) -> String {
    if e.raw_os_error() == Some(libc::ELOOP) {
        "is a symbolic link: refused (give the real path; a link could point the log anywhere)"
            .into()
    } else {
        e.to_string()
    }
}

/// A log the handler appends to: a regular file, the running user's, that
/// neither group nor others may write (they could rewrite it).
fn check_owned_and_private(shown: &str, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    if !meta.file_type().is_file() {
        return Err(format!(
            "evidence log {shown} is {}",
            kind_of(&meta.file_type())
        ));
    }
    let uid = crate::sys::user::running_uid()?;
    if meta.uid() != uid {
        return Err(format!(
            "evidence log {shown} is owned by uid {}, not by the user running the handler (uid {uid})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "evidence log {shown} has mode {mode:04o}: group or others may write it; chmod go-w it"
        ));
    }
    Ok(())
}

fn kind_of(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_fifo() {
        "a FIFO, not a regular file"
    } else if kind.is_dir() {
        "a directory, not a regular file"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device, not a regular file"
    } else if kind.is_socket() {
        "a socket, not a regular file"
    } else {
        "not a regular file"
    }
}

/// Reads a log for `evidence verify`: no symlink (`O_NOFOLLOW`), opened
/// without blocking (a FIFO must not hold the check for ever), a regular
/// file by its open handle. No size cap: a log grows as long as it runs.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = path.display();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot read {shown}: {}", open_error(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "cannot read {shown}: it is {}",
            kind_of(&meta.file_type())
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok(bytes)
}

fn body_hash(body: &Value) -> Result<String, String> {
    cser::digest(body)
        .map(|d| d.as_str().to_owned())
        .map_err(|e| format!("the evidence record has no cser-v1 form: {e}"))
}

/// The last complete line without its newline; `None` for an empty file.
/// A file that does not end in a newline was torn by a crash mid-append
/// (or edited): refused, never extended.
fn last_line(file: &File) -> Result<Option<Vec<u8>>, String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut end = [0u8; 1];
    file.read_exact_at(&mut end, len - 1)
        .map_err(|e| e.to_string())?;
    if end[0] != b'\n' {
        return Err(
            "its last line is incomplete (no newline at the end); run `evidence verify` and repair it before appending"
                .into(),
        );
    }
    let body_end = len - 1;
    let mut start = body_end;
    let mut chunk = vec![0u8; 64 * 1024];
    while start > 0 {
        if body_end - start > MAX_LINE {
            return Err("its last line is longer than any evidence line".into());
        }
        let n = chunk.len().min(start as usize);
        let from = start - n as u64;
        file.read_exact_at(&mut chunk[..n], from)
            .map_err(|e| e.to_string())?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break;
        }
        start = from;
    }
    let mut line = vec![0u8; (body_end - start) as usize];
    file.read_exact_at(&mut line, start)
        .map_err(|e| e.to_string())?;
    Ok(Some(line))
}

/// Where `verify` found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// 1-based line number in the file.
    pub line: u64,
    pub why: String,
}

/// One verified line, as the database check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub hash: String,
    pub command: Option<String>,
    pub code: Option<String>,
    pub auth_code: Option<String>,
}

/// Walks the whole chain. `Ok(lines)`: every line intact, in place, and
/// signed by a trusted key.
pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<Vec<Entry>, Break> {
    let mut head = Head::genesis();
    let mut entries = Vec::new();
    if bytes.is_empty() {
        return Ok(entries);
    }
    let broken = |line: u64, why: String| Break { line, why };
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A final newline leaves one empty piece; its absence is a torn line.
    let torn = !lines.last().is_some_and(|l| l.is_empty());
    if !torn {
        lines.pop();
    }
    let count = lines.len() as u64;
    for (i, raw) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        if torn && n == count {
            return Err(broken(
                n,
                "the last line is incomplete (no newline): a torn or edited append".into(),
            ));
        }
        let value: Value = serde_json::from_slice(raw)
            .map_err(|_| broken(n, "not a JSON line: edited or corrupted".into()))?;
        let Value::Object(mut obj) = value else {
            return Err(broken(n, "not a JSON object: edited or corrupted".into()));
        };
        match obj.get("v").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(1) => {
                return Err(broken(
                    n,
                    "a v1 line: unauthenticated (unsigned), so it proves nothing; \
                     refused (a log written before lines were signed, or one downgraded)"
                        .into(),
                ))
            }
            other => {
                return Err(broken(
                    n,
                    format!(
                        "format version {}: not an evidence line this handler writes",
                        other.map_or("?".into(), |v| v.to_string())
                    ),
                ))
            }
        }
        let Some(Value::String(hash)) = obj.remove("hash") else {
            return Err(broken(n, "no hash: edited or not an evidence line".into()));
        };
        let sig = obj.remove("sig");
        let body = Value::Object(obj);
        match body_hash(&body) {
            Ok(h) if h == hash => {}
            _ => {
                return Err(broken(
                    n,
                    "its content does not match its own hash: the line was edited".into(),
                ))
            }
        }
        let (Some(Value::String(sig)), Some(key_id)) =
            (sig, body.get("key_id").and_then(Value::as_str))
        else {
            return Err(broken(
                n,
                "no signature or key id: unauthenticated, edited or not an evidence line".into(),
            ));
        };
        trusted
            .verify_message(key_id, &signed_bytes(&hash), &sig)
            .map_err(|f| {
                broken(
                    n,
                    format!("its signature does not vouch for it: {f}; the line was rewritten"),
                )
            })?;
        let line_no = body.get("line").and_then(Value::as_u64);
        if line_no != Some(n) {
            return Err(broken(
                n,
                format!(
                    "it says it is line {}, so a line before it is missing, or lines were moved",
                    line_no.map_or("?".into(), |l| l.to_string())
                ),
            ));
        }
        if body.get("prev").and_then(Value::as_str) != Some(head.hash.as_str()) {
            return Err(broken(
                n,
                if n == 1 {
                    "the first line does not start the chain: lines before it were removed".into()
                } else {
                    format!(
                        "it does not follow line {}: that line was rewritten, or this one was moved",
                        n - 1
                    )
                },
            ));
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        entries.push(Entry {
            hash: hash.clone(),
            command: text(body.get("command")),
            code: text(body.pointer("/verdict/code")),
            auth_code: text(body.pointer("/verdict/auth_code")),
        });
        head = Head { line: n, hash };
    }
    Ok(entries)
}

/// A grant's anchor: the chain's head when it was minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub auth_code: String,
    pub head: String,
}

/// The anchors a verified log does not account for, each with why: the
/// line whose hash is the anchor (unless it is the genesis) must be in the
/// log, and after it the grant's MINTED line (or, when the MINTED line
/// could not be written, the ALREADY_MINTED line of the re-run that
/// recorded it).
pub fn missing_anchors(entries: &[Entry], anchors: &[Anchor]) -> Vec<(String, String)> {
    let mut missing = Vec::new();
    for a in anchors {
        let from = if a.head == GENESIS {
            0
        } else {
            match entries.iter().position(|e| e.hash == a.head) {
                Some(i) => i + 1,
                None => {
                    missing.push((
                        a.auth_code.clone(),
                        format!(
                            "the line it was minted after (hash {}) is not in the log",
                            a.head
                        ),
                    ));
                    continue;
                }
            }
        };
        let recorded = entries[from..].iter().any(|e| {
            e.command.as_deref() == Some("execute")
                && e.auth_code.as_deref() == Some(a.auth_code.as_str())
                && matches!(e.code.as_deref(), Some("MINTED" | "ALREADY_MINTED"))
        });
        if !recorded {
            missing.push((
                a.auth_code.clone(),
                format!("no line records its mint after line {from}, where it was minted"),
            ));
        }
    }
    missing
}

#[cfg(test)]
mod tests;
