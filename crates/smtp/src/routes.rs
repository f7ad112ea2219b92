//! Where a message goes next: the proxy's configured peer, or, when Signet sends directly,
//! the static mail routes (guide: Mail > Mail Routes) and then DNS MX.
//!
//! Static routes override MX and apply only to direct sends: queue resends, mail the server
//! makes itself (bounces, notifications), and an outbound proxy set to "send mail directly".
//! One route per domain; the domain `*` matches every domain without a route of its own.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use serde::{Deserialize, Serialize};

use crate::client::ServerTls;
use crate::error::DeliveryError;

/// How an outgoing queue entry leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NextHop {
    /// Static route, else MX, else the domain's own address (RFC 5321 §5.1).
    #[default]
    Direct,
    /// A configured peer (the internal mail server, or an outbound relay).
    Relay {
        host: String,
        port: u16,
        tls: ServerTls,
    },
}

/// One static mail route: mail for `domain` goes to `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRoute {
    pub domain: String,
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
}

fn smtp_port() -> u16 {
    25
}

/// The static routes of a node, one per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailRoutes {
    routes: BTreeMap<String, MailRoute>,
}

impl MailRoutes {
    pub fn new(routes: impl IntoIterator<Item = MailRoute>) -> Self {
        let mut r = MailRoutes::default();
        for route in routes {
            r.set(route);
        }
        r
    }

    /// Adds or replaces the route for its domain.
    pub fn set(&mut self, mut route: MailRoute) {
        route.domain = route.domain.trim().to_ascii_lowercase();
        self.routes.insert(route.domain.clone(), route);
    }

    pub fn remove(&mut self, domain: &str) -> bool {
        self.routes.remove(&domain.to_ascii_lowercase()).is_some()
    }

    pub fn all(&self) -> impl Iterator<Item = &MailRoute> {
        self.routes.values()
    }

    /// The route for a recipient domain: its own, else the wildcard.
    pub fn for_domain(&self, domain: &str) -> Option<&MailRoute> {
        self.routes
            .get(&domain.to_ascii_lowercase())
            .or_else(|| self.routes.get("*"))
    }
}

/// Name resolution for delivery, behind a trait so that tests point it at a static table.
pub trait Resolve: Send + Sync + 'static {
    /// Mail exchangers for a domain, best first. An empty list means "no MX": deliver to the
    /// domain's own address.
    fn mx(
        &self,
        domain: &str,
    ) -> impl std::future::Future<Output = Result<Vec<String>, DeliveryError>> + Send;
    fn addresses(
        &self,
        host: &str,
    ) -> impl std::future::Future<Output = Result<Vec<IpAddr>, DeliveryError>> + Send;
}

/// DNS through hickory: the system's resolvers, or a given name server (tests run one on
/// loopback).
#[derive(Clone)]
pub struct DnsResolver {
    inner: TokioResolver,
}

impl DnsResolver {
    pub fn system() -> Result<Self, DeliveryError> {
        let inner = TokioResolver::builder_tokio()
            .map_err(|e| {
                DeliveryError::Temporary(format!("reading the resolver configuration: {e}"))
            })?
            .build()
            .map_err(|e| DeliveryError::Temporary(format!("starting the resolver: {e}")))?;
        Ok(DnsResolver { inner })
    }

    /// Uses only the name server at `server` (UDP and TCP on its port).
    pub fn with_server(server: SocketAddr) -> Result<Self, DeliveryError> {
        let mut ns = NameServerConfig::udp_and_tcp(server.ip());
        for c in &mut ns.connections {
            c.port = server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![ns]);
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .map_err(|e| DeliveryError::Temporary(format!("starting the resolver: {e}")))?;
        Ok(DnsResolver { inner })
    }
}

