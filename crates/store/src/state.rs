//! The replicated state: its key space in one tree, the apply function for every command, and
//! typed reads.
//!
//! Everything lives in one backend tree so that all of an apply call's writes, together with the
//! new last-applied log id, go to disk as one atomic batch. Keys are `<table>/<key>`; values are
//! postcard. Meta keys begin with a zero byte and are not part of snapshot data.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use signet_model::{
    Administrator, Consumer, ConsumerKind, Dictionary, DictionaryEntry, ManagedDomain, NodeId,
    Setting, SettingName, TermKind,
};

use crate::StoreError;
use crate::backend::{Batch, Pair, Tree};
use crate::command::{Command, CommandOutcome, CommandOutput, JoinTokenRecord, Rejection};

pub(crate) mod keys {
    pub const META_PREFIX: &[u8] = b"\x00";
    pub const APPLIED: &[u8] = b"\x00applied";
    pub const MEMBERSHIP: &[u8] = b"\x00membership";
    pub const NEXT_NODE_ID: &[u8] = b"ctr/next-node-id";

    pub const DOMAIN: &str = "dom/";
    pub const CONSUMER: &str = "con/";
    pub const ADMIN: &str = "adm/";
    pub const SETTING: &str = "set/";
    pub const DICTIONARY: &str = "dic/";
    pub const DICTIONARY_ENTRY: &str = "die/";
    pub const JOIN_TOKEN: &str = "jtk/";
    pub const COUNTER: &str = "ctr/";
    pub const ORGANIZATION: &str = "org/";
    pub const IGNITION: &str = "ign/";
    pub const REVOKED_CERT: &str = "crl/";
    pub const TRUSTED: &str = "tru/";
    /// Administrators' message template texts by catalogue id.
    pub const MESSAGE_TEMPLATE: &str = "tpl/";
    /// Mail policy chains by lower-case name (chain names compare case-insensitively).
    pub const POLICY_CHAIN: &str = "pol/";
    /// Verified Directory: settings, entries by fingerprint, token digests.
    pub const VD_SETTINGS: &[u8] = b"vds/settings";
    pub const VD_ENTRY: &str = "vde/";
    pub const VD_TOKEN: &str = "vdt/";
    /// The cluster data key encrypted to the Organization Key.
    pub const DATA_KEY_FOR_ORG_KEY: &[u8] = b"okw/data-key";

    pub fn key(table: &str, id: &str) -> Vec<u8> {
        [table.as_bytes(), id.as_bytes()].concat()
    }

    /// Entries of one dictionary share the prefix `die/<name>\0`, so a dictionary name that is a
    /// prefix of another never mixes their entries.
    pub fn dictionary_entries(name: &str) -> Vec<u8> {
        [DICTIONARY_ENTRY.as_bytes(), name.as_bytes(), b"\0"].concat()
    }

    pub fn dictionary_entry(name: &str, entry: &str) -> Vec<u8> {
        [dictionary_entries(name).as_slice(), entry.as_bytes()].concat()
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Decode(format!("encode: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

/// Pending writes over the tree: reads see them, and they reach the tree as one batch.
pub(crate) struct Txn<'a> {
    tree: &'a dyn Tree,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    pub(crate) fn new(tree: &'a dyn Tree) -> Self {
        Txn {
            tree,
            overlay: BTreeMap::new(),
        }
    }

    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.tree.get(key),
        }
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_raw(key)?.map(|v| decode(&v)).transpose()
    }

    pub(crate) fn exists(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get_raw(key)?.is_some())
    }

    pub(crate) fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StoreError> {
        self.overlay.insert(key, Some(encode(value)?));
        Ok(())
    }

    /// Writes an already-encoded value (a restore copies a backup's entries as they are).
    pub(crate) fn overlay_put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key, Some(value));
    }

    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }

    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.tree.scan_prefix(prefix)?.into_iter().collect();
        for (k, v) in self.overlay.range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    pub(crate) fn into_batch(self) -> Batch {
        let mut batch = Batch::default();
        for (k, v) in self.overlay {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        batch
    }
}

