//! Signet's cryptography, with no IO and no knowledge of the store.
//!
//! - [`openpgp`]: keys (generation, the Organization Key's certifications, revocation, export,
//!   inspection) and OpenPGP messages, over sequoia-openpgp with the OpenSSL backend.
//! - [`pgpmime`]: whole-message transforms, PGP/MIME (RFC 3156) and PGP partitioned (inline).
//! - [`smime`]: the Organization Certificate (an X.509 CA), users' S/MIME certificates, the
//!   CRL, and S/MIME signed and enveloped messages (RFC 8551) over RustCrypto `cms`.
//! - [`mime`]: the small amount of header handling all transforms share.
//!
//! Opening a message (decrypt, verify) returns an [`Annotation`]: what a Decrypt-and-verify
//! action needs to tell the recipient (who signed, whether it held, what was protected).

pub mod mime;
pub mod openpgp;
pub mod pgpmime;
pub mod smime;

use serde::{Deserialize, Serialize};

/// Why a cryptographic operation failed. Every variant says what was wrong with the input or
/// which key was missing; none carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed message: {0}")]
    Mime(String),
    #[error("malformed OpenPGP data: {0}")]
    OpenPgp(String),
    #[error("malformed S/MIME data: {0}")]
    Smime(String),
    #[error("malformed certificate: {0}")]
    Certificate(String),
    #[error("no usable key: {0}")]
    NoKey(String),
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("wrong passphrase")]
    WrongPassphrase,
}

/// The wire format a message was (or is to be) protected with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// RFC 3156 multipart/encrypted or multipart/signed.
    PgpMime,
    /// OpenPGP armor blocks inside ordinary text parts ("PGP partitioned").
    PgpInline,
    /// RFC 8551 application/pkcs7-mime or multipart/signed with application/pkcs7-signature.
    Smime,
}

/// What happened to one signature when it was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureStatus {
    /// The signature is good and made by a key we have.
    Good,
    /// The signature does not match the content or the key: the message was changed.
    Bad,
    /// The signer's key or certificate is not known here.
    UnknownSigner,
    /// Good, but the key or certificate has expired or is revoked.
    KeyNotValid(String),
}

/// One signature found while opening a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureInfo {
    pub status: SignatureStatus,
    /// The signer's email address(es) from the key's user IDs or the certificate.
    pub signer: Vec<String>,
    /// OpenPGP fingerprint (hex, upper case) or X.509 SHA-256 fingerprint (hex).
    pub fingerprint: Option<String>,
    /// The signing key's ID (OpenPGP: the 16-hex key ID of the subkey that signed).
    pub key_id: Option<String>,
    /// When the signature was made (seconds since the epoch), if it says.
    pub created: Option<u64>,
}

/// What an annotation needs after a message was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    pub format: Format,
    /// The message (or a part of it) was encrypted and has been decrypted.
    pub was_encrypted: bool,
    /// The key IDs the message was encrypted to, as the message names them (OpenPGP: the
    /// encryption subkeys' IDs; S/MIME: issuer and serial, rendered).
    pub encrypted_to: Vec<String>,
    pub signatures: Vec<SignatureInfo>,
    /// Whole message or only some parts (inline PGP can protect parts of a message).
    pub whole_message: bool,
}

/// A message after decryption and verification: the restored RFC 5322 message and what was
/// found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedMessage {
    pub message: Vec<u8>,
    pub annotation: Annotation,
}
