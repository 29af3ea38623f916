//! `propose-patch` (a patch_ops_code APR from a file's new content) and
//! `show-patch` (its content verified, printed, diffed or written out,
//! never over an existing file without --force).

use super::context::Context;
use super::output::{verdict, Output};
use super::render::shorten_base64;
use crate::canon::cser;
use crate::cli::ProposePatchArgs;
use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;
use crate::decide::reject::{Done, Fault, Reject};
use crate::store::aprs;

pub(super) fn propose_patch(cx: &Context, args: &ProposePatchArgs) -> Output {
    let refuse = |stop: Stop| {
        let mut v = Verdict::from(stop).dry_run(args.dry_run);
        v.apr = args.apr.clone();
        Output::Verdict(v)
    };
    let cap = crate::decide::patch::MAX_CONTENT_BYTES as u64;
    let content = match crate::sys::file::read_regular(&args.new_content, cap) {
        Ok(c) => c,
        Err(crate::sys::file::ReadError::TooLarge) => {
            return refuse(Stop::Reject(
                Reject::PatchTooLarge,
                format!("the new content is larger than {cap} bytes"),
            ))
        }
        Err(e) => {
            return refuse(Stop::Reject(
                Reject::PatchMissing,
                format!(
                    "cannot read --new-content {}: {e:?}",
                    args.new_content.display()
                ),
            ))
        }
    };
    let request = crate::decide::patch::PatchRequest {
        content,
        file_path: args.file_path.clone(),
        dot_code: args.dot_code.clone(),
        session: args.session.clone(),
        test_plan: args.test_plan.clone(),
        restore: args.restore,
    };
    if let Err(stop) = crate::commands::patch_io::check(&request) {
        return refuse(stop);
    }
    let payload = crate::decide::patch::payload(&request);
    let digest = match cser::digest(&payload) {
        Ok(d) => d,
        Err(e) => return refuse(Stop::Fault(Fault::Io, e.to_string())),
    };
    let apr = args
        .apr
        .clone()
        .unwrap_or_else(|| format!("APR-PATCH-{}", &digest.as_str()[..12]));
    // A human reads the payload with its base64 shortened; --json (and the
    // database) carry it whole.
    let mut shown = payload.clone();
    if !cx.settings.json {
        shorten_base64(&mut shown);
    }
    let facts = |v: Verdict| {
        v.apr(apr.clone())
            .dry_run(args.dry_run)
            .detail("payload", shown.clone())
            .detail("payload_digest", digest.as_str())
            .detail("new_content_sha256", payload["new_content_sha256"].clone())
            .detail("new_content_bytes", request.content.len())
    };
    if args.dry_run {
        return Output::Verdict(facts(Verdict::done(
            Done::WouldPropose,
            "dry run: would propose this patch_ops_code APR; nothing written",
        )));
    }
    verdict(cx.with_db(|c| {
        aprs::insert_apr(
            c,
            &apr,
            crate::decide::patch::REQUEST_TYPE,
            crate::decide::patch::ACTION_CODE,
            &payload,
            &args.by,
            Some(&args.session),
        )
        .map(|()| {
            facts(Verdict::done(
                Done::Proposed,
                format!("proposed {apr}; approve it to high-risk quorum"),
            ))
        })
        .map_err(|s| (s, Some(apr.clone())))
    }))
}

pub(super) fn show_patch(
    cx: &Context,
    apr: &str,
    against: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
    force: bool,
) -> Output {
    let result = cx.with_db(|c| {
        let (action, payload) =
            aprs::read_apr_payload(c, apr).map_err(|s| (s, Some(apr.to_owned())))?;
        if action != crate::decide::patch::ACTION_CODE {
            return Err((
                Stop::Reject(
                    Reject::AprWrongAction,
                    format!("APR action_code is {action:?}, not \"patch_ops_code\""),
                ),
                Some(apr.to_owned()),
            ));
        }
        let bytes =
            crate::decide::patch::verify(&payload).map_err(|s| (s, Some(apr.to_owned())))?;
        let mut v = Verdict::done(
            Done::PatchVerified,
            "the new content matches its recorded SHA-256",
        )
        .apr(apr)
        .detail("file_path", payload["file_path"].clone())
        .detail("new_content_sha256", payload["new_content_sha256"].clone())
        .detail("new_content_bytes", bytes.len());
        if let Some(path) = out {
            use std::io::Write as _;
            // Never a silent overwrite: create_new unless --force.
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if force {
                options.create(true).truncate(true);
            } else {
                options.create_new(true);
            }
            options
                .open(path)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|e| {
                    let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                        format!("{} exists; give --force to replace it", path.display())
                    } else {
                        format!("cannot write {}: {e}", path.display())
                    };
                    (Stop::Fault(Fault::Io, why), None)
                })?;
            v = v.detail("written_to", path.display().to_string());
        }
        if let Some(path) = against {
            let cap = crate::decide::patch::MAX_CONTENT_BYTES as u64 * 4;
            let current = crate::sys::file::read_regular(path, cap).map_err(|e| {
                (
                    Stop::Fault(
                        Fault::Io,
                        format!("cannot read {}: {}", path.display(), e.describe()),
                    ),
                    None,
                )
            })?;
            let diff = crate::decide::patch::unified_diff(
                &String::from_utf8_lossy(&current),
                &String::from_utf8_lossy(&bytes),
                &path.display().to_string(),
                &format!("{apr}:new_content"),
            );
            v.lines = if diff.is_empty() {
                vec!["no differences".to_owned()]
            } else {
                diff.lines().map(str::to_owned).collect()
            };
            v = v.detail("diff", diff);
        } else if out.is_none() {
            v.lines = String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect();
            // --json has no result lines: the content goes in the verdict,
            // as text when it is text (new_content_sha256 is over the bytes).
            if let Ok(text) = std::str::from_utf8(&bytes) {
                v = v.detail("new_content", text);
            }
        }
        Ok(v)
    });
    verdict(result)
}
