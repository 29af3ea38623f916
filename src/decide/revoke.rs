//! `revoke`'s decisions: one grant, a bulk set by selector (with the
//! expected count), and `keys`' tally by key id. Each row arrives with its
//! signature checked (`Checked`): nothing here verifies, reads or writes.

use crate::decide::facts::{Checked, Grant};
use crate::decide::outcome::Stop;
use crate::decide::reject::Reject;

/// What `revoke` should do with the grant it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    Revoke,
    AlreadyRevoked,
}

/// `active` (expired or not) may be revoked; a revoked grant is already
/// done; a consumed one is history and stays so. A row no trusted key
/// signed is revocable too (revoking only ever lowers authority, and a
/// forged row must never sit active for ever): the second value says why
/// it is forged, for the verdict.
pub fn decide_revoke(checked: Option<&Checked>) -> Result<(Revoke, Option<String>), Stop> {
    let Some(Checked { grant, forged }) = checked else {
        return Err(Stop::reject(Reject::AuthNotFound, "no grant found"));
    };
    let forged = forged.clone();
    match grant.status.as_str() {
        "active" => Ok((Revoke::Revoke, forged)),
        "revoked" => Ok((Revoke::AlreadyRevoked, forged)),
        "consumed" => Err(Stop::reject(
            Reject::AuthAlreadyConsumed,
            "grant was already consumed; a consumed grant cannot be revoked",
        )),
        other => Err(Stop::reject(
            Reject::AuthNotActive,
            format!("grant status is {other:?}; only an active grant can be revoked"),
        )),
    }
}

/// Which grants a bulk `revoke` retires (exactly one selector per run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    /// Every active grant of this plan.
    Plan(&'a str),
    /// Every active grant that names this key id, verified or not (a
    /// leaked key: whatever claims it goes, genuine or forged).
    KeyId(&'a str),
    /// Every active grant whose signature does not verify against the
    /// trusted keys.
    Forged,
}

impl Selector<'_> {
    /// The selector as the command line spells it.
    pub fn describe(&self) -> String {
        match self {
            Selector::Plan(p) => format!("--plan {p}"),
            Selector::KeyId(k) => format!("--key-id {k}"),
            Selector::Forged => "--forged".to_owned(),
        }
    }

    /// Whether an active row is in the set.
    fn selects(&self, g: &Grant, forged: bool) -> bool {
        match self {
            Selector::Plan(p) => g.plan_ref.as_deref() == Some(*p),
            Selector::KeyId(k) => g.key_id.as_deref() == Some(*k),
            Selector::Forged => forged,
        }
    }
}

/// One grant a bulk revoke retires, and why it is forged when it is.
pub type Selected = Checked;

/// Bulk `revoke`: of the rows read (the shell reads every active row the
/// selector could match, locked), the set the selector picks, in auth-code
/// order. With `expect`, the set must be exactly that big: revoking more
/// (or fewer) grants than the operator saw in the dry run is refused, never
/// done silently.
pub fn decide_bulk_revoke(
    read: Vec<Checked>,
    selector: Selector<'_>,
    expect: Option<u64>,
) -> Result<Vec<Selected>, Stop> {
    let mut set: Vec<Selected> = read
        .into_iter()
        .filter(|c| c.grant.status == "active")
        .filter(|c| selector.selects(&c.grant, c.forged.is_some()))
        .collect();
    set.sort_by(|a, b| a.grant.auth_code.cmp(&b.grant.auth_code));
    if let Some(n) = expect {
        let found = set.len() as u64;
        if found != n {
            let codes: Vec<&str> = set.iter().map(|s| s.grant.auth_code.as_str()).collect();
            return Err(Stop::Reject(
                Reject::BulkMismatch,
                format!(
                    "{found} active grant{} match {} now ({}), but --expect says {n}: the set changed \
                     since it was counted; nothing revoked (run --dry-run again and check it)",
                    if found == 1 { "" } else { "s" },
                    selector.describe(),
                    if codes.is_empty() {
                        "none".to_owned()
                    } else {
                        codes.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(set)
}

/// What `keys` says of one key id (or of the unsigned rows, `key_id`
/// None): grants it signed that verify, by status, and rows that name it
/// but do not verify.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyTally {
    pub key_id: Option<String>,
    pub trusted: bool,
    pub active: u64,
    pub consumed: u64,
    pub revoked: u64,
    pub forged: u64,
    pub forged_active: u64,
}

/// Every trusted key id (signed nothing or not), then every other key id
/// the rows name, then the unsigned rows if any. `trusted_ids` are the ids
/// of the handler's trusted keys; each row comes with its signature checked.
pub fn key_tally(grants: &[Checked], trusted_ids: &[String]) -> Vec<KeyTally> {
    let mut by_id: std::collections::BTreeMap<(bool, Option<String>), KeyTally> = trusted_ids
        .iter()
        .cloned()
        .map(|id| {
            let t = KeyTally {
                key_id: Some(id.clone()),
                trusted: true,
                ..KeyTally::default()
            };
            ((false, Some(id)), t)
        })
        .collect();
    for Checked { grant: g, forged } in grants {
        let is_trusted = g
            .key_id
            .as_deref()
            .is_some_and(|k| trusted_ids.iter().any(|t| t == k));
        // Trusted first, then the others, then the unsigned (None sorts
        // first among Options, so the rank says it).
        let rank = (!is_trusted, g.key_id.clone());
        let t = by_id.entry(rank).or_insert_with(|| KeyTally {
            key_id: g.key_id.clone(),
            trusted: is_trusted,
            ..KeyTally::default()
        });
        if forged.is_none() {
            match g.status.as_str() {
                "active" => t.active += 1,
                "consumed" => t.consumed += 1,
                _ => t.revoked += 1,
            }
        } else {
            t.forged += 1;
            if g.status == "active" {
                t.forged_active += 1;
            }
        }
    }
    let mut out: Vec<KeyTally> = by_id.into_values().collect();
    // The unsigned rows last.
    out.sort_by_key(|t| (!t.trusted, t.key_id.is_none()));
    out
}

#[cfg(test)]
mod tests;
