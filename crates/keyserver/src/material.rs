//! A public key found somewhere (a keyserver answer, a received message), described the way the
//! key cache stores it. Only public material ever gets here: OpenPGP secrets are stripped.

use signet_crypto::openpgp::{self, Cert};
use signet_crypto::smime;
use signet_model::{CachedKey, CachedKeyKind, KeyCacheTimeout, KeySource, UnixMillis};

use sha2::Digest;

/// A parsed public key or certificate and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    pub kind: CachedKeyKind,
    /// OpenPGP fingerprint or the certificate's SHA-256, upper-case hex.
    pub id: String,
    /// Binary OpenPGP certificate without secrets, or the DER certificate.
    pub data: Vec<u8>,
    /// Lower-case email addresses, in the key's order.
    pub emails: Vec<String>,
    pub user_ids: Vec<String>,
    pub key_ids: Vec<String>,
    pub created: Option<u64>,
    pub key_expires: Option<u64>,
}

impl KeyMaterial {
    /// Describes an OpenPGP certificate, dropping any secret key material.
    pub fn from_cert(cert: &Cert) -> Option<KeyMaterial> {
        let public = openpgp::public_only(cert);
        let info = openpgp::KeyInfo::of(&public);
        let data = openpgp::binary_public(&public).ok()?;
        let mut key_ids = vec![info.key_id.clone()];
        key_ids.extend(info.subkeys.iter().map(|s| s.key_id.clone()));
        Some(KeyMaterial {
            kind: CachedKeyKind::OpenPgp,
            id: info.fingerprint.to_ascii_uppercase(),
            data,
            emails: openpgp::emails(&public),
            user_ids: info.user_ids,
            key_ids,
            created: Some(info.created),
            key_expires: info.expires,
        })
    }

    /// Describes a DER X.509 certificate.
    pub fn from_x509(der: &[u8]) -> Option<KeyMaterial> {
        let info = smime::CertificateInfo::of(der).ok()?;
        Some(KeyMaterial {
            kind: CachedKeyKind::X509,
            id: hex::encode_upper(sha2::Sha256::digest(der)),
            data: der.to_vec(),
            emails: info.emails.iter().map(|e| e.to_ascii_lowercase()).collect(),
            user_ids: vec![info.subject],
            key_ids: vec![info.serial_hex],
            created: Some(info.not_before),
            key_expires: Some(info.not_after),
        })
    }

    /// Whether the key carries this address (case-insensitive).
    pub fn has_email(&self, email: &str) -> bool {
        self.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
    }

    /// The key cache entry for this key, cached at `now` from `source`; the purge time follows
    /// the source (six months for the mail flow, `timeout` for keyservers).
    pub fn cache_entry(
        &self,
        source: KeySource,
        now: UnixMillis,
        timeout: KeyCacheTimeout,
    ) -> CachedKey {
        CachedKey {
            id: self.id.clone(),
            kind: self.kind,
            key_ids: self.key_ids.clone(),
            user_ids: self.user_ids.clone(),
            emails: self.emails.clone(),
            data: self.data.clone(),
            expires_at: CachedKey::purge_time(&source, now, timeout),
            source,
            created: self.created,
            key_expires: self.key_expires,
            cached_at: now,
        }
    }
}

/// Parses OpenPGP key data (armored or binary, one or more keys) and keeps the keys that carry
/// `email`. Data that does not parse yields nothing: a stranger's bytes are not an error.
pub fn openpgp_keys_for(data: &[u8], email: &str) -> Vec<KeyMaterial> {
    let Ok(certs) = openpgp::parse_certs(data) else {
        return Vec::new();
    };
    certs
        .iter()
        .filter_map(KeyMaterial::from_cert)
        .filter(|k| k.has_email(email))
        .collect()
}

/// Parses certificates (PEM, DER, PKCS#7) and keeps those that carry `email`.
pub fn certificates_for(data: &[u8], email: &str) -> Vec<KeyMaterial> {
    let Ok(ders) = smime::parse_certificates(data) else {
        return Vec::new();
    };
    ders.iter()
        .filter_map(|d| KeyMaterial::from_x509(d))
        .filter(|k| k.has_email(email))
        .collect()
}

/// Appends keys not yet in `out` (by id), up to `max` keys in all.
pub(crate) fn merge(out: &mut Vec<KeyMaterial>, more: Vec<KeyMaterial>, max: usize) {
    for k in more {
        if out.len() >= max {
            return;
        }
        if !out.iter().any(|o| o.id == k.id) {
            out.push(k);
        }
    }
}
