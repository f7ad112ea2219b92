//! A cluster member: opens its data directory, runs Raft and the member RPC listener, and offers
//! the two ways to touch global data: [`Node::write`] (any member; forwarded to the leader) and
//! [`Node::read`] (linearizable) or [`Node::local`] (this member's applied state, for the mail
//! path).
//!
//! Raft leadership never shows outside this module and [`crate::membership`]: a caller writes to
//! whichever member it talks to.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use signet_model::NodeId;
use tokio::sync::watch;

use crate::StoreError;
use crate::backend::{Backend, SledBackend};
use crate::batcher::Batcher;
use crate::command::{Command, CommandOutcome};
use crate::datadir::{DataDir, DataDirState};
use crate::local::{ClusterIdentity, LocalStore, PendingChange};
use crate::log_store::LogStore;
use crate::network::{NetworkFactory, Peers};
use crate::rpc::{self, CallError, RpcError, path};
use crate::secrets::{SealingKey, load_or_create_node_key};
use crate::state::StateView;
use crate::state_machine::StateMachine;
use crate::types::{MemberNode, Raft, Request, Response};
use crate::vault::Vault;

/// Raft timing and log compaction. The defaults suit a LAN cluster; tests shorten compaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTuning {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_after_entries: u64,
    /// Log entries kept behind a snapshot, so briefly absent members catch up from the log.
    pub keep_entries_after_snapshot: u64,
    /// How long a write or linearizable read may wait for the cluster before it fails.
    pub write_timeout_ms: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 900,
            snapshot_after_entries: 5000,
            keep_entries_after_snapshot: 1000,
            write_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub data_dir: PathBuf,
    /// Where the member RPC listener binds.
    pub cluster_listen: SocketAddr,
    /// How other members reach this one (`host:port`).
    pub cluster_advertise: String,
    /// How administrators reach this member's API (`host:port`), shown in cluster status.
    pub api_advertise: String,
    pub tuning: RaftTuning,
}

/// Why a write did not complete. Cloneable: one failure answers every caller in a batch.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("{0}")]
    NoQuorum(String),
    #[error("{0}")]
    Failed(String),
    #[error("not the leader")]
    NotLeader(Option<NodeId>),
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this member is shutting down")]
    ShuttingDown,
}

impl From<WriteError> for StoreError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NoQuorum(m) => StoreError::NoQuorum(m),
            WriteError::Failed(m) => StoreError::Cluster(m),
            WriteError::NotLeader(_) => StoreError::Cluster("leadership changed; try again".into()),
            WriteError::Rejected(m) => StoreError::Invalid(m),
            WriteError::NotFound(m) => StoreError::NotFound(m),
            WriteError::ShuttingDown => StoreError::ShuttingDown,
        }
    }
}

impl From<WriteError> for RpcError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NoQuorum(m) => RpcError::NoQuorum(m),
            WriteError::Failed(m) => RpcError::Failed(m),
            WriteError::NotLeader(leader) => RpcError::NotLeader { this: 0, leader },
            WriteError::Rejected(m) => RpcError::Rejected(m),
            WriteError::NotFound(m) => RpcError::NotFound(m),
            WriteError::ShuttingDown => RpcError::Failed("the leader is shutting down".into()),
        }
    }
}

/// Requests in flight from a member's own callers to the leader. Forwarding is cheap, and the
/// leader merges whatever arrives while its one proposal is in flight.
const WRITE_SLOTS: usize = 8;

pub struct Node {
    pub(crate) id: NodeId,
    pub(crate) identity: ClusterIdentity,
    pub(crate) node_key: SealingKey,
    pub(crate) vault: Vault,
    pub(crate) raft: Raft,
    pub(crate) state: StateView,
    pub(crate) local: LocalStore,
    pub(crate) datadir: DataDir,
    pub(crate) peers: Arc<Peers>,
    pub(crate) options: NodeOptions,
    log_backend: Arc<dyn Backend>,
    state_backend: Arc<dyn Backend>,
    writes: Batcher,
    proposals: Batcher,
    restart: watch::Sender<bool>,
    changes: crate::changes::Changes,
}

/// What [`Node::start`] found and did.
pub struct Started {
    pub node: Arc<Node>,
    /// True when this start created a new cluster: the caller makes the first administrator.
    pub bootstrap_pending: bool,
}

