//! `manifest hash` and `manifest canon`: a manifest's cser-v1 form and its
//! SHA-256, from a file or stdin. Never connects.

use super::output::Output;
use crate::canon::cser;
use crate::cli::ManifestCommand;
use crate::commands::verdict::{Status, Verdict};
use crate::decide::manifest;
use crate::decide::reject::{Done, Reject};

pub(super) fn manifest_cmd(m: &ManifestCommand, json: bool) -> Output {
    let (path, want_hash) = match m {
        ManifestCommand::Hash { file } => (file, true),
        ManifestCommand::Canon { file } => (file, false),
    };
    let stdin = path.as_os_str() == "-";
    let read = if stdin {
        crate::sys::file::read_stdin(manifest::MAX_MANIFEST_BYTES).map_err(manifest::stdin_refused)
    } else {
        crate::sys::file::read_regular(path, manifest::MAX_MANIFEST_BYTES)
            .map_err(|e| manifest::read_refused(path, e))
    };
    let bytes = match read {
        Ok(b) => b,
        Err(stop) => return Output::Verdict(Verdict::from(stop)),
    };
    let source = if stdin {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    // The hash from cser's one hashing function, never a SHA-256 of the
    // canonical text taken here by hand.
    let canonical = cser::parse(&bytes).and_then(|v| Ok((cser::canonical(&v)?, cser::digest(&v)?)));
    match canonical {
        Ok((canon, hash)) if json => {
            let v = Verdict::done(Done::Hashed, format!("cser-v1 SHA-256 of {source}"))
                .detail("sha256", hash.as_str());
            Output::Verdict(if want_hash {
                v
            } else {
                v.detail("canonical", canon)
            })
        }
        Ok((_, hash)) if want_hash => Output::Raw(format!("{hash}\n").into_bytes()),
        Ok((canon, _)) => Output::Raw(canon.into_bytes()),
        Err(e) => Output::Verdict(Verdict::new(
            Status::Reject(Reject::ManifestInvalid),
            format!("{source} is not cser-v1 JSON: {e}"),
        )),
    }
}