/// Applies one command. `Err` is a storage failure (fatal to the member); a refused command is an
/// `Ok(Err(rejection))` and leaves the transaction untouched.
pub(crate) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    use keys::*;
    let done = Ok(Ok(CommandOutput::Done));
    match command {
        Command::AddManagedDomain { name, at } => {
            let k = key(DOMAIN, name);
            if txn.exists(&k)? {
                return Ok(Err(Rejection::AlreadyExists(format!(
                    "managed domain {name}"
                ))));
            }
            txn.put(
                k,
                &ManagedDomain {
                    name: name.clone(),
                    added_at: *at,
                },
            )?;
            sync_managed_domains_dictionary(txn, name, true)?;
            done
        }
        Command::RemoveManagedDomain { name } => {
            let k = key(DOMAIN, name);
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("managed domain {name}"))));
            }
            let internal = consumers_in(txn, name, ConsumerKind::Internal)?;
            if internal > 0 {
                return Ok(Err(Rejection::Conflict(format!(
                    "managed domain {name} still has {internal} internal user(s); remove them first"
                ))));
            }
            txn.delete(k);
            sync_managed_domains_dictionary(txn, name, false)?;
            done
        }
        Command::AddConsumer { consumer } => {
            let k = key(CONSUMER, &consumer.email.key());
            if txn.exists(&k)? {
                return Ok(Err(Rejection::AlreadyExists(format!(
                    "user {}",
                    consumer.email
                ))));
            }
            if let Some(r) = kind_mismatch(txn, consumer)? {
                return Ok(Err(r));
            }
            txn.put(k, consumer)?;
            done
        }
        Command::UpdateConsumer { consumer } => {
            let k = key(CONSUMER, &consumer.email.key());
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("user {}", consumer.email))));
            }
            if let Some(r) = kind_mismatch(txn, consumer)? {
                return Ok(Err(r));
            }
            txn.put(k, consumer)?;
            done
        }
        Command::RemoveConsumer { email } => {
            let k = key(CONSUMER, &email.key());
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("user {email}"))));
            }
            txn.delete(k);
            done
        }
        Command::AddAdministrator { admin } => {
            let k = key(ADMIN, &admin.login);
            if txn.exists(&k)? {
                return Ok(Err(Rejection::AlreadyExists(format!(
                    "administrator {}",
                    admin.login
                ))));
            }
            txn.put(k, admin)?;
            done
        }
        Command::RemoveAdministrator { login } => {
            let k = key(ADMIN, login);
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("administrator {login}"))));
            }
            if let Some(r) = admins::last_superuser_guard(txn, login, None)? {
                return Ok(Err(r));
            }
            txn.delete(k);
            done
        }
        Command::UpdateAdministrator { .. }
        | Command::SetAdministratorPassphrase { .. }
        | Command::RecordFailedLogin { .. }
        | Command::ClearFailedLogins { .. }
        | Command::CreateFirstAdministrator { .. }
        | Command::SetAdministrationSettings { .. } => admins::apply(txn, command),
        Command::AddApiToken { login, token } => {
            let k = key(ADMIN, login);
            let Some(mut admin) = txn.get::<Administrator>(&k)? else {
                return Ok(Err(Rejection::NotFound(format!("administrator {login}"))));
            };
            admin.api_tokens.push(token.clone());
            txn.put(k, &admin)?;
            done
        }
        Command::SetSetting { setting } => {
            txn.put(key(SETTING, setting.name().as_str()), setting)?;
            done
        }
        Command::IssueJoinToken { token } => {
            txn.put(key(JOIN_TOKEN, &token.secret_sha256_hex), token)?;
            done
        }
        Command::ConsumeJoinToken {
            secret_sha256_hex,
            now,
            cli_token,
        } => {
            let k = key(JOIN_TOKEN, secret_sha256_hex);
            let Some(mut token) = txn.get::<JoinTokenRecord>(&k)? else {
                return Ok(Err(Rejection::JoinToken(
                    "this cluster did not issue it".into(),
                )));
            };
            if let Some(node) = token.used_by {
                return Ok(Err(Rejection::JoinToken(format!(
                    "it was already used by member {node}"
                ))));
            }
            if *now > token.expires_at {
                return Ok(Err(Rejection::JoinToken(
                    "it has expired; issue a new one".into(),
                )));
            }
            let node_id: NodeId = txn.get(NEXT_NODE_ID)?.unwrap_or(2);
            txn.put(NEXT_NODE_ID.to_vec(), &(node_id + 1))?;
            token.used_by = Some(node_id);
            if let Some(cli_token) = cli_token {
                let ak = key(ADMIN, &token.issued_by);
                if let Some(mut admin) = txn.get::<Administrator>(&ak)? {
                    admin.api_tokens.push(cli_token.clone());
                    txn.put(ak, &admin)?;
                }
            }
            txn.put(k, &token)?;
            Ok(Ok(CommandOutput::NodeIdAllocated(node_id)))
        }
        Command::SetOrganizationItem { .. }
        | Command::RemoveOrganizationItem { .. }
        | Command::AddIgnitionKey { .. }
        | Command::RemoveIgnitionKey { .. }
        | Command::RecordRevokedCertificate { .. }
        | Command::PutPolicyChain { .. }
        | Command::DeletePolicyChain { .. }
        | Command::AddTrusted { .. }
        | Command::SetTrustFlags { .. }
        | Command::RemoveTrusted { .. }
        | Command::RestoreState { .. } => keyring::apply(txn, command),
        Command::CreateDictionary { .. }
        | Command::DeleteDictionary { .. }
        | Command::AddDictionaryEntries { .. }
        | Command::RemoveDictionaryEntries { .. }
        | Command::ReplaceDictionaryEntries { .. }
        | Command::MoveDictionaryEntries { .. }
        | Command::UpdateDictionary { .. } => dictionaries::apply(txn, command),
        Command::CacheKey { .. }
        | Command::PurgeCachedKey { .. }
        | Command::PurgeKeyCache
        | Command::PurgeExpiredCachedKeys { .. }
        | Command::TrustCachedKey { .. } => keycache::apply(txn, command),
        Command::SetMessageTemplate { .. } | Command::RevertMessageTemplate { .. } => {
            templates::apply(txn, command)
        }
        Command::SetVdSettings { .. } | Command::UpdateVerifiedDirectory { .. } => {
            verified_directory::apply(txn, command)
        }
        Command::PutKeyserver { .. }
        | Command::RemoveKeyserver { .. }
        | Command::ReorderKeyservers { .. } => keyservers::apply(txn, command),
    }
}

