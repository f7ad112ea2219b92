//! System pages other than administrators and logs: Clustering (members, join tokens, removal),
//! Backups, Ignition Keys, Network (read-only) and Certificates (the admin certificate).

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde_json::{Value, json};
use signet_model::Permission;

use super::forms::{
    FlashQuery, csrf_refused, enc, failed, may, millis_to_utc, text, unavailable, when,
};
use super::widgets::{Action, field, post_button, read, token};
use super::{Flash, UiAdmin, api_call, api_call_bytes, csrf_field, csrf_ok, page};
use crate::AppState;

const CLUSTER: &str = "/system/cluster";
const BACKUPS: &str = "/system/backups";
const IGNITION: &str = "/system/ignition-keys";
const NETWORK: &str = "/system/network";
const CERTIFICATES: &str = "/system/certificates";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CLUSTER, get(cluster))
        .route("/system/cluster/token", post(issue_token))
        .route("/system/cluster/join", post(join))
        .route("/system/cluster/contact", post(contact))
        .route("/system/cluster/members/{id}/remove", post(remove_member))
        .route(BACKUPS, get(backups).post(create_backup))
        .route("/system/backups/{name}/download", get(download_backup))
        .route(IGNITION, get(ignition).post(add_ignition))
        .route("/system/ignition-keys/unlock", post(unlock))
        .route("/system/ignition-keys/{name}/delete", post(delete_ignition))
        .route(NETWORK, get(network))
        .route(CERTIFICATES, get(certificates).post(replace_certificate))
}

async fn cluster(State(s): State<AppState>, who: UiAdmin, Query(q): Query<FlashQuery>) -> Response {
    cluster_page(&s, &who, q.flash(), None).await
}

async fn cluster_page(
    s: &AppState,
    who: &UiAdmin,
    flash: Option<Flash>,
    token: Option<Value>,
) -> Response {
    let allowed = may(who, Permission::ConfigureClustering);
    let status = api_call(s, &who.session, Method::GET, "/api/v1/cluster", None).await;
    let body = html! {
        @match &status {
            Err(p) => (unavailable("The cluster", p)),
            Ok(v) => {
                p { "Cluster " code { (text(v, "cluster_id")) } @if v["standalone"].as_bool() == Some(true) { " — this server is not part of a larger cluster." } }
                table #members {
                    thead { tr { th { "Member" } th { "Admin address" } th { "Cluster address" } th { "State" } th {} } }
                    tbody {
                        @for m in v["members"].as_array().cloned().unwrap_or_default() {
                            @let id = m["node_id"].as_u64().unwrap_or(0);
                            @let me = Some(id) == v["node_id"].as_u64();
                            tr {
                                td { (id) @if me { " (this member)" } }
                                td { (text(&m, "api_addr")) }
                                td { (text(&m, "cluster_addr")) }
                                td { @if m["voter"].as_bool() == Some(true) { span.badge.ok { "Member" } } @else { span.badge.warn { "Joining" } } }
                                td {
                                    (post_button(&who.session, &format!("/system/cluster/members/{id}/remove"), "Remove", "danger", !allowed))
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a member" }
        p { "Start the new server's setup assistant and choose " em { "Join a cluster" } ": it waits. Then give its admin address and its setup code (on its console) and choose Contact. The join token goes to it sealed under that code, so only that server can use it." }
        form method="post" action="/system/cluster/contact" {
            (csrf_field(&who.session))
            div.field {
                label for="contact-address" { "Admin address of the waiting server" }
                input #contact-address type="text" name="address" placeholder="10.0.0.12 or mail2.example.com:9000" disabled[!allowed];
            }
            div.field {
                label for="contact-code" { "Its setup code" }
                input #contact-code type="text" name="setup_code" placeholder="XXXX-XXXX-XXXX" autocomplete="off" disabled[!allowed];
            }
            div.buttons { button.primary type="submit" disabled[!allowed] { "Contact" } }
        }
        p { "Or issue a join token here, then paste it into the new server's setup assistant (Join a cluster) or run " code { "signet cluster join TOKEN" } " there. The token names this member and pins its certificate; it works once and expires." }
        @if let Some(t) = &token {
            div.card #join-token {
                p { "Join token (expires " (when(t, "expires_at")) "):" }
                textarea readonly rows="4" { (text(t, "token")) }
            }
        }
        form method="post" action="/system/cluster/token" {
            (csrf_field(&who.session))
            label for="ttl" { "Valid for (minutes)" }
            input #ttl type="number" name="ttl_minutes" value="60" min="1" max="10080" disabled[!allowed];
            div.buttons { button type="submit" disabled[!allowed] { "Issue a join token" } }
        }
        h2 { "Join this server to another cluster" }
        p.hint { "This server's data is erased and replaced by the cluster's; it restarts." }
        form method="post" action="/system/cluster/join" {
            (csrf_field(&who.session))
            label for="join-token" { "Join token from a member of the other cluster" }
            textarea #join-token name="token" rows="3" disabled[!allowed] {}
            div.buttons { button.danger type="submit" disabled[!allowed] { "Join" } }
        }
    };
    page("Clustering", CLUSTER, who, flash, body).into_response()
}

async fn issue_token(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&who.session, token(&f)) {
        return csrf_refused();
    }
    let minutes: u64 = field(&f, "ttl_minutes").parse().unwrap_or(60);
    let body = json!({ "ttl_secs": minutes.saturating_mul(60) });
    match api_call(
        &s,
        &who.session,
        Method::POST,
        "/api/v1/cluster/tokens",
        Some(&body),
    )
    .await
    {
        Ok(t) => {
            cluster_page(
                &s,
                &who,
                Some(Flash::Done("Join token issued.".into())),
                Some(t),
            )
            .await
        }
        Err(p) => cluster_page(&s, &who, Some(Flash::Error(p.detail)), None).await,
    }
}

async fn join(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "token": field(&f, "token") });
    Action::new(Method::POST, "/api/v1/cluster/join", CLUSTER)
        .body(body)
        .run(
            &s,
            &who,
            token(&f),
            "Joining: this server restarts now; log in again with an administrator of the cluster.",
        )
        .await
}

async fn contact(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "address": field(&f, "address"), "setup_code": field(&f, "setup_code") });
    Action::new(Method::POST, "/api/v1/cluster/contact", CLUSTER)
        .body(body)
        .run(
            &s,
            &who,
            token(&f),
            "Contacted: the server is joining; it appears in the member list once it has caught up.",
        )
        .await
}

