//! Why processing a message failed. Temporary failures keep it queued (a locked member waits
//! for its administrator; the store may be catching up); the rest go to the Exception path.

use signet_smtp::DeliveryError;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] signet_store::StoreError),
    #[error(transparent)]
    Keys(#[from] signet_keys::KeyError),
    #[error(transparent)]
    Crypto(#[from] signet_crypto::CryptoError),
    #[error("no key for {0}")]
    NoKey(String),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

impl MailError {
    /// A locked member (Ignition Keys) cannot open private keys: the message waits.
    pub fn is_locked(&self) -> bool {
        matches!(
            self,
            MailError::Store(signet_store::StoreError::Locked)
                | MailError::Keys(signet_keys::KeyError::Store(
                    signet_store::StoreError::Locked
                ))
        )
    }
}

impl From<MailError> for DeliveryError {
    fn from(e: MailError) -> Self {
        if e.is_locked() {
            DeliveryError::Temporary(
                "this member is locked: unlock it (signet unlock) to process mail that needs private keys".into(),
            )
        } else {
            DeliveryError::Temporary(e.to_string())
        }
    }
}
