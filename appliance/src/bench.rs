//! `signet bench raft`: committed writes per second and latency on a 3-member loopback cluster
//! of real `signetd` processes, and the time from killing the leader to the first write that
//! succeeds through another member.
//!
//! Each write is what an administrator's tool does: an authenticated HTTPS API call that adds a
//! dictionary entry, committed by a majority (each member fsyncs its log) before the answer. The
//! baseline, run side by side with the same client, is a one-member Signet: the same work
//! without replication, so the ratio is the price of the cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::client::{ApiClient, CliFile};

#[derive(Debug, Clone, clap::Args)]
pub struct RaftBenchArgs {
    /// Seconds of load per concurrency level.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent clients, comma-separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub clients: Vec<usize>,
    /// The signetd binary (default: next to this signet).
    #[arg(long)]
    pub signetd: Option<PathBuf>,
    /// Skip the one-member baseline.
    #[arg(long)]
    pub no_baseline: bool,
}

struct Member {
    child: Child,
    dir: PathBuf,
    api: ApiClient,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn spawn_member(signetd: &Path, root: &Path, name: &str) -> anyhow::Result<Member> {
    let dir = root.join(name);
    let log = std::fs::File::create(root.join(format!("{name}.log")))?;
    let child = Command::new(signetd)
        .arg("--data-dir")
        .arg(&dir)
        .arg("--listen-admin")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .arg("--listen-cluster")
        .arg(format!("127.0.0.1:{}", free_port()?))
        .env("SIGNET_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", signetd.display()))?;
    let api = connect(&dir, Duration::from_secs(30)).await?;
    Ok(Member { child, dir, api })
}

