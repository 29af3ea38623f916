//! The database shell: the only module that talks SQL. It reads the facts,
//! hands them to `policy`, and writes exactly what policy allowed, in one
//! READ COMMITTED transaction per command (READ ONLY for a dry run, so the
//! server itself refuses any write). Every error becomes a typed `Stop`;
//! a dropped transaction rolls back, so a refusal writes nothing.
//!
//! Built for a transaction-mode pooler and for few round trips: every
//! statement is an unnamed one (`query_typed`: parse, bind and execute in
//! one flight, nothing left on the server), every setting is `SET LOCAL`
//! sent with BEGIN, and each command reads everything it decides on in one
//! statement. A mint is 4 round trips (BEGIN with the APR lock, read with
//! the scope lock and the clock, guarded insert, COMMIT); consume and
//! revoke are 4 (BEGIN,
//! locked read, compare-and-swap, COMMIT); a path that writes nothing ends
//! with ROLLBACK (see `Tx::end_unwritten`).

pub use crate::cli::{GrantSort, Since};
use crate::commands::verdict::Verdict;
use crate::decide::durability::Durability;
use crate::decide::payload;
use crate::decide::policy::{
    self, auth_code_for, Apr, Execute, Grant, Handler, Presented, Revoke, Stop, Vocabulary, Vote,
};
use crate::decide::reject::{Done, Fault, Reject};
use crate::integrity::approval::AllowedSigners;
use crate::integrity::signing::{SigningKey, TrustedKeys};
use crate::integrity::verified::{self, Backing, ExecuteFacts};
use crate::store::connect::{Target, Timeouts};
use chrono::{DateTime, Utc};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Row};
use serde_json::Value;

/// A connection and the timeouts its transactions set.
pub struct Conn {
    pub client: Client,
    timeouts: Timeouts,
    schema: crate::store::connect::Schema,
    /// Whether the session is a superuser's, learnt with the first BEGIN.
    pub superuser: Option<bool>,
    /// The TLS the session was opened with: a cancel request (see
    /// `Tx::commit`) goes out the same way.
    tls: Option<rustls::ClientConfig>,
    /// Every WARNING the server sent on this session since the last COMMIT
    /// began: a COMMIT that warns is never OK (SPEC §10).
    warnings: Warnings,
    /// `--durability`: under `replicated`, every commit is flushed here
    /// before it returns (synchronous_commit at least `local`), so that the
    /// flushed WAL position read after it is past it (`await_replicated`).
    pub durability: Durability,
}

/// The server's WARNINGs, collected by the connection's notice callback.
type Warnings = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl Conn {
    fn new(
        client: Client,
        timeouts: Timeouts,
        schema: crate::store::connect::Schema,
        tls: Option<rustls::ClientConfig>,
        warnings: Warnings,
    ) -> Conn {
        Conn {
            client,
            timeouts,
            schema,
            superuser: None,
            tls,
            warnings,
            durability: Durability::Local,
        }
    }
}

/// Keeps the server's WARNINGs (by their untranslated severity) for
/// `Tx::commit`; other notices are dropped as before.
fn collect_warnings(config: &mut postgres::Config) -> Warnings {
    let warnings = Warnings::default();
    let sink = warnings.clone();
    config.notice_callback(move |notice| {
        let warning = match notice.parsed_severity() {
            Some(s) => s == postgres::error::Severity::Warning,
            None => notice.severity() == "WARNING",
        };
        if warning {
            let text = match notice.detail() {
                Some(d) => format!("{} ({d})", notice.message()),
                None => notice.message().to_owned(),
            };
            if let Ok(mut w) = sink.lock() {
                w.push(text);
            }
        }
    });
    warnings
}

/// Set when any transaction of this process ran as a superuser: the
/// command's verdict then carries a warning (see `run`).
static SUPERUSER_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn superuser_seen() -> bool {
    SUPERUSER_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set when any transaction of this process ran on a server in recovery
/// (a standby): the verdict then says `in_recovery` (issue 20: what it
/// read may lag the primary). Learnt in the same statement as the
/// superuser check, so no round trip is added.
static IN_RECOVERY_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn in_recovery_seen() -> bool {
    IN_RECOVERY_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// A failed connection attempt, and whether the next host of the list
/// is to be tried (see `connect`).
pub struct Failed {
    pub stop: Stop,
    pub next_host: bool,
}

/// Connects to one entry of a host list (`Target::attempts`) within the
/// connect timeout, the whole handshake and the `target_session_attrs`
/// check included (a listener that accepts and never answers is a
/// timeout, not a hang). A login the server refuses, or a client
/// certificate it rejects, is ERROR_DB_AUTH; a server certificate that
/// fails verification (or no TLS under require) ERROR_DB_TLS; a timeout
/// ERROR_TIMEOUT; no answer, or a server that is not the kind `want`
/// asks for, ERROR_DB_UNREACHABLE.
///
/// A failure says whether libpq would go on to the next host: after no
/// answer, a timeout, a server not of the kind asked for, or one that
/// cannot take connections yet (57P03), yes; after a server that answered
/// and refused (a login, a TLS verification, a missing database), no:
/// "if a connection is established successfully, but authentication
/// fails, the remaining hosts in the list are not tried".
pub fn connect(target: &Target, want: crate::store::connect::SessionAttrs) -> Result<Conn, Failed> {
    use crate::store::tls::Mode;
    // Never TLS over a Unix-domain socket: libpq uses none there, whatever
    // sslmode says, and the server offers none.
    let unix = matches!(
        target.config.get_hosts().first(),
        Some(postgres::config::Host::Unix(_))
    );
    if unix {
        return connect_once(target, want, Mode::Disable);
    }
    match target.tls {
        // allow: plaintext first, TLS only when the server refused that.
        Mode::Allow => match connect_once(target, want, Mode::Disable) {
            Err(Failed {
                stop: Stop::Fault(Fault::DbAuth, plain),
                ..
            }) => connect_once(target, want, Mode::Prefer).map_err(|f| Failed {
                stop: match f.stop {
                    Stop::Fault(kind, why) => {
                        Stop::Fault(kind, format!("{why} (and without TLS: {plain})"))
                    }
                    other => other,
                },
                next_host: f.next_host,
            }),
            other => other,
        },
        mode => connect_once(target, want, mode),
    }
}

fn connect_once(
    target: &Target,
    want: crate::store::connect::SessionAttrs,
    mode: crate::store::tls::Mode,
) -> Result<Conn, Failed> {
    let mut config = target.config.clone();
    let warnings = collect_warnings(&mut config);
    let deadline = target.timeouts.connect;
    let fail = |kind: Fault, why: String| Failed {
        stop: Stop::Fault(
            kind,
            format!("could not connect to {}: {why}", target.describe()),
        ),
        next_host: matches!(kind, Fault::Timeout | Fault::DbUnreachable),
    };
    let tls = if mode == crate::store::tls::Mode::Disable {
        config.ssl_mode(postgres::config::SslMode::Disable);
        None
    } else {
        config.ssl_mode(match mode {
            crate::store::tls::Mode::Allow | crate::store::tls::Mode::Prefer => {
                postgres::config::SslMode::Prefer
            }
            _ => postgres::config::SslMode::Require,
        });
        if mode == crate::store::tls::Mode::VerifyFull && target.hostaddr_only {
            return Err(fail(
                Fault::DbTls,
                "sslmode=verify-full needs a host name to verify the certificate against, and \
                 only hostaddr was given (libpq refuses this too)"
                    .into(),
            ));
        }
        let cert = match target.client_cert.resolve() {
            Ok(Some(c)) => Some(
                crate::store::tls::load_client_cert(&c)
                    .map_err(|e| fail(Fault::DbAuth, format!("client certificate: {e}")))?,
            ),
            Ok(None) => None,
            Err(e) => return Err(fail(Fault::DbAuth, format!("client certificate: {e}"))),
        };
        crate::store::tls::client_config(mode, target.roots.as_ref(), &target.tls_options, cert)
            .map_err(|e| fail(Fault::DbTls, format!("TLS: {e}")))?
    };
    let cancel_tls = tls.clone();
    let (sent, received) = std::sync::mpsc::channel();
    // The attempt runs on its own thread so that the deadline holds
    // whatever the server does; a thread still stuck when the deadline
    // passes is abandoned (the process ends with the verdict).
    std::thread::spawn(move || {
        let result = match tls {
            Some(c) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(c)),
            None => config.connect(NoTls),
        };
        let result = result.and_then(|mut client| {
            let unsuited = unsuited(&mut client, want)?;
            Ok((client, unsuited))
        });
        let _ = sent.send(result);
    });
    let result = match received.recv_timeout(deadline) {
        Ok(result) => result,
        Err(_) => {
            return Err(fail(
                Fault::Timeout,
                format!("no complete handshake within {deadline:?} (connect timeout)"),
            ))
        }
    };
    match result {
        Ok((client, None)) => Ok(Conn::new(
            client,
            target.timeouts,
            target.schema.clone(),
            cancel_tls,
            warnings,
        )),
        Ok((_, Some(why))) => Err(fail(
            Fault::DbUnreachable,
            format!("{why} (target_session_attrs={})", want.as_str()),
        )),
        Err(e) => {
            let kind = connect_fault(&e);
            let why = match kind {
                Fault::DbAuth => "the server refused the login",
                Fault::DbTls => "TLS as sslmode asks could not be established",
                Fault::Timeout => "timed out",
                _ => "no database answered",
            };
            let mut failed = fail(kind, format!("{why}: {}", error_text(&e)));
            if let Some(code) = e.code() {
                failed.next_host = code.code() == "57P03";
            }
            Err(failed)
        }
    }
}

/// Why a server does not suit `target_session_attrs`, as libpq decides it
/// (`SHOW transaction_read_only` for read-write/read-only,
/// `pg_is_in_recovery()` for primary/standby), or `None` when it does.
fn unsuited(
    client: &mut Client,
    want: crate::store::connect::SessionAttrs,
) -> Result<Option<&'static str>, postgres::Error> {
    use crate::store::connect::SessionAttrs as S;
    let one = |client: &mut Client, sql: &str| -> Result<Option<String>, postgres::Error> {
        for m in client.simple_query(sql)? {
            if let postgres::SimpleQueryMessage::Row(row) = m {
                return Ok(row.get(0).map(str::to_owned));
            }
        }
        Ok(None)
    };
    Ok(match want {
        S::Any | S::PreferStandby => None,
        S::ReadWrite => (one(client, "SHOW transaction_read_only")?.as_deref() != Some("off"))
            .then_some("session is read-only"),
        S::ReadOnly => (one(client, "SHOW transaction_read_only")?.as_deref() != Some("on"))
            .then_some("session is not read-only"),
        S::Primary => (one(client, "SELECT pg_catalog.pg_is_in_recovery()")?.as_deref()
            != Some("f"))
        .then_some("server is in hot standby mode"),
        S::Standby => (one(client, "SELECT pg_catalog.pg_is_in_recovery()")?.as_deref()
            != Some("t"))
        .then_some("server is not in hot standby mode"),
    })
}

/// What a failed connection attempt was: by SQLSTATE class when the
/// server answered with one, else by the TLS error (rustls's, found in the
/// error's sources) or the I/O kind, else by the client library's own
/// kind of error (it exposes no other handle on it than its text).
fn connect_fault(e: &postgres::Error) -> Fault {
    if let Some(code) = e.code() {
        // Class 28: invalid authorization specification (no such role,
        // wrong password, pg_hba.conf, a client certificate refused); 3D000
        // is a missing database.
        if code.code().starts_with("28") {
            return Fault::DbAuth;
        }
        return Fault::DbUnreachable;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let tls = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            use rustls::AlertDescription as A;
            return match tls {
                // The server refused our certificate (or wanted one).
                rustls::Error::AlertReceived(
                    A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::AccessDenied
                    | A::CertificateRequired,
                ) => Fault::DbAuth,
                _ => Fault::DbTls,
            };
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Fault::Timeout;
            }
        }
        source = s.source();
    }
    let text = error_text(e);
    if text.starts_with("error performing TLS handshake") {
        return Fault::DbTls;
    }
    if text.starts_with("authentication error") || text.contains("password missing") {
        return Fault::DbAuth;
    }
    if text.contains("timed out") || text.contains("timeout") {
        return Fault::Timeout;
    }
    Fault::DbUnreachable
}

