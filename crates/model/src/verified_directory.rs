//! The Verified Directory's replicated data (guide: Services > Verified Directory; Consumers >
//! Verified Directory Users): the service settings, one entry per submitted key with the state
//! of each of its user IDs, and the digests of the tokens mailed to their owners. Only public
//! keys and token digests live here; the token itself exists only in the mail.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// How a submitted key's owner is vetted (guide VD-6). Every user ID is confirmed by a mail to
/// its address first, whatever the method: an unconfirmed user ID is never published. The
/// guide's "Implicit" (publish without asking anyone) is deliberately not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vetting {
    /// Confirmed user IDs wait in Pending Approval until an administrator approves (default).
    #[default]
    Manual,
    /// Confirmed user IDs are published at once (the guide's "Email").
    #[serde(alias = "email")]
    Automatic,
}

impl Vetting {
    pub fn as_str(self) -> &'static str {
        match self {
            Vetting::Manual => "manual",
            Vetting::Automatic => "automatic",
        }
    }
}

/// The service settings (guide VD-4, VD-5, VD-6), replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VdSettings {
    pub enabled: bool,
    /// Paused: pages answer "unavailable"; published keys stay published.
    pub paused: bool,
    pub vetting: Vetting,
    /// Email Token Timeout, hours (default 336). 0: every link has expired already (what a
    /// clock 337 hours on would show; used to test that expired links are refused).
    pub token_validity_hours: u32,
    /// Re-email Timeout, hours (default 24): at most one vetting mail per address and key.
    pub resend_interval_hours: u32,
    /// Signature Expiration, days (default 183, about 6 months).
    pub signature_validity_days: u32,
    /// Max Search Results (default 25).
    pub max_search_results: u32,
    /// The Public URL links in mail point to, e.g. `https://keys.example.com`; unset: the
    /// address the request came to.
    pub public_url: Option<String>,
    /// Customized Sender Address: the From of every VD mail; unset: postmaster of the first
    /// managed domain.
    pub sender_address: Option<String>,
    /// Allow Submission for internal users (addresses in a managed domain).
    pub allow_internal: bool,
    /// Allow Submission for directory users (every other address).
    pub allow_directory: bool,
}

impl Default for VdSettings {
    fn default() -> Self {
        VdSettings {
            enabled: false,
            paused: false,
            vetting: Vetting::Manual,
            token_validity_hours: 336,
            resend_interval_hours: 24,
            signature_validity_days: 183,
            max_search_results: 25,
            public_url: None,
            sender_address: None,
            allow_internal: true,
            allow_directory: true,
        }
    }
}

/// A user ID's state (guide VDU-3, plus Pending Approval for Manual vetting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VdUidState {
    PendingConfirmation,
    PendingApproval,
    Published,
    /// The owner asked for removal; still served until the emailed link is followed.
    DeletePending,
}

impl VdUidState {
    pub fn as_str(self) -> &'static str {
        match self {
            VdUidState::PendingConfirmation => "pending-confirmation",
            VdUidState::PendingApproval => "pending-approval",
            VdUidState::Published => "published",
            VdUidState::DeletePending => "delete-pending",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            VdUidState::PendingConfirmation,
            VdUidState::PendingApproval,
            VdUidState::Published,
            VdUidState::DeletePending,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Served by the keyservers (LDAP, HKP, WKD, search).
    pub fn is_served(self) -> bool {
        matches!(self, VdUidState::Published | VdUidState::DeletePending)
    }
}

/// One user ID of a submitted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdUserId {
    /// As written in the key.
    pub user_id: String,
    /// Its address, lower case; `None` for a user ID without one (never published).
    pub email: Option<String>,
    pub state: VdUidState,
    /// When the last vetting mail went to this address (the re-email timeout counts from it).
    pub mailed_at: Option<UnixMillis>,
    pub confirmed_at: Option<UnixMillis>,
}

/// One submitted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdEntry {
    /// Primary fingerprint, upper-case hex.
    pub fingerprint: String,
    /// The certificate as submitted (binary, public only; later submissions merged in).
    pub certificate: Vec<u8>,
    /// What the keyservers serve: the confirmed user IDs only, certified by the VD Key.
    pub published: Option<Vec<u8>>,
    pub user_ids: Vec<VdUserId>,
    pub submitted_at: UnixMillis,
    /// When the VD Key's certifications on `published` expire (renewal re-vets before).
    pub certified_until: Option<UnixMillis>,
    /// Re-vetting started (a re-confirmation mail went out) at this time.
    pub renewal_started_at: Option<UnixMillis>,
    /// Bumped by every write; a write is refused unless it follows the stored revision.
    pub revision: u64,
}

impl VdEntry {
    /// The addresses whose user IDs are served.
    pub fn served_emails(&self) -> impl Iterator<Item = &str> {
        self.user_ids
            .iter()
            .filter(|u| u.state.is_served())
            .filter_map(|u| u.email.as_deref())
    }

    /// The entry's overall state for lists: the least advanced of its user IDs with an address.
    pub fn summary_state(&self) -> Option<VdUidState> {
        let states: Vec<VdUidState> = self
            .user_ids
            .iter()
            .filter(|u| u.email.is_some())
            .map(|u| u.state)
            .collect();
        [
            VdUidState::PendingConfirmation,
            VdUidState::PendingApproval,
            VdUidState::DeletePending,
            VdUidState::Published,
        ]
        .into_iter()
        .find(|s| states.contains(s))
    }
}

/// What a mailed token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VdTokenPurpose {
    /// Confirms one address of one key.
    Confirm,
    /// Removes every key holding the address.
    Remove,
}

/// A token as the cluster stores it: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdToken {
    pub sha256_hex: String,
    pub purpose: VdTokenPurpose,
    /// The key (Confirm); `None` for Remove, which names the address only.
    pub fingerprint: Option<String>,
    pub email: String,
    pub issued_at: UnixMillis,
}
