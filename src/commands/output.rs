//! What a command prints: a verdict, raw bytes, a usage error, or text
//! with the verdict that sets the exit status. No exit numbers here (main
//! owns them).

use crate::commands::verdict::Verdict;
use crate::decide::outcome::Stop;

/// What a command prints.
pub enum Output {
    Verdict(Verdict),
    /// Raw stdout bytes (manifest canon/hash) with success.
    Raw(Vec<u8>),
    /// The command line is wrong (exit 2); the message goes to stderr.
    Usage(String),
    /// Text for a human, and the verdict that sets the exit status.
    Text(String, Verdict),
}

impl Output {
    /// A read-only view's OK verdict for a human: its lines once, then the
    /// verdict line (not the facts again).
    pub(super) fn and_then_text(self, json: bool) -> Output {
        match self {
            Output::Verdict(v) if !json && v.kind() == crate::commands::verdict::Kind::Ok => {
                let mut text: String = v.human_results();
                text.push_str(&format!(
                    "OK {}: {}\n",
                    v.code(),
                    crate::canon::text::escape(&v.message)
                ));
                Output::Text(text, v)
            }
            other => other,
        }
    }

    pub(super) fn and_fill(self, f: impl FnOnce(&mut Verdict)) -> Output {
        match self {
            Output::Verdict(mut v) => {
                f(&mut v);
                Output::Verdict(v)
            }
            other => other,
        }
    }
}

/// One try of a command against the database: its verdict, or why it
/// stopped and the APR it was about.
pub(super) type Attempt = Result<Verdict, (Stop, Option<String>)>;

/// A command's answer from its database result (`Err`: a usage problem).
pub(super) fn verdict(result: Result<Attempt, String>) -> Output {
    match result {
        Err(usage) => Output::Usage(usage),
        Ok(Ok(v)) => Output::Verdict(v),
        Ok(Err((stop, apr))) => {
            let mut v = Verdict::from(stop);
            v.apr = apr;
            Output::Verdict(v)
        }
    }
}
