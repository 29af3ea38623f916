//! The man page and shell completions, generated from the clap definition
//! itself so they cannot drift: `scripts/gen-docs` writes them to `share/`,
//! `scripts/install` installs them with the binary, and a test checks that
//! the files in `share/` are what this code generates.

use crate::cli::Cli;
use clap::CommandFactory as _;
use clap_complete::Shell;

/// The command as documented: the package version only (the commit in
/// `--version` would make every commit a documentation change).
fn command() -> clap::Command {
    Cli::command().version(env!("CARGO_PKG_VERSION"))
}

pub const NAME: &str = "dot-authorize-build-step";

/// Every generated file: its path under `share/` and its bytes.
pub fn files() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut out = Vec::new();
    let mut man = Vec::new();
    let mut cmd = command();
    // Built, so that clap's own `help` subcommand is among the pages too.
    cmd.build();
    clap_mangen::Man::new(cmd.clone()).render(&mut man)?;
    out.push((format!("man/man1/{NAME}.1"), man));
    // One page per subcommand, as the main page's SUBCOMMANDS refer to.
    for sub in cmd.get_subcommands() {
        let page = format!("{NAME}-{}", sub.get_name());
        let mut bytes = Vec::new();
        clap_mangen::Man::new(
            sub.clone()
                .name(page.clone())
                .version(env!("CARGO_PKG_VERSION")),
        )
        .render(&mut bytes)?;
        out.push((format!("man/man1/{page}.1"), bytes));
    }
    for (shell, file) in [
        (Shell::Bash, format!("completions/{NAME}.bash")),
        (Shell::Zsh, format!("completions/_{NAME}")),
        (Shell::Fish, format!("completions/{NAME}.fish")),
    ] {
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut command(), NAME, &mut bytes);
        out.push((file, bytes));
    }
    Ok(out)
}
