//! openraft's network over member RPC: one HTTP/2 connection per peer, mutual TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use rustls::ClientConfig;
use signet_transport::http::H2Client;
use signet_transport::pki::CLUSTER_SERVER_NAME;

use crate::rpc::{self, CallError, path};
use crate::types::{MemberNode, TypeConfig};

/// Clients to other members, by address; shared by Raft replication and forwarded calls.
pub(crate) struct Peers {
    tls: Arc<ClientConfig>,
    clients: Mutex<HashMap<String, Arc<H2Client>>>,
}

impl Peers {
    pub(crate) fn new(tls: Arc<ClientConfig>) -> Self {
        Peers {
            tls,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn client(
        &self,
        addr: &str,
    ) -> Result<Arc<H2Client>, signet_transport::TransportError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let c = Arc::new(H2Client::new(addr, CLUSTER_SERVER_NAME, self.tls.clone())?);
        clients.insert(addr.to_string(), c.clone());
        Ok(c)
    }
}

#[derive(Clone)]
pub(crate) struct NetworkFactory(pub(crate) Arc<Peers>);

pub(crate) struct PeerConnection {
    target: u64,
    target_node: MemberNode,
    client: Result<Arc<H2Client>, String>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: u64, node: &MemberNode) -> PeerConnection {
        PeerConnection {
            target,
            target_node: node.clone(),
            client: self.0.client(&node.cluster_addr).map_err(|e| e.to_string()),
        }
    }
}

impl PeerConnection {
    async fn send<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<u64, MemberNode, RaftError<u64, E>>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let client = self.client.as_ref().map_err(|e| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e.clone())))
        })?;
        match rpc::call::<Req, Resp, RaftError<u64, E>>(client, path, request, timeout).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.target_node.clone(),
                remote,
            ))),
            // Unreachable makes openraft back off before the next try instead of spinning.
            Err(CallError::NotSent(e)) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, MemberNode, RaftError<u64>>> {
        self.send(path::APPEND, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, MemberNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.send(path::SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, MemberNode, RaftError<u64>>> {
        self.send(path::VOTE, &rpc, option.hard_ttl()).await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // A member that is down is retried every 200 ms, so it rejoins quickly when it is back.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}