impl Node {
    /// Opens (or creates) the data directory and starts the member: Raft, the member RPC
    /// listener, and any membership change left from before the last restart.
    pub async fn start(options: NodeOptions) -> Result<Started, StoreError> {
        signet_transport::install_crypto_provider();
        let datadir = DataDir::new(&options.data_dir);
        let fresh = datadir.inspect()? == DataDirState::Fresh;
        // Bind before touching anything, so a busy port leaves no half-made member behind.
        let listener = signet_transport::http::bind(options.cluster_listen).await?;
        if fresh {
            datadir.create()?;
        }
        let node_key = load_or_create_node_key(&datadir.node_key())?;
        let local = LocalStore::open(&datadir.local())?;
        let identity = match (fresh, local.identity()?) {
            (false, Some(identity)) => identity,
            (false, None) => {
                return Err(StoreError::Corrupt {
                    path: datadir.root().display().to_string(),
                    reason: "the member identity is missing".into(),
                });
            }
            (true, _) => {
                let identity = ClusterIdentity::new_cluster(&node_key, &SealingKey::generate())?;
                local.set_identity(&identity)?;
                local.set_bootstrap_pending(true)?;
                datadir.mark()?;
                identity
            }
        };
        let vault = Vault::new(identity.data_key(&node_key)?);
        let pending = local.pending_change()?;
        if let Some(PendingChange::Join {
            sponsor_addr,
            erased: false,
        }) = &pending
        {
            // The guide: once a join starts, the joiner's data is erased.
            datadir.erase_replicated()?;
            local.set_pending_change(Some(&PendingChange::Join {
                sponsor_addr: sponsor_addr.clone(),
                erased: true,
            }))?;
        }

        // The log and the state machine are separate databases: every append is fsynced, and
        // keeping state-machine writes out of those flushes halves what each one writes.
        let log_backend: Arc<dyn Backend> = Arc::new(SledBackend::open(&datadir.raft_log())?);
        let changes = crate::changes::Changes::default();
        let state_backend: Arc<dyn Backend> = Arc::new(crate::changes::ObservedBackend::new(
            Arc::new(SledBackend::open(&datadir.raft_state())?),
            changes.clone(),
        ));
        let log_store = LogStore::open(log_backend.clone())?;
        let state_machine = StateMachine::open(state_backend.clone())?;
        if pending == Some(PendingChange::Leave) {
            log_store.reset()?;
            state_machine.reset_position()?;
        }
        let state = state_machine.view();

        let node_tls = identity.node_tls(&node_key)?;
        let client_tls =
            signet_transport::tls::cluster_client_config(&identity.ca_cert_pem, &node_tls)?;
        let server_tls =
            signet_transport::tls::cluster_server_config(&identity.ca_cert_pem, &node_tls)?;
        let peers = Arc::new(Peers::new(client_tls));
        let t = &options.tuning;
        let config = openraft::Config {
            cluster_name: identity.cluster_id.clone(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_timeout_min_ms,
            election_timeout_max: t.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_after_entries.max(1)),
            max_in_snapshot_log_to_keep: t.keep_entries_after_snapshot,
            max_payload_entries: 512,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StoreError::Invalid(format!("raft settings: {e}")))?;
        let raft = Raft::new(
            identity.node_id,
            Arc::new(config),
            NetworkFactory(peers.clone()),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StoreError::Cluster(format!("cannot start Raft: {e}")))?;

        let (restart, _) = watch::channel(false);
        let node = Arc::new_cyclic(|me: &Weak<Node>| Node {
            id: identity.node_id,
            identity,
            node_key,
            vault,
            raft,
            state,
            local,
            datadir,
            peers,
            options,
            log_backend,
            state_backend,
            writes: {
                let me = me.clone();
                Batcher::start(WRITE_SLOTS, move |request| {
                    let me = me.clone();
                    async move {
                        match me.upgrade() {
                            Some(node) => node.route(request).await,
                            None => Err(WriteError::ShuttingDown),
                        }
                    }
                })
            },
            proposals: {
                let me = me.clone();
                Batcher::start(1, move |request| {
                    let me = me.clone();
                    async move {
                        match me.upgrade() {
                            Some(node) => node.append_as_leader(request).await,
                            None => Err(WriteError::ShuttingDown),
                        }
                    }
                })
            },
            restart,
            changes,
        });

        let server_node = node.clone();
        let mut stop = node.restart.subscribe();
        tokio::spawn(signet_transport::http::serve_tls(
            listener,
            server_tls,
            move |req, peer| rpc::serve(server_node.clone(), req, peer),
            async move {
                let _ = stop.wait_for(|r| *r).await;
            },
        ));

        if fresh || pending == Some(PendingChange::Leave) {
            let members = BTreeMap::from([(node.id, node.member_node())]);
            node.raft
                .initialize(members)
                .await
                .map_err(|e| StoreError::Cluster(format!("cannot initialize the cluster: {e}")))?;
            if pending.is_some() {
                node.local.set_pending_change(None)?;
            }
        }
        if let Some(PendingChange::Join { sponsor_addr, .. }) = node.local.pending_change()? {
            tokio::spawn(crate::membership::seek_admission(
                node.clone(),
                sponsor_addr,
            ));
        }
        let bootstrap_pending = node.local.bootstrap_pending()?;
        Ok(Started {
            node,
            bootstrap_pending,
        })
    }

