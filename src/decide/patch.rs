//! Owner STEP 1: the `patch_ops_code` APR that installs the dispatch arm
//! into dot-apr-execute. Builds its payload (the whole new dispatcher as
//! base64, with its SHA-256), refuses content that could not be the right
//! dispatcher, and verifies a stored payload for approvers. Pure: `bash -n`
//! (a process) runs in `commands::patch_io`, after `check_content`.

use crate::canon::cser::Sha256Hex;
use crate::decide::outcome::Stop;
use crate::decide::reject::Reject;
use base64::Engine as _;
use serde_json::{json, Value};

/// The staged arm, compiled in: what the new dispatcher must contain.
pub const ARM: &str = include_str!("../../staged/dot-apr-execute.authorize_build_step.arm.sh");
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
/// check them: path, size, encoding, the arm. What passes is the text the
/// syntax check (`bash -n`, `commands::patch_io::check`) reads last.
pub fn check_content(request: &PatchRequest) -> Result<&str, Stop> {
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
        if definitions(text, ARM_FUNCTION) > 0 || dispatches_arm(text) {
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
    Ok(text)
}

/// The content must carry the staged arm verbatim (its function, by name,
/// definition line and body), define it exactly once (bash keeps the last
/// definition, so a second one, before or after, would be what runs), and
/// dispatch authorize_build_step to it.
pub fn check_arm(text: &str) -> Result<(), Stop> {
    let want = function_body(ARM, ARM_FUNCTION).expect("the staged arm defines its function");
    let defined = definitions(text, ARM_FUNCTION);
    if defined > 1 {
        return Err(Stop::Reject(
            Reject::PatchArmStale,
            format!(
                "the new content defines {ARM_FUNCTION}() {defined} times (or names it in an alias); \
                 bash runs the last definition, so it must be defined once, as staged/ has it"
            ),
        ));
    }
    match function_body(text, ARM_FUNCTION) {
        None => Err(Stop::Reject(
            Reject::PatchArmMissing,
            format!("the new content does not define {ARM_FUNCTION}() from staged/"),
        )),
        Some(got) if got != want || defined != 1 => Err(Stop::Reject(
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

/// The definition line `name() {` and the lines up to the first `}` at
/// the start of a line, with trailing whitespace removed.
fn function_body(text: &str, name: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().map(str::trim_end);
    let header = lines.find(|l| l.trim_start().starts_with(&format!("{name}()")))?;
    let mut body = vec![header.trim_start().to_owned()];
    for line in lines {
        if line == "}" {
            return Some(body);
        }
        body.push(line.to_owned());
    }
    None
}

/// How many times `text` may define the function `name`, counted the way
/// bash could read it, erring towards more: `name ( )` and `function name`
/// in any position (after joining backslash-newline continuations, as the
/// parser does), and `name=` (an alias, which would shadow it). Text in
/// comments, strings or here-documents counts too: a false count refuses,
/// it never passes.
fn definitions(text: &str, name: &str) -> usize {
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let skip_blanks = |s: &str| s.trim_start_matches([' ', '\t']).to_owned();
    joined
        .match_indices(name)
        .filter(|(at, _)| {
            let before = &joined[..*at];
            let after = &joined[at + name.len()..];
            if before.chars().next_back().is_some_and(word)
                || after.chars().next().is_some_and(word)
            {
                return false;
            }
            let keyword = before
                .trim_end_matches([' ', '\t'])
                .strip_suffix("function")
                .is_some_and(|rest| !rest.chars().next_back().is_some_and(word));
            let rest = skip_blanks(after);
            let parens = rest
                .strip_prefix('(')
                .is_some_and(|r| skip_blanks(r).starts_with(')'));
            keyword
                || parens
                || rest.starts_with('=')
                || rest.starts_with("'=")
                || rest.starts_with("\"=")
        })
        .count()
}

fn dispatches_arm(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        !l.starts_with('#') && l.starts_with("authorize_build_step)") && l.contains(ARM_FUNCTION)
    })
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
    use crate::commands::patch_io::check;

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

    /// Issue 18, finding 5: `bash -n` ran on `$TMPDIR/dot-abs-patch-<pid>-
    /// <sha16>/new-content.sh`, reusing an existing directory and following
    /// a symlink planted in it, so a root run overwrote whatever it pointed
    /// to. Here the path is planted (this process's pid, the content's
    /// digest) with a symlink to a private file: the check must pass and
    /// leave the file, and the planted directory, exactly as they were.
    #[test]
    fn finding_5_propose_patch_temp_file_is_not_predictable() {
        use std::os::unix::fs::PermissionsExt;
        let content = dispatcher(ARM);
        let digest = Sha256Hex::of(content.as_bytes());
        let planted = std::env::temp_dir().join(format!(
            "dot-abs-patch-{}-{}",
            std::process::id(),
            &digest.as_str()[..16]
        ));
        let victim_dir =
            std::env::temp_dir().join(format!("dot-abs-finding5-victim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&planted);
        let _ = std::fs::remove_dir_all(&victim_dir);
        std::fs::create_dir_all(&victim_dir).unwrap();
        let victim = victim_dir.join("root-only");
        std::fs::write(&victim, "root-only secret\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::create_dir_all(&planted).unwrap();
        std::os::unix::fs::symlink(&victim, planted.join("new-content.sh")).unwrap();
        let got = code(&request(&content));
        let after = std::fs::read_to_string(&victim).unwrap();
        let link_left = std::fs::symlink_metadata(planted.join("new-content.sh")).is_ok();
        let _ = std::fs::remove_dir_all(&planted);
        let _ = std::fs::remove_dir_all(&victim_dir);
        assert_eq!(got, "OK");
        assert_eq!(
            after, "root-only secret\n",
            "the check wrote through a symlink planted at a predictable path"
        );
        assert!(link_left, "the check removed a directory it did not make");
        // A syntax error is still found, and reported without any path.
        let broken = format!("{content}\nif then fi (\n");
        match check(&request(&broken)) {
            Err(Stop::Reject(Reject::PatchSyntax, why)) => {
                assert!(!why.contains("new-content.sh"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Issue 18, finding 6: only the first definition of the arm's
    /// function was compared, and bash runs the last. Every way of
    /// defining it a second time, before or after the staged arm, or of
    /// shadowing it, is refused; a restore may not carry it in any form.
    #[test]
    fn finding_6_a_second_definition_of_the_arm_function_is_refused() {
        let evil = [
            "execute_authorize_build_step() { apr_mark_applied \"$1\"; }",
            "execute_authorize_build_step () ( apr_mark_applied \"$1\" )",
            "function execute_authorize_build_step { apr_mark_applied \"$1\"; }",
            "function execute_authorize_build_step() { apr_mark_applied \"$1\"; }",
            "true; execute_authorize_build_step()\n{ apr_mark_applied \"$1\"; }",
            "execute_authorize_\\\nbuild_step() { apr_mark_applied \"$1\"; }",
            "execute_authorize_build_step\\\n() { apr_mark_applied \"$1\"; }",
            "if true; then execute_authorize_build_step() { apr_mark_applied \"$1\"; }; fi",
            "shopt -s expand_aliases; alias execute_authorize_build_step='apr_mark_applied'",
        ];
        for e in evil {
            for content in [
                dispatcher(&format!("{ARM}\n{e}\n")),
                dispatcher(&format!("{e}\n{ARM}\n")),
            ] {
                assert_eq!(code(&request(&content)), "REJECT_PATCH_ARM_STALE", "{e}");
            }
            let mut restore = request(&format!("#!/bin/bash\n{e}\n"));
            restore.restore = true;
            assert_eq!(code(&restore), "REJECT_PATCH_ARM_PRESENT", "{e}");
        }
        // The definition line is part of the arm: code after its brace runs.
        let header = ARM.replacen(
            "execute_authorize_build_step() {",
            "execute_authorize_build_step() { apr_mark_applied \"$1\";",
            1,
        );
        assert_eq!(
            code(&request(&dispatcher(&header))),
            "REJECT_PATCH_ARM_STALE"
        );
        // A different function whose name merely contains it is not counted.
        let other = format!("{ARM}\nmy_execute_authorize_build_step_log() {{ :; }}\n");
        assert_eq!(code(&request(&dispatcher(&other))), "OK");
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
