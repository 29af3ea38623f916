//! Which PostgreSQL server a disposable cluster runs, and how: finding the
//! server binaries (and a psql), reading their major version, the options
//! that differ between majors (pure, unit-tested), running a server program
//! as the `postgres` user when we are root, and the errors of it all. It
//! starts no server and never kills a process.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const SUPERUSER: &str = "postgres";

/// The oldest server major the disposable clusters (and the tool) support.
pub const OLDEST_MAJOR: u32 = 13;

/// The options that differ between server majors, chosen from the major
/// alone (pure, unit-tested): each option is used only by a major that has
/// it, and the fallback does the same thing the older way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    pub major: u32,
}

impl ServerOptions {
    /// initdb's arguments after `-D DIR`. `--no-instructions` (14+) only
    /// silences the "start the server with" text, which is captured and
    /// dropped anyway: 13 goes without it.
    pub fn initdb_args(self) -> Vec<&'static str> {
        let mut args = vec![
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ];
        if self.major >= 14 {
            args.push("--no-instructions");
        }
        args
    }

    /// The statement that makes database `name` a copy of `template`. 15
    /// made WAL_LOG the default strategy (slow for many small databases)
    /// and added `STRATEGY FILE_COPY` to ask for the old way; 13 and 14
    /// know only the file copy, and no STRATEGY clause.
    pub fn clone_sql(self, name: &str, template: &str) -> String {
        let strategy = if self.major >= 15 {
            " STRATEGY FILE_COPY"
        } else {
            ""
        };
        format!(
            "CREATE DATABASE {} TEMPLATE {}{strategy}",
            ident(name),
            ident(template)
        )
    }
}

/// The major version in `postgres --version`'s output: "postgres
/// (PostgreSQL) 13.23", "… 15.18 (Debian 15.18-0+deb12u1)", "… 18beta1".
pub fn parse_major(version_output: &str) -> Option<u32> {
    let number = version_output
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The major version of the server in `bin` and the line it came from
/// ("postgres (PostgreSQL) 13.23"), refused below `OLDEST_MAJOR`.
pub fn server_version(bin: &Path) -> Result<(u32, String), PgTempError> {
    let shown = bin.display().to_string();
    let unknown = |detail: String| PgTempError::UnknownVersion {
        bin: shown.clone(),
        detail,
    };
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .map_err(|e| unknown(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(unknown(format!(
            "{}: {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let major = parse_major(&text).ok_or_else(|| unknown(format!("no version in {text:?}")))?;
    if major < OLDEST_MAJOR {
        return Err(PgTempError::TooOld {
            bin: shown,
            version: text,
        });
    }
    Ok((major, text))
}

#[derive(Debug, thiserror::Error)]
pub enum PgTempError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in $PG_BIN, \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin and $PATH. Install them with \
         `apt-get install postgresql` (Debian/Ubuntu) or point PG_BIN at their directory"
    )]
    BinariesMissing,
    #[error(
        "the PostgreSQL server in {bin} is {version:?}; the disposable clusters need major \
         {OLDEST_MAJOR} or later (point PG_BIN at a newer server's bin directory)"
    )]
    TooOld { bin: String, version: String },
    #[error(
        "cannot tell the PostgreSQL server's version from `{bin}/postgres --version`: {detail}"
    )]
    UnknownVersion { bin: String, detail: String },
    #[error("running as root, but there is no `postgres` user to run the server as (initdb refuses root); create one with `useradd -r postgres` or run as a non-root user")]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Step { step: String, detail: String },
    #[error("server did not accept connections within {0:?}; its log:\n{1}")]
    NotReady(Duration, String),
    #[error("{}", sql_text(.0))]
    Sql(#[from] postgres::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A database error with the server's message, not just "db error".
fn sql_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub(super) fn server_command(bin: &Path, run_as_postgres: bool, program: &str) -> Command {
    let path = bin.join(program);
    if run_as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `$PG_BIN`, then `pg_config --bindir`, then the newest
/// /usr/lib/postgresql/*/bin, then `$PATH`.
pub fn find_bindir() -> Option<PathBuf> {
    let has_server = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| d.join(p).is_file())
    };
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        return has_server(&dir).then_some(dir);
    }
    installed_bindirs().into_iter().find(|d| has_server(d))
}

/// A psql for the tests that compare with it: the one beside the server
/// (`find_bindir`), else the first in `pg_config --bindir`, the newest
/// /usr/lib/postgresql/*/bin, `$PATH`. A server from a package that ships
/// no psql (the npm builds of other majors) is checked with the Debian
/// one: psql talks to servers older and newer than itself.
pub fn find_psql() -> Option<PathBuf> {
    find_bindir()
        .into_iter()
        .chain(installed_bindirs())
        .map(|d| d.join("psql"))
        .find(|p| p.is_file())
}

/// The bin directories of installed PostgreSQL, in the order they are
/// tried: `pg_config --bindir`, /usr/lib/postgresql/*/bin newest first,
/// then each directory of `$PATH`.
fn installed_bindirs() -> Vec<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_pg_config
        .into_iter()
        .chain(debian.into_iter().rev().map(|(_, p)| p))
        .chain(on_path)
        .collect()
}

pub(super) fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.first() == Some(&"postgres") && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}
