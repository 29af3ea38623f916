//! Unit tests of `integrity::evidence`.

use super::*;
use serde_json::json;

fn key() -> SigningKey {
    SigningKey::from_seed([5; 32])
}

fn trusted() -> TrustedKeys {
    TrustedKeys::default().with(&key().public())
}

fn chain(n: u64) -> Vec<Vec<u8>> {
    let mut head = Head::genesis();
    let key = key();
    (0..n)
        .map(|i| {
            let mut rec = Map::new();
            rec.insert("command".into(), "execute".into());
            rec.insert(
                "verdict".into(),
                json!({"code": "MINTED", "i": i, "auth_code": format!("GBA-C1-APR-{i}")}),
            );
            let (bytes, h) = seal(rec, &head, &key).unwrap();
            head = h;
            bytes
        })
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.concat()
}

fn verify_n(bytes: &[u8]) -> Result<usize, Break> {
    verify(bytes, &trusted()).map(|e| e.len())
}

#[test]
fn an_intact_chain_verifies_with_its_count() {
    assert_eq!(verify_n(b""), Ok(0));
    assert_eq!(verify_n(&join(&chain(5))), Ok(5));
    // Not against keys that did not sign it.
    let other = TrustedKeys::default().with(&SigningKey::from_seed([6; 32]).public());
    assert_eq!(verify(&join(&chain(2)), &other).unwrap_err().line, 1);
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
    assert_eq!(verify_n(&join(&edited)).unwrap_err().line, 3);
    // Edited with its own hash recomputed by someone without the key
    // (its old signature kept): the line itself.
    let mut rehashed = lines.clone();
    let mut v: Map<String, Value> = serde_json::from_slice(&lines[2]).unwrap();
    let sig = v.remove("sig").unwrap();
    v.remove("hash");
    v.insert("verdict".into(), json!({"code": "FORGED"}));
    let h = body_hash(&Value::Object(v.clone())).unwrap();
    v.insert("hash".into(), h.into());
    v.insert("sig".into(), sig);
    rehashed[2] = format!("{}\n", cser::canonical(&Value::Object(v)).unwrap()).into_bytes();
    let b = verify_n(&join(&rehashed)).unwrap_err();
    assert_eq!(b.line, 3);
    assert!(b.why.contains("signature"), "{b:?}");
    // Resealed by the key's holder: the next line.
    let mut resealed = lines.clone();
    let mut v: Map<String, Value> = serde_json::from_slice(&lines[2]).unwrap();
    v.insert("verdict".into(), json!({"code": "FORGED"}));
    let prev = Head {
        line: 2,
        hash: v["prev"].as_str().unwrap().into(),
    };
    resealed[2] = seal(v, &prev, &key()).unwrap().0;
    assert_eq!(verify_n(&join(&resealed)).unwrap_err().line, 4);
    // Deleted: the first line after the gap.
    let mut deleted = lines.clone();
    deleted.remove(1);
    assert_eq!(verify_n(&join(&deleted)).unwrap_err().line, 2);
    let mut first_deleted = lines.clone();
    first_deleted.remove(0);
    assert_eq!(verify_n(&join(&first_deleted)).unwrap_err().line, 1);
    // Swapped.
    let mut swapped = lines.clone();
    swapped.swap(1, 3);
    assert_eq!(verify_n(&join(&swapped)).unwrap_err().line, 2);
    // Torn last line.
    let mut torn = join(&lines);
    torn.truncate(torn.len() - 10);
    assert_eq!(verify_n(&torn).unwrap_err().line, 5);
    // Garbage.
    let mut junk = lines.clone();
    junk[4] = b"not json\n".to_vec();
    assert_eq!(verify_n(&join(&junk)).unwrap_err().line, 5);
}

#[test]
fn an_unsigned_v1_line_is_refused_as_unauthenticated() {
    let mut rec = Map::new();
    rec.insert("v".into(), 1.into());
    rec.insert("line".into(), 1.into());
    rec.insert("prev".into(), GENESIS.into());
    let h = body_hash(&Value::Object(rec.clone())).unwrap();
    rec.insert("hash".into(), h.into());
    let line = format!("{}\n", cser::canonical(&Value::Object(rec)).unwrap());
    let b = verify_n(line.as_bytes()).unwrap_err();
    assert_eq!(b.line, 1);
    assert!(b.why.contains("unauthenticated"), "{b:?}");
}

#[test]
fn an_anchor_or_mint_missing_from_the_log_is_named() {
    let entries = verify(&join(&chain(4)), &trusted()).unwrap();
    let anchor = |i: u64, head: &str| Anchor {
        auth_code: format!("GBA-C1-APR-{i}"),
        head: head.to_owned(),
    };
    let all = [
        anchor(0, GENESIS),
        anchor(1, &entries[0].hash),
        anchor(3, &entries[1].hash),
    ];
    assert!(missing_anchors(&entries, &all).is_empty());
    // Cut after line 2: grant 3's MINTED line is gone.
    let cut = &entries[..2];
    let missing = missing_anchors(cut, &all);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].0, "GBA-C1-APR-3");
    // Cut to nothing: every grant, the genesis-anchored one included.
    assert_eq!(missing_anchors(&[], &all).len(), 3);
    // A mint recorded before its anchor does not count.
    assert_eq!(
        missing_anchors(&entries, &[anchor(0, &entries[2].hash)]).len(),
        1
    );
}
