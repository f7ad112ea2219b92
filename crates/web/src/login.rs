//! Console login (spec ADM-6..ADM-8): passphrase check, failed-login counting, CAPTCHA after
//! the threshold, lockout, forced passphrase change; and the setup assistant's first
//! administrator. The UI's login page and `POST /api/v1/session` both call [`login`].
//!
//! Failures of real administrators are replicated (a lockout holds on every member). Failures
//! for names that are no administrator are counted in this node's memory only, and answered the
//! same way, so the answers do not tell which login names exist.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use signet_model::{AdminRole, Administrator, EmailAddress};
use signet_store::{Command, now_millis};

use crate::captcha::Captcha;
use crate::session::Session;
use crate::{AppState, Problem, passphrase};

/// Why a login was refused, and the CAPTCHA the next attempt must answer, if any.
#[derive(Debug)]
pub struct LoginRefused {
    pub message: String,
    pub captcha: Option<Captcha>,
}

/// The one answer for a wrong login name or a wrong passphrase.
pub const WRONG_CREDENTIALS: &str = "wrong login name or passphrase";

/// Failed logins for an unknown name (node-local).
#[derive(Debug, Clone, Default)]
pub(crate) struct UnknownFailures {
    count: u32,
    locked_until: Option<Instant>,
}

/// How many unknown names are remembered; beyond that the map starts over.
const MAX_UNKNOWN: usize = 10_000;

fn refused(message: impl Into<String>, captcha: Option<Captcha>) -> LoginRefused {
    LoginRefused {
        message: message.into(),
        captcha,
    }
}

fn unavailable(e: impl std::fmt::Display) -> LoginRefused {
    refused(format!("login is not available right now: {e}"), None)
}

fn unknown_state(state: &AppState, login: &str) -> UnknownFailures {
    state
        .sessions
        .unknown_failures
        .lock()
        .ok()
        .and_then(|m| m.get(login).cloned())
        .unwrap_or_default()
}

/// Failed logins so far and whether the account is locked now.
fn failures(state: &AppState, admin: Option<&Administrator>, login: &str) -> (u32, bool) {
    match admin {
        Some(a) => (a.failed_logins.count, a.locked_at(now_millis())),
        None => {
            let u = unknown_state(state, login);
            (u.count, u.locked_until.is_some_and(|t| t > Instant::now()))
        }
    }
}

/// A CAPTCHA for the next attempt of `login`, when that attempt needs one.
pub fn captcha_for(state: &AppState, login: &str) -> Option<Captcha> {
    let view = state.node.local();
    let settings = view.administration_settings().ok()?;
    let admin = view.administrator(login.trim()).ok().flatten();
    let (count, _) = failures(state, admin.as_ref(), login.trim());
    settings
        .captcha_needed(count)
        .then(|| state.sessions.captchas.issue())
}

/// Checks a login and starts a session. `captcha` is `(id, answer)`. Every attempt is
/// recorded in the audit log (never the passphrase).
pub async fn login(
    state: &AppState,
    login: &str,
    passphrase: &str,
    captcha: Option<(&str, &str)>,
) -> Result<Session, LoginRefused> {
    let outcome = check_login(state, login, passphrase, captcha).await;
    let (status, summary) = match &outcome {
        Ok(_) => (200, "login".to_string()),
        Err(r) => (401, format!("login refused: {}", r.message)),
    };
    crate::audit::record(
        state.node.data_dir().root(),
        &crate::audit::AuditEntry {
            at: now_millis(),
            login: login.trim().chars().take(64).collect(),
            method: "POST".into(),
            path: "/api/v1/session".into(),
            status,
            summary,
        },
    );
    outcome
}

async fn check_login(
    state: &AppState,
    login: &str,
    passphrase: &str,
    captcha: Option<(&str, &str)>,
) -> Result<Session, LoginRefused> {
    let login = login.trim();
    let view = state.node.local();
    let settings = view.administration_settings().map_err(unavailable)?;
    let admin = view.administrator(login).map_err(unavailable)?;
    let (count, locked) = failures(state, admin.as_ref(), login);
    if locked {
        return Err(refused(
            "this account is locked after too many failed logins; try again later or ask a \
             SuperUser to unlock it",
            None,
        ));
    }
    if settings.captcha_needed(count) {
        let solved = captcha.is_some_and(|(id, answer)| state.sessions.captchas.check(id, answer));
        if !solved {
            let message = if captcha.is_some() {
                "the characters typed do not match the image; try the new one"
            } else {
                "type the characters shown in the image (needed after failed logins)"
            };
            return Err(refused(message, Some(state.sessions.captchas.issue())));
        }
    }
    let record = admin.as_ref().and_then(|a| a.passphrase.clone());
    let ok = passphrase::verify(record.as_ref().map(|r| r.hash.as_str()), passphrase)
        .await
        .map_err(|p| unavailable(p.detail))?;
    let now = now_millis();
    let Some(record) = record.filter(|_| ok) else {
        record_failure(state, admin.as_ref(), login, &settings).await?;
        tracing::warn!(target: "signet::audit", login, "failed administrator login");
        let next = count.saturating_add(1);
        let captcha = settings
            .captcha_needed(next)
            .then(|| state.sessions.captchas.issue());
        return Err(refused(WRONG_CREDENTIALS, captcha));
    };
    if count > 0 {
        state
            .node
            .execute(Command::ClearFailedLogins {
                login: login.to_string(),
            })
            .await
            .map_err(unavailable)?;
    }
    let must_change = record.temporary || settings.expired(record.set_at, now);
    Ok(state.sessions.start(login, must_change))
}

