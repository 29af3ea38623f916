//! What a command needs from its surroundings, resolved once: the
//! connection target (environment, password and service files read once a
//! command), the keys and allowed signers, the durability asked for, and
//! the evidence log's head. Never decides, never renders.

use crate::cli::Settings;
use crate::decide::outcome::Stop;
use crate::decide::reject::Fault;
use crate::integrity::approval::{self, AllowedSigners};
use crate::integrity::signing::{self, SigningKey, TrustedKeys};
use crate::store::conn;
use crate::store::connect::{self, Timeouts};
use std::time::{Duration, Instant};

/// One command's surroundings. Built once by `run` for the command line;
/// the connection target is resolved on first use and kept, so every step
/// of one command (the command itself, its evidence line) sees the same
/// answer, read once.
pub struct Context {
    pub settings: Settings,
    /// The evidence log's head before deciding: the anchor a grant minted
    /// now records. `None` without a log.
    pub evidence_head: Option<String>,
    /// Resolving reads the environment and the password and service files
    /// (and warns about a loose password file): once a command.
    target: std::cell::OnceCell<Result<connect::Target, String>>,
    /// The application_name its connections take when nothing else names
    /// one: the command and what it works on (pg_stat_activity then says
    /// which command holds a lock).
    application_name: String,
    /// What the command's connections showed (a superuser, a standby), for
    /// its verdict; noted after each use of a connection (`on`).
    seen: std::cell::Cell<conn::Seen>,
}

impl Context {
    pub fn new(settings: Settings, application_name: String) -> Context {
        Context {
            settings,
            evidence_head: None,
            target: std::cell::OnceCell::new(),
            application_name,
            seen: std::cell::Cell::new(conn::Seen::default()),
        }
    }

    /// Runs `f` on a connection and notes what its sessions showed.
    pub(super) fn on<T>(&self, conn: &mut conn::Conn, f: impl FnOnce(&mut conn::Conn) -> T) -> T {
        let result = f(conn);
        self.seen.set(self.seen.get().and(conn.seen));
        result
    }

    /// What every connection of this command showed.
    pub fn seen(&self) -> conn::Seen {
        self.seen.get()
    }

    /// The connection target, resolved once. `Err` is a usage problem.
    pub fn target(&self) -> Result<connect::Target, String> {
        self.target
            .get_or_init(|| resolve_now(&self.settings, &self.application_name))
            .clone()
    }

    /// `--durability`, else DOT_ABS_DURABILITY, else local; a value that is
    /// neither is a usage error.
    pub(super) fn durability(&self) -> Result<crate::decide::durability::Durability, String> {
        match self.settings.durability {
            Some(d) => Ok(d),
            None => match std::env::var(crate::decide::durability::DURABILITY_ENV) {
                Ok(v) if !v.is_empty() => crate::decide::durability::Durability::parse(&v)
                    .map_err(|e| format!("{}: {e}", crate::decide::durability::DURABILITY_ENV)),
                _ => Ok(crate::decide::durability::Durability::Local),
            },
        }
    }

    /// The key evidence lines are signed with: execute's signing key
    /// (--signing-key), else DOT_ABS_SIGNING_KEY for every deciding command,
    /// with the checks of `signing::load_signing_key`. A log with no key is
    /// refused: an unsigned line proves nothing against the file's writer.
    pub(super) fn log_signer(&self) -> Result<SigningKey, Stop> {
        let Some(path) = path_option(&self.settings.signing_key, signing::SIGNING_KEY_ENV) else {
            return Err(Stop::Fault(
                Fault::EvidenceLog,
                format!(
                    "an evidence log is configured but there is no signing key to sign its lines with: \
                     set {} (execute: or --signing-key); nothing decided",
                    signing::SIGNING_KEY_ENV
                ),
            ));
        };
        signing::load_signing_key(&path)
            .map_err(|e| Stop::Fault(Fault::SigningKey, format!("the evidence log's {e}")))
    }

    /// The trusted public keys from --trusted-keys or DOT_ABS_TRUSTED_KEYS.
    pub(super) fn trusted_keys(&self) -> Result<TrustedKeys, Stop> {
        let Some(path) = path_option(&self.settings.trusted_keys, signing::TRUSTED_KEYS_ENV) else {
            return Err(Stop::Fault(
                Fault::TrustedKeys,
                format!(
                    "no trusted keys: give --trusted-keys FILE|DIR or set {}; a grant is honoured only if a trusted key signed it",
                    signing::TRUSTED_KEYS_ENV
                ),
            ));
        };
        signing::load_trusted(&path).map_err(|e| Stop::Fault(Fault::TrustedKeys, e))
    }

