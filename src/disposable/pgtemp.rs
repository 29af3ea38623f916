//! A disposable PostgreSQL cluster: tests, `harness` and the demo share it.
//! initdb into tmpfs when there is one, listen only on a Unix socket inside
//! its own directory (no port to race for), wait for readiness by
//! connecting with a deadline, and on drop stop the server and remove the
//! directory, even after a panic. As root it runs the server binaries as
//! the `postgres` user (initdb refuses root). It works with the server
//! binaries of PostgreSQL 13 to 18: it reads the server's major version
//! (`postgres --version`) and passes an option only to a major that has it
//! (`ServerOptions`).
//!
//! `server` finds and describes the server binaries, `reaper` stops and
//! removes clusters, `pgbouncer` puts a pooler in front of one; their
//! public names are reachable from here.

mod pgbouncer;
mod reaper;
mod server;

pub use pgbouncer::{Pgbouncer, PGBOUNCER_PORT};
pub use reaper::{teardown_all, KEPT_MARK};
pub use server::{
    find_bindir, find_psql, ident, parse_major, server_version, PgTempError, ServerOptions,
    OLDEST_MAJOR, SUPERUSER,
};

use postgres::{Client, NoTls};
use reaper::{reap_leftovers, Teardown, SCRATCH_PREFIX};
use server::{postgres_ids, server_command};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const READY_DEADLINE: Duration = Duration::from_secs(60);

/// A loopback address no other cluster of this process uses (Linux
/// routes all of 127.0.0.0/8 to lo): 127.<pid>.<pid>.<n>.
pub fn loopback_address() -> std::net::Ipv4Addr {
    static N: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::net::Ipv4Addr::new(
        127,
        (100 + pid % 100) as u8,
        ((pid / 100) % 250 + 1) as u8,
        (n % 250 + 1) as u8,
    )
}

/// What a TLS cluster serves.
#[derive(Debug, Clone)]
struct Tls {
    cert_pem: String,
    key_pem: String,
    addr: std::net::Ipv4Addr,
    /// The CA whose client certificates the server trusts (`ssl_ca_file`).
    client_ca_pem: Option<String>,
    /// pg_hba lines for TCP instead of "TLS only, trust".
    tcp_hba: Option<String>,
}

/// A running throwaway cluster. Dropping it stops the server and removes
/// every file it wrote.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    options: ServerOptions,
    version: String,
    run_as_postgres: bool,
    kept: bool,
}

impl Cluster {
    pub fn start() -> Result<Cluster, PgTempError> {
        Cluster::start_with(None)
    }

    /// A cluster that also listens on `addr` (a loopback address of its
    /// own, from `loopback_address`; port 5432) for TLS connections only,
    /// with the given server certificate and key (PEM).
    pub fn start_with_tls(
        cert_pem: &str,
        key_pem: &str,
        addr: std::net::Ipv4Addr,
    ) -> Result<Cluster, PgTempError> {
        Cluster::start_with(Some(Tls {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            addr,
            client_ca_pem: None,
            tcp_hba: None,
        }))
    }

    /// Like `start_with_tls`, and the server also trusts client
    /// certificates issued by `client_ca_pem` (`ssl_ca_file`), with
    /// `tcp_hba` as the pg_hba lines for TCP (e.g. `hostssl all all
    /// 127.0.0.0/8 cert`); the Unix socket stays `trust`.
    pub fn start_with_tls_auth(
        cert_pem: &str,
        key_pem: &str,
        addr: std::net::Ipv4Addr,
        client_ca_pem: &str,
        tcp_hba: &str,
    ) -> Result<Cluster, PgTempError> {
        Cluster::start_with(Some(Tls {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            addr,
            client_ca_pem: Some(client_ca_pem.to_owned()),
            tcp_hba: Some(tcp_hba.to_owned()),
        }))
    }

