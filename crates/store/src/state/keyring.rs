//! Applying the key commands (organization keys and certificates, Ignition Keys, the CRL list,
//! trusted keys, restore from a backup), the mail policy's chains, and reading what they wrote.
//!
//! The rules here are the guide's (§10, §16, §17): one item per slot, the Organization Key cannot
//! simply be deleted, replacing it needs a confirmation and removes the Ignition Keys and the
//! Organization Certificate, a restore replaces everything.

use signet_model::{
    Administrator, IgnitionKey, OrganizationItem, OrganizationItemKind, RevokedCertificate,
    TrustedItem,
};

use super::keys::*;
use super::{StateView, Txn};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

/// What replacing the Organization Key does, in the words the API and CLI show before it acts.
pub const REPLACE_ORGANIZATION_KEY_WARNING: &str = "replacing the Organization Key makes every earlier backup unreadable, deletes all Ignition Keys and the Organization Certificate, and invalidates the Organization Key's signatures on users' and trusted keys; confirm to proceed";

fn org_key(kind: OrganizationItemKind) -> Vec<u8> {
    key(ORGANIZATION, kind.as_str())
}

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    let done = Ok(Ok(CommandOutput::Done));
    match command {
        Command::SetOrganizationItem {
            item,
            confirmed,
            data_key_for_organization_key,
        } => {
            if let Some(r) = check_slot(txn, item, *confirmed)? {
                return Ok(Err(r));
            }
            if item.kind == OrganizationItemKind::OrganizationKey {
                for (k, _) in txn.scan_prefix(IGNITION.as_bytes())? {
                    txn.delete(k);
                }
                txn.delete(org_key(OrganizationItemKind::OrganizationCertificate));
                match data_key_for_organization_key {
                    Some(wrapped) => txn.put(DATA_KEY_FOR_ORG_KEY.to_vec(), wrapped)?,
                    None => txn.delete(DATA_KEY_FOR_ORG_KEY.to_vec()),
                }
            }
            txn.put(org_key(item.kind), item)?;
            done
        }
        Command::RemoveOrganizationItem { kind } => {
            let k = org_key(*kind);
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(kind.title().to_string())));
            }
            if *kind == OrganizationItemKind::OrganizationKey {
                return Ok(Err(Rejection::Conflict(
                    "the Organization Key cannot be deleted; generate or import a new one instead"
                        .into(),
                )));
            }
            if *kind == OrganizationItemKind::ExternalUserRootKey
                && txn.exists(&org_key(OrganizationItemKind::ExternalUserRootCertificate))?
            {
                return Ok(Err(Rejection::Conflict(
                    "delete the External User Root Certificate first: it belongs to this key"
                        .into(),
                )));
            }
            txn.delete(k);
            done
        }
        Command::AddIgnitionKey { key: ignition } => {
            let k = key(IGNITION, &ignition.name);
            if txn.exists(&k)? {
                return Ok(Err(Rejection::AlreadyExists(format!(
                    "Ignition Key {}",
                    ignition.name
                ))));
            }
            txn.put(k, ignition)?;
            done
        }
        Command::RemoveIgnitionKey { name } => {
            let k = key(IGNITION, name);
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("Ignition Key {name}"))));
            }
            txn.delete(k);
            done
        }
        Command::PutPolicyChain { chain, replace } => {
            let k = key(POLICY_CHAIN, &chain.name.to_lowercase());
            let existing = txn.get::<signet_policy::model::Chain>(&k)?;
            let mut chain = chain.clone();
            match existing {
                Some(_) if !replace => {
                    return Ok(Err(Rejection::AlreadyExists(format!(
                        "policy chain {}",
                        chain.name
                    ))));
                }
                Some(old) => chain.factory = old.factory,
                None if *replace => {
                    return Ok(Err(Rejection::NotFound(format!(
                        "policy chain {}",
                        chain.name
                    ))));
                }
                None => {}
            }
            txn.put(k, &chain)?;
            done
        }
        Command::DeletePolicyChain { name } => {
            let k = key(POLICY_CHAIN, &name.to_lowercase());
            let Some(chain) = txn.get::<signet_policy::model::Chain>(&k)? else {
                return Ok(Err(Rejection::NotFound(format!("policy chain {name}"))));
            };
            if chain.factory {
                return Ok(Err(Rejection::Conflict(format!(
                    "policy chain {} comes with the product and cannot be deleted",
                    chain.name
                ))));
            }
            txn.delete(k);
            done
        }
        Command::AddTrusted { item } => {
            let k = key(TRUSTED, &item.id);
            if txn.exists(&k)? {
                return Ok(Err(Rejection::AlreadyExists(format!(
                    "trusted key {}",
                    item.id
                ))));
            }
            txn.put(k, item)?;
            done
        }
        Command::SetTrustFlags { id, flags } => {
            let k = key(TRUSTED, id);
            let Some(mut item) = txn.get::<TrustedItem>(&k)? else {
                return Ok(Err(Rejection::NotFound(format!("trusted key {id}"))));
            };
            item.flags = *flags;
            txn.put(k, &item)?;
            done
        }
        Command::RemoveTrusted { id } => {
            let k = key(TRUSTED, id);
            if !txn.exists(&k)? {
                return Ok(Err(Rejection::NotFound(format!("trusted key {id}"))));
            }
            txn.delete(k);
            done
        }
        Command::RecordRevokedCertificate { certificate } => {
            txn.put(key(REVOKED_CERT, &certificate.serial_hex), certificate)?;
            done
        }
        Command::RestoreState {
            entries,
            keep_admin,
        } => {
            for (k, _) in txn.scan_prefix(b"")? {
                if restorable(&k) {
                    txn.delete(k);
                }
            }
            let mut restored = 0;
            for (k, v) in entries {
                if restorable(k) {
                    txn.overlay_put_raw(k.clone(), v.clone());
                    restored += 1;
                }
            }
            if let Some(admin) = keep_admin {
                keep_administrator(txn, admin)?;
            }
            Ok(Ok(CommandOutput::Count(restored)))
        }
        _ => Err(StoreError::Decode(
            "keyring::apply called with a command it does not handle".into(),
        )),
    }
}

