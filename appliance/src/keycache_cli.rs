//! `signet keycache`: the key cache (guide §4, Keys > Key Cache): list and search, show a
//! key, purge one or all, trust a key (it becomes an external user), the cache timeout, and a
//! keyserver lookup that caches what it finds.

use clap::Subcommand;
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum KeycacheCmd {
    /// Cached keys: id, primary email, source, purge time. With a query, only matching keys.
    List { query: Option<String> },
    /// Key Information, with the key itself.
    Show { id: String },
    /// Purge Key Now: remove one key (it is fetched again on the next search).
    Purge { id: String },
    /// Purge All.
    PurgeAll,
    /// Trust Key: the key becomes an external user's key and leaves the cache.
    Trust {
        id: String,
        /// The external user's address; the key's primary email when absent.
        #[arg(long)]
        email: Option<String>,
    },
    /// Show the public key cache timeout, or set it (12h, 30d; 1 hour to 999 days).
    Timeout { value: Option<String> },
    /// Search one keyserver for an address now and cache what it finds.
    Lookup {
        email: String,
        /// ldap, ldaps, x509-ldap, x509-ldaps, hkp, hkps or wkd.
        #[arg(long, default_value = "ldap")]
        kind: String,
        /// Host name; keys.$ADDRESS_DOMAIN takes the address's domain.
        #[arg(long, default_value = "keys.$ADDRESS_DOMAIN")]
        host: String,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        base_dn: Option<String>,
        /// The description the cache's Source shows; the host when absent.
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
}

fn kind_name(raw: &str) -> anyhow::Result<&'static str> {
    Ok(match raw.to_ascii_lowercase().as_str() {
        "ldap" | "pgp-ldap" => "pgp-ldap",
        "ldaps" | "pgp-ldaps" => "pgp-ldaps",
        "x509-ldap" => "x509-ldap",
        "x509-ldaps" => "x509-ldaps",
        "hkp" => "hkp",
        "hkps" => "hkps",
        "wkd" => "wkd",
        other => anyhow::bail!(
            "unknown keyserver kind {other:?}: ldap, ldaps, x509-ldap, x509-ldaps, hkp, hkps, wkd"
        ),
    })
}

pub async fn run(api: ApiClient, cmd: &KeycacheCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        KeycacheCmd::List { query } => {
            let path = match query {
                Some(q) => format!("/api/v1/keycache?q={}", path_segment(q)),
                None => "/api/v1/keycache".to_string(),
            };
            let v = api.get(&path).await?;
            if !json_out {
                let keys = v["keys"].as_array().cloned().unwrap_or_default();
                if keys.is_empty() {
                    println!("The key cache is empty.");
                }
                for k in &keys {
                    println!("{}", line(k));
                }
                return Ok(());
            }
            v
        }
        KeycacheCmd::Show { id } => {
            let v = api
                .get(&format!("/api/v1/keycache/{}", path_segment(id)))
                .await?;
            if !json_out {
                println!("{}", line(&v));
                if let Some(key) = v["key"].as_str() {
                    print!("{key}");
                }
                return Ok(());
            }
            v
        }
        KeycacheCmd::Purge { id } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/keycache/{}", path_segment(id)),
                None,
            )
            .await?
        }
        KeycacheCmd::PurgeAll => api.call(Method::DELETE, "/api/v1/keycache", None).await?,
        KeycacheCmd::Trust { id, email } => {
            api.post(
                &format!("/api/v1/keycache/{}/trust", path_segment(id)),
                json!({ "email": email }),
            )
            .await?
        }
        KeycacheCmd::Timeout { value: None } => api.get("/api/v1/keycache/settings").await?,
        KeycacheCmd::Timeout { value: Some(t) } => {
            api.call(
                Method::PUT,
                "/api/v1/keycache/settings",
                Some(json!({ "timeout": t })),
            )
            .await?
        }
        KeycacheCmd::Lookup {
            email,
            kind,
            host,
            port,
            base_dn,
            description,
            timeout_ms,
        } => {
            let body = json!({
                "email": email,
                "timeout_ms": timeout_ms,
                "keyserver": {
                    "description": description.clone().unwrap_or_else(|| host.clone()),
                    "kind": kind_name(kind)?,
                    "host": host,
                    "port": port,
                    "base_dn": base_dn,
                    "trusted": false,
                },
            });
            api.post("/api/v1/keycache/lookup", body).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

/// One key on one line: id, primary email, source, purge time (Unix ms).
fn line(k: &Value) -> String {
    format!(
        "{}  {}  {}  source: {}  purge at {}",
        k["id"].as_str().unwrap_or(""),
        k["kind"].as_str().unwrap_or(""),
        k["primary_email"].as_str().unwrap_or(""),
        k["source"].as_str().unwrap_or(""),
        k["purge_at"]
    )
}
