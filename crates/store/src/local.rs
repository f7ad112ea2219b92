//! Node-local state: what a member never replicates (DESIGN.md; KB 153723): its cluster identity
//! and TLS material, and later network settings, mail routes, mail proxies, the spool and logs.
//!
//! Secrets in here are sealed: the cluster CA key under the cluster data key; the member and admin
//! TLS keys, and the data key itself (when no Ignition Key is set), under the node key.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use signet_model::NodeId;
use signet_transport::pki::CertifiedKey;

use crate::StoreError;
use crate::backend::{Backend, Batch, SledBackend, Tree};
use crate::secrets::SealingKey;
use crate::state::{decode, encode};

mod mail_settings;
pub use mail_settings::ConfiguredMail;

/// Who this member is in its cluster.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterIdentity {
    pub cluster_id: String,
    pub node_id: NodeId,
    pub ca_cert_pem: String,
    /// The CA key sealed under the data key: every member can sponsor a joiner.
    pub ca_key_sealed: Vec<u8>,
    pub node_cert_pem: String,
    pub node_key_sealed: Vec<u8>,
    /// The cluster data key sealed under the node key; absent while the cluster has Ignition
    /// Keys (then no copy of it is on disk and the member starts locked).
    pub data_key_sealed: Option<Vec<u8>>,
}

/// The admin listener's certificate.
#[derive(Clone, Serialize, Deserialize)]
pub struct AdminTls {
    pub cert_pem: String,
    pub key_sealed: Vec<u8>,
}

/// A membership change this member must finish at its next start (it restarts to make one, the
/// way the reference appliance reboots).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PendingChange {
    /// Joined through `sponsor`: erase the old replicated state, then ask to be admitted.
    Join { sponsor_addr: String, erased: bool },
    /// Removed from the cluster: keep the data, start a cluster of its own.
    Leave,
}

/// A static mail route added through the API (Mail > Mail Routes): node-local, used by
/// delivery together with the routes in the node's configuration (these win for a domain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMailRoute {
    /// A lower-case domain, or `*` for every domain without a route of its own.
    pub domain: String,
    pub host: String,
    pub port: u16,
}

pub const LABEL_CA_KEY: &str = "cluster CA key";
pub const LABEL_NODE_KEY: &str = "member TLS key";
pub const LABEL_DATA_KEY: &str = "cluster data key";
pub const LABEL_ADMIN_KEY: &str = "admin TLS key";

const IDENTITY: &[u8] = b"cluster-identity";
const ADMIN_TLS: &[u8] = b"admin-tls";
const PENDING: &[u8] = b"pending-change";
const BOOTSTRAP: &[u8] = b"bootstrap-pending";
const MAIL_ROUTES: &[u8] = b"mail-routes";
const CONFIGURED_MAIL_ROUTES: &[u8] = b"mail-routes-configured";

#[derive(Clone)]
pub struct LocalStore {
    backend: Arc<dyn Backend>,
    node: Arc<dyn Tree>,
    /// Signalled when the API changes the mail routes, so delivery follows at once.
    routes_changed: Arc<tokio::sync::Notify>,
    /// The mail settings' change signal, edit lock and proxy states (`mail_settings`).
    mail: Arc<mail_settings::MailShared>,
}