/// Global data a backup carries: not the meta keys, the member counter or join tokens, which
/// belong to the cluster that restores.
pub(crate) fn restorable(k: &[u8]) -> bool {
    !(k.starts_with(META_PREFIX)
        || k.starts_with(COUNTER.as_bytes())
        || k.starts_with(JOIN_TOKEN.as_bytes()))
}

fn keep_administrator(txn: &mut Txn<'_>, admin: &Administrator) -> Result<(), StoreError> {
    let k = key(ADMIN, &admin.login);
    let merged = match txn.get::<Administrator>(&k)? {
        Some(mut restored) => {
            for t in &admin.api_tokens {
                if !restored.api_tokens.contains(t) {
                    restored.api_tokens.push(t.clone());
                }
            }
            restored.role = admin.role;
            restored
        }
        None => admin.clone(),
    };
    txn.put(k, &merged)
}

/// The guide's rules for putting an item in its slot.
fn check_slot(
    txn: &Txn<'_>,
    item: &OrganizationItem,
    confirmed: bool,
) -> Result<Option<Rejection>, StoreError> {
    use OrganizationItemKind as K;
    let exists = txn.exists(&org_key(item.kind))?;
    Ok(match item.kind {
        K::OrganizationKey if exists && !confirmed => Some(Rejection::Conflict(
            REPLACE_ORGANIZATION_KEY_WARNING.to_string(),
        )),
        K::OrganizationKey => None,
        K::OrganizationCertificate if !txn.exists(&org_key(K::OrganizationKey))? => Some(
            Rejection::Conflict("the Organization Certificate needs an Organization Key".into()),
        ),
        K::ExternalUserRootCertificate if !txn.exists(&org_key(K::ExternalUserRootKey))? => {
            Some(Rejection::Conflict(
                "the External User Root Certificate needs an External User Root Key".into(),
            ))
        }
        _ if exists => Some(Rejection::Conflict(format!(
            "there is already an {}; only one may exist, delete it first",
            item.kind.title()
        ))),
        _ => None,
    })
}

impl StateView {
    pub fn organization_item(
        &self,
        kind: OrganizationItemKind,
    ) -> Result<Option<OrganizationItem>, StoreError> {
        self.get(ORGANIZATION, kind.as_str())
    }

    pub fn ignition_keys(&self) -> Result<Vec<IgnitionKey>, StoreError> {
        self.all(IGNITION)
    }

    /// The cluster data key encrypted to the Organization Key (an OpenPGP message).
    pub fn data_key_for_organization_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree
            .get(DATA_KEY_FOR_ORG_KEY)?
            .map(|v| super::decode(&v))
            .transpose()
    }

    /// The whole mail policy (every chain).
    pub fn policy(&self) -> Result<signet_policy::model::Policy, StoreError> {
        Ok(signet_policy::model::Policy {
            chains: self.all(POLICY_CHAIN)?,
        })
    }

    pub fn policy_chain(
        &self,
        name: &str,
    ) -> Result<Option<signet_policy::model::Chain>, StoreError> {
        self.get(POLICY_CHAIN, &name.to_lowercase())
    }

    pub fn trusted_items(&self) -> Result<Vec<TrustedItem>, StoreError> {
        self.all(TRUSTED)
    }

    pub fn trusted_item(&self, id: &str) -> Result<Option<TrustedItem>, StoreError> {
        self.get(TRUSTED, id)
    }

    pub fn revoked_certificates(&self) -> Result<Vec<RevokedCertificate>, StoreError> {
        self.all(REVOKED_CERT)
    }

    /// Every entry a backup carries, in key order.
    pub fn backup_entries(&self) -> Result<Vec<crate::backend::Pair>, StoreError> {
        Ok(self
            .tree
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(k, _)| restorable(k))
            .collect())
    }
}
