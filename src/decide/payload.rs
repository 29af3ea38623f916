//! The APR payload (`proposed_action`) as data: the scope constants of SPEC
//! §5 and the parse from raw JSON to a typed request. Parsing only decides
//! "is this the right shape" (REJECT_PAYLOAD_MALFORMED); whether the values
//! are acceptable is `policy`'s job. Pure: no IO.

use crate::decide::reject::Reject;
use serde_json::{Map, Value};

pub const ACTION_CODE: &str = "authorize_build_step";
pub const HANDLER_REF: &str = "dot-apr-execute:authorize_build_step";
pub const CARRIER: &str = "C1";
pub const TARGET: &str = "DOT_C1_VOCAB_BUILD";
pub const LANE: &str = "BUILD_PREP";
pub const MODE_DRY_RUN: &str = "DRY_RUN";
pub const MODE_REAL_RUN: &str = "REAL_RUN";
pub const CORPUS_SANDBOX: &str = "SANDBOX";
pub const CORPORA_PRODUCTION: [&str; 2] = ["PRODUCTION", "CURRENT"];
pub const PROTOCOL_VERSION: &str = "cser-v1";
/// The longest grant the handler will mint, in seconds (SPEC §5).
pub const TTL_CAP_SECONDS: i64 = 86_400;
/// Keys that ask for authority this handler never grants.
pub const SOVEREIGN_KEYS: [&str; 4] = [
    "commit_allowed",
    "sovereign",
    "requires_sovereign_esign",
    "production_authority",
];
/// Every key a payload has, and no other.
pub const KEYS: [&str; 11] = [
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

/// A payload of the right shape: every key present with the right JSON type,
/// `mode` DRY_RUN and `corpus` SANDBOX. Its values are not yet judged.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    pub carrier: String,
    pub target: String,
    pub lane: String,
    pub plan_ref: String,
    pub manifest_hash: String,
    pub protocol_version: String,
    pub action_set: Vec<String>,
    /// `None` when missing or null: REJECT_TTL, at TTL's place in the order.
    pub ttl_seconds: Option<serde_json::Number>,
    /// `None` when missing or null: REJECT_ROLLBACK_PLAN_MISSING.
    pub rollback_plan_ref: Option<String>,
}

/// The string "REAL_RUN" anywhere in the payload, as a value at any depth.
pub fn mentions_real_run(value: &Value) -> bool {
    match value {
        Value::String(s) => s == MODE_REAL_RUN,
        Value::Array(items) => items.iter().any(mentions_real_run),
        Value::Object(map) => map.values().any(mentions_real_run),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `corpus` names the production or current corpus.
pub fn asks_for_production(value: &Value) -> bool {
    matches!(value.get("corpus"), Some(Value::String(c)) if CORPORA_PRODUCTION.contains(&c.as_str()))
}

/// The first key that asks for commit, sovereign or production authority.
pub fn sovereign_key(value: &Value) -> Option<&'static str> {
    let map = value.as_object()?;
    SOVEREIGN_KEYS.into_iter().find(|k| map.contains_key(*k))
}

/// Shape check: object, known keys only, each of its JSON type.
pub fn parse(value: &Value) -> Result<RawRequest, (Reject, String)> {
    let malformed = |why: String| (Reject::PayloadMalformed, why);
    let map = value.as_object().ok_or_else(|| {
        malformed(format!(
            "payload is {}, not a JSON object",
            json_type(value)
        ))
    })?;
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(malformed(format!("unknown key {unknown:?}")));
    }
    let string = |key: &str| -> Result<String, (Reject, String)> {
        match map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(malformed(format!(
                "{key} is {}, not a string",
                json_type(other)
            ))),
            None => Err(malformed(format!("missing key {key:?}"))),
        }
    };
    let exact = |key: &str, want: &str| -> Result<(), (Reject, String)> {
        let got = string(key)?;
        if got == want {
            Ok(())
        } else {
            Err(malformed(format!(
                "{key} is {got:?}; the only accepted value is {want:?}"
            )))
        }
    };

    let carrier = string("carrier")?;
    let target = string("target")?;
    let lane = string("lane")?;
    exact("mode", MODE_DRY_RUN)?;
    exact("corpus", CORPUS_SANDBOX)?;
    let plan_ref = string("plan_ref")?;
    let manifest_hash = string("manifest_hash")?;
    let protocol_version = string("protocol_version")?;
    let action_set = string_array(map, "action_set").map_err(malformed)?;
    let ttl_seconds = match map.get("ttl_seconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.clone()),
        Some(other) => {
            return Err(malformed(format!(
                "ttl_seconds is {}, not a number",
                json_type(other)
            )))
        }
    };
    let rollback_plan_ref = match map.get("rollback_plan_ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(malformed(format!(
                "rollback_plan_ref is {}, not a string",
                json_type(other)
            )))
        }
    };
    Ok(RawRequest {
        carrier,
        target,
        lane,
        plan_ref,
        manifest_hash,
        protocol_version,
        action_set,
        ttl_seconds,
        rollback_plan_ref,
    })
}

fn string_array(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match map.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "{key} holds {}, not only strings",
                    json_type(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!("{key} is {}, not an array", json_type(other))),
        None => Err(format!("missing key {key:?}")),
    }
}

pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
