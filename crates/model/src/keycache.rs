//! The key cache (guide §4, Keys > Key Cache): public keys the server found for recipients it
//! holds no key for, kept for a while so later mail to them needs no new key search.
//!
//! Two sources fill it: keys harvested from inbound mail (attached OpenPGP keys, S/MIME signer
//! certificates, Autocrypt headers) and keys found by a keyserver search. Keys from the mail
//! flow are purged after six months (fixed, as the guide says); keys from keyservers after the
//! cluster's "public key cache timeout" ([`KeyCacheTimeout`]). The cache holds public keys only.
//! It is replicated like every other global item, so every member uses what one member found.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

const HOUR_MS: u64 = 3_600_000;

/// Keys harvested from the mail flow are purged after six months, whatever the timeout
/// setting says (guide §4). Six months = 183 days.
pub const MAIL_FLOW_CACHE_MS: u64 = 183 * 24 * HOUR_MS;

/// Whether a cached key is an OpenPGP key or an X.509 (S/MIME) certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CachedKeyKind {
    OpenPgp,
    X509,
}

/// Where a cached key came from (Key Information's "Source").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// Harvested from an inbound message; `how` says what carried it (attached key, Autocrypt
    /// header, S/MIME signature).
    MailFlow { how: String },
    /// Found by a key search on the keyserver with this description (or `keys.<domain>`).
    Keyserver { description: String },
}

impl KeySource {
    /// The product's words: "mail flow" or "keyserver <description>".
    pub fn label(&self) -> String {
        match self {
            KeySource::MailFlow { how } => format!("mail flow ({how})"),
            KeySource::Keyserver { description } => format!("keyserver {description}"),
        }
    }

    pub fn is_mail_flow(&self) -> bool {
        matches!(self, KeySource::MailFlow { .. })
    }
}

/// One key in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedKey {
    /// OpenPGP fingerprint, or the certificate's SHA-256, upper-case hex: the cache's key.
    pub id: String,
    pub kind: CachedKeyKind,
    /// OpenPGP: the primary key's and subkeys' 16-digit key IDs. X.509: the serial number.
    pub key_ids: Vec<String>,
    /// OpenPGP user IDs, or the certificate's subject.
    pub user_ids: Vec<String>,
    /// Every email address the key carries, lower case; the first is the primary email.
    pub emails: Vec<String>,
    /// Binary OpenPGP certificate without secrets, or the DER certificate.
    pub data: Vec<u8>,
    pub source: KeySource,
    /// The key's own creation and expiry times, Unix seconds, when known.
    pub created: Option<u64>,
    pub key_expires: Option<u64>,
    pub cached_at: UnixMillis,
    /// The scheduled purge time.
    pub expires_at: UnixMillis,
}

impl CachedKey {
    /// The purge time of a key cached now from this source: six months for the mail flow, the
    /// cache timeout for keyservers.
    pub fn purge_time(source: &KeySource, cached_at: UnixMillis, timeout: KeyCacheTimeout) -> u64 {
        let lifetime = if source.is_mail_flow() {
            MAIL_FLOW_CACHE_MS
        } else {
            timeout.millis()
        };
        cached_at.saturating_add(lifetime)
    }

    /// Whether the key vouches for this address (case-insensitive).
    pub fn has_email(&self, email: &str) -> bool {
        self.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
    }

    /// The simple text search of the Key Cache page: the query in any email, user ID, key ID,
    /// the id or the source, case-insensitive.
    pub fn matches_text(&self, query: &str) -> bool {
        let q = query.trim().to_ascii_lowercase();
        let q = q.strip_prefix("0x").unwrap_or(&q);
        if q.is_empty() {
            return true;
        }
        self.id.to_ascii_lowercase().contains(q)
            || self.emails.iter().any(|e| e.contains(q))
            || self
                .user_ids
                .iter()
                .chain(&self.key_ids)
                .any(|u| u.to_ascii_lowercase().contains(q))
            || self.source.label().to_ascii_lowercase().contains(q)
    }
}

/// The public key cache timeout (Keys > Key Cache > Cache Settings): how long keys found on
/// keyservers stay cached. From 1 hour to 999 days; kept in hours. The default is 30 days (the
/// guide states none; see docs/keysearch.md for why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCacheTimeout {
    pub hours: u32,
}

impl KeyCacheTimeout {
    pub const MIN_HOURS: u32 = 1;
    pub const MAX_HOURS: u32 = 999 * 24;
    pub const DEFAULT: KeyCacheTimeout = KeyCacheTimeout { hours: 30 * 24 };

    /// Checks the guide's bounds (1 hour to 999 days).
    pub fn new(hours: u32) -> Result<KeyCacheTimeout, String> {
        if (Self::MIN_HOURS..=Self::MAX_HOURS).contains(&hours) {
            Ok(KeyCacheTimeout { hours })
        } else {
            Err(format!(
                "the key cache timeout must be from 1 hour to 999 days ({} hours); got {hours} hours",
                Self::MAX_HOURS
            ))
        }
    }

    /// Reads "12h", "30d", "12 hours", "30 days" or a bare number of hours.
    pub fn parse(raw: &str) -> Result<KeyCacheTimeout, String> {
        let s = raw.trim().to_ascii_lowercase();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u32 = number
            .parse()
            .map_err(|_| format!("{raw:?} is not a duration like 12h or 30d"))?;
        let hours = match unit.trim() {
            "" | "h" | "hour" | "hours" => Some(n),
            "d" | "day" | "days" => n.checked_mul(24),
            _ => None,
        }
        .ok_or_else(|| format!("{raw:?} is not a duration like 12h or 30d"))?;
        Self::new(hours)
    }

    pub fn millis(self) -> u64 {
        u64::from(self.hours) * HOUR_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_bounds_and_parse() {
        assert!(KeyCacheTimeout::new(0).is_err());
        assert!(KeyCacheTimeout::new(1).is_ok());
        assert!(KeyCacheTimeout::new(999 * 24).is_ok());
        assert!(KeyCacheTimeout::new(999 * 24 + 1).is_err());
        assert_eq!(KeyCacheTimeout::parse("30d"), Ok(KeyCacheTimeout::DEFAULT));
        assert_eq!(KeyCacheTimeout::parse("5 hours").map(|t| t.hours), Ok(5));
        assert!(KeyCacheTimeout::parse("1000d").is_err());
        assert!(KeyCacheTimeout::parse("x").is_err());
        assert!(KeyCacheTimeout::parse("4294967295d").is_err());
    }

    #[test]
    fn purge_time_by_source() {
        let t = KeyCacheTimeout::new(1).expect("valid");
        let ks = KeySource::Keyserver {
            description: "keys.example.com".into(),
        };
        let mail = KeySource::MailFlow {
            how: "attached key".into(),
        };
        assert_eq!(CachedKey::purge_time(&ks, 1000, t), 1000 + HOUR_MS);
        assert_eq!(
            CachedKey::purge_time(&mail, 1000, t),
            1000 + MAIL_FLOW_CACHE_MS
        );
    }
}