async fn record_failure(
    state: &AppState,
    admin: Option<&Administrator>,
    login: &str,
    settings: &signet_model::AdministrationSettings,
) -> Result<(), LoginRefused> {
    let now = now_millis();
    if admin.is_some() {
        let locked_until = settings.lockout_until(settings.lockout_threshold, now);
        state
            .node
            .execute(Command::RecordFailedLogin {
                login: login.to_string(),
                at: now,
                lockout_threshold: settings.lockout_threshold,
                locked_until: locked_until.unwrap_or(now),
            })
            .await
            .map_err(unavailable)?;
        if let Some(a) = admin
            && settings.lockout_threshold > 0
            && a.failed_logins.count + 1 >= settings.lockout_threshold
        {
            tracing::warn!(target: "signet::audit", login, "administrator locked out");
            notify_lockout(state, a, locked_until.unwrap_or(now));
        }
        return Ok(());
    }
    if let Ok(mut map) = state.sessions.unknown_failures.lock() {
        if map.len() >= MAX_UNKNOWN && !map.contains_key(login) {
            map.clear();
        }
        let entry = map.entry(login.to_string()).or_default();
        entry.count = entry.count.saturating_add(1);
        if settings.lockout_threshold > 0 && entry.count >= settings.lockout_threshold {
            entry.locked_until = Some(
                Instant::now() + Duration::from_secs(u64::from(settings.lockout_hours) * 3600),
            );
        }
    }
    Ok(())
}

/// Mails a locked-out administrator who has an address (guide ADM-6).
fn notify_lockout(state: &AppState, admin: &Administrator, until: signet_model::UnixMillis) {
    let Some(email) = admin.email.as_ref().filter(|e| !e.is_empty()) else {
        return;
    };
    let Some(notifier) = &state.notifier else {
        tracing::info!(login = %admin.login, "no mail queue on this member: the lockout notice is not mailed");
        return;
    };
    let notice = crate::notify::AdminNotice::LockedOut {
        login: admin.login.clone(),
        email: email.to_string(),
        until,
    };
    match notifier.send(&notice) {
        Ok(()) => tracing::info!(login = %admin.login, "lockout notice mailed"),
        Err(e) => {
            tracing::warn!(login = %admin.login, error = %e, "cannot mail the lockout notice")
        }
    }
}

/// True while no administrator has a passphrase: the setup assistant is open.
pub async fn setup_pending(state: &AppState) -> Result<bool, Problem> {
    Ok(!state
        .node
        .read()
        .await?
        .administrators()?
        .iter()
        .any(|a| a.passphrase.is_some()))
}

/// Checks a login name: 1 to 64 characters, letters, digits and `. _ - @`.
pub(crate) fn valid_login(raw: &str) -> Result<String, Problem> {
    let login = raw.trim();
    let ok = !login.is_empty()
        && login.len() <= 64
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(login.to_string())
    } else {
        Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "login name {raw:?} must be 1 to 64 letters, digits, dots, dashes, underscores or @"
            ),
        ))
    }
}

/// Checks an optional email address (empty = none).
pub(crate) fn valid_email(raw: Option<&str>) -> Result<Option<String>, Problem> {
    match raw.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(e) => Ok(Some(EmailAddress::parse(e)?.to_string())),
    }
}

/// The setup assistant's first administrator: a SuperUser with this passphrase, allowed only
/// while [`setup_pending`]. A login other than `admin` takes over the bootstrap `admin`'s API
/// tokens (so the `signet` CLI keeps working, now as this administrator) and `admin` is removed.
pub async fn create_first_administrator(
    state: &AppState,
    login: &str,
    passphrase: &str,
    email: Option<&str>,
) -> Result<(), Problem> {
    if !setup_pending(state).await? {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "the first administrator was already created; log in instead",
        ));
    }
    let login = valid_login(login)?;
    let email = valid_email(email)?;
    let settings = state.node.read().await?.administration_settings()?;
    let now = now_millis();
    let record = passphrase::new_record(&settings, None, passphrase, false, now).await?;
    state
        .node
        .execute(Command::CreateFirstAdministrator {
            admin: Administrator {
                login: login.clone(),
                role: AdminRole::SuperUser,
                email,
                api_tokens: Vec::new(),
                created_at: now,
                passphrase: Some(record),
                failed_logins: Default::default(),
            },
        })
        .await?;
    crate::audit::record(
        state.node.data_dir().root(),
        &crate::audit::AuditEntry {
            at: now,
            login: login.clone(),
            method: "SETUP".into(),
            path: "first administrator".into(),
            status: 200,
            summary: format!("login={login}, role=super-user"),
        },
    );
    Ok(())
}
