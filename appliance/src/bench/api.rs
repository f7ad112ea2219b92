//! The `api` layer: three real `signetd` processes; clients make authenticated HTTPS API calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::{LoadResult, RaftBenchArgs, Writer, run_levels};
use crate::client::{ApiClient, CliFile};

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
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
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

/// Measures every concurrency level on a cluster of `size` processes; with `failover_too`,
/// then kills the leader and times the first write that succeeds through a survivor.
pub(super) async fn measure(
    signetd: &Path,
    root: &Path,
    size: usize,
    args: &RaftBenchArgs,
    failover_too: bool,
) -> anyhow::Result<(Vec<LoadResult>, Option<(f64, u64)>)> {
    eprintln!("api layer: {size} signetd process(es) on loopback");
    let mut members = form_cluster(signetd, root, size).await?;
    members[0]
        .api
        .post("/api/v1/dictionaries", json!({ "name": "bench" }))
        .await?;
    let apis: Vec<Arc<ApiClient>> = members
        .iter()
        .map(|m| ApiClient::from_file(&CliFile::read(&m.dir)?).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    let writer: Writer = Arc::new(move |client, n| {
        let api = apis[client % apis.len()].clone();
        Box::pin(async move {
            let body = json!({ "entries": [format!("api-{client}-{n}@bench.example")] });
            api.post("/api/v1/dictionaries/bench/entries", body)
                .await
                .is_ok()
        })
    });
    let results = run_levels(&writer, args, &format!("api {size}-member")).await;
    let failover_result = if failover_too {
        eprintln!("api layer: killing the leader (SIGKILL)");
        Some(failover(&mut members).await?)
    } else {
        None
    };
    Ok((results, failover_result))
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
