//! The evidence log: one JSON line per decision (execute, consume, revoke,
//! propose, propose-patch; refusals and dry runs included), chained by
//! hash so that no line can be edited, dropped or moved without
//! `evidence verify` naming the line.
//!
//! A line is the cser-v1 canonical form of
//! `{"v":1,"line":N,"prev":H(N-1),"at":…,"command":…,"argv":[…],
//!   "os_user":…,"os_uid":…,"db_user":…,"verdict":{…},"hash":H(N)}`
//! where `H(N)` is the SHA-256 of the canonical bytes of the same object
//! without `hash`, and the first line's `prev` is 64 zeros. An edit that
//! leaves `hash` alone breaks its own line; one that recomputes it breaks
//! the next line's `prev`; a dropped or moved line breaks the numbering.
//!
//! Appends are one `write` with `O_APPEND` under an exclusive lock on the
//! file, followed by `fsync`: concurrent handlers queue, never interleave
//! or fork the chain. The database is never touched from here.

use crate::cser;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

pub const ENV: &str = "DOT_ABS_EVIDENCE_LOG";
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const FORMAT_VERSION: u64 = 1;
/// How far back a last line is looked for: far beyond any verdict
/// (propose-patch carries at most a few MiB of base64).
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// An open evidence log.
#[derive(Debug)]
pub struct Log {
    file: File,
    path: PathBuf,
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
    pub fn open(path: &Path) -> Result<Log, String> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let shown = path.display();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("evidence log {shown}: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("evidence log {shown}: {e}"))?;
        if !meta.file_type().is_file() {
            return Err(format!("evidence log {shown} is not a regular file"));
        }
        let log = Log {
            file,
            path: path.to_owned(),
        };
        log.file
            .lock_shared()
            .map_err(|e| format!("evidence log {shown}: cannot lock: {e}"))?;
        let head = log.head();
        let _ = log.file.unlock();
        head.map(|_| log)
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
            let (bytes, new_head) = seal(record, &head)?;
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

/// The canonical line (with its newline) that extends `head` with `record`.
pub fn seal(mut record: Map<String, Value>, head: &Head) -> Result<(Vec<u8>, Head), String> {
    record.insert("v".into(), FORMAT_VERSION.into());
    record.insert("line".into(), (head.line + 1).into());
    record.insert("prev".into(), head.hash.clone().into());
    record.remove("hash");
    let hash = body_hash(&Value::Object(record.clone()))?;
    record.insert("hash".into(), hash.clone().into());
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

fn body_hash(body: &Value) -> Result<String, String> {
    let canon = cser::canonical(body)
        .map_err(|e| format!("the evidence record has no cser-v1 form: {e}"))?;
    Ok(format!("{:x}", Sha256::digest(canon.as_bytes())))
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

/// Walks the whole chain. `Ok(n)`: n lines, every one intact and in place.
pub fn verify(bytes: &[u8]) -> Result<u64, Break> {
    let mut head = Head::genesis();
    if bytes.is_empty() {
        return Ok(0);
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
        let Some(Value::String(hash)) = obj.remove("hash") else {
            return Err(broken(n, "no hash: edited or not an evidence line".into()));
        };
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
        head = Head { line: n, hash };
    }
    Ok(head.line)
}

/// The user running the handler: name from /etc/passwd when it has one,
/// and the uid (from /proc/self, which the kernel owns).
pub fn os_user() -> (Option<String>, Option<u32>) {
    let uid = crate::signing::running_uid().ok();
    let name = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let _ = f.next();
                    (f.next()? == uid.to_string()).then(|| name.to_owned())
                })
            })
    });
    (name, uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<Vec<u8>> {
        let mut head = Head::genesis();
        (0..n)
            .map(|i| {
                let mut rec = Map::new();
                rec.insert("verdict".into(), json!({"code": "MINTED", "i": i}));
                let (bytes, h) = seal(rec, &head).unwrap();
                head = h;
                bytes
            })
            .collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.concat()
    }

    #[test]
    fn an_intact_chain_verifies_with_its_count() {
        assert_eq!(verify(b""), Ok(0));
        assert_eq!(verify(&join(&chain(5))), Ok(5));
    }

    #[test]
    fn every_edit_deletion_swap_and_tear_is_named_by_line() {
        let lines = chain(5);
        // Edited, hash left alone: the line itself.
        let mut edited = lines.clone();
        edited[2] = String::from_utf8(edited[2].clone())
            .unwrap()
            .replace("MINTED", "REVOKE")
            .into_bytes();
        assert_eq!(verify(&join(&edited)).unwrap_err().line, 3);
        // Edited with its own hash recomputed: the next line.
        let mut resealed = lines.clone();
        let mut v: Map<String, Value> = serde_json::from_slice(&lines[2]).unwrap();
        v.insert("verdict".into(), json!({"code": "FORGED"}));
        let prev = Head {
            line: 2,
            hash: v["prev"].as_str().unwrap().into(),
        };
        resealed[2] = seal(v, &prev).unwrap().0;
        assert_eq!(verify(&join(&resealed)).unwrap_err().line, 4);
        // Deleted: the first line after the gap.
        let mut deleted = lines.clone();
        deleted.remove(1);
        assert_eq!(verify(&join(&deleted)).unwrap_err().line, 2);
        let mut first_deleted = lines.clone();
        first_deleted.remove(0);
        assert_eq!(verify(&join(&first_deleted)).unwrap_err().line, 1);
        // Swapped.
        let mut swapped = lines.clone();
        swapped.swap(1, 3);
        assert_eq!(verify(&join(&swapped)).unwrap_err().line, 2);
        // Torn last line.
        let mut torn = join(&lines);
        torn.truncate(torn.len() - 10);
        assert_eq!(verify(&torn).unwrap_err().line, 5);
        // Garbage.
        let mut junk = lines.clone();
        junk[4] = b"not json\n".to_vec();
        assert_eq!(verify(&join(&junk)).unwrap_err().line, 5);
    }
}
