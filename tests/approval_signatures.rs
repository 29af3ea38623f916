//! Signed approvals cross-checked with the real OpenSSH tools: what
//! `ssh-keygen -Y sign` makes, `approval::verify` counts; what we sign
//! (key file or ssh-agent), `ssh-keygen -Y verify` accepts; and for a table
//! of allowed_signers lines both decide alike. Needs openssh-client.

use dot_authorize_build_step::integrity::approval::{self, NotCounted};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is not installed; these tests cross-check with OpenSSH: apt-get install openssh-client");
}

/// A private temporary directory, removed on drop (even after a panic).
struct Tmp(PathBuf);

impl Tmp {
    fn new(what: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "dot-abs-approval-{what}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Tmp(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &[u8], mode: u32) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ran {
    argv: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    fn expect_ok(self) -> Ran {
        assert!(self.ok(), "{self}");
        self
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "argv: {}\nexit: {:?}\nstdout: {}\nstderr: {}",
            self.argv, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command with `stdin`, killed if it outlives `WAIT`.
fn run(mut cmd: Command, stdin: &[u8]) -> Ran {
    let argv = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {argv}: {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{argv} did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Ran {
        argv,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn keygen(args: &[&str]) -> Command {
    let mut c = Command::new(tool("ssh-keygen"));
    c.args(args);
    c
}

/// A new key in `tmp`: (private key path, public line).
fn new_key(tmp: &Tmp, name: &str, kind: &[&str], passphrase: &str) -> (PathBuf, String) {
    let path = tmp.path(name);
    let mut args = vec!["-q", "-C", name, "-N", passphrase, "-f"];
    let shown = path.to_str().unwrap().to_owned();
    args.push(&shown);
    args.extend_from_slice(kind);
    run(keygen(&args), b"").expect_ok();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_owned())
}

fn vote(apr: &str) -> Vec<u8> {
    approval::message(apr, "alice", "approve", &"d".repeat(64)).unwrap()
}

/// `ssh-keygen -Y sign -n dot-apr-approval -f KEY` over `msg` (stdin).
fn openssh_sign(key: &Path, msg: &[u8], extra: &[&str]) -> String {
    let mut args = vec![
        "-Y",
        "sign",
        "-n",
        approval::NAMESPACE,
        "-f",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(keygen(&args), msg).expect_ok().stdout
}

/// `ssh-keygen -Y verify -f ALLOWED -I principal -n dot-apr-approval -s SIG < msg`.
fn openssh_verify(tmp: &Tmp, allowed: &str, principal: &str, sig: &str, msg: &[u8]) -> Ran {
    let allowed = tmp.write("allowed_signers", allowed.as_bytes(), 0o600);
    let sig = tmp.write("vote.sig", sig.as_bytes(), 0o600);
    let args = [
        "-Y",
        "verify",
        "-f",
        allowed.to_str().unwrap(),
        "-I",
        principal,
        "-n",
        approval::NAMESPACE,
        "-s",
        sig.to_str().unwrap(),
    ];
    run(keygen(&args), msg)
}

fn ours(
    allowed: &str,
    principal: &str,
    sig: &str,
    msg: &[u8],
) -> Result<approval::Verified, NotCounted> {
    let a = approval::AllowedSigners::parse(allowed, "allowed_signers")
        .map_err(|e| NotCounted::Unreadable(format!("allowed signers refused: {e}")))?;
    approval::verify(&a, principal, msg, Some(sig), chrono::Utc::now())
}

fn fingerprint(public_path: &Path) -> String {
    let out = run(
        keygen(&["-l", "-E", "sha256", "-f", public_path.to_str().unwrap()]),
        b"",
    )
    .expect_ok()
    .stdout;
    out.split_whitespace().nth(1).unwrap().to_owned()
}

const KINDS: &[(&str, &[&str])] = &[
    ("ed25519", &["-t", "ed25519"]),
    ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
    ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
    ("rsa", &["-t", "rsa", "-b", "2048"]),
];

#[test]
fn ssh_keygen_signatures_count_and_ours_pass_ssh_keygen_verify_for_each_key_type() {
    let tmp = Tmp::new("types");
    let msg = vote("APR-1");
    for (name, kind) in KINDS {
        // given a key of this type listed for alice
        let (key, public) = new_key(&tmp, name, kind, "");
        let allowed = format!("alice {public}\n");
        // when ssh-keygen signs, then we count it, naming the key
        for extra in [&[][..], &["-O", "hashalg=sha256"][..]] {
            let theirs = openssh_sign(&key, &msg, extra);
            let v = ours(&allowed, "alice", &theirs, &msg)
                .unwrap_or_else(|e| panic!("{name} {extra:?}: {}", e.reason()));
            assert_eq!(
                v.fingerprint,
                fingerprint(&key.with_extension("pub")),
                "{name}"
            );
            assert_eq!(v.signature_sha256.len(), 64);
            assert_eq!(
                ours(&allowed, "alice", &theirs, &vote("APR-2")).unwrap_err(),
                NotCounted::BadSignature,
                "{name}: a signature over another vote"
            );
        }
        // when we sign with the key file, then ssh-keygen verifies it
        let mine = approval::sign_with_key_file(&key, &msg).unwrap();
        let r = openssh_verify(&tmp, &allowed, "alice", &mine, &msg);
        assert!(r.ok(), "{name}: {r}");
        assert!(ours(&allowed, "alice", &mine, &msg).is_ok());
        let r = openssh_verify(&tmp, &allowed, "alice", &mine, &vote("APR-2"));
        assert!(!r.ok(), "{name}: ssh-keygen accepts another vote: {r}");
        // Ed25519 is deterministic: our armor is byte for byte ssh-keygen's.
        if *name == "ed25519" {
            assert_eq!(mine, openssh_sign(&key, &msg, &[]));
        }
    }
}

#[test]
fn ours_and_ssh_keygen_decide_alike_for_a_table_of_allowed_signers_lines() {
    let tmp = Tmp::new("table");
    let (key, k) = new_key(&tmp, "alice", &["-t", "ed25519"], "");
    let (_, other) = new_key(&tmp, "mallory", &["-t", "ed25519"], "");
    let msg = vote("APR-3");
    let sig = openssh_sign(&key, &msg, &[]);
    let now = chrono::Utc::now();
    let stamp = |d: chrono::TimeDelta| (now + d).format("%Y%m%d%H%M%S").to_string();
    let hour = chrono::TimeDelta::hours(1);
    let (past, future) = (stamp(-hour), stamp(hour));
    // (allowed_signers line, principal, counted)
    let table: Vec<(String, &str, bool)> = vec![
        (format!("alice {k}"), "alice", true),
        (format!("alice {k}"), "Alice", false),
        (format!("bob {k}"), "alice", false),
        (format!("alice {other}"), "alice", false),
        (format!("al* {k}"), "alice", true),
        (format!("a?ice {k}"), "alice", true),
        (format!("a?ce {k}"), "alice", false),
        (format!("*,!alice {k}"), "alice", false),
        (format!("*,!alice {k}"), "bob", true),
        (format!("\"bob,alice\" {k}"), "alice", true),
        (format!("bob,alice {k} comment here"), "alice", true),
        (format!("alice namespaces=\"dot-apr-approval\" {k}"), "alice", true),
        (format!("alice namespaces=\"git,file\" {k}"), "alice", false),
        (format!("alice namespaces=\"dot-*\" {k}"), "alice", true),
        (format!("alice namespaces=\"*,!dot-apr-approval\" {k}"), "alice", false),
        (format!("alice valid-after=\"{past}Z\" {k}"), "alice", true),
        (format!("alice valid-after=\"{future}Z\" {k}"), "alice", false),
        (format!("alice valid-before=\"{past}Z\" {k}"), "alice", false),
        (format!("alice valid-before=\"{future}Z\" {k}"), "alice", true),
        (format!("alice valid-before=\"{future}\" {k}"), "alice", true),
        (format!("alice valid-after=\"20200101\" {k}"), "alice", true),
        (format!("alice valid-before=\"20200101\" {k}"), "alice", false),
        (format!("alice valid-after=\"20990101Z\" {k}"), "alice", false),
        (
            format!("alice valid-after=\"20200101\",valid-before=\"20990101\",namespaces=\"dot-apr-approval\" {k}"),
            "alice",
            true,
        ),
        (format!("alice namespaces=\"git\" {k}\nalice {k}"), "alice", true),
        // We refuse the whole file; ssh-keygen, given a plain key, refuses the signature.
        (format!("alice cert-authority {k}"), "alice", false),
    ];
    for (line, principal, counted) in table {
        let allowed = format!("# table\n{line}\n");
        let theirs = openssh_verify(&tmp, &allowed, principal, &sig, &msg);
        let mine = ours(&allowed, principal, &sig, &msg);
        assert_eq!(
            theirs.ok(),
            counted,
            "ssh-keygen on {line:?} as {principal}: {theirs}"
        );
        assert_eq!(
            mine.is_ok(),
            counted,
            "ours on {line:?} as {principal}: {:?}",
            mine.map_err(|e| e.reason())
        );
    }
}

/// An ssh-agent on a socket in a temporary directory, killed on drop.
struct Agent {
    child: std::process::Child,
    sock: PathBuf,
}

impl Agent {
    fn start(tmp: &Tmp) -> Agent {
        let sock = tmp.path("agent.sock");
        let child = Command::new(tool("ssh-agent"))
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start ssh-agent");
        let agent = Agent { child, sock };
        let deadline = Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(&agent.sock).is_err() {
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not listen within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// `ssh-add KEY`, the passphrase given by an askpass script.
    fn add(&self, tmp: &Tmp, key: &Path, passphrase: &str) {
        let askpass = tmp.write(
            "askpass.sh",
            format!("#!/bin/sh\nprintf '%s\\n' '{passphrase}'\n").as_bytes(),
            0o700,
        );
        let mut cmd = Command::new(tool("ssh-add"));
        cmd.arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", "none");
        run(cmd, b"").expect_ok();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn signatures_made_through_ssh_agent_pass_ssh_keygen_verify_and_ours() {
    let tmp = Tmp::new("agent");
    // given an encrypted ed25519 key (used only through the agent) and an RSA key
    let (locked, locked_pub) = new_key(&tmp, "locked", &["-t", "ed25519"], "correct horse");
    let (rsa, rsa_pub) = new_key(&tmp, "rsa", &["-t", "rsa", "-b", "2048"], "");
    let agent = Agent::start(&tmp);
    agent.add(&tmp, &locked, "correct horse");
    agent.add(&tmp, &rsa, "");
    let allowed = format!("alice {locked_pub}\nalice {rsa_pub}\n");
    let signers = approval::AllowedSigners::parse(&allowed, "allowed").unwrap();
    let held = approval::agent_identities(&agent.sock).unwrap();
    let usable = signers.listed_for("alice", chrono::Utc::now());
    assert_eq!(usable.len(), 2);
    assert_eq!(held.len(), 2);
    let msg = vote("APR-4");
    for key in &usable {
        assert!(held.iter().any(|h| h.key_data() == key.key_data()));
        // when the agent signs, then ssh-keygen and we both count it
        let sig = approval::sign_with_agent(&agent.sock, key, &msg).unwrap();
        let r = openssh_verify(&tmp, &allowed, "alice", &sig, &msg);
        assert!(r.ok(), "{}: {r}", key.algorithm());
        let v = approval::verify(&signers, "alice", &msg, Some(&sig), chrono::Utc::now()).unwrap();
        assert_eq!(
            v.fingerprint,
            key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
        );
    }
    // A key the agent does not hold is refused, with a message saying so.
    let (_, stranger) = new_key(&tmp, "stranger", &["-t", "ed25519"], "");
    let stranger = ssh_key::PublicKey::from_openssh(&stranger).unwrap();
    let err = approval::sign_with_agent(&agent.sock, &stranger, &msg).unwrap_err();
    assert!(err.contains("refused to sign"), "{err}");
    let err = approval::agent_identities(&tmp.path("no.sock")).unwrap_err();
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn key_and_allowed_signers_files_are_checked_before_use() {
    let tmp = Tmp::new("files");
    let (key, public) = new_key(&tmp, "k", &["-t", "ed25519"], "");
    // A key others may read is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = approval::sign_with_key_file(&key, b"m").unwrap_err();
    assert!(
        err.contains("mode 0640") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The public half is not a private key.
    std::fs::set_permissions(
        key.with_extension("pub"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let err = approval::sign_with_key_file(&key.with_extension("pub"), b"m").unwrap_err();
    assert!(err.contains("not an OpenSSH private key"), "{err}");
    assert_eq!(
        approval::read_public_key(&key.with_extension("pub"))
            .unwrap()
            .key_data(),
        ssh_key::PublicKey::from_openssh(&public)
            .unwrap()
            .key_data()
    );
    assert!(approval::read_public_key(&key)
        .unwrap_err()
        .contains("is a private key"));

    let good = tmp.write("allowed", format!("alice {public}\n").as_bytes(), 0o644);
    assert_eq!(approval::load_allowed_signers(&good).unwrap().len(), 1);
    let loose = tmp.write("loose", format!("alice {public}\n").as_bytes(), 0o664);
    let err = approval::load_allowed_signers(&loose).unwrap_err();
    assert!(
        err.contains("mode 0664") && err.contains("chmod go-w"),
        "{err}"
    );
    let err = approval::load_allowed_signers(&tmp.path("missing")).unwrap_err();
    assert!(
        err.starts_with("allowed signers ") && err.contains("No such file"),
        "{err}"
    );
    let err = approval::load_allowed_signers(&tmp.0).unwrap_err();
    assert!(err.contains("not a regular file"), "{err}");
    let bad = tmp.write("bad", format!("alice\nbob {public}\n").as_bytes(), 0o600);
    let err = approval::load_allowed_signers(&bad).unwrap_err();
    assert!(
        err.contains(&format!("{}:1: invalid line", bad.display())),
        "{err}"
    );
    let empty = tmp.write("empty", b"# none yet\n", 0o600);
    let err = approval::load_allowed_signers(&empty).unwrap_err();
    assert!(err.contains("lists no key"), "{err}");
}