/// Maps a database error to the ERROR it is, by SQLSTATE, never by text.
/// Whether `e` means the session is gone (the server closed it, or the
/// socket failed), as opposed to a statement refused on a live session:
/// the session closed or its socket failed (an I/O error), a FATAL or PANIC, an operator's shutdown (57P01, 57P02,
/// 57P03) or a connection exception (class 08). One rule, so that a
/// connection lost before COMMIT is always ERROR_DB_UNREACHABLE (nothing
/// written) and one lost during COMMIT always ERROR_COMMIT_UNKNOWN.
pub fn connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            matches!(
                db.parsed_severity(),
                Some(postgres::error::Severity::Fatal | postgres::error::Severity::Panic)
            ) || code.starts_with("57P")
                || code.starts_with("08")
        }
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
    }
}

pub fn fault(e: &postgres::Error) -> Stop {
    let text = error_text(e);
    if connection_lost(e) {
        return Stop::Fault(
            Fault::DbUnreachable,
            format!("the connection to the database was lost; nothing was committed: {text}"),
        );
    }
    let kind = match e.code() {
        Some(c) if *c == SqlState::QUERY_CANCELED || *c == SqlState::LOCK_NOT_AVAILABLE => {
            Fault::Timeout
        }
        Some(c) if *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => Fault::Timeout,
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => Fault::PermissionDenied,
        Some(c)
            if *c == SqlState::UNDEFINED_TABLE
                || *c == SqlState::INVALID_SCHEMA_NAME
                || *c == SqlState::UNDEFINED_COLUMN
                || *c == SqlState::UNDEFINED_FUNCTION
                || *c == SqlState::DATATYPE_MISMATCH
                || *c == SqlState::INVALID_TEXT_REPRESENTATION =>
        {
            Fault::SchemaContract
        }
        // The table's own clock refused a spend of an expired grant (the
        // stamp trigger, staged/harden-tables.staged.sql): that is the
        // grant's fact, not the environment's.
        Some(c) if c.code() == "DG007" => {
            return Stop::Reject(crate::decide::reject::Reject::AuthExpired, text)
        }
        Some(c) if c.code().starts_with("DG") => Fault::GuardRefused,
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            Fault::ConcurrentChange
        }
        None if e.is_closed() => Fault::DbUnreachable,
        // A column of an unexpected type fails in the client, with no code.
        None if text.contains("error deserializing column") => Fault::SchemaContract,
        _ => Fault::Database,
    };
    Stop::Fault(kind, text)
}

fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}: {})", db.message(), db.severity(), db.code().code()),
        None => {
            use std::error::Error as _;
            match e.source() {
                Some(src) => format!("{e}: {src}"),
                None => e.to_string(),
            }
        }
    }
}

trait OrFault<T> {
    fn or_fault(self) -> Result<T, Stop>;
}

impl<T> OrFault<T> for Result<T, postgres::Error> {
    fn or_fault(self) -> Result<T, Stop> {
        self.map_err(|e| fault(&e))
    }
}

/// A typed parameter of an unnamed statement.
type Param<'p> = (&'p (dyn ToSql + Sync), Type);

/// One transaction: BEGIN and its `SET LOCAL`s in one round trip; every
/// statement unnamed; dropped without `commit`, it rolls back.
pub(crate) struct Tx<'c> {
    client: &'c mut Client,
    open: bool,
    superuser: bool,
    /// `quorum_passed` qualified by the governance schema (SPEC §10).
    quorum_fn: String,
    read_only: bool,
    /// Whether a COMMIT of this session waits for synchronous standbys
    /// (`synchronous_standby_names` set, `synchronous_commit` above
    /// `local`): then state found already written is answered OK only
    /// after a commit of our own has waited for the same standbys.
    commits_wait_for_standbys: bool,
    /// `--durability replicated`: state found is committed over again too
    /// (see `end_found`), so that the flushed position is past it.
    replicated: bool,
    /// How long COMMIT may wait (the statement timeout, which the server
    /// does not apply to a synchronous-replication wait).
    commit_limit: std::time::Duration,
    tls: Option<rustls::ClientConfig>,
    warnings: Warnings,
}

impl<'c> Tx<'c> {
    pub(crate) fn begin(conn: &'c mut Conn, read_only: bool) -> Result<Tx<'c>, Stop> {
        Tx::begin_then(conn, read_only, "")
    }

    /// BEGIN, the `SET LOCAL`s, then `first` (a statement without
    /// parameters: its values already quoted with `literal`), in one round
    /// trip. Each statement of a simple query takes its own snapshot, so a
    /// lock taken in `first` is held before anything after it reads.
    pub(crate) fn begin_then(
        conn: &'c mut Conn,
        read_only: bool,
        first: &str,
    ) -> Result<Tx<'c>, Stop> {
        // The search_path is pinned before anything is read (SPEC §10): no
        // temporary object, per-role setting or pooled session's leftover
        // changes what a name means. An object in the governance schema can
        // still shadow a built-in of a looser signature (count(text) over
        // count("any")) whatever the search_path, so the polymorphic
        // built-ins the handler calls are written pg_catalog.*, and a schema
        // that PUBLIC may create in is refused outright.
        let schema = conn.schema.as_str();
        let replicated = conn.durability != Durability::Local;
        let sql = format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED{}; {} SET LOCAL search_path = {}; \
             SELECT current_setting('is_superuser'), has_schema_privilege('public', {}, 'CREATE')::text, \
             (current_setting('synchronous_standby_names') <> '' \
              AND current_setting('synchronous_commit') NOT IN ('off', 'local'))::text, \
             pg_catalog.pg_is_in_recovery()::text; {}{}{first}",
            if read_only { " READ ONLY" } else { "" },
            conn.timeouts.set_local(),
            conn.schema.search_path(),
            literal(schema),
            if read_only { "" } else { LIFT_SYNCHRONOUS_COMMIT },
            if replicated {
                "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' \
                 THEN set_config('synchronous_commit', 'local', true) END; "
            } else {
                ""
            },
        );
        let replies = conn.client.simple_query(&sql).or_fault()?;
        // The second row of a writer: whether LIFT_SYNCHRONOUS_COMMIT
        // raised the session's setting (then commits wait for standbys).
        let lifted = !read_only
            && replies
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .nth(1)
                .is_some_and(|r| r.try_get(0).ok().flatten() == Some("on"));
        // Unreadable answers read as the cautious ones: PUBLIC may
        // create, commits wait for standbys.
        let (superuser, public_creates, waits, in_recovery) = replies
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    let column = |i| r.try_get(i).ok().flatten();
                    Some((
                        column(0) == Some("on"),
                        column(1) != Some("false"),
                        column(2) != Some("false"),
                        column(3) == Some("true"),
                    ))
                }
                _ => None,
            })
            .unwrap_or((false, true, true, false));
        conn.superuser = Some(superuser);
        if superuser {
            SUPERUSER_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if in_recovery {
            IN_RECOVERY_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if public_creates {
            let _ = conn.client.batch_execute("ROLLBACK");
            return Err(Stop::Fault(
                Fault::SchemaContract,
                format!(
                    "PUBLIC may create objects in schema {schema}: any login could shadow a function \
                     the quorum is judged by; REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC \
                     (staged/approvals-bound.staged.sql); nothing read, nothing written"
                ),
            ));
        }
        Ok(Tx {
            client: &mut conn.client,
            open: true,
            superuser,
            quorum_fn: format!("\"{schema}\".quorum_passed"),
            read_only,
            commits_wait_for_standbys: waits || lifted,
            replicated,
            commit_limit: conn.timeouts.statement,
            tls: conn.tls.clone(),
            warnings: conn.warnings.clone(),
        })
    }

    fn client_is_not_superuser(&self) -> bool {
        !self.superuser
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Stop> {
        self.client.query_typed(sql, params).or_fault()
    }

    fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, Stop> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, Stop> {
        self.query_opt(sql, params)?.ok_or_else(|| {
            Stop::Fault(
                Fault::Database,
                "a statement that returns one row returned none".into(),
            )
        })
    }

    /// Commits; a connection lost while COMMIT was under way is
    /// ERROR_COMMIT_UNKNOWN (never "unreachable"): the caller reconnects
    /// and reads back what happened.
    ///
    /// The server does not apply statement_timeout to COMMIT's wait for
    /// synchronous standbys, and a wait cut short by a cancel still
    /// answers COMMIT with success, after a WARNING that the transaction
    /// "has already committed locally, but might not have been replicated
    /// to the standby". So COMMIT is bounded here: past the statement
    /// timeout a cancel request is sent, and a COMMIT that was cancelled
    /// or warned is ERROR_COMMIT_UNKNOWN, never OK (SPEC §10): the write
    /// may not survive a failover.
    fn commit(mut self) -> Result<(), Stop> {
        crate::store::failpoint::hit("before-commit")?;
        self.open = false;
        if let Ok(mut w) = self.warnings.lock() {
            w.clear();
        }
        let limit = self.commit_limit;
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let token = self.client.cancel_token();
        let tls = self.tls.clone();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return false;
            }
            let _ = match tls {
                Some(c) => token.cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new(c)),
                None => token.cancel_query(NoTls),
            };
            true
        });
        let result = self.client.batch_execute("COMMIT");
        drop(done);
        let cancelled = watchdog.join().unwrap_or(true);
        let warned: Vec<String> = self
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_else(|_| vec!["the warnings could not be read".into()]);
        let result = crate::store::failpoint::lose_commit(result.as_ref().err())
            .map_or_else(|| result.or_fault(), Err);
        if cancelled || !warned.is_empty() {
            let why = if cancelled {
                format!(
                    "COMMIT was still waiting after {limit:?} (the statement timeout; a wait for \
                     synchronous standbys is bounded by nothing else) and was cancelled"
                )
            } else {
                "COMMIT warned".to_owned()
            };
            let said = match (&result, warned.is_empty()) {
                (_, false) => format!("; the server said: {}", warned.join("; ")),
                (Err(Stop::Fault(_, e) | Stop::Reject(_, e)), true) => format!("; {e}"),
                _ => String::new(),
            };
            return Err(Stop::Fault(
                Fault::CommitUnknown,
                format!(
                    "{why}{said}: the write may be committed on this server but not on its \
                     standbys, and may not survive a failover"
                ),
            ));
        }
        result
    }

    /// Ends a transaction that found what it would have written already
    /// there (ALREADY_MINTED, a replayed CONSUMED, ALREADY_REVOKED): grant
    /// `auth_code`. Where commits wait for synchronous standbys, that state
    /// may be committed here and not yet on them (its own COMMIT cancelled,
    /// say), so the answer is OK only after a commit of our own has waited
    /// for them: the WAL it waits for comes after the state found. A commit
    /// waits only if the transaction wrote WAL (an xid alone does not), so
    /// the grant's row is locked FOR KEY SHARE (which logs the lock, and
    /// blocks only another FOR UPDATE). Under `--durability replicated`
    /// likewise, so that the state found is flushed here before the
    /// standbys' flushed position is compared with ours. Elsewhere, one
    /// ROLLBACK as before.
    fn end_found(mut self, auth_code: &str) -> Result<(), Stop> {
        if !(self.commits_wait_for_standbys || self.replicated) || self.read_only {
            self.end_unwritten();
            return Ok(());
        }
        let locked = self.query(LOCK_FOUND_GRANT, &[(&auth_code, Type::TEXT)])?;
        if locked.is_empty() {
            return Err(Stop::Fault(
                Fault::ConcurrentChange,
                format!("grant {auth_code} vanished while it was being read; nothing written"),
            ));
        }
        self.commit()
    }

    /// Ends a transaction that wrote nothing. One ROLLBACK round trip, on
    /// purpose: closing the connection mid-transaction would end it for
    /// free on a direct connection, but a transaction-mode pooler must then
    /// throw its server connection away, and the next client pays for a
    /// new backend (measured with scripts/bench: a mint through PgBouncer
    /// after such a close took 8.9 ms, after a ROLLBACK 4.4 ms; direct runs
    /// did not change).
    fn end_unwritten(mut self) {
        self.open = false;
        let _ = self.client.batch_execute("ROLLBACK");
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A refusal on a write path: roll back now, so that nothing the
            // transaction locked or set outlives it, even through a pooler.
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

/// `--durability replicated`'s function (staged/durability.staged.sql),
/// in the governance schema.
fn standbys_flushed_fn(conn: &Conn) -> String {
    format!("\"{}\".dot_standbys_flushed", conn.schema.as_str())
}

/// Before anything is written under `--durability replicated`: the
/// function it reads is there and this login may call it, else
/// ERROR_SCHEMA_CONTRACT (or ERROR_PERMISSION_DENIED) with nothing written.
pub fn check_durability_contract(conn: &mut Conn) -> Result<(), Stop> {
    let sql = format!(
        "BEGIN READ ONLY; {} SELECT {}('0/0'::pg_catalog.pg_lsn); ROLLBACK",
        conn.timeouts.set_local(),
        standbys_flushed_fn(conn)
    );
    match conn.client.batch_execute(&sql) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.client.batch_execute("ROLLBACK");
            match e.code() {
                Some(&SqlState::UNDEFINED_FUNCTION) => Err(Stop::Fault(
                    Fault::SchemaContract,
                    format!(
                        "--durability replicated reads {}(pg_lsn), which is not installed: apply \
                         staged/durability.staged.sql as the owner (runbook STEP 0g); nothing written",
                        standbys_flushed_fn(conn)
                    ),
                )),
                _ => Err(fault(&e)),
            }
        }
    }
}

