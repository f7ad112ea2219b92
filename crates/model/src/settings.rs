//! Global settings: replicated to every member. Node-local settings (network, proxies, routes)
//! never appear here; they live in the node's own database.

use serde::{Deserialize, Serialize};

/// One global setting with its typed value. Adding a setting is adding a variant here and its
/// name in [`Setting::name`].
// Externally tagged (serde's default): the Raft log's postcard encoding cannot carry
// internally or adjacently tagged enums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    /// Learn Mode: mail is processed and logged as it would be, but delivered unchanged.
    LearnMode(bool),
}

/// The key a setting is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingName {
    LearnMode,
}

impl Setting {
    pub fn name(&self) -> SettingName {
        match self {
            Setting::LearnMode(_) => SettingName::LearnMode,
        }
    }
}

impl SettingName {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingName::LearnMode => "learn-mode",
        }
    }

    /// The value a fresh cluster has. Learn Mode is on until the setup assistant's last step turns
    /// it off, so nothing is encrypted or blocked before an administrator has looked at policy.
    pub fn default_value(self) -> Setting {
        match self {
            SettingName::LearnMode => Setting::LearnMode(true),
        }
    }
}
