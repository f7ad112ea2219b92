//! Services: the keyserver this node runs (LDAP/LDAPS, HKP, WKD; node-local settings shown
//! read-only), the Verified Directory (its settings, and its keys with approve/reject), and the CRL (where it is published and whether this
//! node can sign it now).

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use signet_model::Permission;

use super::forms::{FlashQuery, enc, may, unavailable, when};

use super::UiAdmin;
use super::page;
use super::widgets::{Action, post_button, read};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services/keyserver", get(keyserver))
        .route("/services/verified-directory", get(verified_directory))
        .route(
            "/services/verified-directory/{fp}/approve",
            post(vd_approve),
        )
        .route("/services/verified-directory/{fp}/reject", post(vd_reject))
        .route("/services/crl", get(crl))
}

fn listeners<'a>(s: &'a AppState, wanted: &[&str]) -> Vec<&'a super::Listener> {
    s.facts
        .listeners
        .iter()
        .filter(|l| wanted.iter().any(|w| l.service.contains(w)))
        .collect()
}

async fn keyserver(who: UiAdmin, State(s): State<AppState>) -> Markup {
    let ldap = listeners(&s, &["LDAP"]);
    let http = listeners(&s, &["HKP", "Keyserver HTTP"]);
    let body = html! {
        p { "The keyserver publishes the keys of internal users to the world: LDAP and LDAPS for GnuPG and S/MIME clients, HKP (" code { "/pks/lookup" } ") and Web Key Directory for every managed domain. Outside servers usually reach it as " code { "keys.<your domain>" } "." }
        h2 { "LDAP and LDAPS on this node" }
        @if ldap.is_empty() { p.muted { "This node serves no LDAP (" code { "[keyserver] enabled = false" } ")." } }
        @else {
            table { thead { tr { th { "Service" } th { "Listens on" } } }
                tbody { @for l in &ldap { tr { td { (l.service) } td { code { (l.address) } } } } } }
        }
        h2 { "HKP, WKD and the CRL on this node" }
        @if http.is_empty() { p.muted { "This node serves no public HTTP (" code { "[public_web] enabled = false" } ")." } }
        @else {
            table { thead { tr { th { "Service" } th { "Listens on" } } }
                tbody { @for l in &http { tr { td { (l.service) } td { code { (l.address) } } } } } }
        }
        p.muted { "These settings are node-local, in the node's " code { "signetd.toml" } ": " code { "[keyserver]" } " (anonymous read, base DN, rate limits, connectors) and " code { "[public_web]" } " (connectors, rate limits). See docs/configuration.md, docs/keyserver.md and docs/keyserver-http.md. A change takes effect when signetd restarts." }
    };
    page("Keyserver", "/services/keyserver", &who, None, body)
}

