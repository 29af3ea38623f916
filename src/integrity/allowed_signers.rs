//! OpenSSH's `allowed_signers` file (sshsig.c, misc.c, match.c): parsing
//! it, and which keys it lists for a principal at a time. Pure: the text
//! and the time are passed in (the file is read by `approval_keys`). Never
//! verifies a signature (that is `approval::verify`) and never decides a
//! quorum.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use ssh_key::PublicKey;

/// The SSHSIG namespace of an approval signature.
pub const NAMESPACE: &str = "dot-apr-approval";

/// OpenSSH refuses (as no match) a sub-pattern this long or longer.
pub(crate) const MAX_SUBPATTERN: usize = 1023;

/// `*` matches any run of bytes, `?` any one byte, everything else itself;
/// case-sensitive, byte-wise, like OpenSSH's `match_pattern`.
fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    // Iterative glob with single-star backtracking: linear in practice and
    // never recursive, so a hostile pattern cannot blow the stack.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || (p[pi] != b'*' && p[pi] == s[si])) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// OpenSSH's `match_pattern_list(string, pattern, 0) == 1`: a comma-separated
/// list of patterns, each optionally negated with `!`; true when some
/// positive pattern matches and no negated one does.
pub(crate) fn matches_list(s: &str, list: &str) -> bool {
    // A C string ends at NUL: a name holding one is never the name OpenSSH
    // would compare, so it matches nothing.
    if s.as_bytes().contains(&0) {
        return false;
    }
    let (s, list) = (s.as_bytes(), list.as_bytes());
    let mut got_positive = false;
    let mut i = 0;
    while i < list.len() {
        let negated = list[i] == b'!';
        if negated {
            i += 1;
        }
        let start = i;
        while i < list.len() && list[i] != b',' && i - start < MAX_SUBPATTERN {
            i += 1;
        }
        if i - start >= MAX_SUBPATTERN {
            return false;
        }
        let sub = &list[start..i];
        if i < list.len() && list[i] == b',' {
            i += 1;
        }
        if match_pattern(s, sub) {
            if negated {
                return false;
            }
            got_positive = true;
        }
    }
    got_positive
}

/// One `allowed_signers` line.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) principals: String,
    pub(crate) namespaces: Option<String>,
    pub(crate) valid_after: Option<i64>,
    pub(crate) valid_before: Option<i64>,
    pub(crate) key: PublicKey,
}

impl Entry {
    pub(crate) fn namespace_allowed(&self) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| matches_list(NAMESPACE, list))
    }

    /// Why the entry is not valid at `t` (whole seconds, as OpenSSH's
    /// `time(NULL)`; both bounds inclusive, as sshsig.c compares).
    pub(crate) fn outside_validity(&self, t: i64) -> Option<String> {
        if let Some(after) = self.valid_after.filter(|&a| t < a) {
            return Some(format!(
                "valid-after {}, now {}; allowed signers line {}",
                show_time(after),
                show_time(t),
                self.line
            ));
        }
        if let Some(before) = self.valid_before.filter(|&b| t > b) {
            return Some(format!(
                "valid-before {}, now {}; allowed signers line {}",
                show_time(before),
                show_time(t),
                self.line
            ));
        }
        None
    }
}