/// After an OK write (or the state found already written) under
/// `--durability replicated:n`: waits, within the statement timeout, until
/// n standbys have flushed the WAL up to what is flushed here now, which is
/// past the commit (under `replicated` every commit flushes before it
/// returns, and state found is committed over again: `Tx::end_found`).
/// Not the insert position: WAL written after the commit that no commit
/// flushes (a page pruned by a read) would keep an idle server from ever
/// sending it.
/// Short of that, ERROR_COMMIT_UNKNOWN: written here, maybe not on any
/// standby a failover would promote.
pub fn await_replicated(conn: &mut Conn, n: u32) -> Result<(), Stop> {
    let limit = conn.timeouts.statement;
    let started = std::time::Instant::now();
    let position: String = {
        let rows = conn
            .client
            .simple_query("SELECT pg_catalog.pg_current_wal_flush_lsn()::text")
            .or_fault()?;
        rows.iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .ok_or_else(|| Stop::Fault(Fault::Database, "no WAL position read".into()))?
    };
    let sql = format!(
        "BEGIN READ ONLY; {} SELECT {}({}::pg_catalog.pg_lsn); ROLLBACK",
        conn.timeouts.set_local(),
        standbys_flushed_fn(conn),
        literal(&position)
    );
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        let replies = conn.client.simple_query(&sql).or_fault()?;
        let flushed: u32 = replies
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
                _ => None,
            })
            .unwrap_or(0);
        if flushed >= n {
            return Ok(());
        }
        if started.elapsed() >= limit {
            return Err(Stop::Fault(
                Fault::CommitUnknown,
                format!(
                    "committed on the primary, but {flushed} of the {n} standbys --durability \
                     replicated:{n} asks for flushed WAL position {position} within {limit:?} \
                     (the statement timeout): the write may not survive a failover; re-run the \
                     same command once the standbys are back"
                ),
            ));
        }
        std::thread::sleep(pause.min(limit.saturating_sub(started.elapsed())));
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// A writer's second statement: where commits wait for synchronous
/// standbys, a session that lowered synchronous_commit to `off` or `local`
/// (PGOPTIONS, a pooled session's leftover SET: not the server's commit
/// policy, which a role's, a database's or the file's setting is) has it
/// raised back to `on` for this transaction, so that an OK (a new write,
/// or state found: `Tx::end_found`) is never given for a commit no standby
/// confirmed. Answers `on` when it raised it, else NULL.
const LIFT_SYNCHRONOUS_COMMIT: &str =
    "SELECT CASE WHEN current_setting('synchronous_standby_names') <> '' \
     AND current_setting('synchronous_commit') IN ('off', 'local') \
     AND (SELECT s.source FROM pg_catalog.pg_settings s WHERE s.name = 'synchronous_commit') \
         IN ('client', 'session') \
     THEN set_config('synchronous_commit', 'on', true) END; ";

/// `Tx::end_found`'s write-ahead-logged row lock.
const LOCK_FOUND_GRANT: &str =
    "SELECT 1 FROM governance_build_authorization WHERE auth_code = $1 FOR KEY SHARE";

const WRITER_MARKER: &str = "set_config('dot.canonical_writer', 'dot-authorize-build-step', true)";

/// Serializes handlers per APR without any table privilege. Sent with
/// BEGIN, so the APR code is quoted here (see `literal`).
fn lock_apr(apr_code: &str) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dot-authorize-build-step:apr:' || {}, 0::bigint));",
        literal(apr_code)
    )
}

/// A string as an SQL literal, whatever the server's
/// standard_conforming_strings: an escape string constant (E'…') in which
/// backslash and quote are doubled, the only two characters it treats
/// specially. The command line refuses NUL and control characters before
/// any value gets here.
fn literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A grant's columns as the decisions read them, from alias `g`. Whatever
/// a forged row holds must read (SPEC §9, invariant 9): `scope` as text
/// (parsed by `jsonb::read`), timestamps clamped into chrono's range
/// (±infinity would not decode; a clamped one fails the TTL check), and an
/// action set with a NULL element or more than one dimension as no action
/// set at all (it is then generic, and no signature covers it).
const GRANT_COLUMNS: &str = "g.auth_code AS auth_code, g.request_ref AS request_ref, g.status AS status, \
     g.carrier AS carrier, g.lane AS lane, g.target AS target, g.plan_ref AS plan_ref, \
     g.manifest_hash AS manifest_hash, g.protocol_version AS protocol_version, \
     CASE WHEN pg_catalog.array_ndims(g.action_set) IS DISTINCT FROM 1 THEN NULL \
          WHEN pg_catalog.array_position(g.action_set, NULL) IS NOT NULL THEN NULL \
          ELSE g.action_set END AS action_set, \
     g.scope::text AS scope, g.apr_digest AS apr_digest, g.single_use AS single_use, \
     g.commit_allowed AS commit_allowed, g.requires_sovereign_esign AS requires_sovereign_esign, \
     LEAST(GREATEST(g.granted_at, '0001-01-01Z'), '9999-12-31Z') AS granted_at, \
     LEAST(GREATEST(g.expires_at, '0001-01-01Z'), '9999-12-31Z') AS expires_at, \
     g.granted_by AS granted_by, g.rollback_plan_ref AS rollback_plan_ref, g.consumed_at AS consumed_at, \
     g.consumed_by AS consumed_by, g.consume_request_id AS consume_request_id, \
     g.signature AS signature, g.key_id AS key_id, g.quorum::text AS grant_quorum, \
     g.evidence_head AS evidence_head";

/// The APR (alias `a`; its payload as text, parsed by `jsonb::read`: serde
/// refuses what jsonb stores, and no stored payload may make the handler
/// ERROR, SPEC §9 invariant 9), the handler row (alias `h`), the votes as
/// JSON text, quorum_passed() and the wall clock, for the APR `code`.
fn decision_columns(code: &str, quorum_fn: &str) -> String {
    format!(
        "a.apr_code AS apr_code, a.action_code AS apr_action_code, a.status AS apr_status, \
         a.proposed_by AS apr_proposed_by, a.proposed_action::text AS apr_payload, \
         h.action_code IS NOT NULL AS handler_exists, h.handler_ref AS handler_ref, \
         h.status AS handler_status, h.min_approvals AS handler_min_approvals, \
         (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array(v.approver, v.decision, v.payload_digest, v.signature)), '[]')::text \
            FROM apr_approvals v WHERE v.apr_code = {code}) AS votes, \
         COALESCE({quorum_fn}({code}), false) AS quorum, \
         clock_timestamp() AS now"
    )
}

/// Everything `execute` decides on, in one statement (read after the APR
/// lock, so it sees what the previous holder committed).
///
/// With `lock_scope` (a real run) the same statement also takes the scope
/// lock, keyed on the payload's own carrier, target and plan_ref (a payload
/// that validates has exactly these strings; one that does not is refused
/// anyway, and a NULL key locks nothing), then reads the wall clock behind
/// that lock (the subquery is a fence): that reading is granted_at (SPEC
/// §9, invariant 8). The check for another APR's active grant is not made
/// here but in the insert, whose snapshot is taken after the lock.
fn select_for_execute(lock_scope: bool, quorum_fn: &str) -> String {
    let scope = if lock_scope {
        "LEFT JOIN LATERAL (SELECT clock_timestamp() AS at FROM \
            (SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('dot-authorize-build-step:scope:' \
                || (a.proposed_action ->> 'carrier') || ':' || (a.proposed_action ->> 'target') \
                || ':' || (a.proposed_action ->> 'plan_ref'), 0::bigint)) OFFSET 0) l0) l ON true"
    } else {
        "LEFT JOIN LATERAL (SELECT NULL::timestamptz AS at) l ON true"
    };
    format!(
        "SELECT {}, \
           (SELECT pg_catalog.array_agg(action_code ORDER BY action_code) FROM apr_action_types \
             WHERE act_type = 'C1_VOCAB_OP' AND status = 'active') AS vocabulary, \
           {GRANT_COLUMNS}, l.at AS scope_locked_at \
         FROM (SELECT $1::text AS code) k \
         LEFT JOIN apr_requests a ON a.apr_code = k.code \
         LEFT JOIN apr_action_types h ON h.action_code = 'authorize_build_step' \
         LEFT JOIN governance_build_authorization g ON g.request_ref = k.code \
         {scope}",
        decision_columns("k.code", quorum_fn)
    )
}

/// Everything `consume` decides on, for one auth code; with `lock`, the
/// grant's row is locked (the compare-and-swap after it then runs without
/// a wait, so its clock is the write's) and the writer marker is set.
fn select_for_consume(lock: bool, quorum_fn: &str) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}, {}{} \
         FROM governance_build_authorization g \
         LEFT JOIN apr_requests a ON a.apr_code = g.request_ref \
         LEFT JOIN apr_action_types h ON h.action_code = 'authorize_build_step' \
         WHERE g.auth_code = $1{}",
        decision_columns("g.request_ref", quorum_fn),
        if lock {
            format!(", {WRITER_MARKER} AS marker")
        } else {
            String::new()
        },
        if lock { " FOR NO KEY UPDATE OF g" } else { "" }
    )
}

/// Other APRs' active, unexpired grants for the same scope (the partial
/// index gba_active_scope_idx answers it), as the decisions read them: the
/// policy ignores those no trusted key signed.
fn other_active_grants() -> String {
    format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g \
         WHERE g.status = 'active' AND g.expires_at > clock_timestamp() \
           AND g.carrier = $1 AND g.target = $2 AND g.plan_ref = $3 AND g.request_ref <> $4 \
         ORDER BY g.auth_code"
    )
}

/// The mint: the marker, then the row, only if no other APR holds an
/// active grant for the scope (checked again here, under the scope lock;
/// the rows in $20 are forged ones the policy found, which never block)
/// and none exists for this APR. The timestamps are the signed ones.
const INSERT_GRANT: &str = "INSERT INTO governance_build_authorization \
     (auth_code, request_ref, status, carrier, lane, target, plan_ref, manifest_hash, protocol_version, \
      action_set, scope, apr_digest, single_use, commit_allowed, requires_sovereign_esign, \
      granted_at, expires_at, granted_by, rollback_plan_ref, signature, key_id, quorum, evidence_head) \
     SELECT $1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, true, false, false, \
            $12, $13, $14, $15, $16, $17, $18, $19 \
       FROM (SELECT set_config('dot.canonical_writer', 'dot-authorize-build-step', true) OFFSET 0) m \
      WHERE NOT EXISTS (SELECT 1 FROM governance_build_authorization o \
                         WHERE o.status = 'active' AND o.expires_at > clock_timestamp() \
                           AND o.carrier = $3 AND o.target = $5 AND o.plan_ref = $6 AND o.request_ref <> $2 \
                           AND o.auth_code <> ALL($20)) \
     ON CONFLICT (request_ref) DO NOTHING \
     RETURNING expires_at";

