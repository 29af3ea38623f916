//! A connection to PostgreSQL, opened as psql opens one (`connect`: TLS
//! as sslmode says, the handshake and target_session_attrs within the
//! connect timeout, the next host of a list when libpq would try it), and
//! every database error mapped to its typed `Stop` by SQLSTATE, never by
//! text (`fault`, `connection_lost`). Never reads the governance tables.

use crate::decide::durability::Durability;
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::store::connect::{Target, Timeouts};
use crate::store::sql::{IN_RECOVERY, SHOW_READ_ONLY};
use postgres::error::SqlState;
use postgres::{Client, NoTls};

/// A connection and the timeouts its transactions set.
pub struct Conn {
    pub client: Client,
    pub(crate) timeouts: Timeouts,
    pub(crate) schema: crate::store::connect::Schema,
    /// Whether the session is a superuser's, learnt with the first BEGIN.
    pub superuser: Option<bool>,
    /// What any transaction of this connection showed (`Seen`).
    pub seen: Seen,
    /// The TLS the session was opened with: a cancel request (see
    /// `Tx::commit`) goes out the same way.
    pub(crate) tls: Option<rustls::ClientConfig>,
    /// Every WARNING the server sent on this session since the last COMMIT
    /// began: a COMMIT that warns is never OK (SPEC §10).
    pub(crate) warnings: Warnings,
    /// `--durability`: under `replicated`, every commit is flushed here
    /// before it returns (synchronous_commit at least `local`), so that the
    /// flushed WAL position read after it is past it (`await_replicated`).
    pub durability: Durability,
}

/// The server's WARNINGs, collected by the connection's notice callback.
pub(crate) type Warnings = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl Conn {
    pub(crate) fn new(
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
            seen: Seen::default(),
            tls,
            warnings,
            durability: Durability::Local,
        }
    }
}

/// Keeps the server's WARNINGs (by their untranslated severity) for
/// `Tx::commit`; other notices are dropped as before.
pub(crate) fn collect_warnings(config: &mut postgres::Config) -> Warnings {
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

/// What this connection's sessions showed, learnt with each BEGIN in the
/// same statement as the other session facts (no round trip added): a
/// superuser (the command's verdict then carries a warning), a server in
/// recovery (a standby, whose data may lag the primary: the verdict says
/// `in_recovery`, issue 20). Read by the command that held the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub superuser: bool,
    pub in_recovery: bool,
}

impl Seen {
    /// Both: what either saw.
    pub fn and(self, other: Seen) -> Seen {
        Seen {
            superuser: self.superuser || other.superuser,
            in_recovery: self.in_recovery || other.in_recovery,
        }
    }
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

pub(crate) fn connect_once(
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
pub(crate) fn unsuited(
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
        S::ReadWrite => (one(client, SHOW_READ_ONLY)?.as_deref() != Some("off"))
            .then_some("session is read-only"),
        S::ReadOnly => (one(client, SHOW_READ_ONLY)?.as_deref() != Some("on"))
            .then_some("session is not read-only"),
        S::Primary => (one(client, IN_RECOVERY)?.as_deref() != Some("f"))
            .then_some("server is in hot standby mode"),
        S::Standby => (one(client, IN_RECOVERY)?.as_deref() != Some("t"))
            .then_some("server is not in hot standby mode"),
    })
}

/// What a failed connection attempt was: by SQLSTATE class when the
/// server answered with one, else by the TLS error (rustls's, found in the
/// error's sources) or the I/O kind, else by the client library's own
/// kind of error (it exposes no other handle on it than its text).
pub(crate) fn connect_fault(e: &postgres::Error) -> Fault {
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

pub(crate) fn error_text(e: &postgres::Error) -> String {
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

pub(crate) trait OrFault<T> {
    fn or_fault(self) -> Result<T, Stop>;
}

impl<T> OrFault<T> for Result<T, postgres::Error> {
    fn or_fault(self) -> Result<T, Stop> {
        self.map_err(|e| fault(&e))
    }
}