fn show_time(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// The keys an `allowed_signers` file lists, parsed once; every line was
/// well-formed (a malformed one refuses the whole file: fail closed).
#[derive(Clone, Debug)]
pub struct AllowedSigners {
    pub(crate) entries: Vec<Entry>,
}

/// How a local (no `Z`) time is turned into seconds: given the broken-down
/// time, the UTC offset in seconds to subtract.
pub(crate) type LocalOffset<'a> = &'a dyn Fn(NaiveDateTime) -> i64;

impl AllowedSigners {
    /// Parses `allowed_signers` text; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<AllowedSigners, String> {
        parse_with(text, source, &local_standard_offset)
    }

    /// The keys listed for `principal` that are allowed for the approval
    /// namespace and valid at `now`: the candidates to ask an agent for.
    pub fn listed_for(&self, principal: &str, now: DateTime<Utc>) -> Vec<PublicKey> {
        let t = now.timestamp();
        let mut keys: Vec<PublicKey> = Vec::new();
        for e in &self.entries {
            if matches_list(principal, &e.principals)
                && e.namespace_allowed()
                && e.outside_validity(t).is_none()
                && !keys.iter().any(|k| k.key_data() == e.key.key_data())
            {
                keys.push(e.key.clone());
            }
        }
        keys
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `parse`, with the local-time rule given (tests pin a time zone).
pub(crate) fn parse_with(
    text: &str,
    source: &str,
    local: LocalOffset,
) -> Result<AllowedSigners, String> {
    let mut entries = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let at = format!("{source}:{}", n + 1);
        if let Some(entry) = parse_line(line, n + 1, local).map_err(|e| format!("{at}: {e}"))? {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        return Err(format!("{source} lists no key"));
    }
    Ok(AllowedSigners { entries })
}

pub(crate) const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// One line: `principals [options] keytype base64 [comment]`.
fn parse_line(line: &str, n: usize, local: LocalOffset) -> Result<Option<Entry>, String> {
    let rest = line.trim_start_matches(WHITESPACE);
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(None);
    }
    let (principals, rest) = principals_field(rest)?;
    let (options, key_text) = if starts_with_key_type(rest) {
        (None, rest)
    } else {
        let end = end_of_options(rest)?;
        let key_text = rest[end..].trim_start_matches(WHITESPACE);
        if key_text.is_empty() {
            return Err("missing key".into());
        }
        (Some(&rest[..end]), key_text)
    };
    let key = PublicKey::from_openssh(key_text.trim_end_matches(WHITESPACE))
        .map_err(|e| format!("invalid key ({e})"))?;
    let opts = match options {
        None => Options::default(),
        Some(o) => parse_options(o, local).map_err(|e| format!("bad options: {e}"))?,
    };
    Ok(Some(Entry {
        line: n,
        principals,
        namespaces: opts.namespaces,
        valid_after: opts.valid_after,
        valid_before: opts.valid_before,
        key,
    }))
}

/// The principals field, as OpenSSH's `strdelimw`: up to whitespace, or a
/// double-quoted run (the quotes removed). The key must follow.
fn principals_field(s: &str) -> Result<(String, &str), String> {
    let Some(stop) = s.find([' ', '\t', '\r', '\n', '"']) else {
        return Err("invalid line (a principals field and no key)".into());
    };
    let (field, rest) = if s[stop..].starts_with('"') {
        let inner = &s[stop + 1..];
        let Some(close) = inner.find('"') else {
            return Err("invalid line (the principals' quote is not closed)".into());
        };
        let field = format!("{}{}", &s[..stop], &inner[..close]);
        (field, &inner[close + 1..])
    } else {
        (s[..stop].to_owned(), &s[stop..])
    };
    let rest = rest.trim_start_matches(WHITESPACE);
    if rest.is_empty() {
        return Err("invalid line (a principals field and no key)".into());
    }
    Ok((field, rest))
}

/// Whether the next word names a key type (so there are no options): what
/// makes OpenSSH's first `sshkey_read` succeed.
fn starts_with_key_type(s: &str) -> bool {
    let word = s.split(WHITESPACE).next().unwrap_or("");
    matches!(
        word.parse::<ssh_key::Algorithm>(),
        Ok(a) if !matches!(a, ssh_key::Algorithm::Other(_))
    ) || word.ends_with("-cert-v01@openssh.com")
}

/// OpenSSH's `sshkey_advance_past_options`: the options end at the first
/// unquoted space or tab; `\"` does not toggle quoting.
fn end_of_options(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() && (quoted || (b[i] != b' ' && b[i] != b'\t')) {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if b[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if i >= b.len() && quoted {
        return Err("invalid options (a quote is not closed)".into());
    }
    Ok(i.min(b.len()))
}

#[derive(Default)]
struct Options {
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// OpenSSH's `sshsigopt_parse`. `cert-authority` is refused: certificates
/// are not how approvers are named here, and a CA line silently ignored
/// would be a trust decision nobody made.
fn parse_options(mut o: &str, local: LocalOffset) -> Result<Options, String> {
    let mut opts = Options::default();
    while !o.is_empty() {
        if strip_prefix_ignore_case(o, "cert-authority").is_some() {
            return Err(
                "cert-authority is not supported for approvals (list each approver's own key)"
                    .into(),
            );
        } else if let Some(v) = strip_prefix_ignore_case(o, "namespaces=") {
            if opts.namespaces.is_some() {
                return Err("multiple \"namespaces\" clauses".into());
            }
            let (value, after) = dequote(v)?;
            opts.namespaces = Some(value);
            o = after;
        } else if let Some(v) = strip_prefix_ignore_case(o, "valid-after=") {
            if opts.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses".into());
            }
            let (value, after) = dequote(v)?;
            let t = parse_time(&value, local)
                .ok_or_else(|| format!("invalid \"valid-after\" time {value:?}"))?;
            opts.valid_after = Some(t);
            o = after;
        } else if let Some(v) = strip_prefix_ignore_case(o, "valid-before=") {
            if opts.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses".into());
            }
            let (value, after) = dequote(v)?;
            let t = parse_time(&value, local)
                .ok_or_else(|| format!("invalid \"valid-before\" time {value:?}"))?;
            opts.valid_before = Some(t);
            o = after;
        }
        if o.is_empty() {
            break;
        }
        let Some(next) = o.strip_prefix(',') else {
            let name = o.split([',', '=']).next().unwrap_or(o);
            return Err(format!("unknown key option {name:?}"));
        };
        if next.is_empty() {
            return Err("unexpected end-of-options".into());
        }
        o = next;
    }
    if let (Some(after), Some(before)) = (opts.valid_after, opts.valid_before) {
        if before <= after {
            return Err("\"valid-before\" time is before \"valid-after\"".into());
        }
    }
    Ok(opts)
}

/// OpenSSH's `opt_dequote`: `"…"` with `\"` for a quote.
fn dequote(s: &str) -> Result<(String, &str), String> {
    let Some(body) = s.strip_prefix('"') else {
        return Err("missing start quote".into());
    };
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
            i += 1;
        }
        out.push(b[i]);
        i += 1;
    }
    if i >= b.len() {
        return Err("missing end quote".into());
    }
    // Only ASCII was looked at, so the bytes are still UTF-8.
    let value = String::from_utf8(out).map_err(|_| "an option is not text".to_owned())?;
    Ok((value, &body[i + 1..]))
}

