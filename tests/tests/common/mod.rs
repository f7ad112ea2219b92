//! Harness for the end-to-end tests: runs real `signetd` processes and drives
//! them through the real `signet` CLI.
//!
//! Everything here is bounded in time: every CLI invocation is killed after a
//! timeout, every wait polls against a deadline, and dropping a [`Node`] kills
//! its daemon. When a test panics, each node prints the tail of its daemon log
//! (set `SIGNET_E2E_KEEP=1` to also keep the temporary directories).

// Each test file compiles this module separately and uses a different subset.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tempfile::TempDir;

/// Default bound for a single CLI invocation.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for a single CLI invocation made while polling.
const POLL_CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a freshly started daemon may take to answer `cluster status`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM may take to stop a daemon.
const SIGTERM_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Raft settings that make snapshots (and snapshot-based catch-up) happen
/// after a few dozen writes.
pub const SNAPSHOT_CONFIG: &str = "\
[raft]
snapshot_after_entries = 20
keep_entries_after_snapshot = 5
";

// ---------------------------------------------------------------------------
// Process-wide helpers
// ---------------------------------------------------------------------------

/// Serializes the cluster tests. They are timing-sensitive (failover must
/// happen within 2 s) and each one runs several daemons, so running them in
/// parallel on a small machine would only produce flaky timings.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test must still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `<target>/debug`, derived from the test executable's location
/// (`<target>/debug/deps/cluster-<hash>`).
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot determine the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable location {}", exe.display()))
        .to_path_buf()
}

/// Locates a binary of the `signet-appliance` package. `CARGO_BIN_EXE_*` only
/// works within the package that defines the binary, hence the lookup.
fn binary(name: &str, override_var: &str) -> PathBuf {
    let path = match std::env::var_os(override_var) {
        Some(p) => PathBuf::from(p),
        None => target_profile_dir().join(name),
    };
    assert!(
        path.is_file(),
        "{name} binary not found at {}: run `cargo build -p signet-appliance` first \
         (or point {override_var} at the binary)",
        path.display()
    );
    path
}

pub fn signetd_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| binary("signetd", "SIGNETD_BIN"))
}

pub fn signet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| binary("signet", "SIGNET_BIN"))
}

/// A loopback port that is free right now. Ports already handed out by this
/// process are never returned again, so nodes of one test cannot collide even
/// if the kernel would reuse a just-released port.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local_addr of a bound listener")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Runs `cmd` to completion, capturing stdout and stderr, but kills it after
/// `timeout`. Returns `None` if it had to be killed.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Option<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("try_wait on a CLI child") {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out_reader.join().expect("stdout reader thread panicked");
    let stderr = err_reader.join().expect("stderr reader thread panicked");
    status.map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

/// Human-readable summary of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Asserts the CLI contract for failures: a non-zero exit (not a crash by
/// signal) and exactly one non-empty, non-panic line on stderr. Returns that
/// line.
pub fn assert_clear_error(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what}: expected failure, but it succeeded\n{}",
        describe(out)
    );
    assert!(
        out.status.code().is_some(),
        "{what}: expected a non-zero exit, but the process died by a signal\n{}",
        describe(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() == 1 && !stderr.contains("panicked"),
        "{what}: expected exactly one clear error line on stderr\n{}",
        describe(out)
    );
    lines[0].trim().to_string()
}

/// Polls `check` every 100 ms until it returns `Ok`, panicking after
/// `timeout` with `what` and the last observation (the `Err` text).
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}")
            }
            Err(_) => thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Waits for `child` to exit, for at most `timeout`.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on signetd") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// `cluster status` accessors
// ---------------------------------------------------------------------------

pub fn members(status: &Value) -> &Vec<Value> {
    status["members"]
        .as_array()
        .unwrap_or_else(|| panic!("status without a members array: {status}"))
}

pub fn member_ids(status: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = members(status)
        .iter()
        .map(|m| {
            m["node_id"]
                .as_u64()
                .unwrap_or_else(|| panic!("member without node_id: {m}"))
        })
        .collect();
    ids.sort_unstable();
    ids
}

pub fn voter_count(status: &Value) -> usize {
    members(status)
        .iter()
        .filter(|m| m["voter"].as_bool() == Some(true))
        .count()
}

