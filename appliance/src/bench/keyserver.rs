//! `signet bench keyserver`: exact-match LDAP lookups by email per second against Signet's LDAP
//! service and, in the same run with the same keys and clients, against slapd (started here
//! with its own generated configuration and a minimal PGP schema); and the resident memory of
//! the published-key directory at several sizes, each measured in a fresh child process.
//!
//! Keys: one real Cv25519 certificate is the template; every synthetic key gets its own copy
//! of the template's bytes (with its index written in), so memory is what distinct keys cost.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_keyserver::directory::{KeyFacts, PublishedKey, SharedDirectory};
use signet_keyserver::ldap_service::client::SearchClient;
use signet_keyserver::ldap_service::{LdapSettings, Listener, Service};

#[derive(Debug, Clone, clap::Args)]
pub struct KeyserverBenchArgs {
    /// Keys loaded for the lookup benchmark (both servers).
    #[arg(long, default_value_t = 100_000)]
    pub keys: usize,
    /// Directory sizes whose resident memory is measured, comma-separated.
    #[arg(long, default_value = "100000,1000000", value_delimiter = ',')]
    pub memory: Vec<usize>,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Seconds of load per server.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// The slapd binary.
    #[arg(long, default_value = "/usr/sbin/slapd")]
    pub slapd: PathBuf,
    /// Skip slapd.
    #[arg(long)]
    pub no_slapd: bool,
    /// Internal: measure the directory's memory at this size and print it.
    #[arg(long, hide = true)]
    pub memory_child: Option<usize>,
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

fn email(i: usize) -> String {
    format!("user{i}@bench.example")
}

fn template() -> anyhow::Result<PublishedKey> {
    let cert =
        openpgp::generate_user_key("template@bench.example", None, KeyAlgorithm::Cv25519, None)?;
    Ok(PublishedKey::from_cert_bytes(&openpgp::binary_public(
        &openpgp::public_only(&cert),
    )?)?)
}

fn synthetic(t: &PublishedKey, i: usize) -> anyhow::Result<PublishedKey> {
    let fingerprint = format!(
        "{:040X}",
        (((i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) >> 96) << 96)
            | (i as u128)
    );
    let sub = format!("{:040X}", u128::MAX - i as u128);
    let mut bytes = t.public().to_vec();
    let tail = bytes.len().saturating_sub(8);
    let width = bytes.len() - tail;
    bytes[tail..].copy_from_slice(&(i as u64).to_be_bytes()[..width]);
    let e = email(i);
    Ok(PublishedKey::new(KeyFacts {
        fingerprint,
        subkeys: vec![sub],
        user_ids: vec![format!("User {i} <{e}>")],
        emails: vec![e],
        algorithm: t.algorithm(),
        bits: t.bits(),
        created: t.created(),
        expires: None,
        revoked: false,
        public: Arc::from(bytes),
    })?)
}

fn directory(t: &PublishedKey, n: usize) -> anyhow::Result<SharedDirectory> {
    let dir = SharedDirectory::new();
    // As the appliance does at start: size the tables once for the whole load.
    dir.reserve(n);
    for i in 0..n {
        let key = synthetic(t, i)?;
        dir.set_owner(&email(i), vec![key], Vec::new());
    }
    Ok(dir)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `connections` clients doing lookups by email back to back for `secs`; (ok, errors).
async fn load(addr: SocketAddr, base: &str, n: usize, connections: usize, secs: u64) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (ok, errors, base) = (ok.clone(), errors.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let Ok(mut client) = SearchClient::connect(addr).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let mut i = c.wrapping_mul(7919);
            while Instant::now() < deadline {
                i = (i.wrapping_mul(1_103_515_245).wrapping_add(12_345)) % n.max(1);
                match client
                    .equality(&base, "mail", &email(i), &["pgpKey", "pgpCertID"])
                    .await
                {
                    Ok(1) => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => errors.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed))
}

const SCHEMA: &str = "\
attributetype ( 1.3.6.1.4.1.3401.8.2.11 NAME 'pgpKey' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.3401.8.2.12 NAME 'pgpCertID' EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.3401.8.2.24 NAME 'pgpKeyInfo' SUP top STRUCTURAL MUST ( pgpCertID $ pgpKey ) MAY ( mail ) )
";

struct Slapd {
    child: Child,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config, loads the keys with slapadd, starts slapd on `port`.
fn start_slapd(
    slapd: &Path,
    dir: &Path,
    t: &PublishedKey,
    n: usize,
    port: u16,
) -> anyhow::Result<Slapd> {
    let db = dir.join("db");
    std::fs::create_dir_all(&db)?;
    std::fs::write(dir.join("pgp.schema"), SCHEMA)?;
    let conf = dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include {schema}\npidfile {dir}/slapd.pid\nmodulepath /usr/lib/ldap\n\
             moduleload back_mdb\nthreads 16\ndatabase mdb\nsuffix \"o=Signet\"\n\
             rootdn \"cn=admin,o=Signet\"\ndirectory {db}\nmaxsize 8589934592\n\
             index mail eq\nindex objectClass eq\naccess to * by * read\n",
            schema = dir.join("pgp.schema").display(),
            dir = dir.display(),
            db = db.display(),
        ),
    )?;
    let ldif_path = dir.join("keys.ldif");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&ldif_path)?);
        writeln!(
            w,
            "dn: o=Signet\nobjectClass: organization\no: Signet\n\n\
             dn: ou=PGP Keys,o=Signet\nobjectClass: organizationalUnit\nou: PGP Keys\n"
        )?;
        let b64 = base64::engine::general_purpose::STANDARD;
        for i in 0..n {
            let k = synthetic(t, i)?;
            writeln!(
                w,
                "dn: pgpCertID={id},ou=PGP Keys,o=Signet\nobjectClass: pgpKeyInfo\n\
                 pgpCertID: {id}\nmail: {mail}\npgpKey:: {key}\n",
                id = k.key_id(),
                mail = email(i),
                key = b64.encode(k.armored()),
            )?;
        }
    }
    let started = Instant::now();
    let out = Command::new("/usr/sbin/slapadd")
        .arg("-q")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif_path)
        .output()
        .context("slapadd")?;
    if !out.status.success() {
        bail!("slapadd failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    println!(
        "  slapadd of {n} keys: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let child = Command::new(slapd)
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        .args(["-d", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", slapd.display()))?;
    let slapd = Slapd { child };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(slapd);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("slapd did not start listening on {port}")
}

fn memory_child(n: usize) -> anyhow::Result<()> {
    let t = template()?;
    let before = rss_mib();
    let dir = directory(&t, n)?;
    let after = rss_mib();
    println!("{n} {} {before:.1} {after:.1}", dir.len());
    Ok(())
}

pub async fn run(args: KeyserverBenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.memory_child {
        return memory_child(n);
    }
    println!(
        "machine: {} CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_default()
    );
    for &n in &args.memory {
        let out = Command::new(std::env::current_exe()?)
            .args(["bench", "keyserver", "--memory-child", &n.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if f.len() == 4 {
            println!(
                "memory: {n} keys: process RSS {:.0} MiB (directory {:.0} MiB, {:.0} bytes/key)",
                f[3],
                f[3] - f[2],
                (f[3] - f[2]) * 1024.0 * 1024.0 / n as f64
            );
        } else {
            println!(
                "memory: {n} keys: failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    let t = template()?;
    let dir = directory(&t, args.keys)?;
    let settings = LdapSettings {
        rate_per_second: 0,
        ..LdapSettings::default()
    };
    let service = Service::new(settings, dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(signet_keyserver::ldap_service::serve(
        service,
        Listener {
            listener,
            tls: None,
            client_certificates: false,
            starttls: None,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let (ok, err) = load(addr, "o=Signet", args.keys, args.connections, args.seconds).await;
    let signet_rate = ok as f64 / args.seconds as f64;
    println!(
        "LDAP exact-match lookups by email, {} keys, {} connections, {} s: Signet {signet_rate:.0}/s ({err} errors)",
        args.keys, args.connections, args.seconds
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    if args.no_slapd {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let port = free_port()?;
    let n = args.keys;
    let slapd_path = args.slapd.clone();
    let tpath = tmp.path().to_path_buf();
    let slapd = tokio::task::spawn_blocking(move || start_slapd(&slapd_path, &tpath, &t, n, port))
        .await??;
    let (ok, err) = load(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "ou=PGP Keys,o=Signet",
        args.keys,
        args.connections,
        args.seconds,
    )
    .await;
    drop(slapd);
    let slapd_rate = ok as f64 / args.seconds as f64;
    println!(
        "LDAP exact-match lookups by email: slapd {slapd_rate:.0}/s ({err} errors); ratio Signet/slapd {:.2}",
        signet_rate / slapd_rate.max(1.0)
    );
    Ok(())
}
