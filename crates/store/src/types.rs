//! The openraft type configuration: what a log entry carries and what applying it returns.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandOutcome};

/// How other members and administrators reach a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// `host:port` of the member RPC listener (mutual TLS).
    pub cluster_addr: String,
    /// `host:port` of the admin API and UI.
    pub api_addr: String,
}

/// One Raft log entry's application payload: a batch of commands from one or more callers,
/// applied in order. Batching many callers' commands into one entry is how the cluster reaches
/// thousands of committed writes per second on a small machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub commands: Vec<Command>,
}

/// The outcome of each command of a [`Request`], in the same order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    pub outcomes: Vec<CommandOutcome>,
}

openraft::declare_raft_types!(
    /// Signet's Raft types.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = MemberNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, MemberNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, MemberNode>;
pub type StorageError = openraft::StorageError<u64>;
