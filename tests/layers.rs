//! The house by layers, held by a test: which layer may use which, no cycle
//! between files, `decide/` pure, and no room too big.
//!
//! Reads `src/` as text. A reference is a path `crate::<layer>::<module>`
//! (or `super::<module>` inside a folder) in code that is not a unit-test
//! module; the file it names is the file that code depends on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer, with the layers it may use. Lower layers never name higher.
const LAYERS: &[(&str, &[&str])] = &[
    ("sys", &[]),
    ("canon", &["sys"]),
    ("decide", &["sys", "canon"]),
    ("integrity", &["sys", "canon", "decide"]),
    ("store", &["sys", "canon", "decide", "integrity"]),
    ("cli", &["sys", "canon", "decide"]),
    (
        "disposable",
        &["sys", "canon", "decide", "integrity", "store"],
    ),
    (
        "commands",
        &[
            "sys",
            "canon",
            "decide",
            "integrity",
            "store",
            "cli",
            "disposable",
        ],
    ),
];

/// Edges against the direction that the move has not removed yet, as
/// "from-file -> to-file". Empty when the house is in order; an entry that
/// no longer occurs fails too, so this list only shrinks.
const NOT_YET: &[&str] = &[];

/// Files of decide/ that still do IO.
const IMPURE_NOT_YET: &[&str] = &[];

/// Files over the size limit that are still to be split.
const TOO_BIG_NOT_YET: &[&str] = &[];

/// Above this a file is split (generated files are not in src/).
const MAX_LINES: usize = 650;