async fn remove_member(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/cluster/members/{}", enc(&id)),
        CLUSTER,
    )
    .run(&s, &who, token(&f), &format!("Member {id} removed."))
    .await
}

async fn backups(State(s): State<AppState>, who: UiAdmin, Query(q): Query<FlashQuery>) -> Response {
    let allowed = may(&who, Permission::ConfigureSystem);
    // A backup holds every private key (encrypted to the Organization Key).
    let may_download = allowed && may(&who, Permission::ExportPrivateKeys);
    let list = read(&s, &who, "/api/v1/backups").await;
    let body = html! {
        p { "A backup holds all cluster data and this member's settings, encrypted to the Organization Key: keep a copy of that key (with its private key) somewhere safe, or the backups cannot be restored. Backups are files in this member's data directory (" code { "backups/" } "); download one with its link below (or " code { "signet backup download" } ") and keep it off the server. Restore one in the setup assistant of a new server, or with " code { "signet backup restore" } "." }
        @match list {
            Err(p) => (unavailable("The backups", &p)),
            Ok(v) => {
                table #backups {
                    thead { tr { th { "File" } th { "Made" } th { "Size" } th { "Entries" } th {} } }
                    tbody {
                        @for b in v.as_array().cloned().unwrap_or_default() {
                            @let file = text(&b, "file");
                            @let name = file.rsplit('/').next().unwrap_or("").to_string();
                            tr {
                                td { (file) } td { (when(&b, "created_at")) } td { (b["bytes"].as_u64().unwrap_or(0)) " bytes" } td { (b["entries"].as_u64().unwrap_or(0)) }
                                td { @if may_download { a.download href=(format!("/system/backups/{}/download", enc(&name))) download=(name) { "Download" } } }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action=(BACKUPS) {
            (csrf_field(&who.session))
            label for="name" { "Name (optional)" }
            input #name type="text" name="name" disabled[!allowed];
            div.buttons { button type="submit" disabled[!allowed] { "Back up now" } }
        }
    };
    page("Backups", BACKUPS, &who, q.flash(), body).into_response()
}

async fn create_backup(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let name = Some(field(&f, "name")).filter(|n| !n.is_empty());
    Action::new(Method::POST, "/api/v1/backups", BACKUPS)
        .body(json!({ "name": name }))
        .run(&s, &who, token(&f), "Backup written.")
        .await
}

/// The backup file itself, passed through from the API (same permission checks and audit).
async fn download_backup(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/api/v1/backups/{}", enc(&name));
    match api_call_bytes(&s, &who.session, &path).await {
        Ok((headers, bytes)) => {
            let pick = |h: header::HeaderName, default: &str| {
                headers
                    .get(&h)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(default)
                    .to_string()
            };
            (
                [
                    (
                        header::CONTENT_TYPE,
                        pick(header::CONTENT_TYPE, "application/octet-stream"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        pick(header::CONTENT_DISPOSITION, "attachment"),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(p) => failed(BACKUPS, &format!("Cannot download {name}: {}", p.detail)),
    }
}

async fn ignition(
    State(s): State<AppState>,
    who: UiAdmin,
    Query(q): Query<FlashQuery>,
) -> Response {
    let allowed = may(&who, Permission::ConfigureSystem);
    let list = read(&s, &who, "/api/v1/ignition-keys").await;
    let body = html! {
        p { "With an Ignition Key, a member starts locked: it keeps its keys sealed until an administrator unlocks it with one of these passphrases. Mail that needs private keys waits in the queue meanwhile." }
        @match list {
            Err(p) => (unavailable("The Ignition Keys", &p)),
            Ok(v) => {
                @let locked = v["locked"].as_bool().unwrap_or(false);
                p #lock-state { "This member is " @if locked { span.badge.bad { "locked" } } @else { span.badge.ok { "unlocked" } } "." }
                @if locked {
                    form method="post" action="/system/ignition-keys/unlock" {
                        (csrf_field(&who.session))
                        label for="unlock-passphrase" { "Ignition Key passphrase" }
                        input #unlock-passphrase type="password" name="passphrase";
                        div.buttons { button type="submit" { "Unlock" } }
                    }
                }
                table #ignition-keys {
                    thead { tr { th { "Name" } th { "Added" } th {} } }
                    tbody {
                        @for k in v["keys"].as_array().cloned().unwrap_or_default() {
                            @let name = text(&k, "name").to_string();
                            tr { td { (name) } td { (when(&k, "added_at")) } td {
                                (post_button(&who.session, &format!("/system/ignition-keys/{}/delete", enc(&name)), "Delete", "danger", !allowed))
                            } }
                        }
                    }
                }
            }
        }
        h2 { "Add an Ignition Key" }
        form method="post" action=(IGNITION) {
            (csrf_field(&who.session))
            label for="ik-name" { "Name" }
            input #ik-name type="text" name="name" disabled[!allowed];
            label for="ik-passphrase" { "Passphrase" }
            input #ik-passphrase type="password" name="passphrase" disabled[!allowed];
            div.buttons { button type="submit" disabled[!allowed] { "Add" } }
        }
    };
    page("Ignition Keys", IGNITION, &who, q.flash(), body).into_response()
}

async fn add_ignition(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "name": field(&f, "name"), "passphrase": f.get("passphrase").cloned().unwrap_or_default() });
    Action::new(Method::POST, "/api/v1/ignition-keys", IGNITION)
        .body(body)
        .run(&s, &who, token(&f), "Ignition Key added.")
        .await
}

async fn delete_ignition(
    State(s): State<AppState>,
    who: UiAdmin,
    Path(name): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/ignition-keys/{}", enc(&name)),
        IGNITION,
    )
    .run(
        &s,
        &who,
        token(&f),
        &format!("Ignition Key {name} deleted."),
    )
    .await
}

async fn unlock(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "passphrase": f.get("passphrase").cloned().unwrap_or_default() });
    Action::new(Method::POST, "/api/v1/unlock", IGNITION)
        .body(body)
        .run(&s, &who, token(&f), "Unlocked.")
        .await
}

async fn network(State(s): State<AppState>, who: UiAdmin) -> Response {
    let status = read(&s, &who, "/api/v1/cluster")
        .await
        .unwrap_or(Value::Null);
    let me = status["node_id"].as_u64();
    let mine = status["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["node_id"].as_u64() == me).cloned())
        .unwrap_or(Value::Null);
    let facts = &s.facts;
    let mail = read(&s, &who, "/api/v1/mail/settings")
        .await
        .unwrap_or(Value::Null);
    let proxies = read(&s, &who, "/api/v1/mail/proxies")
        .await
        .unwrap_or(Value::Null);
    let hostname = mail["hostname"]
        .as_str()
        .unwrap_or(&facts.hostname)
        .to_string();
    let placement = mail["placement"]
        .as_str()
        .unwrap_or(&facts.placement)
        .to_string();
    let body = html! {
        p.muted { "Read-only here. The mail host name, placement and SMTP proxies change on " a href="/mail/proxies" { "Mail → Proxies" } " and apply at once; the other listeners come from this member's configuration file (see docs/configuration.md) and take effect when signetd starts." }
        table #network {
            tbody {
                tr { th { "Member" } td { (me.map(|m| m.to_string()).unwrap_or_default()) } }
                tr { th { "Host name (mail)" } td { (hostname) } }
                tr { th { "Placement" } td { (placement) } }
                tr { th { "Administration (UI and API)" } td { (facts.admin_address) } }
                tr { th { "Administration, as other members see it" } td { (text(&mine, "api_addr")) } }
                tr { th { "Cluster (member RPC)" } td { (text(&mine, "cluster_addr")) } }
            }
        }
        h2 { "Listeners" }
        table #listeners {
            thead { tr { th { "Service" } th { "Address" } } }
            tbody {
                @for (service, address, state) in super::overview::smtp_listeners(&proxies) {
                    tr { td { (service) } td { (address) " (" (state) ")" } }
                }
                @for l in &facts.listeners { tr { td { (l.service) } td { (l.address) } } }
            }
        }
    };
    page("Network", NETWORK, &who, None, body).into_response()
}

async fn certificates(
    State(s): State<AppState>,
    who: UiAdmin,
    Query(q): Query<FlashQuery>,
) -> Response {
    let allowed = may(&who, Permission::ConfigureSystem);
    let cert = read(&s, &who, "/api/v1/certificates/admin").await;
    let body = html! {
        h2 { "Administration certificate" }
        @match cert {
            Err(p) => (unavailable("The certificate", &p)),
            Ok(c) => {
                table #admin-certificate {
                    tbody {
                        tr { th { "Subject" } td { (text(&c, "subject")) } }
                        tr { th { "Issuer" } td { (text(&c, "issuer")) } }
                        tr { th { "Names" } td { (c["names"].as_array().map(|n| n.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) } }
                        tr { th { "Valid" } td { (millis_to_utc(c["not_before"].as_u64().unwrap_or(0))) " to " (millis_to_utc(c["not_after"].as_u64().unwrap_or(0))) } }
                        tr { th { "SHA-256 fingerprint" } td { code { (text(&c, "fingerprint_sha256")) } } }
                    }
                }
            }
        }
        h2 { "Replace it" }
        p { "Paste a certificate (PEM, intermediates after it) and its private key. The key is stored sealed, never in clear. New connections get the new certificate at once (no restart); the " code { "signet" } " CLI on this server is told its fingerprint." }
        form method="post" action=(CERTIFICATES) {
            (csrf_field(&who.session))
            label for="cert_pem" { "Certificate (PEM)" }
            textarea #cert_pem name="cert_pem" rows="6" disabled[!allowed] {}
            label for="key_pem" { "Private key (PEM)" }
            textarea #key_pem name="key_pem" rows="6" disabled[!allowed] {}
            div.buttons { button type="submit" disabled[!allowed] { "Replace certificate" } }
        }
    };
    page("Certificates", CERTIFICATES, &who, q.flash(), body).into_response()
}

async fn replace_certificate(
    State(s): State<AppState>,
    who: UiAdmin,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let body = json!({ "cert_pem": field(&f, "cert_pem"), "key_pem": field(&f, "key_pem") });
    Action::new(Method::PUT, "/api/v1/certificates/admin", CERTIFICATES)
        .body(body)
        .run(
            &s,
            &who,
            token(&f),
            "Certificate replaced: new connections get it now.",
        )
        .await
}
