//! `signet bench mail`: the whole mail path against Postfix relaying in clear.
//!
//! Postfix's `smtp-source` sends 10 KiB messages with a "[PGP] bench" subject (so the factory
//! policy encrypts and signs) to a real `signetd` with an Outbound proxy, which relays them to
//! a counting sink in this process. Then, in the same invocation, the same `smtp-source`
//! drives a Postfix instance of its own (temporary config and queue directory, high ports)
//! relaying to the same sink in clear. Both are reported with the ratio.
//!
//! - **messages/s**: from starting `smtp-source` to the last message at the sink.
//! - **added latency**: `smtp-source` talks through a small tap in this process that notes
//!   when each `250 ... queued as ID` passes; the sink finds `id ID` in the message's
//!   `Received` field and notes when the message has arrived. The tap is in front of both
//!   servers, so both pay the same extra loopback hop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use signet_crypto::openpgp::{self, KeyAlgorithm};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use super::machine;
use crate::client::{ApiClient, CliFile};

#[derive(Debug, Clone, clap::Args)]
pub struct MailBenchArgs {
    /// Messages per measured run.
    #[arg(long, default_value_t = 2000)]
    pub messages: u64,
    /// smtp-source sessions in parallel.
    #[arg(long, default_value_t = 20)]
    pub sessions: u32,
    /// Message body size in bytes (smtp-source -l).
    #[arg(long, default_value_t = 10240)]
    pub size: usize,
    /// Recipients per message (smtp-source -r); each is an external user with a Cv25519 key.
    #[arg(long, default_value_t = 1)]
    pub recipients: u32,
    /// Messages sent before each measured run (warm caches, connections, key opening).
    #[arg(long, default_value_t = 100)]
    pub warmup: u64,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// The signetd binary (default: next to this signet).
    #[arg(long)]
    pub signetd: Option<PathBuf>,
    /// Skip the Postfix baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Keep data, configuration and logs in this directory instead of a temporary one.
    #[arg(long)]
    pub keep_dir: Option<PathBuf>,
}

const SENDER: &str = "alice@example.com";
const RECIPIENT: &str = "rcpt@ext.test";
const SUBJECT: &str = "[PGP] bench";

/// One measured run of smtp-source through one server to the sink.
struct RunResult {
    label: &'static str,
    messages: u64,
    /// smtp-source started → last message at the sink.
    secs: f64,
    /// smtp-source started → smtp-source done (every message acknowledged).
    submit_secs: f64,
    latencies_ms: Vec<f64>,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.secs.max(1e-9)
    }

    fn pct(&self, p: f64) -> Option<f64> {
        let n = self.latencies_ms.len();
        (n > 0).then(|| self.latencies_ms[((n as f64 * p) as usize).min(n - 1)])
    }
}

// ---------------------------------------------------------------------------------------
// The sink: counts messages and notes when each arrived and which queue ids it names.

struct Arrival {
    at: Instant,
    ids: Vec<String>,
}

#[derive(Default)]
struct SinkState {
    arrivals: Mutex<Vec<Arrival>>,
    count: AtomicU64,
    changed: Notify,
}

impl SinkState {
    fn take(&self) -> Vec<Arrival> {
        self.count.store(0, Ordering::SeqCst);
        self.arrivals
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }
}

async fn start_sink() -> anyhow::Result<(u16, Arc<SinkState>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let state = Arc::new(SinkState::default());
    let st = state.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let _ = sink_connection(stream, &st).await;
            });
        }
    });
    Ok((port, state))
}

/// A minimal SMTP server: accepts everything, with PIPELINING (replies leave when the client
/// has nothing more buffered).
async fn sink_connection(stream: TcpStream, state: &SinkState) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut w = BufWriter::new(w);
    w.write_all(b"220 sink.bench.test ESMTP\r\n").await?;
    w.flush().await?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase());
        let reply: &[u8] = match verb.as_deref() {
            Some(b"EHLO") => {
                b"250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1073741824\r\n"
            }
            Some(b"HELO") => b"250 sink.bench.test\r\n",
            Some(b"MAIL") | Some(b"RCPT") | Some(b"RSET") | Some(b"NOOP") => b"250 2.0.0 Ok\r\n",
            Some(b"DATA") => {
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                w.flush().await?;
                let ids = read_data(&mut r, &mut line).await?;
                let at = Instant::now();
                if let Ok(mut a) = state.arrivals.lock() {
                    a.push(Arrival { at, ids });
                }
                state.count.fetch_add(1, Ordering::SeqCst);
                state.changed.notify_waiters();
                b"250 2.0.0 Ok: queued\r\n"
            }
            Some(b"QUIT") => {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                w.flush().await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Error: command not recognized\r\n",
        };
        w.write_all(reply).await?;
        if r.buffer().is_empty() {
            w.flush().await?;
        }
    }
}