/// The consume compare-and-swap: every condition the policy checked that
/// can change under it, again, in the one statement that changes the row.
/// Expiry is compared with, and consumed_at stamped from, the wall clock
/// when the row is written; the row lock is already held, so there is no
/// wait in between (SPEC §9, invariant 8).
fn consume_grant(quorum_fn: &str) -> String {
    format!(
        "UPDATE governance_build_authorization g \
         SET status = 'consumed', consumed_at = clock_timestamp(), consumed_by = $2, consume_request_id = $10 \
         WHERE g.auth_code = $1 AND g.status = 'active' AND g.expires_at > clock_timestamp() \
           AND g.carrier = $3 AND g.lane = $4 AND g.target = $5 AND g.plan_ref = $6 AND g.manifest_hash = $7 \
           AND g.apr_digest = $8 \
           AND EXISTS (SELECT 1 FROM apr_requests a WHERE a.apr_code = g.request_ref \
                       AND a.status IN ('approved', 'applied') AND a.proposed_action::text = $9) \
           AND {quorum_fn}(g.request_ref) \
         RETURNING consumed_at"
    )
}
const REVOKE_GRANT: &str = "UPDATE governance_build_authorization \
     SET status = 'revoked', revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason = $3 \
     WHERE auth_code = $1 AND status = 'active' RETURNING revoked_at";

fn grant_of(r: &Row) -> Result<Grant, postgres::Error> {
    Ok(Grant {
        auth_code: r.try_get("auth_code")?,
        request_ref: r.try_get("request_ref")?,
        status: r.try_get("status")?,
        carrier: r.try_get("carrier")?,
        lane: r.try_get("lane")?,
        target: r.try_get("target")?,
        plan_ref: r.try_get("plan_ref")?,
        manifest_hash: r.try_get("manifest_hash")?,
        protocol_version: r.try_get("protocol_version")?,
        action_set: r.try_get("action_set")?,
        scope: r
            .try_get::<_, Option<String>>("scope")?
            .and_then(|t| crate::canon::jsonb::read(&t).ok()),
        apr_digest: r.try_get("apr_digest")?,
        single_use: r.try_get::<_, Option<bool>>("single_use")?.unwrap_or(false),
        commit_allowed: r
            .try_get::<_, Option<bool>>("commit_allowed")?
            .unwrap_or(true),
        requires_sovereign_esign: r
            .try_get::<_, Option<bool>>("requires_sovereign_esign")?
            .unwrap_or(true),
        granted_at: r.try_get("granted_at")?,
        expires_at: r.try_get("expires_at")?,
        granted_by: r.try_get("granted_by")?,
        rollback_plan_ref: r.try_get("rollback_plan_ref")?,
        consumed_at: r.try_get("consumed_at")?,
        consumed_by: r.try_get("consumed_by")?,
        consume_request_id: r.try_get("consume_request_id")?,
        signature: r.try_get("signature")?,
        key_id: r.try_get("key_id")?,
        quorum: r
            .try_get::<_, Option<String>>("grant_quorum")?
            .and_then(|t| crate::canon::jsonb::read(&t).ok()),
        evidence_head: r.try_get("evidence_head")?,
    })
}

/// The grant of a row that may have none (a LEFT JOIN).
fn maybe_grant(r: &Row) -> Result<Option<Grant>, Stop> {
    match r.try_get::<_, Option<String>>("auth_code").or_fault()? {
        Some(_) => grant_of(r).map(Some).or_fault(),
        None => Ok(None),
    }
}

/// The facts every grant decision reads with the grant: the APR, the
/// handler row, the votes, quorum_passed() and the wall clock.
struct Decision {
    apr: Option<Apr>,
    handler: Option<Handler>,
    votes: Vec<Vote>,
    quorum_function: bool,
    now: DateTime<Utc>,
}

fn decision_of(r: &Row) -> Result<Decision, Stop> {
    let apr = match r.try_get::<_, Option<String>>("apr_code").or_fault()? {
        None => None,
        Some(apr_code) => {
            let text: Option<String> = r.try_get("apr_payload").or_fault()?;
            Some(Apr {
                apr_code,
                action_code: r.try_get("apr_action_code").or_fault()?,
                status: r.try_get("apr_status").or_fault()?,
                proposed_by: r.try_get("apr_proposed_by").or_fault()?,
                // PostgreSQL's own jsonb text always reads; if it ever did
                // not, null is malformed (a FAIL), never an ERROR.
                payload: text
                    .as_deref()
                    .and_then(|t| crate::canon::jsonb::read(t).ok())
                    .unwrap_or(Value::Null),
                payload_text: text,
            })
        }
    };
    let handler = if r.try_get::<_, bool>("handler_exists").or_fault()? {
        Some(Handler {
            handler_ref: r.try_get("handler_ref").or_fault()?,
            status: r.try_get("handler_status").or_fault()?,
            min_approvals: r.try_get("handler_min_approvals").or_fault()?,
        })
    } else {
        None
    };
    let votes_text: String = r.try_get("votes").or_fault()?;
    Ok(Decision {
        apr,
        handler,
        votes: votes_of(&votes_text)?,
        quorum_function: r.try_get("quorum").or_fault()?,
        now: r.try_get("now").or_fault()?,
    })
}

/// `[[approver, decision, payload_digest, signature], ...]` as `json_agg`
/// prints it.
fn votes_of(text: &str) -> Result<Vec<Vote>, Stop> {
    let unreadable = || {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_approvals holds a row without an approver or a decision".into(),
        )
    };
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|_| unreadable())?;
    rows.into_iter()
        .map(
            |(approver, decision, payload_digest, signature)| match (approver, decision) {
                (Some(approver), Some(decision)) => Ok(Vote {
                    approver,
                    decision,
                    payload_digest,
                    signature,
                }),
                _ => Err(unreadable()),
            },
        )
        .collect()
}

/// The live C1 vocabulary from an `array_agg` column; none is a schema
/// fault (the contract promises an active vocabulary).
fn vocabulary_of(
    row: &Row,
    column: impl postgres::row::RowIndex + std::fmt::Display,
) -> Result<Vocabulary, Stop> {
    row.try_get::<_, Option<Vec<String>>>(column)
        .or_fault()?
        .and_then(Vocabulary::new)
        .ok_or_else(|| {
            Stop::Fault(
                Fault::SchemaContract,
                "apr_action_types has no active C1_VOCAB_OP rows".into(),
            )
        })
}

/// Every grant row, as the decisions read them (tests and the harness).
pub fn read_all_grants(client: &mut Client) -> Result<Vec<Grant>, Stop> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g ORDER BY g.auth_code"
    );
    let rows = client.query_typed(sql.as_str(), &[]).or_fault()?;
    rows.iter()
        .map(grant_of)
        .collect::<Result<_, _>>()
        .or_fault()
}

/// Every grant row, in one read-only transaction (`keys`).
pub fn all_grants(conn: &mut Conn) -> Result<Vec<Grant>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g ORDER BY g.auth_code"
    );
    let grants = read_grants(&mut tx, &sql, &[])?;
    tx.end_unwritten();
    Ok(grants)
}

/// The grants a statement of `GRANT_COLUMNS` returns.
fn read_grants(tx: &mut Tx<'_>, sql: &str, params: &[Param<'_>]) -> Result<Vec<Grant>, Stop> {
    tx.query(sql, params)?
        .iter()
        .map(grant_of)
        .collect::<Result<_, _>>()
        .or_fault()
}

#[derive(Clone, Copy, Debug)]
pub enum GrantKey<'a> {
    AuthCode(&'a str),
    Apr(&'a str),
}

/// Reads one grant by auth_code or by the APR it was minted for; with
/// `lock`, locks its row and sets the writer marker (revoke).
fn read_grant(tx: &mut Tx<'_>, key: GrantKey<'_>, lock: bool) -> Result<Option<Grant>, Stop> {
    let (column, value) = match key {
        GrantKey::AuthCode(c) => ("auth_code", c),
        GrantKey::Apr(a) => ("request_ref", a),
    };
    let sql = if lock {
        format!(
            "SELECT {GRANT_COLUMNS}, {WRITER_MARKER} AS marker FROM governance_build_authorization g \
             WHERE g.{column} = $1 FOR NO KEY UPDATE OF g"
        )
    } else {
        format!(
            "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g WHERE g.{column} = $1"
        )
    };
    match tx.query_opt(&sql, &[(&value, Type::TEXT)])? {
        Some(r) => Ok(Some(grant_of(&r).or_fault()?)),
        None => Ok(None),
    }
}

/// The keys a command signs and verifies with (see `signing`), and who may
/// sign an approval (see `approval`). None of them is read from the
/// database.
pub struct Keys<'a> {
    /// Present for `execute` (it mints).
    pub signing: Option<&'a SigningKey>,
    pub trusted: &'a TrustedKeys,
    pub allowed: &'a AllowedSigners,
    /// The evidence chain's head as the command opened the log (SPEC §10):
    /// `execute` stores it, signed, in the grant it mints. `None`: no log.
    pub evidence_head: Option<&'a str>,
}

// ---------------------------------------------------------------------------
// execute
// ---------------------------------------------------------------------------

