//! The policy engine's facts, read from the replicated state: dictionaries (literals and
//! patterns) and a directory of the users a message names. The policy crate never does IO
//! (DESIGN.md), so whoever asks for a decision gathers these first; the dry-run route does
//! today and the mail path will.
//!
//! - [`dictionaries`] loads every dictionary with its entries into a
//!   [`MemoryDictionaries`]. A pattern term that does not compile is left out and reported (the
//!   dictionary routes refuse such patterns, so this only happens with data written before they
//!   did); the dictionary itself still exists, so rules that read it still evaluate.
//! - [`directory`] answers for the addresses asked about only, not for every consumer, so its
//!   cost follows the message, not the size of the user base. An address is **internal** when
//!   its domain is a managed domain (the store refuses internal consumers anywhere else and
//!   external ones there, so this agrees with the consumer's kind and also covers managed-domain
//!   users the server has not met yet). Its **key** is the consumer's first key that is not
//!   revoked: that key's mode is the key mode, and having one is "key available". Consumer
//!   policies, delivery preferences and directory mailing lists are not modelled yet, so they are
//!   unknown.

use signet_model::{EmailAddress, KeyMode, OrganizationItemKind, TermKind};
use signet_policy::facts::{MemoryDictionaries, SimpleDirectory, UserFacts};

use crate::{StateView, StoreError};

/// A dictionary pattern left out because it does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPattern {
    pub dictionary: String,
    pub pattern: String,
    pub reason: String,
}

/// A token that changes whenever the replicated state does: the last applied log entry's id
/// as the state machine stores it with every applied batch (and with an installed snapshot).
/// Whatever is built from a view (the mail path's dictionaries and policy) can be kept until
/// it changes. `None` before anything was applied.
pub fn state_version(view: &StateView) -> Result<Option<Vec<u8>>, StoreError> {
    view.tree.get(crate::state::keys::APPLIED)
}

