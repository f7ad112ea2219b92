//! OpenPGP keys and messages over sequoia-openpgp (OpenSSL backend).
//!
//! - [`keys`]: generation (user keys, the Organization Key), the Organization Key's
//!   certifications, revocation, secret-key handling (SCKM, passphrases).
//! - [`message`]: encrypt, decrypt, sign, verify on plain bytes; the whole-message
//!   transforms in [`crate::pgpmime`] are built on these.
//! - This module: parsing, export, inspection ([`KeyInfo`]) and search ([`key_matches`]).
//!
//! Every key the appliance generates advertises SEIPDv1 only: sequoia 2.x would otherwise
//! advertise SEIPDv2 and then encrypt to it in a form GnuPG 2.2/2.4 cannot read.

mod armor;
pub mod keys;
pub mod message;

pub use keys::{
    KeyAlgorithm, certify, generate_organization_key, generate_user_key,
    organization_certifications, organization_user_id, public_only, renew_if_expiring, revoke,
    set_organization_domains, unlock_secret, without_signing_secret,
};
pub use message::{
    CertList, Decrypted, KeyRing, clearsign, decrypt_bytes, encrypt_bytes, open_bytes,
    sign_detached, verify_detached, verify_detached_with,
};
pub use sequoia_openpgp::{Cert, Fingerprint, KeyHandle, KeyID};

use crate::CryptoError;
use pgp::cert::CertParser;
use pgp::crypto::mpi::PublicKey as Mpis;
use pgp::packet::key::{KeyParts, KeyRole};
use pgp::parse::Parse;
use pgp::policy::StandardPolicy;
use pgp::serialize::SerializeInto;
use pgp::types::{PublicKeyAlgorithm, RevocationStatus};
use sequoia_openpgp as pgp;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// The one policy every check here uses (sequoia's standard: rejects SHA-1 signatures and
/// weak algorithms as of now).
pub(crate) static POLICY: StandardPolicy<'static> = StandardPolicy::new();

/// Turns a sequoia error into a [`CryptoError::OpenPgp`], keeping the whole cause chain: the
/// inner causes are the useful part ("unexpected EOF", "checksum mismatch").
pub(crate) fn pgp_error(context: &str) -> impl Fn(anyhow::Error) -> CryptoError + '_ {
    move |e| CryptoError::OpenPgp(format!("{context}: {e:#}"))
}

/// A short human name for a certificate in error messages: its first email, else its
/// fingerprint.
pub(crate) fn cert_name(cert: &Cert) -> String {
    let email = cert
        .userids()
        .find_map(|u| u.userid().email().ok().flatten().map(str::to_string));
    match email {
        Some(e) => format!("{e} ({})", cert.fingerprint().to_hex()),
        None => cert.fingerprint().to_hex(),
    }
}

