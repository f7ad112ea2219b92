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
