//! Typed commands: the only way global data changes.
//!
//! Adding a command is three steps: a variant here, its arm in [`crate::state::apply`], and a
//! unit test of that arm. Commands carry every value that depends on time or randomness (the
//! proposer stamps them), so applying one is deterministic on every member.

use serde::{Deserialize, Serialize};
use signet_model::{
    Administrator, ApiToken, Consumer, Dictionary, DictionaryEntry, EmailAddress, IgnitionKey,
    MessageTemplate, NodeId, OrganizationItem, OrganizationItemKind, RevokedCertificate, Setting,
    TrustFlags, TrustedItem, UnixMillis,
};

/// A one-time join token as the cluster stores it: only the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    pub secret_sha256_hex: String,
    pub issued_by: String,
    pub issued_at: UnixMillis,
    pub expires_at: UnixMillis,
    /// Set when a joiner used it; a used token is kept so a replay gets a precise error.
    pub used_by: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    AddManagedDomain {
        name: String,
        at: UnixMillis,
    },
    RemoveManagedDomain {
        name: String,
    },
    /// Adds a consumer; refused if one with that address exists.
    AddConsumer {
        consumer: Consumer,
    },
    /// Replaces an existing consumer (its keys, name).
    UpdateConsumer {
        consumer: Consumer,
    },
    RemoveConsumer {
        email: EmailAddress,
    },
    AddAdministrator {
        admin: Administrator,
    },
    RemoveAdministrator {
        login: String,
    },
    AddApiToken {
        login: String,
        token: ApiToken,
    },
    /// Changes an administrator's role and email. Refused when it would leave no SuperUser
    /// with a passphrase (spec ADM-4).
    UpdateAdministrator {
        login: String,
        role: signet_model::AdminRole,
        email: Option<String>,
    },
    /// Sets (or clears) an administrator's passphrase record; the proposer hashed it and built
    /// the history. Clears failed logins. Refused when clearing it would leave no SuperUser with
    /// a passphrase.
    SetAdministratorPassphrase {
        login: String,
        passphrase: Option<signet_model::PassphraseRecord>,
    },
    /// A failed console login; `locked_until` (from the lockout setting) locks the account when
    /// the count reaches the threshold.
    RecordFailedLogin {
        login: String,
        at: UnixMillis,
        lockout_threshold: u32,
        locked_until: UnixMillis,
    },
    /// A successful login or a SuperUser's Unlock: the count and any lockout are cleared.
    ClearFailedLogins {
        login: String,
    },
    /// The setup assistant's first administrator: a SuperUser with a passphrase. Refused once any
    /// administrator has a passphrase. A new login takes over the bootstrap `admin`'s API tokens
    /// (the CLI keeps working) and `admin` is removed.
    CreateFirstAdministrator {
        admin: Administrator,
    },
    SetAdministrationSettings {
        settings: signet_model::AdministrationSettings,
    },
    SetSetting {
        setting: Setting,
    },
    CreateDictionary {
        dictionary: Dictionary,
    },
    DeleteDictionary {
        name: String,
    },
    AddDictionaryEntries {
        name: String,
        entries: Vec<DictionaryEntry>,
    },
    RemoveDictionaryEntries {
        name: String,
        entries: Vec<DictionaryEntry>,
    },
    /// Clears a dictionary and writes `entries` in the same apply (the guide's Import with
    /// Replace): readers see the old terms or the new ones, never an empty list in between.
    ReplaceDictionaryEntries {
        name: String,
        entries: Vec<DictionaryEntry>,
    },
    /// Moves terms from one dictionary to another (Approve Selected on Excluded Addresses:
    /// Pending). Every term must be in `from`; a term keeps its kind.
    MoveDictionaryEntries {
        from: String,
        to: String,
        entries: Vec<DictionaryEntry>,
    },
    /// Dictionary Settings: a new name (entries move with it) and/or description. Factory
    /// dictionaries keep their names.
    UpdateDictionary {
        name: String,
        new_name: Option<String>,
        description: Option<String>,
    },
    IssueJoinToken {
        token: JoinTokenRecord,
    },
    /// Spends a join token and allocates the joiner's member id. The joiner's CLI token, if
    /// given, is added to the administrator who issued the join token: the join carries that
    /// administrator's authority to the new member.
    ConsumeJoinToken {
        secret_sha256_hex: String,
        now: UnixMillis,
        cli_token: Option<ApiToken>,
    },
    /// Puts one of the organization's keys or certificates in its slot (guide §10). Replacing
    /// the Organization Key needs `confirmed` and deletes every Ignition Key and the
    /// Organization Certificate, as the guide says. `data_key_for_organization_key` is the
    /// cluster data key encrypted to a new Organization Key: it lets that key unlock a member.
    SetOrganizationItem {
        item: OrganizationItem,
        confirmed: bool,
        data_key_for_organization_key: Option<Vec<u8>>,
    },
    RemoveOrganizationItem {
        kind: OrganizationItemKind,
    },
    AddIgnitionKey {
        key: IgnitionKey,
    },
    RemoveIgnitionKey {
        name: String,
    },
    /// Adds a trusted key or certificate; refused if one with that id exists.
    AddTrusted {
        item: TrustedItem,
    },
    SetTrustFlags {
        id: String,
        flags: TrustFlags,
    },
    RemoveTrusted {
        id: String,
    },
    /// Creates a mail policy chain, or replaces it when `replace` is set. A factory chain
    /// stays a factory chain whatever the new version says.
    PutPolicyChain {
        chain: signet_policy::model::Chain,
        replace: bool,
    },
    /// Deletes a chain; factory chains (Default, Exception, ...) cannot be deleted.
    DeletePolicyChain {
        name: String,
    },
    /// A certificate this server issued was revoked: the CRL lists it from now on.
    RecordRevokedCertificate {
        certificate: RevokedCertificate,
    },
    /// Replaces all global data with a backup's (the cluster's own member counter and join
    /// tokens stay). `keep_admin` is the administrator restoring it, kept so their session and
    /// CLI token still work afterwards.
    RestoreState {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        keep_admin: Option<Administrator>,
    },
    /// Puts a key in the key cache, replacing the entry with the same id (a fresher copy of
    /// the key, a new purge time).
    CacheKey {
        key: signet_model::CachedKey,
    },
    /// Purges one cached key (Purge Key Now).
    PurgeCachedKey {
        id: String,
    },
    /// Purges every cached key (Purge All); counts them.
    PurgeKeyCache,
    /// Purges the keys whose purge time is at or before `now` (housekeeping stamps `now`).
    PurgeExpiredCachedKeys {
        now: UnixMillis,
    },
    /// Trust Key: the cached key leaves the cache and `consumer` (an external user holding it,
    /// made or updated by the proposer) is written, in one apply.
    TrustCachedKey {
        id: String,
        consumer: Consumer,
    },
    /// An administrator's text for a message template (checked by the proposer).
    SetMessageTemplate {
        template: MessageTemplate,
    },
    /// Revert to Default Message: the edited text is removed.
    RevertMessageTemplate {
        id: String,
    },
    /// The Verified Directory's settings.
    SetVdSettings {
        settings: signet_model::VdSettings,
    },
    /// One Verified Directory change, worked out by the proposer (the pure state machine in
    /// the keyserver crate): entries written (each must follow its stored revision), entries
    /// removed with their tokens, token digests issued and spent.
    UpdateVerifiedDirectory {
        put: Vec<signet_model::VdEntry>,
        remove: Vec<String>,
        issue_tokens: Vec<signet_model::VdToken>,
        spend_tokens: Vec<String>,
    },
    /// Adds a lookup keyserver at the end of the list, or replaces the one named `name`
    /// (keeping its place) when `replace` is set. The proposer checked it.
    PutKeyserver {
        name: String,
        keyserver: signet_model::LookupKeyserver,
        replace: bool,
    },
    RemoveKeyserver {
        name: String,
    },
    /// Puts the keyservers in this order; `names` must list each one exactly once.
    ReorderKeyservers {
        names: Vec<String>,
    },
}

/// What a command did, when it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutput {
    Done,
    /// Entries actually added or removed (duplicates and absent entries are not counted).
    Count(u64),
    /// The member id allocated to a joiner.
    NodeIdAllocated(NodeId),
}

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the join token is not valid: {0}")]
    JoinToken(String),
}

pub type CommandOutcome = Result<CommandOutput, Rejection>;
