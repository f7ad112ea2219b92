//! The member's lock state: whether it holds the cluster data key in memory.
//!
//! Without an Ignition Key the data key is kept on disk sealed by the node key, and a member is
//! unlocked from the moment it starts. With one, no copy is kept on disk at all (guide §16): the
//! member starts locked and holds the key only after an administrator gives a passphrase (or the
//! Organization Key). A locked member still replicates, serves its admin API and answers what
//! needs no private key; everything that does is refused with [`StoreError::Locked`].

use std::sync::RwLock;

use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use signet_model::{IgnitionKey, Sealed, UnixMillis};

use crate::StoreError;
use crate::secrets::SealingKey;

pub const LABEL_IGNITION: &str = "data key under an Ignition Key";

/// Argon2id cost for Ignition Keys: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended
/// option), about a quarter second per attempt on the appliance's hardware.
pub const IGNITION_M_COST: u32 = 64 * 1024;
pub const IGNITION_T_COST: u32 = 3;
pub const IGNITION_P_COST: u32 = 1;

#[derive(Default)]
pub struct Vault {
    data_key: RwLock<Option<SealingKey>>,
}

impl Vault {
    pub fn new(data_key: Option<SealingKey>) -> Self {
        Vault {
            data_key: RwLock::new(data_key),
        }
    }

    /// The data key, or [`StoreError::Locked`].
    pub fn data_key(&self) -> Result<SealingKey, StoreError> {
        self.data_key
            .read()
            .map_err(|_| StoreError::Secret("the vault lock is poisoned".into()))?
            .clone()
            .ok_or(StoreError::Locked)
    }

    pub fn is_locked(&self) -> bool {
        self.data_key.read().map(|k| k.is_none()).unwrap_or(true)
    }

    pub(crate) fn unlock(&self, key: SealingKey) -> Result<(), StoreError> {
        *self
            .data_key
            .write()
            .map_err(|_| StoreError::Secret("the vault lock is poisoned".into()))? = Some(key);
        Ok(())
    }
}

/// Derives the key an Ignition Key passphrase stands for.
pub fn passphrase_key(
    passphrase: &str,
    salt: &[u8],
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
) -> Result<SealingKey, StoreError> {
    let params = Params::new(m_cost, t_cost, p_cost, Some(32))
        .map_err(|e| StoreError::Invalid(format!("Argon2id parameters: {e}")))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| StoreError::Invalid(format!("Argon2id: {e}")))?;
    SealingKey::from_bytes(&out)
}

/// Wraps the data key under a new passphrase.
pub fn new_ignition_key(
    name: &str,
    passphrase: &str,
    data_key: &SealingKey,
    now: UnixMillis,
) -> Result<IgnitionKey, StoreError> {
    let mut salt = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let k = passphrase_key(
        passphrase,
        &salt,
        IGNITION_M_COST,
        IGNITION_T_COST,
        IGNITION_P_COST,
    )?;
    Ok(IgnitionKey {
        name: name.to_string(),
        salt,
        m_cost: IGNITION_M_COST,
        t_cost: IGNITION_T_COST,
        p_cost: IGNITION_P_COST,
        wrapped_data_key: Sealed(k.seal(LABEL_IGNITION, data_key.expose())),
        added_at: now,
    })
}

/// The data key behind any of these Ignition Keys, if the passphrase fits one.
pub fn open_with_passphrase(
    keys: &[IgnitionKey],
    passphrase: &str,
) -> Result<Option<SealingKey>, StoreError> {
    for key in keys {
        let k = passphrase_key(passphrase, &key.salt, key.m_cost, key.t_cost, key.p_cost)?;
        if let Ok(bytes) = k.open(LABEL_IGNITION, &key.wrapped_data_key.0) {
            return Ok(Some(SealingKey::from_bytes(&bytes)?));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_opens_its_ignition_key_and_no_other() -> Result<(), StoreError> {
        let data_key = SealingKey::generate();
        let a = new_ignition_key("a", "correct horse", &data_key, 1)?;
        let b = new_ignition_key("b", "battery staple", &data_key, 1)?;
        let keys = [a, b];
        let opened = open_with_passphrase(&keys, "battery staple")?;
        assert_eq!(opened.map(|k| *k.expose()), Some(*data_key.expose()));
        assert!(open_with_passphrase(&keys, "wrong")?.is_none());
        // The passphrase and the key never appear in what is stored.
        let stored = postcard::to_allocvec(&keys).map_err(|e| StoreError::Decode(e.to_string()))?;
        assert!(!stored.windows(13).any(|w| w == b"correct horse"));
        assert!(!stored.windows(32).any(|w| w == data_key.expose()));
        Ok(())
    }

    #[test]
    fn a_locked_vault_says_so() {
        let v = Vault::new(None);
        assert!(v.is_locked());
        assert!(matches!(v.data_key(), Err(StoreError::Locked)));
        assert!(v.unlock(SealingKey::generate()).is_ok());
        assert!(!v.is_locked());
    }
}
