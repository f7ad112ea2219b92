//! Joining, admitting and removing members.
//!
//! Join, as the guide describes it, with a token instead of a Contact button:
//! 1. An administrator on any member issues a one-time join token ([`Node::issue_join_token`]).
//!    The token names that sponsor's address and certificate fingerprint and carries a secret
//!    whose digest the cluster stores.
//! 2. On the joiner, [`Node::join`] presents the token to the sponsor over TLS pinned to that
//!    fingerprint. The sponsor spends the token through Raft (so it works once, cluster-wide),
//!    allocates a member id and answers with the member's certificate, the CA and the data key.
//! 3. The joiner records the grant and restarts. At start it erases its old replicated data and
//!    asks the sponsor, now with its member certificate, to admit it: the leader adds it as a
//!    learner, waits until it has caught up, and makes it a voter.
//!
//! Removing a member takes it out of the membership and tells it; it then keeps its data and
//! starts a one-member cluster of its own. With two members, removing either dissolves the
//! cluster.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use signet_model::{ApiToken, NodeId, UnixMillis};
use signet_transport::http::H2Client;

use crate::command::{Command, CommandOutput, JoinTokenRecord};
use crate::local::{ClusterIdentity, LABEL_CA_KEY, LABEL_DATA_KEY, LABEL_NODE_KEY, PendingChange};
use crate::node::{LeaderCall, Node};
use crate::rpc::{self, CallError, ClusterOp, JoinGrant, JoinRequest, RpcError, path};
use crate::secrets::SealingKey;
use crate::{StoreError, datadir};

const TOKEN_PREFIX: &str = "SIGNET-JOIN-1.";
/// Admission waits for the learner to catch up; a large state over a slow link takes time.
const ADMIT_TIMEOUT: Duration = Duration::from_secs(300);

pub fn now_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// What a join token carries. It is a bearer secret until used or expired.
#[derive(Serialize, Deserialize)]
pub(crate) struct TokenWire {
    sponsor: String,
    pin: String,
    secret: String,
}

pub(crate) fn parse_token(token: &str) -> Result<TokenWire, StoreError> {
    let bad = || {
        StoreError::Invalid(
            "this is not a Signet join token (it should begin with SIGNET-JOIN-1.)".into(),
        )
    };
    let body = token.trim().strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| bad())?;
    serde_json::from_slice(&json).map_err(|_| bad())
}

/// An issued join token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedJoinToken {
    pub token: String,
    pub expires_at: UnixMillis,
}

/// What [`Node::join`] did; the member restarts to finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinStarted {
    pub cluster_id: String,
    pub node_id: NodeId,
    /// The new CLI token (the old one belonged to the erased administrators).
    #[serde(skip)]
    pub cli_token: String,
}

