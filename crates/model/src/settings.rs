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
    /// Scheduled backups (guide §17): each member writes its own backup to its backup folder.
    BackupSchedule(BackupSchedule),
    /// The public key cache timeout: how long keys found on keyservers stay in the key cache.
    KeyCacheTimeout(crate::KeyCacheTimeout),
}

/// When scheduled backups run: on the given weekdays at a time of day (UTC), keeping the newest
/// `keep` files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSchedule {
    pub enabled: bool,
    /// Minutes after midnight, UTC (the appliance's clock is UTC).
    pub at_minute: u16,
    /// Monday = bit 0 ... Sunday = bit 6. Daily = 0x7f.
    pub weekdays: u8,
    /// How many backups the folder keeps; the oldest is removed first.
    pub keep: u32,
}

impl BackupSchedule {
    /// Parses "HH:MM" (24-hour).
    pub fn parse_time(raw: &str) -> Option<u16> {
        let (h, m) = raw.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    pub fn time_string(&self) -> String {
        format!("{:02}:{:02}", self.at_minute / 60, self.at_minute % 60)
    }
}

/// The key a setting is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingName {
    LearnMode,
    BackupSchedule,
    KeyCacheTimeout,
}

impl Setting {
    pub fn name(&self) -> SettingName {
        match self {
            Setting::LearnMode(_) => SettingName::LearnMode,
            Setting::BackupSchedule(_) => SettingName::BackupSchedule,
            Setting::KeyCacheTimeout(_) => SettingName::KeyCacheTimeout,
        }
    }
}

impl SettingName {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingName::LearnMode => "learn-mode",
            SettingName::BackupSchedule => "backup-schedule",
            SettingName::KeyCacheTimeout => "key-cache-timeout",
        }
    }

    /// The value a fresh cluster has. Learn Mode is on until the setup assistant's last step turns
    /// it off, so nothing is encrypted or blocked before an administrator has looked at policy.
    pub fn default_value(self) -> Setting {
        match self {
            SettingName::LearnMode => Setting::LearnMode(true),
            // Off until an administrator sets it; daily at 02:00 once enabled, 7 kept.
            SettingName::BackupSchedule => Setting::BackupSchedule(BackupSchedule {
                enabled: false,
                at_minute: 120,
                weekdays: 0x7f,
                keep: 7,
            }),
            // The guide states no default; 30 days (docs/keysearch.md).
            SettingName::KeyCacheTimeout => {
                Setting::KeyCacheTimeout(crate::KeyCacheTimeout::DEFAULT)
            }
        }
    }
}
