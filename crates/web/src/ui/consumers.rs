//! Consumers: the internal and external user lists (paged, 50 a page, searched by address or
//! name through `GET /api/v1/users?offset=&limit=&q=&kind=`), adding a user, a user's page with
//! their keys, and deleting a user after a confirmation.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;

use super::forms::confirm_page;
use super::forms::{FlashQuery, csrf_refused, done, enc, failed, may, text, unavailable, when};
use super::page;
use super::widgets::{Action, CsrfForm, Posted, field, post_button, read, token};
use super::{UiAdmin, api_call, csrf_field, csrf_ok};
use crate::AppState;

/// Users per page.
pub const PAGE_SIZE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/consumers/internal", get(internal))
        .route("/consumers/external", get(external))
        .route("/consumers/{kind}/add", post(add))
        .route("/consumers/user/{email}", get(user))
        .route(
            "/consumers/user/{email}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/consumers/user/{email}/keys", post(add_key))
        .route(
            "/consumers/user/{email}/keys/{fingerprint}/revoke",
            post(revoke_key),
        )
        .route(
            "/consumers/user/{email}/keys/{fingerprint}/delete",
            get(confirm_delete_key).post(delete_key),
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    /// 1-based page number.
    page: Option<usize>,
    done: Option<String>,
    error: Option<String>,
}

