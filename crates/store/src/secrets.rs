//! Sealing: how secrets are kept on disk and in the Raft log (DESIGN.md, Secrets).
//!
//! - The node key (`node.key`, 32 random bytes, mode 0600) is the node-local root. It seals the
//!   cluster data key when no Ignition Key is set (the keys issue adds the passphrase path).
//! - The cluster data key (random, 256 bits, the same on every member, handed to a joiner through
//!   its mutually authenticated join) seals every private key and secret: TLS keys, the cluster
//!   CA key, and, later, users' private keys before they enter the Raft log.
//!
//! Sealed bytes are `version || 24-byte nonce || XChaCha20-Poly1305 ciphertext`, with a label as
//! associated data so a blob sealed for one purpose cannot be passed off as another.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::StoreError;

const VERSION: u8 = 1;

/// A 256-bit sealing key. Not `Debug`, not `Serialize`: it leaves the process only sealed.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl SealingKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SealingKey(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let k: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Secret("a sealing key must be 32 bytes".into()))?;
        Ok(SealingKey(k))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: label.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != VERSION {
            return Err(StoreError::Secret(format!("sealed {label} is malformed")));
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(
                XNonce::from_slice(&sealed[1..25]),
                Payload {
                    msg: &sealed[25..],
                    aad: label.as_bytes(),
                },
            )
            .map_err(|_| {
                StoreError::Secret(format!(
                    "cannot open sealed {label}: wrong key or damaged data"
                ))
            })
    }

    pub fn open_string(&self, label: &str, sealed: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.open(label, sealed)?)
            .map_err(|_| StoreError::Secret(format!("sealed {label} is not text")))
    }
}

/// Reads the node key, or creates it (mode 0600, written and synced before use).
pub fn load_or_create_node_key(path: &Path) -> Result<SealingKey, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => SealingKey::from_bytes(&bytes).map_err(|_| {
            StoreError::Secret(format!("{} is not a Signet node key", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SealingKey::generate();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::io(path, e))?;
            f.write_all(key.expose())
                .map_err(|e| StoreError::io(path, e))?;
            f.sync_all().map_err(|e| StoreError::io(path, e))?;
            Ok(key)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_label() -> Result<(), StoreError> {
        let k = SealingKey::generate();
        let sealed = k.seal("tls key", b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open("tls key", &sealed)?, b"secret");
        assert!(k.open("ca key", &sealed).is_err());
        assert!(SealingKey::generate().open("tls key", &sealed).is_err());
        let mut damaged = sealed.clone();
        damaged[30] ^= 1;
        assert!(k.open("tls key", &damaged).is_err());
        assert!(k.open("tls key", &[1, 2, 3]).is_err());
        Ok(())
    }
}
