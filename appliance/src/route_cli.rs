//! `signet route`: the static mail routes of the node the CLI talks to (Mail > Mail Routes;
//! node-local): list, add, remove.

use clap::Subcommand;
use hyper::Method;
use serde_json::json;

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum RouteCmd {
    /// This node's routes: those added here and those from its configuration file.
    List,
    /// Send mail for a domain (or `*`: every domain without a route) to host:port.
    Add {
        domain: String,
        host: String,
        #[arg(long, default_value_t = 25)]
        port: u16,
    },
    /// Remove a route added with `route add`.
    Remove { domain: String },
}

pub async fn run(api: ApiClient, cmd: &RouteCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        RouteCmd::List => {
            let v = api.get("/api/v1/mail/routes").await?;
            if !json_out {
                for r in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {}:{} ({})",
                        r["domain"].as_str().unwrap_or(""),
                        r["host"].as_str().unwrap_or(""),
                        r["port"],
                        r["source"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            v
        }
        RouteCmd::Add { domain, host, port } => {
            api.post(
                "/api/v1/mail/routes",
                json!({ "domain": domain, "host": host, "port": port }),
            )
            .await?
        }
        RouteCmd::Remove { domain } => {
            let path = format!("/api/v1/mail/routes/{}", path_segment(domain));
            api.call(Method::DELETE, &path, None).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