/// Reads the message up to the lone ".", returning the tokens after " id " in its header.
async fn read_data<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut in_header = true;
    loop {
        line.clear();
        if r.read_until(b'\n', line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_slice() == b".\r\n" || line.as_slice() == b".\n" {
            return Ok(ids);
        }
        if in_header {
            if line.as_slice() == b"\r\n" || line.as_slice() == b"\n" {
                in_header = false;
            } else {
                ids.extend(ids_in(&String::from_utf8_lossy(line)));
            }
        }
    }
}

/// Tokens following " id " (Received fields: "with ESMTP id 0193...;").
fn ids_in(text: &str) -> Vec<String> {
    text.match_indices(" id ")
        .map(|(i, _)| {
            text[i + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The tap between smtp-source and the server: notes when each message was acknowledged.

type Accepted = Arc<Mutex<HashMap<String, Instant>>>;

async fn start_tap(target: SocketAddr) -> anyhow::Result<(u16, Accepted)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted: Accepted = Arc::default();
    let acc = accepted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acc = acc.clone();
            tokio::spawn(async move {
                let _ = tap_connection(client, target, &acc).await;
            });
        }
    });
    Ok((port, accepted))
}

async fn tap_connection(
    client: TcpStream,
    target: SocketAddr,
    accepted: &Accepted,
) -> std::io::Result<()> {
    let server = TcpStream::connect(target).await?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let r = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
        r
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut partial = Vec::new();
        loop {
            let n = sr.read(&mut buf).await?;
            if n == 0 {
                let _ = cw.shutdown().await;
                return Ok::<(), std::io::Error>(());
            }
            let at = Instant::now();
            cw.write_all(&buf[..n]).await?;
            partial.extend_from_slice(&buf[..n]);
            while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                let reply: Vec<u8> = partial.drain(..=end).collect();
                if let Some(id) = queued_id(&String::from_utf8_lossy(&reply))
                    && let Ok(mut m) = accepted.lock()
                {
                    m.insert(id, at);
                }
            }
        }
    };
    let (a, b) = tokio::join!(up, down);
    a.map(|_| ()).and(b)
}