/// Waits for the member's CLI file and a successful status call.
async fn connect(dir: &Path, within: Duration) -> anyhow::Result<ApiClient> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(file) = CliFile::read(dir)
            && let Ok(api) = ApiClient::from_file(&file)
            && api.get("/api/v1/cluster").await.is_ok()
        {
            return Ok(api);
        }
        if Instant::now() > deadline {
            bail!("the member in {} did not come up", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn form_cluster(signetd: &Path, root: &Path, size: usize) -> anyhow::Result<Vec<Member>> {
    let mut members = vec![spawn_member(signetd, root, "m1").await?];
    for i in 2..=size {
        let mut m = spawn_member(signetd, root, &format!("m{i}")).await?;
        let token = members[0]
            .api
            .post("/api/v1/cluster/tokens", json!({}))
            .await?;
        m.api
            .post("/api/v1/cluster/join", json!({ "token": token["token"] }))
            .await?;
        // The member restarts with a new CLI token; wait until it is a voter.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(api) = connect(&m.dir, Duration::from_secs(5)).await
                && let Ok(s) = api.get("/api/v1/cluster").await
            {
                let voters = s["members"]
                    .as_array()
                    .map(|a| a.iter().filter(|x| x["voter"] == true).count());
                if s["pending"].is_null() && voters == Some(i) {
                    m.api = api;
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("member {i} did not join");
            }
        }
        eprintln!("  member {i} joined");
        members.push(m);
    }
    Ok(members)
}

/// Latency percentiles and throughput of one load run.
struct LoadResult {
    clients: usize,
    writes: u64,
    errors: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(apis: &[Arc<ApiClient>], clients: usize, secs: u64, tag: &str) -> LoadResult {
    let stop = Instant::now() + Duration::from_secs(secs);
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let api = apis[c % apis.len()].clone();
        let errors = errors.clone();
        let tag = format!("{tag}-{c}");
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < stop {
                let t = Instant::now();
                let body = json!({ "entries": [format!("{tag}-{n}@bench.example")] });
                match api.post("/api/v1/dictionaries/bench/entries", body).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs as f64);
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    LoadResult {
        clients,
        writes: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        secs: elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.writes as f64 / self.secs
    }
}

async fn run_levels(
    members: &[Member],
    args: &RaftBenchArgs,
    label: &str,
) -> anyhow::Result<Vec<LoadResult>> {
    members[0]
        .api
        .post("/api/v1/dictionaries", json!({ "name": "bench" }))
        .await?;
    let apis: Vec<Arc<ApiClient>> = members
        .iter()
        .map(|m| ApiClient::from_file(&CliFile::read(&m.dir)?).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    // Warm the connections and the leader.
    let _ = load(&apis, 4, 1, &format!("{label}-warm")).await;
    let mut results = Vec::new();
    for &c in &args.clients {
        eprintln!("  {label}: {c} client(s) for {} s ...", args.seconds);
        let r = load(&apis, c, args.seconds, &format!("{label}-{c}")).await;
        eprintln!(
            "  {label}: {c:>3} clients  {:>8.0} writes/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
        results.push(r);
    }
    Ok(results)
}

/// Kills the leader with SIGKILL and times the first successful write through a survivor.
async fn failover(members: &mut [Member]) -> anyhow::Result<(f64, u64)> {
    let status = members[0].api.get("/api/v1/cluster").await?;
    let leader = status["diagnostics"]["leader_id"]
        .as_u64()
        .context("no leader")?;
    let mut victim = None;
    for (i, m) in members.iter().enumerate() {
        let s: Value = m.api.get("/api/v1/cluster").await?;
        if s["node_id"].as_u64() == Some(leader) {
            victim = Some(i);
        }
    }
    let victim = victim.context("leader not found among members")?;
    let survivor = (victim + 1) % members.len();
    let killed = Instant::now();
    members[victim].child.start_kill()?;
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let body = json!({ "entries": [format!("failover-{attempts}@bench.example")] });
        if members[survivor]
            .api
            .post("/api/v1/dictionaries/bench/entries", body)
            .await
            .is_ok()
        {
            return Ok((killed.elapsed().as_secs_f64(), attempts));
        }
        if killed.elapsed() > Duration::from_secs(30) {
            bail!("no write succeeded within 30 s of killing the leader");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn raft(args: RaftBenchArgs) -> anyhow::Result<()> {
    let signetd = match &args.signetd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("signetd"),
    };
    if !signetd.exists() {
        bail!(
            "{} not found; build it (cargo build --release) or pass --signetd",
            signetd.display()
        );
    }
    let root = tempfile::tempdir()?;
    eprintln!(
        "signet bench raft: {} s per level, clients {:?}",
        args.seconds, args.clients
    );

    let baseline = if args.no_baseline {
        None
    } else {
        eprintln!("baseline: one-member Signet (no replication)");
        let single = form_cluster(&signetd, &root.path().join("single"), 1).await?;
        let r = run_levels(&single, &args, "1-member").await?;
        drop(single);
        Some(r)
    };

    eprintln!("cluster: forming 3 members on loopback");
    let mut members = form_cluster(&signetd, &root.path().join("cluster"), 3).await?;
    let results = run_levels(&members, &args, "3-member").await?;
    eprintln!("failover: killing the leader (SIGKILL)");
    let (failover_s, attempts) = failover(&mut members).await?;

    println!();
    println!(
        "| clients | 3-member writes/s | p50 ms | p99 ms | 1-member writes/s (baseline) | ratio 3/1 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (i, r) in results.iter().enumerate() {
        let base = baseline.as_ref().and_then(|b| b.get(i));
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            r.clients,
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            base.map(|b| format!("{:.0}", b.rate()))
                .unwrap_or("-".into()),
            base.map(|b| format!("{:.2}", r.rate() / b.rate().max(1.0)))
                .unwrap_or("-".into()),
        );
    }
    println!();
    println!(
        "failover: leader killed -> first committed write through a survivor: {failover_s:.3} s ({attempts} attempts)"
    );
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("errors during load: {errors}");
    }
    Ok(())
}
