//! Signed approvals (SPEC §10): the message an approver signs, OpenSSH's
//! `allowed_signers` file, and the check that decides whether an `approve`
//! row counts, exactly as `ssh-keygen -Y verify -f FILE -I NAME -n
//! dot-apr-approval` would.
//!
//! The SSHSIG format and the OpenSSH key formats are RustCrypto's `ssh-key`,
//! never hand-written here. The top half is pure: time is passed in, no file
//! or socket is touched. The loaders and signers at the bottom do the IO
//! (key files, the terminal, ssh-agent). This module never talks to the
//! database and never decides a quorum: it only says whether one signature
//! counts, and why not.

use crate::canon::cser;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use ssh_encoding::{Decode as _, Encode as _};
use ssh_key::{HashAlg, LineEnding, PublicKey, SshSig};
use std::path::Path;

/// The SSHSIG namespace of an approval signature.
pub const NAMESPACE: &str = "dot-apr-approval";
/// The `protocol` member of the signed message.
pub const PROTOCOL: &str = "dot-apr-approval-v1";
/// Environment variable standing in for `--allowed-signers`.
pub const ALLOWED_SIGNERS_ENV: &str = "DOT_ABS_ALLOWED_SIGNERS";
/// Environment variable standing in for `review --sign-key`.
pub const APPROVER_KEY_ENV: &str = "DOT_ABS_APPROVER_KEY";

/// An armored signature larger than this is not one an approver made.
const MAX_ARMORED: usize = 16 * 1024;
/// An allowed-signers file is a line per approver key.
const MAX_ALLOWED_SIGNERS_FILE: u64 = 1024 * 1024;
/// Private and public key files are a few KiB at most.
const MAX_KEY_FILE: u64 = 64 * 1024;
/// OpenSSH's PEM line width for armored signatures.
const ARMOR_LINE_WIDTH: usize = 70;
/// OpenSSH refuses (as no match) a sub-pattern this long or longer.
const MAX_SUBPATTERN: usize = 1023;

/// The bytes an approver signs: cser-v1 of the vote, no trailing newline.
pub fn message(
    apr_code: &str,
    approver: &str,
    decision: &str,
    payload_digest: &str,
) -> Result<Vec<u8>, String> {
    let vote = json!({
        "apr_code": apr_code,
        "approver": approver,
        "decision": decision,
        "payload_digest": payload_digest,
        "protocol": PROTOCOL,
    });
    cser::canonical(&vote)
        .map(String::into_bytes)
        .map_err(|e| format!("the approval message has no cser-v1 form: {e}"))
}

// ---------------------------------------------------------------------------
// patterns (OpenSSH match.c, match_pattern_list with dolower = 0)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// allowed_signers (OpenSSH sshsig.c, misc.c)
// ---------------------------------------------------------------------------

/// One `allowed_signers` line.
#[derive(Clone, Debug)]
struct Entry {
    line: usize,
    principals: String,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    key: PublicKey,
}

impl Entry {
    fn namespace_allowed(&self) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| matches_list(NAMESPACE, list))
    }

    /// Why the entry is not valid at `t` (whole seconds, as OpenSSH's
    /// `time(NULL)`; both bounds inclusive, as sshsig.c compares).
    fn outside_validity(&self, t: i64) -> Option<String> {
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
    entries: Vec<Entry>,
}

/// How a local (no `Z`) time is turned into seconds: given the broken-down
/// time, the UTC offset in seconds to subtract.
type LocalOffset<'a> = &'a dyn Fn(NaiveDateTime) -> i64;

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
fn parse_with(text: &str, source: &str, local: LocalOffset) -> Result<AllowedSigners, String> {
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

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

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
fn parse_time(s: &str, local: LocalOffset) -> Option<i64> {
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

// ---------------------------------------------------------------------------
// verification (pure)
// ---------------------------------------------------------------------------

/// Why an approval's signature does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCounted {
    NoSignature,
    Unreadable(String),
    WrongNamespace(String),
    KeyNotListed,
    NamespaceNotAllowed,
    OutsideValidity(String),
    BadSignature,
}

impl NotCounted {
    /// Short human text for the quorum SKIP line.
    pub fn reason(&self) -> String {
        match self {
            NotCounted::NoSignature => "no signature".into(),
            NotCounted::Unreadable(why) => format!("an unreadable signature ({why})"),
            NotCounted::WrongNamespace(ns) => {
                format!("a signature in namespace {ns:?}, not {NAMESPACE:?}")
            }
            NotCounted::KeyNotListed => {
                "signed by a key the allowed signers do not list for this approver".into()
            }
            NotCounted::NamespaceNotAllowed => {
                format!("a key not allowed for namespace {NAMESPACE}")
            }
            NotCounted::OutsideValidity(when) => {
                format!("a key outside its validity ({when})")
            }
            NotCounted::BadSignature => "a signature that does not verify over this vote \
                 (another APR, decision or payload digest)"
                .into(),
        }
    }
}

impl std::fmt::Display for NotCounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// A signature that counts. Only `verify` builds one (the private field),
/// so whatever takes a `Verified` knows the check ran.
// Not #[non_exhaustive]: that would still let the rest of this crate
// build one; a private field keeps it to this module.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Lowercase hex SHA-256 of the decoded binary SSHSIG blob.
    pub signature_sha256: String,
    /// `SHA256:…` of the signing key.
    pub fingerprint: String,
    _only_verify_builds_this: (),
}