/// Every dictionary and its entries, as the engine reads them.
pub fn dictionaries(
    view: &StateView,
) -> Result<(MemoryDictionaries, Vec<SkippedPattern>), StoreError> {
    let mut out = MemoryDictionaries::default();
    let mut skipped = Vec::new();
    for d in view.dictionaries()? {
        out.define(&d.name);
        for entry in view.dictionary_entries(&d.name)? {
            match entry.kind() {
                TermKind::Literal => out.add_literal(&d.name, entry.as_str()),
                TermKind::Pattern => {
                    if let Err(e) = out.add_pattern(&d.name, entry.as_str()) {
                        skipped.push(SkippedPattern {
                            dictionary: d.name.clone(),
                            pattern: entry.as_str().to_string(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok((out, skipped))
}

/// What the directory knows about these addresses (sender and recipients, typically).
/// Addresses that do not parse are unknown: external, no key.
pub fn directory(view: &StateView, addresses: &[&str]) -> Result<SimpleDirectory, StoreError> {
    let managed: Vec<String> = view
        .managed_domains()?
        .into_iter()
        .map(|d| d.name.to_lowercase())
        .collect();
    let mut out = SimpleDirectory::default();
    if let Some(adk) = view.organization_item(OrganizationItemKind::Adk)? {
        out.adk_key_ids.push(adk.fingerprint);
    }
    for raw in addresses {
        let Ok(email) = EmailAddress::parse(raw) else {
            continue;
        };
        let internal = managed.contains(&email.domain().to_lowercase());
        let key = view
            .consumer(&email)?
            .and_then(|c| c.keys.into_iter().find(|k| k.revoked_at.is_none()));
        let mailing_list_size = mailing_list_members(view, raw)?.map(|m| m.len() as u64);
        // No key of its own: a key in the key cache (harvested or found on a keyserver) is the
        // recipient's own key as far as policy is concerned (CKM).
        let key_mode = match &key {
            Some(k) => Some(k.mode),
            None => (!view
                .cached_keys_for(&email.as_str().to_lowercase(), crate::now_millis())?
                .is_empty())
            .then_some(KeyMode::Ckm),
        };
        out = out.with(
            raw,
            UserFacts {
                internal,
                key_mode,
                key_available: key_mode.is_some(),
                mailing_list_size,
                ..Default::default()
            },
        );
    }
    Ok(out)
}

/// Mailing lists are dictionaries named `Mailing List: <address>` whose literal entries are
/// the members' addresses, until directory synchronization brings LDAP lists (the mailing-list
/// source the policy's "Expand mailing list" action reads).
pub const MAILING_LIST_PREFIX: &str = "Mailing List: ";

/// The dictionary that holds a mailing list's members.
pub fn mailing_list_dictionary(address: &str) -> String {
    format!("{MAILING_LIST_PREFIX}{}", address.trim().to_lowercase())
}

/// The members of the mailing list at `address`, or `None` when it is not a list.
pub fn mailing_list_members(
    view: &StateView,
    address: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let name = mailing_list_dictionary(address);
    if view.dictionary(&name)?.is_none() {
        return Ok(None);
    }
    Ok(Some(
        view.dictionary_entries(&name)?
            .into_iter()
            .filter(|e| e.kind() == TermKind::Literal && e.as_str().contains('@'))
            .map(|e| e.as_str().to_string())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use signet_model::{
        Consumer, ConsumerKind, Dictionary, DictionaryEntry, KeyMode, ManagedKey, TermKind,
    };
    use signet_policy::facts::{Dictionaries, DirectoryFacts};

    use super::*;
    use crate::backend::{Backend, SledBackend};
    use crate::command::Command;
    use crate::state::{Txn, apply};

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    fn key(mode: KeyMode, revoked: bool) -> ManagedKey {
        ManagedKey {
            fingerprint: "AB".repeat(20),
            mode,
            public: vec![],
            secret: None,
            smime: None,
            created_at: 1,
            revoked_at: revoked.then_some(2),
            adk_fingerprint: None,
        }
    }

    fn consumer(email: &str, kind: ConsumerKind, keys: Vec<ManagedKey>) -> TestResult<Consumer> {
        Ok(Consumer {
            email: EmailAddress::parse(email)?,
            kind,
            display_name: None,
            keys,
            created_at: 1,
        })
    }

    #[test]
    fn dictionaries_and_users_come_from_the_state() -> TestResult {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        let pattern = DictionaryEntry::new(r"j.*@ext\.test", TermKind::Pattern)?;
        let broken = DictionaryEntry::new("(", TermKind::Pattern)?;
        let commands = [
            Command::AddManagedDomain {
                name: "example.com".into(),
                at: 1,
            },
            Command::CreateDictionary {
                dictionary: Dictionary {
                    name: "VIP".into(),
                    description: String::new(),
                    factory: false,
                    created_at: 1,
                },
            },
            Command::AddDictionaryEntries {
                name: "VIP".into(),
                entries: vec![DictionaryEntry::parse("CEO@example.com")?, pattern, broken],
            },
            Command::AddConsumer {
                consumer: consumer(
                    "alice@example.com",
                    ConsumerKind::Internal,
                    vec![key(KeyMode::Ckm, true), key(KeyMode::Skm, false)],
                )?,
            },
            Command::AddConsumer {
                consumer: consumer("bob@ext.test", ConsumerKind::External, vec![])?,
            },
        ];
        let mut txn = Txn::new(tree.as_ref());
        for c in &commands {
            assert!(apply(&mut txn, c)?.is_ok(), "{c:?}");
        }
        tree.apply(txn.into_batch())?;
        let view = StateView::new(Arc::clone(&tree));

        let (d, skipped) = dictionaries(&view)?;
        assert_eq!(d.contains("vip", "ceo@example.com"), Some(true));
        assert_eq!(d.contains("VIP", "jane@ext.test"), Some(true));
        assert_eq!(d.contains("VIP", "bob@ext.test"), Some(false));
        assert_eq!(d.contains("nope", "x"), None);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].pattern, "(");

        let addresses = [
            "Alice@Example.com",
            "carol@example.com",
            "bob@ext.test",
            "junk",
        ];
        let users = directory(&view, &addresses)?;
        assert!(users.is_internal("alice@example.com"));
        assert_eq!(users.key_mode("alice@example.com"), Some(KeyMode::Skm));
        assert!(users.key_available("alice@example.com"));
        // A managed-domain user the server has not met is internal, without a key.
        assert!(users.is_internal("carol@example.com"));
        assert!(!users.key_available("carol@example.com"));
        assert!(!users.is_internal("bob@ext.test"));
        assert!(!users.key_available("bob@ext.test"));
        assert!(!users.is_internal("junk"));
        Ok(())
    }
}
