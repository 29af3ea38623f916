//! The text of human output and of timestamps: one escape for every line
//! a human reads, one timestamp form for every verdict and signed message.

use chrono::{DateTime, SecondsFormat, Utc};

/// Every code point that is not visible text as a `\u{…}` escape;
/// everything else as it is. The one escape of human output: every line a
/// command prints for a human goes through it (or `escape_keeping_tabs`,
/// or `escape_lines`), and the command line refuses the same characters.
pub fn escape(s: &str) -> String {
    escape_where(s, is_hidden)
}

/// `escape` for lines of file content (show-patch), where tabs are real.
pub fn escape_keeping_tabs(s: &str) -> String {
    escape_where(s, |c| c != '\t' && is_hidden(c))
}

/// `escape` for a message of several lines (a usage error): its own line
/// breaks and tabs stay, every other hidden character is escaped.
pub fn escape_lines(s: &str) -> String {
    escape_where(s, |c| c != '\n' && c != '\t' && is_hidden(c))
}

/// Whether `c` is not visible text: a control (Cc), format (Cf, which
/// holds the bidi controls, zero-width characters and the tag characters
/// U+E0000… that can spell hidden ASCII), private-use (Co), unassigned
/// (Cn) or surrogate code point, a line or paragraph separator (Zl, Zp),
/// or one of the characters that are letters or symbols by category but
/// print as nothing: the Hangul fillers, the blank Braille pattern, the
/// combining grapheme joiner and the variation selectors (Unicode's
/// Default_Ignorable_Code_Point characters outside those categories).
/// Categories from `unicode-general-category` (Unicode 16), not a table of
/// our own.
pub fn is_hidden(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::PrivateUse
            | G::Unassigned
            | G::Surrogate
            | G::LineSeparator
            | G::ParagraphSeparator
    ) || matches!(c,
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{E0100}'..='\u{E01EF}')
}

fn escape_where(s: &str, hidden: impl Fn(char) -> bool) -> String {
    if !s.chars().any(&hidden) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if hidden(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
