//! The member's mail settings in its local store: what the configuration file gave at the
//! last start (so the API can show it), what administrators set through the API (which wins),
//! and, in memory only, each proxy's running state as the mail service reports it.
//!
//! Values are JSON, not postcard: the types grow fields (with defaults) and an old value must
//! still read.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use signet_model::mail_settings::{MailOverrides, NodeMail};

use super::LocalStore;
use crate::StoreError;
use crate::backend::Batch;

const CONFIGURED: &[u8] = b"mail-settings-configured";
const OVERRIDES: &[u8] = b"mail-settings-api";

/// The configuration file's `[mail]` values, as the mail service last started with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredMail {
    #[serde(default)]
    pub mail: NodeMail,
    /// Where the setup assistant's proxy listens (`mail.setup_listen`).
    #[serde(default)]
    pub setup_listen: Option<String>,
}

/// Shared by every clone of a [`LocalStore`].
#[derive(Default)]
pub(super) struct MailShared {
    changed: tokio::sync::Notify,
    /// Serializes read-modify-write of the overrides.
    edit: Mutex<()>,
    /// Proxy id → "running" or "error: ...".
    states: Mutex<BTreeMap<String, String>>,
}

impl LocalStore {
    fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.node.get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StoreError::Invalid(format!("stored mail settings: {e}"))),
        }
    }

    fn put_json<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| StoreError::Invalid(format!("mail settings: {e}")))?;
        let mut b = Batch::default();
        b.insert(key.to_vec(), bytes);
        self.node.apply(b)?;
        self.backend.flush()
    }

    pub fn configured_mail(&self) -> Result<ConfiguredMail, StoreError> {
        Ok(self.get_json(CONFIGURED)?.unwrap_or_default())
    }

    /// Records the configuration file's values (at each start of the mail service).
    pub fn set_configured_mail(&self, configured: &ConfiguredMail) -> Result<(), StoreError> {
        self.put_json(CONFIGURED, configured)?;
        self.mail.changed.notify_one();
        Ok(())
    }

    /// What was set through the API.
    pub fn mail_overrides(&self) -> Result<MailOverrides, StoreError> {
        Ok(self.get_json(OVERRIDES)?.unwrap_or_default())
    }

    /// The values the mail service runs with: the API's over the configuration file's.
    pub fn effective_mail(&self) -> Result<NodeMail, StoreError> {
        Ok(self.mail_overrides()?.apply(&self.configured_mail()?.mail))
    }

    /// Changes the overrides under a lock: `edit` gets the current ones and the configured
    /// values, and returns what to answer; an error leaves everything as it was.
    pub fn edit_mail_overrides<R, E: From<StoreError>>(
        &self,
        edit: impl FnOnce(&mut MailOverrides, &ConfiguredMail) -> Result<R, E>,
    ) -> Result<R, E> {
        let _guard = self.mail.edit.lock().unwrap_or_else(|p| p.into_inner());
        let configured = self.configured_mail()?;
        let mut overrides = self.mail_overrides()?;
        let before = overrides.clone();
        let answer = edit(&mut overrides, &configured)?;
        if overrides != before {
            self.put_json(OVERRIDES, &overrides)?;
            self.mail.changed.notify_one();
        }
        Ok(answer)
    }

    /// Resolves after the next change of the mail settings (one made since the last call
    /// counts too).
    pub async fn mail_settings_changed(&self) {
        self.mail.changed.notified().await
    }

    /// The mail service reports each proxy's state ("running", "error: ...").
    pub fn set_proxy_states(&self, states: BTreeMap<String, String>) {
        *self.mail.states.lock().unwrap_or_else(|p| p.into_inner()) = states;
    }

    pub fn proxy_states(&self) -> BTreeMap<String, String> {
        self.mail
            .states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use signet_model::mail_settings::MailSettingsChange;

    use super::*;

    #[test]
    fn overrides_survive_reopen_and_win() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        {
            let store = LocalStore::open(dir.path())?;
            let mut configured = ConfiguredMail::default();
            configured.mail.settings.hostname = Some("conf.example".into());
            store.set_configured_mail(&configured)?;
            store.edit_mail_overrides(|o, _| {
                o.settings = MailSettingsChange {
                    hostname: Some("api.example".into()),
                    ..Default::default()
                };
                Ok::<_, StoreError>(())
            })?;
        }
        let store = LocalStore::open(dir.path())?;
        let effective = store.effective_mail()?;
        assert_eq!(effective.settings.hostname.as_deref(), Some("api.example"));
        assert_eq!(
            store.configured_mail()?.mail.settings.hostname.as_deref(),
            Some("conf.example")
        );
        Ok(())
    }
}
