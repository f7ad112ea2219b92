//! The shape every data page's POST handler shares: read the form's CSRF token, make one API
//! call on the administrator's behalf, and go back to the page with a done or error message
//! (Post/Redirect/Get); and the one-button forms and API reads the pages are made of. Page
//! files say only the call, the page and the words.

use std::collections::HashMap;

use axum::http::Method;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::forms::{csrf_refused, done, failed};
use super::{UiAdmin, api_call, csrf_field, csrf_ok};
use crate::session::Session;
use crate::{AppState, Problem};

/// A posted form read as name → value, for forms whose fields vary.
pub type Posted = HashMap<String, String>;

/// A posted field, trimmed; "" when absent.
pub fn field(f: &Posted, name: &str) -> String {
    f.get(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The CSRF token of a posted form read as a map.
pub fn token(f: &Posted) -> &str {
    f.get("csrf").map(String::as_str).unwrap_or("")
}

/// Reads `path` from the API as the administrator.
pub async fn read(s: &AppState, who: &UiAdmin, path: &str) -> Result<Value, Problem> {
    api_call(s, &who.session, Method::GET, path, None).await
}

/// A one-button form posting to `action`, as table rows carry them (`class`: "small",
/// "small danger", "danger" or "").
pub fn post_button(
    session: &Session,
    action: &str,
    label: &str,
    class: &str,
    disabled: bool,
) -> Markup {
    let class = (!class.is_empty()).then_some(class);
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(session)) button class=[class] type="submit" disabled[disabled] { (label) }
        }
    }
}

/// A posted form that carries nothing but the CSRF token and, on confirmation pages, `confirmed`.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirmed: String,
}

impl CsrfForm {
    /// True when the administrator pressed the confirmation page's "Yes, go ahead".
    pub fn confirmed(&self) -> bool {
        self.confirmed == "yes"
    }
}

/// One API call made from a posted form, and the page its answer goes back to.
pub struct Action<'a> {
    method: Method,
    path: String,
    body: Option<Value>,
    back: &'a str,
    refusal: String,
    unconfirmed: Option<&'a str>,
}

impl<'a> Action<'a> {
    /// Calls `method path` and redirects to `back`.
    pub fn new(method: Method, path: impl Into<String>, back: &'a str) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            back,
            refusal: String::new(),
            unconfirmed: None,
        }
    }

    /// The JSON body sent with the call.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Words put before the API's own message when it refuses (e.g. "Nothing was removed: ").
    pub fn refusal(mut self, prefix: impl Into<String>) -> Self {
        self.refusal = prefix.into();
        self
    }

    /// Makes no call unless `confirmed`; goes back with `message` instead (after the CSRF check,
    /// so a forged post is refused as such).
    pub fn unless_confirmed(mut self, confirmed: bool, message: &'a str) -> Self {
        if !confirmed {
            self.unconfirmed = Some(message);
        }
        self
    }

    /// Checks `csrf`, makes the call and goes back with `ok`.
    pub async fn run(self, s: &AppState, who: &UiAdmin, csrf: &str, ok: &str) -> Response {
        self.run_with(s, who, csrf, |_| ok.to_string()).await
    }

    /// Checks `csrf`, makes the call and goes back with the message `ok` makes of the answer.
    pub async fn run_with(
        self,
        s: &AppState,
        who: &UiAdmin,
        csrf: &str,
        ok: impl FnOnce(&Value) -> String,
    ) -> Response {
        if !csrf_ok(&who.session, csrf) {
            return csrf_refused();
        }
        if let Some(message) = self.unconfirmed {
            return failed(self.back, message);
        }
        match api_call(s, &who.session, self.method, &self.path, self.body.as_ref()).await {
            Ok(answer) => done(self.back, &ok(&answer)),
            Err(p) => failed(self.back, &format!("{}{}", self.refusal, p.detail)),
        }
    }
}