    pub(crate) fn member_node(&self) -> MemberNode {
        MemberNode {
            cluster_addr: self.options.cluster_advertise.clone(),
            api_addr: self.options.api_advertise.clone(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn cluster_id(&self) -> &str {
        &self.identity.cluster_id
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn local_store(&self) -> &LocalStore {
        &self.local
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.datadir
    }

    /// The cluster data key, for sealing secrets before they enter global data; an error while
    /// the member is locked.
    pub fn data_key(&self) -> Result<SealingKey, StoreError> {
        self.vault.data_key()
    }

    pub fn is_locked(&self) -> bool {
        self.vault.is_locked()
    }

    /// Unlocks with an Ignition Key passphrase. `Ok(false)`: no Ignition Key has it.
    pub fn unlock_with_passphrase(&self, passphrase: &str) -> Result<bool, StoreError> {
        let keys = self.state.ignition_keys()?;
        match crate::vault::open_with_passphrase(&keys, passphrase)? {
            Some(key) => {
                self.vault.unlock(key)?;
                self.reconcile_data_key_custody()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Unlocks with the data key itself (recovered with the Organization Key). The key is checked
    /// against what this member has sealed with it before it is accepted.
    pub fn unlock_with_data_key(&self, key: &[u8]) -> Result<(), StoreError> {
        let key = SealingKey::from_bytes(key)?;
        self.current_identity()?
            .ca(&key)
            .map_err(|_| StoreError::Invalid("that is not this cluster's data key".into()))?;
        self.vault.unlock(key)?;
        self.reconcile_data_key_custody()
    }

    /// The identity as stored now (a restore may have resealed it since this member started).
    pub(crate) fn current_identity(&self) -> Result<ClusterIdentity, StoreError> {
        self.local.identity()?.ok_or_else(|| StoreError::Corrupt {
            path: self.datadir.root().display().to_string(),
            reason: "the member identity is missing".into(),
        })
    }

    /// Takes over another cluster's data key, for restoring its backup: the secrets in the
    /// backup are sealed under it. Only a one-member cluster may do this (nobody else holds
    /// the old key); the node-local secrets are resealed first.
    pub fn adopt_data_key(&self, key: &[u8]) -> Result<(), StoreError> {
        if self.status().members.len() > 1 {
            return Err(StoreError::Invalid(
                "a backup from another cluster can only be restored on a single server; restore it on a new server, then join the others to it".into(),
            ));
        }
        let key = SealingKey::from_bytes(key)?;
        let current = self.vault.data_key()?;
        let mut identity = self.current_identity()?;
        let ca = identity.ca(&current)?;
        identity.ca_key_sealed = key.seal(crate::local::LABEL_CA_KEY, ca.key_pem.as_bytes());
        if identity.data_key_sealed.is_some() {
            identity.data_key_sealed = Some(
                self.node_key
                    .seal(crate::local::LABEL_DATA_KEY, key.expose()),
            );
        }
        self.local.set_identity(&identity)?;
        self.vault.unlock(key)?;
        Ok(())
    }

    /// Keeps the on-disk copy of the data key in line with the cluster's Ignition Keys: none
    /// while any exists, one (sealed by the node key) otherwise. Run after every change to the
    /// Ignition Keys and periodically, since other members add and remove them too.
    pub fn reconcile_data_key_custody(&self) -> Result<(), StoreError> {
        let ignition = !self.state.ignition_keys()?.is_empty();
        let Some(mut identity) = self.local.identity()? else {
            return Ok(());
        };
        match (ignition, identity.data_key_sealed.is_some()) {
            (true, true) => {
                identity.data_key_sealed = None;
                self.local.set_identity(&identity)?;
                tracing::info!("Ignition Keys are set: the data key is no longer kept on disk");
            }
            (false, false) => {
                if let Ok(key) = self.vault.data_key() {
                    identity.data_key_sealed = Some(
                        self.node_key
                            .seal(crate::local::LABEL_DATA_KEY, key.expose()),
                    );
                    self.local.set_identity(&identity)?;
                    tracing::info!("no Ignition Keys: the data key is kept sealed by the node key");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The key that seals node-local secrets such as the admin TLS key: the node key, because
    /// they must survive a join, which replaces the cluster data key.
    pub fn data_key_for_local(&self) -> &SealingKey {
        &self.node_key
    }

    fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.options.tuning.write_timeout_ms)
    }

    /// This member's applied state, without asking the cluster: fast, possibly a little behind.
    /// The mail path reads here.
    pub fn local(&self) -> &StateView {
        &self.state
    }

    /// This member's state once it has applied everything committed before the call: a read
    /// after a successful write anywhere sees that write. The admin path reads here.
    pub async fn read(&self) -> Result<&StateView, StoreError> {
        let deadline = Instant::now() + self.write_timeout();
        loop {
            let index = match self.leader() {
                Some(leader) if leader == self.id => {
                    match tokio::time::timeout_at(deadline.into(), self.read_index_as_leader())
                        .await
                    {
                        Ok(Ok(index)) => Some(index),
                        Ok(Err(_)) => None,
                        Err(_) => return Err(self.no_quorum("a consistent read")),
                    }
                }
                Some(leader) => match self
                    .call_leader::<(), u64>(leader, path::READ_INDEX, &(), deadline)
                    .await
                {
                    Ok(index) => Some(index),
                    Err(LeaderCall::Retry) => None,
                    Err(LeaderCall::Failed(e)) => return Err(e.into()),
                },
                None => None,
            };
            if let Some(index) = index {
                let remaining = deadline.saturating_duration_since(Instant::now());
                return match self
                    .raft
                    .wait(Some(remaining))
                    .applied_index_at_least(Some(index), "read")
                    .await
                {
                    Ok(_) => Ok(&self.state),
                    Err(_) => Err(self.no_quorum("a consistent read")),
                };
            }
            if Instant::now() >= deadline {
                return Err(self.no_quorum("a consistent read"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Commits one command through the cluster and returns what applying it did.
    pub async fn write(&self, command: Command) -> Result<CommandOutcome, StoreError> {
        let mut outcomes = self.writes.submit(vec![command]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Cluster("the write had no outcome".into()))
    }

    /// Commits one command and turns a refusal into an error.
    pub async fn execute(
        &self,
        command: Command,
    ) -> Result<crate::command::CommandOutput, StoreError> {
        Ok(self.write(command).await??)
    }

    pub(crate) fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    fn voters(&self) -> usize {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .count()
    }

    /// The error for "the cluster could not be reached in time", with what this member sees.
    pub(crate) fn no_quorum(&self, what: &str) -> StoreError {
        StoreError::NoQuorum(self.no_quorum_message(what))
    }

    fn no_quorum_message(&self, what: &str) -> String {
        let m = self.raft.metrics().borrow().clone();
        let voters = m.membership_config.membership().voter_ids().count();
        let reachable = match (&m.replication, m.current_leader == Some(self.id)) {
            (Some(rep), true) => {
                1 + rep
                    .iter()
                    .filter(|(id, v)| **id != self.id && v.is_some())
                    .count()
            }
            _ => 1,
        };
        format!(
            "{what} could not be completed within {:.1} s: the cluster has no working majority \
             (this member reaches {reachable} of {voters} members); nothing was changed",
            self.write_timeout().as_secs_f64()
        )
    }

    /// Routes a batch of this member's writes: into its own proposals if it leads, otherwise to
    /// the leader. Retries while leadership moves, within the write timeout.
    async fn route(&self, request: Request) -> Result<Response, WriteError> {
        let deadline = Instant::now() + self.write_timeout();
        loop {
            match self.leader() {
                Some(leader) if leader == self.id => {
                    match self.propose_as_leader(request.clone()).await {
                        Err(WriteError::NotLeader(_)) => {}
                        other => return other,
                    }
                }
                Some(leader) => match self
                    .call_leader::<Request, Response>(leader, path::FORWARD, &request, deadline)
                    .await
                {
                    Ok(resp) => return Ok(resp),
                    Err(LeaderCall::Retry) => {}
                    Err(LeaderCall::Failed(e)) => return Err(e),
                },
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(WriteError::NoQuorum(self.no_quorum_message("the change")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// As the leader: adds a batch (this member's, or one forwarded) to the next log entry.
    pub(crate) async fn propose_as_leader(&self, request: Request) -> Result<Response, WriteError> {
        let leader = self.leader();
        if leader != Some(self.id) {
            return Err(WriteError::NotLeader(leader));
        }
        let outcomes = self.proposals.submit(request.commands).await?;
        Ok(Response { outcomes })
    }

    /// Appends one merged batch to the log as one entry and waits for it to be applied.
    async fn append_as_leader(&self, request: Request) -> Result<Response, WriteError> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return Err(WriteError::NotLeader(m.current_leader));
        }
        // A leader cut off from the majority refuses at once rather than leaving an entry in its
        // log that may commit long after the caller was told it failed.
        if self.voters() > 1 {
            let limit = 2 * self.options.tuning.election_timeout_max_ms;
            if m.millis_since_quorum_ack.is_some_and(|ms| ms > limit) {
                return Err(WriteError::NoQuorum(self.no_quorum_message("the change")));
            }
        }
        match tokio::time::timeout(self.write_timeout(), self.raft.client_write(request)).await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(WriteError::NotLeader(f.leader_id))
            }
            Ok(Err(e)) => Err(WriteError::Failed(e.to_string())),
            // The entry is in the leader's log: if a majority comes back it may still commit.
            Err(_) => Err(WriteError::NoQuorum(format!(
                "the change was not confirmed within {:.1} s: the cluster has no working majority; \
                 it may still be made if the members come back, so check before retrying",
                self.write_timeout().as_secs_f64()
            ))),
        }
    }

    /// As the leader: the log index a linearizable read must wait for.
    pub(crate) async fn read_index_as_leader(&self) -> Result<u64, RpcError> {
        let timeout = self.write_timeout();
        match tokio::time::timeout(timeout, self.raft.get_read_log_id()).await {
            Ok(Ok((read, _applied))) => Ok(read.map(|l| l.index).unwrap_or(0)),
            Ok(Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(
                f,
            )))) => Err(RpcError::NotLeader {
                this: self.id,
                leader: f.leader_id,
            }),
            Ok(Err(e)) => Err(RpcError::Failed(e.to_string())),
            Err(_) => Err(RpcError::NoQuorum(
                self.no_quorum_message("a consistent read"),
            )),
        }
    }

    /// Calls the leader; says whether to look for a leader again and retry.
    pub(crate) async fn call_leader<Req: Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        leader: NodeId,
        path: &str,
        request: &Req,
        deadline: Instant,
    ) -> Result<Resp, LeaderCall> {
        let Some(addr) = self.member_addr(leader) else {
            return Err(LeaderCall::Retry);
        };
        let client = self
            .peers
            .client(&addr)
            .map_err(|e| LeaderCall::Failed(WriteError::Failed(e.to_string())))?;
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        match rpc::call_rpc::<Req, Resp>(&client, path, request, remaining).await {
            Ok(resp) => Ok(resp),
            Err(CallError::NotSent(_)) | Err(CallError::Remote(RpcError::NotLeader { .. })) => {
                // The leader is gone or moved: wait a moment for the cluster to settle.
                if Instant::now() >= deadline {
                    return Err(LeaderCall::Failed(WriteError::NoQuorum(
                        self.no_quorum_message("the change"),
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(LeaderCall::Retry)
            }
            Err(CallError::Remote(RpcError::NoQuorum(m))) => {
                Err(LeaderCall::Failed(WriteError::NoQuorum(m)))
            }
            Err(CallError::Remote(RpcError::Rejected(m))) => {
                Err(LeaderCall::Failed(WriteError::Rejected(m)))
            }
            Err(CallError::Remote(RpcError::NotFound(m))) => {
                Err(LeaderCall::Failed(WriteError::NotFound(m)))
            }
            Err(CallError::Remote(e)) => Err(LeaderCall::Failed(WriteError::Failed(e.to_string()))),
            Err(CallError::Lost(m)) => Err(LeaderCall::Failed(WriteError::Failed(format!(
                "the leader stopped answering ({m}); the change may or may not have been made"
            )))),
        }
    }

    pub(crate) fn member_addr(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).map(|n| n.cluster_addr.clone())
    }

    /// Which consumers and organization items each write to the state changed (see
    /// [`crate::changes`]).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<crate::changes::StateChange> {
        self.changes.subscribe()
    }

    /// Resolves when the member must restart to finish a membership change.
    pub async fn restart_requested(&self) {
        let mut rx = self.restart.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    pub(crate) fn request_restart(&self) {
        let _ = self.restart.send(true);
    }

    /// Stops Raft and the listener and makes everything durable.
    pub async fn shutdown(&self) {
        let _ = self.restart.send(true);
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        for backend in [self.log_backend.clone(), self.state_backend.clone()] {
            if let Err(e) = crate::backend::flush_off_thread(backend).await {
                tracing::error!(error = %e, "final flush failed");
            }
        }
    }

    /// What an administrator sees of the cluster.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let members: Vec<MemberStatus> = membership
            .nodes()
            .map(|(id, n)| MemberStatus {
                node_id: *id,
                cluster_addr: n.cluster_addr.clone(),
                api_addr: n.api_addr.clone(),
                voter: voters.contains(id),
                replication_lag: m.replication.as_ref().and_then(|r| {
                    let matched = r.get(id)?.as_ref().map(|l| l.index).unwrap_or(0);
                    Some(m.last_log_index.unwrap_or(0).saturating_sub(matched))
                }),
            })
            .collect();
        let pending = self.local.pending_change().ok().flatten().map(|p| match p {
            PendingChange::Join { .. } => "join".to_string(),
            PendingChange::Leave => "leave".to_string(),
        });
        ClusterStatus {
            cluster_id: self.identity.cluster_id.clone(),
            node_id: self.id,
            standalone: members.len() == 1 && pending.is_none(),
            locked: self.vault.is_locked(),
            pending,
            members,
            diagnostics: Diagnostics {
                leader_id: m.current_leader,
                term: m.current_term,
                role: match m.state {
                    ServerState::Leader => "leader",
                    ServerState::Follower => "follower",
                    ServerState::Candidate => "candidate",
                    ServerState::Learner => "learner",
                    ServerState::Shutdown => "shutdown",
                }
                .to_string(),
                last_log_index: m.last_log_index,
                last_applied: m.last_applied.map(|l| l.index),
                snapshot_index: m.snapshot.map(|l| l.index),
                millis_since_quorum_ack: m.millis_since_quorum_ack,
            },
        }
    }
}

pub(crate) enum LeaderCall {
    Retry,
    Failed(WriteError),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster_id: String,
    pub node_id: NodeId,
    /// "This server is not participating in a cluster."
    pub standalone: bool,
    /// Booted with an Ignition Key and not yet unlocked: private-key work is refused.
    pub locked: bool,
    /// A membership change this member is finishing: "join" or "leave".
    pub pending: Option<String>,
    pub members: Vec<MemberStatus>,
    /// Raft internals, for support and tests; administrators never need them.
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberStatus {
    pub node_id: NodeId,
    pub cluster_addr: String,
    pub api_addr: String,
    pub voter: bool,
    /// Log entries the member is behind (known only where this member leads).
    pub replication_lag: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Diagnostics {
    pub leader_id: Option<NodeId>,
    pub term: u64,
    pub role: String,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub millis_since_quorum_ack: Option<u64>,
}
