//! Managed domains and email addresses.
//!
//! A managed domain is one whose mail the organization owns: its users are internal users, and the
//! mail path decides internal versus external by it. Domain names are stored lower-case, without a
//! trailing dot, so lookups are plain string compares.

use serde::{Deserialize, Serialize};

use crate::{InvalidInput, UnixMillis};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedDomain {
    pub name: String,
    pub added_at: UnixMillis,
}

impl ManagedDomain {
    /// Normalizes and checks a DNS domain name (RFC 1035 letters-digits-hyphen labels; IDNs must be
    /// given in their A-label form).
    pub fn normalize_name(raw: &str) -> Result<String, InvalidInput> {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |why| Err(InvalidInput::DomainName(raw.to_string(), why));
        if name.is_empty() {
            return bad("must not be empty");
        }
        if name.len() > 253 {
            return bad("must be at most 253 characters");
        }
        if !name.contains('.') {
            return bad("must have at least two labels, like example.com");
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return bad("each label must be 1 to 63 characters");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return bad("labels may hold only letters, digits and hyphens");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("labels must not begin or end with a hyphen");
            }
        }
        Ok(name)
    }
}

/// An email address in the form the product stores and compares: the domain lower-cased, the local
/// part kept as given (RFC 5321 lets it be case-sensitive) but compared case-insensitively by
/// [`EmailAddress::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim();
        let bad = |why| Err(InvalidInput::EmailAddress(raw.to_string(), why));
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad("must contain an @");
        };
        if local.is_empty() || local.len() > 64 {
            return bad("the part before @ must be 1 to 64 characters");
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return bad("the part before @ must not contain spaces, controls or angle brackets");
        }
        let Ok(domain) = ManagedDomain::normalize_name(domain) else {
            return bad("the part after @ is not a valid domain name");
        };
        Ok(EmailAddress(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// The lookup key: the whole address lower-cased. Two consumers may not differ only in case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalized_and_checked() {
        assert_eq!(
            ManagedDomain::normalize_name(" Example.COM. ").as_deref(),
            Ok("example.com")
        );
        for bad in [
            "",
            "com",
            "a..b",
            "-a.com",
            "a-.com",
            "ex ample.com",
            &"a".repeat(64),
        ] {
            assert!(
                ManagedDomain::normalize_name(bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn email_addresses_keep_local_case_and_lower_the_domain() {
        let a = EmailAddress::parse("Alice@Example.ORG").expect("valid");
        assert_eq!(a.as_str(), "Alice@example.org");
        assert_eq!(a.key(), "alice@example.org");
        assert_eq!(a.domain(), "example.org");
        for bad in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "a b@example.org",
            "alice@bad_domain",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