impl Resolve for DnsResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<String>, DeliveryError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match self.inner.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                mx.sort();
                // RFC 7505 null MX: the domain accepts no mail.
                if mx.len() == 1 && mx[0].1.is_empty() {
                    return Err(DeliveryError::Permanent(format!(
                        "{domain} does not accept mail (null MX)"
                    )));
                }
                Ok(mx.into_iter().map(|(_, h)| h).collect())
            }
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) if e.is_nx_domain() => Err(DeliveryError::Permanent(format!(
                "the domain {domain} does not exist"
            ))),
            Err(e) => Err(DeliveryError::Temporary(format!(
                "MX lookup for {domain}: {e}"
            ))),
        }
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DeliveryError> {
        if let Ok(ip) = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            return Ok(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.inner.lookup_ip(fqdn.as_str()).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Err(DeliveryError::Permanent(
                format!("the host {host} has no address"),
            )),
            Err(e) => Err(DeliveryError::Temporary(format!(
                "address lookup for {host}: {e}"
            ))),
        }
    }
}

/// A fixed table: domain → MX hosts, host → addresses. For tests and closed setups.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    pub mx: BTreeMap<String, Vec<String>>,
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
}

impl Resolve for StaticResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<String>, DeliveryError> {
        Ok(self
            .mx
            .get(&domain.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default())
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DeliveryError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        self.hosts
            .get(&host.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| DeliveryError::Permanent(format!("the host {host} has no address")))
    }
}

/// The servers to try for one recipient domain, in order, as `(host, port)`.
pub async fn servers_for(
    hop: &NextHop,
    domain: &str,
    routes: &MailRoutes,
    resolver: &impl Resolve,
) -> Result<Vec<(String, u16)>, DeliveryError> {
    match hop {
        NextHop::Relay { host, port, .. } => Ok(vec![(host.clone(), *port)]),
        NextHop::Direct => {
            if let Some(route) = routes.for_domain(domain) {
                return Ok(vec![(route.host.clone(), route.port)]);
            }
            let mx = resolver.mx(domain).await?;
            if mx.is_empty() {
                return Ok(vec![(domain.to_string(), 25)]);
            }
            Ok(mx.into_iter().map(|h| (h, 25)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(domain: &str, host: &str) -> MailRoute {
        MailRoute {
            domain: domain.into(),
            host: host.into(),
            port: 25,
        }
    }

    #[tokio::test]
    async fn static_routes_override_mx_and_the_wildcard_catches_the_rest()
    -> Result<(), DeliveryError> {
        let mut resolver = StaticResolver::default();
        resolver.mx.insert(
            "ext.test".into(),
            vec!["mx1.ext.test".into(), "mx2.ext.test".into()],
        );
        let routes = MailRoutes::new([route("Example.COM", "mail.internal")]);
        let hop = NextHop::Direct;
        assert_eq!(
            servers_for(&hop, "example.com", &routes, &resolver).await?,
            vec![("mail.internal".to_string(), 25)]
        );
        assert_eq!(
            servers_for(&hop, "ext.test", &routes, &resolver).await?,
            vec![
                ("mx1.ext.test".to_string(), 25),
                ("mx2.ext.test".to_string(), 25)
            ]
        );
        assert_eq!(
            servers_for(&hop, "nomx.test", &routes, &resolver).await?,
            vec![("nomx.test".to_string(), 25)],
            "no MX: the domain itself"
        );
        let routes = MailRoutes::new([route("*", "relay.internal"), route("example.com", "m")]);
        assert_eq!(
            servers_for(&hop, "ext.test", &routes, &resolver).await?,
            vec![("relay.internal".to_string(), 25)]
        );
        let relay = NextHop::Relay {
            host: "peer".into(),
            port: 2525,
            tls: ServerTls::Attempt,
        };
        assert_eq!(
            servers_for(&relay, "ext.test", &routes, &resolver).await?,
            vec![("peer".to_string(), 2525)],
            "a configured peer ignores static routes"
        );
        Ok(())
    }
}
