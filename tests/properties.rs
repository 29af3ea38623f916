//! Property tests of the pure parts, against models written from the
//! contract (SPEC §5 and §6), not from `src/decide/`:
//! - a payload is accepted only if every field is in its accepted set, and
//!   the code of a refusal is the first that applies in the SPEC's order;
//! - cser-v1 is idempotent, blind to object key order, and refuses exactly
//!   what it documents (non-integer numbers, duplicate keys);
//! - random bytes never make a parser panic (the fuzz target).

use dot_authorize_build_step::canon::{cser, jsonb};
use dot_authorize_build_step::decide::facts::Vocabulary;
use dot_authorize_build_step::decide::manifest;
use dot_authorize_build_step::decide::outcome::Stop;
use dot_authorize_build_step::decide::validate::validate_payload;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const VOCAB: [&str; 3] = ["c1_a", "c1_b", "c1_c"];
const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SOVEREIGN: [&str; 4] = [
    "commit_allowed",
    "sovereign",
    "requires_sovereign_esign",
    "production_authority",
];
const KEYS: [&str; 11] = [
    "carrier",
    "target",
    "lane",
    "mode",
    "corpus",
    "plan_ref",
    "manifest_hash",
    "protocol_version",
    "action_set",
    "ttl_seconds",
    "rollback_plan_ref",
];

fn vocabulary() -> Vocabulary {
    Vocabulary::new(VOCAB.iter().map(|s| s.to_string())).unwrap()
}

/// One value for a key: the valid one, or one of the ways to get it wrong
/// (`None`: the key is missing).
fn field(key: &'static str) -> BoxedStrategy<Option<Value>> {
    let vals: Vec<Option<Value>> = match key {
        "carrier" => vec![
            json!("C1"),
            json!("C2"),
            json!("c1"),
            json!(" C1"),
            json!(1),
        ],
        "target" => vec![
            json!("DOT_C1_VOCAB_BUILD"),
            json!("DOT_C1_VOCAB_VERIFY"),
            json!(null),
        ],
        "lane" => vec![json!("BUILD_PREP"), json!("APPLY"), json!(["BUILD_PREP"])],
        "mode" => vec![
            json!("DRY_RUN"),
            json!("REAL_RUN"),
            json!("dry_run"),
            json!(0),
        ],
        "corpus" => vec![
            json!("SANDBOX"),
            json!("PRODUCTION"),
            json!("CURRENT"),
            json!("STAGING"),
            json!(false),
        ],
        "plan_ref" | "rollback_plan_ref" => vec![
            json!("LEGO1-C1-PLAN"),
            json!("a.b:c_d-1"),
            json!(""),
            json!("has space"),
            json!("x".repeat(129)),
            json!("x".repeat(128)),
            json!(7),
        ],
        "manifest_hash" => vec![
            json!(HASH),
            json!(HASH.to_uppercase()),
            json!(&HASH[1..]),
            json!(format!("{}g", &HASH[1..])),
        ],
        "protocol_version" => vec![json!("cser-v1"), json!("cser-v2"), json!("CSER-V1")],
        "action_set" => vec![
            json!(["c1_a", "c1_b", "c1_c"]),
            json!(["c1_c", "c1_a", "c1_b"]),
            json!(["c1_a", "c1_b"]),
            json!(["c1_a", "c1_b", "c1_c", "c1_d"]),
            json!(["c1_a", "c1_a", "c1_b", "c1_c"]),
            json!([]),
            json!("c1_a,c1_b,c1_c"),
        ],
        "ttl_seconds" => vec![
            json!(3600),
            json!(1),
            json!(86400),
            json!(0),
            json!(-5),
            json!(86401),
            json!(1_000_000_000_000i64),
            json!("3600"),
        ],
        _ => unreachable!(),
    }
    .into_iter()
    .map(Some)
    .chain([None])
    .collect();
    // Mostly the valid value, so that whole payloads are often valid and
    // every later check in the order is reached.
    let valid = vals[0].clone();
    prop_oneof![
        17 => Just(valid),
        3 => proptest::sample::select(vals[1..].to_vec()),
    ]
    .boxed()
}

