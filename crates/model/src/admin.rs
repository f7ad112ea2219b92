//! Administrators of the appliance and the six fixed roles of the reference product.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The six roles, lowest first. Each role holds every permission of the roles before it except
/// where [`AdminRole::allows`] says otherwise (WDRT-only and Service Control are side branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminRole {
    ReadOnly,
    WdrtOnly,
    ServiceControl,
    Basic,
    Full,
    SuperUser,
}

/// What an API route needs. The web crate maps every route to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ViewSettings,
    ReadRecoveryTokens,
    ControlServices,
    ConfigureSystem,
    ManageUsers,
    AddUsers,
    ConfigureClustering,
    ManageAdministrators,
    /// Export private keys (SKM keys, the organization's keys) and Ignition Keys.
    ExportPrivateKeys,
}

impl AdminRole {
    /// The permission table of the reference guide (spec ADM-2).
    pub fn allows(self, permission: Permission) -> bool {
        use AdminRole::*;
        use Permission::*;
        match permission {
            ViewSettings => true,
            ReadRecoveryTokens => matches!(self, WdrtOnly | Basic | Full | SuperUser),
            ControlServices => matches!(self, ServiceControl | Basic | Full | SuperUser),
            ConfigureSystem | ManageUsers => matches!(self, Basic | Full | SuperUser),
            AddUsers | ConfigureClustering | ExportPrivateKeys => matches!(self, Full | SuperUser),
            ManageAdministrators => matches!(self, SuperUser),
        }
    }
}

/// A bearer token for the API and the CLI. Only its SHA-256 digest is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub label: String,
    pub sha256_hex: String,
    pub created_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Administrator {
    pub login: String,
    pub role: AdminRole,
    pub email: Option<String>,
    pub api_tokens: Vec<ApiToken>,
    pub created_at: UnixMillis,
    /// The console passphrase; `None` for an administrator who only has API tokens (the
    /// bootstrap `admin` before the setup assistant ran).
    #[serde(default)]
    pub passphrase: Option<PassphraseRecord>,
    /// Failed console logins since the last success or unlock (replicated, so a lockout holds
    /// on every member).
    #[serde(default)]
    pub failed_logins: FailedLogins,
}

/// An administrator's passphrase as stored: an Argon2id PHC string, never the passphrase.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseRecord {
    /// Argon2id in PHC string format (salt and parameters included).
    pub hash: String,
    pub set_at: UnixMillis,
    /// Set by a SuperUser (at creation or reset): the next login must change it (ADM-8).
    pub temporary: bool,
    /// Hashes of earlier passphrases, newest first, for the history rule.
    pub history: Vec<String>,
}

// The hashes stay out of logs and debug output.
impl std::fmt::Debug for PassphraseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassphraseRecord")
            .field("set_at", &self.set_at)
            .field("temporary", &self.temporary)
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}

/// Counted failed logins of one administrator (ADM-6, ADM-7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedLogins {
    pub count: u32,
    pub last_at: Option<UnixMillis>,
    /// While in the future, even the right passphrase is refused.
    pub locked_until: Option<UnixMillis>,
}

impl Administrator {
    /// Whether the account is locked out at `now`.
    pub fn locked_at(&self, now: UnixMillis) -> bool {
        self.failed_logins.locked_until.is_some_and(|t| t > now)
    }

    /// A SuperUser who can log in to the console with a passphrase (at least one must exist).
    pub fn is_passphrase_superuser(&self) -> bool {
        self.role == AdminRole::SuperUser && self.passphrase.is_some()
    }
}

impl AdminRole {
    pub const ALL: [AdminRole; 6] = [
        AdminRole::ReadOnly,
        AdminRole::WdrtOnly,
        AdminRole::ServiceControl,
        AdminRole::Basic,
        AdminRole::Full,
        AdminRole::SuperUser,
    ];

    /// The name used in the API, the CLI and the UI (`read-only`, ..., `super-user`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::ReadOnly => "read-only",
            AdminRole::WdrtOnly => "wdrt-only",
            AdminRole::ServiceControl => "service-control",
            AdminRole::Basic => "basic",
            AdminRole::Full => "full",
            AdminRole::SuperUser => "super-user",
        }
    }

    pub fn parse(raw: &str) -> Option<AdminRole> {
        AdminRole::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::ViewSettings,
        Permission::ReadRecoveryTokens,
        Permission::ControlServices,
        Permission::ConfigureSystem,
        Permission::ManageUsers,
        Permission::AddUsers,
        Permission::ConfigureClustering,
        Permission::ManageAdministrators,
        Permission::ExportPrivateKeys,
    ];

    /// The name in the OpenAPI document (`x-signet-permission`) and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewSettings => "view-settings",
            Permission::ReadRecoveryTokens => "read-recovery-tokens",
            Permission::ControlServices => "control-services",
            Permission::ConfigureSystem => "configure-system",
            Permission::ManageUsers => "manage-users",
            Permission::AddUsers => "add-users",
            Permission::ConfigureClustering => "configure-clustering",
            Permission::ManageAdministrators => "manage-administrators",
            Permission::ExportPrivateKeys => "export-private-keys",
        }
    }

    pub fn parse(raw: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_table_matches_the_guide() {
        assert!(AdminRole::ReadOnly.allows(Permission::ViewSettings));
        assert!(!AdminRole::ReadOnly.allows(Permission::ManageUsers));
        assert!(AdminRole::ServiceControl.allows(Permission::ControlServices));
        assert!(!AdminRole::ServiceControl.allows(Permission::ConfigureSystem));
        assert!(!AdminRole::Basic.allows(Permission::AddUsers));
        assert!(AdminRole::Full.allows(Permission::ConfigureClustering));
        assert!(!AdminRole::Full.allows(Permission::ManageAdministrators));
        assert!(AdminRole::SuperUser.allows(Permission::ManageAdministrators));
    }
}
