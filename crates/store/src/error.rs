//! The crate's error type.

use std::path::Path;

use crate::command::Rejection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("the data directory {path} is corrupt or unreadable: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("{path} is not a Signet data directory ({reason}); refusing to touch it")]
    Foreign { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("stored data cannot be decoded: {0}")]
    Decode(String),
    #[error("secret: {0}")]
    Secret(String),
    #[error(transparent)]
    Transport(#[from] signet_transport::TransportError),
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error("{0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error(
        "this member is locked: unlock it with an Ignition Key passphrase or the Organization Key"
    )]
    Locked,
    #[error("this member is shutting down")]
    ShuttingDown,
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
