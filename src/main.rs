//! dot-authorize-build-step: parse, run, print, exit. The only place exit
//! numbers live (see EXIT STATUS in --help).
#![forbid(unsafe_code)]

use clap::Parser;
use dot_authorize_build_step::cli::Cli;
use dot_authorize_build_step::run::{self, Output};
use dot_authorize_build_step::verdict::Kind;
use std::io::Write;
use std::process::ExitCode;

const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_SKIP: u8 = 3;
const EXIT_FAIL: u8 = 4;
const EXIT_ERROR: u8 = 5;

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => return usage(json, &e.to_string()),
    };
    let output = run::run(&cli);
    let mut stdout = std::io::stdout().lock();
    let code = match output {
        Output::Raw(bytes) => {
            let _ = stdout.write_all(&bytes);
            EXIT_OK
        }
        Output::Usage(message) => return usage(json, &format!("error: {message}\n")),
        Output::Text(text, v) => {
            let _ = stdout.write_all(text.as_bytes());
            exit_for(v.kind())
        }
        Output::Verdict(v) => {
            let text = if cli.global.json {
                format!("{}\n", v.to_json())
            } else {
                v.human()
            };
            let _ = stdout.write_all(text.as_bytes());
            exit_for(v.kind())
        }
    };
    let _ = stdout.flush();
    ExitCode::from(code)
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
    eprint!("{message}");
    if json {
        let obj =
            serde_json::json!({"verdict": "USAGE", "code": "USAGE", "message": message.trim()});
        println!("{obj}");
    }
    ExitCode::from(EXIT_USAGE)
}
