//! Records the commit the binary was built from, for `--version`.
//! Outside a git checkout (a source tarball) it is "unknown".
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DOT_ABS_COMMIT={commit}");
    // Where git keeps them: in a worktree `.git` is a file, and a path
    // under it that does not exist would rerun this (and rebuild the
    // crate) on every build.
    for what in ["HEAD", "refs/heads"] {
        let path = std::process::Command::new("git")
            .args(["rev-parse", "--git-path", what])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
