//! Keys: the organization's keys and certificates (view, generate, import), managed keys
//! (search by address, key ID or fingerprint), trusted keys (list, add by pasting, remove), the
//! key cache (search, purge one or all, trust) and the keyservers a node uses.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;

use super::forms::{FlashQuery, confirm_page, enc, may, text, unavailable, when};
use super::page;
use super::widgets::{Action, CsrfForm, post_button, read};
use super::{UiAdmin, csrf_field};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys/organization", get(organization))
        .route("/keys/organization/{kind}/generate", post(generate))
        .route("/keys/organization/{kind}/import", post(import))
        .route("/keys/managed", get(managed))
        .route("/keys/trusted", get(trusted).post(add_trusted))
        .route("/keys/trusted/{id}/remove", post(remove_trusted))
        .route("/keys/cache", get(cache))
        .route(
            "/keys/cache/purge-all",
            get(confirm_purge_all).post(purge_all),
        )
        .route("/keys/cache/{id}/purge", post(purge_one))
        .route("/keys/cache/{id}/trust", post(trust))
        .route("/keys/keyservers", get(keyservers).post(add_keyserver))
        .route("/keys/keyservers/{name}/remove", post(remove_keyserver))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    done: Option<String>,
    error: Option<String>,
}

impl SearchQuery {
    fn flash(&self) -> Option<super::Flash> {
        FlashQuery {
            done: self.done.clone(),
            error: self.error.clone(),
        }
        .flash()
    }
}

async fn organization(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let answer = read(&s, &who, "/api/v1/organization").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "The Organization Key certifies every key the gateway manages and signs mail for the organization; the Organization Certificate does the same for S/MIME. Private keys are sealed in the replicated store and never shown." }
        @match &answer {
            Err(p) => (unavailable("The organization's keys", p)),
            Ok(v) => {
                @for item in v["items"].as_array().cloned().unwrap_or_default() {
                    (org_item(&who, &item, can))
                }
            }
        }
    };
    page(
        "Organization keys",
        "/keys/organization",
        &who,
        q.flash(),
        body,
    )
}

fn org_item(who: &UiAdmin, item: &Value, can: bool) -> Markup {
    let kind = text(item, "kind");
    let present = item["present"] != false && item.get("fingerprint").is_some();
    let certificate = kind.ends_with("certificate");
    let generatable = matches!(
        kind,
        "organization-key" | "organization-certificate" | "external-user-root-certificate"
    );
    let d = &item["details"];
    html! {
        section.card.org-item id=(kind) {
            h2 { (text(item, "title")) }
            @if present {
                dl.facts {
                    dt { "Fingerprint" } dd { code { (text(item, "fingerprint")) } }
                    @if let Some(a) = d["algorithm"].as_str() { dt { "Algorithm" } dd { (a) } }
                    @if let Some(s) = d["subject"].as_str() { dt { "Subject" } dd { (s) } }
                    @if let Some(ids) = d["user_ids"].as_array() {
                        dt { "User IDs" } dd { @for id in ids { (id.as_str().unwrap_or("")) br; } }
                    }
                    dt { "Private key held" } dd { @if item["has_private_key"] == true { "yes (sealed)" } @else { "no" } }
                    dt { "Origin" } dd { @if item["generated"] == true { "generated here" } @else { "imported" } }
                    dt { "Added" } dd { (when(item, "added_at")) }
                }
            } @else {
                p.muted { "Not set." }
            }
            @if generatable {
                form.inline method="post" action=(format!("/keys/organization/{kind}/generate")) {
                    (csrf_field(&who.session))
                    @if present {
                        label.check { input type="checkbox" name="confirmed" value="yes" disabled[!can]; " Replace the existing one (mail encrypted to it can still be decrypted)" }
                    }
                    button type="submit" disabled[!can] { @if present { "Regenerate" } @else { "Generate" } }
                }
            }
            details {
                summary { "Import" }
                form method="post" action=(format!("/keys/organization/{kind}/import")) {
                    (csrf_field(&who.session))
                    fieldset disabled[!can] {
                        label { @if certificate { "Certificate (PEM)" } @else { "Key (armored OpenPGP, with its secret key)" }
                            textarea name="key" rows="5" required {} }
                        @if certificate {
                            label { "Private key (PEM)" textarea name="private_key" rows="4" {} }
                        }
                        label { "Passphrase of the imported key (if it has one)" input type="password" name="passphrase" autocomplete="off"; }
                        @if present {
                            label.check { input type="checkbox" name="confirmed" value="yes"; " Replace the existing one" }
                        }
                        p { button type="submit" { "Import" } }
                    }
                }
            }
        }
    }
}

