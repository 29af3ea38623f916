//! The one thing every command returns: a verdict (OK / SKIP / FAIL /
//! ERROR), its stable code, the exact reason, and the facts an operator needs.
//! Rendering only: the human summary and the single `--json` object.

use crate::canon::text::{escape, escape_keeping_tabs, timestamp};
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Fault, Reject, Severity};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The version of the verdict object's shape (docs/verdict.schema.json),
/// in every `--json` verdict as `schema_version`.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Skip,
    Fail,
    Error,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ok => "OK",
            Kind::Skip => "SKIP",
            Kind::Fail => "FAIL",
            Kind::Error => "ERROR",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Done(Done),
    Reject(Reject),
    Fault(Fault),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub message: String,
    pub apr: Option<String>,
    pub auth_code: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub dry_run: Option<bool>,
    /// Command-specific facts, printed after the common fields.
    pub details: Map<String, Value>,
    /// Lines printed before the summary in the human form (readback).
    pub lines: Vec<String>,
    /// A bulk decision's one verdict per grant (bulk `revoke`): each is
    /// what the single command would have answered, and each gets its own
    /// evidence line. Never printed: the summary lists them.
    pub each: Vec<Verdict>,
}

impl Verdict {
    pub fn new(status: Status, message: impl Into<String>) -> Verdict {
        Verdict {
            status,
            message: message.into(),
            apr: None,
            auth_code: None,
            expires_at: None,
            dry_run: None,
            details: Map::new(),
            lines: Vec::new(),
            each: Vec::new(),
        }
    }

    pub fn done(done: Done, message: impl Into<String>) -> Verdict {
        Verdict::new(Status::Done(done), message)
    }

    pub fn fault(fault: Fault, message: impl Into<String>) -> Verdict {
        Verdict::new(Status::Fault(fault), message)
    }

    pub fn apr(mut self, apr: impl Into<String>) -> Verdict {
        self.apr = Some(apr.into());
        self
    }

    pub fn auth_code(mut self, code: impl Into<String>) -> Verdict {
        self.auth_code = Some(code.into());
        self
    }

    pub fn expires_at(mut self, at: DateTime<Utc>) -> Verdict {
        self.expires_at = Some(at);
        self
    }

