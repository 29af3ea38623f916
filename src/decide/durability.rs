//! How durable a write must be before it is answered OK: a value of the
//! command line that the store acts on.

/// How durable a write must be before it is answered OK (`--durability`,
/// DOT_ABS_DURABILITY): `Local`, the server's own commit policy (with
/// synchronous standbys, their confirmation); `Replicated(n)`, also n
/// streaming standbys having flushed the WAL up to the commit, for
/// deployments whose standbys are asynchronous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Local,
    Replicated(u32),
}

/// The environment variable standing in for `--durability`.
pub const DURABILITY_ENV: &str = "DOT_ABS_DURABILITY";

impl Durability {
    pub fn parse(s: &str) -> Result<Durability, String> {
        let bad = || {
            format!("durability {s:?} is not local, replicated or replicated:N (N from 1 to 64)")
        };
        match s.split_once(':') {
            None if s == "local" => Ok(Durability::Local),
            None if s == "replicated" => Ok(Durability::Replicated(1)),
            Some(("replicated", n)) if n.bytes().all(|b| b.is_ascii_digit()) => {
                match n.parse::<u32>() {
                    Ok(n @ 1..=64) => Ok(Durability::Replicated(n)),
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }
}
