//! Owner STEP 1: the `patch_ops_code` APR that installs the dispatch arm
//! into dot-apr-execute. Builds its payload (the whole new dispatcher as
//! base64, with its SHA-256), refuses content that could not be the right
//! dispatcher, and verifies a stored payload for approvers. Pure except for
//! `bash -n`, which runs bash on a temporary copy of the content.

use crate::cser::Sha256Hex;
use crate::policy::Stop;
use crate::reject::{Fault, Reject};
use base64::Engine as _;
use serde_json::{json, Value};

/// The staged arm, compiled in: what the new dispatcher must contain.
pub const ARM: &str = include_str!("../staged/dot-apr-execute.authorize_build_step.arm.sh");
pub const ARM_FUNCTION: &str = "execute_authorize_build_step";
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
pub const ACTION_CODE: &str = "patch_ops_code";
pub const REQUEST_TYPE: &str = "fix_repair_dot";

/// What `propose-patch` was asked to build.
#[derive(Debug, Clone)]
pub struct PatchRequest {
    pub content: Vec<u8>,
    pub file_path: String,
    pub dot_code: String,
    pub session: String,
    pub test_plan: String,
    /// Rollback: the content restores the dispatcher as it was before the
    /// arm, so it must *not* carry the arm.
    pub restore: bool,
}

/// Every refusal of the content and the path, in the order a reviewer would
/// check them: path, size, encoding, the arm, then syntax (`bash -n`).
pub fn check(request: &PatchRequest) -> Result<(), Stop> {
    let path = &request.file_path;
    if !path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(Stop::Reject(
            Reject::PatchFilePath,
            format!("--file-path {path:?} must be absolute and contain no '..'"),
        ));
    }
    if request.content.is_empty() {
        return Err(Stop::Reject(
            Reject::PatchEmpty,
            "the new content is empty".into(),
        ));
    }
    if request.content.len() > MAX_CONTENT_BYTES {
        return Err(Stop::Reject(
            Reject::PatchTooLarge,
            format!(
                "the new content is {} bytes; at most {MAX_CONTENT_BYTES}",
                request.content.len()
            ),
        ));
    }
    let text = std::str::from_utf8(&request.content).map_err(|e| {
        Stop::Reject(
            Reject::PatchNotUtf8,
            format!("the new content is not UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    if request.restore {
        if function_body(text, ARM_FUNCTION).is_some() || dispatches_arm(text) {
            return Err(Stop::Reject(
                Reject::PatchArmPresent,
                format!(
                    "--restore content still carries {ARM_FUNCTION}(); a restore removes the arm"
                ),
            ));
        }
    } else {
        check_arm(text)?;
    }
    bash_syntax(text)
}

/// The content must carry the staged arm verbatim (its function, by name
/// and body) and dispatch authorize_build_step to it.
pub fn check_arm(text: &str) -> Result<(), Stop> {
    let want = function_body(ARM, ARM_FUNCTION).expect("the staged arm defines its function");
    match function_body(text, ARM_FUNCTION) {
        None => Err(Stop::Reject(
            Reject::PatchArmMissing,
            format!("the new content does not define {ARM_FUNCTION}() from staged/"),
        )),
        Some(got) if got != want => Err(Stop::Reject(
            Reject::PatchArmStale,
            format!("{ARM_FUNCTION}() differs from the staged arm (stale or edited); paste the staged arm unchanged"),
        )),
        Some(_) if !dispatches_arm(text) => Err(Stop::Reject(
            Reject::PatchArmMissing,
            format!("the new content never dispatches authorize_build_step) to {ARM_FUNCTION}"),
        )),
        Some(_) => Ok(()),
    }
}

/// The lines of `name() {` … the first `}` at the start of a line, with
/// trailing whitespace removed.
fn function_body(text: &str, name: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().map(str::trim_end);
    lines.find(|l| l.trim_start().starts_with(&format!("{name}()")))?;
    let mut body = Vec::new();
    for line in lines {
        if line == "}" {
            return Some(body);
        }
        body.push(line.to_owned());
    }
    None
}

fn dispatches_arm(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        !l.starts_with('#') && l.starts_with("authorize_build_step)") && l.contains(ARM_FUNCTION)
    })
}

/// `bash -n` on the content. A bash that cannot run is an ERROR, not a pass.
fn bash_syntax(text: &str) -> Result<(), Stop> {
    let digest = Sha256Hex::of(text.as_bytes());
    let dir = std::env::temp_dir().join(format!(
        "dot-abs-patch-{}-{}",
        std::process::id(),
        &digest.as_str()[..16]
    ));
    std::fs::create_dir_all(&dir).map_err(|e| Stop::Fault(Fault::Io, e.to_string()))?;
    let file = dir.join("new-content.sh");
    let result = std::fs::write(&file, text)
        .map_err(|e| Stop::Fault(Fault::Io, e.to_string()))
        .and_then(|()| {
            std::process::Command::new("bash")
                .arg("-n")
                .arg(&file)
                .output()
                .map_err(|e| Stop::Fault(Fault::Io, format!("cannot run bash -n: {e}")))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let out = result?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr)
            .replace(&file.display().to_string(), "new-content");
        Err(Stop::Reject(
            Reject::PatchSyntax,
            format!("bash -n refuses the new content: {}", err.trim()),
        ))
    }
}

