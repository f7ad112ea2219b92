//! The state machine of Verified Directory entries, pure: each function takes the stored
//! entries, the settings, the time and a token source, and returns an [`Update`] (what to
//! commit, which mails to send). Nothing here does IO, so every rule is unit-tested with a fake
//! clock.
//!
//! A user ID moves Pending Confirmation → (Pending Approval, Manual vetting) → Published;
//! a removal request marks it Delete Pending (still served: only the owner's click removes it);
//! following the removal link deletes every key holding the address.

use signet_model::{
    UnixMillis, VdEntry, VdSettings, VdToken, VdTokenPurpose, VdUidState, VdUserId, Vetting,
};

const HOUR: u64 = 3_600_000;

/// Why a request changes nothing; the text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VdRefusal {
    #[error("This link is not valid (it was already used, or the key was removed).")]
    UnknownToken,
    #[error(
        "This link has expired: links are valid for {0} hours. Submit your key again to get a new one."
    )]
    ExpiredToken(u32),
    #[error("The key has no user ID with an email address, so nothing can be confirmed.")]
    NoAddress,
    #[error("Submissions for the address {0} are not accepted here.")]
    NotAllowed(String),
    #[error("{0}")]
    NotFound(String),
}

/// A mail to send with a fresh token (the token goes in the mail only; its digest is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub purpose: VdTokenPurpose,
    pub to: String,
    pub token: String,
    /// The key concerned (Confirm).
    pub fingerprint: Option<String>,
    pub user_id: String,
    /// A re-confirmation before the certification expires (renewal).
    pub renewal: bool,
}

/// What one decision changes. `put` entries carry their next revision already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub put: Vec<VdEntry>,
    pub remove: Vec<String>,
    pub issue_tokens: Vec<VdToken>,
    pub spend_tokens: Vec<String>,
    pub mails: Vec<Mail>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty()
            && self.remove.is_empty()
            && self.issue_tokens.is_empty()
            && self.spend_tokens.is_empty()
    }
}

/// Makes tokens: the caller's random source, and the digest that is stored.
pub trait TokenSource {
    /// A fresh random token, URL-safe.
    fn token(&mut self) -> String;
}

/// The stored digest of a token.
pub fn digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A parsed submission: the key (public, binary, merged with what was stored) and its valid
/// user IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub fingerprint: String,
    pub certificate: Vec<u8>,
    /// (user ID, its address lower case).
    pub user_ids: Vec<(String, Option<String>)>,
}

fn next(mut entry: VdEntry) -> VdEntry {
    entry.revision += 1;
    entry
}

/// Issues a token for `m` (its `token` is filled in) and queues the mail.
fn mail(update: &mut Update, tokens: &mut dyn TokenSource, now: UnixMillis, mut m: Mail) {
    m.token = tokens.token();
    update.issue_tokens.push(VdToken {
        sha256_hex: digest(&m.token),
        purpose: m.purpose,
        fingerprint: m.fingerprint.clone(),
        email: m.to.clone(),
        issued_at: now,
    });
    update.mails.push(m);
}

/// A mail about `fingerprint` (Confirm) or an address (Remove), its token still to issue.
fn ask(
    purpose: VdTokenPurpose,
    fingerprint: Option<&str>,
    to: &str,
    user_id: &str,
    renewal: bool,
) -> Mail {
    Mail {
        purpose,
        to: to.to_string(),
        token: String::new(),
        fingerprint: fingerprint.map(str::to_string),
        user_id: user_id.to_string(),
        renewal,
    }
}

/// A key submitted (web form or HKP `/pks/add`). New user IDs with an address start Pending
/// Confirmation and get a mail; a user ID still pending gets another mail only once the
/// re-email timeout has passed since the last one. Published user IDs stay published (the
/// merged key is re-published by the caller).
pub fn submit(
    stored: Option<&VdEntry>,
    submission: Submission,
    settings: &VdSettings,
    is_internal: &dyn Fn(&str) -> bool,
    now: UnixMillis,
    tokens: &mut dyn TokenSource,
) -> Result<Update, VdRefusal> {
    let addresses: Vec<&str> = submission
        .user_ids
        .iter()
        .filter_map(|(_, e)| e.as_deref())
        .collect();
    if addresses.is_empty() {
        return Err(VdRefusal::NoAddress);
    }
    for a in &addresses {
        let internal = is_internal(a);
        if (internal && !settings.allow_internal) || (!internal && !settings.allow_directory) {
            return Err(VdRefusal::NotAllowed((*a).to_string()));
        }
    }
    let mut entry = stored.cloned().unwrap_or_else(|| VdEntry {
        fingerprint: submission.fingerprint.clone(),
        certificate: Vec::new(),
        published: None,
        user_ids: Vec::new(),
        submitted_at: now,
        certified_until: None,
        renewal_started_at: None,
        revision: 0,
    });
    entry.certificate = submission.certificate;
    for (uid, email) in submission.user_ids {
        if !entry.user_ids.iter().any(|u| u.user_id == uid) {
            entry.user_ids.push(VdUserId {
                user_id: uid,
                email,
                state: VdUidState::PendingConfirmation,
                mailed_at: None,
                confirmed_at: None,
            });
        }
    }
    let resend = u64::from(settings.resend_interval_hours) * HOUR;
    let mut update = Update::default();
    for u in entry.user_ids.iter_mut() {
        let Some(email) = u.email.clone() else {
            continue;
        };
        if u.state != VdUidState::PendingConfirmation {
            continue;
        }
        if u.mailed_at
            .is_some_and(|at| now < at.saturating_add(resend))
        {
            continue;
        }
        u.mailed_at = Some(now);
        mail(
            &mut update,
            tokens,
            now,
            ask(
                VdTokenPurpose::Confirm,
                Some(&entry.fingerprint),
                &email,
                &u.user_id,
                false,
            ),
        );
    }
    update.put.push(next(entry));
    Ok(update)
}