    pub fn dry_run(mut self, dry_run: bool) -> Verdict {
        self.dry_run = Some(dry_run);
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Verdict {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn kind(&self) -> Kind {
        match self.status {
            Status::Done(_) => Kind::Ok,
            Status::Reject(r) => match r.severity() {
                Severity::Skip => Kind::Skip,
                Severity::Fail => Kind::Fail,
            },
            Status::Fault(_) => Kind::Error,
        }
    }

    pub fn code(&self) -> &'static str {
        match self.status {
            Status::Done(d) => d.code(),
            Status::Reject(r) => r.code(),
            Status::Fault(f) => f.code(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("schema_version".into(), SCHEMA_VERSION.into());
        obj.insert("verdict".into(), self.kind().as_str().into());
        obj.insert("code".into(), self.code().into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(apr) = &self.apr {
            obj.insert("apr".into(), apr.clone().into());
        }
        if let Some(code) = &self.auth_code {
            obj.insert("auth_code".into(), code.clone().into());
        }
        if let Some(at) = &self.expires_at {
            obj.insert("expires_at".into(), timestamp(at).into());
        }
        if let Some(dry) = self.dry_run {
            obj.insert("dry_run".into(), dry.into());
        }
        for (k, v) in &self.details {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(obj)
    }

    /// `VERDICT CODE: message`, then one `  key: value` line per fact.
    /// Every value is escaped: a line break or control character in a code
    /// read from the database cannot forge a line such as `OK MINTED`.
    pub fn human(&self) -> String {
        format!("{}{}", self.human_results(), self.human_summary())
    }

    /// The result lines (readback's checks, show-patch's content or diff).
    pub fn human_results(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{}\n", escape_keeping_tabs(l)))
            .collect()
    }

    /// The verdict line and its facts.
    pub fn human_summary(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{} {}: {}\n",
            self.kind().as_str(),
            self.code(),
            escape(&self.message)
        ));
        let mut line =
            |k: &str, v: &str| out.push_str(&format!("  {}: {}\n", escape(k), escape(v)));
        if let Some(apr) = &self.apr {
            line("apr", apr);
        }
        if let Some(code) = &self.auth_code {
            line("auth_code", code);
        }
        if let Some(at) = &self.expires_at {
            line("expires_at", &timestamp(at));
        }
        if let Some(dry) = self.dry_run {
            line(
                "dry_run",
                if dry {
                    "true (nothing written)"
                } else {
                    "false"
                },
            );
        }
        for (k, v) in self.details.iter().filter(|(k, v)| {
            (!matches!(k.as_str(), "checks" | "diff" | "new_content" | "grants")
                || self.lines.is_empty())
                // An empty set (bulk revoke's) says nothing a line could.
                && !(k.as_str() == "grants" && v.as_array().is_some_and(Vec::is_empty))
        }) {
            match v {
                Value::String(s) => line(k, s),
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    line(k, &joined.join(","))
                }
                other => line(k, &other.to_string()),
            }
        }
        out
    }
}

/// A proposal as its verdict (`propose`).
impl From<crate::decide::propose::Proposal> for Verdict {
    fn from(p: crate::decide::propose::Proposal) -> Verdict {
        Verdict::done(p.done, p.message)
            .apr(p.apr)
            .detail("payload", p.payload)
            .detail("payload_digest", p.payload_digest)
            .detail("manifest_hash", p.manifest_hash)
            .detail("proposed_by", p.proposed_by)
    }
}

impl From<Stop> for Verdict {
    fn from(stop: Stop) -> Verdict {
        match stop {
            Stop::Reject(r, why) => Verdict::new(Status::Reject(r), why),
            Stop::Fault(f, why) => Verdict::new(Status::Fault(f), why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canon::text::{escape_lines, is_hidden};

    /// Issue 18, finding 8: tag characters (which can spell hidden ASCII),
    /// Hangul fillers, the blank Braille pattern, private-use and
    /// unassigned code points reached human output raw.
    #[test]
    fn finding_8_invisible_code_points_are_escaped_in_human_output() {
        let hidden = [
            '\u{E0041}',
            '\u{E0001}',
            '\u{E007F}',
            '\u{3164}',
            '\u{115F}',
            '\u{1160}',
            '\u{FFA0}',
            '\u{2800}',
            '\u{E000}',
            '\u{F0000}',
            '\u{0378}',
            '\u{2028}',
            '\u{2029}',
            '\u{200B}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{034F}',
            '\u{0007}',
        ];
        for c in hidden {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
            let v = Verdict::done(Done::Digest, format!("a{c}b")).detail("p", format!("x{c}y"));
            let text = v.human();
            assert!(
                !text.contains(c),
                "U+{:04X} printed raw: {text:?}",
                u32::from(c)
            );
            assert!(text.contains(&c.escape_unicode().to_string()), "{text:?}");
        }
        for visible in ['a', 'é', 'Ω', '中', '한', '😀', ' ', '\u{00A0}'] {
            assert!(!is_hidden(visible), "{visible:?}");
        }
        assert_eq!(escape_lines("one\ntwo\u{E0041}"), "one\ntwo\\u{e0041}");
    }

    /// A value read from the database with a line break cannot forge a
    /// line of its own in the human output.
    #[test]
    fn control_characters_in_values_are_escaped_in_human_output() {
        let v = Verdict::new(
            Status::Reject(Reject::AuthNotFound),
            "no grant \nOK MINTED: minted GBA-C1-X",
        )
        .apr("APR-1\r\nOK CONSUMED: x")
        .detail("note", "a\u{202E}b");
        let text = v.human();
        assert!(!text.lines().any(|l| l.starts_with("OK ")), "{text}");
        assert!(
            text.contains("\\u{a}OK MINTED") && text.contains("\\u{202e}"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
