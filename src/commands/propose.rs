//! `propose`: a build-prep APR from a manifest (or its hash), checked
//! against the live vocabulary, or offline when no database answers a dry
//! run. Never decides policy, never speaks SQL.

use super::context::{connect, Context};
use super::output::Output;
use crate::cli::ProposeArgs;
use crate::commands::outcome;
use crate::commands::verdict::Verdict;
use crate::decide::manifest;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Fault, Reject};

pub(super) fn propose(cx: &Context, args: &ProposeArgs) -> Output {
    let refuse = |stop: Stop| {
        let mut v = Verdict::from(stop).dry_run(args.dry_run);
        v.apr = args.apr.clone();
        Output::Verdict(v)
    };
    let manifest = match (&args.manifest, &args.manifest_hash) {
        (Some(path), _) => match manifest::from_file(
            path,
            crate::sys::file::read_regular(path, manifest::MAX_MANIFEST_BYTES),
        ) {
            Ok(m) => Some(m),
            Err(stop) => return refuse(stop),
        },
        (None, Some(_)) => None,
        (None, None) => return Output::Usage("give --manifest FILE or --manifest-hash H".into()),
    };
    let (hash, action_set) = match &manifest {
        Some(m) => (m.hash.as_str().to_owned(), m.action_set.clone()),
        // The action set comes from the live vocabulary (store::aprs::propose).
        None => (args.manifest_hash.clone().unwrap_or_default(), Vec::new()),
    };
    // A bare number is a slip of the hand, not a TTL out of range: usage.
    if !args.ttl.is_empty() && args.ttl.bytes().all(|b| b.is_ascii_digit()) {
        return Output::Usage(format!(
            "--ttl {:?} has no unit: add one, e.g. {}s or {}m (s, m, h)",
            args.ttl, args.ttl, args.ttl
        ));
    }
    let ttl_seconds = match crate::cli::parse_duration(&args.ttl) {
        Ok(d) if d.subsec_nanos() == 0 => serde_json::Value::from(d.as_secs()),
        Ok(_) => {
            return refuse(Stop::Reject(
                Reject::Ttl,
                format!("--ttl {} is not a whole number of seconds", args.ttl),
            ))
        }
        Err(e) => return refuse(Stop::Reject(Reject::Ttl, e)),
    };
    let request = crate::decide::propose::Request {
        payload: crate::decide::propose::payload(
            &hash,
            &action_set,
            &args.plan_ref,
            ttl_seconds,
            &args.rollback_plan_ref,
        ),
        manifest,
        apr: args.apr.clone(),
        proposed_by: args.by.clone(),
        session: args.session.clone(),
    };
    let target = match cx.target() {
        Ok(t) => t,
        Err(usage) => return Output::Usage(usage),
    };
    let client = connect(&target);
    let result = match (client, args.dry_run) {
        (Ok(mut c), dry_run) => cx.on(&mut c, |c| outcome::propose(c, &request, dry_run)),
        // Only "no database answered" falls back to the offline check; a
        // refused login or a timeout is an answer, and an ERROR.
        (Err(Stop::Fault(Fault::DbUnreachable, _)), true) => {
            crate::decide::propose::offline(&request, chrono::Utc::now()).map(Verdict::from)
        }
        (Err(stop), _) => Err(stop),
    };
    match result {
        Ok(v) => Output::Verdict(v.dry_run(args.dry_run)),
        Err(stop) => refuse(stop),
    }
}