fn payloads() -> impl Strategy<Value = Value> {
    let fields: Vec<BoxedStrategy<Option<Value>>> = KEYS.iter().map(|k| field(k)).collect();
    (
        fields,
        proptest::option::weighted(0.1, proptest::sample::select(SOVEREIGN.to_vec())),
        proptest::option::weighted(
            0.1,
            proptest::sample::select(vec![
                json!("a note"),
                json!({"deep": [{"deeper": "REAL_RUN"}]}),
                json!(["x", "REAL_RUN"]),
            ]),
        ),
        proptest::bool::weighted(0.03),
    )
        .prop_map(|(values, sovereign, extra, not_object)| {
            if not_object {
                return json!(["not", "an", "object"]);
            }
            let mut map = Map::new();
            for (k, v) in KEYS.iter().zip(values) {
                if let Some(v) = v {
                    map.insert(k.to_string(), v);
                }
            }
            if let Some(s) = sovereign {
                map.insert(s.to_string(), json!(false));
            }
            if let Some(e) = extra {
                map.insert("notes".into(), e);
            }
            Value::Object(map)
        })
}

fn holds_real_run(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "REAL_RUN",
        Value::Array(a) => a.iter().any(holds_real_run),
        Value::Object(o) => o.values().any(holds_real_run),
        _ => false,
    }
}

fn is_ref(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
}

