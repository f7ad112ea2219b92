//! Who is calling: the [`Admin`] extractor every `/api/v1` handler takes. A caller proves who it
//! is with an API token (`Authorization: Bearer ...`, the CLI) or an admin-UI session cookie;
//! a session's state-changing requests must also carry its CSRF token (`x-csrf-token`).
//!
//! The authorization middleware ([`crate::guard`]) authenticates before any handler runs and
//! leaves the result in the request's extensions; the extractor takes it from there.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};
use signet_model::{Administrator, Permission};

use crate::session::{CSRF_HEADER, SESSION_COOKIE, Session, cookie_value};
use crate::{AppState, Problem};

/// The authenticated administrator making a request.
pub struct Admin(pub Administrator);

/// What authentication found: the administrator and, for a cookie, the session.
#[derive(Clone)]
pub(crate) struct Caller {
    pub admin: Administrator,
    pub session: Option<Session>,
}

/// Methods that change something and so need the CSRF token with a session cookie.
pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Applies the replicated idle-timeout setting to this node's sessions.
pub(crate) fn apply_idle_timeout(state: &AppState) {
    if let Ok(settings) = state.node.local().administration_settings() {
        state.sessions.set_idle_timeout(Duration::from_secs(
            u64::from(settings.idle_timeout_minutes) * 60,
        ));
    }
}

/// Authenticates a request by its bearer token or session cookie.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Caller, Problem> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        let digest = hex::encode(Sha256::digest(token.trim().as_bytes()));
        return match state.node.local().administrator_by_token(&digest)? {
            Some(admin) => Ok(Caller {
                admin,
                session: None,
            }),
            None => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "the API token is not valid",
            )),
        };
    }
    if cookie_value(headers, SESSION_COOKIE).is_none() {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "log in (POST /api/v1/session) or send an API token (Authorization: Bearer ...)",
        ));
    }
    apply_idle_timeout(state);
    let expired = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "the session has ended (logged out or idle too long); log in again",
        )
    };
    let session = state.sessions.from_headers(headers).ok_or_else(expired)?;
    let Some(admin) = state.node.local().administrator(&session.login)? else {
        state.sessions.end(&session.token);
        return Err(expired());
    };
    if changes_state(method) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent, &session.csrf) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "CSRF token missing or wrong (send the session's csrf value in x-csrf-token)",
            ));
        }
    }
    Ok(Caller {
        admin,
        session: Some(session),
    })
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Admin(caller.admin.clone()));
        }
        authenticate(state, &parts.headers, &parts.method).map(|c| Admin(c.admin))
    }
}

impl Admin {
    pub(crate) fn require(&self, permission: Permission) -> Result<(), Problem> {
        if self.0.role.allows(permission) {
            Ok(())
        } else {
            Err(forbidden(&self.0, permission))
        }
    }
}

/// The 403 for a role without a permission.
pub(crate) fn forbidden(admin: &Administrator, permission: Permission) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        format!(
            "administrator {} ({}) may not do this: it needs the {} permission",
            admin.login,
            admin.role.as_str(),
            permission.as_str()
        ),
    )
}
