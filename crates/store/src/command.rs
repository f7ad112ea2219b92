//! Typed commands: the only way global data changes.
//!
//! Adding a command is three steps: a variant here, its arm in [`crate::state::apply`], and a
//! unit test of that arm. Commands carry every value that depends on time or randomness (the
//! proposer stamps them), so applying one is deterministic on every member.

use serde::{Deserialize, Serialize};
use signet_model::{
    Administrator, ApiToken, Consumer, Dictionary, DictionaryEntry, EmailAddress, NodeId, Setting,
    UnixMillis,
};

/// A one-time join token as the cluster stores it: only the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    pub secret_sha256_hex: String,
    pub issued_by: String,
    pub issued_at: UnixMillis,
    pub expires_at: UnixMillis,
    /// Set when a joiner used it; a used token is kept so a replay gets a precise error.
    pub used_by: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    AddManagedDomain {
        name: String,
        at: UnixMillis,
    },
    RemoveManagedDomain {
        name: String,
    },
    /// Adds a consumer; refused if one with that address exists.
    AddConsumer {
        consumer: Consumer,
    },
    /// Replaces an existing consumer (its keys, name).
    UpdateConsumer {
        consumer: Consumer,
    },
    RemoveConsumer {
        email: EmailAddress,
    },
    AddAdministrator {
        admin: Administrator,
    },
    RemoveAdministrator {
        login: String,
    },
    AddApiToken {
        login: String,
        token: ApiToken,
    },
    SetSetting {
        setting: Setting,
    },
    CreateDictionary {
        dictionary: Dictionary,
    },
    DeleteDictionary {
        name: String,
    },
    AddDictionaryEntries {
        name: String,
        entries: Vec<DictionaryEntry>,
    },
    RemoveDictionaryEntries {
        name: String,
        entries: Vec<DictionaryEntry>,
    },
    IssueJoinToken {
        token: JoinTokenRecord,
    },
    /// Spends a join token and allocates the joiner's member id. The joiner's CLI token, if
    /// given, is added to the administrator who issued the join token: the join carries that
    /// administrator's authority to the new member.
    ConsumeJoinToken {
        secret_sha256_hex: String,
        now: UnixMillis,
        cli_token: Option<ApiToken>,
    },
}

/// What a command did, when it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutput {
    Done,
    /// Entries actually added or removed (duplicates and absent entries are not counted).
    Count(u64),
    /// The member id allocated to a joiner.
    NodeIdAllocated(NodeId),
}

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the join token is not valid: {0}")]
    JoinToken(String),
}

pub type CommandOutcome = Result<CommandOutput, Rejection>;
