//! `signet template`: message templates (guide: Mail > Message Templates): list them, show
//! one, replace its text from a file, revert it to the factory text.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use hyper::Method;
use serde_json::json;

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum TemplateCmd {
    /// Every template: id, edited or not, whether the mail path sends it today, title.
    List,
    /// One template's text in force (`--json` adds its variables and the factory text).
    Show { id: String },
    /// Replace a template's text with a file's (checked first: header fields, an empty line,
    /// a body, only the template's variables).
    Set { id: String, file: PathBuf },
    /// Revert to the factory text.
    Revert { id: String },
}

pub async fn run(api: ApiClient, cmd: &TemplateCmd, json_out: bool) -> anyhow::Result<()> {
    let path = |id: &str| format!("/api/v1/templates/{}", path_segment(id));
    let v = match cmd {
        TemplateCmd::List => {
            let v = api.get("/api/v1/templates").await?;
            if !json_out {
                for t in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<36} {:<7} {:<8} {}",
                        t["id"].as_str().unwrap_or(""),
                        if t["edited"] == true {
                            "edited"
                        } else {
                            "factory"
                        },
                        if t["in_use"] == true {
                            "in use"
                        } else {
                            "later"
                        },
                        t["title"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            v
        }
        TemplateCmd::Show { id } => {
            let v = api.get(&path(id)).await?;
            if !json_out {
                print!("{}", v["text"].as_str().unwrap_or(""));
                return Ok(());
            }
            v
        }
        TemplateCmd::Set { id, file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            api.call(Method::PUT, &path(id), Some(json!({ "text": text })))
                .await?
        }
        TemplateCmd::Revert { id } => api.post(&format!("{}/revert", path(id)), json!({})).await?,
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
