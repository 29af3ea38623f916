//! `consume`: spend a grant once, bound to what is presented. REAL_RUN and
//! an unknown mode are refused before anything is read. Never decides
//! policy, never speaks SQL.

use super::context::Context;
use super::output::{verdict, Output};
use crate::cli::ConsumeArgs;
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::decide::facts::Presented;
use crate::decide::manifest;
use crate::decide::outcome::Stop;
use crate::store::grants;

pub(super) fn consume(cx: &Context, args: &ConsumeArgs) -> Output {
    let refuse = |stop: Stop| {
        Output::Verdict(
            Verdict::from(stop)
                .auth_code(args.auth_code.clone())
                .dry_run(args.dry_run),
        )
    };
    // REAL_RUN is refused before anything is read: first in SPEC's order.
    if let Err(stop) = crate::decide::consume::refuse_real_run(&args.mode) {
        return refuse(stop);
    }
    if args.mode != crate::decide::payload::MODE_DRY_RUN {
        return Output::Usage(format!(
            "--mode {:?}: only DRY_RUN (or REAL_RUN, always refused) is known",
            args.mode
        ));
    }
    let (manifest_hash, action_set) = match (&args.manifest, &args.manifest_hash, &args.action_set)
    {
        (Some(path), _, _) => match manifest::from_file(
            path,
            crate::sys::file::read_regular(path, manifest::MAX_MANIFEST_BYTES),
        ) {
            Ok(m) => (m.hash.as_str().to_owned(), m.action_set),
            Err(stop) => return refuse(stop),
        },
        (None, Some(h), Some(set)) => (h.clone(), set.split(',').map(str::to_owned).collect()),
        _ => {
            return Output::Usage(
                "give --manifest FILE, or --manifest-hash H with --action-set a,b,c".into(),
            )
        }
    };
    let presented = Presented {
        carrier: args.carrier.clone(),
        lane: args.lane.clone(),
        target: args.target.clone(),
        plan_ref: args.plan_ref.clone(),
        mode: args.mode.clone(),
        manifest_hash,
        action_set,
    };
    let request_id = args.request_id.clone().unwrap_or_else(fresh_request_id);
    if let Err(usage) = cx.target() {
        return Output::Usage(usage);
    }
    let (trusted, allowed) = match cx
        .trusted_keys()
        .and_then(|t| cx.allowed_signers().map(|a| (t, a)))
    {
        Ok(k) => k,
        Err(stop) => return refuse(stop),
    };
    let keys = grants::Keys {
        signing: None,
        trusted: &trusted,
        allowed: &allowed,
        evidence_head: None,
    };
    verdict(cx.with_db_settled(|c| {
        outcome::consume(
            c,
            &args.auth_code,
            &presented,
            &args.by,
            &request_id,
            args.dry_run,
            &keys,
        )
        .map_err(|s| (s, None))
    }))
    .and_fill(|v| {
        v.auth_code.get_or_insert_with(|| args.auth_code.clone());
        v.dry_run.get_or_insert(args.dry_run);
    })
}

/// A fresh random request id (128 bits from the OS).
fn fresh_request_id() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No OS randomness: still unique enough per process and instant.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos ^ (u128::from(std::process::id()) << 96)).to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("req-{hex}")
}
