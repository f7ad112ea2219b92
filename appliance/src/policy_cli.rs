//! `signet policy`: the mail policy's chains, as JSON documents (the admin UI's rule editor
//! comes with the admin-UI issue). `put` validates the whole policy on the server first.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use hyper::Method;
use serde_json::Value;

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// The chains: name, applicability, factory, number of rules.
    List,
    /// One chain as JSON (edit it and `put` it back).
    Show { name: String },
    /// Create or replace a chain from a JSON file.
    Put { file: PathBuf },
    /// Delete a chain (factory chains cannot be deleted).
    Delete { name: String },
    /// Validate the whole policy: errors and warnings.
    Validate,
    /// Put every factory chain back as it ships; your own chains stay.
    RestoreFactoryDefaults,
}

pub async fn run(api: ApiClient, cmd: &PolicyCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        PolicyCmd::List => {
            let v = api.get("/api/v1/policy/chains").await?;
            if !json_out {
                for c in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {:<18} {:>3} rules{}",
                        c["name"].as_str().unwrap_or(""),
                        c["applicability"].as_str().unwrap_or(""),
                        c["rules"],
                        if c["factory"] == true {
                            "  (factory)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        PolicyCmd::Show { name } => {
            api.get(&format!("/api/v1/policy/chains/{}", path_segment(name)))
                .await?
        }
        PolicyCmd::Put { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let chain: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON chain", file.display()))?;
            let name = chain["name"]
                .as_str()
                .context("the chain has no \"name\"")?
                .to_string();
            api.call(
                Method::PUT,
                &format!("/api/v1/policy/chains/{}", path_segment(&name)),
                Some(chain),
            )
            .await?
        }
        PolicyCmd::Delete { name } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/policy/chains/{}", path_segment(name)),
                None,
            )
            .await?
        }
        PolicyCmd::Validate => api.get("/api/v1/policy/validate").await?,
        PolicyCmd::RestoreFactoryDefaults => {
            api.post(
                "/api/v1/policy/restore-factory-defaults",
                serde_json::json!({}),
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
