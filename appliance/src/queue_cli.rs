//! `signet queue`: this member's mail queue (guide: Mail > Mail Queue): what waits, why, and
//! delete or retry it. Deleting does not notify the sender.

use clap::Subcommand;
use hyper::Method;
use serde_json::Value;

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum QueueCmd {
    /// Queued messages: id, sender, recipients, reason, size.
    List,
    /// Delete one message (the sender is not told).
    Delete { id: String },
    /// Delete every queued message.
    DeleteAll,
    /// Try a message again now.
    Retry { id: String },
}

pub async fn run(api: ApiClient, cmd: &QueueCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        QueueCmd::List => {
            let v = api.get("/api/v1/queue").await?;
            if !json_out {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    println!("The mail queue is empty.");
                }
                for m in &list {
                    println!("{}", line(m));
                }
                return Ok(());
            }
            v
        }
        QueueCmd::Delete { id } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/queue/{}", path_segment(id)),
                None,
            )
            .await?
        }
        QueueCmd::DeleteAll => api.call(Method::DELETE, "/api/v1/queue", None).await?,
        QueueCmd::Retry { id } => {
            api.post(
                &format!("/api/v1/queue/{}/retry", path_segment(id)),
                serde_json::json!({}),
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

/// One message on one line: id, sender, recipients, size, reason.
fn line(m: &Value) -> String {
    let rcpts: Vec<String> = m["recipients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} ({})",
                r["address"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    format!(
        "{}  from <{}>  to {}  {} bytes  {}",
        m["id"].as_str().unwrap_or(""),
        m["from"].as_str().unwrap_or(""),
        rcpts.join(", "),
        m["size"],
        m["reason"].as_str().unwrap_or("")
    )
}
