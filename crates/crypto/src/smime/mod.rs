//! S/MIME (RFC 8551) and the Organization Certificate.
//!
//! - [`ca`]: the Organization Certificate (an X.509 v3 CA, generated or imported), users'
//!   S/MIME certificates issued by it, and its CRL.
//! - [`cert`]: reading certificates (PEM, DER, PKCS#7 bundles) and describing them.
//! - [`message`]: making signed and enveloped messages.
//! - [`open`]: decrypting and verifying them.
//! - RSA recipients get key transport; EC (P-256) recipients get RFC 5753 ECDH key
//!   agreement, written by hand here because cms 0.2.3 cannot build it.
//!
//! ASN.1 structures come from RustCrypto `x509-cert` and `cms`; every private-key operation
//! (signing, RSA decryption) goes through OpenSSL, whose RSA is constant-time (DESIGN.md,
//! RUSTSEC-2023-0071), and so does signature verification, which then covers every
//! algorithm a peer may use (RSA, ECDSA on any curve, SHA-1 to SHA-512).

pub mod ca;
pub mod cert;
mod ecdh;
mod keys;
pub mod message;
mod oids;
pub mod open;
mod verify;

pub use ca::{
    CertificateFields, RevokedCertificate, crl, generate_organization_certificate,
    import_organization_certificate, issue_user_certificate,
};
pub use cert::{CertificateInfo, is_x509, parse_certificate, parse_certificates};
pub use message::{encrypt, encrypt_and_sign, sign, smime_content};
pub use open::{SignerCertificate, open, signer_certificates};
pub use verify::chain_is_trusted;

use serde::{Deserialize, Serialize};

/// The kind of key pair to generate for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    Rsa2048,
    Rsa3072,
    /// ECDSA / ECDH on NIST P-256.
    P256,
}

/// The Organization Certificate and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaIdentity {
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// The CA's private key, unencrypted PKCS#8 DER (sealed by the store, not here).
    pub key_pkcs8_der: Vec<u8>,
}

/// A user's S/MIME certificate and private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmimeIdentity {
    /// The user's certificate, DER.
    pub cert_der: Vec<u8>,
    /// The user's private key, unencrypted PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Maps the errors of `der`, `cms` builders and OpenSSL, none of which the callers can act on
/// beyond "this input was wrong", into a message. `cms::builder::Error` is not a
/// `std::error::Error` (toolchain pitfall 6), hence `Debug`.
pub(crate) fn smime_err<E: std::fmt::Debug>(
    what: &str,
) -> impl FnOnce(E) -> crate::CryptoError + '_ {
    move |e| crate::CryptoError::Smime(format!("{what}: {e:?}"))
}

pub(crate) fn cert_err<E: std::fmt::Display>(
    what: &str,
) -> impl FnOnce(E) -> crate::CryptoError + '_ {
    move |e| crate::CryptoError::Certificate(format!("{what}: {e}"))
}