/// The id in "250 2.0.0 Queued as ID" (Signet) or "250 2.0.0 Ok: queued as ID" (Postfix).
fn queued_id(reply: &str) -> Option<String> {
    if !reply.starts_with("250") {
        return None;
    }
    let lower = reply.to_ascii_lowercase();
    let at = lower.find("queued as ")? + "queued as ".len();
    let id: String = reply[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

// ---------------------------------------------------------------------------------------
// Driving smtp-source.

fn recipient_addresses(n: u32) -> Vec<String> {
    // smtp-source -r N prepends 1..N to the address.
    match n {
        0 | 1 => vec![RECIPIENT.to_string()],
        n => (1..=n).map(|i| format!("{i}{RECIPIENT}")).collect(),
    }
}

/// Sends `messages` through `port` and waits for them all at the sink.
async fn drive(
    label: &'static str,
    port: u16,
    messages: u64,
    args: &MailBenchArgs,
    sink: &SinkState,
    accepted: &Accepted,
    progress: bool,
) -> anyhow::Result<RunResult> {
    let _ = sink.take();
    if let Ok(mut m) = accepted.lock() {
        m.clear();
    }
    let start = Instant::now();
    let mut source = Command::new("smtp-source")
        .args([
            "-c",
            "-m",
            &messages.to_string(),
            "-s",
            &args.sessions.to_string(),
            "-l",
            &args.size.to_string(),
            "-r",
            &args.recipients.max(1).to_string(),
            "-S",
            SUBJECT,
            "-M",
            "client.bench.test",
            "-f",
            SENDER,
            "-t",
            RECIPIENT,
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start smtp-source (scripts/install-peers.sh installs postfix)")?;
    // -c prints a running count of completed DATA commands.
    let submitted = Arc::new(AtomicU64::new(0));
    if let Some(mut out) = source.stdout.take() {
        let submitted = submitted.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let mut digits = String::new();
            while let Ok(n) = out.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    if b.is_ascii_digit() {
                        digits.push(b as char);
                    } else if !digits.is_empty() {
                        if let Ok(v) = digits.parse() {
                            submitted.store(v, Ordering::Relaxed);
                        }
                        digits.clear();
                    }
                }
            }
        });
    }
    let deadline = start + Duration::from_secs(args.timeout_secs);
    let mut submit_secs = None;
    let mut last_report = Instant::now();
    loop {
        let notified = sink.changed.notified();
        let arrived = sink.count.load(Ordering::SeqCst);
        if submit_secs.is_none()
            && let Some(status) = source.try_wait()?
        {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = source.stderr.take() {
                    let _ = e.read_to_string(&mut err).await;
                }
                bail!("{label}: smtp-source failed ({status}): {}", err.trim());
            }
            submit_secs = Some(start.elapsed().as_secs_f64());
        }
        if arrived >= messages && submit_secs.is_some() {
            break;
        }
        if progress && last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "  {label}: {:>6.1} s  submitted {:>6}/{messages}  at the sink {:>6}",
                start.elapsed().as_secs_f64(),
                submitted.load(Ordering::Relaxed),
                arrived
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{label}: only {arrived} of {messages} messages reached the sink within {} s",
                args.timeout_secs
            );
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
    let arrivals = sink.take();
    let last = arrivals.iter().map(|a| a.at).max().unwrap_or(start);
    let acks = accepted
        .lock()
        .map(|m| m.clone())
        .map_err(|_| anyhow::anyhow!("tap state poisoned"))?;
    let mut latencies_ms: Vec<f64> = arrivals
        .iter()
        .filter_map(|a| {
            let acked = a.ids.iter().find_map(|id| acks.get(id))?;
            Some(a.at.saturating_duration_since(*acked).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    Ok(RunResult {
        label,
        messages: arrivals.len() as u64,
        secs: last.duration_since(start).as_secs_f64(),
        submit_secs: submit_secs.unwrap_or(0.0),
        latencies_ms,
    })
}

/// A warm-up, then the measured run.
async fn measure(
    label: &'static str,
    port: u16,
    args: &MailBenchArgs,
    sink: &Arc<SinkState>,
) -> anyhow::Result<RunResult> {
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    let (tap, accepted) = start_tap(target).await?;
    if args.warmup > 0 {
        eprintln!("  {label}: warm-up, {} messages", args.warmup);
        drive(label, tap, args.warmup, args, sink, &accepted, false).await?;
    }
    eprintln!(
        "  {label}: {} messages of {} bytes, {} sessions",
        args.messages, args.size, args.sessions
    );
    let r = drive(label, tap, args.messages, args, sink, &accepted, true).await?;
    eprintln!(
        "  {label}: {:.0} msg/s ({} messages in {:.2} s; submitted in {:.2} s), latency p50 {} p99 {}",
        r.rate(),
        r.messages,
        r.secs,
        r.submit_secs,
        fmt_ms(r.pct(0.5)),
        fmt_ms(r.pct(0.99)),
    );
    Ok(r)
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} ms"))
        .unwrap_or_else(|| "-".into())
}

// ---------------------------------------------------------------------------------------
// Signet.

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `signet --data-dir DIR ARGS...`, which must succeed.
async fn cli(data_dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "signet {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

async fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on 127.0.0.1:{port} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Starts signetd with an Outbound proxy relaying to the sink, sets it up for example.com
/// (Learn Mode off), adds the SKM sender and the external recipients with Cv25519 keys.
async fn start_signet(
    signetd: &Path,
    root: &Path,
    sink_port: u16,
    recipients: u32,
) -> anyhow::Result<(Child, u16)> {
    let data = root.join("signet");
    std::fs::create_dir_all(root)?;
    let smtp = free_port()?;
    let config = root.join("signetd.toml");
    std::fs::write(
        &config,
        format!(
            r#"[mail]
hostname = "gw.bench.test"
outbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {sink_port}, tls = "disable" }}
inbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {sink_port}, tls = "disable" }}

[[mail.proxy]]
kind = "outbound"
listen = "127.0.0.1:{smtp}"
client_tls = "disable"
allow = ["127.0.0.0/8"]
connections_per_second = 1000000
"#
        ),
    )?;
    let log = std::fs::File::create(root.join("signetd.log"))?;
    let mut cmd = Command::new(signetd);
    cmd.arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--listen-admin")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--listen-cluster")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", signetd.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(file) = CliFile::read(&data)
            && let Ok(api) = ApiClient::from_file(&file)
            && api.get("/api/v1/cluster").await.is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "signetd did not come up; see {}",
                root.join("signetd.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cli(&data, &["setup", "--domain", "example.com"]).await?;
    cli(&data, &["learn-mode", "off"]).await?;
    cli(&data, &["user", "add", SENDER, "--name", "Alice Sender"]).await?;
    for address in recipient_addresses(recipients) {
        let cert = openpgp::generate_user_key(&address, None, KeyAlgorithm::Cv25519, None)?;
        let file = root.join(format!("{address}.asc"));
        std::fs::write(&file, openpgp::armored_public(&cert)?)?;
        let file = file.to_str().context("non-UTF-8 temp path")?;
        cli(
            &data,
            &[
                "user",
                "add",
                &address,
                "--external",
                "--key-mode",
                "CKM",
                "--key-file",
                file,
            ],
        )
        .await?;
    }
    wait_for_port(smtp, Duration::from_secs(30)).await?;
    Ok((child, smtp))
}

