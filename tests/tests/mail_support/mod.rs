//! Helpers for the mail-path tests: Postfix's smtp-sink as the next hop (it writes each
//! message it receives to a file), swaks as the sending client, and a node configured with
//! SMTP proxies.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::common::{self, describe, free_port, run_bounded, wait_until};

/// Postfix's smtp-sink on a loopback port, dumping every message into a directory.
pub(crate) struct Sink {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Sink {
    pub(crate) fn start() -> Sink {
        Self::start_on(free_port())
    }

    pub(crate) fn start_on(port: u16) -> Sink {
        let dir = tempfile::Builder::new()
            .prefix("sg-sink-")
            .tempdir_in("/tmp")
            .expect("sink dir");
        // smtp-sink drops root privileges to the -u user, who must be able to write here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
        let mut sink = Sink {
            port,
            dir,
            child: None,
        };
        sink.spawn();
        sink
    }

    fn spawn(&mut self) {
        let template = format!("{}/%Y%m%d%H%M%S.", self.dir.path().display());
        let mut cmd = Command::new("smtp-sink");
        // /proc/self belongs to the process's effective user.
        if std::env::var("USER").map(|u| u == "root").unwrap_or(false)
            || fs::metadata("/proc/self")
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
                .unwrap_or(false)
        {
            cmd.args(["-u", "nobody"]);
        }
        cmd.args(["-d", &template, &format!("127.0.0.1:{}", self.port), "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("cannot start smtp-sink (scripts/install-peers.sh)");
        self.child = Some(child);
        wait_until(Duration::from_secs(10), "smtp-sink to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }

    /// Every message received so far, oldest first, as text (smtp-sink's X-* lines first).
    /// smtp-sink creates a message's file when the transaction starts and writes it as the data
    /// arrives, so a file still being written is left out until it has been quiet for 300 ms.
    pub(crate) fn messages(&self) -> Vec<String> {
        let settled = |p: &PathBuf| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= Duration::from_millis(300))
        };
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path())
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(settled);
        files.sort();
        files
            .iter()
            .filter_map(|f| fs::read(f).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Waits until a received message satisfies `pred`, and returns it.
    pub(crate) fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(Duration::from_secs(60), what, || {
            let all = self.messages();
            all.iter().find(|m| pred(m)).cloned().ok_or_else(|| {
                format!(
                    "{} message(s) so far:\n{}",
                    all.len(),
                    all.join("\n-----\n")
                )
            })
        })
    }

    pub(crate) fn wait_count(&self, n: usize) -> Vec<String> {
        wait_until(
            Duration::from_secs(90),
            &format!("{n} messages at the sink"),
            || {
                let all = self.messages();
                if all.len() >= n {
                    Ok(all)
                } else {
                    Err(format!("{} so far", all.len()))
                }
            },
        )
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The message as received by the sink, without smtp-sink's own X-* lines and its Received.
pub(crate) fn rcpt_of(sink_message: &str) -> Vec<String> {
    sink_message
        .lines()
        .filter_map(|l| l.strip_prefix("X-Rcpt-Args: "))
        .map(|a| a.trim_matches(|c| c == '<' || c == '>').to_string())
        .collect()
}

/// swaks with the given arguments; returns its output (the whole SMTP dialogue).
pub(crate) fn swaks(args: &[&str]) -> Output {
    let mut cmd = Command::new("swaks");
    cmd.args(["--silent", "1"]).args(args);
    run_bounded(cmd, common::CLI_TIMEOUT).unwrap_or_else(|| panic!("swaks {args:?} hung"))
}

/// swaks that must end with the message accepted.
pub(crate) fn send_ok(port: u16, args: &[&str]) -> String {
    let server = format!("127.0.0.1:{port}");
    let mut all = vec!["--server", server.as_str()];
    all.extend_from_slice(args);
    let out = swaks(&all);
    assert!(out.status.success(), "swaks {all:?}\n{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `[mail]` configuration of a gateway with an Outbound and an Inbound proxy, both
/// relaying to `sink_port` after policy.
pub(crate) fn gateway_config(outbound: u16, inbound: u16, sink_port: u16, extra: &str) -> String {
    format!(
        r#"
[mail]
hostname = "gw.example.com"
placement = "gateway"
{extra}
inbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {sink_port}, tls = "disable" }}
outbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {sink_port}, tls = "disable" }}

[[mail.proxy]]
kind = "outbound"
listen = "127.0.0.1:{outbound}"
allow = ["127.0.0.0/8"]

[[mail.proxy]]
kind = "inbound"
listen = "127.0.0.1:{inbound}"
"#
    )
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).expect("write");
    p
}

/// A minimal HKP keyserver on loopback: `/pks/lookup?op=get...&search=<address>` answers with
/// the armored key registered for that address, anything else 404. It stands in for a
/// partner's keyserver (Debian has no HKP server package to run here).
pub(crate) struct Hkp {
    pub port: u16,
}

impl Hkp {
    pub(crate) fn start(keys: Vec<(String, String)>) -> Hkp {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind HKP");
        let port = listener.local_addr().expect("HKP address").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Skip the header fields.
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let target = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .replace("%40", "@");
                let found = keys.iter().find(|(addr, _)| {
                    target.starts_with("/pks/lookup") && target.contains(addr.as_str())
                });
                let mut out = &stream;
                let _ = match found {
                    Some((_, key)) => write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pgp-keys\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{key}",
                        key.len()
                    ),
                    None => write!(
                        out,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
            }
        });
        Hkp { port }
    }
}

/// A keyserver that does not answer: it accepts TCP connections and never says a word, as a
/// blackholed or hung server does. Connections are held until the test ends.
pub(crate) struct Silent {
    pub port: u16,
}

impl Silent {
    pub(crate) fn start() -> Silent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind silent");
        let port = listener.local_addr().expect("silent address").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Silent { port }
    }
}

/// A self-signed RSA certificate for `email` made by openssl in `dir`: (certificate PEM path,
/// key PEM path).
pub(crate) fn openssl_certificate(dir: &Path, email: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{email}.key"));
    let pem = dir.join(format!("{email}.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
    ])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&pem)
    .args(["-subj", &format!("/CN={email}/emailAddress={email}")])
    .args(["-addext", &format!("subjectAltName=email:{email}")]);
    let out = run_bounded(cmd, common::CLI_TIMEOUT).expect("openssl req hung");
    assert!(out.status.success(), "openssl req\n{}", describe(&out));
    (pem, key)
}
