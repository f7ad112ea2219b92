//! `/crl/RevokedCertificates.crl`: the DER CRL of certificates this server issued and revoked,
//! signed by the Organization Certificate. Signing needs the Organization Certificate's key,
//! which only the appliance can unseal, so the CRL itself comes from a [`CrlSource`]; this
//! module only decides when to ask for a new one. A CRL is kept until the list of revoked
//! certificates (or the Organization Certificate) changes, or until less than
//! [`REISSUE_BEFORE_SECS`] of its validity is left, so a revocation shows on the next fetch and
//! a fetch never sees an expired CRL.

use std::sync::Mutex;

use bytes::Bytes;

/// How long an issued CRL is valid (reference product default: 7 days; there is no setting
/// for it yet, and `signet_keys::current_crl` signs with this validity).
pub const CRL_VALIDITY_SECS: u64 = 7 * 24 * 3600;
/// A new CRL is issued when the cached one has less than this left.
pub const REISSUE_BEFORE_SECS: u64 = 24 * 3600;

/// Where CRLs come from.
pub trait CrlSource: Send + Sync + 'static {
    /// A value that changes whenever the CRL's content would (the revoked serials and the
    /// issuer); `None` when there is no Organization Certificate to sign with.
    fn revision(&self) -> Result<Option<String>, String>;
    /// A freshly signed CRL, valid [`CRL_VALIDITY_SECS`] from now.
    fn issue(&self) -> Result<Vec<u8>, String>;
}

/// Why no CRL can be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlError {
    /// No Organization Certificate (404).
    NoIssuer,
    /// The store or the signing key is not available (503), e.g. a locked member.
    Unavailable(String),
}

struct Cached {
    revision: String,
    issued_at: u64,
    der: Bytes,
}

#[derive(Default)]
pub struct CrlCache {
    cached: Mutex<Option<Cached>>,
}

impl CrlCache {
    /// The current CRL, reissued when needed.
    pub fn current(&self, source: &dyn CrlSource, now: u64) -> Result<Bytes, CrlError> {
        let revision = source
            .revision()
            .map_err(CrlError::Unavailable)?
            .ok_or(CrlError::NoIssuer)?;
        // Held while signing, so concurrent fetches of a stale CRL sign it once.
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref()
            && c.revision == revision
            && now < c.issued_at + CRL_VALIDITY_SECS - REISSUE_BEFORE_SECS
            && now >= c.issued_at
        {
            return Ok(c.der.clone());
        }
        let der = Bytes::from(source.issue().map_err(CrlError::Unavailable)?);
        *cached = Some(Cached {
            revision,
            issued_at: now,
            der: der.clone(),
        });
        Ok(der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Fake {
        revision: Mutex<Option<String>>,
        issued: AtomicU32,
    }

    impl CrlSource for Fake {
        fn revision(&self) -> Result<Option<String>, String> {
            Ok(self.revision.lock().unwrap().clone())
        }
        fn issue(&self) -> Result<Vec<u8>, String> {
            Ok(vec![self.issued.fetch_add(1, Ordering::SeqCst) as u8])
        }
    }

    #[test]
    fn reissues_on_change_and_near_expiry_only() {
        let source = Fake {
            revision: Mutex::new(Some("a".into())),
            issued: AtomicU32::new(0),
        };
        let cache = CrlCache::default();
        let t0 = 1_000_000;
        assert_eq!(cache.current(&source, t0).unwrap()[..], [0]);
        assert_eq!(cache.current(&source, t0 + 3600).unwrap()[..], [0]);
        *source.revision.lock().unwrap() = Some("b".into());
        assert_eq!(cache.current(&source, t0 + 3600).unwrap()[..], [1]);
        let late = t0 + 3600 + CRL_VALIDITY_SECS - REISSUE_BEFORE_SECS;
        assert_eq!(cache.current(&source, late).unwrap()[..], [2]);
        *source.revision.lock().unwrap() = None;
        assert_eq!(cache.current(&source, late), Err(CrlError::NoIssuer));
    }
}
