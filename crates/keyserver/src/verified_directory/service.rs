//! The Verified Directory on the public web listener: `/vd/` (search, submit, removal, the
//! mailed links) and HKP `/pks/add`, which goes through the same submission ("uploads only
//! through the Verified Directory"). What it reads and writes goes through [`VdBackend`].
//!
//! Mailed links open a page with one button; the change happens on its POST, so that a mail
//! scanner that follows links confirms or removes nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sequoia_openpgp::Cert;
use signet_model::{VdEntry, VdSettings, VdToken, VdTokenPurpose};

use super::certify::{MAX_KEY_BYTES, PublishError, parse_submission};
use super::entry::{self, TokenSource, Update, VdRefusal};
use super::{form, pages};
use crate::directory::SharedDirectory;

pub type HttpResponse = Response<Full<Bytes>>;
/// A decision over the current state (the closure each request passes).
type Decide<'a> =
    dyn Fn(&dyn VdBackend, &mut dyn TokenSource) -> Result<Update, VdRefusal> + Sync + 'a;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The largest request body read (a key of [`MAX_KEY_BYTES`] armored and form-encoded).
pub const MAX_BODY_BYTES: usize = MAX_KEY_BYTES * 3 + 4096;

/// What the service needs from the node. Reads come from the member's applied state.
pub trait VdBackend: Send + Sync + 'static {
    fn settings(&self) -> Result<VdSettings, String>;
    fn entry(&self, fingerprint: &str) -> Result<Option<VdEntry>, String>;
    fn entries(&self) -> Result<Vec<VdEntry>, String>;
    fn token(&self, sha256_hex: &str) -> Result<Option<VdToken>, String>;
    fn tokens(&self) -> Result<Vec<VdToken>, String>;
    /// The address is in a managed domain.
    fn is_internal(&self, email: &str) -> bool;
    /// A fresh random token (URL-safe).
    fn new_token(&self) -> String;
    /// The Verified Directory Key with its secret (made when the service was enabled).
    fn vd_key(&self) -> Result<Cert, PublishError>;
    /// Whether mail can be sent (a mail queue runs on this member).
    fn can_mail(&self) -> bool;
    /// Commits the update; `Err(Conflict)` when an entry changed meanwhile.
    fn commit(&self, update: &Update) -> BoxFuture<'_, Result<(), CommitError>>;
    /// Sends the update's mails, links under `base_url`.
    fn send_mails(&self, update: &Update, base_url: &str) -> Result<(), String>;
    /// Where links point when the settings name no Public URL. Never the request's Host
    /// header: a forged one would send the owner's token to someone else's server.
    fn default_base_url(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    #[error("changed meanwhile")]
    Conflict,
    #[error("{0}")]
    Other(String),
}

struct Tokens<'a>(&'a dyn VdBackend);

impl TokenSource for Tokens<'_> {
    fn token(&mut self) -> String {
        self.0.new_token()
    }
}

/// The request handler for `/vd/...` and `/pks/add`.
#[derive(Clone)]
pub struct VdService {
    backend: Arc<dyn VdBackend>,
    directory: SharedDirectory,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    respond(status, "text/html; charset=utf-8", body)
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", format!("{body}\n"))
}

/// How an outcome is shown: HTML pages, or plain text for HKP clients.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Page,
    Hkp,
}

fn shown(style: Style, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    match style {
        Style::Page => html(status, pages::message(title, message)),
        Style::Hkp => text(status, message),
    }
}

fn unavailable(style: Style, why: &str) -> HttpResponse {
    tracing::warn!(
        reason = why,
        "Verified Directory request could not be answered"
    );
    shown(
        style,
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The Verified Directory cannot answer right now. Please try again later.",
    )
}

fn refused(style: Style, r: &VdRefusal) -> HttpResponse {
    let status = match r {
        VdRefusal::UnknownToken | VdRefusal::NotFound(_) => StatusCode::NOT_FOUND,
        VdRefusal::ExpiredToken(_) => StatusCode::GONE,
        VdRefusal::NoAddress | VdRefusal::NotAllowed(_) => StatusCode::BAD_REQUEST,
    };
    shown(style, status, "Not done", &r.to_string())
}