// ---------------------------------------------------------------------------------------
// Postfix as a plain relay.

/// A Postfix instance with its own configuration and queue directory; stopped on drop.
struct Postfix {
    config_dir: PathBuf,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix")
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Debian's master.cf with every service out of chroot (the queue is a temp directory) and
/// the smtpd listener on `127.0.0.1:port`.
fn master_cf(system: &str, port: u16) -> String {
    let mut out = String::new();
    for line in system.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let service_line = !line.starts_with(['#', ' ', '\t']) && fields.len() >= 8;
        if !service_line {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        if f[0] == "smtp" && f[1] == "inet" {
            f[0] = format!("127.0.0.1:{port}");
        }
        f[4] = "n".into();
        out.push_str(&f.join(" "));
        out.push('\n');
    }
    out
}

fn start_postfix(root: &Path, sink_port: u16) -> anyhow::Result<(Postfix, u16)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("postfix");
    let (config_dir, queue, data) = (dir.join("etc"), dir.join("queue"), dir.join("data"));
    for d in [&config_dir, &queue, &data] {
        std::fs::create_dir_all(d)?;
    }
    // The postfix user must reach its queue through the temp directories.
    for d in [root, &dir, &queue] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    let chown = std::process::Command::new("chown")
        .args(["postfix"])
        .arg(&data)
        .status()?;
    if !chown.success() {
        bail!("chown postfix {} failed", data.display());
    }
    let port = free_port()?;
    let system = std::fs::read_to_string("/etc/postfix/master.cf")
        .context("reading /etc/postfix/master.cf")?;
    std::fs::write(config_dir.join("master.cf"), master_cf(&system, port))?;
    std::fs::write(
        config_dir.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file = {log}
maillog_file_prefixes = {dir}
myhostname = relay.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:{sink_port}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = none
smtp_tls_security_level = none
# Unique ids for the whole run, so the sink can match each message to its acknowledgement.
enable_long_queue_ids = yes
",
            queue = queue.display(),
            data = data.display(),
            log = dir.join("maillog").display(),
            dir = dir.display(),
        ),
    )?;
    let out = std::process::Command::new("postfix")
        .arg("-c")
        .arg(&config_dir)
        .arg("start")
        .output()
        .context("cannot run postfix")?;
    let guard = Postfix { config_dir };
    if !out.status.success() {
        bail!(
            "postfix -c {} start: {}{}",
            guard.config_dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((guard, port))
}

// ---------------------------------------------------------------------------------------

pub async fn run(args: MailBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("signet-bench-mail-")
        .tempdir()?;
    let root = args
        .keep_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    let signetd = args.signetd.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .map(|e| e.with_file_name("signetd"))
            .unwrap_or_default()
    });
    if !signetd.exists() {
        bail!(
            "{} not found; build it (cargo build --release) or pass --signetd",
            signetd.display()
        );
    }
    eprintln!(
        "signet bench mail: {} messages of {} bytes, {} recipient(s), {} smtp-source sessions; {}",
        args.messages,
        args.size,
        args.recipients.max(1),
        args.sessions,
        machine()
    );
    let (sink_port, sink) = start_sink().await?;

    eprintln!("signet: starting signetd (outbound proxy -> sink on port {sink_port})");
    let (mut daemon, smtp) = start_signet(&signetd, &root, sink_port, args.recipients).await?;
    let signet = measure("signet", smtp, &args, &sink).await;
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    let signet = signet?;

    let mut postfix = None;
    if args.no_baseline {
        eprintln!("postfix: skipped (--no-baseline)");
    } else if !is_root() {
        eprintln!("postfix: skipped: the baseline starts Postfix, which needs root");
    } else {
        eprintln!("postfix: starting a relay instance (-> sink on port {sink_port})");
        let (guard, port) = start_postfix(&root, sink_port)?;
        wait_for_port(port, Duration::from_secs(30)).await?;
        let r = measure("postfix", port, &args, &sink).await;
        drop(guard);
        postfix = Some(r?);
    }
    report(&args, &signet, postfix.as_ref());
    if args.keep_dir.is_some() {
        eprintln!("data and logs kept in {}", root.display());
    }
    Ok(())
}