    /// A streaming standby of this cluster: `pg_basebackup -R` from it
    /// into a directory of its own, started in hot standby on its own
    /// socket directory (port 5432 there). Dropping it stops it.
    pub fn start_standby(&self) -> Result<Cluster, PgTempError> {
        let root = scratch_dir(&self.bin, self.run_as_postgres)?;
        reaper::register(Teardown::new(&root, &self.bin, self.run_as_postgres));
        let standby = Cluster {
            root,
            bin: self.bin.clone(),
            options: self.options,
            version: self.version.clone(),
            run_as_postgres: self.run_as_postgres,
            kept: false,
        };
        fs::create_dir(standby.socket_dir())?;
        if standby.run_as_postgres {
            let (uid, gid) = postgres_ids().ok_or(PgTempError::NoPostgresUser)?;
            for dir in [standby.root.as_path(), &standby.socket_dir()] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            }
        }
        fs::set_permissions(&standby.root, fs::Permissions::from_mode(0o755))?;
        let data = standby.data_dir();
        standby.run(
            "pg_basebackup",
            standby
                .server_cmd("pg_basebackup")
                .arg("-D")
                .arg(&data)
                .args([
                    "-R", "-X", "stream", "-c", "fast", "-p", "5432", "-U", SUPERUSER,
                ])
                .arg("-h")
                .arg(self.socket_dir()),
        )?;
        let conf = format!(
            "\n# the standby's own\nlisten_addresses = ''\nunix_socket_directories = '{}'\nhot_standby = on\ncluster_name = 'standby'\n",
            standby.socket_dir().display()
        );
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        standby.restart()?;
        Ok(standby)
    }

    /// The server's log file (for tests that read which sessions it saw).
    pub fn log_path(&self) -> PathBuf {
        self.log_file()
    }

    fn start_with(tls: Option<Tls>) -> Result<Cluster, PgTempError> {
        let bin = find_bindir().ok_or(PgTempError::BinariesMissing)?;
        let (major, version) = server_version(&bin)?;
        let options = ServerOptions { major };
        let run_as_postgres = fs::metadata("/proc/self")?.uid() == 0;
        let root = scratch_dir(&bin, run_as_postgres)?;
        reaper::register(Teardown::new(&root, &bin, run_as_postgres));
        // From here on the directory is ours to remove, whatever fails.
        let mut cluster = Cluster {
            root,
            bin,
            options,
            version,
            run_as_postgres,
            kept: false,
        };
        cluster.init(tls.as_ref())?;
        Ok(cluster)
    }

    fn init(&mut self, tls: Option<&Tls>) -> Result<(), PgTempError> {
        fs::create_dir(self.socket_dir())?;
        if self.run_as_postgres {
            let (uid, gid) = postgres_ids().ok_or(PgTempError::NoPostgresUser)?;
            for dir in [self.root.as_path(), &self.socket_dir()] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            }
        }
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o755))?;
        let data = self.data_dir();
        self.run(
            "initdb",
            self.server_cmd("initdb")
                .arg("-D")
                .arg(&data)
                .args(self.options.initdb_args()),
        )?;
        let conf = format!(
            "\n# dot-authorize-build-step disposable cluster\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 32MB\n\
             log_min_messages = warning\nlog_min_error_statement = panic\n",
            self.socket_dir().display()
        );
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        if let Some(tls) = tls {
            self.write_tls(&data, tls)?;
        }
        self.restart()
    }

    fn wait_ready(&self) -> Result<(), PgTempError> {
        let start = Instant::now();
        loop {
            if Client::connect(&self.conn_string(SUPERUSER, "postgres"), NoTls).is_ok() {
                return Ok(());
            }
            if start.elapsed() > READY_DEADLINE {
                let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                return Err(PgTempError::NotReady(READY_DEADLINE, log));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The cluster's own scratch directory, removed with it: a place for
    /// files that belong to this cluster's run (the test signing keys).
    pub fn scratch_dir(&self) -> &Path {
        &self.root
    }

    /// TLS on a loopback address: the certificate and key (0600, the
    /// server's), `ssl = on`, and pg_hba lines that let TCP in only over TLS.
    fn write_tls(&self, data: &Path, tls: &Tls) -> Result<(), PgTempError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let write = |name: &str, text: &str, mode: u32| -> Result<(), PgTempError> {
            let path = data.join(name);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&path)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            if self.run_as_postgres {
                let (uid, gid) = postgres_ids().ok_or(PgTempError::NoPostgresUser)?;
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
            }
            Ok(())
        };
        write("server.crt", &tls.cert_pem, 0o644)?;
        write("server.key", &tls.key_pem, 0o600)?;
        let mut settings = format!("listen_addresses = '{}'\nssl = on\n", tls.addr);
        if let Some(ca) = &tls.client_ca_pem {
            write("client-ca.crt", ca, 0o644)?;
            settings.push_str("ssl_ca_file = 'client-ca.crt'\n");
        }
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut conf, settings.as_bytes())?;
        let hba = fs::read_to_string(data.join("pg_hba.conf"))?;
        let tcp = tls.tcp_hba.clone().unwrap_or_else(|| {
            "hostssl all all 127.0.0.0/8 trust\nhostnossl all all 127.0.0.0/8 reject".into()
        });
        let hba = format!("{tcp}\n{hba}");
        fs::write(data.join("pg_hba.conf"), hba)?;
        Ok(())
    }

    /// Directory holding the server's Unix socket: the value for PGHOST.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// A libpq key=value connection string (no password: trust auth).
    pub fn conn_string(&self, user: &str, dbname: &str) -> String {
        format!(
            "host={} port=5432 user={user} dbname={dbname}",
            self.socket_dir().display()
        )
    }

    /// `postgresql://` URL form, for `--db-url` / `DATABASE_URL`.
    pub fn url(&self, user: &str, dbname: &str) -> String {
        let host: String = self
            .socket_dir()
            .display()
            .to_string()
            .bytes()
            .map(|b| {
                if b == b'/' {
                    "%2F".to_owned()
                } else {
                    char::from(b).to_string()
                }
            })
            .collect();
        format!("postgresql://{user}@{host}:5432/{dbname}")
    }

    pub fn connect(&self, user: &str, dbname: &str) -> Result<Client, PgTempError> {
        Ok(Client::connect(&self.conn_string(user, dbname), NoTls)?)
    }

    /// Creates database `name` and runs `scripts` in it, in order, as the
    /// superuser. Meant for a template that `clone_database` copies.
    pub fn create_database(&self, name: &str, scripts: &[&str]) -> Result<(), PgTempError> {
        let mut admin = self.connect(SUPERUSER, "postgres")?;
        admin.batch_execute(&format!("CREATE DATABASE {}", ident(name)))?;
        let mut db = self.connect(SUPERUSER, name)?;
        for script in scripts {
            db.batch_execute(script)?;
        }
        Ok(())
    }

    /// A new database, a file copy of `template` (≈10 ms on tmpfs).
    pub fn clone_database(&self, template: &str, name: &str) -> Result<(), PgTempError> {
        let mut admin = self.connect(SUPERUSER, "postgres")?;
        admin.batch_execute(&self.options.clone_sql(name, template))?;
        Ok(())
    }

    /// The server's major version (13 to 18).
    pub fn major(&self) -> u32 {
        self.options.major
    }

    /// Which server runs it: `postgres --version`'s line and the bin
    /// directory ("postgres (PostgreSQL) 13.23 in /…/13/bin").
    pub fn server(&self) -> String {
        format!("{} in {}", self.version, self.bin.display())
    }

    fn server_cmd(&self, program: &str) -> Command {
        server_command(&self.bin, self.run_as_postgres, program)
    }

    fn teardown(&self) -> Teardown {
        Teardown::new(&self.root, &self.bin, self.run_as_postgres)
    }

    fn forget(&self) {
        reaper::forget(&self.root);
    }

    /// `pg_ctl -D <data> ARGS`, as the server's user.
    fn pg_ctl(&self, step: &str, args: &[&str]) -> Result<(), PgTempError> {
        self.run(
            step,
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(args),
        )
        .map(|_| ())
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m
    /// immediate`): no checkpoint, every open transaction lost.
    pub fn stop_immediately(&self) -> Result<(), PgTempError> {
        self.pg_ctl("pg_ctl stop", &["-m", "immediate", "-w", "stop"])
    }

    /// Starts the server (again after `stop_immediately`: crash recovery
    /// runs) and waits until it accepts connections.
    pub fn restart(&self) -> Result<(), PgTempError> {
        let log = self.log_file().display().to_string();
        self.pg_ctl("pg_ctl start", &["-l", &log, "-W", "start"])?;
        self.wait_ready()
    }

    /// Promotes a standby to primary and waits until it is one.
    pub fn promote(&self) -> Result<(), PgTempError> {
        self.pg_ctl("pg_ctl promote", &["-w", "-t", "60", "promote"])
    }

    /// Stops the server cleanly (a standby's WAL receiver stops with it).
    pub fn stop(&self) -> Result<(), PgTempError> {
        self.pg_ctl("pg_ctl stop", &["-m", "fast", "-w", "stop"])
    }

    fn run(&self, step: &str, cmd: &mut Command) -> Result<Output, PgTempError> {
        let out = reaper::output(&self.root, cmd).map_err(|e| PgTempError::Step {
            step: step.into(),
            detail: e.to_string(),
        })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(PgTempError::Step {
                step: step.into(),
                detail: format!(
                    "{}\n{}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }
}

/// A cluster left running by `keep`: where it is, what it holds, and the
/// command that stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub stop_with: String,
    pub socket_dir: String,
    pub data_dir: String,
    pub databases: Vec<String>,
}

impl Cluster {
    /// Leaves the server running and its directory in place (for
    /// inspection), marked so no reaper removes it; says where it is, the
    /// databases it holds and the `pg_ctl` command that stops it.
    /// If the mark cannot be written the cluster is not kept (it is torn
    /// down on drop): one the next reaper would remove is no kept cluster.
    pub fn keep(mut self) -> Result<Kept, PgTempError> {
        let databases = self
            .connect(SUPERUSER, "postgres")
            .and_then(|mut c| {
                c.query(
                    "SELECT datname::text FROM pg_catalog.pg_database \
                     WHERE NOT datistemplate ORDER BY datname",
                    &[],
                )
                .map_err(PgTempError::from)
            })
            .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect())
            .unwrap_or_default();
        let prefix = if self.run_as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let stop_with = format!(
            "{prefix}{} -D {} -m fast stop && rm -rf {}",
            self.bin.join("pg_ctl").display(),
            self.data_dir().display(),
            self.root.display()
        );
        fs::write(self.root.join(KEPT_MARK), format!("{stop_with}\n"))?;
        self.kept = true;
        self.forget();
        Ok(Kept {
            stop_with,
            socket_dir: self.socket_dir().display().to_string(),
            data_dir: self.data_dir().display().to_string(),
            databases,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        self.forget();
        self.teardown().run();
    }
}

fn scratch_dir(bin: &Path, run_as_postgres: bool) -> Result<PathBuf, PgTempError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() && fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly()) {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    reap_leftovers(&base, bin, run_as_postgres);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!(
        "{SCRATCH_PREFIX}{}-{nanos:x}-{n}",
        std::process::id()
    ));
    fs::create_dir(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests;