/// Decides whether `armored` is `principal`'s signature over `message` in
/// the approval namespace, by a key `allowed` lists for that principal,
/// allowed for the namespace and valid at `now`. Accepts what `ssh-keygen
/// -Y verify` accepts (SSHSIG v1, hash sha256 or sha512, RSA only with
/// rsa-sha2-256/512); the reasons come in the order of `NotCounted`.
pub fn verify(
    allowed: &AllowedSigners,
    principal: &str,
    message: &[u8],
    armored: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Verified, NotCounted> {
    let armored = armored.ok_or(NotCounted::NoSignature)?;
    if armored.trim().is_empty() {
        return Err(NotCounted::NoSignature);
    }
    if armored.len() > MAX_ARMORED {
        return Err(NotCounted::Unreadable(format!(
            "{} bytes, more than {MAX_ARMORED}",
            armored.len()
        )));
    }
    let (blob, sig) = dearmor(armored).map_err(NotCounted::Unreadable)?;
    if sig.namespace() != NAMESPACE {
        return Err(NotCounted::WrongNamespace(sig.namespace().to_owned()));
    }
    let signer = sig.public_key();
    let listed: Vec<&Entry> = allowed
        .entries
        .iter()
        .filter(|e| e.key.key_data() == signer && matches_list(principal, &e.principals))
        .collect();
    if listed.is_empty() {
        return Err(NotCounted::KeyNotListed);
    }
    let in_namespace: Vec<&&Entry> = listed.iter().filter(|e| e.namespace_allowed()).collect();
    if in_namespace.is_empty() {
        return Err(NotCounted::NamespaceNotAllowed);
    }
    let t = now.timestamp();
    if let Some(first) = in_namespace.first() {
        if in_namespace.iter().all(|e| e.outside_validity(t).is_some()) {
            let why = first.outside_validity(t).unwrap_or_default();
            return Err(NotCounted::OutsideValidity(why));
        }
    }
    // OpenSSH refuses RSA signatures made with SHA-1 (RSA_SIGN_ALLOWED);
    // ssh-key cannot even decode one, but say so rather than rely on it.
    if let ssh_key::Algorithm::Rsa { hash: None } = sig.algorithm() {
        return Err(NotCounted::BadSignature);
    }
    let key = PublicKey::from(signer.clone());
    key.verify(NAMESPACE, message, &sig)
        .map_err(|_| NotCounted::BadSignature)?;
    Ok(Verified {
        signature_sha256: hex(&Sha256::digest(&blob)),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        _only_verify_builds_this: (),
    })
}

/// The binary blob inside the armor, and the signature decoded from it
/// with nothing left over.
fn dearmor(armored: &str) -> Result<(Vec<u8>, SshSig), String> {
    let text = armored.trim_matches(WHITESPACE);
    let mut decoder = ssh_encoding::pem::Decoder::new_wrapped(text.as_bytes(), ARMOR_LINE_WIDTH)
        .map_err(|e| format!("not an SSH SIGNATURE armor: {e}"))?;
    if decoder.type_label() != "SSH SIGNATURE" {
        return Err(format!(
            "armor labelled {:?}, not \"SSH SIGNATURE\"",
            decoder.type_label()
        ));
    }
    let mut blob = Vec::new();
    decoder
        .decode_to_end(&mut blob)
        .map_err(|e| format!("bad base64: {e}"))?;
    let mut reader: &[u8] = &blob;
    let sig = SshSig::decode(&mut reader).map_err(|e| format!("not an SSHSIG: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes after the SSHSIG", reader.len()));
    }
    Ok((blob, sig))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// loaders and signers (IO)
// ---------------------------------------------------------------------------

/// Loads the allowed-signers file. Whoever can write it decides whose
/// approvals count, so it is checked like the trusted keys: a regular file,
/// not writable by group or others, owned by root or the running user.
pub fn load_allowed_signers(path: &Path) -> Result<AllowedSigners, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_ALLOWED_SIGNERS_FILE)
        .map_err(|e| format!("allowed signers {shown}: {}", e.describe()))?;
    let uid = crate::sys::user::running_uid()?;
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(format!(
            "allowed signers {shown} is owned by uid {}, not by the running user (uid {uid}) or root",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "allowed signers {shown} has mode {mode:04o}: group or others may write it; chmod go-w it"
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| format!("allowed signers {shown} is not text"))?;
    AllowedSigners::parse(&text, &shown.to_string())
}