/// The factory policy's rules read the managed domains from the "Managed Domains" dictionary;
/// it follows the managed-domain list in the same apply, so the two never disagree.
fn sync_managed_domains_dictionary(
    txn: &mut Txn<'_>,
    domain: &str,
    present: bool,
) -> Result<(), StoreError> {
    let dictionary = signet_policy::factory::MANAGED_DOMAINS;
    if !txn.exists(&keys::key(keys::DICTIONARY, dictionary))? {
        return Ok(());
    }
    let entry = keys::dictionary_entry(dictionary, &domain.to_lowercase());
    if present {
        txn.put(entry, &TermKind::Literal)?;
    } else {
        txn.delete(entry);
    }
    Ok(())
}

fn consumers_in(txn: &Txn<'_>, domain: &str, kind: ConsumerKind) -> Result<usize, StoreError> {
    let mut n = 0;
    for (_, v) in txn.scan_prefix(keys::CONSUMER.as_bytes())? {
        let c: Consumer = decode(&v)?;
        if c.kind == kind && c.email.domain() == domain {
            n += 1;
        }
    }
    Ok(n)
}

/// Internal users belong to a managed domain, external users do not.
fn kind_mismatch(txn: &Txn<'_>, c: &Consumer) -> Result<Option<Rejection>, StoreError> {
    let managed = txn.exists(&keys::key(keys::DOMAIN, c.email.domain()))?;
    Ok(match (c.kind, managed) {
        (ConsumerKind::Internal, false) => Some(Rejection::Conflict(format!(
            "{} cannot be an internal user: {} is not a managed domain",
            c.email,
            c.email.domain()
        ))),
        (ConsumerKind::External, true) => Some(Rejection::Conflict(format!(
            "{} cannot be an external user: {} is a managed domain",
            c.email,
            c.email.domain()
        ))),
        _ => None,
    })
}

/// Whether `hay` contains `needle` (already lower-case), ignoring case; ASCII text (nearly
/// every address) is compared without allocating.
fn contains_folded(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return n.is_empty()
            || h.windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.to_lowercase().contains(needle)
}

/// One page of [`StateView::consumers_page`]: the consumers on it and how many match in all.
#[derive(Debug, Clone, Default)]
pub struct ConsumerPage {
    pub total: usize,
    pub items: Vec<Consumer>,
}

/// Typed reads of the replicated state as this member has applied it. Cheap to clone.
#[derive(Clone)]
pub struct StateView {
    pub(crate) tree: Arc<dyn Tree>,
}