/// `execute --apr CODE`: check, then mint exactly one grant (or report it).
pub fn execute(
    conn: &mut Conn,
    apr_code: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Verdict, Stop> {
    // Under READ COMMITTED every statement after the lock sees what the
    // previous holder committed: the read below is sound.
    let mut tx = if dry_run {
        Tx::begin(conn, true)?
    } else {
        let tx = Tx::begin_then(conn, false, &lock_apr(apr_code))?;
        crate::store::failpoint::hit("execute-after-apr-lock")?;
        tx
    };
    let sql = select_for_execute(!dry_run, &tx.quorum_fn);
    let row = tx.query_one(&sql, &[(&apr_code, Type::TEXT)])?;
    let scope_locked_at: Option<DateTime<Utc>> = row.try_get("scope_locked_at").or_fault()?;
    let vocabulary = vocabulary_of(&row, "vocabulary")?;
    let d = decision_of(&row)?;
    let existing = maybe_grant(&row)?;
    let facts = ExecuteFacts {
        apr: d.apr.as_ref(),
        handler: d.handler.as_ref(),
        existing: existing.as_ref(),
        vocabulary: &vocabulary,
        votes: &d.votes,
        quorum_function: d.quorum_function,
        now: d.now,
        trusted: keys.trusted,
        allowed: keys.allowed,
    };
    let decided = match verified::decide_execute(&facts) {
        Err(Stop::Reject(Reject::QuorumNotMet, why)) => {
            // SKIP, with the recount in structure: required, counted, and
            // every approval not counted with why.
            let mut v = Verdict::from(Stop::Reject(Reject::QuorumNotMet, why))
                .apr(apr_code)
                .dry_run(dry_run);
            if let Some(t) = verified::explain_quorum(&facts) {
                v = v.detail("quorum", t.to_json());
            }
            return Ok(v);
        }
        other => other?,
    };
    let validated = match decided {
        Execute::AlreadyMinted => {
            let grant = existing.expect("AlreadyMinted is decided only from an existing grant");
            // Nothing to write, but where commits wait for standbys the
            // grant found must have reached them too.
            tx.end_found(&grant.auth_code)?;
            return Ok(Verdict::done(
                Done::AlreadyMinted,
                format!(
                    "grant {} was already minted for this APR; nothing written",
                    grant.auth_code
                ),
            )
            .apr(apr_code)
            .auth_code(grant.auth_code.clone())
            .expires_at(grant.expires_at)
            .dry_run(dry_run)
            .detail("grant_status", grant.status.clone())
            .detail(
                "granted_at",
                crate::canon::text::timestamp(&grant.granted_at),
            )
            .detail("apr_digest", grant.apr_digest.clone().unwrap_or_default()));
        }
        Execute::Mint(v, q) => (v, q),
    };
    let (validated, quorum) = validated;
    crate::store::failpoint::hit("execute-after-quorum-check")?;
    let auth_code = auth_code_for(apr_code);
    let mint_facts = |v: Verdict| {
        v.apr(apr_code)
            .auth_code(auth_code.clone())
            .dry_run(dry_run)
            .detail("plan_ref", validated.plan_ref())
            .detail("manifest_hash", validated.manifest_hash().as_str())
            .detail("ttl_seconds", validated.ttl_seconds())
            .detail("apr_digest", validated.digest().as_str())
    };
    let (carrier, target, plan_ref) = (
        validated.carrier(),
        validated.target(),
        validated.plan_ref(),
    );
    let scope: [Param<'_>; 4] = [
        (&carrier, Type::TEXT),
        (&target, Type::TEXT),
        (&plan_ref, Type::TEXT),
        (&apr_code, Type::TEXT),
    ];
    if dry_run {
        let others = read_grants(&mut tx, &other_active_grants(), &scope)?;
        verified::check_no_active_grant(&others, keys.trusted)?;
        let would_expire = d.now + chrono::TimeDelta::seconds(validated.ttl_seconds());
        tx.end_unwritten();
        return Ok(mint_facts(Verdict::done(
            Done::WouldMint,
            format!(
                "dry run: would mint {auth_code}; read without locks in a read-only transaction, nothing written"
            ),
        ))
        .expires_at(would_expire));
    }
    let Some(signing_key) = keys.signing else {
        return Err(Stop::Fault(
            Fault::SigningKey,
            "execute mints only with a signing key (--signing-key FILE or DOT_ABS_SIGNING_KEY)"
                .into(),
        ));
    };
    let Some(granted_at) = scope_locked_at else {
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "the scope lock was not taken for a payload that validates; nothing written".into(),
        ));
    };
    let mut grant = minted_grant(&auth_code, apr_code, &validated, granted_at, &quorum);
    grant.evidence_head = keys.evidence_head.map(str::to_owned);
    let (signature, key_id) = crate::integrity::signing::sign_grant(signing_key, &grant)
        .map_err(|e| Stop::Fault(Fault::SigningKey, e))?;
    grant.signature = Some(signature);
    grant.key_id = Some(key_id);
    let action_set: Vec<&str> = validated.action_set().iter().map(String::as_str).collect();
    let (lane, manifest_hash, protocol, digest, rollback) = (
        validated.lane(),
        validated.manifest_hash().as_str(),
        validated.protocol_version(),
        validated.digest().as_str(),
        validated.rollback_plan_ref(),
    );
    // A forged row in the scope never blocks the mint: when the insert is
    // refused, the rows that refused it are read and judged, and the insert
    // is made once more past those no trusted key signed.
    let mut forged: Vec<String> = Vec::new();
    let row = loop {
        let inserted = tx.query_opt(
            INSERT_GRANT,
            &[
                (&grant.auth_code, Type::TEXT),
                (&grant.request_ref, Type::TEXT),
                (&carrier, Type::TEXT),
                (&lane, Type::TEXT),
                (&target, Type::TEXT),
                (&plan_ref, Type::TEXT),
                (&manifest_hash, Type::TEXT),
                (&protocol, Type::TEXT),
                (&action_set, Type::TEXT_ARRAY),
                (&grant.scope, Type::JSONB),
                (&digest, Type::TEXT),
                (&grant.granted_at, Type::TIMESTAMPTZ),
                (&grant.expires_at, Type::TIMESTAMPTZ),
                (&payload::HANDLER_REF, Type::TEXT),
                (&rollback, Type::TEXT),
                (&grant.signature, Type::TEXT),
                (&grant.key_id, Type::TEXT),
                (&grant.quorum, Type::JSONB),
                (&grant.evidence_head, Type::TEXT),
                (&forged, Type::TEXT_ARRAY),
            ],
        )?;
        if let Some(row) = inserted {
            break row;
        }
        // Refused by the guard in the insert: another APR's active grant
        // for the scope (the SPEC's code, if a trusted key signed it), or,
        // only for a writer that ignores the APR lock, a grant for this
        // APR. Fail closed.
        let others = read_grants(&mut tx, &other_active_grants(), &scope)?;
        verified::check_no_active_grant(&others, keys.trusted)?;
        let blocking: Vec<String> = others.into_iter().map(|g| g.auth_code).collect();
        if blocking.is_empty() || blocking.iter().all(|c| forged.contains(c)) {
            return Err(Stop::Fault(
                Fault::ConcurrentChange,
                "a grant for this APR appeared while the APR lock was held; nothing written".into(),
            ));
        }
        forged.extend(blocking);
    };
    let expires_at: DateTime<Utc> = row.try_get(0).or_fault()?;
    crate::store::failpoint::hit("execute-after-insert")?;
    tx.commit()?;
    Ok(
        mint_facts(Verdict::done(Done::Minted, format!("minted {auth_code}")))
            .expires_at(expires_at)
            .detail("key_id", signing_key.key_id()),
    )
}

/// The row `execute` is about to insert, as the signature sees it.
fn minted_grant(
    auth_code: &str,
    apr_code: &str,
    v: &policy::Validated,
    granted_at: DateTime<Utc>,
    quorum: &policy::Quorum,
) -> Grant {
    Grant {
        auth_code: auth_code.to_owned(),
        request_ref: apr_code.to_owned(),
        status: "active".into(),
        carrier: Some(v.carrier().to_owned()),
        lane: Some(v.lane().to_owned()),
        target: Some(v.target().to_owned()),
        plan_ref: Some(v.plan_ref().to_owned()),
        manifest_hash: Some(v.manifest_hash().as_str().to_owned()),
        protocol_version: Some(v.protocol_version().to_owned()),
        action_set: Some(v.action_set().to_vec()),
        scope: Some(v.scope()),
        apr_digest: Some(v.digest().as_str().to_owned()),
        single_use: true,
        commit_allowed: false,
        requires_sovereign_esign: false,
        granted_at,
        expires_at: granted_at + chrono::TimeDelta::seconds(v.ttl_seconds()),
        granted_by: Some(payload::HANDLER_REF.to_owned()),
        rollback_plan_ref: Some(v.rollback_plan_ref().to_owned()),
        consumed_at: None,
        consumed_by: None,
        consume_request_id: None,
        signature: None,
        key_id: None,
        quorum: Some(quorum.to_json()),
        evidence_head: None,
    }
}

/// Every grant that records an evidence anchor, oldest first, read in a
/// read-only transaction (`evidence verify --db`).
pub fn anchored_grants(conn: &mut Conn) -> Result<Vec<Grant>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM governance_build_authorization g \
         WHERE g.evidence_head IS NOT NULL ORDER BY g.granted_at, g.auth_code"
    );
    let rows = tx.query(&sql, &[])?;
    let grants = rows
        .iter()
        .map(grant_of)
        .collect::<Result<Vec<_>, _>>()
        .or_fault()?;
    tx.end_unwritten();
    Ok(grants)
}

// ---------------------------------------------------------------------------
// consume
// ---------------------------------------------------------------------------

/// Everything `consume` decides on, read in its transaction.
struct ConsumeFacts {
    grant: Option<Grant>,
    d: Decision,
}

impl ConsumeFacts {
    fn read(tx: &mut Tx<'_>, auth_code: &str, lock: bool) -> Result<ConsumeFacts, Stop> {
        let sql = select_for_consume(lock, &tx.quorum_fn);
        let row = tx.query_opt(&sql, &[(&auth_code, Type::TEXT)])?;
        match row {
            Some(r) => Ok(ConsumeFacts {
                grant: maybe_grant(&r)?,
                d: decision_of(&r)?,
            }),
            None => Ok(ConsumeFacts {
                grant: None,
                d: Decision {
                    apr: None,
                    handler: None,
                    votes: Vec::new(),
                    quorum_function: false,
                    now: Utc::now(),
                },
            }),
        }
    }

    /// SPEC §4's consume order, then invariant 7: the row must be one the
    /// handler would have minted, and signed by a trusted key.
    fn decide(&self, presented: &Presented, keys: &Keys<'_>) -> Result<(), Stop> {
        policy::decide_consume(
            presented,
            self.grant.as_ref(),
            self.d.apr.as_ref(),
            self.d.now,
        )?;
        match &self.grant {
            Some(g) => verified::check_grant_backed(g, &self.backing(keys)),
            None => Ok(()),
        }
    }

    fn backing<'a>(&'a self, keys: &Keys<'a>) -> Backing<'a> {
        Backing {
            apr: self.d.apr.as_ref(),
            handler: self.d.handler.as_ref(),
            votes: &self.d.votes,
            quorum_function: self.d.quorum_function,
            now: self.d.now,
            trusted: keys.trusted,
            allowed: keys.allowed,
        }
    }
}

/// `consume`: the single-use compare-and-swap active → consumed, stamped
/// with the caller's idempotency key `request_id`.
pub fn consume(
    conn: &mut Conn,
    auth_code: &str,
    presented: &Presented,
    by: &str,
    request_id: &str,
    dry_run: bool,
    keys: &Keys<'_>,
) -> Result<Verdict, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    // The real run locks the row as it reads it: a concurrent spend is
    // waited for, and the row read is the one the update will change.
    let facts = ConsumeFacts::read(&mut tx, auth_code, !dry_run)?;
    if let Some(g) = &facts.grant {
        if policy::is_own_spend(presented, g, request_id, by) {
            // Never OK for a spend of a grant the handler would not honour
            // now (a consumer writing the consume columns by hand on a
            // vetoed grant, say): the whole row is re-checked, signature
            // last (SPEC §9, invariant 7).
            verified::check_grant_backed(g, &facts.backing(keys))?;
            let v = consumed_verdict(g, auth_code, request_id, dry_run, true);
            tx.end_found(auth_code)?;
            return Ok(v);
        }
    }
    facts.decide(presented, keys)?;
    // decide returned Ok, so both exist and the APR is fresh.
    let (Some(grant), Some(apr)) = (&facts.grant, &facts.d.apr) else {
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            "grant vanished".into(),
        ));
    };
    if dry_run {
        let v = Verdict::done(
            Done::WouldConsume,
            format!("dry run: {auth_code} would be consumed; read without locks, nothing written"),
        )
        .apr(grant.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(grant.expires_at);
        tx.end_unwritten();
        return Ok(v);
    }
    crate::store::failpoint::hit("consume-before-update")?;
    let sql = consume_grant(&tx.quorum_fn);
    let changed = tx.query_opt(
        &sql,
        &[
            (&auth_code, Type::TEXT),
            (&by, Type::TEXT),
            (&presented.carrier, Type::TEXT),
            (&presented.lane, Type::TEXT),
            (&presented.target, Type::TEXT),
            (&presented.plan_ref, Type::TEXT),
            (&presented.manifest_hash, Type::TEXT),
            (&grant.apr_digest, Type::TEXT),
            (&apr.payload_text, Type::TEXT),
            (&policy::request_key(request_id), Type::TEXT),
        ],
    )?;
    match changed {
        Some(row) => {
            let consumed_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            crate::store::failpoint::hit("consume-after-update")?;
            tx.commit()?;
            let mut spent = grant.clone();
            spent.consumed_at = Some(consumed_at);
            spent.consumed_by = Some(by.to_owned());
            spent.consume_request_id = Some(policy::request_key(request_id));
            Ok(consumed_verdict(
                &spent, auth_code, request_id, false, false,
            ))
        }
        None => {
            // The row is locked and unchanged, so only time moved: read
            // again (a new statement, a new clock) to name the reason.
            let again = ConsumeFacts::read(&mut tx, auth_code, true)?;
            again.decide(presented, keys)?;
            Err(Stop::Fault(
                Fault::ConcurrentChange,
                "the grant changed while it was being consumed; nothing written".into(),
            ))
        }
    }
}

fn consumed_verdict(
    g: &Grant,
    auth_code: &str,
    request_id: &str,
    dry_run: bool,
    replay: bool,
) -> Verdict {
    let message = if replay {
        format!("{auth_code} was already consumed by this same request (same --request-id and binding); nothing written")
    } else {
        format!("consumed {auth_code}; it cannot be used again")
    };
    let mut v = Verdict::done(Done::Consumed, message)
        .apr(g.request_ref.clone())
        .auth_code(auth_code)
        .dry_run(dry_run)
        .expires_at(g.expires_at)
        .detail("request_id", request_id)
        .detail("consumed_by", g.consumed_by.clone().unwrap_or_default());
    if let Some(at) = &g.consumed_at {
        v = v.detail("consumed_at", crate::canon::text::timestamp(at));
    }
    v
}

// ---------------------------------------------------------------------------
// revoke
// ---------------------------------------------------------------------------