/// OpenSSH's `parse_absolute_time`: `YYYYMMDD`, `YYYYMMDDHHMM` or
/// `YYYYMMDDHHMMSS`, UTC with a trailing `Z` (or `UTC`, any case), local
/// time otherwise. Fields are range-checked as glibc's `strptime` does and
/// then normalised as `timegm`/`mktime` do (20260230 is 2 March). Seconds
/// since the epoch; zero or before is refused, as OpenSSH refuses 0.
pub(crate) fn parse_time(s: &str, local: LocalOffset) -> Option<i64> {
    let (digits, utc) = if s.len() > 1 && s[s.len() - 1..].eq_ignore_ascii_case("z") {
        (&s[..s.len() - 1], true)
    } else if s.len() > 3 && s.get(s.len() - 3..)?.eq_ignore_ascii_case("utc") {
        (&s[..s.len() - 3], true)
    } else {
        (s, false)
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { digits.get(from..to)?.parse().ok() };
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, sec) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8, 10)?, num(10, 12)?, 0),
        _ => (num(8, 10)?, num(10, 12)?, num(12, 14)?),
    };
    let in_range = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..=23).contains(&h)
        && (0..=59).contains(&mi)
        && (0..=61).contains(&sec);
    if !in_range {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(mo).ok()?, 1)?;
    let naive = first.and_hms_opt(0, 0, 0)?
        + chrono::TimeDelta::days(d - 1)
        + chrono::TimeDelta::seconds(h * 3600 + mi * 60 + sec);
    let as_utc = naive.and_utc().timestamp();
    let t = if utc { as_utc } else { as_utc - local(naive) };
    (t > 0).then_some(t)
}

/// The machine's standard-time UTC offset at a local time. OpenSSH calls
/// `mktime` with `tm_isdst = 0`, which reads the time as standard time
/// even in summer; the standard offset is the smaller of January's and
/// July's (summer time moves clocks forward).
fn local_standard_offset(naive: NaiveDateTime) -> i64 {
    use chrono::Datelike as _;
    let offset_at = |month: u32| -> Option<i64> {
        let probe = NaiveDate::from_ymd_opt(naive.year(), month, 1)?.and_hms_opt(12, 0, 0)?;
        Some(i64::from(
            chrono::Local
                .offset_from_utc_datetime(&probe)
                .fix()
                .local_minus_utc(),
        ))
    };
    match (offset_at(1), offset_at(7)) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0,
    }
}