/// Whether `text` is an OpenSSH private key file (not a `.pub` line).
pub fn is_private_key_file(text: &str) -> bool {
    text.trim_start()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
}

/// Reads an OpenSSH public key (`.pub`) file: its first key line.
pub fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    let shown = path.display();
    let bytes = crate::sys::file::read_regular(path, MAX_KEY_FILE)
        .map_err(|e| format!("public key {shown}: {}", e.describe()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("public key {shown} is not text"))?;
    if is_private_key_file(&text) {
        return Err(format!(
            "{shown} is a private key; give its public half ({shown}.pub)"
        ));
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("public key {shown} holds no key"))?;
    PublicKey::from_openssh(line)
        .map_err(|e| format!("public key {shown}: not an OpenSSH key ({e})"))
}

/// Signs `message` with an OpenSSH private key file, as `ssh-keygen -Y sign
/// -n dot-apr-approval -f KEY` does (sha512). The key must be a regular
/// file of the running user that group and others cannot read. An
/// encrypted key's passphrase is read from the terminal, without echo.
pub fn sign_with_key_file(path: &Path, message: &[u8]) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let (bytes, meta) = crate::sys::file::read_regular_with_meta(path, MAX_KEY_FILE)
        .map_err(|e| format!("approval key {shown}: {}", e.describe()))?;
    let uid = crate::sys::user::running_uid()?;
    if meta.uid() != uid {
        return Err(format!(
            "approval key {shown} is owned by uid {}, not by the user signing (uid {uid})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "approval key {shown} has mode {mode:04o}: group or others may use it; chmod 600 it"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("approval key {shown} is not text"))?;
    if !is_private_key_file(&text) {
        return Err(format!(
            "approval key {shown} is not an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)"
        ));
    }
    let mut key = ssh_key::PrivateKey::from_openssh(&text)
        .map_err(|e| format!("approval key {shown}: {e}"))?;
    if key.is_encrypted() {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_err()
        {
            return Err(format!(
                "approval key {shown} is encrypted and there is no terminal to ask for its passphrase; \
                 load it into ssh-agent (ssh-add) and sign with the agent, or use an unencrypted key"
            ));
        }
        let passphrase = rpassword::prompt_password(format!("Enter passphrase for {shown}: "))
            .map_err(|e| format!("cannot read the passphrase for {shown}: {e}"))?;
        key = key
            .decrypt(passphrase.as_bytes())
            .map_err(|_| format!("approval key {shown}: wrong passphrase"))?;
    }
    let sig = match key.key_data() {
        ssh_key::private::KeypairData::Rsa(rsa_key) => sign_rsa(rsa_key, message),
        _ => key.sign(NAMESPACE, HashAlg::Sha512, message),
    }
    .map_err(|e| format!("cannot sign with {shown}: {e}"))?;
    armor(&sig)
}

/// An SSHSIG by an RSA key (rsa-sha2-512, as ssh-keygen signs). ssh-key
/// 0.6.7's own RSA signer builds the private key from primes (p, p), not
/// (p, q), and always fails; the key is built here from the file's own
/// components and only the PKCS#1 v1.5 step is done outside ssh-key.
fn sign_rsa(key: &ssh_key::private::RsaKeypair, message: &[u8]) -> Result<SshSig, ssh_key::Error> {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use rsa::traits::PublicKeyParts as _;
    let int = |m: &ssh_key::Mpint| -> Result<rsa::BigUint, ssh_key::Error> {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or(ssh_key::Error::Crypto)
    };
    let private = rsa::RsaPrivateKey::from_components(
        int(&key.public.n)?,
        int(&key.public.e)?,
        int(&key.private.d)?,
        vec![int(&key.private.p)?, int(&key.private.q)?],
    )
    .map_err(|_| ssh_key::Error::Crypto)?;
    // OpenSSH refuses RSA keys under 2048 bits; so does ssh-key's verifier.
    if private.size() * 8 < 2048 {
        return Err(ssh_key::Error::Crypto);
    }
    let signed_data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)?;
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(private)
        .try_sign(&signed_data)
        .map_err(|_| ssh_key::Error::Crypto)?;
    let signature = ssh_key::Signature::new(
        ssh_key::Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        signature.to_vec(),
    )?;
    let sig = SshSig::new(
        ssh_key::public::KeyData::Rsa(key.public.clone()),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )?;
    // Never hand out a signature that does not verify under the key's
    // public half (a file whose components do not belong together).
    PublicKey::from(sig.public_key().clone()).verify(NAMESPACE, message, &sig)?;
    Ok(sig)
}

fn armor(sig: &SshSig) -> Result<String, String> {
    let mut text = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| format!("cannot armor the signature: {e}"))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

// ssh-agent protocol (draft-miller-ssh-agent).
const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
const SSH_AGENT_RSA_SHA2_512: u32 = 4;
/// OpenSSH's agent caps messages at 256 KiB.
const MAX_AGENT_REPLY: usize = 256 * 1024;
const AGENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One request, one reply: (type, body).
fn agent_call(sock: &Path, kind: u8, body: &[u8]) -> Result<(u8, Vec<u8>), String> {
    use std::io::{Read as _, Write as _};
    let shown = sock.display();
    let fail = |what: &str, e: std::io::Error| format!("ssh-agent {shown}: {what}: {e}");
    let mut stream =
        std::os::unix::net::UnixStream::connect(sock).map_err(|e| fail("cannot connect", e))?;
    stream
        .set_read_timeout(Some(AGENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(AGENT_TIMEOUT)))
        .map_err(|e| fail("cannot set a timeout", e))?;
    let len = u32::try_from(body.len() + 1)
        .map_err(|_| format!("ssh-agent {shown}: request too large"))?;
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(kind);
    frame.extend_from_slice(body);
    stream
        .write_all(&frame)
        .map_err(|e| fail("cannot write", e))?;
    let mut head = [0u8; 4];
    stream
        .read_exact(&mut head)
        .map_err(|e| fail("no reply", e))?;
    let len = u32::from_be_bytes(head) as usize;
    if len == 0 || len > MAX_AGENT_REPLY {
        return Err(format!("ssh-agent {shown}: a reply of {len} bytes"));
    }
    let mut reply = vec![0u8; len];
    stream
        .read_exact(&mut reply)
        .map_err(|e| fail("a reply cut short", e))?;
    let kind = reply.remove(0);
    Ok((kind, reply))
}

fn encoding_error(e: impl std::fmt::Display) -> String {
    format!("a malformed ssh-agent message: {e}")
}

/// The public keys an ssh-agent holds (certificates and key types this
/// build cannot use are left out).
pub fn agent_identities(sock: &Path) -> Result<Vec<PublicKey>, String> {
    let (kind, body) = agent_call(sock, SSH_AGENTC_REQUEST_IDENTITIES, &[])?;
    if kind != SSH_AGENT_IDENTITIES_ANSWER {
        return Err(format!(
            "ssh-agent {}: answered message type {kind} to a request for identities",
            sock.display()
        ));
    }
    let mut reader: &[u8] = &body;
    let count = u32::decode(&mut reader).map_err(encoding_error)?;
    let mut keys = Vec::new();
    for _ in 0..count {
        let blob = Vec::<u8>::decode(&mut reader).map_err(encoding_error)?;
        let comment = String::decode(&mut reader).map_err(encoding_error)?;
        if let Ok(key) = PublicKey::from_bytes(&blob) {
            let mut key = key;
            key.set_comment(comment);
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Signs `message` with `key` held by the ssh-agent at `sock`: the SSHSIG
/// signed data is built by ssh-key, the agent signs it, and the result is
/// armored as `ssh-keygen -Y sign` writes it.
pub fn sign_with_agent(sock: &Path, key: &PublicKey, message: &[u8]) -> Result<String, String> {
    let signed_data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| format!("cannot build the data to sign: {e}"))?;
    let mut key_blob = Vec::new();
    key.key_data()
        .encode(&mut key_blob)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let flags = if matches!(key.algorithm(), ssh_key::Algorithm::Rsa { .. }) {
        SSH_AGENT_RSA_SHA2_512
    } else {
        0
    };
    let mut body = Vec::new();
    key_blob
        .encode(&mut body)
        .and_then(|()| signed_data.encode(&mut body))
        .and_then(|()| flags.encode(&mut body))
        .map_err(encoding_error)?;
    let (kind, reply) = agent_call(sock, SSH_AGENTC_SIGN_REQUEST, &body)?;
    let fp = key.fingerprint(HashAlg::Sha256);
    match kind {
        SSH_AGENT_SIGN_RESPONSE => {}
        SSH_AGENT_FAILURE => {
            return Err(format!(
                "ssh-agent {} refused to sign with {fp} (is that key loaded? ssh-add -l)",
                sock.display()
            ))
        }
        other => {
            return Err(format!(
                "ssh-agent {}: answered message type {other} to a sign request",
                sock.display()
            ))
        }
    }
    let mut reader: &[u8] = &reply;
    let sig_blob = Vec::<u8>::decode(&mut reader).map_err(encoding_error)?;
    let signature = ssh_key::Signature::try_from(sig_blob.as_slice()).map_err(encoding_error)?;
    let sig = SshSig::new(
        key.key_data().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .map_err(|e| format!("cannot build the signature: {e}"))?;
    // An agent that signs with another key, or badly, must not produce an
    // approval that only fails later at the recount.
    key.verify(NAMESPACE, message, &sig).map_err(|_| {
        format!(
            "ssh-agent {} returned a signature that does not verify",
            sock.display()
        )
    })?;
    armor(&sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::private::{Ed25519Keypair, PrivateKey};

    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
    }

    fn pub_line(k: &PrivateKey) -> String {
        k.public_key().to_openssh().unwrap()
    }

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn utc_only(_: NaiveDateTime) -> i64 {
        0
    }

    fn parse(text: &str) -> Result<AllowedSigners, String> {
        parse_with(text, "signers", &utc_only)
    }

    fn vote() -> Vec<u8> {
        message("APR-7", "alice", "approve", &"a".repeat(64)).unwrap()
    }

    fn sign(k: &PrivateKey, namespace: &str, msg: &[u8]) -> String {
        k.sign(namespace, HashAlg::Sha512, msg)
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap()
    }

    #[test]
    fn the_message_is_the_cser_v1_bytes_of_the_vote_without_a_newline() {
        // RFC 8785 orders members by UTF-16 code units: "approver" < "apr_code".
        let m = message("APR-7", "alice", "approve", "ab").unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            r#"{"approver":"alice","apr_code":"APR-7","decision":"approve","payload_digest":"ab","protocol":"dot-apr-approval-v1"}"#
        );
        let m = message("A", "\u{e9}\"", "reject", "h").unwrap();
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "{\"approver\":\"\u{e9}\\\"\",\"apr_code\":\"A\",\"decision\":\"reject\",\"payload_digest\":\"h\",\"protocol\":\"dot-apr-approval-v1\"}"
        );
    }

    #[test]
    fn patterns_match_as_openssh_match_pattern_list_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("alice", "alice", true),
            ("alice", "Alice", false),
            ("alice", "bob,alice", true),
            ("alice", "al*", true),
            ("alice", "*", true),
            ("alice", "a?ice", true),
            ("alice", "a?ce", false),
            ("alice", "*e", true),
            ("alice", "*x*", false),
            ("alice", "*,!alice", false),
            ("alice", "!alice,*", false),
            ("bob", "*,!alice", true),
            ("alice", "!bob", false),
            ("", "", false),
            ("", "*", true),
            ("a*b", "a\\*b", false),
            ("ab", "a**b", true),
            ("alice@example.com", "*@example.com", true),
            ("alice@example.com.evil", "*@example.com", false),
            ("al\0ice", "*", false),
        ];
        for (s, list, want) in cases {
            assert_eq!(matches_list(s, list), *want, "{s:?} against {list:?}");
        }
        let long = "a".repeat(MAX_SUBPATTERN);
        assert!(
            !matches_list(&long, &long),
            "OpenSSH gives up on a sub-pattern this long"
        );
    }

    #[test]
    fn each_malformed_line_refuses_the_file_naming_the_line() {
        let k = pub_line(&key(1));
        let cases: Vec<(String, &str)> = vec![
            ("alice".into(), "invalid line"),
            ("alice   ".into(), "invalid line"),
            (format!("\"alice {k}"), "quote is not closed"),
            (format!("alice bogus {k}"), "unknown key option \"bogus\""),
            (
                format!("alice cert-authority {k}"),
                "cert-authority is not supported",
            ),
            (
                format!("alice CERT-AUTHORITY,namespaces=\"x\" {k}"),
                "cert-authority",
            ),
            (format!("alice namespaces=x {k}"), "missing start quote"),
            (format!("alice namespaces=\"x {k}"), "quote is not closed"),
            (
                format!("alice namespaces=\"a\",namespaces=\"b\" {k}"),
                "multiple \"namespaces\"",
            ),
            (
                format!("alice namespaces=\"a\", {k}"),
                "unexpected end-of-options",
            ),
            (format!("alice namespaces=\"a\"x {k}"), "unknown key option"),
            (
                format!("alice valid-after=\"2026\" {k}"),
                "invalid \"valid-after\" time",
            ),
            (
                format!("alice valid-after=\"2026011\" {k}"),
                "invalid \"valid-after\"",
            ),
            (
                format!("alice valid-before=\"20261301\" {k}"),
                "invalid \"valid-before\"",
            ),
            (
                format!("alice valid-before=\"2026010125\" {k}"),
                "invalid \"valid-before\"",
            ),
            (
                format!("alice valid-before=\"19700101Z\" {k}"),
                "invalid \"valid-before\"",
            ),
            (
                format!("alice valid-before=\"2026-1-01\" {k}"),
                "invalid \"valid-before\"",
            ),
            (
                format!("alice valid-after=\"20260101\",valid-after=\"20260102\" {k}"),
                "multiple \"valid-after\"",
            ),
            (
                format!("alice valid-after=\"20260102\",valid-before=\"20260101\" {k}"),
                "before \"valid-after\"",
            ),
            (
                format!("alice valid-after=\"20260101\",valid-before=\"20260101\" {k}"),
                "before \"valid-after\"",
            ),
            ("alice namespaces=\"x\"".into(), "missing key"),
            ("alice namespaces=\"x\"   ".into(), "missing key"),
            ("alice ssh-ed25519 AAAA!!".into(), "invalid key"),
            ("alice ssh-ed25519".into(), "invalid key"),
            (
                format!("alice {}", k.replace("ssh-ed25519", "ssh-rsa")),
                "invalid key",
            ),
        ];
        for (line, want) in cases {
            let text = format!("# approvers\n\nbob {k}\n{line}\n");
            let err = parse(&text).expect_err(&line);
            assert!(err.starts_with("signers:4: "), "{line:?}: {err}");
            assert!(err.contains(want), "{line:?}: {err} (wanted {want:?})");
        }
        assert_eq!(parse("").unwrap_err(), "signers lists no key");
        assert_eq!(
            parse("# nobody\n\n  \t\n").unwrap_err(),
            "signers lists no key"
        );
    }

    #[test]
    fn well_formed_lines_parse_with_their_options_and_comments() {
        let k = pub_line(&key(1));
        let text = format!(
            "  # comment\r\n\
             alice {k} alice@laptop with spaces\r\n\
             \"bob,carol\" {k}\n\
             dave NameSpaces=\"dot-*\",VALID-AFTER=\"20260101\" {k}\n\
             erin ,valid-before=\"20300101Z\" {k}\n\
             \tfrank\t{k}"
        );
        let a = parse(&text).unwrap();
        assert_eq!(a.len(), 5);
        let e = &a.entries;
        assert_eq!(e[0].principals, "alice");
        assert_eq!(e[0].key.comment(), "alice@laptop with spaces");
        assert_eq!(e[1].principals, "bob,carol");
        assert_eq!(e[2].namespaces.as_deref(), Some("dot-*"));
        assert_eq!(e[2].valid_after, Some(at(2026, 1, 1).timestamp()));
        assert_eq!(e[3].valid_before, Some(at(2030, 1, 1).timestamp()));
        assert_eq!(e[4].principals, "frank");
        assert_eq!(e[4].line, 6);
    }

    #[test]
    fn times_are_read_as_openssh_parse_absolute_time_reads_them() {
        let t = |s: &str| parse_time(s, &utc_only);
        let utc = |y, m, d, h, mi, s| Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap().timestamp();
        assert_eq!(t("20260315"), Some(utc(2026, 3, 15, 0, 0, 0)));
        assert_eq!(t("20260315Z"), Some(utc(2026, 3, 15, 0, 0, 0)));
        assert_eq!(t("20260315z"), Some(utc(2026, 3, 15, 0, 0, 0)));
        assert_eq!(t("20260315UTC"), Some(utc(2026, 3, 15, 0, 0, 0)));
        assert_eq!(t("202603151042"), Some(utc(2026, 3, 15, 10, 42, 0)));
        assert_eq!(t("20260315104259Z"), Some(utc(2026, 3, 15, 10, 42, 59)));
        // mktime/timegm normalise out-of-month days and leap seconds.
        assert_eq!(t("20260230"), Some(utc(2026, 3, 2, 0, 0, 0)));
        assert_eq!(t("20261231235960Z"), Some(utc(2027, 1, 1, 0, 0, 0)));
        for bad in [
            "",
            "Z",
            "2026031",
            "2026031510",
            "202603151042599",
            "20260015",
            "20260132",
            "20260315240000",
            "20260315236000",
            "20260315235962",
            "2026031510 2",
            "+2026031",
        ] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
        // No Z: local time, at the zone's standard offset (mktime with
        // tm_isdst = 0); here a zone two hours east.
        let east = |_: NaiveDateTime| 2 * 3600;
        assert_eq!(
            parse_time("202603151000", &east),
            Some(utc(2026, 3, 15, 8, 0, 0))
        );
        assert_eq!(
            parse_time("202603151000Z", &east),
            Some(utc(2026, 3, 15, 10, 0, 0))
        );
    }

    fn signers(extra: &str) -> AllowedSigners {
        parse(&format!("alice{extra} {}\n", pub_line(&key(1)))).unwrap()
    }

    #[test]
    fn a_good_signature_counts_and_says_by_which_key() {
        let k = key(1);
        let armored = sign(&k, NAMESPACE, &vote());
        let v = verify(
            &signers(""),
            "alice",
            &vote(),
            Some(&armored),
            at(2026, 6, 1),
        )
        .unwrap();
        assert_eq!(
            v.fingerprint,
            k.public_key().fingerprint(HashAlg::Sha256).to_string()
        );
        let (blob, _) = dearmor(&armored).unwrap();
        assert_eq!(v.signature_sha256, hex(&Sha256::digest(&blob)));
        assert_eq!(v.signature_sha256.len(), 64);
        // sha256 is accepted too, as ssh-keygen accepts it.
        let sha256 = k
            .sign(NAMESPACE, HashAlg::Sha256, &vote())
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        assert!(verify(
            &signers(""),
            "alice",
            &vote(),
            Some(&sha256),
            at(2026, 6, 1)
        )
        .is_ok());
    }

    #[test]
    fn each_reason_not_to_count_is_told_apart() {
        let now = at(2026, 6, 1);
        let good = sign(&key(1), NAMESPACE, &vote());
        let run = |a: &AllowedSigners, who: &str, msg: &[u8], sig: Option<&str>| {
            verify(a, who, msg, sig, now).unwrap_err()
        };
        let a = signers("");
        assert_eq!(run(&a, "alice", &vote(), None), NotCounted::NoSignature);
        assert_eq!(
            run(&a, "alice", &vote(), Some(" \n")),
            NotCounted::NoSignature
        );
        assert!(matches!(
            run(&a, "alice", &vote(), Some("hello")),
            NotCounted::Unreadable(_)
        ));
        let huge = format!("{good}{}", " ".repeat(MAX_ARMORED));
        assert!(
            matches!(run(&a, "alice", &vote(), Some(&huge)), NotCounted::Unreadable(w) if w.contains("more than"))
        );
        let mut flipped = good.clone().into_bytes();
        flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(
            verify(&a, "alice", &vote(), Some(&flipped), now),
            Err(NotCounted::Unreadable(_) | NotCounted::BadSignature | NotCounted::KeyNotListed)
        ));
        let git = sign(&key(1), "git", &vote());
        assert_eq!(
            run(&a, "alice", &vote(), Some(&git)),
            NotCounted::WrongNamespace("git".into())
        );
        assert_eq!(
            run(&a, "bob", &vote(), Some(&good)),
            NotCounted::KeyNotListed
        );
        let other = sign(&key(2), NAMESPACE, &vote());
        assert_eq!(
            run(&a, "alice", &vote(), Some(&other)),
            NotCounted::KeyNotListed
        );
        let a_ns = signers(" namespaces=\"git,file\"");
        assert_eq!(
            run(&a_ns, "alice", &vote(), Some(&good)),
            NotCounted::NamespaceNotAllowed
        );
        let a_neg = signers(" namespaces=\"*,!dot-apr-approval\"");
        assert_eq!(
            run(&a_neg, "alice", &vote(), Some(&good)),
            NotCounted::NamespaceNotAllowed
        );
        let expired = signers(" valid-before=\"20260101Z\"");
        let NotCounted::OutsideValidity(why) = run(&expired, "alice", &vote(), Some(&good)) else {
            panic!("not outside validity")
        };
        assert!(why.contains("valid-before 2026-01-01T00:00:00Z"), "{why}");
        let early = signers(" valid-after=\"20270101\"");
        assert!(
            matches!(run(&early, "alice", &vote(), Some(&good)), NotCounted::OutsideValidity(w) if w.contains("valid-after 2027"))
        );
        let other_vote = message("APR-8", "alice", "approve", &"a".repeat(64)).unwrap();
        assert_eq!(
            run(&a, "alice", &other_vote, Some(&good)),
            NotCounted::BadSignature
        );
        let reject = message("APR-7", "alice", "reject", &"a".repeat(64)).unwrap();
        assert_eq!(
            run(&a, "alice", &reject, Some(&good)),
            NotCounted::BadSignature
        );
        // Bounds are inclusive, at whole seconds, as sshsig.c compares.
        let edge = signers(" valid-after=\"20260601Z\",valid-before=\"20260601000001Z\"");
        assert!(verify(&edge, "alice", &vote(), Some(&good), now).is_ok());
        let late = now + chrono::TimeDelta::milliseconds(1999);
        assert!(verify(&edge, "alice", &vote(), Some(&good), late).is_ok());
        assert!(verify(
            &edge,
            "alice",
            &vote(),
            Some(&good),
            now + chrono::TimeDelta::seconds(2)
        )
        .is_err());
        // One line that fits is enough, whatever the others say.
        let k = pub_line(&key(1));
        let two = parse(&format!("alice namespaces=\"git\" {k}\nalice {k}\n")).unwrap();
        assert!(verify(&two, "alice", &vote(), Some(&good), now).is_ok());
    }

    #[test]
    fn the_reasons_read_as_the_spec_words_them() {
        assert_eq!(NotCounted::NoSignature.reason(), "no signature");
        assert_eq!(
            NotCounted::WrongNamespace("x".into()).reason(),
            "a signature in namespace \"x\", not \"dot-apr-approval\""
        );
        assert_eq!(
            NotCounted::KeyNotListed.reason(),
            "signed by a key the allowed signers do not list for this approver"
        );
        assert_eq!(
            NotCounted::NamespaceNotAllowed.reason(),
            "a key not allowed for namespace dot-apr-approval"
        );
        assert_eq!(
            NotCounted::OutsideValidity("valid-before 2026".into()).reason(),
            "a key outside its validity (valid-before 2026)"
        );
        assert_eq!(
            NotCounted::BadSignature.reason(),
            "a signature that does not verify over this vote (another APR, decision or payload digest)"
        );
        assert_eq!(
            NotCounted::Unreadable("bad base64".into()).reason(),
            "an unreadable signature (bad base64)"
        );
    }

    #[test]
    fn listed_for_gives_the_keys_usable_now_for_the_principal() {
        let (k1, k2, k3) = (pub_line(&key(1)), pub_line(&key(2)), pub_line(&key(3)));
        let a = parse(&format!(
            "alice,bob {k1}\nalice namespaces=\"git\" {k2}\nalice valid-before=\"20260101Z\" {k3}\n*,!carol {k1}\n"
        ))
        .unwrap();
        let now = at(2026, 6, 1);
        let got = a.listed_for("alice", now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key_data(), key(1).public_key().key_data());
        assert_eq!(a.listed_for("carol", now).len(), 0);
        assert_eq!(a.listed_for("dave", now).len(), 1);
        assert_eq!(a.listed_for("alice", at(2025, 6, 1)).len(), 2);
    }

    #[test]
    fn a_private_key_file_is_told_from_a_public_line() {
        let k = key(1);
        let private = k.to_openssh(LineEnding::LF).unwrap();
        assert!(is_private_key_file(&private));
        assert!(!is_private_key_file(&pub_line(&k)));
    }
}
