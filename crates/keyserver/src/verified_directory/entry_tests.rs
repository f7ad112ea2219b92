//! Unit tests of the Verified Directory entry state machine, with a fake clock.

use super::*;

const FPR: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

struct Counter(u32);

impl TokenSource for Counter {
    fn token(&mut self) -> String {
        self.0 += 1;
        format!("token-{}", self.0)
    }
}

fn submission() -> Submission {
    Submission {
        fingerprint: FPR.into(),
        certificate: vec![1],
        user_ids: vec![
            ("Dee <d@ext.test>".into(), Some("d@ext.test".into())),
            ("Dee <dee@other.test>".into(), Some("dee@other.test".into())),
            ("no address".into(), None),
        ],
    }
}

fn external(_: &str) -> bool {
    false
}

fn token_of(update: &Update, email: &str) -> VdToken {
    update
        .issue_tokens
        .iter()
        .find(|t| t.email == email)
        .cloned()
        .unwrap_or_else(|| panic!("no token for {email}: {update:?}"))
}

fn state_of(entry: &VdEntry, email: &str) -> VdUidState {
    entry
        .user_ids
        .iter()
        .find(|u| u.email.as_deref() == Some(email))
        .map(|u| u.state)
        .unwrap_or_else(|| panic!("no {email}"))
}