/// Whether a token issued at `issued_at` is still valid at `now`.
pub fn token_valid(issued_at: UnixMillis, settings: &VdSettings, now: UnixMillis) -> bool {
    now <= issued_at.saturating_add(u64::from(settings.token_validity_hours) * HOUR)
}

/// A confirmation link was followed. The address's user IDs on that key move on: Pending
/// Approval (Manual) or Published (Automatic). During a renewal the confirmation keeps the
/// key published (the caller re-certifies it).
pub fn confirm(
    token: &VdToken,
    stored: Option<&VdEntry>,
    settings: &VdSettings,
    now: UnixMillis,
) -> Result<Update, VdRefusal> {
    if !token_valid(token.issued_at, settings, now) {
        return Err(VdRefusal::ExpiredToken(settings.token_validity_hours));
    }
    let Some(mut entry) = stored.cloned() else {
        return Err(VdRefusal::UnknownToken);
    };
    let target = match settings.vetting {
        Vetting::Manual => VdUidState::PendingApproval,
        Vetting::Automatic => VdUidState::Published,
    };
    let mut touched = false;
    for u in entry.user_ids.iter_mut() {
        if u.email.as_deref() != Some(token.email.as_str()) {
            continue;
        }
        touched = true;
        u.confirmed_at = Some(now);
        if u.state == VdUidState::PendingConfirmation {
            u.state = target;
        }
    }
    if !touched {
        return Err(VdRefusal::UnknownToken);
    }
    if entry.renewal_started_at.is_some() {
        entry.renewal_started_at = None;
    }
    Ok(Update {
        put: vec![next(entry)],
        spend_tokens: vec![token.sha256_hex.clone()],
        ..Update::default()
    })
}

/// An administrator approved the key: its confirmed user IDs are published.
pub fn approve(stored: &VdEntry) -> Result<Update, VdRefusal> {
    let mut entry = stored.clone();
    let mut any = false;
    for u in entry.user_ids.iter_mut() {
        if u.state == VdUidState::PendingApproval {
            u.state = VdUidState::Published;
            any = true;
        }
    }
    if !any {
        return Err(VdRefusal::NotFound(format!(
            "the key {} has no user ID waiting for approval",
            entry.fingerprint
        )));
    }
    Ok(Update {
        put: vec![next(entry)],
        ..Update::default()
    })
}

/// An administrator denied the key: the user IDs waiting for approval are dropped; a key
/// left with nothing served is removed.
pub fn reject(stored: &VdEntry) -> Result<Update, VdRefusal> {
    let mut entry = stored.clone();
    let before = entry.user_ids.len();
    entry.user_ids.retain(|u| {
        !matches!(
            u.state,
            VdUidState::PendingApproval | VdUidState::PendingConfirmation
        )
    });
    if entry.user_ids.len() == before {
        return Err(VdRefusal::NotFound(format!(
            "the key {} has no user ID waiting for approval",
            entry.fingerprint
        )));
    }
    if entry.served_emails().next().is_none() {
        return Ok(Update {
            remove: vec![entry.fingerprint],
            ..Update::default()
        });
    }
    Ok(Update {
        put: vec![next(entry)],
        ..Update::default()
    })
}

