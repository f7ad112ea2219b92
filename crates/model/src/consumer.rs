//! Consumers: the users the server knows. Internal users belong to a managed domain; external
//! users are everyone else the organization corresponds with (Web Email Protection recipients,
//! senders whose keys were harvested).
//!
//! A consumer's keys are [`ManagedKey`]s; their private halves are sealed under the cluster data
//! key before they are put here (DESIGN.md, Secrets).

use serde::{Deserialize, Serialize};

use crate::{EmailAddress, ManagedKey, UnixMillis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerKind {
    Internal,
    External,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub email: EmailAddress,
    pub kind: ConsumerKind,
    pub display_name: Option<String>,
    /// The user's keys; the first valid one is the one mail uses.
    pub keys: Vec<ManagedKey>,
    pub created_at: UnixMillis,
}
