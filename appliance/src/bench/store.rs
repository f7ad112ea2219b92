//! The `store` layer: members in this process, each with its own data directory and member RPC
//! listener on loopback, formed by the same join-token protocol as real nodes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use signet_model::{Dictionary, DictionaryEntry};
use signet_store::{Command, Node, NodeOptions, RaftTuning};

use super::{LoadResult, RaftBenchArgs, Writer, run_levels};

fn options(root: &Path, name: &str) -> anyhow::Result<NodeOptions> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(NodeOptions {
        data_dir: root.join(name),
        cluster_listen: ([127, 0, 0, 1], port).into(),
        cluster_advertise: format!("127.0.0.1:{port}"),
        api_advertise: "-".into(),
        tuning: RaftTuning::default(),
    })
}

/// Starts a member, retrying while a just-stopped member's database is still being released.
async fn start(options: &NodeOptions) -> anyhow::Result<Arc<Node>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Node::start(options.clone()).await {
            Ok(started) => return Ok(started.node),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "member not startable yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn form(root: &Path, size: usize) -> anyhow::Result<Vec<Arc<Node>>> {
    let first = start(&options(root, "m1")?).await?;
    first
        .read()
        .await
        .context("the first member did not become ready")?;
    let mut members = vec![first];
    for i in 2..=size {
        let opts = options(root, &format!("m{i}"))?;
        let joiner = start(&opts).await?;
        let token = members[i - 2]
            .issue_join_token("bench", Duration::from_secs(600))
            .await?;
        joiner.join(&token.token).await?;
        // What signetd does by exec: stop, then start again to finish the join.
        joiner.shutdown().await;
        drop(joiner);
        let joiner = start(&opts).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while joiner.status().pending.is_some()
            || joiner.status().members.iter().filter(|m| m.voter).count() != i
        {
            if Instant::now() > deadline {
                bail!("member {i} did not join");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        members.push(joiner);
    }
    Ok(members)
}

pub(super) async fn measure(
    root: &Path,
    size: usize,
    args: &RaftBenchArgs,
) -> anyhow::Result<Vec<LoadResult>> {
    eprintln!("store layer: {size} member(s) in this process");
    let members = form(root, size).await?;
    members[0]
        .execute(Command::CreateDictionary {
            dictionary: Dictionary {
                name: "bench".into(),
                description: String::new(),
                factory: false,
                created_at: 0,
            },
        })
        .await?;
    let nodes = members.clone();
    let writer: Writer = Arc::new(move |client, n| {
        let node = nodes[client % nodes.len()].clone();
        Box::pin(async move {
            let Ok(entry) = DictionaryEntry::parse(&format!("store-{client}-{n}@bench.example"))
            else {
                return false;
            };
            let command = Command::AddDictionaryEntries {
                name: "bench".into(),
                entries: vec![entry],
            };
            matches!(node.write(command).await, Ok(Ok(_)))
        })
    });
    let results = run_levels(&writer, args, &format!("store {size}-member")).await;
    for m in &members {
        m.shutdown().await;
    }
    Ok(results)
}
