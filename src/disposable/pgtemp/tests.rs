//! Unit tests of the disposable cluster: the major-version parsing and the
//! options each major gets, without a server; and the reaper, on a real
//! cluster, killing what it started and nothing that merely names it.

use super::*;
use std::os::unix::process::CommandExt as _;

#[test]
fn the_major_is_read_from_every_shape_of_version_line() {
    for (line, major) in [
        ("postgres (PostgreSQL) 13.23", Some(13)),
        ("postgres (PostgreSQL) 14.23\n", Some(14)),
        (
            "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
            Some(15),
        ),
        ("postgres (PostgreSQL) 18beta1", Some(18)),
        ("postgres (PostgreSQL) 9.6.24", Some(9)),
        ("postgres (PostgreSQL)", None),
        ("", None),
    ] {
        assert_eq!(parse_major(line), major, "{line:?}");
    }
}

/// A bin directory whose `postgres --version` prints `line`.
fn fake_server(line: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dot-abs-fake-pg-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    let postgres = dir.join("postgres");
    fs::write(&postgres, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
    fs::set_permissions(&postgres, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_server_older_than_13_is_refused_by_name_and_13_is_taken() {
    let old = fake_server("postgres (PostgreSQL) 12.22");
    let err = server_version(&old).unwrap_err();
    assert!(matches!(err, PgTempError::TooOld { .. }), "{err}");
    assert!(err.to_string().contains("12.22") && err.to_string().contains("13 or later"));
    let ok = fake_server("postgres (PostgreSQL) 13.23");
    assert_eq!(
        server_version(&ok).unwrap(),
        (13, "postgres (PostgreSQL) 13.23".to_owned())
    );
    let odd = fake_server("no version here");
    assert!(matches!(
        server_version(&odd),
        Err(PgTempError::UnknownVersion { .. })
    ));
    for d in [old, ok, odd] {
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn initdb_is_given_no_instructions_only_from_14_on() {
    let base = [
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "-N",
    ];
    assert_eq!(ServerOptions { major: 13 }.initdb_args(), base.to_vec());
    for major in 14..=18 {
        let mut want = base.to_vec();
        want.push("--no-instructions");
        assert_eq!(ServerOptions { major }.initdb_args(), want, "{major}");
    }
}

#[test]
fn the_clone_names_a_strategy_only_from_15_on() {
    for major in [13, 14] {
        assert_eq!(
            ServerOptions { major }.clone_sql("t_1", "tpl"),
            r#"CREATE DATABASE "t_1" TEMPLATE "tpl""#,
            "{major}"
        );
    }
    for major in 15..=18 {
        assert_eq!(
            ServerOptions { major }.clone_sql("t_1", "tpl"),
            r#"CREATE DATABASE "t_1" TEMPLATE "tpl" STRATEGY FILE_COPY"#,
            "{major}"
        );
    }
}

/// Whether `pid` runs (a zombie has exited).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s[s.rfind(')')? + 1..].split_whitespace().next()?.to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// The postmaster of `cluster` and every process descended from it, read
/// from /proc by parent pid (not by the reaper's own rules).
fn server_processes(cluster: &Cluster) -> Vec<u32> {
    let text = fs::read_to_string(cluster.data_dir().join("postmaster.pid")).unwrap();
    let postmaster: u32 = text.lines().next().unwrap().trim().parse().unwrap();
    let parent_of = |pid: u32| -> Option<u32> {
        let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        s[s.rfind(')')? + 1..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let mut family = vec![postmaster];
    let mut i = 0;
    while let Some(&parent) = family.get(i) {
        family.extend(all.iter().filter(|p| parent_of(**p) == Some(parent)));
        i += 1;
    }
    family
}

/// A `sleep 60` whose command line names `dir`, as a process of someone
/// else's could (`exec -a`): argv[0] is "<dir>/data/postgres -D <dir>/data".
fn decoy_naming(dir: &Path) -> std::process::Child {
    let data = dir.join("data");
    Command::new("sleep")
        .arg0(format!("{}/postgres -D {}", data.display(), data.display()))
        .arg("60")
        .spawn()
        .unwrap()
}

#[test]
fn dropping_a_cluster_stops_its_server_and_spares_a_process_that_only_names_its_path() {
    let cluster = Cluster::start().unwrap();
    let root = cluster.scratch_dir().to_owned();
    let _backend = cluster.connect(SUPERUSER, "postgres").unwrap();
    let server = server_processes(&cluster);
    assert!(
        server.len() > 1,
        "a postmaster and its children: {server:?}"
    );
    let mut decoy = decoy_naming(&root);
    drop(cluster);
    let survived = decoy.try_wait().unwrap().is_none();
    let _ = decoy.kill();
    let _ = decoy.wait();
    assert!(survived, "the reaper killed a process it did not start");
    let left: Vec<u32> = server.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(!root.exists());
}

#[test]
fn when_pg_ctl_cannot_stop_it_the_reaper_kills_the_postmaster_and_its_children_and_nothing_else() {
    let cluster = Cluster::start().unwrap();
    let root = cluster.scratch_dir().to_owned();
    let _backend = cluster.connect(SUPERUSER, "postgres").unwrap();
    let server = server_processes(&cluster);
    assert!(
        server.len() > 1,
        "a postmaster and its children: {server:?}"
    );
    let mut decoy = decoy_naming(&root);
    // A bin directory without pg_ctl: only the reaper's kills stop it.
    let no_pg_ctl = root.join("no-bin");
    fs::create_dir(&no_pg_ctl).unwrap();
    Teardown::new(&root, &no_pg_ctl, cluster.run_as_postgres).run();
    let survived = decoy.try_wait().unwrap().is_none();
    let _ = decoy.kill();
    let _ = decoy.wait();
    assert!(survived, "the reaper killed a process it did not start");
    let left: Vec<u32> = server.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(!root.exists());
}
