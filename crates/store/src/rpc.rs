//! Member-to-member RPC: the wire types, the client call, and the server's dispatch.
//!
//! Every call is an HTTP/2 POST with a postcard body, answered with status 200 and a postcard
//! `Result<T, E>`; any other status or an undecodable body is a transport failure. Routes other
//! than `/rpc/join` require a client certificate issued by the cluster CA.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request as HttpRequest, Response as HttpResponse, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use signet_model::NodeId;
use signet_transport::TransportError;
use signet_transport::http::H2Client;
use signet_transport::tls::PeerIdentity;

use crate::node::Node;
use crate::types::{MemberNode, Request, Response};

/// Largest RPC body accepted (a snapshot chunk or a batch of log entries stays far below).
const MAX_BODY: usize = 64 << 20;

pub(crate) mod path {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const FORWARD: &str = "/rpc/forward";
    pub const READ_INDEX: &str = "/rpc/read-index";
    pub const CLUSTER_OP: &str = "/rpc/cluster-op";
    pub const JOIN: &str = "/rpc/join";
    pub const LEAVE: &str = "/rpc/leave";
}

/// A membership change, executed on the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ClusterOp {
    Admit { node_id: NodeId, node: MemberNode },
    Remove { node_id: NodeId },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    pub secret_hex: String,
    pub cli_token_sha256_hex: String,
    pub node: MemberNode,
}

/// What a sponsor hands a joiner over the pinned TLS session: everything secret it needs.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct JoinGrant {
    pub cluster_id: String,
    pub node_id: NodeId,
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub node_cert_pem: String,
    pub node_key_pem: String,
    pub data_key: Vec<u8>,
}

/// Why a member refused an RPC.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum RpcError {
    #[error("member {this} is not the leader (leader: {leader:?})")]
    NotLeader {
        this: NodeId,
        leader: Option<NodeId>,
    },
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error("not allowed: {0}")]
    Unauthorized(String),
    #[error("{0}")]
    Failed(String),
}

/// How a call failed, as far as the caller can tell.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The request never reached the peer: safe to retry anywhere.
    #[error("{0}")]
    NotSent(TransportError),
    /// It may or may not have been processed.
    #[error("{0}")]
    Lost(String),
    #[error("{0}")]
    Remote(RpcError),
}

pub(crate) async fn call<Req, Resp, E>(
    client: &H2Client,
    path: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Result<Resp, E>, CallError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
    E: DeserializeOwned,
{
    let body =
        postcard::to_allocvec(request).map_err(|e| CallError::Lost(format!("encode: {e}")))?;
    let reply = client
        .request(
            hyper::Method::POST,
            path,
            &[("content-type", "application/postcard")],
            body.into(),
            timeout,
        )
        .await
        .map_err(|e| match e {
            TransportError::Connect { .. } | TransportError::Handshake { .. } => {
                CallError::NotSent(e)
            }
            other => CallError::Lost(other.to_string()),
        })?;
    if reply.status != StatusCode::OK {
        return Err(CallError::Lost(format!(
            "{} answered {} to {path}: {}",
            client.addr(),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )));
    }
    postcard::from_bytes(&reply.body)
        .map_err(|e| CallError::Lost(format!("bad answer from {}: {e}", client.addr())))
}

/// Calls whose error type is [`RpcError`].
pub(crate) async fn call_rpc<Req: Serialize, Resp: DeserializeOwned>(
    client: &H2Client,
    path: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, CallError> {
    call::<Req, Resp, RpcError>(client, path, request, timeout)
        .await?
        .map_err(CallError::Remote)
}

fn reply<T: Serialize>(value: &T) -> HttpResponse<Full<Bytes>> {
    match postcard::to_allocvec(value) {
        Ok(body) => HttpResponse::new(Full::new(body.into())),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("encode: {e}")),
    }
}

fn plain(status: StatusCode, message: String) -> HttpResponse<Full<Bytes>> {
    let mut r = HttpResponse::new(Full::new(Bytes::from(message)));
    *r.status_mut() = status;
    r
}

async fn read_body<T: DeserializeOwned>(
    req: HttpRequest<Incoming>,
) -> Result<T, HttpResponse<Full<Bytes>>> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| plain(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?
        .to_bytes();
    postcard::from_bytes(&bytes)
        .map_err(|e| plain(StatusCode::BAD_REQUEST, format!("malformed body: {e}")))
}

/// Dispatches one member RPC.
pub(crate) async fn serve(
    node: Arc<Node>,
    req: HttpRequest<Incoming>,
    peer: PeerIdentity,
) -> HttpResponse<Full<Bytes>> {
    if req.method() != hyper::Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "member RPC is POST only".into(),
        );
    }
    let path = req.uri().path().to_string();
    if path == path::JOIN {
        return match read_body::<JoinRequest>(req).await {
            Ok(join) => reply(&node.sponsor_join(join).await),
            Err(r) => r,
        };
    }
    if peer.node_id.is_none() {
        return plain(
            StatusCode::FORBIDDEN,
            "a member certificate is required".into(),
        );
    }
    let raft = node.raft();
    macro_rules! handle {
        ($ty:ty, |$arg:ident| $body:expr) => {
            match read_body::<$ty>(req).await {
                Ok($arg) => reply(&$body),
                Err(r) => r,
            }
        };
    }
    match path.as_str() {
        path::APPEND => handle!(
            openraft::raft::AppendEntriesRequest<crate::types::TypeConfig>,
            |rpc| raft.append_entries(rpc).await
        ),
        path::VOTE => handle!(openraft::raft::VoteRequest<u64>, |rpc| raft.vote(rpc).await),
        path::SNAPSHOT => handle!(
            openraft::raft::InstallSnapshotRequest<crate::types::TypeConfig>,
            |rpc| raft.install_snapshot(rpc).await
        ),
        path::FORWARD => handle!(Request, |request| node
            .propose_as_leader(request)
            .await
            .map_err(RpcError::from)
            as Result<Response, RpcError>),
        path::READ_INDEX => handle!((), |_unit| node.read_index_as_leader().await),
        path::CLUSTER_OP => handle!(ClusterOp, |op| node.cluster_op_anywhere(op).await),
        path::LEAVE => handle!(NodeId, |from| node
            .leave_requested(from, peer.node_id)
            .await),
        _ => plain(StatusCode::NOT_FOUND, format!("no member RPC at {path}")),
    }
}