    /// Who may sign an approval, from --allowed-signers or
    /// DOT_ABS_ALLOWED_SIGNERS: every command that counts a quorum needs it.
    pub(super) fn allowed_signers(&self) -> Result<AllowedSigners, Stop> {
        let Some(path) = path_option(
            &self.settings.allowed_signers,
            approval::ALLOWED_SIGNERS_ENV,
        ) else {
            return Err(Stop::Fault(
                Fault::AllowedSigners,
                format!(
                    "no allowed signers: give --allowed-signers FILE or set {}; an approval counts only when signed by a key it lists for the approver",
                    approval::ALLOWED_SIGNERS_ENV
                ),
            ));
        };
        approval::load_allowed_signers(&path).map_err(|e| Stop::Fault(Fault::AllowedSigners, e))
    }

    /// The signing key from --signing-key or DOT_ABS_SIGNING_KEY; its public
    /// half must be trusted, or every grant it signed would be refused.
    pub(super) fn signing_key(&self, trusted: &TrustedKeys) -> Result<SigningKey, Stop> {
        let Some(path) = path_option(&self.settings.signing_key, signing::SIGNING_KEY_ENV) else {
            return Err(Stop::Fault(
                Fault::SigningKey,
                format!(
                    "execute mints only with a signing key: give --signing-key FILE or set {}",
                    signing::SIGNING_KEY_ENV
                ),
            ));
        };
        let key =
            signing::load_signing_key(&path).map_err(|e| Stop::Fault(Fault::SigningKey, e))?;
        if !trusted.contains(key.key_id()) {
            return Err(Stop::Fault(
                Fault::SigningKey,
                format!(
                    "signing key {} (id {}) is not among the trusted keys ({}): every grant it signed would be refused as forged; add {}.pub to the trusted keys first",
                    path.display(),
                    key.key_id(),
                    trusted.ids().join(", "),
                    key.key_id()
                ),
            ));
        }
        Ok(key)
    }

    /// Resolves the target, connects (an unreachable database is a verdict,
    /// not a panic) and runs `f`. `Err` is a usage problem.
    pub(super) fn with_db<T>(
        &self,
        f: impl FnOnce(&mut conn::Conn) -> Result<T, (Stop, Option<String>)>,
    ) -> Result<Result<T, (Stop, Option<String>)>, String> {
        let target = self.target()?;
        let mut client = match connect(&target) {
            Ok(c) => c,
            Err(stop) => return Ok(Err((stop, None))),
        };
        Ok(self.on(&mut client, f))
    }
}

/// A path from its flag, else from the environment (empty means unset).
pub(super) fn path_option(
    flag: &Option<std::path::PathBuf>,
    env: &str,
) -> Option<std::path::PathBuf> {
    flag.clone().or_else(|| {
        std::env::var_os(env)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    })
}

/// Connects as libpq does: each entry of the host list in turn (each
/// with its own password file entry and its own connect timeout), the
/// first that answers and suits `target_session_attrs` wins;
/// `prefer-standby` makes a second pass taking any server. A server that
/// answered and refused (a login, TLS verification, a missing database)
/// ends the search, as in libpq (the next host is not offered the same
/// try). When none connects, the message names every
/// host and port with its own failure; the code is ERROR_DB_TLS if a
/// server failed TLS verification, ERROR_TIMEOUT if every host timed out,
/// else ERROR_DB_UNREACHABLE.
pub(super) fn connect(target: &connect::Target) -> Result<conn::Conn, Stop> {
    connect_before(target, None)
}