pub fn node_id_of(status: &Value) -> u64 {
    status["node_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("status without node_id: {status}"))
}

pub fn is_standalone(status: &Value) -> bool {
    status["standalone"]
        .as_bool()
        .unwrap_or_else(|| panic!("status without standalone flag: {status}"))
}

pub fn leader_id(status: &Value) -> Option<u64> {
    status["diagnostics"]["leader_id"].as_u64()
}

pub fn snapshot_index(status: &Value) -> Option<u64> {
    status["diagnostics"]["snapshot_index"].as_u64()
}

pub fn last_applied(status: &Value) -> Option<u64> {
    status["diagnostics"]["last_applied"].as_u64()
}

/// True if the node reports itself as a single-node standalone cluster.
pub fn is_alone(status: &Value) -> bool {
    is_standalone(status) && member_ids(status) == vec![node_id_of(status)]
}

// ---------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------

/// One `signetd` process with its own temporary directory:
///
/// ```text
/// <root>/data/         --data-dir (nothing else is ever put here)
/// <root>/signetd.toml  --config, if any
/// <root>/signetd.log   daemon stdout+stderr, appended across restarts
/// ```
///
/// The ports are fixed for the node's lifetime so restarts keep the address
/// the other members know.
pub struct Node {
    pub name: String,
    /// `None` only after `Drop` decided to keep the directory.
    root: Option<TempDir>,
    data_dir: PathBuf,
    log_path: PathBuf,
    config_path: Option<PathBuf>,
    pub admin_port: u16,
    pub cluster_port: u16,
    child: Option<Child>,
    /// Last node id seen in this node's own `cluster status`.
    node_id: Option<u64>,
}

impl Node {
    /// Prepares a node (directories, config, ports) without starting it.
    pub fn new(name: &str, config: Option<&str>) -> Node {
        let root = tempfile::Builder::new()
            .prefix(&format!("signet-e2e-{name}-"))
            .tempdir()
            .expect("cannot create a temporary directory");
        let data_dir = root.path().join("data");
        fs::create_dir(&data_dir).expect("cannot create the data directory");
        let config_path = config.map(|toml| {
            let path = root.path().join("signetd.toml");
            fs::write(&path, toml).expect("cannot write the signetd config");
            path
        });
        Node {
            name: name.to_string(),
            log_path: root.path().join("signetd.log"),
            root: Some(root),
            data_dir,
            config_path,
            admin_port: free_port(),
            cluster_port: free_port(),
            child: None,
            node_id: None,
        }
    }

    /// Prepares, starts and waits until the node answers `cluster status`.
    pub fn spawn(name: &str, config: Option<&str>) -> Node {
        let mut node = Node::new(name, config);
        node.start();
        node.wait_ready();
        node
    }

    /// The running signetd's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Whether the harness currently holds a daemon process for this node
    /// (it may still have died on its own; see [`Node::is_running`]).
    pub fn has_process(&self) -> bool {
        self.child.is_some()
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().expect("try_wait on signetd").is_none(),
            None => false,
        }
    }

    /// Node id as of the last `wait_ready`/`status` call.
    pub fn node_id(&self) -> u64 {
        self.node_id
            .unwrap_or_else(|| panic!("node {}: node id not known yet", self.name))
    }

    /// Starts the daemon without waiting for it to become ready.
    pub fn start(&mut self) {
        assert!(
            self.child.is_none(),
            "node {}: start() while a daemon is already running",
            self.name
        );
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("cannot open the daemon log");
        let _ = writeln!(log, "===== harness: starting signetd =====");

        let mut cmd = Command::new(signetd_bin());
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen-admin")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .arg("--listen-cluster")
            .arg(format!("127.0.0.1:{}", self.cluster_port));
        if let Some(config) = &self.config_path {
            cmd.arg("--config").arg(config);
        }
        cmd.env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().expect("cannot clone the log handle"),
            ))
            .stderr(Stdio::from(log));
        // Backstop against orphaned daemons if the test process dies without
        // running destructors. The signal fires when the spawning *thread*
        // exits, which is fine: nodes live and die within their test's thread.
        // SAFETY: prctl is async-signal-safe and touches no shared state.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("node {}: cannot spawn signetd: {e}", self.name));
        self.child = Some(child);
    }

    /// Polls `cluster status` until it succeeds (at most 30 s) and returns it.
    /// Panics early, with the log tail, if the daemon exits meanwhile.
    pub fn wait_ready(&mut self) -> Value {
        let start = Instant::now();
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait().expect("try_wait on signetd")
            {
                panic!(
                    "node {}: signetd exited with {status} before becoming ready\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            let last = match self.try_cli_json(&["cluster", "status"]) {
                Ok(status) => {
                    self.node_id = Some(node_id_of(&status));
                    return status;
                }
                Err(e) => e,
            };
            if start.elapsed() >= READY_TIMEOUT {
                panic!(
                    "node {}: not ready after {READY_TIMEOUT:?}; last `cluster status`: {last}",
                    self.name
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGKILLs the daemon and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {}: kill9() without a running daemon", self.name));
        let _ = child.kill(); // std's kill() sends SIGKILL
        let _ = child.wait();
    }

    /// Sends SIGTERM and asserts a clean exit (status 0) within 20 s.
    pub fn sigterm(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("node {}: sigterm() without a running daemon", self.name));
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits in i32"));
        kill(pid, Signal::SIGTERM).expect("cannot send SIGTERM");
        let Some(status) = wait_child(&mut child, SIGTERM_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "node {}: signetd did not exit within {SIGTERM_TIMEOUT:?} of SIGTERM\n{}",
                self.name,
                self.log_tail(40)
            );
        };
        assert!(
            status.success(),
            "node {}: signetd exited with {status} after SIGTERM, expected 0\n{}",
            self.name,
            self.log_tail(40)
        );
    }

    /// Waits (at most `timeout`) for the daemon to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self
            .child
            .as_mut()
            .unwrap_or_else(|| panic!("node {}: wait_exit() without a daemon", self.name));
        let Some(status) = wait_child(child, timeout) else {
            panic!(
                "node {}: signetd still running after {timeout:?}, expected it to exit\n{}",
                self.name,
                self.log_tail(40)
            );
        };
        self.child = None;
        status
    }

    /// Stops the daemon if it is running (SIGTERM), starts it again and waits
    /// until it is ready.
    pub fn restart(&mut self) -> Value {
        if self.child.is_some() {
            self.sigterm();
        }
        self.start();
        self.wait_ready()
    }

    /// The daemon log as text (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let tail = all[all.len().saturating_sub(lines)..].join("\n");
        format!(
            "----- node {} ({}) log tail -----\n{tail}\n----- end of node {} log -----",
            self.name,
            self.log_path.display(),
            self.name
        )
    }

    // ---- CLI ---------------------------------------------------------------

    fn cli_command(&self, json: bool, args: &[&str]) -> Command {
        let mut cmd = Command::new(signet_bin());
        cmd.arg("--data-dir").arg(&self.data_dir);
        if json {
            cmd.arg("--json");
        }
        cmd.args(args);
        cmd
    }

    fn run_cli(&self, json: bool, args: &[&str], timeout: Duration) -> Output {
        run_bounded(self.cli_command(json, args), timeout).unwrap_or_else(|| {
            panic!(
                "node {}: `signet {}` did not finish within {timeout:?} (killed)",
                self.name,
                args.join(" ")
            )
        })
    }

    /// Runs `signet --data-dir <this node> ARGS`, bounded by 60 s.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.run_cli(false, args, CLI_TIMEOUT)
    }

    /// Like [`Node::cli`] with an explicit bound; panics if it is exceeded.
    pub fn cli_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        self.run_cli(false, args, timeout)
    }

    /// Runs the command and returns its stdout; panics (with stderr) on failure.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "node {}: `signet {}` failed\n{}",
            self.name,
            args.join(" "),
            describe(&out)
        );
        String::from_utf8(out.stdout).expect("CLI stdout is not UTF-8")
    }

    /// Runs the command with `--json` and parses stdout; panics on failure.
    pub fn cli_ok_json(&self, args: &[&str]) -> Value {
        let out = self.run_cli(true, args, CLI_TIMEOUT);
        assert!(
            out.status.success(),
            "node {}: `signet --json {}` failed\n{}",
            self.name,
            args.join(" "),
            describe(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "node {}: `signet --json {}` printed invalid JSON ({e})\n{}",
                self.name,
                args.join(" "),
                describe(&out)
            )
        })
    }

    /// For polling: `--json` command whose failure (or a hang past 10 s) is
    /// reported as `Err(description)` instead of panicking.
    pub fn try_cli_json(&self, args: &[&str]) -> Result<Value, String> {
        let Some(out) = run_bounded(self.cli_command(true, args), POLL_CLI_TIMEOUT) else {
            return Err(format!("`signet {}` hung (killed)", args.join(" ")));
        };
        if !out.status.success() {
            return Err(format!(
                "`signet {}`: {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "`signet {}` printed invalid JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `cluster status --json`; also refreshes the cached node id.
    pub fn status(&mut self) -> Value {
        let status = self.cli_ok_json(&["cluster", "status"]);
        self.node_id = Some(node_id_of(&status));
        status
    }

    /// Waits (60 s) until this node counts `n` voting members: a join has finished.
    pub fn wait_voters(&self, n: usize) {
        wait_until(
            Duration::from_secs(60),
            &format!("{} to count {n} voters", self.name),
            || {
                let status = self.try_status()?;
                match voter_count(&status) {
                    v if v == n => Ok(()),
                    v => Err(format!("{v} voters: {status}")),
                }
            },
        );
    }

    pub fn try_status(&self) -> Result<Value, String> {
        self.try_cli_json(&["cluster", "status"])
    }

    pub fn add_domain(&self, name: &str) {
        self.cli_ok(&["domain", "add", name]);
    }

    /// Domain names from `domain list --json`, sorted.
    pub fn domains(&self) -> Vec<String> {
        parse_domains(&self.cli_ok_json(&["domain", "list"]))
    }

    pub fn try_domains(&self) -> Result<Vec<String>, String> {
        self.try_cli_json(&["domain", "list"])
            .map(|list| parse_domains(&list))
    }

    /// Asserts that every domain in `expected` is listed on this node.
    pub fn assert_has_domains(&self, expected: &[&str]) {
        let listed = self.domains();
        for d in expected {
            assert!(
                listed.iter().any(|l| l == d),
                "node {}: domain {d} missing from `domain list`: {listed:?}",
                self.name
            );
        }
    }
}

fn parse_domains(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("`domain list --json` is not an array: {list}"))
        .iter()
        .map(|d| {
            d["name"]
                .as_str()
                .unwrap_or_else(|| panic!("domain entry without a name: {d}"))
                .to_string()
        })
        .collect();
    names.sort();
    names
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.log_tail(60));
            if std::env::var_os("SIGNET_E2E_KEEP").is_some()
                && let Some(root) = self.root.take()
            {
                eprintln!("node {}: kept {}", self.name, root.keep().display());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

/// Several nodes joined into one cluster. Node `i` is named "A", "B", ...;
/// index with `cluster[i]`.
pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// A three-node cluster with default settings.
    pub fn three() -> Cluster {
        Cluster::form(3, None)
    }

    pub fn three_with_config(config: Option<&str>) -> Cluster {
        Cluster::form(3, config)
    }

    /// Starts `n` standalone nodes, joins node i with a one-time token issued on
    /// node i-1 (so later joins are sponsored by a follower, which must work as
    /// well as a leader), and waits until every node reports `n` voters.
    pub fn form(n: usize, config: Option<&str>) -> Cluster {
        assert!((1..=26).contains(&n));
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let name = char::from(b'A' + u8::try_from(i).expect("small index")).to_string();
                Node::new(&name, config)
            })
            .collect();
        // Start everyone up front so their initialization overlaps.
        for node in &mut nodes {
            node.start();
        }
        for node in &mut nodes {
            node.wait_ready();
        }
        let mut cluster = Cluster { nodes };
        for i in 1..n {
            cluster.join(i, i - 1);
        }
        cluster.wait_voters(n);

        let ids: HashSet<String> = cluster
            .nodes
            .iter_mut()
            .map(|node| {
                let status = node.status();
                status["cluster_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1, "nodes disagree on cluster_id: {ids:?}");
        cluster
    }

    /// Issues a token on `via` and runs `cluster join` on `joiner`.
    pub fn join(&mut self, joiner: usize, via: usize) {
        let token = issue_token(&self.nodes[via]);
        let out = self.nodes[joiner].cli(&["cluster", "join", &token]);
        assert!(
            out.status.success(),
            "node {}: `cluster join` via node {} failed\n{}",
            self.nodes[joiner].name,
            self.nodes[via].name,
            describe(&out)
        );
        // Refresh the node id: joining may assign a new one.
        self.nodes[joiner].wait_ready();
    }

    /// Waits (30 s) until every node with a process reports exactly `n`
    /// members, all voters.
    pub fn wait_voters(&self, n: usize) {
        wait_until(
            Duration::from_secs(30),
            &format!("all running nodes to report {n} voting members"),
            || {
                for node in self.nodes.iter().filter(|n| n.has_process()) {
                    let status = node.try_status()?;
                    let (members, voters) = (members(&status).len(), voter_count(&status));
                    if members != n || voters != n {
                        return Err(format!(
                            "node {} sees {members} members, {voters} voters",
                            node.name
                        ));
                    }
                }
                Ok(())
            },
        );
    }

    /// Index of the current leader, once every node with a process agrees on
    /// it (waits at most 15 s).
    pub fn leader(&self) -> usize {
        wait_until(
            Duration::from_secs(15),
            "the running nodes to agree on a leader",
            || {
                let mut seen = Vec::new();
                for node in self.nodes.iter().filter(|n| n.has_process()) {
                    seen.push(leader_id(&node.try_status()?));
                }
                seen.dedup();
                match seen.as_slice() {
                    [Some(id)] => self
                        .index_of(*id)
                        .ok_or_else(|| format!("leader {id} is not one of our nodes")),
                    other => Err(format!("leader ids reported: {other:?}")),
                }
            },
        )
    }

    pub fn index_of(&self, node_id: u64) -> Option<usize> {
        self.nodes.iter().position(|n| n.node_id == Some(node_id))
    }

    /// Indices of all nodes except `i`.
    pub fn others(&self, i: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&j| j != i).collect()
    }
}

impl std::ops::Index<usize> for Cluster {
    type Output = Node;
    fn index(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
}

impl std::ops::IndexMut<usize> for Cluster {
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }
}

/// `cluster token --json` on `node`, returning the token string.
pub fn issue_token(node: &Node) -> String {
    let reply = node.cli_ok_json(&["cluster", "token"]);
    reply["token"]
        .as_str()
        .unwrap_or_else(|| panic!("node {}: token reply without a token: {reply}", node.name))
        .to_string()
}

/// Snapshot of a directory's regular files (name → contents), to prove a
/// daemon left foreign files alone.
pub fn dir_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("directory entry");
            let mut contents = Vec::new();
            if entry.file_type().expect("file type").is_file() {
                File::open(entry.path())
                    .and_then(|mut f| f.read_to_end(&mut contents))
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", entry.path().display()));
            }
            (entry.file_name().to_string_lossy().into_owned(), contents)
        })
        .collect();
    entries.sort();
    entries
}