/// All email addresses in a certificate's user IDs, lower case, in order, without repeats.
pub fn emails(cert: &Cert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ua in cert.userids() {
        if let Ok(Some(e)) = ua.userid().email() {
            let e = e.to_ascii_lowercase();
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out
}

/// Parses exactly one certificate (public or with secrets), armored or binary. Input with
/// no certificate or with several is refused: callers that import one key must not silently
/// take the first of many.
pub fn parse_cert(bytes: &[u8]) -> Result<Cert, CryptoError> {
    let mut certs = parse_certs(bytes)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        0 => Err(CryptoError::OpenPgp("no OpenPGP certificate found".into())),
        n => Err(CryptoError::OpenPgp(format!(
            "expected one OpenPGP certificate, found {n}"
        ))),
    }
}

/// Parses every certificate in a keyring: binary packets, or one or more armor blocks
/// (exported key files often hold several blocks back to back). Any broken certificate
/// fails the whole parse, so an import never half-succeeds unnoticed.
pub fn parse_certs(bytes: &[u8]) -> Result<Vec<Cert>, CryptoError> {
    let text_start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = text_start else {
        return Err(CryptoError::OpenPgp("empty key data".into()));
    };
    let mut certs = Vec::new();
    if bytes[start..].starts_with(b"-----BEGIN PGP") {
        // Armored: parse each block on its own; sequoia's reader stops after the first.
        let marker = b"-----BEGIN PGP";
        let mut starts: Vec<usize> = bytes
            .windows(marker.len())
            .enumerate()
            .filter(|(_, w)| *w == marker)
            .map(|(i, _)| i)
            .collect();
        starts.push(bytes.len());
        for pair in starts.windows(2) {
            parse_into(&bytes[pair[0]..pair[1]], &mut certs)?;
        }
    } else {
        parse_into(bytes, &mut certs)?;
    }
    Ok(certs)
}

fn parse_into(bytes: &[u8], certs: &mut Vec<Cert>) -> Result<(), CryptoError> {
    let parser = CertParser::from_bytes(bytes).map_err(pgp_error("cannot read key data"))?;
    for cert in parser {
        certs.push(cert.map_err(pgp_error("invalid certificate"))?);
    }
    Ok(())
}

/// The certificate without secrets, ASCII-armored, as published and as gpg imports it.
pub fn armored_public(cert: &Cert) -> Result<String, CryptoError> {
    let bytes = cert
        .armored()
        .to_vec()
        .map_err(pgp_error("cannot serialize certificate"))?;
    String::from_utf8(bytes).map_err(|_| CryptoError::OpenPgp("armor is not UTF-8".into()))
}

/// The certificate without secrets, binary.
pub fn binary_public(cert: &Cert) -> Result<Vec<u8>, CryptoError> {
    cert.to_vec()
        .map_err(pgp_error("cannot serialize certificate"))
}

/// The transferable secret key, ASCII-armored, for an export to the key's owner. With a
/// passphrase every secret key is encrypted with it (S2K, what gpg asks for on import);
/// without one the secret material is written as is.
pub fn armored_secret(cert: &Cert, export_passphrase: Option<&str>) -> Result<String, CryptoError> {
    if !cert.is_tsk() {
        return Err(CryptoError::NoKey(format!(
            "{} has no secret key material",
            cert_name(cert)
        )));
    }
    let cert = match export_passphrase {
        Some(p) => keys::protect_secret(cert.clone(), p)?,
        None => cert.clone(),
    };
    let bytes = cert
        .as_tsk()
        .armored()
        .to_vec()
        .map_err(pgp_error("cannot serialize secret key"))?;
    String::from_utf8(bytes).map_err(|_| CryptoError::OpenPgp("armor is not UTF-8".into()))
}

/// The transferable secret key, binary, unprotected: for the caller to seal (the cluster
/// data key encrypts it before it enters the Raft log).
pub fn binary_secret(cert: &Cert) -> Result<Vec<u8>, CryptoError> {
    cert.as_tsk()
        .to_vec()
        .map_err(pgp_error("cannot serialize secret key"))
}

/// One subkey as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubkeyInfo {
    /// 16 upper-case hex digits.
    pub key_id: String,
    /// Upper-case hex without spaces.
    pub fingerprint: String,
    /// Any of "certify", "sign", "encrypt", "authenticate".
    pub flags: Vec<String>,
    /// For example "RSA 3072" or "ECDH Cv25519".
    pub algorithm: String,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Expiry, seconds since the epoch; `None` = never.
    pub expires: Option<u64>,
    pub revoked: bool,
    /// This subkey's secret is present.
    pub has_secret: bool,
}

/// What the admin UI, the API and the key search show about a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Primary key fingerprint, upper-case hex without spaces.
    pub fingerprint: String,
    /// Primary key ID, 16 upper-case hex digits.
    pub key_id: String,
    /// For example "RSA 3072" or "EdDSA Ed25519".
    pub algorithm: String,
    pub created: u64,
    pub expires: Option<u64>,
    /// Every user ID as written, including revoked ones.
    pub user_ids: Vec<String>,
    /// The email addresses of user IDs that are not revoked, lower case.
    pub emails: Vec<String>,
    pub flags: Vec<String>,
    pub subkeys: Vec<SubkeyInfo>,
    /// The primary key's secret is present.
    pub primary_has_secret: bool,
    /// Any secret key material is present.
    pub has_secret: bool,
    pub revoked: bool,
}

pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[allow(deprecated)] // old algorithms still need a name when imported keys use them
fn algorithm_name<P: KeyParts, R: KeyRole>(key: &pgp::packet::Key<P, R>) -> String {
    let algo = match key.pk_algo() {
        PublicKeyAlgorithm::RSAEncryptSign
        | PublicKeyAlgorithm::RSAEncrypt
        | PublicKeyAlgorithm::RSASign => "RSA".to_string(),
        PublicKeyAlgorithm::EdDSA => "EdDSA".to_string(),
        PublicKeyAlgorithm::ECDH => "ECDH".to_string(),
        PublicKeyAlgorithm::ECDSA => "ECDSA".to_string(),
        PublicKeyAlgorithm::DSA => "DSA".to_string(),
        PublicKeyAlgorithm::ElGamalEncrypt | PublicKeyAlgorithm::ElGamalEncryptSign => {
            "ElGamal".to_string()
        }
        other => format!("{other:?}"),
    };
    match key.mpis() {
        Mpis::EdDSA { curve, .. } | Mpis::ECDH { curve, .. } | Mpis::ECDSA { curve, .. } => {
            format!("{algo} {curve}")
        }
        Mpis::Ed25519 { .. } | Mpis::X25519 { .. } => algo,
        m => match m.bits() {
            Some(bits) => format!("{algo} {bits}"),
            None => algo,
        },
    }
}

