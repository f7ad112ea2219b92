//! The member's mail proxies: the `[mail]` part of the configuration, its translation to the
//! mail settings the API edits (`signet_model::mail_settings`), and what a proxy asks the mail
//! path. Proxies are node-local (DESIGN.md): each member has its own connectors, spool and
//! routes; policy, keys and dictionaries come from the replicated state. The TOML gives the
//! boot-time values; what an administrator sets through the API wins for those keys, and
//! [`crate::mail_supervisor`] applies a change without a restart.
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
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use signet_mailpath::MailService;
use signet_model::mail_settings as ms;
use signet_smtp::access::IpRange;
use signet_smtp::client::ServerTls;
use signet_smtp::queue::Queue;
use signet_smtp::reply::Reply;
use signet_smtp::routes::{DnsResolver, MailRoute, MailRoutes, NextHop};
use signet_smtp::server::{ClientTls, Hooks};
use signet_smtp::spool::{Direction, Envelope};
use signet_store::Node;
use signet_store::local::ConfiguredMail;
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
    /// SMTP AUTH checked by the mail server (`mail_server`; the internal placement), or none.
    #[serde(default)]
    pub auth: ms::ProxyAuth,
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
    /// Where the setup assistant's proxy listens (default 0.0.0.0:25; the embedded
    /// development default and tests use a loopback port so several nodes do not collide).
    pub setup_listen: Option<SocketAddr>,
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

pub(crate) fn ranges(list: &[String]) -> Vec<IpRange> {
    list.iter().filter_map(|r| r.parse().ok()).collect()
}

/// What a proxy asks the mail path: direction, recipient acceptance, "something was queued".
pub(crate) struct ProxyHooks {
    pub(crate) node: Arc<Node>,
    pub(crate) kind: ProxyKind,
    pub(crate) designated: Vec<IpRange>,
    pub(crate) queue: Arc<Queue<MailService, DnsResolver>>,
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

/// The queue as the API sees it.
pub(crate) struct QueueView(pub(crate) Arc<Queue<MailService, DnsResolver>>);

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
pub(crate) async fn follow_local_routes(
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

/// The TOML's values in the API's terms, recorded in the local store at each start so the API
/// can show them (`source: config`) and the supervisor can lay the API's values over them.
pub fn configured(config: &MailConfig) -> ConfiguredMail {
    let proxies = config
        .proxy
        .iter()
        .enumerate()
        .map(|(i, p)| ms::Proxy {
            id: format!("p{}", i + 1),
            kind: match p.kind {
                ProxyKind::Inbound => ms::ProxyKind::Inbound,
                ProxyKind::Outbound => ms::ProxyKind::Outbound,
                ProxyKind::Unified => ms::ProxyKind::Unified,
            },
            connectors: vec![ms::Connector {
                interface: p.listen.ip(),
                port: Some(p.listen.port()),
                security: match p.client_tls {
                    ClientTls::Allow => ms::ClientSecurity::Allow,
                    ClientTls::Disable => ms::ClientSecurity::Disable,
                    ClientTls::Require => ms::ClientSecurity::Require,
                    ClientTls::Ssl => ms::ClientSecurity::Ssl,
                },
                allow: p.allow.clone(),
                block: p.block.clone(),
            }],
            designated_source_ips: p.designated_source_ips.clone(),
            connections_per_second: p.connections_per_second,
            max_message_size: p.max_message_size as u64,
            auth: p.auth,
        })
        .collect();
    ConfiguredMail {
        mail: ms::NodeMail {
            settings: ms::MailSettings {
                hostname: config.hostname.clone(),
                placement: match config.placement {
                    Placement::Gateway => ms::Placement::Gateway,
                    Placement::Internal => ms::Placement::Internal,
                },
                bounce_unmanaged_senders: config.bounce_unmanaged_senders,
                inbound_mail_server: delivery(config.inbound_next_hop.as_ref()),
                outbound_delivery: delivery(config.outbound_next_hop.as_ref()),
            },
            proxies,
            archive_servers: config
                .archive_server
                .iter()
                .map(|a| ms::ArchiveServer {
                    name: a.name.clone(),
                    host: a.host.clone(),
                    port: Some(a.port),
                    security: peer_security(a.tls),
                })
                .collect(),
        },
        setup_listen: Some(
            config
                .setup_listen
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 25)))
                .to_string(),
        ),
    }
}

fn delivery(hop: Option<&NextHop>) -> ms::Delivery {
    match hop {
        None | Some(NextHop::Direct) => ms::Delivery::Direct,
        Some(NextHop::Relay { host, port, tls }) => ms::Delivery::Relay {
            host: host.clone(),
            port: Some(*port),
            security: peer_security(*tls),
        },
    }
}

fn peer_security(tls: ServerTls) -> ms::PeerSecurity {
    match tls {
        ServerTls::Attempt => ms::PeerSecurity::Attempt,
        ServerTls::Disable => ms::PeerSecurity::Disable,
        ServerTls::Require => ms::PeerSecurity::Require,
        ServerTls::Ssl => ms::PeerSecurity::Ssl,
    }
}

pub(crate) fn server_tls(security: ms::PeerSecurity) -> ServerTls {
    match security {
        ms::PeerSecurity::Attempt => ServerTls::Attempt,
        ms::PeerSecurity::Disable => ServerTls::Disable,
        ms::PeerSecurity::Require => ServerTls::Require,
        ms::PeerSecurity::Ssl => ServerTls::Ssl,
    }
}

pub(crate) fn client_tls(security: ms::ClientSecurity) -> ClientTls {
    match security {
        ms::ClientSecurity::Allow => ClientTls::Allow,
        ms::ClientSecurity::Disable => ClientTls::Disable,
        ms::ClientSecurity::Require => ClientTls::Require,
        ms::ClientSecurity::Ssl => ClientTls::Ssl,
    }
}

pub(crate) fn proxy_kind(kind: ms::ProxyKind) -> ProxyKind {
    match kind {
        ms::ProxyKind::Inbound => ProxyKind::Inbound,
        ms::ProxyKind::Outbound => ProxyKind::Outbound,
        ms::ProxyKind::Unified => ProxyKind::Unified,
    }
}

/// The smtp crate's next hop for a delivery setting.
pub(crate) fn next_hop(d: &ms::Delivery) -> NextHop {
    match d {
        ms::Delivery::Direct => NextHop::Direct,
        ms::Delivery::Relay { host, security, .. } => NextHop::Relay {
            host: host.clone(),
            port: d.port().unwrap_or(25),
            tls: server_tls(*security),
        },
    }
}

pub(crate) fn archive_server(a: &ms::ArchiveServer) -> signet_mailpath::archive::ArchiveServer {
    signet_mailpath::archive::ArchiveServer {
        name: a.name.clone(),
        host: a.host.clone(),
        port: a.port(),
        tls: server_tls(a.security),
    }
}