/// `revoke`: active → revoked, with who, when and why. Never a DELETE.
pub fn revoke(
    conn: &mut Conn,
    key: GrantKey<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    let grant = read_grant(&mut tx, key, !dry_run)?;
    let (decision, forged) = verified::decide_revoke(grant.as_ref(), trusted)?;
    let grant =
        grant.ok_or_else(|| Stop::Fault(Fault::ConcurrentChange, "grant vanished".into()))?;
    // A row no trusted key signed is retired like any other, and the
    // verdict says what it was.
    let note = forged
        .as_ref()
        .map(|why| format!(" (it was forged: no trusted key signed it; {why})"))
        .unwrap_or_default();
    let base = |v: Verdict| {
        let v = v
            .apr(grant.request_ref.clone())
            .auth_code(grant.auth_code.clone())
            .expires_at(grant.expires_at)
            .dry_run(dry_run);
        match &forged {
            Some(why) => v.detail("forged", why.as_str()),
            None => v,
        }
    };
    match decision {
        Revoke::AlreadyRevoked => {
            tx.end_found(&grant.auth_code)?;
            return Ok(base(Verdict::done(
                Done::AlreadyRevoked,
                format!(
                    "{} was already revoked{note}; nothing written",
                    grant.auth_code
                ),
            )));
        }
        Revoke::Revoke if dry_run => {
            tx.end_unwritten();
            return Ok(base(Verdict::done(
                Done::WouldRevoke,
                format!(
                    "dry run: {} would be revoked{note}; nothing written",
                    grant.auth_code
                ),
            )));
        }
        Revoke::Revoke => {}
    }
    let changed = tx.query_opt(
        REVOKE_GRANT,
        &[
            (&grant.auth_code, Type::TEXT),
            (&by, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )?;
    match changed {
        Some(row) => {
            let revoked_at: DateTime<Utc> = row.try_get(0).or_fault()?;
            tx.commit()?;
            Ok(base(Verdict::done(
                Done::Revoked,
                format!("revoked {}{note}", grant.auth_code),
            ))
            .detail("revoked_at", crate::canon::text::timestamp(&revoked_at))
            .detail("revoked_by", by)
            .detail("revoke_reason", reason))
        }
        None => {
            let again = read_grant(&mut tx, GrantKey::AuthCode(&grant.auth_code), false)?;
            match verified::decide_revoke(again.as_ref(), trusted)?.0 {
                Revoke::AlreadyRevoked => tx.end_found(&grant.auth_code).map(|()| {
                    base(Verdict::done(
                        Done::AlreadyRevoked,
                        format!(
                            "{} was revoked by a concurrent call; nothing written",
                            grant.auth_code
                        ),
                    ))
                }),
                Revoke::Revoke => Err(Stop::Fault(
                    Fault::ConcurrentChange,
                    "the grant changed while it was being revoked; nothing written".into(),
                )),
            }
        }
    }
}

/// Every active row a bulk selector could pick ($1 a plan, $2 a key id;
/// neither: every active row, for `--forged`), as the decisions read them;
/// with `lock`, locked and with the writer marker set. An active row past
/// its expiry is still active and is retired too.
fn select_for_bulk_revoke(lock: bool) -> String {
    format!(
        "SELECT {GRANT_COLUMNS}{} FROM governance_build_authorization g \
          WHERE g.status = 'active' AND ($1::text IS NULL OR g.plan_ref = $1) \
            AND ($2::text IS NULL OR g.key_id = $2) \
          ORDER BY g.auth_code{}",
        if lock {
            format!(", {WRITER_MARKER} AS marker")
        } else {
            String::new()
        },
        if lock { " FOR NO KEY UPDATE OF g" } else { "" }
    )
}

/// The bulk revoke: every grant of the set at once, each only if still active.
const REVOKE_GRANTS: &str = "UPDATE governance_build_authorization \
     SET status = 'revoked', revoked_at = clock_timestamp(), revoked_by = $2, revoke_reason = $3 \
     WHERE auth_code = ANY($1) AND status = 'active' RETURNING auth_code, revoked_at";

/// One grant of a bulk revoke as the verdicts and the table show it.
fn bulk_row(s: &policy::Selected) -> Value {
    let g = &s.grant;
    serde_json::json!({
        "auth_code": g.auth_code,
        "apr": g.request_ref,
        "plan_ref": g.plan_ref,
        "key_id": g.key_id,
        "expires_at": crate::canon::text::timestamp(&g.expires_at),
        "signature": if s.forged.is_some() { "FORGED" } else { "verified" },
    })
}

/// Bulk `revoke` (`--plan`, `--key-id`, `--forged`): one transaction that
/// locks every active row the selector picks, checks the count against
/// `expect`, and revokes them all or none. A dry run lists the set and
/// writes nothing; so does every refusal.
pub fn revoke_bulk(
    conn: &mut Conn,
    selector: policy::Selector<'_>,
    reason: &str,
    by: &str,
    dry_run: bool,
    expect: Option<u64>,
    trusted: &TrustedKeys,
) -> Result<Verdict, Stop> {
    let (plan, key_id) = match selector {
        policy::Selector::Plan(p) => (Some(p), None),
        policy::Selector::KeyId(k) => (None, Some(k)),
        policy::Selector::Forged => (None, None),
    };
    let mut tx = Tx::begin(conn, dry_run)?;
    let read = read_grants(
        &mut tx,
        &select_for_bulk_revoke(!dry_run),
        &[(&plan, Type::TEXT), (&key_id, Type::TEXT)],
    )?;
    let set = verified::decide_bulk_revoke(read, selector, trusted, expect)?;
    let which = selector.describe();
    let rows: Vec<Value> = set.iter().map(bulk_row).collect();
    let codes: Vec<String> = set.iter().map(|s| s.grant.auth_code.clone()).collect();
    let n = set.len();
    let grants = |n: usize| format!("{n} grant{}", if n == 1 { "" } else { "s" });
    let summary = |v: Verdict| {
        let mut v = v
            .dry_run(dry_run)
            .detail("selector", which.as_str())
            .detail("count", n)
            .detail("grants", rows.clone());
        v.lines = bulk_table(&set);
        v
    };
    if set.is_empty() {
        tx.end_unwritten();
        // A well-formed id nobody trusts and no row names is most likely a
        // slip: say so, since the empty set is an OK.
        let hint = match selector {
            policy::Selector::KeyId(k) if !trusted.contains(k) => {
                format!(" ({k} is not a trusted key either: check the id with `keys`)")
            }
            _ => String::new(),
        };
        return Ok(summary(Verdict::done(
            Done::NothingToRevoke,
            format!("no active grant matches {which}{hint}; nothing written"),
        )));
    }
    if dry_run {
        tx.end_unwritten();
        return Ok(summary(Verdict::done(
            Done::WouldRevoke,
            format!(
                "dry run: {} would be revoked ({which}): {}; nothing written; to revoke them, \
                 run again without --dry-run and with --expect {n}",
                grants(n),
                codes.join(", ")
            ),
        )));
    }
    let changed = tx.query(
        REVOKE_GRANTS,
        &[
            (&codes, Type::TEXT_ARRAY),
            (&by, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )?;
    let mut at: std::collections::BTreeMap<String, DateTime<Utc>> = Default::default();
    for row in &changed {
        at.insert(row.try_get(0).or_fault()?, row.try_get(1).or_fault()?);
    }
    if at.len() != n {
        // The rows are locked: only something outside the contract could
        // get here. Dropping the transaction rolls it back.
        return Err(Stop::Fault(
            Fault::ConcurrentChange,
            format!(
                "{} of the {} locked grants changed while they were being revoked; nothing written",
                n - at.len(),
                n
            ),
        ));
    }
    tx.commit()?;
    let each: Vec<Verdict> = set
        .iter()
        .map(|s| {
            let g = &s.grant;
            let note = s
                .forged
                .as_ref()
                .map(|why| format!(" (it was forged: no trusted key signed it; {why})"))
                .unwrap_or_default();
            let v = Verdict::done(
                Done::Revoked,
                format!("revoked {}{note} ({which})", g.auth_code),
            )
            .apr(g.request_ref.clone())
            .auth_code(g.auth_code.clone())
            .expires_at(g.expires_at)
            .dry_run(false)
            .detail("selector", which.as_str());
            let v = match &s.forged {
                Some(why) => v.detail("forged", why.as_str()),
                None => v,
            };
            let v = match at.get(&g.auth_code) {
                Some(t) => v.detail("revoked_at", crate::canon::text::timestamp(t)),
                None => v,
            };
            v.detail("revoked_by", by).detail("revoke_reason", reason)
        })
        .collect();
    let mut v = summary(Verdict::done(
        Done::Revoked,
        format!("revoked {} ({which}): {}", grants(n), codes.join(", ")),
    ))
    .detail("revoked", codes.clone())
    .detail("revoked_by", by)
    .detail("revoke_reason", reason);
    v.each = each;
    Ok(v)
}

/// The bulk set as a table: what the dry run shows is what the run revokes.
fn bulk_table(set: &[policy::Selected]) -> Vec<String> {
    let esc = |s: Option<&str>| crate::canon::text::escape(s.unwrap_or(""));
    let cells: Vec<[String; 6]> = set
        .iter()
        .map(|s| {
            let g = &s.grant;
            [
                esc(Some(&g.auth_code)),
                esc(Some(&g.request_ref)),
                esc(g.plan_ref.as_deref()),
                esc(g.key_id.as_deref()),
                crate::canon::text::timestamp(&g.expires_at),
                if s.forged.is_some() {
                    "FORGED"
                } else {
                    "verified"
                }
                .to_owned(),
            ]
        })
        .collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let header = [
        "auth_code",
        "apr",
        "plan_ref",
        "key_id",
        "expires_at",
        "signature",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for row in &cells {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out
}

// ---------------------------------------------------------------------------
// review (approvers)
// ---------------------------------------------------------------------------

/// What `review` decides on: the APR, its payload as stored and in cser-v1
/// form, the login that runs the review, and the database's clock.
pub struct ReviewRead {
    pub facts: policy::ReviewFacts,
    /// The payload as PostgreSQL prints it: the vote is recorded only if
    /// it is still exactly this.
    pub payload_text: Option<String>,
    pub canonical: Option<String>,
    pub now: DateTime<Utc>,
}

/// `review`, first half: reads the APR in a read-only transaction. The
/// vote is signed between this and `record_vote`, outside any
/// transaction (a passphrase prompt must not hold one open).
pub fn read_for_review(conn: &mut Conn, apr_code: &str) -> Result<ReviewRead, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let row = tx.query_one(
        "SELECT a.apr_code, a.status, a.proposed_by, a.proposed_action::text, session_user::text, \
                clock_timestamp() \
           FROM (SELECT $1::text AS code) k LEFT JOIN apr_requests a ON a.apr_code = k.code",
        &[(&apr_code, Type::TEXT)],
    )?;
    let found: Option<String> = row.try_get(0).or_fault()?;
    if found.is_none() {
        return Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code".into(),
        ));
    }
    let text: Option<String> = row.try_get(3).or_fault()?;
    let canonical = text
        .as_deref()
        .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
        .filter(|p| !p.is_null())
        .and_then(|p| crate::canon::cser::canonical(&p).ok());
    let read = ReviewRead {
        facts: policy::ReviewFacts {
            apr_code: apr_code.to_owned(),
            status: row.try_get(1).or_fault()?,
            proposed_by: row.try_get(2).or_fault()?,
            login: row.try_get(4).or_fault()?,
            digest: canonical
                .as_deref()
                .map(|c| crate::canon::cser::Sha256Hex::of(c.as_bytes())),
        },
        payload_text: text,
        canonical,
        now: row.try_get(5).or_fault()?,
    };
    tx.end_unwritten();
    Ok(read)
}

/// `review`, second half: records the vote, only if the payload is still
/// the one reviewed and this login has not voted yet (under any spelling:
/// the database keeps one vote per identity, and binds it to the login).
pub fn record_vote(
    conn: &mut Conn,
    read: &ReviewRead,
    vote: &policy::Vote,
) -> Result<Verdict, Stop> {
    let apr_code = read.facts.apr_code.as_str();
    let mut tx = Tx::begin(conn, false)?;
    let inserted = tx.query_opt(
        "INSERT INTO apr_approvals (apr_code, approver, decision, payload_digest, signature) \
         SELECT $1, $2, $3, $4, $6 WHERE EXISTS (SELECT 1 FROM apr_requests \
                WHERE apr_code = $1 AND proposed_action::text = $5 \
                  AND status IN ('proposed', 'approved')) \
         ON CONFLICT DO NOTHING RETURNING approver",
        &[
            (&apr_code, Type::TEXT),
            (&vote.approver, Type::TEXT),
            (&vote.decision, Type::TEXT),
            (&vote.payload_digest, Type::TEXT),
            (&read.payload_text, Type::TEXT),
            (&vote.signature, Type::TEXT),
        ],
    )?;
    if inserted.is_none() {
        let voted = tx.query_opt(
            "SELECT approver FROM apr_approvals WHERE apr_code = $1 \
               AND lower(btrim(approver, ' ') COLLATE \"C\") = lower(btrim($2, ' ') COLLATE \"C\")",
            &[(&apr_code, Type::TEXT), (&vote.approver, Type::TEXT)],
        )?;
        return Err(match voted {
            Some(r) => {
                let as_who: String = r.try_get(0).or_fault()?;
                Stop::Reject(
                    Reject::AlreadyReviewed,
                    format!(
                        "{:?} already voted on {apr_code} (as {as_who:?}); votes are not changed",
                        vote.approver
                    ),
                )
            }
            None => Stop::Reject(
                Reject::AprTampered,
                "the payload or the APR's status changed while it was being reviewed (signed); nothing recorded"
                    .into(),
            ),
        });
    }
    tx.commit()?;
    let digest = vote.payload_digest.clone().unwrap_or_default();
    Ok(Verdict::done(
        Done::Reviewed,
        format!(
            "{} voted {} on {apr_code} for payload digest {digest}{}",
            vote.approver,
            vote.decision,
            if vote.signature.is_some() {
                ", signed"
            } else {
                ", unsigned"
            }
        ),
    )
    .apr(apr_code)
    .detail("approver", vote.approver.as_str())
    .detail("decision", vote.decision.as_str())
    .detail("payload_digest", digest.as_str())
    .detail("signed", vote.signature.is_some())
    .detail(
        "canonical_payload",
        read.canonical.clone().unwrap_or_default(),
    ))
}

// ---------------------------------------------------------------------------
// list and show (read-only)
// ---------------------------------------------------------------------------

/// What `list` filters on.
pub struct ListFilter<'a> {
    pub status: Option<&'a str>,
    pub apr: Option<&'a str>,
    pub plan: Option<&'a str>,
    pub expiring_within_seconds: Option<i64>,
    pub key_id: Option<&'a str>,
    pub since: Option<Since>,
    /// `None`: every matching row (the caller filters further, e.g. on the
    /// signature, which no SQL can check, and cuts the list itself).
    pub limit: Option<i64>,
    pub sort: Option<GrantSort>,
}

/// `--since` as SQL parameters: seconds back from the wall clock, or a moment.
fn since_params(since: Option<Since>) -> (Option<f64>, Option<DateTime<Utc>>) {
    match since {
        None => (None, None),
        Some(Since::Ago(d)) => (Some(d.as_secs_f64()), None),
        Some(Since::At(at)) => (None, Some(at)),
    }
}

/// `list --sort-by`: each field's ORDER BY, from this fixed list only.
fn grant_order(sort: Option<GrantSort>) -> &'static str {
    match sort {
        None => "g.granted_at DESC, g.auth_code",
        Some(GrantSort::GrantedAt) => "g.granted_at, g.auth_code",
        Some(GrantSort::ExpiresAt) => "g.expires_at, g.auth_code",
        Some(GrantSort::AuthCode) => "g.auth_code",
        Some(GrantSort::Apr) => "g.request_ref, g.auth_code",
        Some(GrantSort::Plan) => "g.plan_ref COLLATE \"C\", g.auth_code",
        Some(GrantSort::Status) => "g.status, g.auth_code",
        Some(GrantSort::KeyId) => "g.key_id COLLATE \"C\", g.auth_code",
    }
}

/// Who revoked a grant, why, when (all None for a grant not revoked).
#[derive(Debug, Clone, Default)]
pub struct Revocation {
    pub at: Option<DateTime<Utc>>,
    pub by: Option<String>,
    pub reason: Option<String>,
}

const REVOCATION_COLUMNS: &str =
    "g.revoked_at AS revoked_at, g.revoked_by AS revoked_by, g.revoke_reason AS revoke_reason";

fn revocation_of(r: &postgres::Row) -> Result<Revocation, Stop> {
    Ok(Revocation {
        at: r.try_get("revoked_at").or_fault()?,
        by: r.try_get("revoked_by").or_fault()?,
        reason: r.try_get("revoke_reason").or_fault()?,
    })
}

/// What `list` read: the grants shown, and how many match the filters
/// (more than shown when the limit cut the list).
pub struct Listed {
    pub grants: Vec<(Grant, Revocation)>,
    pub total: i64,
}

/// Grants, newest first, as the decisions read them. The total is counted
/// in the same statement (a window over the filtered rows, taken before
/// LIMIT), so it and the rows are one snapshot.
pub fn list(conn: &mut Conn, f: &ListFilter<'_>) -> Result<Listed, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = format!(
        "SELECT {GRANT_COLUMNS}, {REVOCATION_COLUMNS}, pg_catalog.count(*) OVER () AS total \
           FROM governance_build_authorization g \
          WHERE ($1::text IS NULL OR g.status = $1) AND ($2::text IS NULL OR g.request_ref = $2) \
            AND ($3::text IS NULL OR g.plan_ref = $3) \
            AND ($4::bigint IS NULL OR (g.status = 'active' AND g.expires_at > clock_timestamp() \
                 AND g.expires_at <= clock_timestamp() + pg_catalog.make_interval(secs => $4::double precision))) \
            AND ($6::text IS NULL OR g.key_id = $6) \
            AND ($7::double precision IS NULL \
                 OR g.granted_at >= clock_timestamp() - pg_catalog.make_interval(secs => $7::double precision)) \
            AND ($8::timestamptz IS NULL OR g.granted_at >= $8) \
          ORDER BY {} LIMIT $5",
        grant_order(f.sort)
    );
    let (since_secs, since_at) = since_params(f.since);
    let rows = tx.query(
        &sql,
        &[
            (&f.status, Type::TEXT),
            (&f.apr, Type::TEXT),
            (&f.plan, Type::TEXT),
            (&f.expiring_within_seconds, Type::INT8),
            (&f.limit, Type::INT8),
            (&f.key_id, Type::TEXT),
            (&since_secs, Type::FLOAT8),
            (&since_at, Type::TIMESTAMPTZ),
        ],
    )?;
    tx.end_unwritten();
    let total = match rows.first() {
        Some(r) => r.try_get("total").or_fault()?,
        None => 0,
    };
    let grants = rows
        .iter()
        .map(|r| Ok((grant_of(r).or_fault()?, revocation_of(r)?)))
        .collect::<Result<_, Stop>>()?;
    Ok(Listed { grants, total })
}

