//! The password file (PGPASSFILE, ~/.pgpass): the password of each host,
//! as libpq looks one up, read only when private to its owner.

use super::*;

/// For each host of the list, the first matching line of the password
/// file, as libpq reads it: `host:port:database:user:password`, `*`
/// matches anything, `\\` escapes. A file readable by group or others is
/// ignored (with one warning), as libpq does.
pub(crate) fn pgpass_passwords(config: &Config, file: Option<PathBuf>) -> Vec<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let n = hosts.len().max(addrs.len());
    let none = vec![None; n];
    let Some(path) = file else {
        return none;
    };
    let Ok(meta) = std::fs::metadata(&path) else {
        return none;
    };
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file {} has group or world access; ignoring it (chmod 0600)",
            path.display()
        );
        return none;
    }
    let Some(text) = config_text(&path) else {
        return none;
    };
    let entries: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(split_pgpass)
        .filter(|f| f.len() == 5)
        .collect();
    let ports = config.get_ports();
    let (db, user) = (
        config.get_dbname().unwrap_or(""),
        config.get_user().unwrap_or(""),
    );
    // A socket directory matches by its path, and also as `localhost`
    // when it is the default directory; a hostaddr without a host name
    // matches by the address (libpq's rule).
    (0..n)
        .map(|i| {
            let port = ports
                .get(i)
                .or(ports.first())
                .copied()
                .unwrap_or(5432)
                .to_string();
            let names: Vec<String> = match hosts.get(i) {
                None => addrs
                    .get(i)
                    .map(|a| vec![a.to_string()])
                    .unwrap_or_default(),
                Some(Host::Tcp(h)) => vec![h.clone()],
                Some(Host::Unix(p)) => {
                    let mut n = vec![p.display().to_string()];
                    if p.display().to_string() == default_socket_dir() {
                        n.push("localhost".into());
                    }
                    n
                }
            };
            entries
                .iter()
                .find(|f| {
                    (f[0] == "*" || names.contains(&f[0]))
                        && [port.as_str(), db, user]
                            .iter()
                            .zip(&f[1..4])
                            .all(|(w, f)| f == "*" || f == w)
                })
                .map(|f| f[4].clone())
        })
        .collect()
}

pub(crate) fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}
