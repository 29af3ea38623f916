//! `options` / PGOPTIONS: the server settings a startup packet would carry,
//! split as the server splits them, and any that name a `dot.` setting
//! refused. Text only.

/// Refuses connection options that would set any `dot.*` setting (the
/// writer marker `dot.canonical_writer` among them) for the whole session:
/// only the handler sets the marker, inside its own transaction. The
/// options are read as the server reads them, not searched for a
/// spelling: split at unescaped white space with `\` escaping the next
/// character (`pg_split_opts`), then taken as the backend's switches
/// (getopt over `B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:`, clusters
/// and attached arguments included), where `-c NAME=VALUE` and
/// `--NAME=VALUE` set NAME with every `-` turned into `_`, compared
/// without ASCII case. Options the server would refuse are refused here
/// too, so nothing ambiguous is ever sent.
pub fn refuse_dot_settings(options: &str) -> Result<(), String> {
    let refuse = |why: String| {
        format!(
            "the connection options (PGOPTIONS, the URL's or the service's options) {why}; \
             only the handler sets dot.canonical_writer, inside its transaction"
        )
    };
    for (name, _) in startup_settings(options).map_err(refuse)? {
        if name.to_ascii_lowercase().starts_with("dot.") {
            return Err(refuse(format!("set {name:?}, a dot.* setting")));
        }
    }
    Ok(())
}

/// Spellings of the writer marker in connection options that the server
/// reads as `dot.canonical_writer` (tests and `harness` try each).
pub const DOT_SPELLINGS: [&str; 11] = [
    "-c dot.canonical_writer=dot-authorize-build-step",
    "-cDOT.Canonical_Writer=x",
    "-c dot.canonical-writer=x",
    "--dot.canonical-writer=x",
    "--dot.canonical_writer=x",
    "-c dot.canonical\\_writer=x",
    "-c d\\ot.canonical_writer=x",
    "-ec dot.canonical_writer=x",
    "-e -c dot.canonical_writer=x",
    "-c work_mem=8MB --DOT.canonical-writer=x",
    "-c\tdot.canonical_writer=x",
];

/// The settings (name as the server names it, value) that startup options
/// make, or why the server would refuse them.
pub(crate) fn startup_settings(options: &str) -> Result<Vec<(String, String)>, String> {
    const WITH_ARGUMENT: &str = "BcCDdfhkNprStvW-";
    const WITHOUT_ARGUMENT: &str = "bEeFijlnOPsT";
    let words = split_options(options);
    let mut settings = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("hold {word:?}, which is no option"));
        };
        for (at, flag) in flags.char_indices() {
            if WITHOUT_ARGUMENT.contains(flag) {
                continue;
            }
            if !WITH_ARGUMENT.contains(flag) {
                return Err(format!("hold the unknown option -{flag}"));
            }
            let attached = &flags[at + flag.len_utf8()..];
            let argument = if !attached.is_empty() {
                attached.to_owned()
            } else if let Some(next) = words.get(i) {
                i += 1;
                next.clone()
            } else {
                return Err(format!("end with -{flag} and no value"));
            };
            if matches!(flag, 'c' | '-') {
                let Some((name, value)) = argument.split_once('=') else {
                    return Err(format!("give -{flag} {argument:?} without a value"));
                };
                settings.push((name.replace('-', "_"), value.to_owned()));
            }
            break;
        }
    }
    Ok(settings)
}

/// `pg_split_opts`: words at unescaped ASCII white space; `\` takes the
/// next character literally (a space, a backslash, anything).
pub(crate) fn split_options(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = options.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| is_c_space(*c)) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut escaped = false;
        while let Some(&c) = chars.peek() {
            if is_c_space(c) && !escaped {
                break;
            }
            chars.next();
            if !escaped && c == '\\' {
                escaped = true;
            } else {
                escaped = false;
                word.push(c);
            }
        }
        words.push(word);
    }
}

/// C's isspace in the C locale.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}
