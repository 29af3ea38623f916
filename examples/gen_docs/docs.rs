//! The man pages (one per command, nested ones too) and shell completions,
//! generated from the clap definition itself so they cannot drift:
//! `scripts/gen-docs` writes them to `share/`, `scripts/install` installs
//! them with the binary, and a test checks that the files in `share/` are
//! what this code generates. Outside `src/` so that the release binary
//! does not link clap_mangen and clap_complete (dev-dependencies): the
//! example `gen_docs` and tests/docs_current.rs include this file with
//! `#[path]`. Renders only; never writes (main.rs writes share/).

use clap::CommandFactory as _;
use clap_complete::Shell;
use dot_authorize_build_step::cli::Cli;

/// The command as documented: the package version only (the commit in
/// `--version` would make every commit a documentation change).
fn command() -> clap::Command {
    Cli::command().version(env!("CARGO_PKG_VERSION"))
}

pub const NAME: &str = "dot-authorize-build-step";

/// Every generated file: its path under `share/` and its bytes.
pub fn files() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut out = Vec::new();
    let mut cmd = command();
    // Built, so that clap's own `help` subcommands are among the pages too.
    cmd.build();
    // One page per command at every depth (`evidence verify`, `manifest
    // hash`): a SUBCOMMANDS entry names `<page>-<sub>(1)`, so each must exist.
    let mut todo = vec![(Vec::<String>::new(), cmd.clone())];
    while let Some((path, sub)) = todo.pop() {
        let page = page_name(&path);
        out.push((format!("man/man1/{page}.1"), man_page(&sub, &path)?));
        if !is_help(&sub) {
            for child in sub.get_subcommands() {
                let mut p = path.clone();
                p.push(child.get_name().to_string());
                todo.push((p, child.clone()));
            }
        }
    }
    out.sort();
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

/// `dot-authorize-build-step-manifest-hash` for `["manifest", "hash"]`.
fn page_name(path: &[String]) -> String {
    std::iter::once(NAME.to_string())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join("-")
}

/// clap's own `help` subcommand: its page names no pages of its own.
fn is_help(cmd: &clap::Command) -> bool {
    cmd.get_name() == "help" && cmd.get_arguments().all(|a| a.get_long().is_none())
}

/// One page: clap_mangen's sections for what clap knows (synopsis,
/// options, subcommands), then ours: EXAMPLES (and NOTES) from the
/// command's after_help, EXIT STATUS, ENVIRONMENT, SEE ALSO, VERSION.
fn man_page(cmd: &clap::Command, path: &[String]) -> Result<Vec<u8>, std::io::Error> {
    let page = page_name(path);
    let man = clap_mangen::Man::new(
        cmd.clone()
            .name(page.clone())
            .display_name(page.clone())
            .version(env!("CARGO_PKG_VERSION")),
    );
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.has_subcommands() && !is_help(cmd) {
        man.render_subcommands_section(&mut w)?;
    }
    let blocks = after_help_blocks(cmd);
    let mut examples = blocks
        .iter()
        .find(|(h, _)| h == "EXAMPLES")
        .map(|(_, lines)| lines.clone())
        .unwrap_or_default();
    if examples.is_empty() {
        examples = fallback_examples(cmd, path);
    }
    section(&mut w, "EXAMPLES");
    preformatted(&mut w, &examples);
    for (heading, lines) in &blocks {
        if heading != "EXAMPLES" && heading != "EXIT STATUS" {
            section(&mut w, heading);
            preformatted(&mut w, lines);
        }
    }
    if let Some(role) = path
        .first()
        .and_then(|c| dot_authorize_build_step::cli::role_needed(c))
    {
        section(&mut w, "ROLE");
        text(
            &mut w,
            &format!(
                "Run it as {role}: the staged roles grant this command exactly what it reads and \
                 writes, and a login without it gets ERROR_PERMISSION_DENIED naming this role."
            ),
        );
    }
    exit_status(&mut w);
    environment(&mut w, cmd, path);
    see_also(&mut w, cmd, path);
    man.render_version_section(&mut w)?;
    Ok(once_preamble(w))
}

