//! The command line (clap derive). Parsing only: no IO, no decisions.
//! `--help` carries an example per subcommand and the EXIT STATUS section.
//! `command` (the subcommands and their arguments), `views` (the read-only
//! views' arguments and formats), `options` (the groups commands flatten
//! in), `validate` (value parsers), `help` (the shared texts). Names only
//! sys, canon and decide.

pub mod command;
pub mod help;
pub mod options;
pub mod validate;
pub mod views;

pub use command::*;
pub use help::*;
pub use options::*;
pub use validate::*;
pub use views::*;

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "dot-authorize-build-step",
    version = VERSION,
    about = "The one lawful minter of C1 build-prep grants: execute an approved authorize_build_step APR, \
             consume or revoke its grant, propose APRs, and prove it all on a disposable PostgreSQL.",
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// Print exactly one JSON object (the verdict) on stdout
    #[arg(long, global = true, display_order = 900)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Everything a command was told about where and how to run, whichever of
/// the options above it accepts; what it does not accept is absent.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub json: bool,
    pub db_url: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    pub schema: Option<String>,
    pub signing_key: Option<PathBuf>,
    pub trusted_keys: Option<PathBuf>,
    pub allowed_signers: Option<PathBuf>,
    pub evidence_log: Option<PathBuf>,
    pub durability: Option<crate::decide::durability::Durability>,
}

impl Cli {
    /// `-o json` is `--json`: exactly one verdict on stdout, whatever it says.
    pub fn output_json_is_json(mut self) -> Cli {
        let format = match &self.command {
            Command::List(a) => Some(&a.format),
            Command::Aprs(AprsCommand::List(a)) => Some(&a.format),
            _ => None,
        };
        if format.is_some_and(|f| f.output == Some(Format::Json)) {
            self.json = true;
        }
        self
    }

    /// The settings of this command line.
    pub fn settings(&self) -> Settings {
        use Command as C;
        let none = Connection::default();
        let (conn, signing, trusted, evidence) = match &self.command {
            C::Execute(a) => (
                &a.conn,
                Some(&a.signing),
                Some(&a.trusted),
                Some(&a.evidence),
            ),
            C::Consume(a) => (&a.conn, None, Some(&a.trusted), Some(&a.evidence)),
            C::Revoke(a) => (&a.conn, None, Some(&a.trusted), Some(&a.evidence)),
            C::Readback(a) => (&a.conn, None, Some(&a.trusted), None),
            C::List(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Show(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Keys(a) => (&a.conn, None, Some(&a.trusted), None),
            C::Propose(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::ProposePatch(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::Review(a) => (&a.conn, None, None, Some(&a.evidence)),
            C::Digest(a) => (&a.conn, None, None, None),
            C::ShowPatch(a) => (&a.conn, None, None, None),
            C::Evidence(EvidenceCommand::Verify { conn, trusted, .. }) => {
                (conn, None, Some(trusted), None)
            }
            C::Aprs(AprsCommand::List(a)) => (&a.conn, None, None, None),
            C::Aprs(AprsCommand::Show(a)) => (&a.conn, None, Some(&a.trusted), None),
            C::Manifest(_) | C::Keygen { .. } | C::Harness { .. } => (&none, None, None, None),
        };
        let allowed = match &self.command {
            C::Execute(a) => Some(&a.allowed),
            C::Consume(a) => Some(&a.allowed),
            C::Readback(a) => Some(&a.allowed),
            C::Show(a) => Some(&a.allowed),
            C::Review(a) => Some(&a.allowed),
            C::Aprs(AprsCommand::List(a)) => Some(&a.allowed),
            C::Aprs(AprsCommand::Show(a)) => Some(&a.allowed),
            _ => None,
        };
        Settings {
            json: self.json,
            db_url: conn.db_url.clone(),
            connect_timeout: conn.connect_timeout,
            lock_timeout: conn.lock_timeout,
            statement_timeout: conn.statement_timeout,
            schema: conn.schema.clone(),
            signing_key: signing.and_then(|o| o.signing_key.clone()),
            trusted_keys: trusted.and_then(|o| o.trusted_keys.clone()),
            allowed_signers: allowed.and_then(|o| o.allowed_signers.clone()),
            evidence_log: evidence.and_then(|o| o.evidence_log.clone()),
            durability: match &self.command {
                C::Execute(a) => a.durability.durability,
                C::Consume(a) => a.durability.durability,
                C::Revoke(a) => a.durability.durability,
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests;