impl LocalStore {
    pub fn open(dir: &std::path::Path) -> Result<Self, StoreError> {
        let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir)?);
        let node = backend.tree("node")?;
        Ok(LocalStore {
            backend,
            node,
            routes_changed: Arc::default(),
            mail: Arc::default(),
        })
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.node.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// Writes and makes durable.
    fn put<T: Serialize>(&self, key: &[u8], value: Option<&T>) -> Result<(), StoreError> {
        let mut b = Batch::default();
        match value {
            Some(v) => b.insert(key.to_vec(), encode(v)?),
            None => b.remove(key.to_vec()),
        }
        self.node.apply(b)?;
        self.backend.flush()
    }

    pub fn identity(&self) -> Result<Option<ClusterIdentity>, StoreError> {
        self.get(IDENTITY)
    }

    pub fn set_identity(&self, identity: &ClusterIdentity) -> Result<(), StoreError> {
        self.put(IDENTITY, Some(identity))
    }

    pub fn admin_tls(&self) -> Result<Option<AdminTls>, StoreError> {
        self.get(ADMIN_TLS)
    }

    pub fn set_admin_tls(&self, tls: &AdminTls) -> Result<(), StoreError> {
        self.put(ADMIN_TLS, Some(tls))
    }

    pub fn pending_change(&self) -> Result<Option<PendingChange>, StoreError> {
        self.get(PENDING)
    }

    pub fn set_pending_change(&self, change: Option<&PendingChange>) -> Result<(), StoreError> {
        self.put(PENDING, change)
    }

    /// Set at init until the first administrator exists, so a crash in between is repaired.
    pub fn bootstrap_pending(&self) -> Result<bool, StoreError> {
        Ok(self.get::<bool>(BOOTSTRAP)?.unwrap_or(false))
    }

    pub fn set_bootstrap_pending(&self, pending: bool) -> Result<(), StoreError> {
        self.put(BOOTSTRAP, Some(&pending))
    }

    /// The mail routes added through the API, by domain.
    pub fn mail_routes(&self) -> Result<Vec<LocalMailRoute>, StoreError> {
        Ok(self.get(MAIL_ROUTES)?.unwrap_or_default())
    }

    /// Adds or replaces the route for its domain (lower-cased).
    pub fn put_mail_route(&self, mut route: LocalMailRoute) -> Result<(), StoreError> {
        route.domain = route.domain.trim().to_ascii_lowercase();
        let mut routes = self.mail_routes()?;
        routes.retain(|r| r.domain != route.domain);
        routes.push(route);
        routes.sort_by(|a, b| a.domain.cmp(&b.domain));
        self.put(MAIL_ROUTES, Some(&routes))?;
        self.routes_changed.notify_one();
        Ok(())
    }

    /// Resolves after the next change of the API's mail routes (one made since the last call
    /// counts too).
    pub async fn mail_routes_changed(&self) {
        self.routes_changed.notified().await
    }

    /// Removes the API route for `domain`; false when there was none.
    pub fn remove_mail_route(&self, domain: &str) -> Result<bool, StoreError> {
        let domain = domain.trim().to_ascii_lowercase();
        let mut routes = self.mail_routes()?;
        let before = routes.len();
        routes.retain(|r| r.domain != domain);
        if routes.len() == before {
            return Ok(false);
        }
        self.put(MAIL_ROUTES, Some(&routes))?;
        self.routes_changed.notify_one();
        Ok(true)
    }

    /// The routes in the node's configuration file, as the mail service last started with
    /// them (so the API can list them; they change only with the file and a restart).
    pub fn configured_mail_routes(&self) -> Result<Vec<LocalMailRoute>, StoreError> {
        Ok(self.get(CONFIGURED_MAIL_ROUTES)?.unwrap_or_default())
    }

    pub fn set_configured_mail_routes(&self, routes: &[LocalMailRoute]) -> Result<(), StoreError> {
        self.put(CONFIGURED_MAIL_ROUTES, Some(&routes.to_vec()))
    }
}

impl ClusterIdentity {
    /// The data key, when a copy is kept on disk (no Ignition Keys).
    pub fn data_key(&self, node_key: &SealingKey) -> Result<Option<SealingKey>, StoreError> {
        self.data_key_sealed
            .as_ref()
            .map(|sealed| SealingKey::from_bytes(&node_key.open(LABEL_DATA_KEY, sealed)?))
            .transpose()
    }

    /// The member's TLS key is sealed by the node key, not the data key: a locked member still
    /// talks to the cluster (it replicates ciphertext it cannot open).
    pub fn node_tls(&self, node_key: &SealingKey) -> Result<CertifiedKey, StoreError> {
        Ok(CertifiedKey {
            cert_pem: self.node_cert_pem.clone(),
            key_pem: node_key.open_string(LABEL_NODE_KEY, &self.node_key_sealed)?,
        })
    }

    pub fn ca(&self, data_key: &SealingKey) -> Result<CertifiedKey, StoreError> {
        Ok(CertifiedKey {
            cert_pem: self.ca_cert_pem.clone(),
            key_pem: data_key.open_string(LABEL_CA_KEY, &self.ca_key_sealed)?,
        })
    }

    /// A new cluster with this member as node 1.
    pub fn new_cluster(node_key: &SealingKey, data_key: &SealingKey) -> Result<Self, StoreError> {
        let cluster_id = hex::encode(&SealingKey::generate().expose()[..8]);
        let ca = signet_transport::pki::new_cluster_ca(&cluster_id)?;
        let node = signet_transport::pki::issue_node_cert(&cluster_id, &ca, 1)?;
        Ok(ClusterIdentity {
            ca_cert_pem: ca.cert_pem,
            ca_key_sealed: data_key.seal(LABEL_CA_KEY, ca.key_pem.as_bytes()),
            node_cert_pem: node.cert_pem,
            node_key_sealed: node_key.seal(LABEL_NODE_KEY, node.key_pem.as_bytes()),
            data_key_sealed: Some(node_key.seal(LABEL_DATA_KEY, data_key.expose())),
            cluster_id,
            node_id: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_routes_add_replace_remove() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = LocalStore::open(dir.path())?;
        let route = |d: &str, port| LocalMailRoute {
            domain: d.into(),
            host: "mx.example.net".into(),
            port,
        };
        store.put_mail_route(route("Example.COM", 25))?;
        store.put_mail_route(route("*", 2525))?;
        store.put_mail_route(route("example.com", 26))?;
        let routes = store.mail_routes()?;
        assert_eq!(routes, vec![route("*", 2525), route("example.com", 26)]);
        assert!(store.remove_mail_route("EXAMPLE.com")?);
        assert!(!store.remove_mail_route("example.com")?);
        assert_eq!(store.mail_routes()?, vec![route("*", 2525)]);
        Ok(())
    }
}