/// The code SPEC §5 says a payload gets: `Ok(())` when accepted.
fn model(p: &Value) -> Result<(), &'static str> {
    if holds_real_run(p) {
        return Err("C1_PROD_REAL_RUN_BLOCKED");
    }
    let Some(o) = p.as_object() else {
        return Err("REJECT_PAYLOAD_MALFORMED");
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if matches!(s("corpus"), Some("PRODUCTION" | "CURRENT")) {
        return Err("REJECT_SCOPE_PRODUCTION");
    }
    if SOVEREIGN.iter().any(|k| o.contains_key(*k)) {
        return Err("REJECT_SCOPE_SOVEREIGN");
    }
    // SPEC §4 names two missing keys' own codes ("REJECT_TTL (missing, …)",
    // "REJECT_ROLLBACK_PLAN_MISSING"); §5's "a missing key is malformed"
    // covers the others. The more specific rule wins, at its place in the
    // order.
    let optional = |k: &str| matches!(k, "ttl_seconds" | "rollback_plan_ref");
    let present = |k: &str| o.contains_key(k);
    let malformed = o.keys().any(|k| !KEYS.contains(&k.as_str()))
        || KEYS.iter().any(|k| !present(k) && !optional(k))
        || KEYS
            .iter()
            .filter(|k| !matches!(**k, "action_set" | "ttl_seconds") && present(k))
            .any(|k| !o[*k].is_string())
        || !o["action_set"]
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        || (present("ttl_seconds") && !(o["ttl_seconds"].is_i64() || o["ttl_seconds"].is_u64()))
        || s("mode") != Some("DRY_RUN")
        || s("corpus") != Some("SANDBOX");
    if malformed {
        return Err("REJECT_PAYLOAD_MALFORMED");
    }
    if s("carrier") != Some("C1") {
        return Err("REJECT_SCOPE_CARRIER");
    }
    if s("target") != Some("DOT_C1_VOCAB_BUILD") {
        return Err("REJECT_SCOPE_TARGET");
    }
    if s("lane") != Some("BUILD_PREP") {
        return Err("REJECT_SCOPE_LANE");
    }
    if s("protocol_version") != Some("cser-v1") {
        return Err("REJECT_PROTOCOL_VERSION");
    }
    let hash = s("manifest_hash").unwrap_or_default();
    if !(hash.len() == 64
        && hash
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
    {
        return Err("REJECT_MANIFEST_HASH");
    }
    let set: Vec<&str> = o["action_set"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut sorted = set.clone();
    sorted.sort_unstable();
    if sorted != VOCAB {
        return Err("REJECT_ACTION_SET");
    }
    if !is_ref(s("plan_ref").unwrap_or_default()) {
        return Err("REJECT_PLAN_REF");
    }
    let ttl = o.get("ttl_seconds").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=86_400).contains(&ttl) {
        return Err("REJECT_TTL");
    }
    if !is_ref(s("rollback_plan_ref").unwrap_or_default()) {
        return Err("REJECT_ROLLBACK_PLAN_MISSING");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Accepted only if every field is in its accepted set; refused with
    /// the first code in the SPEC's order.
    #[test]
    fn a_payload_gets_exactly_the_code_the_spec_order_gives(p in payloads()) {
        let got = match validate_payload(&p, &vocabulary()) {
            Ok(_) => Ok(()),
            Err(Stop::Reject(r, _)) => Err(r.code()),
            Err(Stop::Fault(f, why)) => panic!("a payload made a fault: {} {why}", f.code()),
        };
        prop_assert_eq!(got, model(&p), "payload {}", p);
    }
}

/// The property above is not vacuous: the generator reaches acceptance and
/// every refusal code of the order.
#[test]
fn the_payload_generator_reaches_every_code() {
    use proptest::strategy::ValueTree as _;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..4000 {
        let p = payloads().new_tree(&mut runner).unwrap().current();
        *seen.entry(model(&p).err().unwrap_or("OK")).or_insert(0) += 1;
    }
    for code in [
        "OK",
        "C1_PROD_REAL_RUN_BLOCKED",
        "REJECT_SCOPE_PRODUCTION",
        "REJECT_SCOPE_SOVEREIGN",
        "REJECT_PAYLOAD_MALFORMED",
        "REJECT_SCOPE_CARRIER",
        "REJECT_SCOPE_TARGET",
        "REJECT_SCOPE_LANE",
        "REJECT_PROTOCOL_VERSION",
        "REJECT_MANIFEST_HASH",
        "REJECT_ACTION_SET",
        "REJECT_PLAN_REF",
        "REJECT_TTL",
        "REJECT_ROLLBACK_PLAN_MISSING",
    ] {
        assert!(
            seen.get(code).copied().unwrap_or(0) >= 5,
            "{code}: {seen:?}"
        );
    }
}

/// JSON values cser-v1 accepts: integers, strings (any Unicode), bools,
/// null, arrays and objects, nested.
fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        "[\\u{0}-\\u{1f}\"\\\\/]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((".{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cser_is_idempotent_and_its_digest_is_the_sha256_of_its_bytes(v in json_values()) {
        let Ok(canon) = cser::canonical(&v) else {
            // Only numbers out of the exact range may be refused.
            return Ok(());
        };
        let back = cser::parse(canon.as_bytes()).expect("canonical bytes parse");
        prop_assert_eq!(cser::canonical(&back).unwrap(), canon.clone());
        let (d, of) = (cser::digest(&v).unwrap(), cser::Sha256Hex::of(canon.as_bytes()));
        prop_assert_eq!(d.as_str(), of.as_str());
    }

    #[test]
    fn cser_does_not_see_the_order_of_object_keys(
        kv in proptest::collection::btree_map("[a-z\\u{e9}\\u{1F600}]{0,5}", json_values(), 0..8),
        seed in any::<u64>(),
    ) {
        let mut entries: Vec<(String, Value)> = kv.into_iter().collect();
        let canon_sorted = cser::canonical(&Value::Object(entries.iter().cloned().collect()));
        // Shuffle the text's key order and parse it back.
        let n = entries.len().max(1);
        entries.rotate_left((seed as usize) % n);
        if seed % 2 == 0 { entries.reverse(); }
        let text = format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
                .collect::<Vec<_>>()
                .join(",")
        );
        match (canon_sorted, cser::parse(text.as_bytes())) {
            (Ok(c), Ok(parsed)) => prop_assert_eq!(cser::canonical(&parsed).unwrap(), c),
            (Err(_), Err(_)) | (Err(_), Ok(_)) => {}
            (Ok(_), Err(e)) => prop_assert!(false, "{text} refused: {e}"),
        }
    }

    #[test]
    fn cser_refuses_non_integers_and_duplicate_keys(
        whole in -1000i64..1000, frac in 1u32..999,
        key in "[a-z]{1,4}",
    ) {
        let float = format!("{{\"x\": {whole}.{frac:03}}}");
        prop_assert!(cser::parse(float.as_bytes()).is_err(), "{}", float);
        let dup = format!("{{\"{key}\": 1, \"{key}\": 2}}");
        prop_assert!(cser::parse(dup.as_bytes()).is_err(), "{}", dup);
    }

    /// The fuzz target: random bytes (and random text) through every parser
    /// of outside input. No panic; whatever cser accepts is canonical-stable;
    /// bounded memory (inputs are at most 4 KiB and nothing grows with them
    /// beyond a copy).
    #[test]
    fn no_bytes_make_a_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(v) = cser::parse(&bytes) {
            let canon = cser::canonical(&v).expect("a parsed value has a canonical form");
            prop_assert_eq!(cser::parse(canon.as_bytes()).unwrap(), v.clone());
            let _ = validate_payload(&v, &vocabulary());
        }
        let _ = manifest::from_bytes(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = jsonb::read(text);
        }
    }

    #[test]
    fn no_json_shaped_text_makes_a_parser_panic(text in "[\\[\\]{}\":,0-9eE.+\\-a-z\\\\ ]{0,400}") {
        let _ = jsonb::read(&text);
        if let Ok(v) = cser::parse(text.as_bytes()) {
            let _ = validate_payload(&v, &vocabulary());
            let _ = cser::canonical(&v);
        }
        let _ = manifest::from_bytes(text.as_bytes());
    }
}