/// One grant and the rest of its story: who revoked it, why, when; its
/// APR's status now; the database clock.
pub struct Shown {
    pub grant: Grant,
    pub revocation: Revocation,
    pub apr_status: Option<String>,
    pub now: DateTime<Utc>,
}

pub fn show_grant(conn: &mut Conn, key: GrantKey<'_>) -> Result<Option<Shown>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let (column, value) = match key {
        GrantKey::AuthCode(c) => ("auth_code", c),
        GrantKey::Apr(a) => ("request_ref", a),
    };
    let sql = format!(
        "SELECT {GRANT_COLUMNS}, {REVOCATION_COLUMNS}, \
                a.status AS apr_status, clock_timestamp() AS now \
           FROM governance_build_authorization g LEFT JOIN apr_requests a ON a.apr_code = g.request_ref \
          WHERE g.{column} = $1"
    );
    let row = tx.query_opt(&sql, &[(&value, Type::TEXT)])?;
    tx.end_unwritten();
    row.map(|r| -> Result<Shown, Stop> {
        Ok(Shown {
            grant: grant_of(&r).or_fault()?,
            revocation: revocation_of(&r)?,
            apr_status: r.try_get("apr_status").or_fault()?,
            now: r.try_get("now").or_fault()?,
        })
    })
    .transpose()
}

// ---------------------------------------------------------------------------
// aprs (read-only)
// ---------------------------------------------------------------------------

/// One vote as `aprs` shows it: the row, and when it was cast.
#[derive(Debug, Clone)]
pub struct DatedVote {
    pub vote: Vote,
    pub decided_at: Option<DateTime<Utc>>,
}

/// One APR as `aprs` reads it: the row, its action's min_approvals, its
/// votes (oldest first), what quorum_passed() says, and the clock.
#[derive(Debug, Clone)]
pub struct AprView {
    pub apr: Apr,
    pub session_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    pub min_approvals: Option<i32>,
    pub votes: Vec<DatedVote>,
    pub quorum_function: bool,
    pub grant: Option<String>,
    pub now: DateTime<Utc>,
}

/// What `aprs list` filters on.
pub struct AprFilter<'a> {
    pub apr: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Proposed, or approved with no grant yet.
    pub pending: bool,
    pub action: Option<&'a str>,
    pub since: Option<Since>,
    pub limit: i64,
}

/// What `aprs list` read: the APRs shown and how many match.
pub struct ListedAprs {
    pub aprs: Vec<AprView>,
    pub total: i64,
}

/// APRs, newest first, with their votes, in one read-only statement (the
/// total is a window over the filtered rows, before LIMIT: one snapshot).
/// quorum_passed() is what the dispatcher judges every APR by.
pub fn list_aprs(conn: &mut Conn, f: &AprFilter<'_>) -> Result<ListedAprs, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let sql = format!(
        "SELECT a.apr_code, a.action_code, a.status, a.proposed_by, a.proposed_action::text AS payload, \
                a.session_code, LEAST(GREATEST(a.created_at, '0001-01-01Z'), '9999-12-31Z') AS created_at, \
                LEAST(GREATEST(a.approved_at, '0001-01-01Z'), '9999-12-31Z') AS approved_at, \
                LEAST(GREATEST(a.applied_at, '0001-01-01Z'), '9999-12-31Z') AS applied_at, t.min_approvals, \
                (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_array(v.approver, v.decision, \
                        v.payload_digest, v.signature, \
                        LEAST(GREATEST(v.decided_at, '0001-01-01Z'), '9999-12-31Z')) ORDER BY v.decided_at, v.approver), '[]')::text \
                   FROM apr_approvals v WHERE v.apr_code = a.apr_code) AS votes, \
                COALESCE({}(a.apr_code), false) AS quorum, \
                (SELECT g.auth_code FROM governance_build_authorization g WHERE g.request_ref = a.apr_code) AS grant_code, \
                clock_timestamp() AS now, pg_catalog.count(*) OVER () AS total \
           FROM apr_requests a LEFT JOIN apr_action_types t ON t.action_code = a.action_code \
          WHERE ($1::text IS NULL OR a.apr_code = $1) AND ($2::text IS NULL OR a.status = $2) \
            AND ($3::text IS NULL OR a.action_code = $3) \
            AND ($4::double precision IS NULL \
                 OR a.created_at >= clock_timestamp() - pg_catalog.make_interval(secs => $4::double precision)) \
            AND ($5::timestamptz IS NULL OR a.created_at >= $5) \
            AND (NOT $7::boolean OR a.status = 'proposed' OR (a.status = 'approved' AND NOT EXISTS \
                 (SELECT 1 FROM governance_build_authorization g WHERE g.request_ref = a.apr_code))) \
          ORDER BY a.created_at DESC, a.apr_code LIMIT $6",
        tx.quorum_fn
    );
    let (since_secs, since_at) = since_params(f.since);
    let rows = tx.query(
        &sql,
        &[
            (&f.apr, Type::TEXT),
            (&f.status, Type::TEXT),
            (&f.action, Type::TEXT),
            (&since_secs, Type::FLOAT8),
            (&since_at, Type::TIMESTAMPTZ),
            (&f.limit, Type::INT8),
            (&f.pending, Type::BOOL),
        ],
    )?;
    tx.end_unwritten();
    let total = match rows.first() {
        Some(r) => r.try_get("total").or_fault()?,
        None => 0,
    };
    let aprs = rows.iter().map(apr_view_of).collect::<Result<_, Stop>>()?;
    Ok(ListedAprs { aprs, total })
}

fn apr_view_of(r: &Row) -> Result<AprView, Stop> {
    let text: Option<String> = r.try_get("payload").or_fault()?;
    Ok(AprView {
        apr: Apr {
            apr_code: r.try_get("apr_code").or_fault()?,
            action_code: r.try_get("action_code").or_fault()?,
            status: r.try_get("status").or_fault()?,
            proposed_by: r.try_get("proposed_by").or_fault()?,
            payload: text
                .as_deref()
                .and_then(|t| crate::canon::jsonb::read(t).ok())
                .unwrap_or(Value::Null),
            payload_text: text,
        },
        session_code: r.try_get("session_code").or_fault()?,
        created_at: r.try_get("created_at").or_fault()?,
        approved_at: r.try_get("approved_at").or_fault()?,
        applied_at: r.try_get("applied_at").or_fault()?,
        min_approvals: r.try_get("min_approvals").or_fault()?,
        votes: dated_votes_of(&r.try_get::<_, String>("votes").or_fault()?)?,
        quorum_function: r.try_get("quorum").or_fault()?,
        grant: r.try_get("grant_code").or_fault()?,
        now: r.try_get("now").or_fault()?,
    })
}

