//! The member's keyserver for the world: keeping the published-key directory current from the
//! replicated state, and the LDAP/LDAPS listeners of the `[keyserver]` part of the
//! configuration (node-local: each member decides whether and where it serves).
//!
//! ```toml
//! [keyserver]
//! enabled = true
//! anonymous_read = true          # false: only LDAPS clients with a client certificate
//! base_dn = "o=Signet"
//! rate_limit_per_second = 100    # per client address; 0 = unlimited
//! rate_limit_burst = 400
//! size_limit = 100               # entries per search
//! client_ca = "/etc/signet/ldap-client-ca.pem"   # for require_client_certificate
//!
//! [[keyserver.connector]]
//! interface = "0.0.0.0"
//! port = 389                     # plain; offers StartTLS with the LDAPS certificate
//!
//! [[keyserver.connector]]
//! interface = "0.0.0.0"
//! port = 636
//! ssl = true
//! require_client_certificate = false
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use signet_keyserver::directory::{PublishedCertificate, PublishedKey, SharedDirectory};
use signet_keyserver::ldap_service::{self, LdapSettings, Listener, Service};
use signet_model::{ConsumerKind, EmailAddress, OrganizationItemKind};
use signet_store::Node;
use signet_store::changes::StateChange;
use signet_transport::pki::CertifiedKey;
use tokio::sync::{broadcast, watch};

use crate::config::DEV_PORT_OFFSET;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyserverConfig {
    pub enabled: bool,
    pub anonymous_read: bool,
    pub base_dn: String,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub size_limit: usize,
    /// PEM file of the CAs that issue accepted client certificates.
    pub client_ca: Option<PathBuf>,
    pub connector: Vec<LdapConnector>,
}

impl Default for KeyserverConfig {
    fn default() -> Self {
        let d = LdapSettings::default();
        KeyserverConfig {
            enabled: true,
            anonymous_read: true,
            base_dn: d.base_dn,
            rate_limit_per_second: d.rate_per_second,
            rate_limit_burst: d.rate_burst,
            size_limit: d.size_limit,
            client_ca: None,
            connector: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConnector {
    pub interface: IpAddr,
    pub port: u16,
    #[serde(default)]
    pub ssl: bool,
    #[serde(default)]
    pub require_client_certificate: bool,
}

/// The published-key directory and the task that keeps it current.
pub struct KeyDirectory {
    directory: SharedDirectory,
    task: tokio::task::JoinHandle<()>,
}

impl KeyDirectory {
    /// The instance every keyserver listener reads.
    pub fn directory(&self) -> SharedDirectory {
        self.directory.clone()
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

const ORGANIZATION_OWNER: &str = "org:organization-key";

/// What one consumer publishes: internal users' OpenPGP keys (revoked ones flagged) and their
/// S/MIME certificates that are not revoked.
fn consumer_entries(node: &Node, key: &str) -> (Vec<PublishedKey>, Vec<PublishedCertificate>) {
    let Ok(email) = EmailAddress::parse(key) else {
        return (Vec::new(), Vec::new());
    };
    let consumer = match node.local().consumer(&email) {
        Ok(Some(c)) if c.kind == ConsumerKind::Internal => c,
        _ => return (Vec::new(), Vec::new()),
    };
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for k in &consumer.keys {
        match PublishedKey::from_cert_bytes(&k.public) {
            Ok(mut p) => {
                let revoked = p.revoked() || k.revoked_at.is_some();
                p.set_revoked(revoked);
                keys.push(p);
            }
            Err(e) => tracing::warn!(user = %key, error = %e, "keyserver: key not published"),
        }
        if let Some(s) = &k.smime
            && s.revoked_at.is_none()
        {
            certs.push(PublishedCertificate {
                der: Arc::from(s.cert_der.as_slice()),
                emails: vec![email.key()],
            });
        }
    }
    (keys, certs)
}

fn refresh_organization(node: &Node, dir: &SharedDirectory) {
    let item = node
        .local()
        .organization_item(OrganizationItemKind::OrganizationKey);
    let keys = match item {
        Ok(Some(item)) => match PublishedKey::from_cert_bytes(&item.public) {
            Ok(p) => vec![p],
            Err(e) => {
                tracing::warn!(error = %e, "keyserver: Organization Key not published");
                Vec::new()
            }
        },
        _ => Vec::new(),
    };
    dir.set_owner(ORGANIZATION_OWNER, keys, Vec::new());
}

fn refresh_consumer(node: &Node, dir: &SharedDirectory, key: &str) {
    let (keys, certs) = consumer_entries(node, key);
    dir.set_owner(key, keys, certs);
}

fn rebuild(node: &Node, dir: &SharedDirectory) {
    let consumers = match node.local().consumers() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "keyserver: cannot read users");
            return;
        }
    };
    // Sized once for a first build of many users instead of regrowing the tables as it goes.
    dir.reserve(consumers.len().saturating_sub(dir.len()));
    let mut present = std::collections::HashSet::new();
    for c in consumers {
        let key = c.email.key();
        refresh_consumer(node, dir, &key);
        present.insert(key);
    }
    for owner in dir.owners() {
        if owner != ORGANIZATION_OWNER && !owner.starts_with("vd:") && !present.contains(&owner) {
            dir.remove_owner(&owner);
        }
    }
    refresh_organization(node, dir);
    crate::vd::refresh_directory(node, dir);
}

fn apply(node: &Node, dir: &SharedDirectory, change: &StateChange) {
    if change.everything {
        return rebuild(node, dir);
    }
    for key in &change.consumers {
        refresh_consumer(node, dir, key);
    }
    if change.organization {
        refresh_organization(node, dir);
    }
    if change.verified_directory {
        crate::vd::refresh_directory(node, dir);
    }
}

/// Builds the directory from this member's applied state and keeps it current: each change
/// costs only the users it names (a rebuild only after a restore or a lost notification).
pub async fn start_directory(node: Arc<Node>) -> KeyDirectory {
    let directory = SharedDirectory::new();
    // Subscribe before the first build, so nothing applied meanwhile is missed.
    let mut changes = node.changes();
    let (n, d) = (node.clone(), directory.clone());
    let _ = tokio::task::spawn_blocking(move || rebuild(&n, &d)).await;
    tracing::info!(
        keys = directory.len(),
        "keyserver: published-key directory built"
    );
    let dir = directory.clone();
    let task = tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(c) => c,
                Err(broadcast::error::RecvError::Lagged(_)) => StateChange {
                    everything: true,
                    ..StateChange::default()
                },
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let (n, d) = (node.clone(), dir.clone());
            let _ = tokio::task::spawn_blocking(move || apply(&n, &d, &change)).await;
        }
    });
    KeyDirectory { directory, task }
}