#[test]
fn a_submission_mails_each_address_once_per_resend_interval() {
    let settings = VdSettings::default();
    let mut tokens = Counter(0);
    let first = submit(None, submission(), &settings, &external, 1_000, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.mails.len(),
        2,
        "one per address, none for the bare user ID"
    );
    assert_eq!(first.issue_tokens.len(), 2);
    assert_eq!(
        first.issue_tokens[0].sha256_hex,
        digest(&first.mails[0].token)
    );
    assert!(
        !first.issue_tokens[0].sha256_hex.contains("token"),
        "only the digest is stored"
    );
    let entry = &first.put[0];
    assert_eq!(entry.revision, 1);
    assert_eq!(
        state_of(entry, "d@ext.test"),
        VdUidState::PendingConfirmation
    );

    // Again an hour later: no mail. After 24 hours: mail again.
    let again = submit(
        Some(entry),
        submission(),
        &settings,
        &external,
        1_000 + HOUR,
        &mut tokens,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.mails.is_empty(), "{again:?}");
    assert_eq!(again.put[0].revision, 2);
    let later = submit(
        Some(&again.put[0]),
        submission(),
        &settings,
        &external,
        1_000 + 24 * HOUR,
        &mut tokens,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(later.mails.len(), 2);
}

#[test]
fn confirmation_publishes_or_waits_for_approval() {
    let mut settings = VdSettings::default();
    let mut tokens = Counter(0);
    let sub = submit(None, submission(), &settings, &external, 0, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    let entry = sub.put[0].clone();
    let token = token_of(&sub, "d@ext.test");

    // Manual (the default): Pending Approval, then the administrator approves.
    let confirmed =
        confirm(&token, Some(&entry), &settings, HOUR).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(confirmed.spend_tokens, vec![token.sha256_hex.clone()]);
    let waiting = &confirmed.put[0];
    assert_eq!(state_of(waiting, "d@ext.test"), VdUidState::PendingApproval);
    assert_eq!(
        state_of(waiting, "dee@other.test"),
        VdUidState::PendingConfirmation
    );
    assert_eq!(waiting.served_emails().count(), 0);
    let approved = approve(waiting).unwrap_or_else(|e| panic!("{e}"));
    let published = &approved.put[0];
    assert_eq!(state_of(published, "d@ext.test"), VdUidState::Published);
    assert_eq!(
        published.served_emails().collect::<Vec<_>>(),
        vec!["d@ext.test"],
        "the unconfirmed address is not served"
    );
    assert!(approve(published).is_err(), "nothing left to approve");

    // Automatic: published at once.
    settings.vetting = Vetting::Automatic;
    let direct = confirm(&token, Some(&entry), &settings, HOUR).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        state_of(&direct.put[0], "d@ext.test"),
        VdUidState::Published
    );
}

#[test]
fn an_expired_token_is_refused() {
    let mut settings = VdSettings::default();
    let mut tokens = Counter(0);
    let sub = submit(None, submission(), &settings, &external, 0, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    let token = token_of(&sub, "d@ext.test");
    assert!(confirm(&token, Some(&sub.put[0]), &settings, 336 * HOUR).is_ok());
    assert_eq!(
        confirm(&token, Some(&sub.put[0]), &settings, 337 * HOUR),
        Err(VdRefusal::ExpiredToken(336))
    );
    settings.token_validity_hours = 1;
    assert!(confirm(&token, Some(&sub.put[0]), &settings, 2 * HOUR).is_err());
}

#[test]
fn submission_rules() {
    let mut settings = VdSettings::default();
    let mut tokens = Counter(0);
    let bare = Submission {
        user_ids: vec![("no address".into(), None)],
        ..submission()
    };
    assert_eq!(
        submit(None, bare, &settings, &external, 0, &mut tokens),
        Err(VdRefusal::NoAddress)
    );
    settings.allow_directory = false;
    assert!(matches!(
        submit(None, submission(), &settings, &external, 0, &mut tokens),
        Err(VdRefusal::NotAllowed(_))
    ));
}

#[test]
fn removal_by_mail() {
    let settings = VdSettings {
        vetting: Vetting::Automatic,
        ..VdSettings::default()
    };
    let mut tokens = Counter(0);
    let sub = submit(None, submission(), &settings, &external, 0, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    let token = token_of(&sub, "d@ext.test");
    let published = confirm(&token, Some(&sub.put[0]), &settings, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .put
        .remove(0);
    let entries = vec![published];

    let nobody = request_removal(&entries, "x@y.test", &[], &settings, 2, &mut tokens);
    assert!(nobody.is_empty() && nobody.mails.is_empty());

    let asked = request_removal(&entries, "D@ext.test", &[], &settings, 2, &mut tokens);
    assert_eq!(asked.mails.len(), 1);
    assert_eq!(asked.mails[0].purpose, VdTokenPurpose::Remove);
    assert_eq!(
        state_of(&asked.put[0], "d@ext.test"),
        VdUidState::DeletePending
    );
    assert!(asked.put[0].served_emails().any(|e| e == "d@ext.test"));
    let removal = asked.issue_tokens[0].clone();
    let again = request_removal(
        &asked.put,
        "d@ext.test",
        std::slice::from_ref(&removal),
        &settings,
        3,
        &mut tokens,
    );
    assert!(
        again.mails.is_empty(),
        "one removal mail per re-email timeout"
    );

    let removed =
        confirm_removal(&removal, &asked.put, &settings, 4).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(removed.remove, vec![FPR.to_string()]);
    assert_eq!(removed.spend_tokens, vec![removal.sha256_hex.clone()]);
    assert!(confirm_removal(&removal, &asked.put, &settings, 400 * HOUR).is_err());
}

#[test]
fn renewal_re_vets_and_removes_without_an_answer() {
    let settings = VdSettings {
        vetting: Vetting::Automatic,
        ..VdSettings::default()
    };
    let mut tokens = Counter(0);
    let sub = submit(None, submission(), &settings, &external, 0, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    let token = token_of(&sub, "d@ext.test");
    let mut published = confirm(&token, Some(&sub.put[0]), &settings, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .put
        .remove(0);
    let day = 24 * HOUR;
    published.certified_until = Some(183 * day);

    // Long before the end: nothing due (the unconfirmed address keeps no key alive either).
    let quiet = housekeeping(
        std::slice::from_ref(&published),
        &[],
        &settings,
        100 * day,
        &mut tokens,
    );
    assert!(quiet.is_empty(), "{quiet:?}");

    // Within the token validity of the end: a re-confirmation mail, renewal started.
    let due_at = 183 * day - 336 * HOUR;
    let started = housekeeping(
        std::slice::from_ref(&published),
        &[],
        &settings,
        due_at,
        &mut tokens,
    );
    assert_eq!(started.mails.len(), 1, "{started:?}");
    assert!(started.mails[0].renewal);
    assert_eq!(started.mails[0].to, "d@ext.test");
    let renewing = started.put[0].clone();
    assert_eq!(renewing.renewal_started_at, Some(due_at));

    // Confirmed: renewal over, still published.
    let answer = confirm(
        &started.issue_tokens[0],
        Some(&renewing),
        &settings,
        due_at + day,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.put[0].renewal_started_at, None);
    assert_eq!(
        state_of(&answer.put[0], "d@ext.test"),
        VdUidState::Published
    );

    // No answer within the token validity: removed.
    let waiting = housekeeping(
        std::slice::from_ref(&renewing),
        &[],
        &settings,
        due_at + 335 * HOUR,
        &mut tokens,
    );
    assert!(waiting.remove.is_empty());
    let gone = housekeeping(
        std::slice::from_ref(&renewing),
        &[],
        &settings,
        due_at + 337 * HOUR,
        &mut tokens,
    );
    assert_eq!(gone.remove, vec![FPR.to_string()]);
}

#[test]
fn housekeeping_tidies_expired_links() {
    let settings = VdSettings::default();
    let mut tokens = Counter(0);
    let sub = submit(None, submission(), &settings, &external, 0, &mut tokens)
        .unwrap_or_else(|e| panic!("{e}"));
    let stale = housekeeping(
        &sub.put,
        &sub.issue_tokens,
        &settings,
        337 * HOUR,
        &mut tokens,
    );
    assert_eq!(stale.spend_tokens.len(), 2);
    assert_eq!(
        stale.remove,
        vec![FPR.to_string()],
        "never confirmed, links expired"
    );
    let fresh = housekeeping(&sub.put, &sub.issue_tokens, &settings, HOUR, &mut tokens);
    assert!(fresh.is_empty(), "{fresh:?}");
}
