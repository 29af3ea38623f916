//! A disposable PostgreSQL cluster: tests, `harness` and the demo share it.
//! initdb into tmpfs when there is one, listen only on a Unix socket inside
//! its own directory (no port to race for), wait for readiness by
//! connecting with a deadline, and on drop stop the server and remove the
//! directory, even after a panic. As root it runs the server binaries as
//! the `postgres` user (initdb refuses root). It works with the server
//! binaries of PostgreSQL 13 to 18: it reads the server's major version
//! (`postgres --version`) and passes an option only to a major that has it
//! (`ServerOptions`).

use postgres::{Client, NoTls};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SUPERUSER: &str = "postgres";
const READY_DEADLINE: Duration = Duration::from_secs(60);

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

/// Every cluster this process started and has not yet dropped or kept:
/// what `teardown_all` stops when a signal ends the process early.
static LIVE: Mutex<Vec<Teardown>> = Mutex::new(Vec::new());

/// How to stop one cluster and remove its files, without the `Cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Teardown {
    root: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
}

impl Teardown {
    /// Stops the server, then kills whatever still runs in the directory
    /// (an initdb caught half-way, a postmaster still starting up, which
    /// `pg_ctl stop` refuses), waits until it is gone, and removes the files.
    fn run(&self) {
        let data = self.root.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = server_command(&self.bin, self.run_as_postgres, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .output();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = processes_in(&self.root);
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            let _ = Command::new("kill").arg("-KILL").args(&pids).output();
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The processes whose command line names `dir` (initdb, pg_ctl, the
/// postmaster, runuser), as pids for `kill`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.to_owned();
            let is_pid = pid.bytes().all(|b| b.is_ascii_digit()) && pid != me;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            (is_pid && String::from_utf8_lossy(&cmdline).contains(&needle)).then_some(pid)
        })
        .collect()
}

/// Stops every cluster this process still owns and removes its files: for
/// a SIGINT or SIGTERM handler (harness), so that an interrupted run leaves
/// no server running and nothing in /dev/shm.
pub fn teardown_all() {
    let live: Vec<Teardown> = LIVE
        .lock()
        .map(|mut l| l.drain(..).collect())
        .unwrap_or_default();
    for t in live {
        t.run();
    }
}

fn server_command(bin: &Path, run_as_postgres: bool, program: &str) -> Command {
    let path = bin.join(program);
    if run_as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

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
        if let Ok(mut live) = LIVE.lock() {
            live.push(Teardown {
                root: root.clone(),
                bin: self.bin.clone(),
                run_as_postgres: self.run_as_postgres,
            });
        }
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
        if let Ok(mut live) = LIVE.lock() {
            live.push(Teardown {
                root: root.clone(),
                bin: bin.clone(),
                run_as_postgres,
            });
        }
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
        Teardown {
            root: self.root.clone(),
            bin: self.bin.clone(),
            run_as_postgres: self.run_as_postgres,
        }
    }

    fn forget(&self) {
        let me = self.teardown();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|t| *t != me);
        }
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
        let out = cmd.output().map_err(|e| PgTempError::Step {
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

/// The file that marks a kept cluster's directory: its owner exits, and
/// without the mark the next run's reaper would take it for a leftover.
pub const KEPT_MARK: &str = "KEPT";

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

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const SCRATCH_PREFIX: &str = "dot-abs-pg-";

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

/// Clusters left by processes that died without tearing down (kill -9, a
/// crash): their directory names the owner's pid; if that process is gone,
/// stop the server and remove the directory. A cluster marked KEPT (by
/// `harness --keep`) outlives its owner on purpose and is never reaped.
fn reap_leftovers(base: &Path, bin: &Path, run_as_postgres: bool) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if entry.path().join(KEPT_MARK).exists() {
            continue;
        }
        if owner != std::process::id() && !Path::new(&format!("/proc/{owner}")).exists() {
            Teardown {
                root: entry.path(),
                bin: bin.to_path_buf(),
                run_as_postgres,
            }
            .run();
        }
    }
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

fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.first() == Some(&"postgres") && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A PgBouncer in transaction mode in front of a disposable cluster, on a
/// Unix socket in the cluster's own directory: what the pooler tests and
/// the bench run the handler through. Dropping it stops it.
#[derive(Debug)]
pub struct Pgbouncer {
    dir: PathBuf,
    child: std::process::Child,
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
        let bouncer = Pgbouncer { dir, child };
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
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_is_read_from_every_shape_of_version_line() {
        for (line, major) in [
            ("postgres (PostgreSQL) 13.23", Some(13)),
            ("postgres (PostgreSQL) 14.23\n", Some(14)),
            (
                "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
                Some(15),
            ),
            ("postgres (PostgreSQL) 18beta1", Some(18)),
            ("postgres (PostgreSQL) 9.6.24", Some(9)),
            ("postgres (PostgreSQL)", None),
            ("", None),
        ] {
            assert_eq!(parse_major(line), major, "{line:?}");
        }
    }

    /// A bin directory whose `postgres --version` prints `line`.
    fn fake_server(line: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-fake-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        let postgres = dir.join("postgres");
        fs::write(&postgres, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
        fs::set_permissions(&postgres, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn a_server_older_than_13_is_refused_by_name_and_13_is_taken() {
        let old = fake_server("postgres (PostgreSQL) 12.22");
        let err = server_version(&old).unwrap_err();
        assert!(matches!(err, PgTempError::TooOld { .. }), "{err}");
        assert!(err.to_string().contains("12.22") && err.to_string().contains("13 or later"));
        let ok = fake_server("postgres (PostgreSQL) 13.23");
        assert_eq!(
            server_version(&ok).unwrap(),
            (13, "postgres (PostgreSQL) 13.23".to_owned())
        );
        let odd = fake_server("no version here");
        assert!(matches!(
            server_version(&odd),
            Err(PgTempError::UnknownVersion { .. })
        ));
        for d in [old, ok, odd] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn initdb_is_given_no_instructions_only_from_14_on() {
        let base = [
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ];
        assert_eq!(ServerOptions { major: 13 }.initdb_args(), base.to_vec());
        for major in 14..=18 {
            let mut want = base.to_vec();
            want.push("--no-instructions");
            assert_eq!(ServerOptions { major }.initdb_args(), want, "{major}");
        }
    }

    #[test]
    fn the_clone_names_a_strategy_only_from_15_on() {
        for major in [13, 14] {
            assert_eq!(
                ServerOptions { major }.clone_sql("t_1", "tpl"),
                r#"CREATE DATABASE "t_1" TEMPLATE "tpl""#,
                "{major}"
            );
        }
        for major in 15..=18 {
            assert_eq!(
                ServerOptions { major }.clone_sql("t_1", "tpl"),
                r#"CREATE DATABASE "t_1" TEMPLATE "tpl" STRATEGY FILE_COPY"#,
                "{major}"
            );
        }
    }
}
