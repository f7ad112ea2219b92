//! Keyservers the mail path asks for recipients' keys (guide §2.3, Keys > Keyservers): global
//! replicated data, an ordered list that rules' Key Search name by description.

use serde::{Deserialize, Serialize};

use crate::InvalidInput;

/// The protocol a keyserver speaks; serde names match `signet_keyserver::KeyserverKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LookupKeyserverKind {
    PgpLdap,
    PgpLdaps,
    X509Ldap,
    X509Ldaps,
    Hkp,
    Hkps,
    Wkd,
}

impl LookupKeyserverKind {
    /// Parses the kebab-case name, also accepting the short forms `ldap` and `ldaps` (OpenPGP).
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "ldap" | "pgp-ldap" => Self::PgpLdap,
            "ldaps" | "pgp-ldaps" => Self::PgpLdaps,
            "x509-ldap" => Self::X509Ldap,
            "x509-ldaps" => Self::X509Ldaps,
            "hkp" => Self::Hkp,
            "hkps" => Self::Hkps,
            "wkd" => Self::Wkd,
            _ => return None,
        })
    }
}

/// One keyserver in the cluster's list. `name` is the description rules' Key Search lists use;
/// names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupKeyserver {
    pub name: String,
    pub kind: LookupKeyserverKind,
    /// Host name or address; `keys.$ADDRESS_DOMAIN` takes the recipient's domain.
    pub host: String,
    pub port: Option<u16>,
    pub base_dn: Option<String>,
    /// "Trust keys from this keyserver implicitly".
    pub trusted: bool,
}

impl LookupKeyserver {
    /// Checks the name and host (the rest is typed).
    pub fn check(mut self) -> Result<Self, InvalidInput> {
        self.name = crate::check_name(&self.name)?;
        let host = self.host.trim();
        if self.kind != LookupKeyserverKind::Wkd
            && (host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/'))
        {
            return Err(InvalidInput::Name(
                self.host.clone(),
                "a keyserver needs a host name or address",
            ));
        }
        self.host = host.to_string();
        self.base_dn = self
            .base_dn
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty());
        Ok(self)
    }

    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_entries_are_checked() {
        assert_eq!(
            LookupKeyserverKind::parse("LDAP"),
            Some(LookupKeyserverKind::PgpLdap)
        );
        assert_eq!(
            LookupKeyserverKind::parse("x509-ldaps"),
            Some(LookupKeyserverKind::X509Ldaps)
        );
        assert_eq!(LookupKeyserverKind::parse("gopher"), None);
        let entry = |name: &str, kind, host: &str| LookupKeyserver {
            name: name.into(),
            kind,
            host: host.into(),
            port: None,
            base_dn: Some("  ".into()),
            trusted: false,
        };
        let ok = entry(" Partner ", LookupKeyserverKind::Hkp, " keys.example.net ").check();
        let ok = ok.as_ref().ok();
        assert_eq!(ok.map(|k| k.name.as_str()), Some("Partner"));
        assert_eq!(ok.map(|k| k.host.as_str()), Some("keys.example.net"));
        assert_eq!(ok.and_then(|k| k.base_dn.clone()), None);
        assert!(entry("", LookupKeyserverKind::Hkp, "h").check().is_err());
        assert!(entry("A", LookupKeyserverKind::Hkp, "").check().is_err());
        assert!(entry("A", LookupKeyserverKind::Hkp, "a b").check().is_err());
        // WKD asks the recipient's own domain: no host needed.
        assert!(entry("A", LookupKeyserverKind::Wkd, "").check().is_ok());
    }
}