impl Node {
    /// Issues a one-time join token on behalf of `issued_by`, valid for `ttl`.
    pub async fn issue_join_token(
        &self,
        issued_by: &str,
        ttl: Duration,
    ) -> Result<IssuedJoinToken, StoreError> {
        let secret = hex::encode(SealingKey::generate().expose());
        let now = now_millis();
        let expires_at = now + ttl.as_millis() as u64;
        self.execute(Command::IssueJoinToken {
            token: JoinTokenRecord {
                secret_sha256_hex: sha256_hex(secret.as_bytes()),
                issued_by: issued_by.to_string(),
                issued_at: now,
                expires_at,
                used_by: None,
            },
        })
        .await?;
        let pin = signet_transport::pki::cert_fingerprint(&self.identity.node_cert_pem)?;
        let wire = TokenWire {
            sponsor: self.options.cluster_advertise.clone(),
            pin,
            secret,
        };
        let json = serde_json::to_vec(&wire).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        );
        Ok(IssuedJoinToken { token, expires_at })
    }

    /// The joiner's side of a join. On success this member's replicated data is to be erased: the
    /// caller restarts it (see [`Node::restart_requested`]).
    pub async fn join(&self, token: &str) -> Result<JoinStarted, StoreError> {
        let wire = parse_token(token)?;
        if self.local.pending_change()?.is_some() {
            return Err(StoreError::Invalid(
                "this member is already finishing a membership change".into(),
            ));
        }
        let members = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .count();
        if members > 1 {
            return Err(StoreError::Invalid(format!(
                "this server is a member of a cluster of {members}; remove it from that cluster \
                 before it joins another"
            )));
        }
        let tls = signet_transport::tls::pinned_client_config(&wire.pin)?;
        let client = H2Client::new(wire.sponsor.clone(), "sponsor.signet-cluster", tls)?;
        let cli_token = hex::encode(SealingKey::generate().expose());
        let request = JoinRequest {
            secret_hex: wire.secret,
            cli_token_sha256_hex: sha256_hex(cli_token.as_bytes()),
            node: self.member_node(),
        };
        let grant: JoinGrant =
            rpc::call_rpc(&client, path::JOIN, &request, Duration::from_secs(30))
                .await
                .map_err(|e| match e {
                    CallError::Remote(e) => {
                        StoreError::Invalid(format!("the sponsor refused the join: {e}"))
                    }
                    other => StoreError::Cluster(format!(
                        "cannot reach the sponsor at {}: {other}",
                        wire.sponsor
                    )),
                })?;
        if grant.cluster_id == self.identity.cluster_id {
            return Err(StoreError::Invalid(
                "this member already belongs to that cluster".into(),
            ));
        }
        let data_key = SealingKey::from_bytes(&grant.data_key)?;
        let identity = ClusterIdentity {
            cluster_id: grant.cluster_id.clone(),
            node_id: grant.node_id,
            ca_cert_pem: grant.ca_cert_pem,
            ca_key_sealed: data_key.seal(LABEL_CA_KEY, grant.ca_key_pem.as_bytes()),
            node_cert_pem: grant.node_cert_pem,
            node_key_sealed: self
                .node_key
                .seal(LABEL_NODE_KEY, grant.node_key_pem.as_bytes()),
            data_key_sealed: Some(self.node_key.seal(LABEL_DATA_KEY, data_key.expose())),
        };
        // Identity and the pending change are written before anything is erased, so a crash here
        // resumes the join at the next start.
        self.local.set_identity(&identity)?;
        self.local.set_bootstrap_pending(false)?;
        self.local.set_pending_change(Some(&PendingChange::Join {
            sponsor_addr: wire.sponsor,
            erased: false,
        }))?;
        tracing::info!(cluster = %grant.cluster_id, member = grant.node_id, "join granted; restarting to erase old data");
        self.request_restart();
        Ok(JoinStarted {
            cluster_id: grant.cluster_id,
            node_id: grant.node_id,
            cli_token,
        })
    }

    /// The sponsor's side of a join (the only member RPC open without a member certificate).
    pub(crate) async fn sponsor_join(&self, join: JoinRequest) -> Result<JoinGrant, RpcError> {
        if join.node.cluster_addr.is_empty() || join.cli_token_sha256_hex.len() != 64 {
            return Err(RpcError::Rejected("malformed join request".into()));
        }
        // A locked sponsor cannot hand over the data key; refuse before the token is spent.
        let data_key = self
            .vault
            .data_key()
            .map_err(|e| RpcError::Rejected(format!("the sponsor cannot admit members: {e}")))?;
        let now = now_millis();
        let outcome = self
            .execute(Command::ConsumeJoinToken {
                secret_sha256_hex: sha256_hex(join.secret_hex.as_bytes()),
                now,
                cli_token: Some(ApiToken {
                    label: format!("CLI on the member at {}", join.node.api_addr),
                    sha256_hex: join.cli_token_sha256_hex,
                    created_at: now,
                }),
            })
            .await
            .map_err(|e| match e {
                StoreError::Rejected(r) => RpcError::Rejected(r.to_string()),
                StoreError::NoQuorum(m) => RpcError::NoQuorum(m),
                other => RpcError::Failed(other.to_string()),
            })?;
        let CommandOutput::NodeIdAllocated(node_id) = outcome else {
            return Err(RpcError::Failed("no member id was allocated".into()));
        };
        let fail = |e: StoreError| RpcError::Failed(e.to_string());
        let ca = self
            .current_identity()
            .and_then(|i| i.ca(&data_key))
            .map_err(fail)?;
        let cert = signet_transport::pki::issue_node_cert(&self.identity.cluster_id, &ca, node_id)
            .map_err(|e| fail(e.into()))?;
        tracing::info!(member = node_id, addr = %join.node.cluster_addr, "sponsoring a joiner");
        Ok(JoinGrant {
            cluster_id: self.identity.cluster_id.clone(),
            node_id,
            ca_cert_pem: ca.cert_pem,
            ca_key_pem: ca.key_pem,
            node_cert_pem: cert.cert_pem,
            node_key_pem: cert.key_pem,
            data_key: data_key.expose().to_vec(),
        })
    }

    /// Removes a member (run on any member).
    pub async fn remove_member(&self, node_id: NodeId) -> Result<(), StoreError> {
        self.run_cluster_op(ClusterOp::Remove { node_id }).await
    }

    /// A membership change that arrived over member RPC (a joiner asking its sponsor to be
    /// admitted, or a member forwarding): run it on the leader, wherever that is.
    pub(crate) async fn cluster_op_anywhere(&self, op: ClusterOp) -> Result<(), RpcError> {
        self.run_cluster_op(op).await.map_err(|e| match e {
            StoreError::NotFound(m) => RpcError::NotFound(m),
            StoreError::Invalid(m) => RpcError::Rejected(m),
            StoreError::NoQuorum(m) => RpcError::NoQuorum(m),
            other => RpcError::Failed(other.to_string()),
        })
    }

    /// Runs a membership change on the leader, forwarding it there if needed.
    async fn run_cluster_op(&self, op: ClusterOp) -> Result<(), StoreError> {
        let deadline = Instant::now() + ADMIT_TIMEOUT;
        let started = Instant::now();
        loop {
            let result = match self.leader() {
                Some(leader) if leader == self.id => Some(self.cluster_op(op.clone()).await),
                Some(leader) => match self
                    .call_leader::<ClusterOp, ()>(leader, path::CLUSTER_OP, &op, deadline)
                    .await
                {
                    Ok(()) => Some(Ok(())),
                    Err(LeaderCall::Retry) => None,
                    Err(LeaderCall::Failed(e)) => return Err(e.into()),
                },
                None => None,
            };
            match result {
                Some(Err(RpcError::NotLeader { .. })) | None => {}
                Some(Ok(())) => return Ok(()),
                Some(Err(RpcError::NotFound(m))) => return Err(StoreError::NotFound(m)),
                Some(Err(RpcError::NoQuorum(m))) => return Err(StoreError::NoQuorum(m)),
                Some(Err(RpcError::Rejected(m))) => return Err(StoreError::Invalid(m)),
                Some(Err(e)) => return Err(StoreError::Cluster(e.to_string())),
            }
            if started.elapsed() > Duration::from_millis(self.options.tuning.write_timeout_ms) {
                return Err(self.no_quorum("the membership change"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Executes a membership change, as the leader.
    pub(crate) async fn cluster_op(&self, op: ClusterOp) -> Result<(), RpcError> {
        let leader = self.leader();
        if leader != Some(self.id) {
            return Err(RpcError::NotLeader {
                this: self.id,
                leader,
            });
        }
        let membership = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let is_voter = |id: NodeId| membership.voter_ids().any(|v| v == id);
        let fail = |e: &dyn std::fmt::Display| RpcError::Failed(e.to_string());
        match op {
            ClusterOp::Admit { node_id, node } => {
                if is_voter(node_id) {
                    return Ok(());
                }
                let learner = || self.raft.add_learner(node_id, node.clone(), true);
                tokio::time::timeout(ADMIT_TIMEOUT, self.settled(learner))
                    .await
                    .map_err(|_| {
                        RpcError::Failed("the joiner did not catch up in time".into())
                    })??;
                let voter = ChangeMembers::AddVoterIds(BTreeSet::from([node_id]));
                self.settled(|| self.raft.change_membership(voter.clone(), false))
                    .await?;
                tracing::info!(member = node_id, "member admitted as a voter");
                Ok(())
            }
            ClusterOp::Remove { node_id } => {
                let Some(node) = membership.get_node(&node_id).cloned() else {
                    return Err(RpcError::NotFound(format!(
                        "member {node_id} is not in this cluster"
                    )));
                };
                if membership.nodes().count() == 1 {
                    return Err(RpcError::Rejected(
                        "this server is not participating in a cluster; there is nothing to remove"
                            .into(),
                    ));
                }
                let change = if is_voter(node_id) {
                    ChangeMembers::RemoveVoters(BTreeSet::from([node_id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([node_id]))
                };
                self.settled(|| self.raft.change_membership(change.clone(), false))
                    .await?;
                tracing::info!(member = node_id, "member removed");
                // Tell it, so it runs standalone; if it is down it never learns (as the guide
                // says) and its stale entry must be removed there by hand.
                if node_id == self.id {
                    self.leave().map_err(|e| fail(&e))?;
                } else {
                    let told = match self.peers.client(&node.cluster_addr) {
                        Ok(client) => rpc::call_rpc::<NodeId, ()>(
                            &client,
                            path::LEAVE,
                            &self.id,
                            Duration::from_secs(5),
                        )
                        .await
                        .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = told {
                        tracing::warn!(member = node_id, error = %e, "removed member could not be told");
                    }
                }
                Ok(())
            }
        }
    }

    /// Runs a membership change, retrying while an earlier one is still being committed (a
    /// removal right after an admission, two joins at once).
    async fn settled<F, Fut>(&self, change: F) -> Result<(), RpcError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<
                Output = Result<
                    openraft::raft::ClientWriteResponse<crate::types::TypeConfig>,
                    openraft::error::RaftError<
                        NodeId,
                        openraft::error::ClientWriteError<NodeId, crate::types::MemberNode>,
                    >,
                >,
            >,
    {
        use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match change().await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    return Err(RpcError::NotLeader {
                        this: self.id,
                        leader: f.leader_id,
                    });
                }
                Err(e) => return Err(RpcError::Failed(e.to_string())),
            }
        }
    }

    /// Another member says this one was removed.
    pub(crate) async fn leave_requested(
        &self,
        from: NodeId,
        peer: Option<NodeId>,
    ) -> Result<(), RpcError> {
        if peer != Some(from) {
            return Err(RpcError::Unauthorized(
                "the caller is not who it claims to be".into(),
            ));
        }
        let m = self.raft.metrics().borrow().membership_config.clone();
        if m.membership().get_node(&self.id).is_some()
            && m.membership().voter_ids().any(|v| v == self.id)
        {
            // Not yet applied here; the removal is committed on the leader, so act on the word of
            // a member that is still in our membership.
            if m.membership().get_node(&from).is_none() {
                return Err(RpcError::Unauthorized(format!(
                    "member {from} is not in this cluster"
                )));
            }
        }
        self.leave().map_err(|e| RpcError::Failed(e.to_string()))
    }

    /// Becomes a one-member cluster of its own, keeping the data.
    fn leave(&self) -> Result<(), StoreError> {
        // The replicated data stays sealed under the data key it has, so the new cluster keeps
        // it; a locked member cannot leave until it is unlocked.
        let data_key = self.vault.data_key()?;
        let mut identity = ClusterIdentity::new_cluster(&self.node_key, &data_key)?;
        if !self.state.ignition_keys()?.is_empty() {
            identity.data_key_sealed = None;
        }
        self.local.set_identity(&identity)?;
        self.local.set_pending_change(Some(&PendingChange::Leave))?;
        tracing::info!(new_cluster = %identity.cluster_id, "removed from the cluster; restarting standalone");
        self.request_restart();
        Ok(())
    }
}

/// Rewrites the CLI file's token after a join.
pub fn replace_cli_token(dir: &datadir::DataDir, token: &str) -> Result<(), StoreError> {
    let path = dir.cli_file();
    let text = std::fs::read_to_string(&path).map_err(|e| StoreError::io(&path, e))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| StoreError::Decode(e.to_string()))?;
    v["token"] = serde_json::Value::String(token.to_string());
    let out = serde_json::to_vec_pretty(&v).map_err(|e| StoreError::Decode(e.to_string()))?;
    datadir::write_private_file(&path, &out)
}

/// After a join's restart: asks the sponsor to admit this member until it is a voter.
pub(crate) async fn seek_admission(node: Arc<Node>, sponsor_addr: String) {
    let op = ClusterOp::Admit {
        node_id: node.id,
        node: node.member_node(),
    };
    let mut delay = Duration::from_millis(200);
    loop {
        let result = match node.peers.client(&sponsor_addr) {
            Ok(client) => {
                rpc::call_rpc::<ClusterOp, ()>(&client, path::CLUSTER_OP, &op, ADMIT_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                if let Err(e) = node.local.set_pending_change(None) {
                    tracing::error!(error = %e, "cannot record the finished join");
                }
                tracing::info!(member = node.id, "joined the cluster");
                return;
            }
            Err(e) => {
                tracing::warn!(sponsor = %sponsor_addr, error = %e, "waiting to be admitted");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