async fn internal(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Markup {
    list(&s, &who, Kind::Internal, query).await
}

async fn external(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Markup {
    list(&s, &who, Kind::External, query).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Internal,
    External,
}

impl Kind {
    fn api(self) -> &'static str {
        match self {
            Kind::Internal => "internal",
            Kind::External => "external",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Internal => "/consumers/internal",
            Kind::External => "/consumers/external",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Internal => "Internal users",
            Kind::External => "External users",
        }
    }
}

/// The list page of one kind: search, the page of users, the pager and the add form.
async fn list(s: &AppState, who: &UiAdmin, kind: Kind, query: ListQuery) -> Markup {
    let flash = FlashQuery {
        done: query.done.clone(),
        error: query.error.clone(),
    }
    .flash();
    let page_no = query.page.unwrap_or(1).max(1);
    let offset = (page_no - 1) * PAGE_SIZE;
    let path = format!(
        "/api/v1/users?kind={}&offset={offset}&limit={PAGE_SIZE}&q={}",
        kind.api(),
        enc(query.q.trim())
    );
    let answer = api_call(s, &who.session, Method::GET, &path, None).await;
    let can_add = may(who, Permission::AddUsers);
    let body = html! {
        form.search method="get" action=(kind.path()) {
            label for="q" { "Search by address or name" }
            input #q type="text" name="q" value=(query.q) placeholder="alice@example.com";
            " " button type="submit" { "Search" }
            @if !query.q.is_empty() { " " a href=(kind.path()) { "Clear" } }
        }
        @match &answer {
            Err(p) => (unavailable("The users", p)),
            Ok(v) => (table(who, kind, v, &query.q, page_no)),
        }
        (add_form(who, kind, can_add))
    };
    page(kind.title(), kind.path(), who, flash, body)
}

fn table(who: &UiAdmin, kind: Kind, v: &Value, q: &str, page_no: usize) -> Markup {
    let total = v["total"].as_u64().unwrap_or(0) as usize;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let first = (page_no - 1) * PAGE_SIZE;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let link = |n: usize| {
        let mut l = format!("{}?page={n}", kind.path());
        if !q.is_empty() {
            l.push_str(&format!("&q={}", enc(q)));
        }
        l
    };
    let can_delete = may(who, Permission::AddUsers);
    html! {
        p.muted.count {
            @if total == 0 { "No users" @if !q.is_empty() { " match " strong { (q) } } "." }
            @else { "Showing " (first + 1) "–" (first + items.len()) " of " strong.total { (total) } " users" @if !q.is_empty() { " matching " strong { (q) } } "." }
        }
        @if !items.is_empty() {
            table.users {
                thead { tr { th { "Address" } th { "Name" } th { "Keys" } th { "Added" } th { "" } } }
                tbody {
                    @for u in &items {
                        @let email = text(u, "email");
                        tr {
                            td { a href=(format!("/consumers/user/{}", enc(email))) { (email) } }
                            td { (text(u, "display_name")) }
                            td { (key_summary(u)) }
                            td { (when(u, "created_at")) }
                            td {
                                @if can_delete {
                                    a.button.small.danger href=(format!("/consumers/user/{}/delete", enc(email))) { "Delete" }
                                } @else {
                                    button.small.danger type="button" disabled { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page_no > 1 { a href=(link(1)) { "« First" } " " a rel="prev" href=(link(page_no - 1)) { "‹ Previous" } " " }
                span { "Page " (page_no) " of " (pages) }
                @if page_no < pages { " " a rel="next" href=(link(page_no + 1)) { "Next ›" } " " a href=(link(pages)) { "Last »" } }
            }
        }
    }
}

fn key_summary(u: &Value) -> Markup {
    let keys = u["keys"].as_array().cloned().unwrap_or_default();
    html! {
        @if keys.is_empty() { span.muted { "none" } }
        @for k in &keys {
            span.badge title=(text(k, "fingerprint")) {
                (text(k, "mode")) " " (short_fingerprint(text(k, "fingerprint")))
                @if k["revoked_at"].is_u64() { " (revoked)" }
            }
            " "
        }
    }
}

/// The last 16 hex digits: the long key ID people compare.
fn short_fingerprint(fp: &str) -> &str {
    fp.get(fp.len().saturating_sub(16)..).unwrap_or(fp)
}

fn add_form(who: &UiAdmin, kind: Kind, allowed: bool) -> Markup {
    html! {
        section.add {
            h2 { "Add " (kind.title().to_lowercase().trim_end_matches('s')) }
            @if !allowed { p.muted { "Your role may not add users." } }
            form method="post" action=(format!("/consumers/{}/add", kind.api())) {
                (csrf_field(&who.session))
                fieldset disabled[!allowed] {
                    label for="email" { "Email address" }
                    input #email type="email" name="email" required;
                    label for="display_name" { "Display name (optional)" }
                    input #display_name type="text" name="display_name";
                    @if kind == Kind::Internal {
                        label for="key_mode" { "Key" }
                        select #key_mode name="key_mode" {
                            option value="SKM" selected { "Server Key Mode: the server generates and holds the key" }
                            option value="none" { "No key for now" }
                        }
                        label for="algorithm" { "Algorithm of a generated key" }
                        select #algorithm name="algorithm" {
                            option value="cv25519" selected { "Curve25519 (default)" }
                            option value="rsa3072" { "RSA 3072" }
                            option value="rsa4096" { "RSA 4096" }
                        }
                    } @else {
                        label for="key" { "The user's public key, armored (optional: Client Key Mode)" }
                        textarea #key name="key" rows="4" placeholder="-----BEGIN PGP PUBLIC KEY BLOCK-----" {}
                    }
                    p { button type="submit" { "Add user" } }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: String,
    email: String,
    #[serde(default)]
    display_name: String,
    key_mode: Option<String>,
    algorithm: Option<String>,
    key: Option<String>,
}

async fn add(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    Form(form): Form<AddForm>,
) -> Response {
    if !csrf_ok(&who.session, &form.csrf) {
        return csrf_refused();
    }
    let kind = if kind == "external" {
        Kind::External
    } else {
        Kind::Internal
    };
    let mut body = json!({
        "email": form.email.trim(),
        "kind": kind.api(),
        "display_name": form.display_name.trim(),
    });
    match kind {
        Kind::Internal => {
            if form.key_mode.as_deref() == Some("none") {
                body["no_key"] = json!(true);
            } else {
                body["key_mode"] = json!(form.key_mode.as_deref().unwrap_or("SKM"));
                body["algorithm"] = json!(form.algorithm.as_deref().unwrap_or("cv25519"));
            }
        }
        Kind::External => match form.key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => {
                body["key"] = json!(k);
                body["key_mode"] = json!("CKM");
            }
            _ => body["no_key"] = json!(true),
        },
    }
    match api_call(&s, &who.session, Method::POST, "/api/v1/users", Some(&body)).await {
        Ok(v) => done(
            &format!("{}?q={}", kind.path(), enc(text(&v, "email"))),
            &format!("User {} added.", text(&v, "email")),
        ),
        Err(p) => failed(
            kind.path(),
            &format!("The user was not added: {}", p.detail),
        ),
    }
}

async fn user(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(email): Path<String>,
    Query(flash): Query<FlashQuery>,
) -> Markup {
    let answer = read(&s, &who, &format!("/api/v1/users/{}", enc(&email))).await;
    let current = match answer.as_ref().map(|u| text(u, "kind")) {
        Ok("external") => Kind::External.path(),
        _ => Kind::Internal.path(),
    };
    let body = match &answer {
        Err(p) => unavailable("This user", p),
        Ok(u) => html! {
            dl.facts {
                dt { "Address" } dd { (text(u, "email")) }
                dt { "Kind" } dd { (text(u, "kind")) }
                dt { "Display name" } dd { (text(u, "display_name")) }
                dt { "Added" } dd { (when(u, "created_at")) }
            }
            h2 { "Keys" }
            (keys_table(&who, &email, u))
            (add_key_form(&who, &email, text(u, "kind") == "external"))
            p {
                @if may(&who, Permission::AddUsers) {
                    a.button.danger href=(format!("/consumers/user/{}/delete", enc(&email))) { "Delete this user" }
                } @else {
                    button.danger type="button" disabled { "Delete this user" }
                }
            }
        },
    };
    page(&format!("User {email}"), current, &who, flash.flash(), body)
}

fn keys_table(who: &UiAdmin, email: &str, u: &Value) -> Markup {
    let keys = u["keys"].as_array().cloned().unwrap_or_default();
    let allowed = may(who, Permission::ManageUsers);
    let key_path = |k: &Value, action: &str| {
        format!(
            "/consumers/user/{}/keys/{}/{action}",
            enc(email),
            enc(text(k, "fingerprint"))
        )
    };
    html! {
        @if keys.is_empty() { p.muted { "This user has no key." } }
        @else {
            table.keys {
                thead { tr { th { "Fingerprint" } th { "Mode" } th { "Algorithm" } th { "User IDs" } th { "Created" } th { "State" } th { "Actions" } } }
                tbody {
                    @for k in &keys {
                        tr {
                            td { code { (text(k, "fingerprint")) } }
                            td { (text(k, "mode")) @if k["server_holds_private_key"] == true { br; span.muted { "server holds the private key" } } }
                            td { (k["info"]["algorithm"].as_str().unwrap_or("")) }
                            td { @for id in k["info"]["user_ids"].as_array().cloned().unwrap_or_default() { (id.as_str().unwrap_or("")) br; } }
                            td { (when(k, "created_at")) }
                            td {
                                @if k["revoked_at"].is_u64() { span.badge.bad { "revoked" } }
                                @else { span.badge.ok { "valid" } }
                                @if k["organization_certified"] == true { " " span.badge { "certified by the Organization Key" } }
                            }
                            td {
                                @if !k["revoked_at"].is_u64() {
                                    (post_button(&who.session, &key_path(k, "revoke"), "Revoke", "small danger", !allowed))
                                }
                                @if allowed {
                                    a.button.small.danger href=(key_path(k, "delete")) { "Delete" }
                                } @else {
                                    button.small.danger type="button" disabled { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adding a key: a new server-generated key (SKM, replacing the one mail uses) or the user's
/// own public key (CKM, GKM or SCKM, armored).
fn add_key_form(who: &UiAdmin, email: &str, external: bool) -> Markup {
    let allowed = may(who, Permission::ManageUsers);
    html! {
        form.add-key method="post" action=(format!("/consumers/user/{}/keys", enc(email))) {
            (csrf_field(&who.session))
            h3 { "Add a key" }
            label for="key-mode" { "Key mode" }
            select #key-mode name="mode" disabled[!allowed] {
                @if !external { option value="SKM" selected { "SKM: the server generates a new key" } }
                option value="CKM" { "CKM: the user's own key (public key below)" }
                option value="GKM" { "GKM: the user's own key, kept by the user" }
                @if !external { option value="SCKM" { "SCKM: the user's key pair (below)" } }
            }
            label for="key-algorithm" { "Algorithm (generated keys)" }
            select #key-algorithm name="algorithm" disabled[!allowed] {
                option value="" selected { "cv25519 (default)" }
                option value="rsa2048" { "rsa2048" }
                option value="rsa3072" { "rsa3072" }
                option value="rsa4096" { "rsa4096" }
            }
            label for="key-text" { "Key (armored; leave empty to generate)" }
            textarea #key-text name="key" rows="6" disabled[!allowed] {}
            div.buttons { button type="submit" disabled[!allowed] { "Add key" } }
        }
    }
}

async fn add_key(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(email): Path<String>,
    Form(f): Form<Posted>,
) -> Response {
    let back = format!("/consumers/user/{}", enc(&email));
    let key = Some(field(&f, "key")).filter(|k| !k.is_empty());
    let algorithm = Some(field(&f, "algorithm")).filter(|a| !a.is_empty());
    let mode = Some(field(&f, "mode")).filter(|m| !m.is_empty());
    Action::new(
        Method::POST,
        format!("/api/v1/users/{}/keys", enc(&email)),
        &back,
    )
    .body(json!({ "mode": mode, "algorithm": algorithm, "key": key }))
    .refusal("No key was added: ")
    .run_with(&s, &who, token(&f), |k| {
        format!("Key {} added.", text(k, "fingerprint"))
    })
    .await
}

async fn revoke_key(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((email, fingerprint)): Path<(String, String)>,
    Form(f): Form<Posted>,
) -> Response {
    let back = format!("/consumers/user/{}", enc(&email));
    Action::new(
        Method::POST,
        format!(
            "/api/v1/users/{}/keys/{}/revoke",
            enc(&email),
            enc(&fingerprint)
        ),
        &back,
    )
    .refusal("The key was not revoked: ")
    .run(&s, &who, token(&f), &format!("Key {fingerprint} revoked."))
    .await
}

async fn confirm_delete_key(
    who: UiAdmin,
    Path((email, fingerprint)): Path<(String, String)>,
) -> Markup {
    let back = format!("/consumers/user/{}", enc(&email));
    confirm_page(
        &who,
        "Delete key",
        "/consumers/internal",
        &format!(
            "Delete key {fingerprint} of {email}? The server forgets it (and its private key, if it holds one). Revoking instead keeps a record."
        ),
        &format!(
            "/consumers/user/{}/keys/{}/delete",
            enc(&email),
            enc(&fingerprint)
        ),
        &back,
    )
}

async fn delete_key(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((email, fingerprint)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let back = format!("/consumers/user/{}", enc(&email));
    Action::new(
        Method::DELETE,
        format!("/api/v1/users/{}/keys/{}", enc(&email), enc(&fingerprint)),
        &back,
    )
    .unless_confirmed(
        form.confirmed(),
        "The key was not deleted: the deletion was not confirmed.",
    )
    .refusal("The key was not deleted: ")
    .run(&s, &who, &form.csrf, &format!("Key {fingerprint} deleted."))
    .await
}

async fn confirm_delete(who: UiAdmin, Path(email): Path<String>) -> Markup {
    let back = format!("/consumers/user/{}", enc(&email));
    confirm_page(
        &who,
        "Delete user",
        "/consumers/internal",
        &format!(
            "Delete the user {email} and every key the server holds for them? This cannot be undone."
        ),
        &format!("/consumers/user/{}/delete", enc(&email)),
        &back,
    )
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirmed: String,
}

async fn delete(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(email): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if !csrf_ok(&who.session, &form.csrf) {
        return csrf_refused();
    }
    let back = format!("/consumers/user/{}", enc(&email));
    if form.confirmed != "yes" {
        return failed(
            &back,
            "The user was not deleted: the deletion was not confirmed.",
        );
    }
    let kind = read(&s, &who, &format!("/api/v1/users/{}", enc(&email)))
        .await
        .map(|u| {
            if text(&u, "kind") == "external" {
                Kind::External
            } else {
                Kind::Internal
            }
        })
        .unwrap_or(Kind::Internal);
    match api_call(
        &s,
        &who.session,
        Method::DELETE,
        &format!("/api/v1/users/{}", enc(&email)),
        None,
    )
    .await
    {
        Ok(_) => done(kind.path(), &format!("User {email} deleted.")),
        Err(p) => failed(&back, &format!("The user was not deleted: {}", p.detail)),
    }
    .into_response()
}
