//! The help texts every page shares: EXIT STATUS (with the connection,
//! keys and roles notes under it), the role each command runs as, and
//! `--version`. Text only: no parsing, no IO.

pub const EXIT_STATUS: &str = "\
EXIT STATUS:
    0  OK     minted, consumed, revoked, proposed, or already so (the code says which)
    2  usage  the command line is wrong; nothing was done
    3  SKIP   not eligible yet (APR not approved, quorum not met); expected, do not force
    4  FAIL   the input is wrong, out of scope, tampered, expired or reused; the code says which
    5  ERROR  the environment is wrong (database unreachable, login, TLS, schema, guard, privilege, timeout)
    Every outcome but OK, and every --dry-run, leaves the database exactly as it was.

CONNECTION:
    The commands that reach a database take the connection options after the command name (see
    `<command> --help`); manifest, keygen, evidence and harness never connect and take none.
    --db-url, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT, PGUSER, PGDATABASE,
    PGPASSWORD, PGPASSFILE, PGSERVICE, PGSSLMODE, PGSSLCERT, PGSSLKEY, PGTARGETSESSIONATTRS,
    PGCHANNELBINDING, ...), as psql reads them; without PGUSER the user is the operating-system
    user. A parameter the tool does not support is refused by name, never ignored. A --db-url
    holding a password or sslpassword is refused: keep secrets out of argv (use PGPASSWORD, a 0600
    ~/.pgpass or a service file). PGCONNECT_TIMEOUT (seconds, 1-86400) bounds each host's whole
    handshake unless --connect-timeout or the connection string says otherwise.

KEYS AND EVIDENCE:
    --signing-key (execute), --trusted-keys (execute, consume, revoke, readback, list, show,
    aprs show, keys, evidence verify), --allowed-signers (execute, consume, readback, show, review, aprs)
    and --evidence-log (execute, consume, revoke, review, propose, propose-patch);
    DOT_ABS_SIGNING_KEY, DOT_ABS_TRUSTED_KEYS, DOT_ABS_ALLOWED_SIGNERS and DOT_ABS_EVIDENCE_LOG
    stand in for them.

ROLES:
    Each command runs as one of the staged roles (see its man page, ROLE); a login without it gets
    ERROR_PERMISSION_DENIED naming the role to use.";

/// Which of the staged roles runs each command, by the command's name
/// (staged/handler-role.staged.sql and staged/reviewer-role.staged.sql grant
/// exactly what these need). ERROR_PERMISSION_DENIED names it, each man page
/// has it under ROLE, and the README's table "Which role runs each command"
/// is checked against it. `None`: the command never connects.
pub fn role_needed(command: &str) -> Option<&'static str> {
    const READERS: &str =
        "dot_authorize_build_step (the minter) or dot_c1_build_consumer (the consumer)";
    match command {
        "execute" | "revoke" | "readback" => Some("dot_authorize_build_step (the minter)"),
        "consume" => Some("dot_c1_build_consumer (the consumer)"),
        "propose" | "propose-patch" => Some("dot_c1_grant_issue (the proposer)"),
        "review" => Some("your own login, a member of dot_apr_reviewer"),
        "list" | "show" | "aprs" | "keys" | "evidence" => Some(READERS),
        "digest" | "show-patch" => {
            Some("dot_authorize_build_step, dot_c1_build_consumer, or a login in dot_apr_reviewer")
        }
        _ => None,
    }
}

/// `--version`: the package version, the commit it was built from, and
/// the versions of the formats it speaks.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DOT_ABS_COMMIT"),
    "; canonical JSON cser-v1; verdict schema_version 1)"
);
