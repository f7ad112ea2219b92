//! `signet mail`: the mail settings, SMTP proxies and archive servers of the node the CLI talks
//! to (Mail > Mail Proxies, Mail > Archive Servers; node-local). Changes apply at once, without
//! a restart of signetd.

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Map, Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum MailCmd {
    /// Show the node's mail settings, or change them with `--set key=value` (repeatable):
    /// hostname, placement (gateway|internal), bounce_unmanaged_senders (true|false),
    /// inbound_mail_server and outbound_delivery (`direct` or `host[:port][,security]`,
    /// security attempt|disable|require|ssl).
    Settings {
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// SMTP proxies: list, add, edit, remove.
    #[command(subcommand)]
    Proxy(ProxyCmd),
    /// Archive servers: list, add, remove.
    #[command(subcommand)]
    Archive(ArchiveCmd),
}

#[derive(Subcommand)]
pub enum ProxyCmd {
    /// This node's proxies, with their connectors, peer and state.
    List,
    /// Add a proxy.
    Add(ProxyArgs),
    /// Change a proxy: the options given replace its values.
    Edit {
        id: String,
        #[command(flatten)]
        args: ProxyArgs,
    },
    /// Delete a proxy.
    Remove { id: String },
}

#[derive(Args)]
pub struct ProxyArgs {
    /// inbound, outbound or unified.
    #[arg(long)]
    kind: Option<String>,
    /// A local connector `address:port[,security]` (security allow|disable|require|ssl);
    /// repeatable. The connectors given replace the proxy's.
    #[arg(long = "connector", value_name = "ADDR:PORT[,SECURITY]")]
    connectors: Vec<String>,
    /// Unified proxy: an address or CIDR range that sends outbound mail (repeatable).
    #[arg(long = "designated", value_name = "IP")]
    designated: Vec<String>,
    /// Allow only these clients on every connector (repeatable).
    #[arg(long)]
    allow: Vec<String>,
    /// Block these clients on every connector (repeatable).
    #[arg(long)]
    block: Vec<String>,
    /// SMTP AUTH: none or mail_server.
    #[arg(long)]
    auth: Option<String>,
}

#[derive(Subcommand)]
pub enum ArchiveCmd {
    List,
    /// Add an archive server that rules can name.
    Add {
        name: String,
        host: String,
        #[arg(long)]
        port: Option<u16>,
        /// attempt (default), disable, require or ssl.
        #[arg(long)]
        security: Option<String>,
    },
    /// Delete an archive server (refused while a rule names it).
    Remove {
        name: String,
    },
}

/// `direct`, or `host[:port][,security]`.
fn delivery(raw: &str) -> anyhow::Result<Value> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("direct") {
        return Ok(json!({ "kind": "direct" }));
    }
    let (hostport, security) = match raw.split_once(',') {
        Some((h, s)) => (h, Some(s.trim())),
        None => (raw, None),
    };
    let mut v = json!({ "kind": "relay", "host": hostport });
    if let Some((host, port)) = hostport.rsplit_once(':')
        && !host.contains(':')
    {
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("{port:?} is not a port"))?;
        v["host"] = json!(host);
        v["port"] = json!(port);
    }
    if let Some(s) = security {
        v["security"] = json!(s);
    }
    Ok(v)
}

fn settings_change(set: &[String]) -> anyhow::Result<Value> {
    let mut body = Map::new();
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set wants key=value, not {kv:?}"))?;
        let value = match k.trim() {
            "hostname" | "placement" => json!(v.trim()),
            "bounce_unmanaged_senders" => json!(
                v.trim()
                    .parse::<bool>()
                    .map_err(|_| anyhow::anyhow!("{k} is true or false"))?
            ),
            "inbound_mail_server" | "outbound_delivery" => delivery(v)?,
            other => anyhow::bail!(
                "unknown setting {other:?} (hostname, placement, bounce_unmanaged_senders, inbound_mail_server, outbound_delivery)"
            ),
        };
        body.insert(k.trim().to_string(), value);
    }
    Ok(Value::Object(body))
}

/// `address:port[,security]`.
fn connector(raw: &str, allow: &[String], block: &[String]) -> anyhow::Result<Value> {
    let (addr, security) = match raw.split_once(',') {
        Some((a, s)) => (a.trim(), Some(s.trim())),
        None => (raw.trim(), None),
    };
    let listen: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| anyhow::anyhow!("{addr:?} is not address:port"))?;
    let mut v =
        json!({ "interface": listen.ip(), "port": listen.port(), "allow": allow, "block": block });
    if let Some(s) = security {
        v["security"] = json!(s);
    }
    Ok(v)
}

