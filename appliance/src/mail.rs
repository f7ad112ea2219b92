//! The member's mail proxies: the `[mail]` part of the configuration, and starting the
//! listeners and the queue. Proxies are node-local (DESIGN.md): each member has its own
//! connectors, spool and routes; policy, keys and dictionaries come from the replicated state.
//!
//! ```toml
//! [mail]
//! hostname = "gateway.example.com"
//! placement = "gateway"                 # or "internal"
//! bounce_unmanaged_senders = false      # KB 160945
//! inbound_next_hop = { kind = "relay", host = "10.0.0.5", port = 25, tls = "attempt" }
//! outbound_next_hop = { kind = "direct" }
//!
//! [[mail.proxy]]
//! kind = "unified"                      # inbound | outbound | unified
//! listen = "0.0.0.0:25"
//! client_tls = "allow"                  # allow | disable | require | ssl
//! designated_source_ips = ["10.0.0.5"]  # unified: these send outbound mail
//!
//! [[mail.route]]
//! domain = "example.com"
//! host = "10.0.0.5"
//!
//! [[mail.keyserver]]
//! description = "Partner keys"
//! kind = "hkps"                         # pgp-ldap | pgp-ldaps | x509-ldap | x509-ldaps | hkp | hkps | wkd
//! host = "keys.partner.example"
//!
//! [[mail.archive_server]]
//! name = "Archive"
//! host = "10.0.0.9"
//! port = 25
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use signet_mailpath::{MailService, MailSettings};
use signet_smtp::access::{AccessLists, IpRange};
use signet_smtp::client::ClientSettings;
use signet_smtp::delivery::{RetryPolicy, Transport};
use signet_smtp::queue::Queue;
use signet_smtp::reply::Reply;
use signet_smtp::routes::{DnsResolver, MailRoute, MailRoutes, NextHop};
use signet_smtp::server::{ClientTls, Hooks, ProxySettings};
use signet_smtp::session::SessionConfig;
use signet_smtp::spool::{Direction, Envelope, Spool};
use signet_store::Node;
use signet_web::api_queue::{MailQueue, QueueError};
use tokio::sync::watch;

/// Where the appliance sits (guide: placement decides which proxies may exist).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Between the Internet and the mail server: Inbound, Outbound and Unified proxies.
    #[default]
    Gateway,
    /// Beside the mail server, for its users' outbound mail only.
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    Inbound,
    Outbound,
    Unified,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub kind: ProxyKind,
    pub listen: SocketAddr,
    #[serde(default = "default_client_tls")]
    pub client_tls: ClientTls,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub block: Vec<String>,
    /// Unified proxy: connections from these addresses are outbound, all others inbound.
    #[serde(default)]
    pub designated_source_ips: Vec<String>,
    #[serde(default = "default_rate")]
    pub connections_per_second: u32,
    #[serde(default = "default_max_size")]
    pub max_message_size: usize,
}

fn default_client_tls() -> ClientTls {
    ClientTls::Allow
}
fn default_rate() -> u32 {
    200
}
fn default_max_size() -> usize {
    50 * 1024 * 1024
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub hostname: Option<String>,
    pub placement: Placement,
    pub bounce_unmanaged_senders: bool,
    pub inbound_next_hop: Option<NextHop>,
    pub outbound_next_hop: Option<NextHop>,
    /// A DNS server for MX lookups instead of the system's (tests point it at loopback).
    pub dns_server: Option<SocketAddr>,
    /// Retry delays in seconds (default 60, 300, 900, 1800, 3600) and expiry in hours (96).
    pub retry_delays_secs: Option<Vec<u64>>,
    pub expire_after_hours: Option<u64>,
    pub proxy: Vec<ProxyConfig>,
    pub route: Vec<MailRoute>,
    /// Archive servers named by "Send copy to alternate archive server" rules.
    pub archive_server: Vec<signet_mailpath::archive::ArchiveServer>,
    /// Node-local additions to the cluster's keyserver list (`signet keyserver`), named by
    /// rules' Key Search lists; the replicated entry wins for a name in both.
    pub keyserver: Vec<signet_keyserver::Keyserver>,
    /// Seconds one keyserver may take (default 10).
    pub keyserver_timeout_secs: Option<u64>,
    /// Host name → address for keyservers, instead of DNS (closed networks, tests).
    pub keyserver_resolve: std::collections::BTreeMap<String, SocketAddr>,
}

