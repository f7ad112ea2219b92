//! Errors of the SMTP crate, each with the context an administrator needs in a log line.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool: {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool: cannot encode an envelope: {0}")]
    Encode(serde_json::Error),
    #[error("spool: {0} is corrupt: {1}")]
    Corrupt(PathBuf, String),
    #[error("spool: no queued message {0}")]
    NotFound(String),
    #[error("spool: {0:?} is not a queue id")]
    BadId(String),
}

impl SpoolError {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        SpoolError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Why a delivery attempt did not succeed. Temporary failures are retried; permanent ones
/// bounce.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Temporary(String),
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Permanent(_))
    }
}
