//! Signet's state: replicated global data (openraft over the crate's storage trait, on sled) and
//! each member's node-local data.
//!
//! - [`backend`]: the storage trait and its sled implementation; nothing else names sled.
//! - [`command`] and [`state`]: typed commands, how each is applied, typed reads.
//! - `log_store`, `state_machine`: openraft's storage v2 over the backend.
//! - [`node`]: a running member: writes from any member, linearizable and local reads.
//! - `membership`: join tokens, join, admission, removal.
//! - `network`, `rpc`: member-to-member HTTPS with mutual TLS.
//! - [`local`], [`secrets`], [`datadir`]: node-local data, sealing, the data directory.
//! - [`vault`]: the lock state (the data key in memory) and Ignition Keys.

pub mod backend;
mod batcher;
pub mod changes;
pub mod command;
pub mod datadir;
mod error;
pub mod local;
mod log_store;
mod membership;
mod network;
pub mod node;
pub mod policy_facts;
mod rpc;
pub mod secrets;
pub mod state;
mod state_machine;
pub mod types;
pub mod vault;

pub use command::{Command, CommandOutcome, CommandOutput, Rejection};
pub use error::StoreError;
pub use membership::{IssuedJoinToken, JoinStarted, now_millis, replace_cli_token};
pub use node::{ClusterStatus, Node, NodeOptions, RaftTuning, Started};
pub use state::StateView;

/// Decoders for bytes that reach a member from outside (join tokens pasted by administrators,
/// member RPC bodies, snapshots), exposed for the fuzz targets in `fuzz/`. Each must return an
/// error, never panic, on any input.
pub mod wire {
    use crate::StoreError;
    use crate::types::{Request, TypeConfig};

    pub fn join_token(text: &str) -> Result<(), StoreError> {
        crate::membership::parse_token(text).map(|_| ())
    }

    pub fn forwarded_request(bytes: &[u8]) -> Result<Request, StoreError> {
        postcard::from_bytes(bytes).map_err(|e| StoreError::Decode(e.to_string()))
    }

    pub fn append_entries(bytes: &[u8]) -> Result<usize, StoreError> {
        postcard::from_bytes::<openraft::raft::AppendEntriesRequest<TypeConfig>>(bytes)
            .map(|r| r.entries.len())
            .map_err(|e| StoreError::Decode(e.to_string()))
    }

    pub fn snapshot(bytes: &[u8]) -> Result<usize, StoreError> {
        crate::state_machine::decode_exact(bytes).map(|pairs| pairs.len())
    }
}
