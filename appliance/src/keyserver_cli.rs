//! `signet keyserver`: the cluster's keyservers for key lookup (Keys > Keyservers), the list
//! rules' Key Search name: list, add, remove, order.

use clap::Subcommand;
use hyper::Method;
use serde_json::json;

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum KeyserverCmd {
    /// Every keyserver, in search order.
    List,
    /// Add a keyserver at the end of the list.
    Add {
        /// The description rules' Key Search lists name it by.
        name: String,
        /// ldap, ldaps, x509-ldap, x509-ldaps, hkp, hkps or wkd.
        #[arg(long)]
        kind: String,
        /// Host name or address (`keys.$ADDRESS_DOMAIN` takes the recipient's domain).
        #[arg(long, default_value = "")]
        host: String,
        /// Overrides the kind's default port.
        #[arg(long)]
        port: Option<u16>,
        /// LDAP: where to search (found from the server when absent).
        #[arg(long)]
        base_dn: Option<String>,
        /// Trust keys from this keyserver implicitly.
        #[arg(long)]
        trusted: bool,
    },
    /// Remove a keyserver.
    Remove { name: String },
    /// Put the keyservers in this order (every name once).
    Order {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub async fn run(api: ApiClient, cmd: &KeyserverCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        KeyserverCmd::List => {
            let v = api.get("/api/v1/keyservers").await?;
            if !json_out {
                for k in v.as_array().into_iter().flatten() {
                    let port = k["port"]
                        .as_u64()
                        .map(|p| format!(":{p}"))
                        .unwrap_or_default();
                    println!(
                        "{:<3} {:<24} {:<10} {}{}",
                        k["order"],
                        k["name"].as_str().unwrap_or(""),
                        k["kind"].as_str().unwrap_or(""),
                        k["host"].as_str().unwrap_or(""),
                        port
                    );
                }
                return Ok(());
            }
            v
        }
        KeyserverCmd::Add {
            name,
            kind,
            host,
            port,
            base_dn,
            trusted,
        } => {
            api.post(
                "/api/v1/keyservers",
                json!({
                    "name": name, "kind": kind, "host": host, "port": port,
                    "base_dn": base_dn, "trusted": trusted,
                }),
            )
            .await?
        }
        KeyserverCmd::Remove { name } => {
            let path = format!("/api/v1/keyservers/{}", path_segment(name));
            api.call(Method::DELETE, &path, None).await?
        }
        KeyserverCmd::Order { names } => {
            api.call(
                Method::PUT,
                "/api/v1/keyservers/order",
                Some(json!({ "names": names })),
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
