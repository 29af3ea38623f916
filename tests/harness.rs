//! `harness` end to end: the binary alone starts its cluster, runs every
//! fixture and both races, and says so in one JSON verdict.
mod common;
use common::*;

#[test]
fn harness_runs_every_fixture_and_both_races_and_all_pass() {
    let out = std::process::Command::new(BIN)
        .args(["harness", "--json"])
        .output()
        .unwrap();
    let run = Run {
        argv: vec!["harness".into(), "--json".into()],
        output: out,
    };
    let json = run.json();
    let cases = json["cases"].as_array().unwrap();
    // The fixture cases run here, once, through the harness (as the
    // operator runs them); a failing one is named with why.
    let failing: Vec<String> = cases
        .iter()
        .filter(|c| c["pass"] != true)
        .map(|c| format!("{}: {}", c["case"], c["failures"]))
        .collect();
    assert!(failing.is_empty(), "failing cases:\n{}", failing.join("\n"));
    run.expect(0, "OK", "HARNESS_PASSED");
    let fixtures: usize = dot_authorize_build_step::disposable::cases::suites()
        .iter()
        .map(|(_, s)| s.cases.len())
        .sum();
    assert_eq!(
        cases.len(),
        fixtures + 15,
        "bind/unbind + roles and constraints + every fixture + 2 races + 4 of issue 18 + 4 of issue 22 + 3 of issue 18 (1, 2, 4)"
    );
    assert_eq!(json["passed"], cases.len());
    assert_eq!(json["failed"], 0);
    // It names the server it ran on: the one PG_BIN (or the search) finds.
    let bin = dot_authorize_build_step::disposable::pgtemp::find_bindir().unwrap();
    let (_, version) = dot_authorize_build_step::disposable::pgtemp::server_version(&bin).unwrap();
    assert_eq!(
        json["server"],
        format!("{version} in {}", bin.display()),
        "{json}"
    );
    for name in [
        "staged/bind-then-unbind",
        "race/execute-x64",
        "race/consume-x64",
        "execute/positive_rerun",
        "issue18/options-dot-setting",
        "issue18/patch-arm-redefined",
        "issue18/invisible-in-human-output",
        "issue18/resolved-once",
        "issue22/vote-as-another",
        "issue22/superuser-approvals",
        "issue22/role-search-path",
        "issue22/public-may-create",
        "issue18/expired-spend-by-hand",
        "issue18/spend-replayed",
        "issue18/forged-row-blocks-nothing",
    ] {
        assert!(
            cases.iter().any(|c| c["case"] == name && c["pass"] == true),
            "{name}"
        );
    }
}

#[test]
fn missing_server_binaries_are_an_error_that_says_how_to_install_them() {
    let empty = std::env::temp_dir().join(format!("dot-abs-no-pg-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["harness", "--json"])
        .env("PG_BIN", &empty)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&empty).ok();
    let run = Run {
        argv: vec!["harness".into(), "--json".into()],
        output: out,
    };
    run.expect(5, "ERROR", "ERROR_IO");
    let message = run.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("apt-get install postgresql") && message.contains("PG_BIN"),
        "{message}"
    );
}

/// The scratch directories in /dev/shm (or the temp dir) owned by `pid`.
fn scratch_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("dot-abs-pg-{pid}-");
    ["/dev/shm".into(), std::env::temp_dir()]
        .iter()
        .filter_map(|base: &std::path::PathBuf| std::fs::read_dir(base).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Processes whose command line mentions `dir` (a postgres serving it).
fn processes_using(dir: &std::path::Path) -> usize {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&needle))
        .count()
}