fn client_auth_config(
    cert: &CertifiedKey,
    ca_file: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ca = std::fs::read(ca_file)
        .with_context(|| format!("[keyserver] client_ca: cannot read {}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.context("[keyserver] client_ca: bad PEM")?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .context("[keyserver] client_ca")?;
    let chain = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("keyserver certificate")?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).context("keyserver key")?;
    Ok(Arc::new(
        rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?,
    ))
}

/// Binds the LDAP connectors and serves until `stop` turns true. With no connector configured,
/// the development default: 127.0.0.1:10389 (LDAP) and :10636 (LDAPS), skipped if taken.
pub async fn start_ldap(
    config: &KeyserverConfig,
    directory: SharedDirectory,
    cert: &CertifiedKey,
    tls: Arc<rustls::ServerConfig>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    if !config.enabled {
        return Ok(tasks);
    }
    let (connectors, defaults) = if config.connector.is_empty() {
        let dev = |port: u16, ssl| LdapConnector {
            interface: [127, 0, 0, 1].into(),
            port: port + DEV_PORT_OFFSET,
            ssl,
            require_client_certificate: false,
        };
        (vec![dev(389, false), dev(636, true)], true)
    } else {
        (config.connector.clone(), false)
    };
    let service = Service::new(
        LdapSettings {
            base_dn: config.base_dn.clone(),
            anonymous_read: config.anonymous_read,
            size_limit: config.size_limit.max(1),
            rate_per_second: config.rate_limit_per_second,
            rate_burst: config.rate_limit_burst,
            ..LdapSettings::default()
        },
        directory,
    );
    for c in connectors {
        let addr = SocketAddr::new(c.interface, c.port);
        let client_certificates = c.require_client_certificate;
        // A plain port offers StartTLS with the certificate LDAPS uses.
        let starttls = (!c.ssl).then(|| tls.clone());
        let tls = match (c.ssl, client_certificates, &config.client_ca) {
            (false, true, _) => anyhow::bail!(
                "[[keyserver.connector]] {addr}: require_client_certificate needs ssl = true"
            ),
            (true, true, None) => anyhow::bail!(
                "[[keyserver.connector]] {addr}: require_client_certificate needs [keyserver] client_ca"
            ),
            (true, true, Some(ca)) => Some(client_auth_config(cert, ca)?),
            (true, false, _) => Some(tls.clone()),
            (false, false, _) => None,
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) if defaults => {
                tracing::warn!(listen = %addr, error = %e, "LDAP keyserver: default port not available, skipped");
                continue;
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("[[keyserver.connector]]: cannot listen on {addr}"));
            }
        };
        tracing::info!(listen = %addr, ssl = c.ssl, "LDAP keyserver listening");
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(ldap_service::serve(
            service.clone(),
            Listener {
                listener,
                starttls,
                tls,
                client_certificates,
            },
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }
    Ok(tasks)
}
