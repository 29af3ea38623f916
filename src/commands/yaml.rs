//! A JSON value written as YAML (block style), for `-o yaml`. Emitting
//! only, and only the subset JSON needs: every string and every key is a
//! double-quoted scalar, written exactly as JSON writes a string (JSON's
//! escapes are a subset of YAML's double-quoted ones), so no value can be
//! read back as another type (`no`, `1e3`, `~`) or break the structure.

use serde_json::Value;

/// `value` as a YAML document, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => block(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => block(&mut out, value, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// A scalar, or an empty collection, on one line.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A double-quoted scalar. Everything outside the characters YAML prints
/// as themselves is escaped, the line breaks JSON leaves raw (U+0085,
/// U+2028, U+2029) and the byte-order mark included: a reader folds or
/// drops those, and the value would not read back the same.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..
                if !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}') =>
            {
                out.push(c)
            }
            // Below U+10000 (the printable planes above are taken whole).
            other => out.push_str(&format!("\\u{:04X}", u32::from(other))),
        }
    }
    out.push('"');
    out
}

/// A number as both YAML 1.1 and 1.2 read it: a float keeps a dot in its
/// mantissa and a sign on its exponent (`1e300` is a string to YAML 1.1).
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if n.is_f64() {
        if let Some((mantissa, exp)) = text.split_once(['e', 'E']) {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_owned()
            } else {
                format!("{mantissa}.0")
            };
            let exp = if exp.starts_with(['-', '+']) {
                exp.to_owned()
            } else {
                format!("+{exp}")
            };
            return format!("{mantissa}e{exp}");
        }
    }
    text
}

/// Whether `v` is written on lines of its own (a non-empty collection).
fn nested(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

/// A non-empty mapping or sequence, each entry on its own line at `indent`.
fn block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, item) in m {
                out.push_str(&format!("{pad}{}:", quote(k)));
                entry(out, item, indent + 2);
            }
        }
        Value::Array(a) => {
            for item in a {
                if nested(item) {
                    // `- ` takes the place of the first line's indent:
                    // `- "key": value`, then the rest of the entry below it.
                    let mut inner = String::new();
                    block(&mut inner, item, indent + 2);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                } else {
                    out.push_str(&format!("{pad}- {}\n", inline(item)));
                }
            }
        }
        _ => {}
    }
}

/// What follows a `key:` or a `-`: a scalar on the same line, or the
/// collection on the lines below, indented.
fn entry(out: &mut String, item: &Value, indent: usize) {
    if nested(item) {
        out.push('\n');
        block(out, item, indent);
    } else {
        out.push(' ');
        out.push_str(&inline(item));
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_always_quoted_and_nesting_is_indented() {
        let v = json!({
            "no": "no", "n": 1.5, "t": true, "z": null, "e": [], "o": {},
            "list": [{"a": "x\ny", "b": ["1e3", "~"]}, "- not a list", [1]],
            "k: v": "#comment",
        });
        let y = to_yaml(&v);
        assert!(y.contains("\"no\": \"no\"\n"), "{y}");
        assert!(
            y.contains("\"e\": []\n") && y.contains("\"o\": {}\n"),
            "{y}"
        );
        assert!(
            y.contains(
                "\"list\":\n  - \"a\": \"x\\ny\"\n    \"b\":\n      - \"1e3\"\n      - \"~\"\n"
            ),
            "{y}"
        );
        assert!(y.contains("  - \"- not a list\"\n  - - 1\n"), "{y}");
        assert!(y.contains("\"k: v\": \"#comment\"\n"), "{y}");
        assert_eq!(to_yaml(&json!("x")), "\"x\"\n");
        assert_eq!(to_yaml(&json!([])), "[]\n");
    }
}
