//! `show`: one grant, its binding, signature and history, for a human or
//! as JSON. Read-only; never writes.

use super::context::Context;
use super::output::{verdict, Output};
use super::render::{approvers, grant_json, span, span_coarse};
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Reject};
use crate::store::grants::GrantKey;
use crate::store::read;

/// `show`: one grant, its binding, signature and history.
pub(super) fn show(cx: &Context, auth_code: Option<&str>, apr: Option<&str>) -> Output {
    let key = match (auth_code, apr) {
        (Some(c), _) => GrantKey::AuthCode(c),
        (None, Some(a)) => GrantKey::Apr(a),
        (None, None) => return Output::Usage("give --auth-code CODE or --apr CODE".into()),
    };
    let trusted = cx.trusted_keys().ok();
    let output = verdict(cx.with_db(|c| {
        let Some(s) = read::show_grant(c, key).map_err(|s| (s, None))? else {
            return Err((
                Stop::Reject(Reject::AuthNotFound, "no grant found".into()),
                apr.map(str::to_owned),
            ));
        };
        let g = &s.grant;
        let revoked = &s.revocation;
        let mut history = vec![serde_json::json!({
            "at": crate::canon::text::timestamp(&g.granted_at), "event": "minted",
            "by": g.granted_by,
        })];
        if let Some(at) = &g.consumed_at {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(at), "event": "consumed",
                "by": g.consumed_by, "request_id": g.consume_request_id,
            }));
        }
        if let Some(at) = &revoked.at {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(at), "event": "revoked",
                "by": revoked.by, "reason": revoked.reason,
            }));
        }
        // Active as stored, but past its expiry: no consume can spend it.
        let expired = g.status == "active" && g.expires_at <= s.now;
        if expired {
            history.push(serde_json::json!({
                "at": crate::canon::text::timestamp(&g.expires_at), "event": "expired",
            }));
        }
        let state = if expired {
            "expired"
        } else {
            g.status.as_str()
        };
        let mut grant = grant_json(g, revoked, trusted.as_ref());
        grant["state"] = state.into();
        let signature = grant["signature"].as_str().unwrap_or("").to_owned();
        let mut v = Verdict::done(
            Done::Shown,
            format!("{} is {state} ({signature})", g.auth_code),
        )
        .apr(g.request_ref.clone())
        .auth_code(g.auth_code.clone())
        .expires_at(g.expires_at)
        .detail("grant", grant)
        .detail("history", history)
        .detail(
            "apr_status",
            s.apr_status.clone().unwrap_or_else(|| "no APR".into()),
        );
        v.lines = show_lines(&s, state, &signature);
        Ok(v)
    }));
    // The human form is the grant once: its lines, then the verdict line.
    output.and_then_text(cx.settings.json)
}

/// `show` for a human: one line a fact, the state in words (the TTL left,
/// or how long ago it expired), the approvers, then the history.
pub(super) fn show_lines(s: &read::Shown, state: &str, signature: &str) -> Vec<String> {
    let g = &s.grant;
    let left = (g.expires_at - s.now).num_seconds();
    let state_words = match state {
        "active" => format!("active, expires in {}", span(left)),
        "expired" => format!(
            "expired {} ago (stored as active; no consume can spend it)",
            span_coarse(-left)
        ),
        other => other.to_owned(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut facts: Vec<(&str, String)> = vec![
        ("auth_code", g.auth_code.clone()),
        (
            "apr",
            format!(
                "{} ({})",
                g.request_ref,
                s.apr_status.as_deref().unwrap_or("no APR")
            ),
        ),
        ("state", state_words),
        ("signature", signature.to_owned()),
        (
            "approved_by",
            approvers(g).map_or_else(|| "-".into(), |a| a.join(", ")),
        ),
        ("plan_ref", opt(&g.plan_ref)),
        ("carrier", opt(&g.carrier)),
        ("lane", opt(&g.lane)),
        ("target", opt(&g.target)),
        ("manifest_hash", opt(&g.manifest_hash)),
        ("protocol_version", opt(&g.protocol_version)),
        (
            "action_set",
            g.action_set
                .as_ref()
                .map_or_else(|| "-".into(), |a| a.join(",")),
        ),
        ("apr_digest", opt(&g.apr_digest)),
        ("rollback_plan_ref", opt(&g.rollback_plan_ref)),
        ("key_id", opt(&g.key_id)),
        (
            "granted",
            format!(
                "{} by {}",
                crate::canon::text::timestamp(&g.granted_at),
                opt(&g.granted_by)
            ),
        ),
        ("expires_at", crate::canon::text::timestamp(&g.expires_at)),
    ];
    if let Some(at) = &g.consumed_at {
        facts.push((
            "consumed",
            format!(
                "{} by {} (request id {})",
                crate::canon::text::timestamp(at),
                opt(&g.consumed_by),
                opt(&g.consume_request_id)
            ),
        ));
    }
    let r = &s.revocation;
    if let Some(at) = &r.at {
        facts.push((
            "revoked",
            format!(
                "{} by {}: {}",
                crate::canon::text::timestamp(at),
                opt(&r.by),
                opt(&r.reason)
            ),
        ));
    }
    facts
        .into_iter()
        .map(|(k, v)| format!("{k:<18} {v}"))
        .collect()
}
