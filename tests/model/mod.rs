//! The reference model: what SPEC §4/§5/§7/§9 and the README promise, as a
//! pure state machine, written from the contract rather than from
//! `src/decide/`. One function per command returns the code it must answer
//! and the new state. Payloads are kept abstract: valid (with a plan and a
//! version that changes when the payload is tampered with) or refused
//! with a known code.

use std::collections::BTreeMap;

pub const PROPOSER: &str = "proposer";
pub const MIN_APPROVALS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Validates; `version` changes the digest (a tamper bumps it).
    Valid { plan: String, version: u32 },
    /// Refused at validation with this code.
    Refused(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOf {
    /// The digest of the payload version it names.
    Version(u32),
    /// A digest of some other payload.
    Other,
    /// NULL.
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub approver: String,
    pub approve: bool,
    pub digest: DigestOf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apr {
    pub payload: Payload,
    pub status: &'static str,
    pub votes: Vec<Vote>,
    /// The generation of the live vocabulary its action_set was taken from.
    pub vocabulary: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    Active,
    Consumed,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub status: GrantStatus,
    pub plan: String,
    /// The vocabulary generation of its action set.
    pub vocabulary: u32,
    /// The payload version it was minted from.
    pub version: u32,
    pub expired: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub aprs: BTreeMap<String, Apr>,
    pub grants: BTreeMap<String, Grant>,
    /// The handler is unbound (handler_ref not the handler's).
    pub unbound: bool,
    /// The live C1 vocabulary's generation: each added operation bumps it.
    pub vocabulary: u32,
}

/// SPEC §9 approver identity: trimmed, ASCII case-insensitive; a name with
/// a control, invisible or non-ASCII character is nobody.
use dot_authorize_build_step::disposable::fixtures::TEST_APPROVERS;

pub fn identity(name: &str) -> Option<String> {
    let t = name.trim_matches(' ');
    (!t.is_empty() && t.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        .then(|| t.to_ascii_lowercase())
}

impl Apr {
    fn version(&self) -> Option<u32> {
        match &self.payload {
            Payload::Valid { version, .. } => Some(*version),
            Payload::Refused(_) => None,
        }
    }

    fn vetoed(&self) -> bool {
        self.votes
            .iter()
            .any(|v| !v.approve && identity(&v.approver).as_deref() != Some(PROPOSER))
    }

    /// The handler's recount (stricter than quorum_passed(), so the two
    /// never drift in these histories: see `quorum_function`).
    fn recount(&self) -> bool {
        let Some(version) = self.version() else {
            return false;
        };
        let mut counted = std::collections::BTreeSet::new();
        for v in self.votes.iter().filter(|v| v.approve) {
            if let Some(id) = identity(&v.approver) {
                // SPEC §10: only a signed approval counts, and only the
                // test approvers of these exact names can sign.
                if id != PROPOSER
                    && v.approver != PROPOSER
                    && v.digest == DigestOf::Version(version)
                    && TEST_APPROVERS.contains(&v.approver.as_str())
                {
                    counted.insert(id);
                }
            }
        }
        counted.len() >= MIN_APPROVALS && self.votes.iter().all(|v| v.approve)
    }

    /// quorum_passed() of the fixtures: distinct readable identities other
    /// than the proposer's, no reject at all, digests and signatures not
    /// looked at.
    fn quorum_function(&self) -> bool {
        let names: std::collections::BTreeSet<String> = self
            .votes
            .iter()
            .filter(|v| v.approve)
            .filter_map(|v| identity(&v.approver))
            .filter(|id| id != PROPOSER)
            .collect();
        names.len() >= MIN_APPROVALS && self.votes.iter().all(|v| v.approve)
    }

    /// SPEC §9 invariant 7 for a grant minted from `version`: the APR
    /// still approved or applied, its payload still the one minted, no
    /// veto, and the quorum still there.
    fn backs(&self, version: u32) -> bool {
        matches!(self.status, "approved" | "applied")
            && self.version() == Some(version)
            && !self.vetoed()
            && self.recount()
            && self.quorum_function()
    }
}

impl World {
    fn other_active(&self, apr: &str, plan: &str) -> bool {
        self.grants.iter().any(|(a, g)| {
            a != apr && g.plan == plan && g.status == GrantStatus::Active && !g.expired
        })
    }

    /// `execute --apr` (SPEC §4's order, then invariant 7 for a re-run).
    pub fn execute(&mut self, code: &str, dry_run: bool) -> &'static str {
        let Some(apr) = self.aprs.get(code) else {
            return "REJECT_APR_NOT_FOUND";
        };
        if self.unbound {
            return "REJECT_HANDLER_NOT_BOUND";
        }
        if let Some(g) = self.grants.get(code) {
            if apr.version() != Some(g.version) {
                return "REJECT_APR_TAMPERED";
            }
            return if apr.backs(g.version) {
                "ALREADY_MINTED"
            } else {
                "REJECT_GRANT_INVALID"
            };
        }
        match apr.status {
            "approved" => {}
            "proposed" => return "REJECT_APR_NOT_APPROVED",
            _ => return "REJECT_APR_TERMINAL",
        }
        // SPEC §5's order: REAL_RUN and carrier come before the action
        // set; TTL after it. An action set from an older vocabulary is no
        // longer exactly the live one.
        let stale_set = apr.vocabulary != self.vocabulary;
        let (plan, version) = match &apr.payload {
            Payload::Refused(c) if stale_set && *c == "REJECT_TTL" => return "REJECT_ACTION_SET",
            Payload::Refused(c) => return c,
            Payload::Valid { .. } if stale_set => return "REJECT_ACTION_SET",
            Payload::Valid { plan, version } => (plan.clone(), *version),
        };
        if apr.vetoed() {
            return "REJECT_QUORUM_VETOED";
        }
        if !apr.recount() {
            return "REJECT_QUORUM_NOT_MET";
        }
        if !apr.quorum_function() {
            return "ERROR_QUORUM_DRIFT";
        }
        if self.other_active(code, &plan) {
            return "REJECT_ACTIVE_GRANT_EXISTS";
        }
        if dry_run {
            return "WOULD_MINT";
        }
        self.grants.insert(
            code.to_owned(),
            Grant {
                status: GrantStatus::Active,
                plan,
                vocabulary: apr.vocabulary,
                version,
                expired: false,
            },
        );
        "MINTED"
    }

    /// `consume` presenting the grant's binding with plan `plan`.
    pub fn consume(&mut self, code: &str, plan: &str, dry_run: bool) -> &'static str {
        let Some(g) = self.grants.get(code) else {
            return "REJECT_AUTH_NOT_FOUND";
        };
        match g.status {
            GrantStatus::Consumed => return "REJECT_AUTH_ALREADY_CONSUMED",
            GrantStatus::Revoked => return "REJECT_AUTH_REVOKED",
            GrantStatus::Active => {}
        }
        if plan != g.plan {
            return "REJECT_AUTH_WRONG_PLAN";
        }
        let apr = &self.aprs[code];
        if !matches!(apr.status, "approved" | "applied") || apr.version() != Some(g.version) {
            return "REJECT_AUTH_STALE";
        }
        if g.expired {
            return "REJECT_AUTH_EXPIRED";
        }
        if self.unbound || !apr.backs(g.version) {
            return "REJECT_GRANT_INVALID";
        }
        if dry_run {
            return "WOULD_CONSUME";
        }
        self.grants.get_mut(code).unwrap().status = GrantStatus::Consumed;
        "CONSUMED"
    }

    /// `revoke --apr`.
    pub fn revoke(&mut self, code: &str) -> &'static str {
        let Some(g) = self.grants.get_mut(code) else {
            return "REJECT_AUTH_NOT_FOUND";
        };
        match g.status {
            GrantStatus::Active => {
                g.status = GrantStatus::Revoked;
                "REVOKED"
            }
            GrantStatus::Revoked => "ALREADY_REVOKED",
            GrantStatus::Consumed => "REJECT_AUTH_ALREADY_CONSUMED",
        }
    }
}
