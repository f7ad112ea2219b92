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

pub const LABEL_CA_KEY: &str = "cluster CA key";
pub const LABEL_NODE_KEY: &str = "member TLS key";
pub const LABEL_DATA_KEY: &str = "cluster data key";
pub const LABEL_ADMIN_KEY: &str = "admin TLS key";

const IDENTITY: &[u8] = b"cluster-identity";
const ADMIN_TLS: &[u8] = b"admin-tls";
const PENDING: &[u8] = b"pending-change";
const BOOTSTRAP: &[u8] = b"bootstrap-pending";

#[derive(Clone)]
pub struct LocalStore {
    backend: Arc<dyn Backend>,
    node: Arc<dyn Tree>,
}

impl LocalStore {
    pub fn open(dir: &std::path::Path) -> Result<Self, StoreError> {
        let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir)?);
        let node = backend.tree("node")?;
        Ok(LocalStore { backend, node })
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