impl StateView {
    pub(crate) fn new(tree: Arc<dyn Tree>) -> Self {
        StateView { tree }
    }

    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.tree
            .get(&keys::key(table, id))?
            .map(|v| decode(&v))
            .transpose()
    }

    pub(crate) fn all<T: DeserializeOwned>(&self, table: &str) -> Result<Vec<T>, StoreError> {
        self.tree
            .scan_prefix(table.as_bytes())?
            .iter()
            .map(|(_, v)| decode(v))
            .collect()
    }

    pub fn managed_domains(&self) -> Result<Vec<ManagedDomain>, StoreError> {
        self.all(keys::DOMAIN)
    }

    pub fn managed_domain(&self, name: &str) -> Result<Option<ManagedDomain>, StoreError> {
        self.get(keys::DOMAIN, name)
    }

    pub fn consumers(&self) -> Result<Vec<Consumer>, StoreError> {
        self.all(keys::CONSUMER)
    }

    pub fn consumer(
        &self,
        email: &signet_model::EmailAddress,
    ) -> Result<Option<Consumer>, StoreError> {
        self.get(keys::CONSUMER, &email.key())
    }

    /// One page of consumers in address order, with the number that match: `kind` and `query`
    /// (case-insensitive substring of the address or display name) filter, then `offset` and
    /// `limit` page. Only the page's consumers are decoded whole; the rest are matched on the
    /// leading fields of their record, so a page stays cheap with a hundred thousand users.
    pub fn consumers_page(
        &self,
        kind: Option<ConsumerKind>,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> Result<ConsumerPage, StoreError> {
        /// The leading fields of a stored [`Consumer`], in its field order (postcard is
        /// positional, so a prefix of the fields decodes from a prefix of the bytes), borrowed
        /// from the record so that matching allocates nothing.
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            email: &'a str,
            kind: ConsumerKind,
            display_name: Option<&'a str>,
        }
        let needle = query.trim().to_lowercase();
        let mut page = ConsumerPage::default();
        let mut failed = None;
        self.tree
            .for_each_prefix(keys::CONSUMER.as_bytes(), &mut |_, v| {
                let head = match postcard::take_from_bytes::<Head<'_>>(v) {
                    Ok((head, _)) => head,
                    Err(e) => {
                        failed = Some(StoreError::Decode(e.to_string()));
                        return false;
                    }
                };
                if kind.is_some_and(|wanted| wanted != head.kind) {
                    return true;
                }
                if !needle.is_empty()
                    && !contains_folded(head.email, &needle)
                    && !head
                        .display_name
                        .is_some_and(|n| contains_folded(n, &needle))
                {
                    return true;
                }
                if page.total >= offset && page.items.len() < limit {
                    match decode(v) {
                        Ok(c) => page.items.push(c),
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    }
                }
                page.total += 1;
                true
            })?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(page)
    }

    pub fn administrators(&self) -> Result<Vec<Administrator>, StoreError> {
        self.all(keys::ADMIN)
    }

    pub fn administrator(&self, login: &str) -> Result<Option<Administrator>, StoreError> {
        self.get(keys::ADMIN, login)
    }

    /// The administrator holding the API token with this SHA-256 digest.
    pub fn administrator_by_token(
        &self,
        sha256_hex: &str,
    ) -> Result<Option<Administrator>, StoreError> {
        Ok(self
            .administrators()?
            .into_iter()
            .find(|a| a.api_tokens.iter().any(|t| t.sha256_hex == sha256_hex)))
    }

    /// The passphrase policy, lockout, CAPTCHA and idle-timeout settings (defaults until set).
    pub fn administration_settings(
        &self,
    ) -> Result<signet_model::AdministrationSettings, StoreError> {
        Ok(self
            .tree
            .get(admins::SETTINGS_KEY)?
            .map(|v| decode(&v))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn setting(&self, name: SettingName) -> Result<Setting, StoreError> {
        Ok(self
            .get(keys::SETTING, name.as_str())?
            .unwrap_or_else(|| name.default_value()))
    }

    pub fn learn_mode(&self) -> Result<bool, StoreError> {
        Ok(matches!(
            self.setting(SettingName::LearnMode)?,
            Setting::LearnMode(true)
        ))
    }

    pub fn backup_schedule(&self) -> Result<signet_model::BackupSchedule, StoreError> {
        match self.setting(SettingName::BackupSchedule)? {
            Setting::BackupSchedule(s) => Ok(s),
            other => Err(StoreError::Decode(format!(
                "the backup schedule holds {other:?}"
            ))),
        }
    }

    pub fn dictionaries(&self) -> Result<Vec<Dictionary>, StoreError> {
        self.all(keys::DICTIONARY)
    }

    pub fn dictionary(&self, name: &str) -> Result<Option<Dictionary>, StoreError> {
        self.get(keys::DICTIONARY, name)
    }

    pub fn dictionary_entries(&self, name: &str) -> Result<Vec<DictionaryEntry>, StoreError> {
        let prefix = keys::dictionary_entries(name);
        self.tree
            .scan_prefix(&prefix)?
            .into_iter()
            .map(|(k, v)| {
                let raw = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                let kind: TermKind = decode(&v)?;
                DictionaryEntry::new(&raw, kind).map_err(|e| StoreError::Decode(e.to_string()))
            })
            .collect()
    }

    pub fn dictionary_contains(
        &self,
        name: &str,
        entry: &DictionaryEntry,
    ) -> Result<bool, StoreError> {
        Ok(self
            .tree
            .get(&keys::dictionary_entry(name, entry.as_str()))?
            .is_some())
    }
}

mod admins;
mod dictionaries;
mod keycache;
mod keyring;
mod keyservers;
mod templates;
mod verified_directory;
pub use keyring::REPLACE_ORGANIZATION_KEY_WARNING;

#[cfg(test)]
mod consumer_page_tests;
#[cfg(test)]
mod dictionary_tests;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod keycache_tests;
#[cfg(test)]
mod tests;
