//! `signet dictionary`: the dictionaries policy rules match against (guide §14.3 "is in
//! dictionary"). Entries are case-insensitive literals.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum DictionaryCmd {
    List,
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a dictionary with its entries (factory dictionaries cannot be deleted).
    Delete {
        name: String,
    },
    /// Print the entries, one per line (an export).
    Entries {
        name: String,
    },
    /// Add entries given as arguments or read from a file (one per line).
    Add {
        name: String,
        entries: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    Remove {
        name: String,
        entries: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Entries containing TEXT, in every dictionary.
    Search {
        text: String,
    },
}

fn gather(entries: &[String], file: Option<&std::path::Path>) -> anyhow::Result<Vec<String>> {
    let mut all = entries.to_vec();
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    if all.is_empty() {
        anyhow::bail!("give entries as arguments or with --file");
    }
    Ok(all)
}

pub async fn run(api: ApiClient, cmd: &DictionaryCmd, json_out: bool) -> anyhow::Result<()> {
    let path = |name: &str| format!("/api/v1/dictionaries/{}", path_segment(name));
    let v: Value = match cmd {
        DictionaryCmd::List => {
            let v = api.get("/api/v1/dictionaries").await?;
            if !json_out {
                for d in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {}{}",
                        d["name"].as_str().unwrap_or(""),
                        d["description"].as_str().unwrap_or(""),
                        if d["factory"] == true {
                            " (factory)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Create { name, description } => {
            api.post(
                "/api/v1/dictionaries",
                json!({ "name": name, "description": description }),
            )
            .await?
        }
        DictionaryCmd::Delete { name } => api.call(Method::DELETE, &path(name), None).await?,
        DictionaryCmd::Entries { name } => {
            let v = api.get(&format!("{}/entries", path(name))).await?;
            if !json_out {
                for e in v.as_array().into_iter().flatten() {
                    println!("{}", e.as_str().unwrap_or(""));
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Add {
            name,
            entries,
            file,
        } => {
            api.post(
                &format!("{}/entries", path(name)),
                json!({ "entries": gather(entries, file.as_deref())? }),
            )
            .await?
        }
        DictionaryCmd::Remove {
            name,
            entries,
            file,
        } => {
            api.call(
                Method::DELETE,
                &format!("{}/entries", path(name)),
                Some(json!({ "entries": gather(entries, file.as_deref())? })),
            )
            .await?
        }
        DictionaryCmd::Search { text } => {
            let v = api
                .get(&format!(
                    "/api/v1/dictionary-search?q={}",
                    path_segment(text)
                ))
                .await?;
            if !json_out {
                for r in v["results"].as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {}",
                        r["dictionary"].as_str().unwrap_or(""),
                        r["entry"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
