//! Helpers the data pages share: the Post/Redirect/Get flash carried in the query, path
//! escaping for names that go into API paths and links, the refusal page for a bad CSRF token,
//! and small pieces of markup (a disabled attribute by permission, a confirmation form).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use signet_model::Permission;

use super::{Flash, UiAdmin, bare_page, csrf_field, page};

/// `?done=` / `?error=` after a redirect: the message shown at the top of the page.
#[derive(Debug, Default, Deserialize)]
pub struct FlashQuery {
    pub done: Option<String>,
    pub error: Option<String>,
}

impl FlashQuery {
    pub fn flash(&self) -> Option<Flash> {
        match (&self.error, &self.done) {
            (Some(e), _) => Some(Flash::Error(e.clone())),
            (None, Some(d)) => Some(Flash::Done(d.clone())),
            (None, None) => None,
        }
    }
}

/// Percent-encodes one path segment or query value (everything but RFC 3986's unreserved
/// characters), so names with spaces, slashes or `@` survive the trip into a URL.
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Redirects to `path` with a success message.
pub fn done(path: &str, message: &str) -> Response {
    Redirect::to(&with_query(path, "done", message)).into_response()
}

/// Redirects to `path` with an error message.
pub fn failed(path: &str, message: &str) -> Response {
    Redirect::to(&with_query(path, "error", message)).into_response()
}

fn with_query(path: &str, name: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{name}={}", enc(value))
}

/// The answer to a form posted without the session's CSRF token.
pub fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        bare_page(
            "Request refused",
            html! {
                p { "This form was not sent from this session's pages (its security token is missing or stale). Go back, reload the page and try again." }
                p { a href="/overview" { "Back to the overview" } }
            },
        ),
    )
        .into_response()
}

/// True when the administrator's role may do `permission`; pages render controls disabled
/// otherwise (the API refuses anyway).
pub fn may(who: &UiAdmin, permission: Permission) -> bool {
    who.admin.role.allows(permission)
}

/// A page asking to confirm a destructive action before posting it.
pub fn confirm_body(who: &UiAdmin, question: &str, action: &str, back: &str) -> Markup {
    html! {
        p { (question) }
        form method="post" action=(action) {
            (csrf_field(&who.session))
            input type="hidden" name="confirmed" value="yes";
            button.danger type="submit" { "Yes, go ahead" }
            " "
            a.button href=(back) { "Cancel" }
        }
    }
}

/// The whole page asking to confirm a destructive action (`nav`: the menu entry it belongs to).
pub fn confirm_page(
    who: &UiAdmin,
    title: &str,
    nav: &str,
    question: &str,
    action: &str,
    back: &str,
) -> Markup {
    page(
        title,
        nav,
        who,
        None,
        confirm_body(who, question, action, back),
    )
}

/// A string field of an API answer, or "".
pub fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A Unix-milliseconds field shown as a UTC date and time.
pub fn when(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_u64)
        .map(millis_to_utc)
        .unwrap_or_default()
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub fn millis_to_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let rem = secs % 86_400;
    let (y, m, d) = crate::logbook::civil_date(secs / 86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The API's message for a failed read, shown in place of the part of the page it would fill.
pub fn unavailable(what: &str, problem: &crate::Problem) -> Markup {
    html! { p.flash.error role="alert" { (what) " could not be read: " (problem.detail) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_paths() {
        assert_eq!(enc("Outbound rule 1/2"), "Outbound%20rule%201%2F2");
        assert_eq!(enc("alice@example.com"), "alice%40example.com");
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(millis_to_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(millis_to_utc(1_767_225_600_000), "2026-01-01 00:00 UTC");
    }
}
