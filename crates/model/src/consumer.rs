//! Consumers: the users the server knows. Internal users belong to a managed domain; external
//! users are everyone else the organization corresponds with (Web Email Protection recipients,
//! senders whose keys were harvested).
//!
//! Key records are opaque here; the keys issue gives them structure. A private key must be sealed
//! under the cluster data key before it is put in a key record (DESIGN.md, Secrets).

use serde::{Deserialize, Serialize};

use crate::{EmailAddress, UnixMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerKind {
    Internal,
    External,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// What the record is, for people: "OpenPGP public key", "S/MIME certificate".
    pub label: String,
    /// The record itself; opaque to the store.
    pub blob: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub email: EmailAddress,
    pub kind: ConsumerKind,
    pub display_name: Option<String>,
    pub keys: Vec<KeyRecord>,
    pub created_at: UnixMillis,
}