/// What pure code must never name: the file system, the environment, the
/// database, processes, the clock, randomness.
const IMPURE: &[&str] = &[
    "std::fs",
    "fs::",
    "std::env",
    "env::var",
    "postgres",
    "std::process",
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "getrandom",
    "std::net",
    "File::open",
    "OpenOptions",
    "stdin()",
    "stdout()",
    "stderr()",
    "eprintln!",
    "println!",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's name relative to src/, as "decide/quorum.rs".
fn rel(path: &Path) -> String {
    path.strip_prefix(src())
        .expect("under src")
        .to_string_lossy()
        .into_owned()
}

/// The code of a file without its unit-test items: each `#[cfg(test)]` item
/// is skipped to its closing brace (code after it still counts), and a file
/// that is only unit tests (`x/tests.rs`, included by `#[cfg(test)] mod
/// tests;`, opening with `//! Unit tests`) has none.
fn production(text: &str) -> String {
    if text.starts_with("//! Unit tests") {
        return String::new();
    }
    let mut out = String::new();
    // Inside a `#[cfg(test)]` item: the brace depth it opened, or waiting
    // for its first line.
    let mut skipping: Option<i64> = None;
    let mut waiting = false;
    for line in text.lines() {
        // Comments may name anything.
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        if code.trim_start().starts_with("#[cfg(test)]") {
            waiting = true;
            continue;
        }
        let opens = code.matches('{').count() as i64 - code.matches('}').count() as i64;
        if waiting {
            waiting = false;
            // `mod tests;` (a file of its own) or an item on one line.
            if opens > 0 {
                skipping = Some(opens);
            }
            continue;
        }
        if let Some(depth) = skipping {
            let depth = depth + opens;
            skipping = (depth > 0).then_some(depth);
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn layer_of(file: &str) -> Option<&str> {
    let first = file.split('/').next()?;
    LAYERS.iter().map(|(l, _)| *l).find(|l| *l == first)
}

/// The file a module path names, given the files that exist: the longest
/// prefix of `segments` that is a file (`a/b.rs` or `a/b/mod.rs`).
fn resolve(segments: &[&str], files: &BTreeSet<String>) -> Option<String> {
    for n in (1..=segments.len()).rev() {
        let base = segments[..n].join("/");
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn path_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segments: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        found.push(segments);
    }
    found
}

/// Every file-to-file edge of production code.
fn edges() -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: BTreeSet<String> = paths.iter().map(|p| rel(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &paths {
        let from = rel(path);
        let code = production(&std::fs::read_to_string(path).expect("read"));
        let dir = from.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut targets = BTreeSet::new();
        for segments in path_after(&code, "crate::") {
            if let Some(to) = resolve(&segments, &files) {
                targets.insert(to);
            }
        }
        // super:: from a/b.rs is a/…; from a/b/mod.rs it is a/….
        let parent = if from.ends_with("/mod.rs") {
            dir.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
        } else {
            dir
        };
        for segments in path_after(&code, "super::") {
            let mut full: Vec<&str> = parent.split('/').filter(|s| !s.is_empty()).collect();
            full.extend(segments);
            if let Some(to) = resolve(&full, &files) {
                targets.insert(to);
            }
        }
        targets.remove(&from);
        graph.insert(from, targets);
    }
    (files, graph)
}

#[test]
fn no_edge_points_against_the_layers() {
    let (_, graph) = edges();
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut against = BTreeSet::new();
    for (from, targets) in &graph {
        let Some(from_layer) = layer_of(from) else {
            continue; // lib.rs, main.rs
        };
        for to in targets {
            let Some(to_layer) = layer_of(to) else {
                continue;
            };
            if to_layer != from_layer && !allowed[from_layer].contains(&to_layer) {
                against.insert(format!("{from} -> {to}"));
            }
        }
    }
    let known: BTreeSet<String> = NOT_YET.iter().map(|s| s.to_string()).collect();
    let all: BTreeSet<String> = graph
        .iter()
        .flat_map(|(from, targets)| targets.iter().map(move |to| format!("{from} -> {to}")))
        .collect();
    let new: Vec<_> = against.difference(&known).collect();
    let gone: Vec<_> = known.difference(&all).collect();
    assert!(
        new.is_empty(),
        "edges against the layers (sys <- canon <- decide <- integrity <- store <- disposable <- commands -> cli): {new:#?}"
    );
    assert!(
        gone.is_empty(),
        "fixed, so take them out of NOT_YET: {gone:#?}"
    );
}

#[test]
fn no_cycle_between_files() {
    let (_, mut graph) = edges();
    // Edges still to be removed are not counted twice: they fail above.
    for edge in NOT_YET {
        let (from, to) = edge.split_once(" -> ").expect("from -> to");
        if let Some(targets) = graph.get_mut(from) {
            targets.remove(to);
        }
    }
    // Depth-first search with colours; a grey node met again closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        colour.insert(node, 1);
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next.as_str()).copied().unwrap_or(0) {
                0 => visit(next, graph, colour, stack, cycles),
                1 => {
                    let start = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[start..].to_vec();
                    cycle.push(next);
                    cycles.push(cycle.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(node, 2);
    }
    let mut colour = BTreeMap::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        if colour.get(node.as_str()).copied().unwrap_or(0) == 0 {
            visit(node, &graph, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn decide_touches_no_file_environment_database_or_clock() {
    let mut paths = Vec::new();
    rust_files(&src().join("decide"), &mut paths);
    assert!(!paths.is_empty(), "src/decide has no files");
    let mut found = Vec::new();
    for path in &paths {
        if IMPURE_NOT_YET.contains(&rel(path).as_str()) {
            continue;
        }
        let code = production(&std::fs::read_to_string(path).expect("read"));
        for (n, line) in code.lines().enumerate() {
            for word in IMPURE {
                if line.contains(word) {
                    found.push(format!("{}:{}: {word}: {}", rel(path), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "decide/ must be pure: {found:#?}");
    for file in IMPURE_NOT_YET {
        assert!(
            src().join(file).exists(),
            "{file} is gone: take it out of IMPURE_NOT_YET"
        );
    }
}

#[test]
fn no_file_is_a_big_room() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let mut big = BTreeSet::new();
    for path in &paths {
        let lines = std::fs::read_to_string(path).expect("read").lines().count();
        if lines > MAX_LINES {
            big.insert(rel(path));
        }
    }
    let known: BTreeSet<String> = TOO_BIG_NOT_YET.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = big.difference(&known).collect();
    let gone: Vec<_> = known.difference(&big).collect();
    assert!(new.is_empty(), "files over {MAX_LINES} lines: {new:#?}");
    assert!(
        gone.is_empty(),
        "split, so take them out of TOO_BIG_NOT_YET: {gone:#?}"
    );
}

#[test]
fn every_folder_says_what_it_owns() {
    for (layer, _) in LAYERS {
        let dir = src().join(layer);
        let text = std::fs::read_to_string(dir.join("mod.rs"))
            .unwrap_or_else(|e| panic!("src/{layer}/mod.rs: {e}"));
        assert!(
            text.starts_with("//!"),
            "src/{layer}/mod.rs must open with a //! saying what it owns and must never do"
        );
    }
}

/// No process-wide state in the layers that decide, sign, store or run a
/// command: what one connection learnt reaches the command's verdict as a
/// value (`Conn::seen`, `Context`), never through a static another layer
/// reads. Only `disposable/` keeps a registry (its clusters, for teardown).
#[test]
fn no_static_state_outside_disposable() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let mut found = Vec::new();
    for path in &paths {
        let file = rel(path);
        if file.starts_with("disposable/") {
            continue;
        }
        let code = production(&std::fs::read_to_string(path).expect("read"));
        for (n, line) in code.lines().enumerate() {
            let t = line.trim_start();
            let t = t
                .strip_prefix("pub(crate) ")
                .or_else(|| t.strip_prefix("pub "))
                .unwrap_or(t);
            if t.starts_with("static ") || t.starts_with("thread_local!") {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "process-wide state: {found:#?}");
}

/// Only `integrity::verified` says a signature verified: the facts that
/// carry a verification result (`SignatureCheck::Verified`, `Ballot`,
/// `Checked`) are built there and nowhere else in production code. Decide
/// takes them as data and cannot tell who built them, so this test is what
/// keeps a "verified" vote or an unforged grant from being made up
/// elsewhere. A line that matches on one (`=>`, `let`, `for`) is a pattern,
/// not a construction.
#[test]
fn only_integrity_verified_builds_signature_results() {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let mut found = Vec::new();
    for path in &paths {
        let file = rel(path);
        if file == "integrity/verified.rs" || file == "decide/facts.rs" {
            continue;
        }
        let code = production(&std::fs::read_to_string(path).expect("read"));
        for (n, line) in code.lines().enumerate() {
            let t = line.trim_start();
            let pattern = t.contains("=>")
                || t.starts_with("let ")
                || t.starts_with("for ")
                || t.contains("if let ")
                || t.contains("while let ");
            let builds = ["SignatureCheck::Verified {", "Ballot {", "Checked {"]
                .iter()
                .any(|w| t.contains(w));
            if builds && !pattern {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "signature results built outside integrity::verified: {found:#?}"
    );
}