/// Whether this process runs as root (/proc/self belongs to the effective user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn report(args: &MailBenchArgs, signet: &RunResult, postfix: Option<&RunResult>) {
    println!();
    println!(
        "mail path: smtp-source -m {} -s {} -l {} -r {} -S \"{SUBJECT}\" -> server -> sink",
        args.messages,
        args.sessions,
        args.size,
        args.recipients.max(1)
    );
    println!(
        "| server | what it does | msg/s | submitted in s | p50 added ms | p99 added ms | max ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let row = |r: &RunResult, what: &str| {
        println!(
            "| {} | {what} | {:.0} | {:.2} | {} | {} | {} |",
            r.label,
            r.rate(),
            r.submit_secs,
            r.pct(0.5).map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            r.pct(0.99).map(|v| format!("{v:.1}")).unwrap_or("-".into()),
            r.pct(1.0).map(|v| format!("{v:.1}")).unwrap_or("-".into()),
        );
        if (r.latencies_ms.len() as u64) < r.messages {
            println!(
                "  ({}: latency known for {} of {} messages)",
                r.label,
                r.latencies_ms.len(),
                r.messages
            );
        }
    };
    row(signet, "encrypt + sign (PGP/MIME, Cv25519)");
    if let Some(p) = postfix {
        row(p, "relay in clear");
        println!();
        println!(
            "ratio signet/postfix: {:.2} (target >= 1.0)",
            signet.rate() / p.rate().max(1e-9)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_replies_parse() {
        assert_eq!(
            ids_in("\tby gw (Signet) with ESMTP id 0193abc-1;"),
            vec!["0193abc-1"]
        );
        assert_eq!(
            queued_id("250 2.0.0 Ok: queued as 4Xyz9\r\n").as_deref(),
            Some("4Xyz9")
        );
        assert_eq!(
            queued_id("250 2.0.0 Queued as 0193ab\r\n").as_deref(),
            Some("0193ab")
        );
        assert_eq!(queued_id("451 queued as x"), None);
    }

    #[test]
    fn master_cf_moves_smtpd_and_drops_chroot() {
        let cf = "# c\nsmtp      inet  n       -       y       -       -       smtpd\n  -o x=y\nsmtp      unix  -       -       y       -       -       smtp\n";
        let out = master_cf(cf, 2525);
        assert!(out.contains("127.0.0.1:2525 inet n - n - - smtpd"));
        assert!(out.contains("smtp unix - - n - - smtp"));
        assert!(out.contains("  -o x=y"));
    }
}
