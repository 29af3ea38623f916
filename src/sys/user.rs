//! The user running this process: uid from /proc/self (which the kernel
//! owns), name from /etc/passwd.

/// The uid this process runs as (from /proc/self, which the kernel owns);
/// key checks and the evidence log's `os_uid` both use it.
pub fn running_uid() -> Result<u32, String> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell which user this is (/proc/self: {e})"))
}

/// The user running the handler: name from /etc/passwd when it has one,
/// and the uid (from /proc/self, which the kernel owns).
pub fn os_user() -> (Option<String>, Option<u32>) {
    let uid = running_uid().ok();
    let name = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let _ = f.next();
                    (f.next()? == uid.to_string()).then(|| name.to_owned())
                })
            })
    });
    (name, uid)
}
