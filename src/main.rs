//! dot-authorize-build-step: parse, run, print, exit. The only place exit
//! numbers live (see EXIT STATUS in --help).
#![forbid(unsafe_code)]

use clap::Parser;
use dot_authorize_build_step::cli::Cli;
use dot_authorize_build_step::commands::run::{self, Output};
use dot_authorize_build_step::commands::verdict::Kind;
use std::io::Write;
use std::process::ExitCode;

const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_SKIP: u8 = 3;
const EXIT_FAIL: u8 = 4;
const EXIT_ERROR: u8 = 5;

fn main() -> ExitCode {
    // args_os: a non-UTF-8 argument is clap's usage error, never a panic.
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli.output_json_is_json(),
        Err(e) if !e.use_stderr() => {
            // --help, --version: a failed write is still a failure.
            return match write_out(e.render().to_string().as_bytes()) {
                Ok(()) => ExitCode::from(EXIT_OK),
                Err(_) => ExitCode::from(EXIT_ERROR),
            };
        }
        Err(e) => return usage(json, &e.to_string()),
    };
    let output = run::run(&cli);
    // Human output: results on stdout; a verdict that is not OK on stderr.
    // --json: the one object on stdout, whatever it says.
    let (bytes, code) = match output {
        Output::Raw(bytes) => (bytes, EXIT_OK),
        Output::Usage(message) => return usage(json, &format!("error: {message}\n")),
        Output::Text(text, v) if v.kind() == Kind::Ok => (text.into_bytes(), exit_for(v.kind())),
        Output::Text(text, v) => {
            // The last line is the verdict.
            let body = text.trim_end_matches('\n');
            let (results, last) = body.rsplit_once('\n').unwrap_or(("", body));
            let _ = writeln!(std::io::stderr(), "{last}");
            (format!("{results}\n").into_bytes(), exit_for(v.kind()))
        }
        Output::Verdict(v) if cli.json => (
            format!("{}\n", v.to_json()).into_bytes(),
            exit_for(v.kind()),
        ),
        Output::Verdict(v) if v.kind() == Kind::Ok => (v.human().into_bytes(), exit_for(v.kind())),
        Output::Verdict(v) => {
            let _ = write!(std::io::stderr(), "{}", v.human_summary());
            (v.human_results().into_bytes(), exit_for(v.kind()))
        }
    };
    match write_out(&bytes) {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            // Stdout is closed or full: the caller did not get the verdict,
            // so this is no success, whatever was decided. Say so on stderr.
            let _ = writeln!(
                std::io::stderr(),
                "ERROR ERROR_IO: could not write the result to stdout: {e}{}",
                if code == EXIT_OK {
                    " (the command itself succeeded; read its outcome back before retrying)"
                } else {
                    ""
                }
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

fn exit_for(kind: Kind) -> u8 {
    match kind {
        Kind::Ok => EXIT_OK,
        Kind::Skip => EXIT_SKIP,
        Kind::Fail => EXIT_FAIL,
        Kind::Error => EXIT_ERROR,
    }
}

/// The command line is wrong: the reason on stderr, and with --json one
/// object on stdout so a caller parsing stdout still gets exactly one.
fn usage(json: bool, message: &str) -> ExitCode {
    let _ = write!(
        std::io::stderr(),
        "{}",
        dot_authorize_build_step::canon::text::escape_lines(message)
    );
    if json {
        let obj = serde_json::json!({
            "schema_version": dot_authorize_build_step::commands::verdict::SCHEMA_VERSION,
            "verdict": "USAGE",
            "code": "USAGE",
            "message": message.trim(),
        });
        if write_out(format!("{obj}\n").as_bytes()).is_err() {
            return ExitCode::from(EXIT_ERROR);
        }
    }
    ExitCode::from(EXIT_USAGE)
}
