//! Mail: managed domains, the mail queue, message templates, Learn Mode, and this node's mail
//! routes (node-local; added and removed here). The proxies page is `mail_proxies`.

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
        .route("/mail/domains", get(domains).post(add_domain))
        .route(
            "/mail/domains/{name}/remove",
            get(confirm_remove_domain).post(remove_domain),
        )
        .route("/mail/queue", get(queue))
        .route("/mail/queue/{id}/delete", post(queue_delete))
        .route("/mail/queue/{id}/retry", post(queue_retry))
        .route("/mail/templates", get(templates))
        .route("/mail/templates/{id}", get(template).post(save_template))
        .route("/mail/templates/{id}/revert", post(revert_template))
        .route("/mail/learn-mode", get(learn_mode).post(set_learn_mode))
        .route("/mail/routes", get(mail_routes).post(add_route))
        .route("/mail/routes/{domain}/remove", post(remove_route))
}

fn list_of(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// A JSON value as text: strings as they are, anything else compact.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

// ---- Managed domains -------------------------------------------------------------------------

async fn domains(who: UiAdmin, State(s): State<AppState>, Query(q): Query<FlashQuery>) -> Markup {
    let answer = read(&s, &who, "/api/v1/domains").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "Users whose address is in a managed domain are internal users; the Organization Key carries one user ID per managed domain." }
        @match &answer {
            Err(p) => (unavailable("The managed domains", p)),
            Ok(v) => {
                @let list = list_of(v);
                @if list.is_empty() { p.muted { "No managed domains yet." } }
                @else {
                    table.domains {
                        thead { tr { th { "Domain" } th { "Added" } th { "" } } }
                        tbody {
                            @for d in &list {
                                tr {
                                    td { (text(d, "name")) }
                                    td { (when(d, "added_at")) }
                                    td {
                                        @if can { a.button.small.danger href=(format!("/mail/domains/{}/remove", enc(text(d, "name")))) { "Remove" } }
                                        @else { button.small.danger type="button" disabled { "Remove" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a managed domain" }
            form method="post" action="/mail/domains" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="domain" { "Domain" }
                    input #domain type="text" name="name" placeholder="example.com" required;
                    p { button type="submit" { "Add domain" } }
                }
            }
        }
    };
    page("Managed domains", "/mail/domains", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn add_domain(who: UiAdmin, State(s): State<AppState>, Form(f): Form<NameForm>) -> Response {
    let body = json!({ "name": f.name.trim() });
    Action::new(Method::POST, "/api/v1/domains", "/mail/domains")
        .body(body)
        .refusal("The domain was not added: ")
        .run_with(&s, &who, &f.csrf, |v| {
            format!("Managed domain {} added.", text(v, "name"))
        })
        .await
}

async fn confirm_remove_domain(who: UiAdmin, Path(name): Path<String>) -> Markup {
    confirm_page(
        &who,
        "Remove managed domain",
        "/mail/domains",
        &format!("Stop managing {name}? Its users must be removed first."),
        &format!("/mail/domains/{}/remove", enc(&name)),
        "/mail/domains",
    )
}

async fn remove_domain(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/domains/{}", enc(&name));
    Action::new(Method::DELETE, path, "/mail/domains")
        .refusal(format!("{name} was not removed: "))
        .unless_confirmed(f.confirmed(), "Nothing was removed: not confirmed.")
        .run(
            &s,
            &who,
            &f.csrf,
            &format!("{name} is no longer a managed domain."),
        )
        .await
}

// ---- Mail queue ------------------------------------------------------------------------------

async fn queue(who: UiAdmin, State(s): State<AppState>, Query(q): Query<FlashQuery>) -> Markup {
    let answer = read(&s, &who, "/api/v1/queue").await;
    let can = may(&who, Permission::ControlServices);
    let body = html! {
        p.muted { "Messages this node holds: waiting for a next attempt, a key search, or an unlocked node. The queue is per node." }
        @match &answer {
            // A member without mail proxies has no queue: say so rather than report an error.
            Err(p) if p.status == axum::http::StatusCode::NOT_FOUND => p.muted.no-queue { "This node runs no mail proxies, so it has no mail queue (add one on " a href="/mail/proxies" { "Proxies" } ")." },
            Err(p) => (unavailable("The mail queue", p)),
            Ok(v) => {
                @let list = list_of(v);
                @if list.is_empty() { p { "The mail queue is empty." } }
                @else {
                    table.queue {
                        thead { tr { th { "Received" } th { "From" } th { "Recipients" } th { "Size" } th { "Stage" } th { "Reason" } th { "Next attempt" } th { "" } } }
                        tbody {
                            @for m in &list {
                                @let id = enc(&shown(&m["id"]));
                                tr {
                                    td { (when(m, "received_at")) }
                                    td { (shown(&m["from"])) }
                                    td { @for r in list_of(&m["recipients"]) { (shown(&r)) br; } }
                                    td { (shown(&m["size"])) }
                                    td { (shown(&m["stage"])) }
                                    td { (shown(&m["reason"])) }
                                    td { (when(m, "next_attempt")) }
                                    td {
                                        (post_button(&who.session, &format!("/mail/queue/{id}/retry"), "Retry now", "small", !can))
                                        " "
                                        (post_button(&who.session, &format!("/mail/queue/{id}/delete"), "Delete", "small danger", !can))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Mail queue", "/mail/queue", &who, q.flash(), body)
}

async fn queue_delete(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/queue/{}", enc(&id)),
        "/mail/queue",
    )
    .refusal("Nothing was deleted: ")
    .run(&s, &who, &f.csrf, "Message deleted from the queue.")
    .await
}

async fn queue_retry(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    Action::new(
        Method::POST,
        format!("/api/v1/queue/{}/retry", enc(&id)),
        "/mail/queue",
    )
    .body(json!({}))
    .refusal("Not retried: ")
    .run(&s, &who, &f.csrf, "The message will be tried again now.")
    .await
}

// ---- Message templates -----------------------------------------------------------------------

async fn templates(who: UiAdmin, State(s): State<AppState>, Query(q): Query<FlashQuery>) -> Markup {
    let answer = read(&s, &who, "/api/v1/templates").await;
    let body = html! {
        p.muted { "The texts of the messages the gateway sends on its own: bounces, notices and invitations." }
        @match &answer {
            Err(p) => (unavailable("The message templates", p)),
            Ok(v) => {
                table.templates {
                    thead { tr { th { "Template" } th { "Sent when" } th { "State" } } }
                    tbody {
                        @for t in list_of(v) {
                            tr {
                                td { a href=(format!("/mail/templates/{}", enc(text(&t, "id")))) { (text(&t, "title")) } }
                                td { (text(&t, "trigger")) }
                                td {
                                    @if t["edited"] == true { span.badge.warn { "edited" } } @else { span.badge { "default" } }
                                    @if t["in_use"] == false { " " span.badge { "not used yet" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        "Message templates",
        "/mail/templates",
        &who,
        q.flash(),
        body,
    )
}

async fn template(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let answer = read(&s, &who, &format!("/api/v1/templates/{}", enc(&id))).await;
    let can = may(&who, Permission::ConfigureSystem);
    let base = format!("/mail/templates/{}", enc(&id));
    let title = answer
        .as_ref()
        .map(|t| text(t, "title").to_string())
        .unwrap_or_else(|_| id.clone());
    let body = html! {
        p { a href="/mail/templates" { "‹ All templates" } }
        @match &answer {
            Err(p) => (unavailable("This template", p)),
            Ok(t) => {
                p.muted { "Sent when: " (text(t, "trigger")) }
                @if let Some(vars) = t["variables"].as_array() {
                    p { "Variables: " @for v in vars { code { (shown(v)) } " " } }
                }
                form method="post" action=(base) {
                    (csrf_field(&who.session))
                    fieldset disabled[!can] {
                        label for="text" { "Text" }
                        textarea #text.template name="text" rows="16" { (text(t, "text")) }
                        p { button type="submit" { "Save template" } }
                    }
                }
                @if t["edited"] == true {
                    form method="post" action=(format!("{base}/revert")) {
                        (csrf_field(&who.session))
                        button.danger type="submit" disabled[!can] { "Revert to the default text" }
                    }
                }
            }
        }
    };
    page(&title, "/mail/templates", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct TemplateForm {
    #[serde(default)]
    csrf: String,
    text: String,
}

async fn save_template(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<TemplateForm>,
) -> Response {
    let back = format!("/mail/templates/{}", enc(&id));
    // Browsers post textarea line breaks as CRLF; templates are stored with LF.
    let body = json!({ "text": f.text.replace("\r\n", "\n") });
    Action::new(
        Method::PUT,
        format!("/api/v1/templates/{}", enc(&id)),
        &back,
    )
    .body(body)
    .refusal("The template was not saved: ")
    .run(&s, &who, &f.csrf, "Template saved.")
    .await
}

async fn revert_template(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let back = format!("/mail/templates/{}", enc(&id));
    Action::new(
        Method::POST,
        format!("/api/v1/templates/{}/revert", enc(&id)),
        &back,
    )
    .body(json!({}))
    .refusal("Not reverted: ")
    .run(
        &s,
        &who,
        &f.csrf,
        "The template has its default text again.",
    )
    .await
}

// ---- Learn Mode ------------------------------------------------------------------------------

async fn learn_mode(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let answer = read(&s, &who, "/api/v1/settings/learn-mode").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p { "In Learn Mode the gateway runs the mail policy on every message and logs what it would have done, but sends mail on without encrypting, signing or decrypting it. Use it right after setup to check the policy against real traffic and to let the gateway build up its users and keys; turn it off to start protecting mail." }
        p.muted { "Learn Mode is on after the setup assistant. The Learn Mode entries appear in the mail log." }
        @match &answer {
            Err(p) => (unavailable("Learn Mode", p)),
            Ok(v) => {
                @let on = v["learn_mode"] == true;
                p.state { "Learn Mode is " @if on { strong.badge.warn { "on" } " — mail is not being protected." } @else { strong.badge.ok { "off" } " — policy is enforced." } }
                form method="post" action="/mail/learn-mode" {
                    (csrf_field(&who.session))
                    input type="hidden" name="learn_mode" value=(if on { "off" } else { "on" });
                    button type="submit" class=[on.then_some("danger")] disabled[!can] {
                        @if on { "Turn Learn Mode off" } @else { "Turn Learn Mode on" }
                    }
                }
            }
        }
    };
    page("Learn Mode", "/mail/learn-mode", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct LearnForm {
    #[serde(default)]
    csrf: String,
    learn_mode: String,
}

async fn set_learn_mode(
    who: UiAdmin,
    State(s): State<AppState>,
    Form(f): Form<LearnForm>,
) -> Response {
    let on = f.learn_mode == "on";
    let body = json!({ "learn_mode": on });
    Action::new(
        Method::PUT,
        "/api/v1/settings/learn-mode",
        "/mail/learn-mode",
    )
    .body(body)
    .refusal("Learn Mode was not changed: ")
    .run(
        &s,
        &who,
        &f.csrf,
        if on {
            "Learn Mode is on."
        } else {
            "Learn Mode is off: policy is enforced."
        },
    )
    .await
}

// ---- Proxies and mail routes (node-local) ----------------------------------------------------

async fn mail_routes(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let list = read(&s, &who, "/api/v1/mail/routes").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p { "Mail routes send mail for a domain to a chosen host instead of the domain's MX; " code { "*" } " matches every domain without a route of its own. They apply to mail this node sends directly, are node-local (this page shows the member you are signed in to), and take effect at once. Routes from " code { "signetd.toml" } " (" code { "[[mail.route]]" } ") are listed too; they change only there. See docs/mail.md." }
        @match &list {
            Err(p) => (unavailable("The mail routes", p)),
            Ok(v) => {
                @let items = v.as_array().cloned().unwrap_or_default();
                @if items.is_empty() { p.muted { "No mail routes: mail goes to each domain's MX." } }
                @else {
                    table.routes {
                        thead { tr { th { "Domain" } th { "Host" } th { "Port" } th { "From" } th { "" } } }
                        tbody {
                            @for r in &items {
                                tr {
                                    td { code { (text(r, "domain")) } }
                                    td { code { (text(r, "host")) } }
                                    td { (r["port"]) }
                                    td { @if text(r, "source") == "api" { "added here" } @else { "signetd.toml" } }
                                    td { @if text(r, "source") == "api" {
                                        (post_button(&who.session, &format!("/mail/routes/{}/remove", enc(text(r, "domain"))), "Remove", "small danger", !can))
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a mail route" }
            form method="post" action="/mail/routes" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="rt-domain" { "Domain (or *)" }
                    input #rt-domain type="text" name="domain" required;
                    label for="rt-host" { "Host" }
                    input #rt-host type="text" name="host" required;
                    label for="rt-port" { "Port" }
                    input #rt-port type="number" name="port" min="1" max="65535" value="25";
                    p { button type="submit" { "Add route" } }
                }
            }
        }
    };
    page("Mail routes", "/mail/routes", &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct RouteForm {
    #[serde(default)]
    csrf: String,
    domain: String,
    host: String,
    #[serde(default)]
    port: String,
}

async fn add_route(who: UiAdmin, State(s): State<AppState>, Form(f): Form<RouteForm>) -> Response {
    let port: u64 = f.port.trim().parse().unwrap_or(25);
    let body = json!({ "domain": f.domain.trim(), "host": f.host.trim(), "port": port });
    Action::new(Method::POST, "/api/v1/mail/routes", "/mail/routes")
        .body(body)
        .refusal("The route was not added: ")
        .run_with(&s, &who, &f.csrf, |v| {
            format!(
                "Mail for {} now goes to {}.",
                text(v, "domain"),
                text(v, "host")
            )
        })
        .await
}

async fn remove_route(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(domain): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let path = format!("/api/v1/mail/routes/{}", enc(&domain));
    Action::new(Method::DELETE, path, "/mail/routes")
        .refusal("The route was not removed: ")
        .run_with(&s, &who, &f.csrf, |_| {
            format!("The route for {domain} was removed.")
        })
        .await
}