impl MailConfig {
    /// Refuses what the placement does not allow and lists that do not parse.
    pub fn check(&self) -> anyhow::Result<()> {
        for p in &self.proxy {
            if self.placement == Placement::Internal && p.kind != ProxyKind::Outbound {
                anyhow::bail!(
                    "[[mail.proxy]] on {}: an internal placement has only Outbound proxies",
                    p.listen
                );
            }
            for r in p
                .allow
                .iter()
                .chain(&p.block)
                .chain(&p.designated_source_ips)
            {
                r.parse::<IpRange>()
                    .map_err(|e| anyhow::anyhow!("[[mail.proxy]] on {}: {e}", p.listen))?;
            }
        }
        Ok(())
    }
}

fn ranges(list: &[String]) -> Vec<IpRange> {
    list.iter().filter_map(|r| r.parse().ok()).collect()
}

/// What a proxy asks the mail path: direction, recipient acceptance, "something was queued".
struct ProxyHooks {
    node: Arc<Node>,
    kind: ProxyKind,
    designated: Vec<IpRange>,
    queue: Arc<Queue<MailService, DnsResolver>>,
}

impl Hooks for ProxyHooks {
    fn direction(&self, client: IpAddr) -> Direction {
        match self.kind {
            ProxyKind::Inbound => Direction::Inbound,
            ProxyKind::Outbound => Direction::Outbound,
            ProxyKind::Unified if self.designated.iter().any(|r| r.contains(client)) => {
                Direction::Outbound
            }
            ProxyKind::Unified => Direction::Inbound,
        }
    }

    /// Inbound mail is accepted only for managed domains (and their subdomains): no open relay.
    fn check_recipient(&self, direction: Direction, address: &str) -> Result<(), Reply> {
        if direction == Direction::Outbound {
            return Ok(());
        }
        let domain = address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        let managed = self.node.local().managed_domains().unwrap_or_default();
        let ours = domain.is_some_and(|d| {
            managed.iter().any(|m| {
                let m = m.name.to_ascii_lowercase();
                d == m || d.ends_with(&format!(".{m}"))
            })
        });
        if ours {
            Ok(())
        } else {
            Err(Reply::new(
                550,
                (5, 7, 1),
                "Relaying denied: not a managed domain",
            ))
        }
    }

    fn accepted(&self, _: &Envelope) {
        self.queue.wake();
    }
}

/// The running mail side of a member: its tasks and the queue the API shows.
pub struct Running {
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub queue: Option<signet_web::api_queue::SharedQueue>,
    /// The queue itself, for mail the server writes (Verified Directory mail).
    pub outbox: Option<Arc<Queue<MailService, DnsResolver>>>,
}

/// The queue as the API sees it.
struct QueueView(Arc<Queue<MailService, DnsResolver>>);

fn queue_error(e: signet_smtp::SpoolError) -> QueueError {
    match e {
        signet_smtp::SpoolError::NotFound(id) => QueueError::NotFound(id),
        signet_smtp::SpoolError::BadId(id) => QueueError::NotFound(id),
        other => QueueError::Other(other.to_string()),
    }
}

impl MailQueue for QueueView {
    fn list(&self) -> Result<Vec<serde_json::Value>, QueueError> {
        let entries = self.0.spool().list().map_err(queue_error)?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let reason = e
                    .recipients
                    .iter()
                    .find_map(|r| r.last_error.clone())
                    .unwrap_or_else(|| match e.stage {
                        signet_smtp::spool::Stage::Received => "waiting for policy".into(),
                        signet_smtp::spool::Stage::Outgoing => "waiting for delivery".into(),
                    });
                serde_json::json!({
                    "id": e.id,
                    "stage": e.stage,
                    "direction": e.direction,
                    "from": e.mail_from,
                    "recipients": e.recipients,
                    "received_at": e.received_at,
                    "size": e.size,
                    "reason": reason,
                    "next_attempt": e.next_due(),
                    "connection": format!("SMTP-{:05}", e.connection),
                })
            })
            .collect())
    }

    fn delete(&self, id: &str) -> Result<(), QueueError> {
        self.0.delete(id).map_err(queue_error)?;
        tracing::info!(
            queue_id = id,
            "message deleted from the queue by an administrator (the sender is not notified)"
        );
        Ok(())
    }

    fn retry(&self, id: &str) -> Result<(), QueueError> {
        self.0.retry_now(id).map_err(queue_error)
    }
}

