//! Reads the text PostgreSQL prints for a `jsonb` value into a
//! `serde_json::Value` that the decisions can always look at, whatever the
//! column holds (SPEC §9, invariant 9). serde_json refuses what jsonb
//! happily stores: nesting beyond 128 levels, and numbers beyond f64
//! (`1e400` prints as a 401-digit integer). Here:
//! - a subtree deeper than `MAX_DEPTH` is read to its end but kept only as
//!   what matters at such a depth: the string "REAL_RUN" if that string is a
//!   value anywhere inside it (so the first check in SPEC order still sees
//!   it), else `null`. No payload field is nested more than two levels, so a
//!   truncated subtree is malformed either way;
//! - a number beyond f64 becomes ±f64::MAX: not an integer, over every cap.
//!
//! Iterative, so no input can exhaust the stack. Pure: no IO.

use serde_json::{Map, Number, Value};

/// Deeper than any payload or scope the handler writes (they have depth 2).
pub const MAX_DEPTH: usize = 64;

const REAL_RUN: &str = "REAL_RUN";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not JSON text at byte {at}: {why}")]
pub struct Unreadable {
    pub at: usize,
    pub why: &'static str,
}

enum Frame {
    Array(Vec<Value>),
    Object(Map<String, Value>, Option<String>),
    /// A subtree deeper than MAX_DEPTH: the kind of each open container in
    /// it (true: object), and whether REAL_RUN was seen as a value in it.
    Skipped {
        objects: Vec<bool>,
        real_run: bool,
    },
}

impl Frame {
    fn is_object(&self) -> bool {
        match self {
            Frame::Array(_) => false,
            Frame::Object(..) => true,
            Frame::Skipped { objects, .. } => objects.last().copied().unwrap_or(false),
        }
    }
}

/// `read`, but only when nothing was lost: a text nested deeper than
/// `MAX_DEPTH` is refused instead of truncated. For what must show or
/// digest exactly what is stored (`digest`, `review`); the decisions use
/// `read`, where a truncated subtree is malformed anyway. (A number beyond
/// f64 still reads as ±f64::MAX; cser-v1 refuses every non-integer.)
pub fn read_exact(text: &str) -> Result<Value, Unreadable> {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for (at, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'{' | b'[' if !in_string => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_DEPTH {
                    return Err(Unreadable {
                        at,
                        why: "nested deeper than can be shown or digested exactly",
                    });
                }
            }
            b'}' | b']' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    read(text)
}

/// Parses JSON text (as PostgreSQL prints jsonb) without limits on depth or
/// number size. `Err` only for text that is not JSON at all.
pub fn read(text: &str) -> Result<Value, Unreadable> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        // A value starts here.
        p.skip_ws();
        let mut value = match p.peek() {
            Some(open @ (b'{' | b'[')) => {
                let is_object = open == b'{';
                p.at += 1;
                let depth = stack.len() + 1;
                match stack.last_mut() {
                    Some(Frame::Skipped { objects, .. }) => objects.push(is_object),
                    _ if depth > MAX_DEPTH => stack.push(Frame::Skipped {
                        objects: vec![is_object],
                        real_run: false,
                    }),
                    _ if is_object => stack.push(Frame::Object(Map::new(), None)),
                    _ => stack.push(Frame::Array(Vec::new())),
                }
                p.skip_ws();
                let empty = if is_object { b'}' } else { b']' };
                if p.peek() == Some(empty) {
                    p.at += 1;
                    close(&mut stack)
                } else {
                    if is_object {
                        key(&mut p, &mut stack)?;
                    }
                    continue;
                }
            }
            Some(b'"') => Some(Value::String(p.string()?)),
            Some(b't') => Some(p.word("true", Value::Bool(true))?),
            Some(b'f') => Some(p.word("false", Value::Bool(false))?),
            Some(b'n') => Some(p.word("null", Value::Null)?),
            Some(b'-' | b'0'..=b'9') => Some(Value::Number(p.number()?)),
            _ => return Err(p.fail("expected a value")),
        };
        // A value is complete: attach it, then read separators and closers
        // until the next value starts.
        loop {
            if let Some(v) = value.take() {
                match stack.last_mut() {
                    None => {
                        p.skip_ws();
                        return if p.at == p.bytes.len() {
                            Ok(v)
                        } else {
                            Err(p.fail("text after the value"))
                        };
                    }
                    Some(Frame::Array(items)) => items.push(v),
                    Some(Frame::Object(map, slot)) => {
                        let k = slot.take().ok_or_else(|| p.fail("a value without a key"))?;
                        map.insert(k, v);
                    }
                    Some(Frame::Skipped { real_run, .. }) => {
                        *real_run |= v.as_str() == Some(REAL_RUN);
                    }
                }
            }
            p.skip_ws();
            let is_object = stack.last().is_some_and(Frame::is_object);
            match p.peek() {
                Some(b',') => {
                    p.at += 1;
                    if is_object {
                        key(&mut p, &mut stack)?;
                    }
                    break;
                }
                Some(b'}') if is_object => {
                    p.at += 1;
                    value = close(&mut stack);
                }
                Some(b']') if !is_object && !stack.is_empty() => {
                    p.at += 1;
                    value = close(&mut stack);
                }
                _ => return Err(p.fail("expected ',' or a closing bracket")),
            }
        }
    }
}