/// Each of clap_mangen's `render_*` calls starts with the same two-line
/// preamble (the `Aq` string); a page needs it once, at the top.
fn once_preamble(page: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&page);
    let lines: Vec<&str> = text.lines().collect();
    let preamble = &lines[..2.min(lines.len())];
    let mut out: Vec<&str> = preamble.to_vec();
    let mut rest = &lines[preamble.len()..];
    while !rest.is_empty() {
        if rest.starts_with(preamble) {
            rest = &rest[preamble.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    let mut bytes = out.join("\n").into_bytes();
    bytes.push(b'\n');
    bytes
}

/// A command's after_help, cut at its `HEADING:` lines: `EXAMPLE:` and
/// `EXAMPLES:` both give EXAMPLES, and prose after an example (not
/// indented) is NOTES. Lines keep their layout, less the 4-space indent.
fn after_help_blocks(cmd: &clap::Command) -> Vec<(String, Vec<String>)> {
    let text = cmd
        .get_after_help()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let unindented = !line.starts_with(' ') && !line.is_empty();
        let heading = line
            .strip_suffix(':')
            .filter(|h| unindented && h.chars().all(|c| c.is_ascii_uppercase() || c == ' '));
        if let Some(h) = heading {
            let h = if h == "EXAMPLE" { "EXAMPLES" } else { h };
            blocks.push((h.to_string(), Vec::new()));
            continue;
        }
        if unindented && blocks.last().is_some_and(|(h, _)| h == "EXAMPLES") {
            blocks.push(("NOTES".to_string(), Vec::new()));
        }
        if blocks.is_empty() {
            blocks.push(("NOTES".to_string(), Vec::new()));
        }
        let line = line.strip_prefix("    ").unwrap_or(line);
        blocks
            .last_mut()
            .expect("pushed above")
            .1
            .push(line.to_string());
    }
    for (_, lines) in &mut blocks {
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
    }
    blocks
}

/// Examples for a page whose command has none of its own: the top level,
/// a group (`evidence`, `manifest`: its subcommands' examples) and `help`.
fn fallback_examples(cmd: &clap::Command, path: &[String]) -> Vec<String> {
    if path.is_empty() {
        return [
            "dot-authorize-build-step execute --apr APR-C1-0001 --json",
            "dot-authorize-build-step list --status active --expiring-within 1h",
            "dot-authorize-build-step show --apr APR-C1-0001",
            "dot-authorize-build-step aprs list --status proposed",
            "dot-authorize-build-step aprs show --apr APR-C1-0001",
            "dot-authorize-build-step keys",
            "dot-authorize-build-step revoke --key-id 3f2a9c0d1e4b5a67 --reason 'key leaked' --by owner --dry-run",
            "dot-authorize-build-step manifest hash c1.json",
        ]
        .map(String::from)
        .to_vec();
    }
    if is_help(cmd) {
        let parent = path[..path.len() - 1].join(" ");
        let words: Vec<&str> = [NAME, parent.as_str(), "help"]
            .into_iter()
            .filter(|w| !w.is_empty())
            .collect();
        let first = cmd
            .get_subcommands()
            .next()
            .map(|s| s.get_name().to_string())
            .unwrap_or_default();
        return vec![format!("{} {first}", words.join(" "))];
    }
    cmd.get_subcommands()
        .flat_map(|sub| {
            after_help_blocks(sub)
                .into_iter()
                .filter(|(h, _)| h == "EXAMPLES")
                .flat_map(|(_, lines)| lines)
        })
        .collect()
}

fn exit_status(w: &mut Vec<u8>) {
    section(w, "EXIT STATUS");
    for line in dot_authorize_build_step::cli::EXIT_STATUS
        .lines()
        .skip_while(|l| *l != "EXIT STATUS:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
    {
        let line = line.trim();
        match line.split_once("  ") {
            Some((code, rest)) if code.chars().all(|c| c.is_ascii_digit()) => {
                let rest = rest.trim();
                let (word, what) = rest.split_once(' ').unwrap_or((rest, ""));
                w.extend_from_slice(b".TP\n");
                text(w, code);
                text(w, &format!("{word}: {}", what.trim()));
            }
            _ => {
                w.extend_from_slice(b".PP\n");
                text(w, line);
            }
        }
    }
}

/// The environment variables this command reads, by the options it has:
/// each stands in for an option, or is how a database is found.
fn environment(w: &mut Vec<u8>, cmd: &clap::Command, path: &[String]) {
    let has = |long: &str| cmd.get_arguments().any(|a| a.get_long() == Some(long));
    let top = path.is_empty();
    let mut vars: Vec<(&str, &str)> = Vec::new();
    if top || has("db-url") {
        vars.push(("DATABASE_URL", "The database, when --db-url is not given."));
        vars.push((
            "PGHOST, PGHOSTADDR, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGPASSFILE, PGSERVICE, PGSERVICEFILE, PGSYSCONFDIR, PGAPPNAME, PGOPTIONS",
            "As psql reads them, for each parameter the connection string and the service leave \
             unset; host and port lists (PGHOST=a,b PGPORT=5432,5433) are tried in order; without \
             PGUSER the user is the operating-system user; PGHOSTADDR alone is TCP to that address.",
        ));
        vars.push((
            "PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGSSLSNI, PGSSLMINPROTOCOLVERSION, PGSSLMAXPROTOCOLVERSION, PGCHANNELBINDING",
            "TLS and channel binding with libpq's meanings; the client certificate defaults to \
             ~/.postgresql/postgresql.crt and .key when present, the key file must be 0600 (0640 \
             if owned by root), and an encrypted PKCS#8 key is opened with sslpassword (a \
             connection parameter only: libpq has no PGSSLPASSWORD). Unix sockets never use TLS.",
        ));
        vars.push((
            "PGTARGETSESSIONATTRS",
            "any, read-write, read-only, primary, standby or prefer-standby, checked on each host \
             as libpq does (prefer-standby takes any server on a second pass).",
        ));
        vars.push((
            "PGCONNECT_TIMEOUT",
            "Seconds (1-86400; 1 means 2, as in libpq) each host's whole handshake may take, unless --connect-timeout or \
             the connection string says otherwise; a host that does not answer in time is skipped.",
        ));
        vars.push((
            "PGGSSENCMODE, PGCLIENTENCODING, PGSSLCOMPRESSION",
            "Accepted only with the values that change nothing here (disable or prefer; UTF8; 0 or 1).",
        ));
        vars.push((
            "PGREQUIRESSL, PGSSLCRL, PGSSLCRLDIR, PGREQUIREPEER, PGKRBSRVNAME, PGGSSLIB",
            "Refused by name: the tool does not do what they ask (a usage error, never ignored).",
        ));
        vars.push((
            dot_authorize_build_step::store::connect::SCHEMA_ENV,
            "The schema, when --schema is not given.",
        ));
    }
    if top || has("signing-key") {
        vars.push((
            dot_authorize_build_step::integrity::signing::SIGNING_KEY_ENV,
            "Stands in for --signing-key.",
        ));
    }
    if top || has("trusted-keys") {
        vars.push((
            dot_authorize_build_step::integrity::signing::TRUSTED_KEYS_ENV,
            "Stands in for --trusted-keys.",
        ));
    }
    if top || has("allowed-signers") {
        vars.push((
            dot_authorize_build_step::integrity::approval::ALLOWED_SIGNERS_ENV,
            "Stands in for --allowed-signers.",
        ));
    }
    if top || has("sign-key") {
        vars.push((
            dot_authorize_build_step::integrity::approval::APPROVER_KEY_ENV,
            "Stands in for --sign-key.",
        ));
        vars.push((
            "SSH_AUTH_SOCK",
            "The ssh-agent asked to sign an approval when no key file is given.",
        ));
    }
    if top || has("evidence-log") {
        vars.push((
            dot_authorize_build_step::integrity::evidence::ENV,
            "Stands in for --evidence-log.",
        ));
    }
    if top || has("durability") {
        vars.push((
            dot_authorize_build_step::decide::durability::DURABILITY_ENV,
            "Stands in for --durability.",
        ));
    }
    if top || path.first().is_some_and(|p| p == "harness") {
        vars.push((
            "PG_BIN",
            "The directory holding initdb, pg_ctl and postgres (PostgreSQL 13 to 18) for the disposable cluster (else pg_config --bindir, the newest /usr/lib/postgresql/*/bin, then PATH).",
        ));
    }
    section(w, "ENVIRONMENT");
    if vars.is_empty() {
        text(w, "None: this command reads no environment variable.");
    }
    for (name, what) in vars {
        w.extend_from_slice(b".TP\n");
        text(w, name);
        text(w, what);
    }
}

/// The pages next to this one: the top-level page, the parent, the
/// children; every name is a page `files()` writes.
fn see_also(w: &mut Vec<u8>, cmd: &clap::Command, path: &[String]) {
    let mut names = Vec::new();
    if !path.is_empty() {
        names.push(NAME.to_string());
    }
    if path.len() > 1 {
        names.push(page_name(&path[..path.len() - 1]));
    }
    if !is_help(cmd) {
        for sub in cmd.get_subcommands() {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            names.push(page_name(&p));
        }
    }
    section(w, "SEE ALSO");
    let refs: Vec<String> = names.iter().map(|n| format!("{n}(1)")).collect();
    text(w, &refs.join(", "));
}

fn section(w: &mut Vec<u8>, name: &str) {
    if name.contains(' ') {
        w.extend_from_slice(format!(".SH \"{name}\"\n").as_bytes());
    } else {
        w.extend_from_slice(format!(".SH {name}\n").as_bytes());
    }
}

/// Lines kept as written (command lines, continuation indents).
fn preformatted(w: &mut Vec<u8>, lines: &[String]) {
    w.extend_from_slice(b".nf\n");
    for line in lines {
        text(w, line);
    }
    w.extend_from_slice(b".fi\n");
}

/// One line of text, escaped so roff prints it as it is (a character
/// beyond ASCII as its `\[uXXXX]` name, which troff reads without preconv).
fn text(w: &mut Vec<u8>, line: &str) {
    let escaped: String = line
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq")
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", u32::from(c))
            }
        })
        .collect();
    if escaped.starts_with('.') {
        w.extend_from_slice(b"\\&");
    }
    w.extend_from_slice(escaped.as_bytes());
    w.push(b'\n');
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
