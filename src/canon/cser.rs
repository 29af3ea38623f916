//! cser-v1: the canonical bytes of a JSON document (RFC 8785, JSON
//! Canonicalization Scheme, restricted to integers) and their SHA-256.
//! One function, `digest`, computes every hash the project stores or
//! compares: manifest hashes, `apr_digest`, approvals' `payload_digest`.
//! Pure: no IO.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Integers beyond ±(2^53 − 1) have no exact IEEE-754 double, so RFC 8785
/// (which serializes numbers as ECMAScript does) cannot represent them
/// faithfully. cser-v1 refuses them rather than round.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CserError {
    #[error("not valid UTF-8 (at byte {0})")]
    InvalidUtf8(usize),
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("duplicate object key {0:?}")]
    DuplicateKey(String),
    #[error("number {0} is not an integer (cser-v1 allows integers only)")]
    NonInteger(String),
    #[error("integer {0} is outside ±(2^53-1), which RFC 8785 cannot represent exactly")]
    IntegerOutOfRange(String),
}

/// A lowercase hex SHA-256, as stored in `manifest_hash`, `apr_digest` and
/// `payload_digest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn of(bytes: &[u8]) -> Sha256Hex {
        let hash = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for b in hash {
            hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        Sha256Hex(hex)
    }

    /// Accepts exactly 64 lowercase hex digits, nothing else.
    pub fn parse(s: &str) -> Option<Sha256Hex> {
        let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Sha256Hex(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a JSON text strictly: UTF-8 only, no duplicate keys, integers only.
pub fn parse(bytes: &[u8]) -> Result<Value, CserError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(CserError::InvalidUtf8(e.valid_up_to()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let strict = StrictValue::deserialize(&mut de).map_err(|e| classify(&e))?;
    de.end().map_err(|e| CserError::Syntax(e.to_string()))?;
    Ok(strict.0)
}

/// The canonical text of a JSON value.
pub fn canonical(value: &Value) -> Result<String, CserError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// The cser-v1 hash of a JSON value: SHA-256 of its canonical UTF-8 bytes.
pub fn digest(value: &Value) -> Result<Sha256Hex, CserError> {
    canonical_digest(value).map(|(_, digest)| digest)
}

/// The canonical text of a JSON value and its cser-v1 hash, for callers
/// that keep or show the text too. The one place canonical JSON is hashed:
/// nothing else computes a SHA-256 of canonical text by hand.
pub fn canonical_digest(value: &Value) -> Result<(String, Sha256Hex), CserError> {
    let text = canonical(value)?;
    let digest = Sha256Hex::of(text.as_bytes());
    Ok((text, digest))
}

fn write_value(value: &Value, out: &mut String) -> Result<(), CserError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&integer_text(n)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // RFC 8785 §3.2.3: members sorted by the UTF-16 code units of
            // their names, compared as unsigned integers.
            let mut members: Vec<(Vec<u16>, &String, &Value)> = map
                .iter()
                .map(|(k, v)| (k.encode_utf16().collect(), k, v))
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (_, key, val)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(val, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn integer_text(n: &serde_json::Number) -> Result<String, CserError> {
    let wide: i128 = if let Some(i) = n.as_i64() {
        i128::from(i)
    } else if let Some(u) = n.as_u64() {
        i128::from(u)
    } else {
        return Err(CserError::NonInteger(n.to_string()));
    };
    if wide.abs() > MAX_SAFE_INTEGER {
        return Err(CserError::IntegerOutOfRange(wide.to_string()));
    }
    Ok(wide.to_string())
}

/// RFC 8785 §3.2.2.2: the two-character escapes where JSON has them, \u00xx
/// (lowercase hex) for the other control characters, everything else as is.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{09}' => out.push_str("\\t"),
            '\u{0A}' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\u{0D}' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Our errors travel through serde_json as custom messages with a prefix.
fn classify(e: &serde_json::Error) -> CserError {
    let text = e.to_string();
    for (prefix, make) in [
        (
            "cser:dup:",
            CserError::DuplicateKey as fn(String) -> CserError,
        ),
        ("cser:float:", CserError::NonInteger),
        ("cser:range:", CserError::IntegerOutOfRange),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            // serde_json appends " at line L column C"; keep only our part.
            let detail = rest.rsplit_once(" at line ").map_or(rest, |(d, _)| d);
            return make(detail.to_owned());
        }
    }
    CserError::Syntax(text)
}

/// A serde_json::Value that refuses duplicate keys and non-integers while it
/// is being read, before serde_json could silently keep the last duplicate.
struct StrictValue(Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_bool<E>(self, b: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(b)))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<StrictValue, E> {
        if i128::from(i).abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("cser:range:{i}")));
        }
        Ok(StrictValue(Value::from(i)))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<StrictValue, E> {
        if i128::from(u) > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("cser:range:{u}")));
        }
        Ok(StrictValue(Value::from(u)))
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<StrictValue, E> {
        Err(E::custom(format!("cser:float:{f}")))
    }
    fn visit_str<E>(self, s: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(StrictValue(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                // The key as it is: DuplicateKey's message quotes it once.
                return Err(de::Error::custom(format!("cser:dup:{key}")));
            }
            out.insert(key, v);
        }
        Ok(StrictValue(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Result<String, CserError> {
        canonical(&parse(text.as_bytes())?)
    }

    #[test]
    fn sorts_keys_by_utf16_code_units_not_utf8_bytes() {
        // U+FB33 (UTF-16 0xFB33) sorts after U+1F600 (UTF-16 0xD83D 0xDE00)
        // by code units, though its UTF-8 bytes sort before.
        let got = canon(r#"{"\ufb33":1,"\ud83d\ude00":2,"a":3,"\u0080":4}"#).unwrap();
        assert_eq!(got, "{\"a\":3,\"\u{80}\":4,\"\u{1F600}\":2,\"\u{FB33}\":1}");
    }

    #[test]
    fn rfc8785_string_escapes() {
        let got = canon(r#"["\u0000\b\t\n\f\r\u001f\"\\/\u007f€"]"#).unwrap();
        assert_eq!(got, "[\"\\u0000\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\u{7f}€\"]");
    }

    #[test]
    fn removes_insignificant_whitespace_and_keeps_array_order() {
        let got = canon(" { \"b\" : [ 3 , 1 , 2 ] ,\n\t\"a\" : { \"z\" : null , \"y\" : true } } ")
            .unwrap();
        assert_eq!(got, r#"{"a":{"y":true,"z":null},"b":[3,1,2]}"#);
    }

    #[test]
    fn integers_are_plain_decimal_and_floats_are_refused() {
        assert_eq!(
            canon("[0,1,-1,9007199254740991]").unwrap(),
            "[0,1,-1,9007199254740991]"
        );
        // "-0" reaches us as the float -0.0, indistinguishable from "-0.0":
        // refused rather than guessed.
        for bad in ["1.0", "1e2", "0.5", "-1.5E-3", "[1,2.0]", "-0"] {
            assert!(matches!(canon(bad), Err(CserError::NonInteger(_))), "{bad}");
        }
        for big in [
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551615",
        ] {
            assert!(
                matches!(canon(big), Err(CserError::IntegerOutOfRange(_))),
                "{big}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            canon(r#"{"a":1,"a":1}"#),
            Err(CserError::DuplicateKey("a".into()))
        );
        assert!(matches!(
            canon(r#"{"x":{"k":1,"k":2}}"#),
            Err(CserError::DuplicateKey(_))
        ));
    }

    #[test]
    fn invalid_utf8_and_trailing_garbage_are_refused() {
        assert_eq!(parse(b"{\"a\":\"\xff\"}"), Err(CserError::InvalidUtf8(6)));
        assert!(matches!(parse(b"{} {}"), Err(CserError::Syntax(_))));
        assert!(matches!(parse(br#"["\ud800"]"#), Err(CserError::Syntax(_))));
    }

    #[test]
    fn digest_is_sha256_of_canonical_bytes() {
        // sha256("{}") computed independently (sha256sum).
        let d = digest(&serde_json::json!({})).unwrap();
        assert_eq!(
            d.as_str(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let a = parse(br#"{"b":1, "a":[true]}"#).unwrap();
        let b = parse(b"{\n  \"a\": [ true ],\n  \"b\": 1\n}\n").unwrap();
        assert_eq!(digest(&a).unwrap(), digest(&b).unwrap());
    }

    /// RFC 8785 Appendix / test data: the "weird" key-sorting example.
    #[test]
    fn rfc8785_weird_keys_example() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input).unwrap(), want);
    }

    /// RFC 8785 test data "arrays" and "unicode" (no normalization).
    #[test]
    fn rfc8785_arrays_and_unicode_examples() {
        assert_eq!(
            canon(r#"[56, {"d": true, "10": null, "1": [ ]}]"#).unwrap(),
            r#"[56,{"1":[],"10":null,"d":true}]"#
        );
        assert_eq!(
            canon(r#"{"Unnormalized Unicode":"A\u030a"}"#).unwrap(),
            "{\"Unnormalized Unicode\":\"A\u{30a}\"}"
        );
    }

    #[test]
    fn sha256hex_parse_accepts_only_64_lowercase_hex() {
        let ok = "a".repeat(64);
        assert!(Sha256Hex::parse(&ok).is_some());
        assert!(Sha256Hex::parse(&"A".repeat(64)).is_none());
        assert!(Sha256Hex::parse(&"a".repeat(63)).is_none());
        assert!(Sha256Hex::parse(&format!("{}g", "a".repeat(63))).is_none());
        assert!(Sha256Hex::parse(&format!(" {}", "a".repeat(63))).is_none());
    }
}