/// `connect`, with every host's attempt (a second pass's too) ending by
/// `deadline` at the latest: each gets its own connect timeout or the time
/// left, whichever is less, and once none is left the hosts not yet tried
/// are not tried (settling a lost commit, `settle`).
pub(super) fn connect_before(
    target: &connect::Target,
    deadline: Option<Instant>,
) -> Result<conn::Conn, Stop> {
    let mut failures: Vec<(Fault, String)> = Vec::new();
    for pass in target.session.passes() {
        for attempt in target.attempts() {
            let attempt = match deadline {
                None => attempt,
                Some(deadline) => {
                    match budget(attempt.timeouts.connect, deadline, Instant::now()) {
                        Some(b) => within(&attempt, b),
                        None => {
                            failures.push((
                            Fault::Timeout,
                            format!(
                                "could not connect to {}: not tried, no time left before the deadline",
                                attempt.describe()
                            ),
                        ));
                            continue;
                        }
                    }
                }
            };
            match conn::connect(&attempt, pass) {
                Ok(c) => return Ok(c),
                Err(conn::Failed {
                    stop: Stop::Fault(kind, why),
                    next_host: true,
                }) => failures.push((kind, why)),
                Err(failed) => return Err(failed.stop),
            }
        }
    }
    let kind = if failures.iter().any(|(k, _)| *k == Fault::DbTls) {
        Fault::DbTls
    } else if !failures.is_empty() && failures.iter().all(|(k, _)| *k == Fault::Timeout) {
        Fault::Timeout
    } else {
        Fault::DbUnreachable
    };
    Err(match failures.len() {
        0 => Stop::Fault(Fault::DbUnreachable, "no host to connect to".into()),
        1 => Stop::Fault(kind, failures.remove(0).1),
        n => Stop::Fault(
            kind,
            format!(
                "no host of the list connected ({n} attempts): {}",
                failures
                    .into_iter()
                    .map(|(_, why)| why)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    })
}

fn resolve_now(settings: &Settings, application_name: &str) -> Result<connect::Target, String> {
    let timeouts = Timeouts {
        // The store's default connect timeout, until a connection string,
        // PGCONNECT_TIMEOUT or --connect-timeout says otherwise.
        connect: Timeouts::default().connect,
        lock: settings.lock_timeout,
        statement: settings.statement_timeout,
    };
    if let Some(url) = &settings.db_url {
        if connect::resolve(Some(url), &|_| None, timeouts)
            .is_ok_and(|t| t.config.get_password().is_some() || t.client_cert.password.is_some())
        {
            return Err(
                "--db-url must not carry a password or an sslpassword (it would be visible in the \
                 process list); use PGPASSWORD, a 0600 ~/.pgpass, or a service file"
                    .into(),
            );
        }
    }
    let schema = match settings
        .schema
        .clone()
        .or_else(|| std::env::var(connect::SCHEMA_ENV).ok())
    {
        Some(name) => connect::Schema::new(&name)
            .map_err(|e| format!("--schema / {}: {e}", connect::SCHEMA_ENV))?,
        None => connect::Schema::default(),
    };
    // HOME as libpq finds it: $HOME, else the passwd entry's home.
    let home = connect::home_dir(&|k| std::env::var(k).ok());
    let mut target = connect::resolve_with(
        settings.db_url.as_deref(),
        &|k| match k {
            "HOME" => home.clone(),
            _ => std::env::var(k).ok(),
        },
        timeouts,
        settings.connect_timeout,
        application_name,
    )?;
    target.schema = schema;
    Ok(target)
}

/// How long one connection attempt may take when a deadline bounds them
/// all: its own connect timeout, or the time left if that is less; `None`
/// once no time is left (an attempt with a zero timeout would not be one).
pub(super) fn budget(own: Duration, deadline: Instant, now: Instant) -> Option<Duration> {
    let left = deadline
        .checked_duration_since(now)
        .filter(|d| !d.is_zero())?;
    Some(own.min(left))
}

/// `target` with its connect timeout (the handshake's bound, and the
/// client library's own) cut to `budget`.
pub(super) fn within(target: &connect::Target, budget: Duration) -> connect::Target {
    let mut cut = target.clone();
    let own = cut.timeouts.connect;
    cut.timeouts.connect = own.min(budget);
    cut.config.connect_timeout(cut.timeouts.connect);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_try_near_the_deadline_gets_only_the_time_left() {
        let now = Instant::now();
        let own = Duration::from_secs(10);
        // Far from the deadline: its own connect timeout.
        assert_eq!(budget(own, now + Duration::from_secs(60), now), Some(own));
        // 300 ms before it: 300 ms, not a full connect timeout past it.
        assert_eq!(
            budget(own, now + Duration::from_millis(300), now),
            Some(Duration::from_millis(300))
        );
        // At or past it: no try at all.
        assert_eq!(budget(own, now, now), None);
        assert_eq!(budget(own, now, now + Duration::from_millis(1)), None);
    }

    #[test]
    fn every_host_of_a_cut_target_connects_within_the_budget() {
        let target = connect::resolve(
            Some("host=a,b,c port=5432 user=u dbname=d connect_timeout=10"),
            &|_| None,
            Timeouts::default(),
        )
        .expect("resolves");
        assert_eq!(target.timeouts.connect, Duration::from_secs(10));
        let cut = within(&target, Duration::from_millis(250));
        let attempts = cut.attempts();
        assert_eq!(attempts.len(), 3);
        for a in attempts {
            assert_eq!(a.timeouts.connect, Duration::from_millis(250));
            assert_eq!(
                a.config.get_connect_timeout(),
                Some(&Duration::from_millis(250))
            );
        }
        // A budget longer than the target's own never lengthens it.
        let long = within(&target, Duration::from_secs(60));
        assert_eq!(long.timeouts.connect, Duration::from_secs(10));
        assert_eq!(
            long.config.get_connect_timeout(),
            Some(&Duration::from_secs(10))
        );
    }
}