async fn generate(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let body = json!({ "generate": true, "confirm": f.confirmed == "yes" });
    org_write(&s, &who, &f.csrf, (&kind, body), "generated").await
}

#[derive(Debug, Deserialize)]
struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    confirmed: String,
}

async fn import(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    Form(f): Form<ImportForm>,
) -> Response {
    let mut body = json!({ "key": f.key.trim(), "confirm": f.confirmed == "yes" });
    if !f.private_key.trim().is_empty() {
        body["private_key"] = json!(f.private_key.trim());
    }
    if !f.passphrase.is_empty() {
        body["passphrase"] = json!(f.passphrase);
    }
    org_write(&s, &who, &f.csrf, (&kind, body), "imported").await
}

async fn org_write(
    s: &AppState,
    who: &UiAdmin,
    csrf: &str,
    (kind, body): (&str, Value),
    what: &str,
) -> Response {
    Action::new(
        Method::POST,
        format!("/api/v1/organization/{}", enc(kind)),
        "/keys/organization",
    )
    .body(body)
    .refusal("Nothing changed: ")
    .run_with(s, who, csrf, |v| format!("{} {what}.", text(v, "title")))
    .await
}

async fn managed(who: UiAdmin, State(s): State<AppState>, Query(q): Query<SearchQuery>) -> Markup {
    let query = q.q.trim().to_string();
    let results = if query.is_empty() {
        None
    } else {
        Some(read(&s, &who, &format!("/api/v1/keys?q={}", enc(&query))).await)
    };
    let body = html! {
        p.muted { "Keys the gateway manages for internal and external users. Find a key by address, key ID or fingerprint; a user's page lists all of their keys." }
        form.search method="get" action="/keys/managed" {
            label for="q" { "Address, key ID or fingerprint" }
            input #q type="text" name="q" value=(query);
            " " button type="submit" { "Search" }
        }
        @match &results {
            None => p.muted { "Or browse the " a href="/consumers/internal" { "internal" } " and " a href="/consumers/external" { "external" } " users." },
            Some(Err(p)) => (unavailable("The keys", p)),
            Some(Ok(v)) => {
                @let hits = v["results"].as_array().cloned().unwrap_or_default();
                @if hits.is_empty() { p { "No managed key matches " strong { (query) } "." } }
                @else {
                    table.keys {
                        thead { tr { th { "User" } th { "Kind" } th { "Mode" } th { "Fingerprint" } th { "Created" } th { "State" } } }
                        tbody {
                            @for h in &hits {
                                tr {
                                    td { a href=(format!("/consumers/user/{}", enc(text(h, "email")))) { (text(h, "email")) } }
                                    td { (text(h, "kind")) }
                                    td { (text(&h["key"], "mode")) }
                                    td { code { (text(&h["key"], "fingerprint")) } }
                                    td { (when(&h["key"], "created_at")) }
                                    td { @if h["key"]["revoked_at"].is_u64() { span.badge.bad { "revoked" } } @else { span.badge.ok { "valid" } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Managed keys", "/keys/managed", &who, q.flash(), body)
}

async fn trusted(who: UiAdmin, State(s): State<AppState>, Query(q): Query<FlashQuery>) -> Markup {
    let answer = read(&s, &who, "/api/v1/trusted").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "Keys and certificates from outside the organization that the gateway trusts anyway: OpenPGP keys are certified by the Organization Key when added; X.509 certificates can also verify mail servers and authenticate keyserver clients." }
        @match &answer {
            Err(p) => (unavailable("The trusted keys", p)),
            Ok(v) => {
                @let items = v.as_array().cloned().unwrap_or_default();
                @if items.is_empty() { p.muted { "No trusted keys." } }
                @else {
                    table.trusted {
                        thead { tr { th { "Name" } th { "Type" } th { "Trusted for" } th { "Added" } th { "" } } }
                        tbody {
                            @for t in &items {
                                tr {
                                    td { (text(t, "name")) br; code.muted { (text(t, "id")) } }
                                    td { (text(t, "type")) }
                                    td {
                                        @if t["flags"]["mail_encryption_keys"] == true { span.badge { "mail encryption keys" } " " }
                                        @if t["flags"]["tls_servers"] == true { span.badge { "TLS servers" } " " }
                                        @if t["flags"]["keyserver_clients"] == true { span.badge { "keyserver clients" } }
                                    }
                                    td { (when(t, "added_at")) }
                                    td {
                                        (post_button(&who.session, &format!("/keys/trusted/{}/remove", enc(text(t, "id"))), "Remove", "small danger", !can))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a trusted key" }
            form method="post" action="/keys/trusted" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="data" { "Armored OpenPGP key or PEM certificate" }
                    textarea #data name="data" rows="6" required {}
                    label.check { input type="checkbox" name="mail_encryption_keys" checked; " Verify keys found in directories (mail encryption keys)" }
                    label.check { input type="checkbox" name="tls_servers"; " Verify TLS mail servers (X.509 only)" }
                    label.check { input type="checkbox" name="keyserver_clients"; " Authenticate keyserver clients (X.509 only)" }
                    p { button type="submit" { "Add trusted key" } }
                }
            }
        }
    };
    page("Trusted keys", "/keys/trusted", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct TrustedForm {
    #[serde(default)]
    csrf: String,
    data: String,
    mail_encryption_keys: Option<String>,
    tls_servers: Option<String>,
    keyserver_clients: Option<String>,
}

async fn add_trusted(
    who: UiAdmin,
    State(s): State<AppState>,
    Form(f): Form<TrustedForm>,
) -> Response {
    let body = json!({
        "data": f.data.trim(),
        "flags": {
            "mail_encryption_keys": f.mail_encryption_keys.is_some(),
            "tls_servers": f.tls_servers.is_some(),
            "keyserver_clients": f.keyserver_clients.is_some(),
        },
    });
    Action::new(Method::POST, "/api/v1/trusted", "/keys/trusted")
        .body(body)
        .refusal("The key was not added: ")
        .run_with(&s, &who, &f.csrf, |v| {
            format!("{} is trusted.", text(v, "name"))
        })
        .await
}

async fn remove_trusted(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/trusted/{}", enc(&id));
    Action::new(Method::DELETE, path, "/keys/trusted")
        .refusal("Nothing was removed: ")
        .run(&s, &who, &f.csrf, "Trusted key removed.")
        .await
}

async fn cache(who: UiAdmin, State(s): State<AppState>, Query(q): Query<SearchQuery>) -> Markup {
    let query = q.q.trim().to_string();
    let path = if query.is_empty() {
        "/api/v1/keycache".to_string()
    } else {
        format!("/api/v1/keycache?q={}", enc(&query))
    };
    let answer = read(&s, &who, &path).await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "Keys found on outside keyservers during a rule's key search, kept until they time out. Trusting a key makes it a key of an external user." }
        form.search method="get" action="/keys/cache" {
            label for="q" { "Search by address or key ID" }
            input #q type="text" name="q" value=(query);
            " " button type="submit" { "Search" }
        }
        @match &answer {
            Err(p) => (unavailable("The key cache", p)),
            Ok(v) => {
                @let keys = v["keys"].as_array().cloned().unwrap_or_default();
                @if keys.is_empty() { p.muted { "The key cache is empty" @if !query.is_empty() { " for " (query) } "." } }
                @else {
                    table.cache {
                        thead { tr { th { "Address" } th { "Type" } th { "Key IDs" } th { "Source" } th { "Cached" } th { "Purged at" } th { "" } } }
                        tbody {
                            @for k in &keys {
                                @let id = enc(text(k, "id"));
                                tr {
                                    td { (text(k, "primary_email")) }
                                    td { (k["kind"].as_str().unwrap_or("")) }
                                    td { @for kid in k["key_ids"].as_array().cloned().unwrap_or_default() { code { (kid.as_str().unwrap_or("")) } " " } }
                                    td { (text(k, "source")) }
                                    td { (when(k, "cached_at")) }
                                    td { (when(k, "purge_at")) }
                                    td {
                                        (post_button(&who.session, &format!("/keys/cache/{id}/trust"), "Trust", "small", !can))
                                        " "
                                        (post_button(&who.session, &format!("/keys/cache/{id}/purge"), "Purge", "small danger", !can))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p {
            @if can { a.button.danger href="/keys/cache/purge-all" { "Purge all…" } }
            @else { button.danger type="button" disabled { "Purge all…" } }
        }
    };
    page("Key cache", "/keys/cache", &who, q.flash(), body)
}

async fn confirm_purge_all(who: UiAdmin) -> Markup {
    confirm_page(
        &who,
        "Purge the key cache",
        "/keys/cache",
        "Remove every cached key? They are found again on the next key search.",
        "/keys/cache/purge-all",
        "/keys/cache",
    )
}

async fn purge_all(who: UiAdmin, State(s): State<AppState>, Form(f): Form<CsrfForm>) -> Response {
    Action::new(Method::DELETE, "/api/v1/keycache", "/keys/cache")
        .refusal("Nothing was purged: ")
        .unless_confirmed(f.confirmed(), "Nothing was purged: not confirmed.")
        .run_with(&s, &who, &f.csrf, |v| {
            format!(
                "{} cached key(s) purged.",
                v["purged"].as_u64().unwrap_or(0)
            )
        })
        .await
}

async fn purge_one(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/keycache/{}", enc(&id));
    Action::new(Method::DELETE, path, "/keys/cache")
        .refusal("Nothing was purged: ")
        .run(&s, &who, &f.csrf, "Cached key purged.")
        .await
}

async fn trust(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/keycache/{}/trust", enc(&id));
    Action::new(Method::POST, path, "/keys/cache")
        .body(json!({}))
        .refusal("The key was not trusted: ")
        .run_with(&s, &who, &f.csrf, |v| {
            format!(
                "The key is now a key of the external user {}.",
                text(v, "email")
            )
        })
        .await
}

async fn keyservers(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let list = read(&s, &who, "/api/v1/keyservers").await;
    let can = may(&who, Permission::ConfigureSystem);
    let chains = read(&s, &who, "/api/v1/policy/export").await;
    // The keyservers the policy searches are the ones its rules name on their Key Search tab.
    let mut named: Vec<(String, String, String)> = Vec::new();
    if let Ok(v) = &chains {
        for c in v["chains"].as_array().cloned().unwrap_or_default() {
            for r in c["rules"].as_array().cloned().unwrap_or_default() {
                for k in r["key_search"].as_array().cloned().unwrap_or_default() {
                    named.push((
                        text(&k, "keyserver").to_string(),
                        text(&c, "name").to_string(),
                        text(&r, "name").to_string(),
                    ));
                }
            }
        }
    }
    let body = html! {
        p { "When no internal user, external user or cached key answers for a recipient, the gateway searches the keyservers on the matching rule's " em { "Key search" } " list, in order, and keeps what it finds in the " a href="/keys/cache" { "key cache" } ". " code { "keys.<recipient's domain>" } " is built in." }
        p { "The list below is the cluster's (every member uses it); rules name its entries by name. A member's own " code { "[[mail.keyserver]]" } " tables in " code { "signetd.toml" } " are added after it, for that member only (a name in both: the list's entry wins). See docs/keysearch.md." }
        @match &list {
            Err(p) => (unavailable("The keyservers", p)),
            Ok(v) => {
                @let items = v.as_array().cloned().unwrap_or_default();
                @if items.is_empty() { p.muted { "No keyservers in the list." } }
                @else {
                    table.keyservers {
                        thead { tr { th { "Order" } th { "Name" } th { "Type" } th { "Host" } th { "Port" } th { "Base DN" } th { "Trusted" } th { "" } } }
                        tbody {
                            @for k in &items {
                                tr {
                                    td { (k["order"]) }
                                    td { (text(k, "name")) }
                                    td { (text(k, "kind")) }
                                    td { code { (text(k, "host")) } }
                                    td { @if let Some(p) = k["port"].as_u64() { (p) } @else { span.muted { "default" } } }
                                    td { (text(k, "base_dn")) }
                                    td { @if k["trusted"] == true { "yes" } @else { "no" } }
                                    td { (post_button(&who.session, &format!("/keys/keyservers/{}/remove", enc(text(k, "name"))), "Remove", "small danger", !can)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a keyserver" }
            form method="post" action="/keys/keyservers" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="ks-name" { "Name (rules' Key Search name it)" }
                    input #ks-name type="text" name="name" required;
                    label for="ks-kind" { "Type" }
                    select #ks-kind name="kind" {
                        option value="ldap" { "PGP Keyserver LDAP" }
                        option value="ldaps" { "PGP Keyserver LDAPS" }
                        option value="x509-ldap" { "X.509 Directory LDAP" }
                        option value="x509-ldaps" { "X.509 Directory LDAPS" }
                        option value="hkp" { "HKP" }
                        option value="hkps" { "HKPS" }
                        option value="wkd" { "Web Key Directory" }
                    }
                    label for="ks-host" { "Host" }
                    input #ks-host type="text" name="host";
                    label for="ks-port" { "Port (empty: the type's default)" }
                    input #ks-port type="number" name="port" min="1" max="65535";
                    label for="ks-base" { "Base DN (LDAP; empty: found from the server)" }
                    input #ks-base type="text" name="base_dn";
                    label.check { input type="checkbox" name="trusted"; " Trust keys from this keyserver implicitly" }
                    p { button type="submit" { "Add keyserver" } }
                }
            }
        }
        h2 { "Keyservers the policy searches" }
        @if named.is_empty() { p.muted { "No rule searches a keyserver." } }
        @else {
            table {
                thead { tr { th { "Keyserver" } th { "Searched by" } } }
                tbody {
                    @for (k, chain, rule) in &named {
                        tr { td { code { (k) } } td { a href=(super::policy::rule_link(chain, rule)) { (chain) " › " (rule) } } }
                    }
                }
            }
        }
        h2 { "This node's own keyserver" }
        p { "What this node serves to the world (LDAP, HKP, WKD) is on the " a href="/services/keyserver" { "Keyserver service" } " page." }
    };
    page("Keyservers", "/keys/keyservers", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct KeyserverForm {
    #[serde(default)]
    csrf: String,
    name: String,
    kind: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    base_dn: String,
    trusted: Option<String>,
}

async fn add_keyserver(
    who: UiAdmin,
    State(s): State<AppState>,
    Form(f): Form<KeyserverForm>,
) -> Response {
    let port: Option<u64> = f.port.trim().parse().ok();
    let base_dn = Some(f.base_dn.trim()).filter(|b| !b.is_empty());
    let body = json!({
        "name": f.name, "kind": f.kind, "host": f.host, "port": port,
        "base_dn": base_dn, "trusted": f.trusted.is_some(),
    });
    Action::new(Method::POST, "/api/v1/keyservers", "/keys/keyservers")
        .body(body)
        .refusal("The keyserver was not added: ")
        .run_with(&s, &who, &f.csrf, |v| {
            format!("Keyserver {} added.", text(v, "name"))
        })
        .await
}

async fn remove_keyserver(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/keyservers/{}", enc(&name));
    Action::new(Method::DELETE, path, "/keys/keyservers")
        .refusal("The keyserver was not removed: ")
        .run_with(&s, &who, &f.csrf, |_| format!("Keyserver {name} removed."))
        .await
}
