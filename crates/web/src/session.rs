//! Admin-UI sessions: what the login form creates and the session cookie names.
//!
//! Sessions are node-local and held in memory only (a restart logs everyone out; nothing about a
//! session touches disk). The cookie carries a random 256-bit token; each session has its own
//! CSRF token that every state-changing request must echo (form field `csrf` in the UI, header
//! `X-CSRF-Token` on the API).
//!
//! INTERFACE FIXED FOR THE UI: the items marked `pub` below are what `ui/` uses. Logging in
//! (passphrases, lockout, CAPTCHA, the first administrator) is in `crate::login` and re-exported
//! here: [`login`], [`captcha_for`], [`setup_pending`], [`create_first_administrator`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;

pub use crate::captcha::Captcha;
pub use crate::login::{
    LoginRefused, captcha_for, create_first_administrator, login, setup_pending,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "signet_session";
/// The header an API call from a session must carry on POST/PUT/PATCH/DELETE.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One logged-in administrator on this node.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value (secret).
    pub token: String,
    pub login: String,
    /// Echoed by every state-changing request.
    pub csrf: String,
    /// Set while a temporary or expired passphrase must be changed before anything else.
    pub must_change_passphrase: bool,
    pub last_seen: Instant,
}

/// Live sessions of this node.
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    idle_timeout: Mutex<Duration>,
    /// Outstanding login CAPTCHAs of this node.
    pub(crate) captchas: crate::captcha::Captchas,
    /// Failed logins for names that are no administrator, kept here (not replicated) so they
    /// get the same CAPTCHA and lockout answers as real ones without filling the store.
    pub(crate) unknown_failures: Mutex<HashMap<String, crate::login::UnknownFailures>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            live: Mutex::new(HashMap::new()),
            idle_timeout: Mutex::new(Duration::from_secs(30 * 60)),
            captchas: Default::default(),
            unknown_failures: Mutex::new(HashMap::new()),
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Starts a session for an administrator whose credentials were checked.
    pub fn start(&self, login: &str, must_change_passphrase: bool) -> Session {
        let session = Session {
            token: random_token(),
            login: login.to_string(),
            csrf: random_token(),
            must_change_passphrase,
            last_seen: Instant::now(),
        };
        let timeout = self
            .idle_timeout
            .lock()
            .map(|t| *t)
            .unwrap_or(Duration::from_secs(30 * 60));
        if let Ok(mut live) = self.live.lock() {
            // Abandoned sessions go here, so the map does not grow with them.
            live.retain(|_, s| s.last_seen.elapsed() <= timeout);
            live.insert(session.token.clone(), session.clone());
        }
        session
    }

    /// The live session named by the request's cookie, if any; touching it keeps it alive.
    /// A session idle longer than the timeout is ended here.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie_value(headers, SESSION_COOKIE)?;
        let timeout = self.idle_timeout.lock().ok().map(|t| *t)?;
        let mut live = self.live.lock().ok()?;
        let session = live.get_mut(&token)?;
        if session.last_seen.elapsed() > timeout {
            live.remove(&token);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// Ends one session (logout).
    pub fn end(&self, token: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(token);
        }
    }

    /// Ends every session of one administrator (deleted, or passphrase reset by a SuperUser).
    pub fn end_all_for(&self, login: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, s| s.login != login);
        }
    }

    /// The administrator changed their passphrase: their sessions may do everything again.
    pub fn passphrase_changed(&self, login: &str) {
        if let Ok(mut live) = self.live.lock() {
            for s in live.values_mut().filter(|s| s.login == login) {
                s.must_change_passphrase = false;
            }
        }
    }

    /// Sets the idle timeout (an administration setting).
    pub fn set_idle_timeout(&self, timeout: Duration) {
        if let Ok(mut t) = self.idle_timeout.lock() {
            *t = timeout;
        }
    }
}

/// The value of one cookie in the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a new session: Secure, HttpOnly, SameSite=Strict, whole site.
pub fn cookie_header(session: &Session) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        session.token
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie_header() -> HeaderValue {
    HeaderValue::from_static(
        "signet_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}
