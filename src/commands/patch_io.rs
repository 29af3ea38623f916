//! The IO half of `propose-patch`'s content check: `bash -n` on the new
//! content, after the pure checks of `decide::patch::check_content`. Runs
//! one process; never writes a file, never decides anything but "bash
//! accepts this syntax".

use crate::decide::outcome::Stop;
use crate::decide::patch::{check_content, PatchRequest};
use crate::decide::reject::{Fault, Reject};

/// Every refusal of the content and the path, in the order a reviewer would
/// check them: path, size, encoding, the arm (`decide::patch`), then syntax
/// (`bash -n`).
pub fn check(request: &PatchRequest) -> Result<(), Stop> {
    bash_syntax(check_content(request)?)
}

/// `bash -n` on the content, given on its standard input: no file is
/// written, so there is no path another user could predict, plant or
/// swap. A bash that cannot run is an ERROR, not a pass.
pub fn bash_syntax(text: &str) -> Result<(), Stop> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Stop::Fault(Fault::Io, format!("cannot run bash -n: {e}")))?;
    // Written from its own thread: bash may stop reading at the first
    // syntax error, and the pipe must never hold both sides.
    let stdin = child.stdin.take();
    let bytes = text.as_bytes().to_vec();
    let writer = std::thread::spawn(move || match stdin {
        Some(mut pipe) => match pipe.write_all(&bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e),
            Ok(()) => Ok(true),
        },
        None => Ok(false),
    });
    let out = child
        .wait_with_output()
        .map_err(|e| Stop::Fault(Fault::Io, format!("bash -n did not finish: {e}")))?;
    let fed = writer
        .join()
        .map_err(|_| Stop::Fault(Fault::Io, "feeding bash -n panicked".into()))?
        .map_err(|e| Stop::Fault(Fault::Io, format!("cannot feed bash -n: {e}")))?;
    if out.status.success() && fed {
        Ok(())
    } else if out.status.success() {
        // bash passed without reading everything: nothing was checked.
        Err(Stop::Fault(
            Fault::Io,
            "bash -n exited before reading the whole content".into(),
        ))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(Stop::Reject(
            Reject::PatchSyntax,
            format!("bash -n refuses the new content: {}", err.trim()),
        ))
    }
}