fn flag_names(flags: Option<pgp::types::KeyFlags>) -> Vec<String> {
    let Some(f) = flags else { return Vec::new() };
    let mut out = Vec::new();
    if f.for_certification() {
        out.push("certify".to_string());
    }
    if f.for_signing() {
        out.push("sign".to_string());
    }
    if f.for_transport_encryption() || f.for_storage_encryption() {
        out.push("encrypt".to_string());
    }
    if f.for_authentication() {
        out.push("authenticate".to_string());
    }
    out
}

impl KeyInfo {
    /// Describes a certificate. Properties that need a valid self-signature (flags,
    /// expiry) are empty when the certificate has none under the standard policy.
    pub fn of(cert: &Cert) -> KeyInfo {
        let vc = cert.with_policy(&POLICY, None).ok();
        let primary = cert.primary_key().key();
        let revoked = matches!(
            cert.revocation_status(&POLICY, None),
            RevocationStatus::Revoked(_)
        );
        let (flags, expires) = match &vc {
            Some(vc) => (
                flag_names(vc.primary_key().key_flags()),
                vc.primary_key().key_expiration_time().map(unix),
            ),
            None => (Vec::new(), None),
        };
        let mut emails_valid = Vec::new();
        for ua in cert.userids() {
            let uid_revoked = matches!(
                ua.revocation_status(&POLICY, None),
                RevocationStatus::Revoked(_)
            );
            if let (false, Ok(Some(e))) = (uid_revoked, ua.userid().email()) {
                let e = e.to_ascii_lowercase();
                if !emails_valid.contains(&e) {
                    emails_valid.push(e);
                }
            }
        }
        let subkeys = cert
            .keys()
            .subkeys()
            .map(|ka| {
                let valid = vc
                    .as_ref()
                    .and_then(|vc| vc.keys().subkeys().key_handle(ka.key().key_handle()).next());
                SubkeyInfo {
                    key_id: ka.key().keyid().to_hex(),
                    fingerprint: ka.key().fingerprint().to_hex(),
                    flags: valid
                        .as_ref()
                        .map(|v| flag_names(v.key_flags()))
                        .unwrap_or_default(),
                    algorithm: algorithm_name(ka.key()),
                    created: unix(ka.key().creation_time()),
                    expires: valid
                        .as_ref()
                        .and_then(|v| v.key_expiration_time())
                        .map(unix),
                    revoked: matches!(
                        ka.revocation_status(&POLICY, None),
                        RevocationStatus::Revoked(_)
                    ),
                    has_secret: ka.key().has_secret(),
                }
            })
            .collect();
        KeyInfo {
            fingerprint: cert.fingerprint().to_hex(),
            key_id: cert.keyid().to_hex(),
            algorithm: algorithm_name(primary),
            created: unix(primary.creation_time()),
            expires,
            user_ids: cert
                .userids()
                .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
                .collect(),
            emails: emails_valid,
            flags,
            subkeys,
            primary_has_secret: primary.has_secret(),
            has_secret: cert.is_tsk(),
            revoked,
        }
    }
}

/// Whether a certificate answers a search: an email address (case-insensitive, optionally
/// in angle brackets), a 16-digit key ID or a fingerprint of the primary key or any subkey
/// (with or without `0x`, spaces ignored). Short 8-digit IDs are not accepted: they collide
/// too easily to be used for choosing an encryption key.
pub fn key_matches(cert: &Cert, query: &str) -> bool {
    let q = query.trim();
    if q.is_empty() {
        return false;
    }
    if q.contains('@') {
        let q = q
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        return emails(cert).contains(&q);
    }
    let hex: String = q
        .strip_prefix("0x")
        .or_else(|| q.strip_prefix("0X"))
        .unwrap_or(q)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    cert.keys().any(|ka| {
        let key = ka.key();
        match hex.len() {
            16 => key.keyid().to_hex() == hex,
            40 | 64 => key.fingerprint().to_hex() == hex,
            _ => false,
        }
    })
}
