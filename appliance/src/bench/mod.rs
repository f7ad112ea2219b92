//! `signet bench raft`: committed writes per second and latency on a 3-member loopback cluster,
//! and the time from killing the leader to the first write that succeeds through another member.
//!
//! Two layers are measured, each beside a one-member baseline run in the same invocation with
//! the same clients (the same work without replication, so the ratio is the price of the
//! cluster):
//! - `store` ([`store`]): three members in this process, talking to each other over loopback
//!   with mutual TLS as always; clients call `Node::write` on every member. This is the
//!   replicated store's own capacity: every write is committed by a majority, each member
//!   fsyncing its log.
//! - `api` ([`api`]): three real `signetd` processes; each write is what an administrator's
//!   tool does, an authenticated HTTPS API call. Failover is measured here, with SIGKILL.
//!
//! `signet bench crypto` ([`crypto`]) measures the message transforms instead, and
//! `signet bench policy` ([`policy`]) the mail-policy decisions, and `signet bench admin-ui`
//! ([`admin_ui`]) the admin UI's users page with a large directory.

pub mod admin_ui;
mod api;
pub mod crypto;
pub mod hkp;
pub mod keyserver;
pub mod mail;
pub mod policy;
mod store;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(Debug, Clone, clap::Args)]
pub struct RaftBenchArgs {
    /// Seconds of load per concurrency level.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent clients, comma-separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    pub clients: Vec<usize>,
    /// The signetd binary for the api layer (default: next to this signet).
    #[arg(long)]
    pub signetd: Option<PathBuf>,
    /// Skip the one-member baselines.
    #[arg(long)]
    pub no_baseline: bool,
    /// Keep the members' data and logs in this directory instead of a temporary one.
    #[arg(long)]
    pub keep_dir: Option<PathBuf>,
    /// Which layers to measure.
    #[arg(long, value_enum, default_value = "both")]
    pub layer: Layer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layer {
    Store,
    Api,
    Both,
}

/// One write by client `c`, its `n`th; true when it was committed.
pub(crate) type Writer =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Throughput and latency of one load run.
pub(crate) struct LoadResult {
    clients: usize,
    writes: u64,
    errors: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.writes as f64 / self.secs
    }
}

/// Runs `clients` closed-loop clients for `secs` seconds.
async fn load(writer: &Writer, clients: usize, secs: u64) -> LoadResult {
    let stop = Instant::now() + Duration::from_secs(secs);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let writer = writer.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < stop {
                    let t = Instant::now();
                    if writer(c, n).await {
                        latencies.push(t.elapsed());
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    let secs = started.elapsed().as_secs_f64();
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
        secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// A short warm-up, then every concurrency level, with progress on stderr.
async fn run_levels(writer: &Writer, args: &RaftBenchArgs, label: &str) -> Vec<LoadResult> {
    let _ = load(writer, 4, 1).await;
    let mut results = Vec::new();
    for &c in &args.clients {
        eprintln!("  {label}: {c} client(s) for {} s ...", args.seconds);
        let r = load(writer, c, args.seconds).await;
        eprintln!(
            "  {label}: {c:>3} clients {:>8.0} writes/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
        results.push(r);
    }
    results
}

fn print_table(layer: &str, results: &[LoadResult], baseline: Option<&[LoadResult]>) {
    println!();
    println!("{layer} layer");
    println!(
        "| clients | 3-member writes/s | p50 ms | p99 ms | 1-member writes/s (baseline) | ratio 3/1 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (i, r) in results.iter().enumerate() {
        let base = baseline.and_then(|b| b.get(i));
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
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("errors during load: {errors}");
    }
}

pub async fn raft(args: RaftBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let root = args
        .keep_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    eprintln!(
        "signet bench raft: {} s per level, clients {:?}",
        args.seconds, args.clients
    );

    let mut tables = Vec::new();
    if args.layer != Layer::Api {
        let baseline = match args.no_baseline {
            true => None,
            false => Some(store::measure(&root.join("store-single"), 1, &args).await?),
        };
        let results = store::measure(&root.join("store-cluster"), 3, &args).await?;
        tables.push(("store", results, baseline));
    }
    let mut failover = None;
    if args.layer != Layer::Store {
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
        let baseline = match args.no_baseline {
            true => None,
            false => Some(
                api::measure(&signetd, &root.join("api-single"), 1, &args, false)
                    .await?
                    .0,
            ),
        };
        let (results, f) =
            api::measure(&signetd, &root.join("api-cluster"), 3, &args, true).await?;
        failover = f;
        tables.push(("api", results, baseline));
    }
    for (layer, results, baseline) in &tables {
        print_table(layer, results, baseline.as_deref());
    }
    if let Some((secs, attempts)) = failover {
        println!();
        println!(
            "failover: leader killed (SIGKILL) -> first committed write through a survivor: {secs:.3} s ({attempts} attempts)"
        );
    }
    Ok(())
}

// Shared by the single-threaded benchmarks (`crypto`).

/// Operations counted over an elapsed time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate {
    pub count: u64,
    pub secs: f64,
}

impl Rate {
    pub fn per_sec(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

/// Calls `op` for at least `secs` seconds (and at least once), after one untimed call.
pub(crate) fn timed(secs: f64, mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Rate> {
    op()?;
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        op()?;
        count += 1;
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= secs {
            return Ok(Rate {
                count,
                secs: elapsed,
            });
        }
    }
}

/// Calls `op` exactly `n` times (after the caller's warm-up).
pub(crate) fn counted(
    n: usize,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Rate> {
    let start = Instant::now();
    for _ in 0..n.max(1) {
        op()?;
    }
    Ok(Rate {
        count: n.max(1) as u64,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Pins the calling thread to one CPU (children spawned from it inherit the mask).
pub(crate) fn pin(cpu: Option<usize>) -> anyhow::Result<usize> {
    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::Pid;
    let current = sched_getaffinity(Pid::from_raw(0))?;
    let cpu = match cpu {
        Some(c) => c,
        None => (0..CpuSet::count())
            .rev()
            .find(|&c| current.is_set(c).unwrap_or(false))
            .context("no CPU in this process's affinity mask")?,
    };
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .with_context(|| format!("cannot pin to CPU {cpu}"))?;
    Ok(cpu)
}

/// The CPU model and the number of logical CPUs, from /proc/cpuinfo.
pub(crate) fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{model}, {cores} logical CPU(s)")
}
