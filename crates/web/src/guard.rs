//! The authorization middleware on every `/api/v1` route (an axum `route_layer`, so it runs
//! after routing and BEFORE the handler's extractors): it finds the route in
//! [`crate::route_table`], authenticates the caller, enforces the session rules (CSRF, a
//! passphrase that must be changed first) and the role's permission, then runs the handler and
//! records a successful change in the audit log. A route missing from the table is refused.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use signet_store::now_millis;

use crate::auth::{authenticate, changes_state, forbidden};
use crate::route_table::{self, Access};
use crate::{AppState, Problem, audit};

/// Bodies up to this size are read for the audit summary; larger ones are described by size.
const SUMMARY_BODY_LIMIT: u64 = 256 * 1024;

/// The paths a session with a passphrase to change may still use.
fn allowed_while_changing(method: &Method, pattern: &str) -> bool {
    (method == Method::GET && pattern == "/api/v1/session")
        || (method == Method::PUT && pattern == "/api/v1/administrators/{login}/passphrase")
}

pub(crate) async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let request = buffer_small_body(request).await;
    match check(&state, matched, request).await {
        Ok((request, audit)) => {
            let response = next.run(request).await;
            if let Some(mut entry) = audit
                && response.status().is_success()
            {
                entry.status = response.status().as_u16();
                audit::record(state.node.data_dir().root(), &entry);
            }
            response
        }
        Err(problem) => problem.into_response(),
    }
}

/// Reads a small body before anything is decided, so a refusal never leaves an unread request
/// body behind (HTTP/2 would then reset the stream, which some clients report as an error).
async fn buffer_small_body(request: Request) -> Request {
    let small = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= SUMMARY_BODY_LIMIT);
    if !small {
        return request;
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, SUMMARY_BODY_LIMIT as usize).await {
        Ok(bytes) => Request::from_parts(parts, Body::from(bytes)),
        Err(_) => Request::from_parts(parts, Body::empty()),
    }
}

async fn check(
    state: &AppState,
    matched: Option<MatchedPath>,
    request: Request,
) -> Result<(Request, Option<audit::AuditEntry>), Problem> {
    let method = request.method().clone();
    let pattern = matched.as_ref().map(MatchedPath::as_str).unwrap_or("");
    let Some(spec) = route_table::find(&method, pattern) else {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("{method} {pattern} has no entry in the permission table; refused"),
        ));
    };
    if spec.access == Access::Open {
        return Ok((request, None));
    }
    let caller = authenticate(state, request.headers(), &method)?;
    let path = request.uri().path().to_string();
    let is_self = route_table::path_param(spec.path, &path, "login")
        .is_some_and(|l| percent_decode(l) == caller.admin.login);
    if caller
        .session
        .as_ref()
        .is_some_and(|s| s.must_change_passphrase)
        && !(allowed_while_changing(&method, pattern) && is_self)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "your passphrase is temporary or has expired: change it first \
                 (PUT /api/v1/administrators/{}/passphrase)",
                caller.admin.login
            ),
        ));
    }
    match spec.access {
        Access::Role(p) if !caller.admin.role.allows(p) => {
            return Err(forbidden(&caller.admin, p));
        }
        Access::SelfOr(p) if !is_self && !caller.admin.role.allows(p) => {
            return Err(forbidden(&caller.admin, p));
        }
        _ => {}
    }
    let login = caller.admin.login.clone();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(caller);
    if !changes_state(&method) {
        return Ok((Request::from_parts(parts, body), None));
    }
    let small_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
        && parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n <= SUMMARY_BODY_LIMIT);
    let (body, summary) = if small_json {
        let bytes = axum::body::to_bytes(body, SUMMARY_BODY_LIMIT as usize)
            .await
            .map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            })?;
        let summary = audit::summarize(&bytes);
        (Body::from(bytes), summary)
    } else {
        let size = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(|n| format!("{n} byte body"))
            .unwrap_or_default();
        (body, size)
    };
    let entry = audit::AuditEntry {
        at: now_millis(),
        login,
        method: method.to_string(),
        path,
        status: 0,
        summary,
    };
    Ok((Request::from_parts(parts, body), Some(entry)))
}

/// Decodes `%XX` escapes in a path segment (logins are plain, but a client may escape `@`).
pub(crate) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
