//! `readback`: the checklist the store runs for an APR's grant, as
//! PASS/FAIL lines and one verdict. Read-only; never writes.

use super::context::Context;
use super::output::{verdict, Output};
use crate::commands::verdict::{Status, Verdict};
use crate::decide::reject::{Done, Reject};
use crate::store::read;

pub(super) fn readback(cx: &Context, apr: &str) -> Output {
    let trusted = cx
        .trusted_keys()
        .map_err(|stop| Verdict::from(stop).message);
    let allowed = cx
        .allowed_signers()
        .map_err(|stop| Verdict::from(stop).message);
    verdict(cx.with_db(|c| {
        let checks = read::readback(
            c,
            apr,
            trusted.as_ref().map_err(String::as_str),
            allowed.as_ref().map_err(String::as_str),
        )
        .map_err(|s| (s, Some(apr.to_owned())))?;
        let failed = checks.iter().filter(|c| !c.pass).count();
        let lines: Vec<String> = checks
            .iter()
            .map(|c| {
                format!(
                    "{}  {}  (seen: {})",
                    if c.pass { "PASS" } else { "FAIL" },
                    c.name,
                    c.seen
                )
            })
            .collect();
        let json: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| serde_json::json!({"check": c.name, "pass": c.pass, "seen": c.seen}))
            .collect();
        let v = if failed == 0 {
            Verdict::done(
                Done::ReadbackPassed,
                format!("all {} readback checks pass", checks.len()),
            )
        } else {
            Verdict::new(
                Status::Reject(Reject::ReadbackFailed),
                format!("{failed} of {} readback checks fail", checks.len()),
            )
        };
        let mut v = v.apr(apr).detail("checks", json);
        v.lines = lines;
        Ok(v)
    }))
}
