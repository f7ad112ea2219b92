//! Signet's domain types, in the product's own words: managed domains, consumers (internal and
//! external users) with their key records, administrators and their roles, global settings (Learn
//! Mode among them) and dictionaries.
//!
//! No IO lives here. Every type is `serde`-serializable because the store replicates them through
//! the Raft log; every constructor that takes outside input validates and normalizes it, so a value
//! of one of these types is always well-formed.

mod admin;
pub mod admin_settings;
mod consumer;
mod dictionary;
mod domain;
mod keys;
pub mod lookup_keyserver;
pub mod mail_settings;
mod settings;

pub use admin::{AdminRole, Administrator, ApiToken, FailedLogins, PassphraseRecord, Permission};
pub use admin_settings::{AdministrationSettings, PassphraseRefused};
pub use consumer::{Consumer, ConsumerKind};
pub use dictionary::{Dictionary, DictionaryEntry, TermKind};
pub use domain::{EmailAddress, ManagedDomain};
pub mod keycache;
pub use keycache::{CachedKey, CachedKeyKind, KeyCacheTimeout, KeySource};
pub use keys::{
    IgnitionKey, KeyMode, ManagedKey, OrganizationItem, OrganizationItemKind, RevokedCertificate,
    Sealed, SmimeCertificate, TrustFlags, TrustedItem,
};
pub use lookup_keyserver::{LookupKeyserver, LookupKeyserverKind};
pub use settings::{BackupSchedule, Setting, SettingName};
pub mod template;
pub mod verified_directory;
pub use template::{
    MessageTemplate, TEMPLATES, TemplateError, TemplateSpec, check_template, template_spec,
};
pub use verified_directory::{
    VdEntry, VdSettings, VdToken, VdTokenPurpose, VdUidState, VdUserId, Vetting,
};

/// Identifies a cluster member. Allocated by the cluster when a node joins; the first node is 1.
pub type NodeId = u64;

/// Milliseconds since the Unix epoch. Times that enter replicated state are stamped by the node
/// that proposes the change, never read from the clock during apply, so every member applies the
/// same value.
pub type UnixMillis = u64;

/// Why outside input was refused. Messages are meant for an administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("invalid domain name {0:?}: {1}")]
    DomainName(String, &'static str),
    #[error("invalid email address {0:?}: {1}")]
    EmailAddress(String, &'static str),
    #[error("invalid name {0:?}: {1}")]
    Name(String, &'static str),
}

/// Checks a short display or login name: non-empty, at most 128 characters, no control characters.
pub(crate) fn check_name(raw: &str) -> Result<String, InvalidInput> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(InvalidInput::Name(raw.into(), "must not be empty"));
    }
    if name.chars().count() > 128 {
        return Err(InvalidInput::Name(
            raw.into(),
            "must be at most 128 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::Name(
            raw.into(),
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}