/// Keeps delivery's static routes equal to the configuration's plus those added through the
/// API (node-local store; these win for a domain). The API signals each change, so a route
/// takes effect at once, without a restart.
async fn follow_local_routes(
    node: Arc<Node>,
    configured: Vec<MailRoute>,
    queue: Arc<Queue<MailService, DnsResolver>>,
    mut stop: watch::Receiver<bool>,
) {
    let local = node.local_store();
    let listed: Vec<signet_store::local::LocalMailRoute> = configured
        .iter()
        .map(|r| signet_store::local::LocalMailRoute {
            domain: r.domain.trim().to_ascii_lowercase(),
            host: r.host.clone(),
            port: r.port,
        })
        .collect();
    if let Err(e) = local.set_configured_mail_routes(&listed) {
        tracing::warn!(error = %e, "cannot record the configured mail routes for the API");
    }
    loop {
        match local.mail_routes() {
            Ok(added) => {
                let routes =
                    MailRoutes::new(configured.iter().cloned().chain(added.into_iter().map(|r| {
                        MailRoute {
                            domain: r.domain,
                            host: r.host,
                            port: r.port,
                        }
                    })));
                if let Ok(mut current) = queue.transport().routes.write()
                    && *current != routes
                {
                    *current = routes;
                    tracing::info!("mail routes changed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read this node's mail routes"),
        }
        tokio::select! {
            _ = local.mail_routes_changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Starts the queue and every configured proxy; they stop when `stop` turns true. A member
/// without proxies runs no queue.
pub async fn start(
    node: Arc<Node>,
    config: &MailConfig,
    data_dir: &Path,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    config.check()?;
    if config.proxy.is_empty() {
        return Ok(Running {
            tasks: Vec::new(),
            queue: None,
            outbox: None,
        });
    }
    let hostname = config.hostname.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    });
    let spool = Spool::open(data_dir.join("spool")).context("opening the mail spool")?;
    let settings = MailSettings {
        hostname: hostname.clone(),
        inbound_next_hop: config.inbound_next_hop.clone().unwrap_or_default(),
        outbound_next_hop: config.outbound_next_hop.clone().unwrap_or_default(),
        bounce_unmanaged_senders: config.bounce_unmanaged_senders,
        archive_servers: config.archive_server.clone(),
        keyservers: config.keyserver.clone(),
        keyserver_timeout_secs: config.keyserver_timeout_secs.unwrap_or(10),
        keyserver_resolve: config.keyserver_resolve.clone(),
    };
    let resolver = match config.dns_server {
        Some(server) => DnsResolver::with_server(server),
        None => DnsResolver::system(),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let transport = Transport::new(
        ClientSettings {
            hostname: hostname.clone(),
            ..ClientSettings::default()
        },
        MailRoutes::new(config.route.clone()),
        resolver,
    );
    let mut retry = RetryPolicy::default();
    if let Some(delays) = &config.retry_delays_secs {
        retry.delays = delays.iter().map(|s| Duration::from_secs(*s)).collect();
    }
    if let Some(h) = config.expire_after_hours {
        retry.expire_after = Duration::from_secs(h * 3600);
    }
    let queue = Arc::new(Queue::new(
        spool.clone(),
        MailService::new(node.clone(), settings),
        transport,
        retry,
    ));
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = vec![tokio::spawn(queue.clone().run(stopped(stop.clone())))];
    tasks.push(tokio::spawn(follow_local_routes(
        node.clone(),
        config.route.clone(),
        queue.clone(),
        stop.clone(),
    )));
    // STARTTLS uses the member's certificate, without the admin listener's ALPN list.
    let tls = tls.map(|t| {
        let mut c = (*t).clone();
        c.alpn_protocols.clear();
        Arc::new(c)
    });
    let connections = Arc::new(AtomicU64::new(0));
    for p in &config.proxy {
        let listener = tokio::net::TcpListener::bind(p.listen)
            .await
            .with_context(|| format!("cannot listen for SMTP on {}", p.listen))?;
        let name = format!("{:?}", p.kind);
        tracing::info!(proxy = %name, listen = %p.listen, tls = ?p.client_tls, "SMTP proxy listening");
        let settings = ProxySettings {
            name,
            session: SessionConfig {
                hostname: hostname.clone(),
                max_message_size: p.max_message_size,
                ..SessionConfig::default()
            },
            client_tls: p.client_tls,
            tls: tls.clone(),
            access: AccessLists {
                allow: ranges(&p.allow),
                block: ranges(&p.block),
            },
            connections_per_second: p.connections_per_second,
            idle_timeout: Duration::from_secs(300),
        };
        let hooks = ProxyHooks {
            node: node.clone(),
            kind: p.kind,
            designated: ranges(&p.designated_source_ips),
            queue: queue.clone(),
        };
        tasks.push(tokio::spawn(signet_smtp::server::serve(
            listener,
            settings,
            spool.clone(),
            hooks,
            connections.clone(),
            stopped(stop.clone()),
        )));
    }
    Ok(Running {
        tasks,
        queue: Some(Arc::new(QueueView(queue.clone()))),
        outbox: Some(queue),
    })
}
