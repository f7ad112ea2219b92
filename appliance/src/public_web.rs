//! The member's public HTTP keyserver listeners (HKP, WKD, CRL, and the Verified Directory's
//! pages and `/pks/add`, see `vd.rs`): the `[public_web]` part of the
//! configuration, and starting them. Listeners are node-local (each member chooses its
//! interfaces and ports); what they serve comes from the replicated state through the shared
//! published-key directory. They are separate from the authenticated admin API and change
//! nothing.
//!
//! ```toml
//! [public_web]
//! enabled = true                       # default true
//!
//! [[public_web.connector]]
//! listen = "0.0.0.0:80"
//! tls = false
//!
//! [[public_web.connector]]
//! listen = "0.0.0.0:443"
//! tls = true                           # the member's TLS certificate
//!
//! [public_web.rate_limit]              # per client address, token buckets
//! by_address = { per_second = 5.0, burst = 50 }       # email, text search, WKD
//! by_fingerprint = { per_second = 50.0, burst = 500 } # fingerprint, key ID, CRL
//! ```
//!
//! Without connectors, the embedded development default serves 127.0.0.1:10080 (plain) and
//! 127.0.0.1:10443 (TLS); a default port that is taken is skipped with a warning, so several
//! development nodes can share a host. A connector written in the file must bind.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use signet_keyserver::directory::SharedDirectory;
use signet_keyserver::http_service::{
    CrlSource, PublicService, PublicSource, RateLimits, ServiceSettings, server,
};
use signet_keyserver::verified_directory::{VdBackend, VdService};
use signet_model::OrganizationItemKind;
use signet_store::Node;
use tokio::sync::watch;

use crate::config::DEV_PORT_OFFSET;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublicWebConfig {
    pub enabled: bool,
    pub connector: Vec<Connector>,
    pub rate_limit: RateLimits,
}

impl Default for PublicWebConfig {
    fn default() -> Self {
        PublicWebConfig {
            enabled: true,
            connector: Vec::new(),
            rate_limit: RateLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    pub listen: SocketAddr,
    #[serde(default)]
    pub tls: bool,
}

/// The running listeners.
pub struct PublicWeb {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PublicWeb {
    /// Waits (bounded) for the listeners to finish after the stop signal.
    pub async fn join(self) {
        for task in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(7), task).await;
        }
    }
}

/// Binds the connectors and serves until `stop` turns true.
pub async fn start(
    node: Arc<Node>,
    config: &PublicWebConfig,
    directory: SharedDirectory,
    verified_directory: Option<Arc<dyn VdBackend>>,
    tls: Arc<rustls::ServerConfig>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<PublicWeb> {
    let mut tasks = Vec::new();
    if !config.enabled {
        return Ok(PublicWeb { tasks });
    }
    let (connectors, defaults) = if config.connector.is_empty() {
        let dev = |port: u16, tls| Connector {
            listen: SocketAddr::from(([127, 0, 0, 1], port + DEV_PORT_OFFSET)),
            tls,
        };
        (vec![dev(80, false), dev(443, true)], true)
    } else {
        (config.connector.clone(), false)
    };
    let service = PublicService::new(
        directory.clone(),
        Arc::new(NodeSource { node }),
        ServiceSettings {
            limits: config.rate_limit,
        },
    );
    if let Some(backend) = verified_directory {
        service.set_verified_directory(VdService::new(backend, directory));
    }
    for c in connectors {
        let listener = match tokio::net::TcpListener::bind(c.listen).await {
            Ok(l) => l,
            Err(e) if defaults => {
                tracing::warn!(listen = %c.listen, error = %e, "public keyserver: default port not available, skipped");
                continue;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("[[public_web.connector]]: cannot listen on {}", c.listen)
                });
            }
        };
        tracing::info!(listen = %c.listen, tls = c.tls, "public keyserver (HKP, WKD, CRL) listening");
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(server::serve(
            listener,
            c.tls.then(|| tls.clone()),
            service.clone(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }
    Ok(PublicWeb { tasks })
}

/// Managed domains and CRLs from this member's applied state (a public lookup never waits for
/// the cluster).
struct NodeSource {
    node: Arc<Node>,
}

impl PublicSource for NodeSource {
    fn managed_domains(&self) -> Result<Vec<String>, String> {
        let domains = self
            .node
            .local()
            .managed_domains()
            .map_err(|e| e.to_string())?;
        Ok(domains
            .into_iter()
            .map(|d| d.name.to_ascii_lowercase())
            .collect())
    }
}

impl CrlSource for NodeSource {
    fn revision(&self) -> Result<Option<String>, String> {
        let view = self.node.local();
        let issuer = view
            .organization_item(OrganizationItemKind::OrganizationCertificate)
            .map_err(|e| e.to_string())?;
        let Some(issuer) = issuer.filter(|i| i.secret.is_some()) else {
            return Ok(None);
        };
        let mut serials: Vec<String> = view
            .revoked_certificates()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| r.serial_hex)
            .collect();
        serials.sort();
        Ok(Some(format!(
            "{}|{}",
            issuer.fingerprint,
            serials.join(",")
        )))
    }

    fn issue(&self) -> Result<Vec<u8>, String> {
        signet_web::keyring::current_crl(&self.node, self.node.local()).map_err(|e| e.to_string())
    }
}
