//! The Verified Directory (guide: Services > Verified Directory): a web keyserver where people
//! submit and remove their own keys. Each address on a submitted key is asked by email; only
//! user IDs whose owner confirmed (and, with Manual vetting, an administrator approved) are
//! published, certified by the Verified Directory Key, through the published-key directory
//! that LDAP, HKP and WKD answer from.
//!
//! - [`entry`]: the state machine, pure (a fake clock tests it);
//! - [`certify`]: reading submitted keys and building the published key (sequoia);
//! - [`service`]: the pages and `/pks/add` on the public web listener, over a [`VdBackend`]
//!   the appliance implements (replicated store, mail, the VD Key);
//! - [`pages`], [`form`]: HTML and form bodies.

pub mod certify;
pub mod entry;
pub mod form;
pub mod pages;
pub mod service;

use std::time::Duration;

use sequoia_openpgp::Cert;
use signet_model::{UnixMillis, VdEntry, VdSettings};

pub use certify::{PublishError, SubmitError, parse_submission};
pub use entry::{Mail, TokenSource, Update, VdRefusal};
pub use service::{VdBackend, VdService};

/// The owner name of an entry in the published-key directory.
pub fn directory_owner(fingerprint: &str) -> String {
    format!("vd:{}", fingerprint.to_ascii_uppercase())
}

fn served(entry: &VdEntry) -> Vec<&str> {
    entry
        .user_ids
        .iter()
        .filter(|u| u.state.is_served() && u.email.is_some())
        .map(|u| u.user_id.as_str())
        .collect()
}

/// Whether the entry's published key must be built again: what is served changed, the key
/// itself changed, or a renewal was just confirmed.
pub fn needs_publishing(stored: Option<&VdEntry>, new: &VdEntry) -> bool {
    let Some(old) = stored else {
        return !served(new).is_empty();
    };
    served(old) != served(new)
        || (old.certificate != new.certificate && !served(new).is_empty())
        || (old.renewal_started_at.is_some() && new.renewal_started_at.is_none())
        || (new.published.is_none() && !served(new).is_empty())
}

/// Builds the published key of every entry in `update` that needs it ([`needs_publishing`]),
/// certified by `vd_key` (asked for only when something is to be certified). `stored` finds
/// the entry as it was. The certifications expire `signature_validity_days` on for a first
/// publication or a confirmed renewal, else when the key's current ones do.
pub fn finish(
    update: &mut Update,
    stored: &dyn Fn(&str) -> Option<VdEntry>,
    vd_key: &dyn Fn() -> Result<Cert, PublishError>,
    settings: &VdSettings,
    now: UnixMillis,
) -> Result<(), PublishError> {
    let validity = Duration::from_secs(u64::from(settings.signature_validity_days) * 86_400);
    let mut key: Option<Cert> = None;
    for e in update.put.iter_mut() {
        let old = stored(&e.fingerprint);
        if !needs_publishing(old.as_ref(), e) {
            continue;
        }
        let names = served(e);
        if names.is_empty() {
            e.published = None;
            e.certified_until = None;
            continue;
        }
        if key.is_none() {
            key = Some(vd_key()?);
        }
        let Some(k) = key.as_ref() else { continue };
        // Only a confirmed renewal (or a first publication) starts a new validity period: a
        // re-submitted key or a newly approved address keeps the key's current expiry, so
        // nobody keeps a key alive by submitting it again.
        let renewed = old
            .as_ref()
            .is_some_and(|o| o.renewal_started_at.is_some() && e.renewal_started_at.is_none());
        let validity = match old.as_ref().and_then(|o| o.certified_until) {
            Some(until) if !renewed && until > now => Duration::from_millis(until - now),
            _ => validity,
        };
        let (bytes, until) = certify::publish(&e.certificate, &names, k, now, validity)?;
        e.published = Some(bytes);
        e.certified_until = Some(until);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::{VdUidState, VdUserId};

    fn entry(state: VdUidState) -> VdEntry {
        VdEntry {
            fingerprint: "AB".repeat(20),
            certificate: vec![1],
            published: Some(vec![2]),
            user_ids: vec![VdUserId {
                user_id: "<d@ext.test>".into(),
                email: Some("d@ext.test".into()),
                state,
                mailed_at: None,
                confirmed_at: None,
            }],
            submitted_at: 0,
            certified_until: Some(1_000),
            renewal_started_at: None,
            revision: 1,
        }
    }

    #[test]
    fn what_needs_publishing() {
        let published = entry(VdUidState::Published);
        assert!(needs_publishing(None, &published));
        assert!(!needs_publishing(None, &entry(VdUidState::PendingApproval)));
        assert!(needs_publishing(
            Some(&entry(VdUidState::PendingApproval)),
            &published
        ));
        // Removal requested: still served, nothing to rebuild.
        assert!(!needs_publishing(
            Some(&published),
            &entry(VdUidState::DeletePending)
        ));
        let mut renewing = published.clone();
        renewing.renewal_started_at = Some(5);
        assert!(!needs_publishing(Some(&published), &renewing));
        assert!(needs_publishing(Some(&renewing), &published));
        let mut resubmitted = published.clone();
        resubmitted.certificate = vec![3];
        assert!(needs_publishing(Some(&published), &resubmitted));
    }
}
