//! Connection service files (PGSERVICEFILE, ~/.pg_service.conf,
//! PGSYSCONFDIR/pg_service.conf): the named section's parameters. Reads
//! those files only through `sys::file`-style safe reads; decides nothing.

use super::*;

/// The parameters of service `name`: from PGSERVICEFILE, else
/// ~/.pg_service.conf, else PGSYSCONFDIR/pg_service.conf (the first file
/// that has the section). A service that is defined nowhere is an error.
pub(crate) fn load_service(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<(String, String)>), String> {
    let files: Vec<PathBuf> = [
        env("PGSERVICEFILE").map(PathBuf::from),
        env("HOME").map(|h| Path::new(&h).join(".pg_service.conf")),
        env("PGSYSCONFDIR").map(|d| Path::new(&d).join("pg_service.conf")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for file in &files {
        let Some(text) = config_text(file) else {
            continue;
        };
        let mut in_section = false;
        let mut found = false;
        let mut params = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_section = section.trim() == name;
                found |= in_section;
                continue;
            }
            if in_section {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| format!("{}:{}: not a key=value line", file.display(), n + 1))?;
                params.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        if found {
            return Ok((name.to_owned(), params));
        }
    }
    Err(format!(
        "service {name:?} is not defined in {}",
        if files.is_empty() {
            "any service file (set PGSERVICEFILE or HOME)".to_owned()
        } else {
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ))
}

/// A configuration file's text (service file, password file): a regular
/// file of at most 1 MiB, opened without blocking, so that a FIFO or a
/// device in its place is skipped, never waited on.
pub(crate) fn config_text(path: &Path) -> Option<String> {
    let bytes = crate::sys::file::read_regular(path, 1 << 20).ok()?;
    String::from_utf8(bytes).ok()
}