/// `[[approver, decision, payload_digest, signature, decided_at], ...]`.
fn dated_votes_of(text: &str) -> Result<Vec<DatedVote>, Stop> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let unreadable = || {
        Stop::Fault(
            Fault::SchemaContract,
            "apr_approvals holds a row without an approver or a decision".into(),
        )
    };
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|_| unreadable())?;
    rows.into_iter()
        .map(|(approver, decision, payload_digest, signature, at)| {
            let (Some(approver), Some(decision)) = (approver, decision) else {
                return Err(unreadable());
            };
            Ok(DatedVote {
                vote: Vote {
                    approver,
                    decision,
                    payload_digest,
                    signature,
                },
                decided_at: at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// readback (seed 004 STEP 7)
// ---------------------------------------------------------------------------

/// One line of the readback checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub seen: String,
}

/// The STEP 7 checklist for one APR, read in a read-only transaction.
/// `trusted` is `Err(why)` when no trusted keys could be loaded: the
/// signature line then fails, saying why, and the rest still reads.
pub fn readback(
    conn: &mut Conn,
    apr_code: &str,
    trusted: Result<&TrustedKeys, &str>,
    allowed: Result<&AllowedSigners, &str>,
) -> Result<Vec<Check>, Stop> {
    let mut tx = Tx::begin(conn, true)?;
    if tx
        .query_opt(
            "SELECT 1 FROM apr_requests WHERE apr_code = $1",
            &[(&apr_code, Type::TEXT)],
        )?
        .is_none()
    {
        tx.end_unwritten();
        return Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code: nothing to read back".into(),
        ));
    }
    let mut checks = Vec::new();
    let mut check = |name: &str, pass: bool, seen: String| {
        checks.push(Check {
            name: name.into(),
            pass,
            seen,
        })
    };
    let count: i64 = tx
        .query_one(
            "SELECT pg_catalog.count(*) FROM governance_build_authorization WHERE request_ref = $1",
            &[(&apr_code, Type::TEXT)],
        )?
        .try_get(0)
        .or_fault()?;
    check(
        "grant count for the APR is 1",
        count == 1,
        count.to_string(),
    );
    let grant = read_grant(&mut tx, GrantKey::Apr(apr_code), false)?;
    let expected_code = auth_code_for(apr_code);
    match &grant {
        Some(g) => {
            check(
                "auth_code is GBA-C1-<apr>",
                g.auth_code == expected_code,
                g.auth_code.clone(),
            );
            check("status is active", g.status == "active", g.status.clone());
            check(
                "commit_allowed is false",
                !g.commit_allowed,
                g.commit_allowed.to_string(),
            );
            check(
                "requires_sovereign_esign is false",
                !g.requires_sovereign_esign,
                g.requires_sovereign_esign.to_string(),
            );
            check("single_use is true", g.single_use, g.single_use.to_string());
            check(
                "carrier is C1",
                g.carrier.as_deref() == Some(payload::CARRIER),
                show(&g.carrier),
            );
            let scope_target = g
                .scope
                .as_ref()
                .and_then(|s| s.get("target"))
                .and_then(Value::as_str);
            check(
                "scope->>'target' is DOT_C1_VOCAB_BUILD",
                scope_target == Some(payload::TARGET),
                scope_target.unwrap_or("NULL").to_owned(),
            );
            check(
                "request_ref is the APR",
                g.request_ref == apr_code,
                g.request_ref.clone(),
            );
            let ttl = (g.expires_at - g.granted_at).num_seconds();
            check(
                "expires_at > granted_at, within the TTL cap",
                g.expires_at > g.granted_at && ttl <= payload::TTL_CAP_SECONDS,
                format!(
                    "{} (ttl {ttl}s)",
                    crate::canon::text::timestamp(&g.expires_at)
                ),
            );
            let signed = match trusted {
                Ok(t) => crate::integrity::signing::verify_grant(t, g)
                    .map(|()| format!("key {}", g.key_id.as_deref().unwrap_or("")))
                    .map_err(|f| f.to_string()),
                Err(why) => Err(why.to_owned()),
            };
            check(
                "signed by a trusted key",
                signed.is_ok(),
                signed.unwrap_or_else(|why| why),
            );
            // SPEC §10: the approvals it names verify again, and the row is
            // one the handler would mint now (invariant 7).
            let backed = match (trusted, allowed) {
                (Ok(trusted), Ok(allowed)) => {
                    let facts = ConsumeFacts::read(&mut tx, &g.auth_code, false)?;
                    let keys = Keys {
                        signing: None,
                        trusted,
                        allowed,
                        evidence_head: None,
                    };
                    match verified::check_grant_backed(g, &facts.backing(&keys)) {
                        Ok(()) => Ok(policy::Quorum::from_json(
                            g.quorum.as_ref().unwrap_or(&Value::Null),
                        )
                        .map(|q| {
                            q.0.iter()
                                .map(|m| m.approver.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()),
                        Err(Stop::Reject(r, why)) => Err(format!("{}: {why}", r.code())),
                        Err(fault) => return Err(fault),
                    }
                }
                (Err(why), _) | (_, Err(why)) => Err(why.to_owned()),
            };
            check(
                "its quorum of signed approvals verifies again",
                backed.is_ok(),
                backed.map_or_else(|why| why, |who| format!("approved by {who}")),
            );
        }
        None => check("the grant row exists", false, "no row".into()),
    }
    let handler_ref: Option<String> = tx
        .query_opt(
            "SELECT handler_ref FROM apr_action_types WHERE action_code = 'authorize_build_step'",
            &[],
        )?
        .map(|r| r.try_get(0))
        .transpose()
        .or_fault()?
        .flatten();
    check(
        "authorize_build_step handler_ref is bound",
        handler_ref.as_deref() == Some(payload::HANDLER_REF),
        handler_ref.unwrap_or_else(|| "NULL".into()),
    );
    let apr_row = tx.query_opt(
        "SELECT status, applied_at FROM apr_requests WHERE apr_code = $1",
        &[(&apr_code, Type::TEXT)],
    )?;
    match apr_row {
        Some(r) => {
            let status: String = r.try_get(0).or_fault()?;
            let applied_at: Option<DateTime<Utc>> = r.try_get(1).or_fault()?;
            check("APR status is applied", status == "applied", status);
            check(
                "APR applied_at is set",
                applied_at.is_some(),
                applied_at.map_or("NULL".into(), |t| crate::canon::text::timestamp(&t)),
            );
        }
        None => check("the APR exists", false, "no row".into()),
    }
    let sql = format!("SELECT COALESCE({}($1), false)", tx.quorum_fn);
    let quorum: bool = tx
        .query_one(&sql, &[(&apr_code, Type::TEXT)])?
        .try_get(0)
        .or_fault()?;
    check("quorum_passed(apr) is true", quorum, quorum.to_string());
    tx.end_unwritten();
    Ok(checks)
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".into())
}

// ---------------------------------------------------------------------------
// propose
// ---------------------------------------------------------------------------

/// No status and no timestamps: the proposer role may not name them, so
/// every APR it writes is born `proposed` (the column default).
/// Inserted only under the login's own name (SPEC §10; the database's
/// trigger refuses any other too, but this says why, as a FAIL).
const INSERT_APR: &str = "INSERT INTO apr_requests \
     (apr_code, request_type, action_code, proposed_action, proposed_by, session_code) \
     SELECT $1, $2, $3, $4, $5, $6 \
      WHERE $5 = session_user::text \
         OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) \
     ON CONFLICT (apr_code) DO NOTHING RETURNING apr_code";

/// One `proposed` APR in `tx`; an existing code is REJECT_APR_EXISTS.
fn insert_proposed(
    tx: &mut Tx<'_>,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let inserted = tx.query_opt(
        INSERT_APR,
        &[
            (&apr, Type::TEXT),
            (&request_type, Type::TEXT),
            (&action_code, Type::TEXT),
            (payload, Type::JSONB),
            (&proposed_by, Type::TEXT),
            (&session, Type::TEXT),
        ],
    )?;
    if inserted.is_some() {
        return Ok(());
    }
    let login: String = tx
        .query_one("SELECT session_user::text", &[])?
        .try_get(0)
        .or_fault()?;
    if proposed_by != login && tx.client_is_not_superuser() {
        return Err(Stop::Reject(
            Reject::ProposerNotSelf,
            format!(
                "--by {proposed_by:?} is not exactly the login proposing ({login:?}): an APR is proposed only under its proposer's own login, so the proposer can never approve it under another name; nothing written"
            ),
        ));
    }
    Err(Stop::Reject(
        Reject::AprExists,
        format!("an APR with code {apr} already exists"),
    ))
}

/// `propose`: check against the live vocabulary, then insert one `proposed`
/// APR (never approved, never a grant), or say what would be inserted.
pub fn propose(
    conn: &mut Conn,
    request: &crate::decide::propose::Request,
    dry_run: bool,
) -> Result<Verdict, Stop> {
    let mut tx = Tx::begin(conn, dry_run)?;
    let row = tx.query_one(
        "SELECT (SELECT pg_catalog.array_agg(action_code ORDER BY action_code) FROM apr_action_types \
                  WHERE act_type = 'C1_VOCAB_OP' AND status = 'active'), \
                to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')",
        &[],
    )?;
    let vocabulary = vocabulary_of(&row, 0)?;
    let stamp: String = row.try_get(1).or_fault()?;
    let request = &request.with_live_action_set(&vocabulary);
    let validated = crate::decide::propose::check(request, Some(&vocabulary))?;
    let apr = crate::decide::propose::apr_code(request, &stamp, &validated);
    if dry_run {
        tx.end_unwritten();
        return Ok(crate::decide::propose::verdict(
            Done::WouldPropose,
            &apr,
            request,
            &validated,
            "dry run: would propose this APR (checked against the live vocabulary); nothing written".into(),
        )
        .into());
    }
    insert_proposed(
        &mut tx,
        &apr,
        "governance_authorization",
        payload::ACTION_CODE,
        &request.payload,
        &request.proposed_by,
        request.session.as_deref(),
    )?;
    tx.commit()?;
    Ok(crate::decide::propose::verdict(
        Done::Proposed,
        &apr,
        request,
        &validated,
        format!("proposed {apr}; it needs approval before execute will mint"),
    )
    .into())
}

// ---------------------------------------------------------------------------
// patch APRs
// ---------------------------------------------------------------------------

/// Inserts one `proposed` APR; an existing code is REJECT_APR_EXISTS.
pub fn insert_apr(
    conn: &mut Conn,
    apr: &str,
    request_type: &str,
    action_code: &str,
    payload: &Value,
    proposed_by: &str,
    session: Option<&str>,
) -> Result<(), Stop> {
    let mut tx = Tx::begin(conn, false)?;
    insert_proposed(
        &mut tx,
        apr,
        request_type,
        action_code,
        payload,
        proposed_by,
        session,
    )?;
    tx.commit()
}

/// An APR's action code and payload exactly as stored (null when it
/// cannot be read exactly), read-only.
pub fn read_apr_payload(conn: &mut Conn, apr: &str) -> Result<(String, Value), Stop> {
    let mut tx = Tx::begin(conn, true)?;
    let row = tx.query_opt(
        "SELECT action_code, proposed_action::text FROM apr_requests WHERE apr_code = $1",
        &[(&apr, Type::TEXT)],
    )?;
    tx.end_unwritten();
    match row {
        Some(r) => {
            let action: String = r.try_get(0).or_fault()?;
            let text: Option<String> = r.try_get(1).or_fault()?;
            // Exactly what is stored, or null: show-patch and digest print
            // and hash it, so nothing may be silently truncated.
            let payload = text
                .as_deref()
                .and_then(|t| crate::canon::jsonb::read_exact(t).ok())
                .unwrap_or(Value::Null);
            Ok((action, payload))
        }
        None => Err(Stop::Reject(
            Reject::AprNotFound,
            "no APR with this code".into(),
        )),
    }
}