/// Starts `harness` and waits until its cluster's server runs. The caller
/// signals and waits for the child.
#[allow(clippy::zombie_processes)]
fn harness_with_a_running_cluster() -> (std::process::Child, std::path::PathBuf) {
    let child = std::process::Command::new(BIN)
        .arg("harness")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(dir) = scratch_of(child.id())
            .into_iter()
            .find(|d| d.join("data/postmaster.pid").exists())
        {
            return (child, dir);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "harness started no cluster in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_harness_stops_its_postgres_and_leaves_nothing_in_dev_shm() {
    for signal in ["-INT", "-TERM"] {
        let (child, dir) = harness_with_a_running_cluster();
        assert!(processes_using(&dir) > 0);
        let sent = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let want = if signal == "-INT" { 130 } else { 143 }; // 128 + SIGINT (2) or SIGTERM (15)
        assert_eq!(
            out.status.code(),
            Some(want),
            "{signal}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dir.exists(), "{signal}: {} is still there", dir.display());
        let left = processes_listing(&dir);
        assert!(
            left.is_empty(),
            "{signal}: still running for {}: {left:?}",
            dir.display()
        );
    }
}

fn processes_listing(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            std::fs::read(e.path().join("cmdline"))
                .ok()
                .map(|c| (e.file_name(), c))
        })
        .filter(|(_, c)| String::from_utf8_lossy(c).contains(&needle))
        .map(|(n, c)| format!("{n:?} {}", String::from_utf8_lossy(&c).replace('\0', " ")))
        .collect()
}

#[test]
fn a_cluster_left_by_a_killed_process_is_reaped_when_the_next_one_starts() {
    let (mut child, dir) = harness_with_a_running_cluster();
    child.kill().unwrap(); // SIGKILL: no chance to tear down
    child.wait().unwrap();
    assert!(
        dir.exists() && processes_using(&dir) > 0,
        "the kill left nothing to reap"
    );
    let _pg = Pg::start();
    assert!(!dir.exists(), "{} was not reaped", dir.display());
    assert_eq!(processes_using(&dir), 0);
}

/// Whether `pid` runs (a zombie has exited).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s[s.rfind(')')? + 1..].split_whitespace().next()?.to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[test]
fn reaping_a_dead_owners_cluster_spares_a_process_that_only_names_its_path() {
    // Issue 19: the reaper killed any process whose command line held the
    // cluster's path; it kills only the postmaster the cluster's own
    // postmaster.pid names (and what descends from it).
    use std::os::unix::process::CommandExt as _;
    let (mut child, dir) = harness_with_a_running_cluster();
    // The postmaster's own pid file (initdb's single-user backends write
    // a negative pid), once it is ready.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let postmaster: u32 = loop {
        let text = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if let (Some(Ok(pid)), Some("ready")) = (
            lines.first().map(|l| l.trim().parse()),
            lines.get(7).map(|l| l.trim()),
        ) {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no ready postmaster");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL: no chance to tear down
    child.wait().unwrap();
    assert!(alive(postmaster), "the kill left nothing to reap");
    let mut decoy = std::process::Command::new("sleep")
        .arg0(format!("{}/data/postgres", dir.display()))
        .arg("60")
        .spawn()
        .unwrap();
    // A cluster of its own: the shared one may have started already.
    let _pg = Pg::own();
    let survived = decoy.try_wait().unwrap().is_none();
    let _ = decoy.kill();
    let _ = decoy.wait();
    assert!(!dir.exists(), "{} was not reaped", dir.display());
    assert!(!alive(postmaster), "its postmaster {postmaster} still runs");
    assert!(survived, "the reaper killed a process it did not start");
}

#[test]
fn a_cluster_kept_with_keep_is_never_reaped_by_another_run() {
    // Issue 21: `harness --keep` exits, so its pid is gone, and the next
    // run's reaper took the kept cluster for a leftover. A KEPT file marks
    // it as kept; an unmarked leftover of a dead owner is still reaped.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let kept = base.join(format!("dot-abs-pg-{dead}-kept-0"));
    let left = base.join(format!("dot-abs-pg-{dead}-left-0"));
    for dir in [&kept, &left] {
        std::fs::create_dir_all(dir.join("data")).unwrap();
    }
    std::fs::write(kept.join("KEPT"), "kept by harness --keep\n").unwrap();
    let _pg = Pg::own();
    let (kept_survived, left_survived) = (kept.exists(), left.exists());
    let _ = std::fs::remove_dir_all(&kept);
    let _ = std::fs::remove_dir_all(&left);
    assert!(kept_survived, "{} (marked KEPT) was reaped", kept.display());
    assert!(
        !left_survived,
        "{} (unmarked) was not reaped",
        left.display()
    );
}
