//! The argument validators clap calls (value parsers): names and free
//! text without hidden characters, digests, key ids, request ids, timeouts,
//! durations, `--since`. Pure functions of the argument: no IO.

use std::time::Duration;

/// `--since`: a span back from the database's clock, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    At(chrono::DateTime<chrono::Utc>),
}

/// `30m`, `2h`, `7d` (with its unit), or an RFC 3339 time
/// (`2026-12-01T09:00:00Z`), or a date (`2026-12-01`, midnight UTC).
pub fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Since::At(at.with_timezone(&chrono::Utc)));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if s.len() == 10 {
            return Ok(Since::At(day.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
    }
    match parse_duration(s) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(100 * 365 * 86_400) => Ok(Since::Ago(d)),
        Ok(_) => Err(format!("{s:?} is outside 1ms..=100 years")),
        Err(e) => Err(format!(
            "{e}; or give a time: 2026-12-01T09:00:00Z, 2026-12-01"
        )),
    }
}

pub(super) fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        printable(s)
    }
}

/// A code or name: non-empty, and no character that could forge or hide
/// output (control characters, line breaks, invisible and bidi formatting).
pub fn name(s: &str) -> Result<String, String> {
    non_empty(s)
}

/// Free text (no control or invisible characters, may be empty).
pub fn printable(s: &str) -> Result<String, String> {
    match s.chars().find(|c| is_hidden(*c)) {
        Some(c) => Err(format!(
            "holds the character U+{:04X}; control, line-break and invisible characters are refused",
            u32::from(c)
        )),
        None => Ok(s.to_owned()),
    }
}

/// review's `--digest`: a cser-v1 SHA-256, 64 lowercase hex digits. Anything
/// else is a slip of the hand, told apart from a digest of another payload.
pub(super) fn payload_digest(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s.to_owned())
    } else {
        Err("must be 64 lowercase hex digits, as `digest --apr CODE` prints".into())
    }
}

/// `revoke --key-id`: a key id as `keys` and `keygen` print it, 16
/// lowercase hex digits (a mistyped id would silently match nothing).
pub(super) fn key_id(s: &str) -> Result<String, String> {
    if s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s.to_owned())
    } else {
        Err("must be 16 lowercase hex digits, as `keys` lists them".into())
    }
}

/// review's `--reason`: 1-500 characters, none of them hidden.
pub(super) fn reject_reason(s: &str) -> Result<String, String> {
    let n = s.chars().count();
    if !(1..=500).contains(&n) {
        return Err(format!("must be 1-500 characters, not {n}"));
    }
    printable(s)
}

/// Control characters and the invisible or direction-changing format
/// characters that make two different strings look alike.
pub fn is_hidden(c: char) -> bool {
    crate::canon::text::is_hidden(c)
}

/// consume's idempotency key: 1-128 of [A-Za-z0-9._:-].
pub(super) fn request_id(s: &str) -> Result<String, String> {
    if crate::decide::validate::is_plan_ref(s) {
        Ok(s.to_owned())
    } else {
        Err("must be 1-128 characters of [A-Za-z0-9._:-]".into())
    }
}

/// The longest timeout accepted (decide::limits): every one must be one the
/// server can hold (PostgreSQL's are int milliseconds, and the
/// idle-in-transaction timeout is twice the statement timeout), and nothing
/// should wait longer anyway.
pub use crate::decide::limits::MAX_TIMEOUT;

/// A timeout: a duration from 1ms to 24h (0 would mean "wait forever").
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() || d > MAX_TIMEOUT {
        Err(format!("{s:?} is outside 1ms..=24h"))
    } else {
        Ok(d)
    }
}

/// `90s`, `30m`, `2h`, `1d`, `500ms`. A bare number is refused: PostgreSQL
/// reads a bare `lock_timeout` as milliseconds, so guessing seconds here
/// would be off by a thousand for whoever brings that habit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 90s, 30m, 2h"))?;
    let secs = match unit {
        "" => {
            return Err(format!(
                "{s:?} has no unit: add one, e.g. {s}ms or {s}s (ms, s, m, h, d)"
            ))
        }
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a duration like 500ms, 90s, 30m, 2h"))
}