/// The `proposed_action` of the patch APR.
pub fn payload(request: &PatchRequest) -> Value {
    json!({
        "dot_code": request.dot_code,
        "file_path": request.file_path,
        "patch_mode": "full_replace",
        "new_content_base64": base64::engine::general_purpose::STANDARD.encode(&request.content),
        "new_content_sha256": Sha256Hex::of(&request.content).as_str(),
        "session_code": request.session,
        "test_plan": request.test_plan,
    })
}

/// Decodes a stored payload and checks the bytes against their recorded
/// SHA-256: what an approver verifies before approving.
pub fn verify(payload: &Value) -> Result<Vec<u8>, Stop> {
    let malformed = |why: &str| Stop::Reject(Reject::PayloadMalformed, why.to_owned());
    let encoded = payload["new_content_base64"]
        .as_str()
        .ok_or_else(|| malformed("no new_content_base64 string"))?;
    let recorded = payload["new_content_sha256"]
        .as_str()
        .ok_or_else(|| malformed("no new_content_sha256 string"))?;
    if payload["patch_mode"] != "full_replace" {
        return Err(malformed("patch_mode is not \"full_replace\""));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| malformed(&format!("new_content_base64 is not standard base64: {e}")))?;
    let actual = Sha256Hex::of(&bytes);
    if actual.as_str() != recorded {
        return Err(Stop::Reject(
            Reject::PatchDigestMismatch,
            format!("the decoded content hashes to {actual}, but the payload records {recorded}: it was edited"),
        ));
    }
    Ok(bytes)
}

/// A unified diff of `current` → `new`, for approvers.
pub fn unified_diff(current: &str, new: &str, current_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(current, new)
        .unified_diff()
        .context_radius(3)
        .header(current_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispatcher(arm: &str) -> String {
        format!(
            "#!/usr/bin/env bash\nset -euo pipefail\n{arm}\ncase $1 in\n    authorize_build_step) execute_authorize_build_step \"$2\" ;;\nesac\n"
        )
    }

    fn request(content: &str) -> PatchRequest {
        PatchRequest {
            content: content.as_bytes().to_vec(),
            file_path: "/opt/incomex/dot/bin/dot-apr-execute".into(),
            dot_code: "DOT-310".into(),
            session: "S-C1-ABS-001".into(),
            test_plan: "bash -n passes".into(),
            restore: false,
        }
    }

    fn code(r: &PatchRequest) -> &'static str {
        match check(r) {
            Ok(()) => "OK",
            Err(Stop::Reject(r, _)) => r.code(),
            Err(Stop::Fault(f, _)) => f.code(),
        }
    }

    #[test]
    fn a_dispatcher_with_the_staged_arm_is_accepted_and_round_trips() {
        let r = request(&dispatcher(ARM));
        assert_eq!(code(&r), "OK");
        let p = payload(&r);
        assert_eq!(verify(&p).unwrap(), r.content);
        assert_eq!(p["new_content_sha256"], Sha256Hex::of(&r.content).as_str());
    }

    #[test]
    fn each_bad_content_or_path_has_its_code() {
        let good = dispatcher(ARM);
        let mut r = request(&good);
        r.file_path = "relative/dot-apr-execute".into();
        assert_eq!(code(&r), "REJECT_PATCH_FILE_PATH");
        r.file_path = "/opt/incomex/../etc/passwd".into();
        assert_eq!(code(&r), "REJECT_PATCH_FILE_PATH");
        assert_eq!(code(&request("")), "REJECT_PATCH_EMPTY");
        let mut big = good.clone();
        big.push_str(&"#".repeat(MAX_CONTENT_BYTES));
        assert_eq!(code(&request(&big)), "REJECT_PATCH_TOO_LARGE");
        let mut bad_utf8 = request(&good);
        bad_utf8.content.push(0xff);
        assert_eq!(code(&bad_utf8), "REJECT_PATCH_NOT_UTF8");
        assert_eq!(
            code(&request("#!/bin/bash\necho hi\n")),
            "REJECT_PATCH_ARM_MISSING"
        );
        let edited = ARM.replacen("return 3", "return 0", 1);
        assert_eq!(
            code(&request(&dispatcher(&edited))),
            "REJECT_PATCH_ARM_STALE"
        );
        let undispatched = format!("#!/usr/bin/env bash\n{ARM}\n");
        assert_eq!(code(&request(&undispatched)), "REJECT_PATCH_ARM_MISSING");
        let broken = format!("{}\nif then fi (\n", dispatcher(ARM));
        assert_eq!(code(&request(&broken)), "REJECT_PATCH_SYNTAX");
        let mut restore = request(&good);
        restore.restore = true;
        assert_eq!(code(&restore), "REJECT_PATCH_ARM_PRESENT");
        let mut restore = request("#!/bin/bash\necho the old dispatcher\n");
        restore.restore = true;
        assert_eq!(code(&restore), "OK");
    }

    #[test]
    fn an_edited_payload_is_caught() {
        let r = request(&dispatcher(ARM));
        let mut p = payload(&r);
        let tampered = dispatcher(ARM).replace("set -euo pipefail", "set -uo pipefail");
        p["new_content_base64"] = base64::engine::general_purpose::STANDARD
            .encode(tampered)
            .into();
        assert!(matches!(
            verify(&p),
            Err(Stop::Reject(Reject::PatchDigestMismatch, _))
        ));
        p["new_content_base64"] = "***".into();
        assert!(matches!(
            verify(&p),
            Err(Stop::Reject(Reject::PayloadMalformed, _))
        ));
    }
}
