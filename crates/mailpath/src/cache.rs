//! What the mail path keeps between messages, so that a message costs its own work only:
//!
//! - **policy and dictionaries**, built from the replicated state once per state version
//!   ([`signet_store::policy_facts::state_version`], the last applied log entry, which
//!   changes with every write the member applies), not once per message;
//! - **parsed certificates**, keyed by their exact bytes: the same bytes always parse to the
//!   same certificate, so there is nothing to invalidate;
//! - **opened private keys** (the signer's SKM key, the Organization Key), keyed by their
//!   sealed bytes: unsealed once with the cluster data key and then kept in this process's
//!   memory only (sequoia keeps secret key material encrypted in memory). A new key or a
//!   re-sealed one has other sealed bytes and so is opened afresh; a locked member (no data
//!   key) drops them all and uses none.
//!
//! Each map is bounded: when full it is emptied and refilled by use, which keeps the code
//! simple and the worst case (more distinct keys than the bound, all in use) no worse than
//! no cache at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signet_crypto::openpgp::{self, Cert};
use signet_policy::facts::MemoryDictionaries;
use signet_policy::prepared::PreparedPolicy;
use signet_store::{Node, StateView};

use crate::error::MailError;

/// Most certificates (or opened keys) kept at once.
const MAX_ENTRIES: usize = 4096;

/// The parts of the state every decision reads, as of one state version.
pub struct StateFacts {
    /// The policy prepared against `dictionaries` (conditions resolved, values lower-cased):
    /// it must be evaluated with these same dictionaries.
    pub policy: Arc<PreparedPolicy>,
    pub dictionaries: Arc<MemoryDictionaries>,
    pub learn_mode: bool,
    /// The cluster's lookup keyservers, in search order (Keys > Keyservers).
    pub keyservers: Arc<Vec<signet_model::LookupKeyserver>>,
}

struct Versioned {
    version: Vec<u8>,
    facts: Arc<StateFacts>,
}

#[derive(Default)]
pub struct MailCache {
    state: Mutex<Option<Versioned>>,
    certs: Mutex<HashMap<Vec<u8>, Cert>>,
    secrets: Mutex<HashMap<(&'static str, Vec<u8>), Cert>>,
}

impl MailCache {
    /// Policy, dictionaries and Learn Mode as the view has them now.
    pub fn state(&self, view: &StateView) -> Result<Arc<StateFacts>, MailError> {
        // The version is read before the data: a write applied in between makes the next
        // message rebuild again, never keep stale facts.
        let version = signet_store::policy_facts::state_version(view)?;
        if let Some(version) = &version
            && let Ok(cached) = self.state.lock()
            && let Some(v) = cached.as_ref()
            && v.version == *version
        {
            return Ok(v.facts.clone());
        }
        let (dictionaries, _) = signet_store::policy_facts::dictionaries(view)?;
        let policy = PreparedPolicy::new(&view.policy()?, &dictionaries);
        let facts = Arc::new(StateFacts {
            policy: Arc::new(policy),
            dictionaries: Arc::new(dictionaries),
            learn_mode: view.learn_mode()?,
            keyservers: Arc::new(view.keyservers()?),
        });
        if let Some(version) = version
            && let Ok(mut cached) = self.state.lock()
        {
            *cached = Some(Versioned {
                version,
                facts: facts.clone(),
            });
        }
        Ok(facts)
    }

    /// The certificate in these bytes (binary or armored OpenPGP).
    pub fn cert(&self, bytes: &[u8]) -> Result<Cert, MailError> {
        if let Ok(certs) = self.certs.lock()
            && let Some(c) = certs.get(bytes)
        {
            return Ok(c.clone());
        }
        let cert = openpgp::parse_cert(bytes)?;
        if let Ok(mut certs) = self.certs.lock() {
            if certs.len() >= MAX_ENTRIES {
                certs.clear();
            }
            certs.insert(bytes.to_vec(), cert.clone());
        }
        Ok(cert)
    }

    /// A private key sealed under `label`: from memory when it was opened before, else opened
    /// by `open` (which unseals it with the data key) and kept.
    pub fn secret(
        &self,
        node: &Node,
        label: &'static str,
        sealed: &[u8],
        open: impl FnOnce() -> Result<Cert, MailError>,
    ) -> Result<Cert, MailError> {
        if node.is_locked() {
            // Locked (booted with an Ignition Key, not yet unlocked): no private-key work,
            // and nothing opened earlier stays around.
            if let Ok(mut secrets) = self.secrets.lock() {
                secrets.clear();
            }
            return open();
        }
        let key = (label, sealed.to_vec());
        if let Ok(secrets) = self.secrets.lock()
            && let Some(c) = secrets.get(&key)
        {
            return Ok(c.clone());
        }
        let cert = open()?;
        if let Ok(mut secrets) = self.secrets.lock() {
            if secrets.len() >= MAX_ENTRIES {
                secrets.clear();
            }
            secrets.insert(key, cert.clone());
        }
        Ok(cert)
    }
}