/// The proxy body: `base` (an existing proxy, for edit) with the options given laid over it.
fn proxy_body(args: &ProxyArgs, base: Option<Value>) -> anyhow::Result<Value> {
    let mut v = base.unwrap_or_else(|| json!({}));
    let Some(map) = v.as_object_mut() else {
        anyhow::bail!("the node answered something that is not a proxy");
    };
    for k in ["id", "source", "state"] {
        map.remove(k);
    }
    if let Some(Value::Array(cs)) = map.get_mut("connectors") {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("listen");
        }
    }
    if let Some(kind) = &args.kind {
        map.insert("kind".into(), json!(kind));
    }
    if !args.connectors.is_empty() {
        let cs = args
            .connectors
            .iter()
            .map(|c| connector(c, &args.allow, &args.block))
            .collect::<anyhow::Result<Vec<_>>>()?;
        map.insert("connectors".into(), Value::Array(cs));
    } else if (!args.allow.is_empty() || !args.block.is_empty())
        && let Some(Value::Array(cs)) = map.get_mut("connectors")
    {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            c.insert("allow".into(), json!(args.allow));
            c.insert("block".into(), json!(args.block));
        }
    }
    if !args.designated.is_empty() {
        map.insert("designated_source_ips".into(), json!(args.designated));
    }
    if let Some(auth) = &args.auth {
        map.insert("auth".into(), json!(auth));
    }
    Ok(v)
}

fn print_proxies(v: &Value) {
    for p in v.as_array().into_iter().flatten() {
        let connectors: Vec<String> = p["connectors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} {}",
                    c["listen"].as_str().unwrap_or(""),
                    c["security"].as_str().unwrap_or("")
                )
            })
            .collect();
        println!(
            "{:<4} {:<9} {:<40} {} ({})",
            p["id"].as_str().unwrap_or(""),
            p["kind"].as_str().unwrap_or(""),
            connectors.join(", "),
            p["state"].as_str().unwrap_or(""),
            p["source"].as_str().unwrap_or("")
        );
    }
}

pub async fn run(api: ApiClient, cmd: &MailCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        MailCmd::Settings { set } if set.is_empty() => api.get("/api/v1/mail/settings").await?,
        MailCmd::Settings { set } => {
            api.call(
                Method::PUT,
                "/api/v1/mail/settings",
                Some(settings_change(set)?),
            )
            .await?
        }
        MailCmd::Proxy(ProxyCmd::List) => {
            let v = api.get("/api/v1/mail/proxies").await?;
            if !json_out {
                print_proxies(&v);
                return Ok(());
            }
            v
        }
        MailCmd::Proxy(ProxyCmd::Add(args)) => {
            api.post("/api/v1/mail/proxies", proxy_body(args, None)?)
                .await?
        }
        MailCmd::Proxy(ProxyCmd::Edit { id, args }) => {
            let path = format!("/api/v1/mail/proxies/{}", path_segment(id));
            let current = api.get(&path).await?;
            api.call(Method::PUT, &path, Some(proxy_body(args, Some(current))?))
                .await?
        }
        MailCmd::Proxy(ProxyCmd::Remove { id }) => {
            let path = format!("/api/v1/mail/proxies/{}", path_segment(id));
            api.call(Method::DELETE, &path, None).await?
        }
        MailCmd::Archive(ArchiveCmd::List) => {
            let v = api.get("/api/v1/mail/archive-servers").await?;
            if !json_out {
                for a in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<24} {}:{} {} ({})",
                        a["name"].as_str().unwrap_or(""),
                        a["host"].as_str().unwrap_or(""),
                        a["port"],
                        a["security"].as_str().unwrap_or(""),
                        a["source"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            v
        }
        MailCmd::Archive(ArchiveCmd::Add {
            name,
            host,
            port,
            security,
        }) => {
            let mut body = json!({ "name": name, "host": host });
            if let Some(p) = port {
                body["port"] = json!(p);
            }
            if let Some(s) = security {
                body["security"] = json!(s);
            }
            api.post("/api/v1/mail/archive-servers", body).await?
        }
        MailCmd::Archive(ArchiveCmd::Remove { name }) => {
            let path = format!("/api/v1/mail/archive-servers/{}", path_segment(name));
            api.call(Method::DELETE, &path, None).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
