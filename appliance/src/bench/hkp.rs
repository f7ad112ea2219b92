//! `signet bench hkp`: HKP `op=get` lookups per second by email and by fingerprint, over real
//! TCP with keep-alive HTTP/1.1 clients, against the public keyserver's own handler and
//! accept loop (`signet_keyserver::http_service`) serving a directory of N keys.
//!
//! The N keys are index entries with distinct fingerprints, key IDs and addresses that share
//! one real Cv25519 transferable public key as their bytes: generating 100,000 real keys would
//! take minutes and measure key generation, not lookups; what a lookup costs (index lookups,
//! armoring a key of that size, HTTP) is the same. Rate limits are off for the run (one client
//! address sends everything).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_keyserver::directory::{KeyFacts, PublishedKey, SharedDirectory};
use signet_keyserver::http_service::{
    CrlSource, PublicService, PublicSource, RateLimits, ServiceSettings, server,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::machine;

#[derive(Debug, Clone, clap::Args)]
pub struct HkpBenchArgs {
    /// Keys in the directory.
    #[arg(long, default_value_t = 100_000)]
    pub keys: usize,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds of load per lookup kind.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

struct NoSource;

impl CrlSource for NoSource {
    fn revision(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn issue(&self) -> Result<Vec<u8>, String> {
        Err("no CRL in the benchmark".into())
    }
}

impl PublicSource for NoSource {
    fn managed_domains(&self) -> Result<Vec<String>, String> {
        Ok(vec!["bench.example".into()])
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU seconds this process has used (user + system), from /proc/self/stat: on a shared
/// machine, lookups per CPU-second say more than lookups per wall-clock second.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn fingerprint_of(i: usize) -> String {
    format!(
        "{:040X}",
        (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    )
}

/// A directory of `n` entries sharing one real key's bytes.
fn directory(n: usize) -> anyhow::Result<SharedDirectory> {
    let cert =
        openpgp::generate_user_key("template@bench.example", None, KeyAlgorithm::Cv25519, None)?;
    let template =
        PublishedKey::from_cert_bytes(&openpgp::binary_public(&openpgp::public_only(&cert))?)?;
    let dir = SharedDirectory::new();
    for i in 0..n {
        let fingerprint = fingerprint_of(i);
        let sub = format!("{:040X}", u128::MAX - i as u128);
        let email = format!("user{i}@bench.example");
        let key = PublishedKey::new(KeyFacts {
            fingerprint,
            subkeys: vec![sub],
            user_ids: vec![format!("User {i} <{email}>")],
            emails: vec![email.clone()],
            algorithm: template.algorithm(),
            bits: template.bits(),
            created: template.created(),
            expires: None,
            revoked: false,
            public: template.public_shared(),
        })?;
        dir.set_owner(&email, vec![key], Vec::new());
    }
    Ok(dir)
}

/// `clients` connections, each sending GETs back to back for `secs`; returns (ok, errors).
async fn load(
    addr: SocketAddr,
    clients: usize,
    secs: u64,
    keys: usize,
    path_of: fn(usize) -> String,
) -> anyhow::Result<(u64, u64, f64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (ok, errors) = (ok.clone(), errors.clone());
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(tcp);
            let mut i = c.wrapping_mul(7919);
            while Instant::now() < deadline {
                i = (i + 104_729) % keys;
                match get(&mut conn, &path_of(i)).await {
                    Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => errors.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok((
        ok.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
    ))
}

/// One keep-alive HTTP/1.1 GET, written by hand so the client costs little next to the server
/// it measures; returns the status after reading the whole body.
async fn get(conn: &mut BufReader<TcpStream>, path: &str) -> std::io::Result<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: keys.bench.example\r\n\r\n");
    conn.get_mut().write_all(request.as_bytes()).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await?;
    Ok(status)
}

fn by_email(i: usize) -> String {
    format!("/pks/lookup?op=get&options=mr&search=user{i}%40bench.example")
}

fn by_fingerprint(i: usize) -> String {
    format!(
        "/pks/lookup?op=get&options=mr&search=0x{}",
        fingerprint_of(i)
    )
}

pub async fn run(args: HkpBenchArgs) -> anyhow::Result<()> {
    let keys = args.keys.max(1);
    eprintln!(
        "signet bench hkp: {keys} keys, {} keep-alive clients, {} s per kind; {}",
        args.clients,
        args.seconds,
        machine()
    );
    let before = rss_mib();
    let built = Instant::now();
    let dir = directory(keys)?;
    eprintln!(
        "directory built in {:.1} s; resident memory {:.0} MiB (before: {:.0} MiB)",
        built.elapsed().as_secs_f64(),
        rss_mib(),
        before
    );
    let service = PublicService::new(
        dir,
        Arc::new(NoSource),
        ServiceSettings {
            limits: RateLimits::unlimited(),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, None, service, async move {
        let _ = stopped.await;
    }));
    // Warm up and check that the answers are keys.
    let (ok, errors, _) = load(addr, 2, 1, keys, by_fingerprint).await?;
    anyhow::ensure!(
        ok > 0 && errors == 0,
        "warm-up failed: {ok} ok, {errors} errors"
    );
    println!("kind         lookups/s   ok        errors  per CPU-second (server + client)");
    for (kind, path_of) in [
        ("email", by_email as fn(usize) -> String),
        ("fingerprint", by_fingerprint),
    ] {
        let cpu_before = cpu_secs();
        let (ok, errors, secs) = load(addr, args.clients, args.seconds, keys, path_of)
            .await
            .with_context(|| format!("load by {kind}"))?;
        let cpu = (cpu_secs() - cpu_before).max(0.01);
        println!(
            "{kind:<12} {:>9.0}   {ok:<9} {errors:<7} {:.0} ({cpu:.1} CPU-s in {secs:.1} s)",
            ok as f64 / secs,
            ok as f64 / cpu
        );
    }
    let _ = stop.send(());
    let _ = serving.await;
    Ok(())
}