// ---------------------------------------------------------------------------
// Direct API access (for routes the CLI has no command for)
// ---------------------------------------------------------------------------

impl Node {
    /// Calls the node's admin API with `curl` (HTTP/2 over TLS, the token from
    /// `cli.json`; the certificate is not checked: loopback only). Panics on a
    /// non-2xx answer; returns the JSON body (`Null` if empty).
    pub fn api_json(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let cli: Value = serde_json::from_slice(
            &fs::read(self.data_dir.join("cli.json")).expect("cannot read cli.json"),
        )
        .expect("cli.json is not JSON");
        let api = cli["api"].as_str().expect("cli.json without api");
        let token = cli["token"].as_str().expect("cli.json without token");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-k", "--http2", "-X", method])
            .args(["-H", &format!("authorization: Bearer {token}")])
            .args(["-H", "content-type: application/json"])
            .args(["-w", "\n%{http_code}"]);
        if let Some(b) = body {
            cmd.args(["--data-binary", &b.to_string()]);
        }
        cmd.arg(format!("https://{api}{path}"));
        let out = run_bounded(cmd, CLI_TIMEOUT)
            .unwrap_or_else(|| panic!("node {}: curl {method} {path} hung", self.name));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        assert!(
            out.status.success() && code.starts_with('2'),
            "node {}: {method} {path} failed (HTTP {code})\n{}",
            self.name,
            describe(&out)
        );
        if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| {
                panic!(
                    "node {}: {method} {path}: bad JSON ({e}): {body}",
                    self.name
                )
            })
        }
    }
}