async fn verified_directory(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let settings = read(&s, &who, "/api/v1/verified-directory/settings").await;
    let keys = read(&s, &who, "/api/v1/verified-directory/keys").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p { "The Verified Directory lets people outside the organization publish their own keys: a key is listed once its owner confirms the address by email and, when vetting is manual, an administrator approves it." }
        @match &settings {
            Err(p) => (unavailable("The Verified Directory's settings", p)),
            Ok(v) => {
                dl.facts {
                    dt { "Service" } dd {
                        @if v["enabled"] == true { span.badge.ok { "enabled" } } @else { span.badge { "disabled" } }
                        @if v["paused"] == true { " " span.badge.warn { "paused" } }
                    }
                    dt { "Vetting" } dd { (shown(&v["vetting"])) }
                    dt { "Public address" } dd { (shown(&v["public_url"])) }
                    dt { "Verified Directory Key" } dd { code { (shown(&v["verified_directory_key"])) } }
                }
                p.muted { "Change these with " code { "PUT /api/v1/verified-directory/settings" } " (see docs)." }
            }
        }
        h2 { "Keys" }
        @match &keys {
            Err(p) => (unavailable("The Verified Directory's keys", p)),
            Ok(v) => {
                @let list = v.as_array().cloned().unwrap_or_default();
                @if list.is_empty() { p.muted { "No key has been submitted." } }
                @else {
                    table.vd-keys {
                        thead { tr { th { "Fingerprint" } th { "User IDs" } th { "State" } th { "Submitted" } th { "" } } }
                        tbody {
                            @for k in &list {
                                @let fp = k["fingerprint"].as_str().unwrap_or("");
                                @let pending = k["state"] == "pending-approval";
                                tr {
                                    td { code { (fp) } }
                                    td { @for u in k["user_ids"].as_array().cloned().unwrap_or_default() { (shown(&u["user_id"])) " " span.badge { (shown(&u["state"])) } br; } }
                                    td { (shown(&k["state"])) }
                                    td { (when(k, "submitted_at")) }
                                    td {
                                        @if pending {
                                            (post_button(&who.session, &format!("/services/verified-directory/{}/approve", enc(fp)), "Approve", "small", !can))
                                            " "
                                            (post_button(&who.session, &format!("/services/verified-directory/{}/reject", enc(fp)), "Reject", "small danger", !can))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Verified Directory", VD, &who, q.flash(), body)
}

const VD: &str = "/services/verified-directory";

fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn vd_approve(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(fp): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    vd_decide(&s, &who, &fp, &f.csrf, "approve", "approved").await
}

async fn vd_reject(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(fp): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    vd_decide(&s, &who, &fp, &f.csrf, "reject", "rejected").await
}

async fn vd_decide(
    s: &AppState,
    who: &UiAdmin,
    fp: &str,
    csrf: &str,
    verb: &str,
    what: &str,
) -> Response {
    Action::new(
        Method::POST,
        format!("/api/v1/verified-directory/keys/{}/{verb}", enc(fp)),
        VD,
    )
    .body(serde_json::json!({}))
    .refusal(format!("Key {fp} was not {what}: "))
    .run(s, who, csrf, &format!("Key {fp} {what}."))
    .await
}

async fn crl(who: UiAdmin, State(s): State<AppState>) -> Markup {
    let state = read(&s, &who, "/api/v1/crl").await;
    let http = listeners(&s, &["HKP", "Keyserver HTTP"]);
    let body = html! {
        p { "The Certificate Revocation List names every S/MIME certificate this cluster issued and then revoked. It is signed by the Organization Certificate, valid for 7 days, and signed again whenever the revocations or the Organization Certificate change or less than a day of validity is left." }
        h2 { "State" }
        @match &state {
            Ok(_) => p { span.badge.ok { "available" } " This node signs and serves the current CRL. " a href="/api/v1/crl" download="RevokedCertificates.crl" { "Download it" } "." },
            Err(p) if p.status == StatusCode::NOT_FOUND => p { span.badge { "none" } " There is no Organization Certificate, so there is no CRL. Generate one under " a href="/keys/organization" { "Organization keys" } "." },
            Err(p) if p.status == StatusCode::SERVICE_UNAVAILABLE => p { span.badge.warn { "locked" } " This node is locked (Ignition Key): it cannot sign the CRL until it is unlocked." },
            Err(p) => p.flash.error { "The CRL could not be made: " (p.detail) },
        }
        h2 { "Where it is published" }
        @if http.is_empty() { p.muted { "This node serves no public HTTP, so it publishes no CRL." } }
        @else {
            ul {
                @for l in &http {
                    @let scheme = if l.service.contains("HTTPS") { "https" } else { "http" };
                    li { code { (scheme) "://" (l.address.split(' ').next().unwrap_or("")) "/crl/RevokedCertificates.crl" } " (" (l.service) ")" }
                }
            }
            p.muted { "Outside, the address is " code { "http://keys.<your domain>/crl/RevokedCertificates.crl" } "." }
        }
    };
    page("CRL", "/services/crl", &who, None, body)
}