/// Reads `"key":` inside an object (kept only outside skipped subtrees).
fn key(p: &mut Parser<'_>, stack: &mut [Frame]) -> Result<(), Unreadable> {
    p.skip_ws();
    if p.peek() != Some(b'"') {
        return Err(p.fail("expected a key"));
    }
    let k = p.string()?;
    p.skip_ws();
    p.eat(b':')?;
    if let Some(Frame::Object(_, slot)) = stack.last_mut() {
        *slot = Some(k);
    }
    Ok(())
}

/// Closes the innermost container; returns its value, or None when it was
/// nested inside a skipped subtree that stays open.
fn close(stack: &mut Vec<Frame>) -> Option<Value> {
    match stack.pop()? {
        Frame::Array(items) => Some(Value::Array(items)),
        Frame::Object(map, _) => Some(Value::Object(map)),
        Frame::Skipped {
            mut objects,
            real_run,
        } => {
            objects.pop();
            if objects.is_empty() {
                Some(if real_run {
                    Value::String(REAL_RUN.into())
                } else {
                    Value::Null
                })
            } else {
                stack.push(Frame::Skipped { objects, real_run });
                None
            }
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn fail(&self, why: &'static str) -> Unreadable {
        Unreadable { at: self.at, why }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), Unreadable> {
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.fail("unexpected byte"))
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, Unreadable> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.fail("unknown literal"))
        }
    }

    fn number(&mut self) -> Result<Number, Unreadable> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        let literal = &self.text[start..self.at];
        if let Ok(i) = literal.parse::<i64>() {
            return Ok(Number::from(i));
        }
        if let Ok(u) = literal.parse::<u64>() {
            return Ok(Number::from(u));
        }
        let f: f64 = literal.parse().map_err(|_| Unreadable {
            at: start,
            why: "not a number",
        })?;
        let finite = if f.is_finite() {
            f
        } else if f > 0.0 {
            f64::MAX
        } else {
            -f64::MAX
        };
        Number::from_f64(finite).ok_or(Unreadable {
            at: start,
            why: "not a number",
        })
    }

    fn string(&mut self) -> Result<String, Unreadable> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let run_start = self.at;
            while !matches!(self.peek(), Some(b'"' | b'\\') | None) {
                self.at += 1;
            }
            out.push_str(&self.text[run_start..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.fail("unterminated escape"))?;
                    self.at += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.fail("unknown escape")),
                    }
                }
                _ => return Err(self.fail("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Unreadable> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.fail("short \\u escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.fail("bad \\u escape"))?;
        self.at += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, Unreadable> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.bytes[self.at..].starts_with(b"\\u") {
            self.at += 2;
            let lo = self.hex4()?;
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
            return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        Ok(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ordinary_jsonb_text_reads_as_serde_json_would() {
        let text =
            r#"{"a": [1, -2, 3.5, true, false, null], "b": {"c": "d\"\\\n\u0001é"}, "e": []}"#;
        assert_eq!(
            read(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(read("\"x\"").unwrap(), json!("x"));
        assert_eq!(read("{}").unwrap(), json!({}));
        assert_eq!(read("\"\\ud83d\\ude00\"").unwrap(), json!("😀"));
    }

    #[test]
    fn nesting_beyond_the_limit_is_kept_as_null_or_as_real_run() {
        let deep =
            |inner: &str| format!("{{\"k\": {}{inner}{}}}", "[".repeat(500), "]".repeat(500));
        let v = read(&deep("1")).unwrap();
        let mut cursor = &v["k"];
        let mut levels = 1;
        while let Value::Array(items) = cursor {
            cursor = &items[0];
            levels += 1;
        }
        assert_eq!(levels, MAX_DEPTH);
        // read_exact refuses what read truncates, and reads the rest alike.
        assert!(read_exact(&deep("1")).is_err());
        let shallow = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(read_exact(&shallow), read(&shallow));
        assert_eq!(read_exact(r#"{"a": "[[[[\"]]"}"#).unwrap()["a"], "[[[[\"]]");
        assert_eq!(cursor, &Value::Null);
        let v = read(&deep("\"REAL_RUN\"")).unwrap();
        assert!(crate::decide::payload::mentions_real_run(&v));
        // A key named REAL_RUN is not a value, first or not.
        let key = format!(
            "{{\"k\": {}{{\"a\": 2, \"REAL_RUN\": 1}}{}}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(!crate::decide::payload::mentions_real_run(
            &read(&key).unwrap()
        ));
        // Objects deep inside a skipped subtree.
        let objs = format!("{}\"REAL_RUN\"{}", "{\"a\": ".repeat(300), "}".repeat(300));
        assert!(crate::decide::payload::mentions_real_run(
            &read(&objs).unwrap()
        ));
    }

    #[test]
    fn numbers_beyond_f64_are_not_integers_and_over_every_cap() {
        let huge = format!("{{\"ttl_seconds\": 1{}}}", "0".repeat(400));
        let v = read(&huge).unwrap();
        assert_eq!(v["ttl_seconds"].as_i64(), None);
        assert_eq!(v["ttl_seconds"].as_f64(), Some(f64::MAX));
        let v = read(&format!("-1{}", "0".repeat(400))).unwrap();
        assert_eq!(v.as_f64(), Some(-f64::MAX));
        assert_eq!(read("18446744073709551615").unwrap(), json!(u64::MAX));
    }

    #[test]
    fn text_that_is_not_json_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "[1,",
            "{\"a\" 1}",
            "tru",
            "\"abc",
            "[1] x",
            "{\"a\": 1,}",
            "\"\\u12\"",
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }
}
