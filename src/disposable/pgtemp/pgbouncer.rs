//! A PgBouncer in transaction mode in front of a disposable cluster: what
//! the pooler tests and the bench run the handler through. Dropping it
//! stops it; it touches no other process.

use super::reaper::{self, Started};
use super::server::{postgres_ids, PgTempError, SUPERUSER};
use super::Cluster;
use postgres::{Client, NoTls};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A PgBouncer in transaction mode in front of a disposable cluster, on a
/// Unix socket in the cluster's own directory: what the pooler tests and
/// the bench run the handler through. Dropping it stops it.
#[derive(Debug)]
pub struct Pgbouncer {
    dir: PathBuf,
    child: std::process::Child,
    /// The cluster's directory, where the reaper has the child recorded.
    root: PathBuf,
    started: Option<Started>,
}

/// The port in the pooler's socket name (`.s.PGSQL.6432`).
pub const PGBOUNCER_PORT: u16 = 6432;

impl Pgbouncer {
    /// Starts PgBouncer with `pool_size` server connections per user and
    /// database, letting in `users` (and the superuser) without passwords.
    pub fn start(
        cluster: &Cluster,
        pool_size: u32,
        users: &[&str],
    ) -> Result<Pgbouncer, PgTempError> {
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("pgbouncer"))
                        .find(|p| p.is_file())
                })
            })
            .ok_or_else(|| PgTempError::Step {
                step: "find pgbouncer".into(),
                detail: "pgbouncer is not installed; install it with `apt-get install pgbouncer` \
                         (.ci/run does)"
                    .into(),
            })?;
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = cluster
            .root
            .join(format!("pgbouncer-{}", N.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir(&dir)?;
        let mut auth = format!("\"{SUPERUSER}\" \"\"\n");
        for u in users {
            auth.push_str(&format!("\"{u}\" \"\"\n"));
        }
        fs::write(dir.join("users.txt"), auth)?;
        let ini = format!(
            "[databases]\n* = host={} port=5432\n\n[pgbouncer]\nunix_socket_dir = {}\nlisten_port = {PGBOUNCER_PORT}\n\
             auth_type = trust\nauth_file = {}\npool_mode = transaction\nmax_client_conn = 1000\n\
             default_pool_size = {pool_size}\nserver_reset_query =\nlogfile = {}\npidfile = {}\n",
            cluster.socket_dir().display(),
            dir.display(),
            dir.join("users.txt").display(),
            dir.join("pgbouncer.log").display(),
            dir.join("pgbouncer.pid").display(),
        );
        fs::write(dir.join("pgbouncer.ini"), ini)?;
        if cluster.run_as_postgres {
            let (uid, gid) = postgres_ids().ok_or(PgTempError::NoPostgresUser)?;
            for entry in fs::read_dir(&dir)?.flatten() {
                std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid))?;
            }
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let mut cmd = if cluster.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let child = cmd
            .arg(dir.join("pgbouncer.ini"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let started = Started::of(child.id());
        if let Some(s) = started {
            reaper::record(&cluster.root, s);
        }
        let bouncer = Pgbouncer {
            dir,
            child,
            root: cluster.root.clone(),
            started,
        };
        let start = Instant::now();
        let conn = format!(
            "host={} port={PGBOUNCER_PORT} user={SUPERUSER} dbname=postgres",
            bouncer.dir.display()
        );
        while Client::connect(&conn, NoTls).is_err() {
            if start.elapsed() > Duration::from_secs(15) {
                let log = fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default();
                return Err(PgTempError::NotReady(Duration::from_secs(15), log));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(bouncer)
    }

    /// The value for PGHOST (with PGPORT = `PGBOUNCER_PORT`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // runuser forwards the signal to pgbouncer; kill both to be sure.
        if let Ok(pid) = fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.trim()).output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(s) = self.started {
            reaper::unrecord(&self.root, s);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
