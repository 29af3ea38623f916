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
        if shell == Shell::Bash {
            bytes = bash_case_labels_fixed(bytes);
        }
        out.push((file, bytes));
    }
    Ok(out)
}

/// clap_complete (4.6) names a subcommand two ways when the binary's name
/// has a `-` in it: the loop that walks COMP_WORDS builds
/// `dot__authorize__build__step__subcmd__execute`, while the case arms that
/// hold each subcommand's options are labelled
/// `dot__subcmd__authorize__subcmd__build__subcmd__step__subcmd__execute`,
/// so no arm ever matched and `execute --<TAB>` offered nothing. The labels
/// are rewritten to the loop's names (tests/completions.rs drives bash).
fn bash_case_labels_fixed(script: Vec<u8>) -> Vec<u8> {
    let wrong = NAME.replace('-', "__subcmd__");
    let right = NAME.replace('-', "__");
    String::from_utf8_lossy(&script)
        .replace(&wrong, &right)
        .into_bytes()
}
