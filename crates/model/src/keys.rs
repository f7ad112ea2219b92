//! Keys as the cluster stores them: users' managed keys with their key mode, the organization's
//! own keys and certificates, and Ignition Keys.
//!
//! Everything secret is a [`Sealed`] blob: ciphertext under the cluster data key, made by the
//! proposing member before the command enters the Raft log (DESIGN.md, Secrets). This crate never
//! sees key material in clear; it does not even know how sealing works.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// Ciphertext under the cluster data key (or, for an Ignition Key, under a passphrase). Its
/// `Debug` shows only the length, so a log line can never carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Who holds a user's private key, and so what the gateway may do with it (guide §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyMode {
    /// Server Key Mode: the server made and holds the whole keypair; it may encrypt, decrypt and
    /// sign for the user.
    Skm,
    /// Server Client Key Mode: the server holds the encryption subkey's private half only; it
    /// may decrypt but never sign.
    Sckm,
    /// Client Key Mode: public key only.
    Ckm,
    /// Guarded Key Mode: the server keeps a copy protected by the user's own passphrase, which
    /// it cannot use.
    Gkm,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Skm => "SKM",
            KeyMode::Sckm => "SCKM",
            KeyMode::Ckm => "CKM",
            KeyMode::Gkm => "GKM",
        }
    }

    pub fn parse(raw: &str) -> Option<KeyMode> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "SKM" => Some(KeyMode::Skm),
            "SCKM" => Some(KeyMode::Sckm),
            "CKM" => Some(KeyMode::Ckm),
            "GKM" => Some(KeyMode::Gkm),
            _ => None,
        }
    }

    /// The gateway can decrypt mail for this user.
    pub fn server_can_decrypt(self) -> bool {
        matches!(self, KeyMode::Skm | KeyMode::Sckm)
    }

    /// The gateway can sign mail for this user.
    pub fn server_can_sign(self) -> bool {
        self == KeyMode::Skm
    }
}

/// A user's S/MIME certificate, issued by the Organization Certificate or imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmimeCertificate {
    pub cert_der: Vec<u8>,
    /// PKCS#8 private key, sealed; present when the server holds it.
    pub key: Option<Sealed>,
    pub serial_hex: String,
    /// Issued by this server (so revoking it puts it on the server's CRL).
    pub issued_here: bool,
    pub revoked_at: Option<UnixMillis>,
}

/// A user's key as the server manages it (guide §11, "Managed Key").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedKey {
    /// OpenPGP fingerprint, upper-case hex.
    pub fingerprint: String,
    pub mode: KeyMode,
    /// The public certificate (binary OpenPGP), with the Organization Key's certification.
    pub public: Vec<u8>,
    /// The secret key material (binary OpenPGP TSK), sealed. SKM: the whole key. SCKM: the
    /// encryption subkey only. GKM: as the user protected it. CKM: none.
    pub secret: Option<Sealed>,
    pub smime: Option<SmimeCertificate>,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    /// The ADK present when the server generated this key: new keys reference the ADK, older
    /// ones do not (guide §10.3).
    pub adk_fingerprint: Option<String>,
}

/// The organization's own keys and certificates (guide §10): one slot each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrganizationItemKind {
    OrganizationKey,
    OrganizationCertificate,
    /// Additional Decryption Key: an imported OpenPGP key, public only.
    Adk,
    ExternalUserRootKey,
    ExternalUserRootCertificate,
    VerifiedDirectoryKey,
}

impl OrganizationItemKind {
    pub const ALL: [OrganizationItemKind; 6] = [
        OrganizationItemKind::OrganizationKey,
        OrganizationItemKind::OrganizationCertificate,
        OrganizationItemKind::Adk,
        OrganizationItemKind::ExternalUserRootKey,
        OrganizationItemKind::ExternalUserRootCertificate,
        OrganizationItemKind::VerifiedDirectoryKey,
    ];

    /// The name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationItemKind::OrganizationKey => "organization-key",
            OrganizationItemKind::OrganizationCertificate => "organization-certificate",
            OrganizationItemKind::Adk => "adk",
            OrganizationItemKind::ExternalUserRootKey => "external-user-root-key",
            OrganizationItemKind::ExternalUserRootCertificate => "external-user-root-certificate",
            OrganizationItemKind::VerifiedDirectoryKey => "verified-directory-key",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The product's own words, for messages.
    pub fn title(self) -> &'static str {
        match self {
            OrganizationItemKind::OrganizationKey => "Organization Key",
            OrganizationItemKind::OrganizationCertificate => "Organization Certificate",
            OrganizationItemKind::Adk => "Additional Decryption Key",
            OrganizationItemKind::ExternalUserRootKey => "External User Root Key",
            OrganizationItemKind::ExternalUserRootCertificate => "External User Root Certificate",
            OrganizationItemKind::VerifiedDirectoryKey => "Verified Directory Key",
        }
    }

    /// OpenPGP keys (as opposed to X.509 certificates).
    pub fn is_openpgp(self) -> bool {
        !matches!(
            self,
            OrganizationItemKind::OrganizationCertificate
                | OrganizationItemKind::ExternalUserRootCertificate
        )
    }
}

/// One of the organization's keys or certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationItem {
    pub kind: OrganizationItemKind,
    /// Binary OpenPGP certificate (keys) or DER X.509 certificate (certificates).
    pub public: Vec<u8>,
    /// The private half, sealed (binary TSK or PKCS#8 DER). The ADK never has one.
    pub secret: Option<Sealed>,
    /// OpenPGP fingerprint or SHA-256 of the certificate, upper-case hex.
    pub fingerprint: String,
    pub added_at: UnixMillis,
    /// Generated here (as opposed to imported).
    pub generated: bool,
}

/// A soft-ignition passphrase (guide §16): the cluster data key wrapped under a key derived from
/// the passphrase with Argon2id. Any one unlocks any member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnitionKey {
    pub name: String,
    /// Argon2id salt.
    pub salt: Vec<u8>,
    /// Argon2id cost: memory in KiB, iterations, lanes.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// The data key, sealed under the derived key.
    pub wrapped_data_key: Sealed,
    pub added_at: UnixMillis,
}

/// A certificate this server issued and then revoked: what the CRL lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedCertificate {
    pub serial_hex: String,
    pub revoked_at: UnixMillis,
    pub email: String,
}

/// What a trusted key or certificate may vouch for (guide §12: the three trust flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrustFlags {
    /// Verifies signatures on keys found in the default directories.
    pub mail_encryption_keys: bool,
    /// Verifies remote SMTP, POP and IMAP servers' certificates (X.509 only).
    pub tls_servers: bool,
    /// Authenticates keyserver clients (X.509 only).
    pub keyserver_clients: bool,
}

/// An OpenPGP key or X.509 certificate from outside the organization that is trusted anyway
/// (guide §12). OpenPGP keys are certified by the Organization Key when added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedItem {
    /// OpenPGP fingerprint or the certificate's SHA-256, upper-case hex.
    pub id: String,
    pub x509: bool,
    /// Binary OpenPGP certificate or DER X.509 certificate.
    pub data: Vec<u8>,
    pub flags: TrustFlags,
    /// A name for people: the first user ID or the certificate's subject.
    pub name: String,
    pub added_at: UnixMillis,
}
