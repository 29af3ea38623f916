//! Unit tests of `integrity::approval` (and of the allowed-signers parser
//! and the signers it re-exports).

use super::*;
use crate::integrity::allowed_signers::{parse_time, parse_with, MAX_SUBPATTERN};
use chrono::{NaiveDateTime, TimeZone as _};
use ssh_key::private::{Ed25519Keypair, PrivateKey};
use ssh_key::LineEnding;

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
