//! What the store found or did, said as a verdict: the detail names, the
//! messages, the bulk table and the timestamps (`canon::text`). The store
//! returns typed results (`store::db`); this is where they become output.
//! Never reads or writes the database itself beyond calling the store, and
//! decides nothing.

use crate::commands::verdict::Verdict;
use crate::decide::facts;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Reject};
use crate::decide::revoke;
use crate::integrity::signing::TrustedKeys;
use crate::store::aprs;
use crate::store::aprs::Proposed;
use crate::store::conn::Conn;
use crate::store::grants::{GrantKey, Keys};
use crate::store::mint;
use crate::store::mint::Executed;
use crate::store::read;
use crate::store::spend;
use crate::store::spend::{BulkOutcome, BulkRevoked, Consumed, RevokeOutcome, Revoked};
use serde_json::Value;

// ---------------------------------------------------------------------------
// execute
// ---------------------------------------------------------------------------

/// `mint::execute`, said as its verdict.
pub fn execute(
    conn: &mut Conn,
    apr_code: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Verdict, Stop> {
    mint::execute(conn, apr_code, dry_run, keys).map(|e| executed(apr_code, dry_run, e))
}

/// The verdict of what `execute` found or did for `apr_code`.
pub fn executed(apr_code: &str, dry_run: bool, e: Executed) -> Verdict {
    let mint_facts = |v: Verdict, m: &mint::Mint| {
        v.apr(apr_code)
            .auth_code(m.auth_code.clone())
            .dry_run(dry_run)
            .detail("plan_ref", m.plan_ref.as_str())
            .detail("manifest_hash", m.manifest_hash.as_str())
            .detail("ttl_seconds", m.ttl_seconds)
            .detail("apr_digest", m.apr_digest.as_str())
    };
    match e {
        Executed::QuorumNotMet { why, recount } => {
            let mut v = Verdict::from(Stop::Reject(Reject::QuorumNotMet, why))
                .apr(apr_code)
                .dry_run(dry_run);
            if let Some(t) = recount {
                v = v.detail("quorum", t);
            }
            v
        }
        Executed::AlreadyMinted(grant) => Verdict::done(
            Done::AlreadyMinted,
            format!(
                "grant {} was already minted for this APR; nothing written",
                grant.auth_code
            ),
        )
        .apr(apr_code)
        .auth_code(grant.auth_code.clone())
        .expires_at(grant.expires_at)
        .dry_run(dry_run)
        .detail("grant_status", grant.status.clone())
        .detail(
            "granted_at",
            crate::canon::text::timestamp(&grant.granted_at),
        )
        .detail("apr_digest", grant.apr_digest.clone().unwrap_or_default()),
        Executed::WouldMint { mint, expires_at } => {
            let message = format!(
                "dry run: would mint {}; read without locks in a read-only transaction, nothing written",
                mint.auth_code
            );
            mint_facts(Verdict::done(Done::WouldMint, message), &mint).expires_at(expires_at)
        }
        Executed::Minted {
            mint,
            expires_at,
            key_id,
        } => {
            let message = format!("minted {}", mint.auth_code);
            mint_facts(Verdict::done(Done::Minted, message), &mint)
                .expires_at(expires_at)
                .detail("key_id", key_id)
        }
    }
}

// ---------------------------------------------------------------------------
// consume
// ---------------------------------------------------------------------------

/// `spend::consume`, said as its verdict.
#[allow(clippy::too_many_arguments)]
pub fn consume(
    conn: &mut Conn,
    auth_code: &str,
    presented: &facts::Presented,
    by: &str,
    request_id: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Verdict, Stop> {
    spend::consume(conn, auth_code, presented, by, request_id, dry_run, keys)
        .map(|c| consumed(auth_code, request_id, dry_run, c))
}

/// The verdict of what `consume` found or did.
pub fn consumed(auth_code: &str, request_id: &str, dry_run: bool, c: Consumed) -> Verdict {
    match c {
        Consumed::Replay(g) => consumed_verdict(&g, auth_code, request_id, dry_run, true),
        Consumed::Would(grant) => Verdict::done(
            Done::WouldConsume,
            format!("dry run: {auth_code} would be consumed; read without locks, nothing written"),
        )
        .apr(grant.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(grant.expires_at),
        Consumed::Spent(g) => consumed_verdict(&g, auth_code, request_id, false, false),
    }
}

fn consumed_verdict(
    g: &facts::Grant,
    auth_code: &str,
    request_id: &str,
    dry_run: bool,
    replay: bool,
) -> Verdict {
    let message = if replay {
        format!("{auth_code} was already consumed by this same request (same --request-id and binding); nothing written")
    } else {
        format!("consumed {auth_code}; it cannot be used again")
    };
    let mut v = Verdict::done(Done::Consumed, message)
        .apr(g.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(g.expires_at)
        .detail("request_id", request_id)
        .detail("consumed_by", g.consumed_by.clone().unwrap_or_default());
    if let Some(at) = &g.consumed_at {
        v = v.detail("consumed_at", crate::canon::text::timestamp(at));
    }
    v
}

// ---------------------------------------------------------------------------
// revoke
// ---------------------------------------------------------------------------

/// `spend::revoke`, said as its verdict.
pub fn revoke(
    conn: &mut Conn,
    key: GrantKey<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    spend::revoke(conn, key, reason, by, dry_run, trusted).map(|r| revoked(reason, by, dry_run, r))
}

/// The verdict of what `revoke` found or did to one grant.
pub fn revoked(reason: &str, by: &str, dry_run: bool, r: Revoked) -> Verdict {
    let Revoked {
        grant,
        forged,
        outcome,
    } = r;
    let note = forged
        .as_ref()
        .map(|why| format!(" (it was forged: no trusted key signed it; {why})"))
        .unwrap_or_default();
    let base = |v: Verdict| {
        let v = v
            .apr(grant.request_ref.clone())
            .auth_code(grant.auth_code.clone())
            .expires_at(grant.expires_at)
            .dry_run(dry_run);
        match &forged {
            Some(why) => v.detail("forged", why.as_str()),
            None => v,
        }
    };
    match outcome {
        RevokeOutcome::AlreadyRevoked => base(Verdict::done(
            Done::AlreadyRevoked,
            format!(
                "{} was already revoked{note}; nothing written",
                grant.auth_code
            ),
        )),
        RevokeOutcome::WouldRevoke => base(Verdict::done(
            Done::WouldRevoke,
            format!(
                "dry run: {} would be revoked{note}; nothing written",
                grant.auth_code
            ),
        )),
        RevokeOutcome::Revoked(revoked_at) => base(Verdict::done(
            Done::Revoked,
            format!("revoked {}{note}", grant.auth_code),
        ))
        .detail("revoked_at", crate::canon::text::timestamp(&revoked_at))
        .detail("revoked_by", by)
        .detail("revoke_reason", reason),
        RevokeOutcome::RevokedConcurrently => base(Verdict::done(
            Done::AlreadyRevoked,
            format!(
                "{} was revoked by a concurrent call; nothing written",
                grant.auth_code
            ),
        )),
    }
}

/// `spend::revoke_bulk`, said as its verdict.
#[allow(clippy::too_many_arguments)]
pub fn revoke_bulk(
    conn: &mut Conn,
    selector: revoke::Selector<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    expect: Option<u64>,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    spend::revoke_bulk(conn, selector, reason, by, dry_run, expect, trusted)
        .map(|b| bulk_revoked(selector, reason, by, dry_run, trusted, b))
}

/// One grant of a bulk revoke as the verdicts and the table show it.
fn bulk_row(s: &revoke::Selected) -> Value {
    let g = &s.grant;
    serde_json::json!({
        "auth_code": g.auth_code,
        "apr": g.request_ref,
        "plan_ref": g.plan_ref,
        "key_id": g.key_id,
        "expires_at": crate::canon::text::timestamp(&g.expires_at),
        "signature": if s.forged.is_some() { "FORGED" } else { "verified" },
    })
}

/// The verdict of a bulk revoke: the set as a table, and each grant's own.
pub fn bulk_revoked(
    selector: revoke::Selector<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
    b: BulkRevoked,
) -> Verdict {
    let set = &b.set;
    let which = selector.describe();
    let rows: Vec<Value> = set.iter().map(bulk_row).collect();
    let codes: Vec<String> = set.iter().map(|s| s.grant.auth_code.clone()).collect();
    let n = set.len();
    let grants = |n: usize| format!("{n} grant{}", if n == 1 { "" } else { "s" });
    let summary = |v: Verdict| {
        let mut v = v
            .dry_run(dry_run)
            .detail("selector", which.as_str())
            .detail("count", n)
            .detail("grants", rows.clone());
        v.lines = bulk_table(set);
        v
    };
    let at = match b.outcome {
        BulkOutcome::Nothing => {
            // A well-formed id nobody trusts and no row names is most
            // likely a slip: say so, since the empty set is an OK.
            let hint = match selector {
                revoke::Selector::KeyId(k) if !trusted.contains(k) => {
                    format!(" ({k} is not a trusted key either: check the id with `keys`)")
                }
                _ => String::new(),
            };
            return summary(Verdict::done(
                Done::NothingToRevoke,
                format!("no active grant matches {which}{hint}; nothing written"),
            ));
        }
        BulkOutcome::Would => {
            return summary(Verdict::done(
                Done::WouldRevoke,
                format!(
                    "dry run: {} would be revoked ({which}): {}; nothing written; to revoke them, \
                     run again without --dry-run and with --expect {n}",
                    grants(n),
                    codes.join(", ")
                ),
            ))
        }
        BulkOutcome::Revoked(at) => at,
    };
    let each: Vec<Verdict> = set
        .iter()
        .map(|s| {
            let g = &s.grant;
            let note = s
                .forged
                .as_ref()
                .map(|why| format!(" (it was forged: no trusted key signed it; {why})"))
                .unwrap_or_default();
            let v = Verdict::done(
                Done::Revoked,
                format!("revoked {}{note} ({which})", g.auth_code),
            )
            .apr(g.request_ref.clone())
            .auth_code(g.auth_code.clone())
            .expires_at(g.expires_at)
            .dry_run(false)
            .detail("selector", which.as_str());
            let v = match &s.forged {
                Some(why) => v.detail("forged", why.as_str()),
                None => v,
            };
            let v = match at.get(&g.auth_code) {
                Some(t) => v.detail("revoked_at", crate::canon::text::timestamp(t)),
                None => v,
            };
            v.detail("revoked_by", by).detail("revoke_reason", reason)
        })
        .collect();
    let mut v = summary(Verdict::done(
        Done::Revoked,
        format!("revoked {} ({which}): {}", grants(n), codes.join(", ")),
    ))
    .detail("revoked", codes.clone())
    .detail("revoked_by", by)
    .detail("revoke_reason", reason);
    v.each = each;
    v
}

/// The bulk set as a table: what the dry run shows is what the run revokes.
fn bulk_table(set: &[revoke::Selected]) -> Vec<String> {
    let esc = |s: Option<&str>| crate::canon::text::escape(s.unwrap_or(""));
    let cells: Vec<[String; 6]> = set
        .iter()
        .map(|s| {
            let g = &s.grant;
            [
                esc(Some(&g.auth_code)),
                esc(Some(&g.request_ref)),
                esc(g.plan_ref.as_deref()),
                esc(g.key_id.as_deref()),
                crate::canon::text::timestamp(&g.expires_at),
                if s.forged.is_some() {
                    "FORGED"
                } else {
                    "verified"
                }
                .to_owned(),
            ]
        })
        .collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let header = [
        "auth_code",
        "apr",
        "plan_ref",
        "key_id",
        "expires_at",
        "signature",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for row in &cells {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out
}

// ---------------------------------------------------------------------------
// review and propose
// ---------------------------------------------------------------------------

/// `aprs::record_vote`, said as its verdict.
pub fn record_vote(
    conn: &mut Conn,
    read: &aprs::ReviewRead,
    vote: &facts::Vote,
) -> Result<Verdict, Stop> {
    aprs::record_vote(conn, read, vote).map(|()| recorded(read, vote))
}

/// The verdict of a vote recorded.
pub fn recorded(read: &aprs::ReviewRead, vote: &facts::Vote) -> Verdict {
    let apr_code = read.facts.apr_code.as_str();
    let digest = vote.payload_digest.clone().unwrap_or_default();
    Verdict::done(
        Done::Reviewed,
        format!(
            "{} voted {} on {apr_code} for payload digest {digest}{}",
            vote.approver,
            vote.decision,
            if vote.signature.is_some() {
                ", signed"
            } else {
                ", unsigned"
            }
        ),
    )
    .apr(apr_code)
    .detail("approver", vote.approver.as_str())
    .detail("decision", vote.decision.as_str())
    .detail("payload_digest", digest.as_str())
    .detail("signed", vote.signature.is_some())
    .detail(
        "canonical_payload",
        read.canonical.clone().unwrap_or_default(),
    )
}

/// `aprs::propose`, said as its verdict.
pub fn propose(
    conn: &mut Conn,
    request: &crate::decide::propose::Request,
    dry_run: bool,
) -> Result<Verdict, Stop> {
    aprs::propose(conn, request, dry_run).map(proposed)
}

/// The verdict of a proposal checked against the live vocabulary.
pub fn proposed(p: Proposed) -> Verdict {
    if p.written {
        let message = format!(
            "proposed {}; it needs approval before execute will mint",
            p.apr
        );
        crate::decide::propose::verdict(Done::Proposed, &p.apr, &p.request, &p.validated, message)
            .into()
    } else {
        crate::decide::propose::verdict(
            Done::WouldPropose,
            &p.apr,
            &p.request,
            &p.validated,
            "dry run: would propose this APR (checked against the live vocabulary); nothing written".into(),
        )
        .into()
    }
}

// ---------------------------------------------------------------------------
// the command line's query types, as the store takes them
// ---------------------------------------------------------------------------

impl From<crate::cli::Since> for read::Since {
    fn from(s: crate::cli::Since) -> read::Since {
        match s {
            crate::cli::Since::Ago(d) => read::Since::Ago(d),
            crate::cli::Since::At(at) => read::Since::At(at),
        }
    }
}

impl From<crate::cli::GrantSort> for read::GrantSort {
    fn from(s: crate::cli::GrantSort) -> read::GrantSort {
        use crate::cli::GrantSort as G;
        match s {
            G::GrantedAt => read::GrantSort::GrantedAt,
            G::ExpiresAt => read::GrantSort::ExpiresAt,
            G::AuthCode => read::GrantSort::AuthCode,
            G::Apr => read::GrantSort::Apr,
            G::Plan => read::GrantSort::Plan,
            G::Status => read::GrantSort::Status,
            G::KeyId => read::GrantSort::KeyId,
        }
    }
}