/// The owner of an address asks for removal. One mail with a removal link goes to the address
/// when some key holds it (at most one per re-email timeout); served user IDs show Delete
/// Pending meanwhile. An address no key holds gets no mail (the page says the same either way).
pub fn request_removal(
    entries: &[VdEntry],
    email: &str,
    open_removals: &[VdToken],
    settings: &VdSettings,
    now: UnixMillis,
    tokens: &mut dyn TokenSource,
) -> Update {
    let email = email.trim().to_ascii_lowercase();
    let mut update = Update::default();
    let holding: Vec<&VdEntry> = entries
        .iter()
        .filter(|e| {
            e.user_ids
                .iter()
                .any(|u| u.email.as_deref() == Some(email.as_str()))
        })
        .collect();
    let Some(first) = holding.first() else {
        return update;
    };
    let resend = u64::from(settings.resend_interval_hours) * HOUR;
    let recent = open_removals.iter().any(|t| {
        t.purpose == VdTokenPurpose::Remove
            && t.email == email
            && now < t.issued_at.saturating_add(resend)
    });
    if recent {
        return update;
    }
    let user_id = first
        .user_ids
        .iter()
        .find(|u| u.email.as_deref() == Some(email.as_str()))
        .map(|u| u.user_id.clone())
        .unwrap_or_default();
    for e in holding {
        let mut e = e.clone();
        let mut changed = false;
        for u in e.user_ids.iter_mut() {
            if u.email.as_deref() == Some(email.as_str()) && u.state == VdUidState::Published {
                u.state = VdUidState::DeletePending;
                changed = true;
            }
        }
        if changed {
            update.put.push(next(e));
        }
    }
    mail(
        &mut update,
        tokens,
        now,
        ask(VdTokenPurpose::Remove, None, &email, &user_id, false),
    );
    update
}

/// The removal link was followed: every key holding the address is removed, with its tokens.
pub fn confirm_removal(
    token: &VdToken,
    entries: &[VdEntry],
    settings: &VdSettings,
    now: UnixMillis,
) -> Result<Update, VdRefusal> {
    if !token_valid(token.issued_at, settings, now) {
        return Err(VdRefusal::ExpiredToken(settings.token_validity_hours));
    }
    let remove: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.user_ids
                .iter()
                .any(|u| u.email.as_deref() == Some(token.email.as_str()))
        })
        .map(|e| e.fingerprint.clone())
        .collect();
    Ok(Update {
        remove,
        spend_tokens: vec![token.sha256_hex.clone()],
        ..Update::default()
    })
}

/// Housekeeping (VD-2 and tidying), decided at `now`:
/// - a published key whose certification expires within the token validity gets a
///   re-confirmation mail per served address (renewal starts);
/// - a renewal without an answer after the token validity removes the key;
/// - Delete Pending user IDs whose removal link expired are Published again;
/// - expired tokens are dropped, and a key that never had a user ID confirmed is removed once
///   its last link expired.
pub fn housekeeping(
    entries: &[VdEntry],
    stored_tokens: &[VdToken],
    settings: &VdSettings,
    now: UnixMillis,
    tokens: &mut dyn TokenSource,
) -> Update {
    let validity = u64::from(settings.token_validity_hours) * HOUR;
    let mut update = Update::default();
    let live = |t: &VdToken| token_valid(t.issued_at, settings, now);
    for t in stored_tokens.iter().filter(|t| !live(t)) {
        update.spend_tokens.push(t.sha256_hex.clone());
    }
    for e in entries {
        if let Some(started) = e.renewal_started_at {
            if now > started.saturating_add(validity) {
                update.remove.push(e.fingerprint.clone());
            }
            continue;
        }
        let served: Vec<&VdUserId> = e.user_ids.iter().filter(|u| u.state.is_served()).collect();
        if let Some(until) = e.certified_until
            && !served.is_empty()
            && now.saturating_add(validity) >= until
        {
            let mut renewed = e.clone();
            renewed.renewal_started_at = Some(now);
            for u in &served {
                if let Some(email) = &u.email {
                    mail(
                        &mut update,
                        tokens,
                        now,
                        ask(
                            VdTokenPurpose::Confirm,
                            Some(&e.fingerprint),
                            email,
                            &u.user_id,
                            true,
                        ),
                    );
                }
            }
            update.put.push(next(renewed));
            continue;
        }
        let pending_removal = |email: &str| {
            stored_tokens
                .iter()
                .any(|t| t.purpose == VdTokenPurpose::Remove && t.email == email && live(t))
        };
        let stale: Vec<usize> = e
            .user_ids
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                u.state == VdUidState::DeletePending
                    && !u.email.as_deref().is_some_and(pending_removal)
            })
            .map(|(i, _)| i)
            .collect();
        if !stale.is_empty() {
            let mut restored = e.clone();
            for i in stale {
                if let Some(u) = restored.user_ids.get_mut(i) {
                    u.state = VdUidState::Published;
                }
            }
            update.put.push(next(restored));
            continue;
        }
        let never_confirmed = e
            .user_ids
            .iter()
            .all(|u| u.state == VdUidState::PendingConfirmation);
        let last_mail = e.user_ids.iter().filter_map(|u| u.mailed_at).max();
        if never_confirmed && last_mail.is_none_or(|at| now > at.saturating_add(validity)) {
            update.remove.push(e.fingerprint.clone());
        }
    }
    update
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