/// Tokens are URL-safe base64 of 32 random bytes; anything else is not looked up.
fn plausible_token(t: &str) -> bool {
    (16..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl VdService {
    pub fn new(backend: Arc<dyn VdBackend>, directory: SharedDirectory) -> Self {
        VdService { backend, directory }
    }

    /// Whether this service answers `path` (the caller routes everything else).
    pub fn serves(path: &str) -> bool {
        path == "/pks/add" || path == "/vd" || path.starts_with("/vd/")
    }

    /// Answers one request; `None` when the Verified Directory is disabled (the caller's own
    /// answer stands).
    pub async fn handle<B>(&self, req: Request<B>) -> Option<HttpResponse>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let settings = match self.backend.settings() {
            Ok(s) => s,
            Err(e) => return Some(unavailable(Style::Page, &e)),
        };
        if !settings.enabled {
            return None;
        }
        let path = req.uri().path().to_string();
        let style = if path == "/pks/add" {
            Style::Hkp
        } else {
            Style::Page
        };
        if settings.paused {
            return Some(shown(
                style,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The Verified Directory is paused. Please try again later.",
            ));
        }
        let base = settings
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.backend.default_base_url());
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or("").to_string();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let get = matches!(method, Method::GET | Method::HEAD);
        let post = method == Method::POST;
        let body = if post {
            match Limited::new(req.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Some(shown(
                        style,
                        StatusCode::BAD_REQUEST,
                        "Too large",
                        &format!(
                            "The request is too large: keys up to {} KiB are accepted.",
                            MAX_KEY_BYTES / 1024
                        ),
                    ));
                }
            }
        } else {
            Bytes::new()
        };
        let fields = if let Some(b) = form::boundary(&content_type) {
            form::multipart(&body, &b)
        } else {
            form::urlencoded(&body)
        };
        let resp = match (path.as_str(), get, post) {
            ("/vd" | "/vd/", true, _) => html(StatusCode::OK, pages::home()),
            ("/vd/search", true, _) => self.search(&query, &settings),
            ("/vd/submit", _, true) | ("/pks/add", _, true) => {
                let key = form::field(&fields, &["keytext", "keyfile"]).unwrap_or(&[]);
                self.submit(key, &settings, &base, style).await
            }
            ("/vd/remove", true, _) => html(StatusCode::OK, pages::home()),
            ("/vd/remove", _, true) => {
                let email = form::field(&fields, &["email"])
                    .map(|e| String::from_utf8_lossy(e).trim().to_string())
                    .unwrap_or_default();
                self.request_removal(&email, &settings, &base).await
            }
            (p, _, _) if p.starts_with("/vd/confirm/") || p.starts_with("/vd/remove/") => {
                let removal = p.starts_with("/vd/remove/");
                let token = p.rsplit('/').next().unwrap_or("");
                if get {
                    self.link_page(token, removal, &settings)
                } else if post {
                    self.follow_link(token, removal, &settings).await
                } else {
                    text(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST")
                }
            }
            ("/pks/add", _, false) => text(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
            _ => html(
                StatusCode::NOT_FOUND,
                pages::message("Not found", "There is no such page."),
            ),
        };
        Some(resp)
    }

    fn search(&self, query: &str, settings: &VdSettings) -> HttpResponse {
        let q = form::urlencoded(query.as_bytes())
            .into_iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| String::from_utf8_lossy(&v).trim().to_string())
            .unwrap_or_default();
        if q.chars().count() < 3 || q.len() > 256 {
            return html(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Search",
                    "Search for at least 3 and at most 256 characters.",
                ),
            );
        }
        let limit = settings.max_search_results.clamp(1, 1000) as usize;
        let dir = self.directory.snapshot();
        let needle = q.trim_start_matches("0x").to_ascii_uppercase();
        let mut keys = dir.search(&q, limit);
        if keys.is_empty() && needle.len() >= 8 && needle.bytes().all(|b| b.is_ascii_hexdigit()) {
            keys = if needle.len() >= 40 {
                dir.by_fingerprint(&needle).into_iter().collect()
            } else {
                dir.by_key_id(&needle)
            };
            keys.truncate(limit);
        }
        html(StatusCode::OK, pages::results(&q, &keys, limit))
    }

    /// Runs `decide` against the current state and commits it, again when another member
    /// changed the same entry meanwhile.
    async fn decide_and_commit(
        &self,
        settings: &VdSettings,
        decide: &Decide<'_>,
    ) -> Result<Result<Update, VdRefusal>, String> {
        for _ in 0..3 {
            let mut tokens = Tokens(&*self.backend);
            let mut update = match decide(&*self.backend, &mut tokens) {
                Ok(u) => u,
                Err(r) => return Ok(Err(r)),
            };
            let backend = &*self.backend;
            super::finish(
                &mut update,
                &|f| backend.entry(f).ok().flatten(),
                &|| backend.vd_key(),
                settings,
                now(),
            )
            .map_err(|e| e.to_string())?;
            if update.is_empty() {
                return Ok(Ok(update));
            }
            match self.backend.commit(&update).await {
                Ok(()) => return Ok(Ok(update)),
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Other(e)) => return Err(e),
            }
        }
        Err("the entry kept changing".into())
    }

    async fn submit(
        &self,
        key: &[u8],
        settings: &VdSettings,
        base: &str,
        style: Style,
    ) -> HttpResponse {
        if !self.backend.can_mail() {
            return unavailable(style, "no mail queue runs on this member to send VD mail");
        }
        let stored_fpr = match parse_submission(key, None) {
            Ok(s) => s.fingerprint,
            Err(e) => {
                return shown(
                    style,
                    StatusCode::BAD_REQUEST,
                    "Key refused",
                    &e.to_string(),
                );
            }
        };
        let at = now();
        let outcome = self
            .decide_and_commit(settings, &|b, tokens| {
                let stored = b.entry(&stored_fpr).map_err(VdRefusal::NotFound)?;
                let sub = parse_submission(key, stored.as_ref().map(|e| e.certificate.as_slice()))
                    .map_err(|e| VdRefusal::NotFound(e.to_string()))?;
                entry::submit(
                    stored.as_ref(),
                    sub,
                    settings,
                    &|a| b.is_internal(a),
                    at,
                    tokens,
                )
            })
            .await;
        let update = match outcome {
            Ok(Ok(u)) => u,
            Ok(Err(r)) => return refused(style, &r),
            Err(e) => return unavailable(style, &e),
        };
        if let Err(e) = self.backend.send_mails(&update, base) {
            return unavailable(style, &e);
        }
        let Some(entry) = update.put.first() else {
            return unavailable(style, "the submission produced no entry");
        };
        let asked: Vec<&str> = update.mails.iter().map(|m| m.to.as_str()).collect();
        let message = if asked.is_empty() {
            format!(
                "Key {} received. No new confirmation mail was sent: one went out recently for each address that is still unconfirmed.",
                entry.fingerprint
            )
        } else {
            format!(
                "Key {} received. A confirmation link was mailed to: {}. Only the addresses whose owner follows the link are published.",
                entry.fingerprint,
                asked.join(", ")
            )
        };
        shown(style, StatusCode::OK, "Key received", &message)
    }

    async fn request_removal(
        &self,
        email: &str,
        settings: &VdSettings,
        base: &str,
    ) -> HttpResponse {
        if !email.contains('@') || email.len() > 254 || email.contains(['<', '>', ' ']) {
            return html(
                StatusCode::BAD_REQUEST,
                pages::message("Removal", "Give the email address of your key."),
            );
        }
        if !self.backend.can_mail() {
            return unavailable(
                Style::Page,
                "no mail queue runs on this member to send VD mail",
            );
        }
        let at = now();
        let outcome = self
            .decide_and_commit(settings, &|b, tokens| {
                let entries = b.entries().map_err(VdRefusal::NotFound)?;
                let open = b.tokens().map_err(VdRefusal::NotFound)?;
                Ok(entry::request_removal(
                    &entries, email, &open, settings, at, tokens,
                ))
            })
            .await;
        match outcome {
            Ok(Ok(update)) => {
                if let Err(e) = self.backend.send_mails(&update, base) {
                    return unavailable(Style::Page, &e);
                }
                html(
                    StatusCode::OK,
                    pages::message(
                        "Removal requested",
                        "If a key with this address is in the directory, a removal link was mailed to the address. Follow it to remove the key.",
                    ),
                )
            }
            Ok(Err(r)) => refused(Style::Page, &r),
            Err(e) => unavailable(Style::Page, &e),
        }
    }

    fn lookup_token(
        &self,
        token: &str,
        removal: bool,
    ) -> Result<Result<VdToken, VdRefusal>, String> {
        if !plausible_token(token) {
            return Ok(Err(VdRefusal::UnknownToken));
        }
        let want = if removal {
            VdTokenPurpose::Remove
        } else {
            VdTokenPurpose::Confirm
        };
        Ok(match self.backend.token(&entry::digest(token))? {
            Some(t) if t.purpose == want => Ok(t),
            _ => Err(VdRefusal::UnknownToken),
        })
    }

    fn link_page(&self, token: &str, removal: bool, settings: &VdSettings) -> HttpResponse {
        let t = match self.lookup_token(token, removal) {
            Ok(Ok(t)) => t,
            Ok(Err(r)) => return refused(Style::Page, &r),
            Err(e) => return unavailable(Style::Page, &e),
        };
        if !entry::token_valid(t.issued_at, settings, now()) {
            return refused(
                Style::Page,
                &VdRefusal::ExpiredToken(settings.token_validity_hours),
            );
        }
        let action = format!("/vd/{}/{token}", if removal { "remove" } else { "confirm" });
        let page = if removal {
            pages::confirm_form(
                "Remove your key",
                &format!(
                    "Remove every key with the address {} from the Verified Directory?",
                    t.email
                ),
                &action,
                "Remove",
            )
        } else {
            pages::confirm_form(
                "Confirm your address",
                &format!(
                    "Publish the address {} on the key {}?",
                    t.email,
                    t.fingerprint.as_deref().unwrap_or("")
                ),
                &action,
                "Confirm",
            )
        };
        html(StatusCode::OK, page)
    }

    async fn follow_link(&self, token: &str, removal: bool, settings: &VdSettings) -> HttpResponse {
        let t = match self.lookup_token(token, removal) {
            Ok(Ok(t)) => t,
            Ok(Err(r)) => return refused(Style::Page, &r),
            Err(e) => return unavailable(Style::Page, &e),
        };
        let at = now();
        let outcome = self
            .decide_and_commit(settings, &|b, _| {
                if removal {
                    let entries = b.entries().map_err(VdRefusal::NotFound)?;
                    entry::confirm_removal(&t, &entries, settings, at)
                } else {
                    let fpr = t.fingerprint.clone().unwrap_or_default();
                    let stored = b.entry(&fpr).map_err(VdRefusal::NotFound)?;
                    entry::confirm(&t, stored.as_ref(), settings, at)
                }
            })
            .await;
        let update = match outcome {
            Ok(Ok(u)) => u,
            Ok(Err(r)) => return refused(Style::Page, &r),
            Err(e) => return unavailable(Style::Page, &e),
        };
        let (title, message) = if removal {
            (
                "Key removed",
                format!(
                    "{} key(s) with the address {} were removed from the Verified Directory.",
                    update.remove.len(),
                    t.email
                ),
            )
        } else {
            let published = update
                .put
                .first()
                .is_some_and(|e| e.served_emails().any(|a| a == t.email));
            (
                "Address confirmed",
                if published {
                    format!(
                        "Thank you. The address {} is published with your key.",
                        t.email
                    )
                } else {
                    format!(
                        "Thank you. The address {} is confirmed; an administrator approves it before it is published.",
                        t.email
                    )
                },
            )
        };
        html(StatusCode::OK, pages::message(title, &message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{KeyFacts, PublishedKey};

    /// Nothing but settings: the search reads only the directory.
    struct NoStore;

    impl VdBackend for NoStore {
        fn settings(&self) -> Result<VdSettings, String> {
            Ok(VdSettings::default())
        }
        fn entry(&self, _: &str) -> Result<Option<VdEntry>, String> {
            Ok(None)
        }
        fn entries(&self) -> Result<Vec<VdEntry>, String> {
            Ok(Vec::new())
        }
        fn token(&self, _: &str) -> Result<Option<VdToken>, String> {
            Ok(None)
        }
        fn tokens(&self) -> Result<Vec<VdToken>, String> {
            Ok(Vec::new())
        }
        fn is_internal(&self, _: &str) -> bool {
            false
        }
        fn new_token(&self) -> String {
            "t".repeat(20)
        }
        fn vd_key(&self) -> Result<Cert, PublishError> {
            Err(PublishError::SigningKey("none".into()))
        }
        fn can_mail(&self) -> bool {
            false
        }
        fn commit(&self, _: &Update) -> BoxFuture<'_, Result<(), CommitError>> {
            Box::pin(async { Err(CommitError::Other("read-only".into())) })
        }
        fn send_mails(&self, _: &Update, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn default_base_url(&self) -> String {
            "http://127.0.0.1".into()
        }
    }

    #[test]
    fn search_shows_at_most_the_configured_number_of_keys() {
        let directory = SharedDirectory::new();
        for i in 0..30u32 {
            let email = format!("user{i}@ext.test");
            let facts = KeyFacts {
                fingerprint: format!("{i:040X}"),
                user_ids: vec![format!("User {i} <{email}>")],
                emails: vec![email.clone()],
                algorithm: 22,
                bits: 256,
                created: 1,
                public: std::sync::Arc::from(vec![0u8].as_slice()),
                ..KeyFacts::default()
            };
            let key = PublishedKey::new(facts).unwrap_or_else(|e| panic!("{e}"));
            directory.set_owner(&email, vec![key], Vec::new());
        }
        let service = VdService::new(Arc::new(NoStore), directory);
        let settings = VdSettings::default();
        let page = service.search("q=test", &settings);
        assert_eq!(page.status(), StatusCode::OK);
        let body = format!("{:?}", page.body());
        assert_eq!(body.matches("<li><a href").count(), 25, "{body}");
        assert!(body.contains("at most 25"));
        let short = service.search("q=ab", &settings);
        assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    }
}
