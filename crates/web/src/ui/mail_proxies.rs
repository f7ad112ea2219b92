//! Mail > Proxies: this node's mail settings (host name, placement, inbound mail server,
//! outbound delivery), its SMTP proxies (list, add, edit, delete) and its archive servers. All
//! node-local and applied at once, without a restart; a refused value is shown next to its
//! field. Every action is an `/api/v1/mail/...` call.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Value, json};
use signet_model::Permission;

use super::forms::{FlashQuery, csrf_refused, done, enc, may, text, unavailable};
use super::widgets::{Action, CsrfForm, Posted, field, post_button, read, token};
use super::{UiAdmin, api_call, csrf_field, csrf_ok, page};
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mail/proxies", get(overview).post(save_settings))
        .route("/mail/proxies/new", get(new_proxy).post(add_proxy))
        .route("/mail/proxies/{id}/edit", get(edit_page).post(save_proxy))
        .route("/mail/proxies/{id}/delete", post(delete_proxy))
        .route("/mail/archive-servers", post(add_archive))
        .route("/mail/archive-servers/{name}/remove", post(remove_archive))
}

type Errors = HashMap<&'static str, String>;

fn error_at(errors: &Errors, name: &str) -> Markup {
    html! { @if let Some(e) = errors.get(name) { p.field-error role="alert" id=(format!("{name}-error")) { (e) } } }
}

/// The form field a refusal belongs to, from the API's `field` (`connectors[0].port` →
/// `connectors`).
fn form_field(p: &Problem, fields: &[&'static str], fallback: &'static str) -> &'static str {
    let named = p
        .extra
        .as_ref()
        .and_then(|e| e.get("field"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let head = named.split(['.', '[']).next().unwrap_or(named).to_string();
    fields
        .iter()
        .copied()
        .find(|f| *f == head)
        .unwrap_or(fallback)
}

fn security_options(name: &str, current: &str, choices: &[&str]) -> Markup {
    html! {
        select name=(name) id=(name) {
            @for c in choices { option value=(c) selected[*c == current] { (c) } }
        }
    }
}

const PEER: &[&str] = &["attempt", "disable", "require", "ssl"];

/// `host:port (security)` or "direct (MX)".
fn peer_text(d: &Value) -> String {
    match text(d, "kind") {
        "relay" => format!(
            "{}:{} ({})",
            text(d, "host"),
            d["port"]
                .as_u64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "25".into()),
            d["security"].as_str().unwrap_or("attempt")
        ),
        _ => "direct (MX, mail routes)".into(),
    }
}

async fn overview(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Response {
    settings_page(&who, &s, q, None, &Errors::new()).await
}

async fn settings_page(
    who: &UiAdmin,
    s: &AppState,
    q: FlashQuery,
    posted: Option<&Posted>,
    errors: &Errors,
) -> Response {
    let settings = read(s, who, "/api/v1/mail/settings").await;
    let proxies = read(s, who, "/api/v1/mail/proxies").await;
    let archives = read(s, who, "/api/v1/mail/archive-servers").await;
    let can = may(who, Permission::ConfigureSystem);
    let body = html! {
        p { "These settings and proxies are node-local (this page shows the member you are signed in to) and take effect at once, without a restart. Values set here win over this node's " code { "signetd.toml" } "; see docs/mail.md." }
        @match &settings {
            Err(p) => (unavailable("The mail settings", p)),
            Ok(v) => (settings_form(who, v, posted, errors, can)),
        }
        h2 { "SMTP proxies" }
        @match (&proxies, &settings) {
            (Err(p), _) => (unavailable("The proxies", p)),
            (Ok(list), st) => {
                @let items = list.as_array().cloned().unwrap_or_default();
                @let st = st.as_ref().ok().cloned().unwrap_or(Value::Null);
                @if items.is_empty() { p.muted { "This node runs no mail proxy, and so no mail queue." } }
                @else {
                    table.proxies {
                        thead { tr { th { "Proxy" } th { "Kind" } th { "Connectors" } th { "Peer" } th { "State" } th { "" } } }
                        tbody {
                            @for p in &items {
                                @let id = text(p, "id");
                                tr {
                                    td { code { (id) } }
                                    td { (text(p, "kind")) }
                                    td { @for c in p["connectors"].as_array().into_iter().flatten() {
                                        div { code { (text(c, "listen")) } " " (text(c, "security")) }
                                    } }
                                    td {
                                        @match text(p, "kind") {
                                            "inbound" => { "mail server " (peer_text(&st["inbound_mail_server"])) },
                                            "outbound" => { (peer_text(&st["outbound_delivery"])) },
                                            _ => {
                                                div { "inbound: " (peer_text(&st["inbound_mail_server"])) }
                                                div { "outbound: " (peer_text(&st["outbound_delivery"])) }
                                            },
                                        }
                                    }
                                    td.state { (text(p, "state")) }
                                    td {
                                        a.button.small href=(format!("/mail/proxies/{}/edit", enc(id))) { "Edit" }
                                        " "
                                        (post_button(&who.session, &format!("/mail/proxies/{}/delete", enc(id)), "Delete", "small danger", !can))
                                    }
                                }
                            }
                        }
                    }
                }
                p { a.button href="/mail/proxies/new" { "Add a proxy" } }
            }
        }
        h2 { "Archive servers" }
        p { "Rules with the action \"Send copy to alternate archive server\" name these." }
        @match &archives {
            Err(p) => (unavailable("The archive servers", p)),
            Ok(list) => {
                @let items = list.as_array().cloned().unwrap_or_default();
                @if items.is_empty() { p.muted { "No archive servers." } }
                @else {
                    table.archive-servers {
                        thead { tr { th { "Name" } th { "Host" } th { "Port" } th { "Security" } th { "" } } }
                        tbody { @for a in &items { tr {
                            td { (text(a, "name")) }
                            td { code { (text(a, "host")) } }
                            td { (a["port"]) }
                            td { (text(a, "security")) }
                            td { (post_button(&who.session, &format!("/mail/archive-servers/{}/remove", enc(text(a, "name"))), "Delete", "small danger", !can)) }
                        } } }
                    }
                }
            }
        }
        form method="post" action="/mail/archive-servers" {
            (csrf_field(&who.session))
            fieldset disabled[!can] {
                label for="ar-name" { "Name" }
                input #ar-name type="text" name="name" required;
                label for="ar-host" { "Host name or address" }
                input #ar-host type="text" name="host" required;
                label for="ar-port" { "Port (25, or 465 for SSL, when empty)" }
                input #ar-port type="number" name="port" min="1" max="65535";
                label for="ar-security" { "Security" }
                (security_options("security", "attempt", PEER))
                p { button type="submit" { "Add archive server" } }
            }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (
        status,
        page("Proxies", "/mail/proxies", who, q.flash(), body),
    )
        .into_response()
}

/// The settings form: posted values when re-shown after a refusal, else the node's.
fn settings_form(
    who: &UiAdmin,
    v: &Value,
    posted: Option<&Posted>,
    errors: &Errors,
    can: bool,
) -> Markup {
    let val = |name: &str, from_api: String| -> String {
        posted.map(|p| field(p, name)).unwrap_or(from_api)
    };
    let relay_host = |d: &Value| {
        if text(d, "kind") == "relay" {
            text(d, "host").to_string()
        } else {
            String::new()
        }
    };
    let port_of = |d: &Value| {
        d["port"]
            .as_u64()
            .map(|p| p.to_string())
            .unwrap_or_default()
    };
    let sec_of = |d: &Value| d["security"].as_str().unwrap_or("attempt").to_string();
    let inbound = &v["inbound_mail_server"];
    let outbound = &v["outbound_delivery"];
    let hostname = val("hostname", text(v, "hostname").to_string());
    let placement = val("placement", text(v, "placement").to_string());
    let bounce = posted
        .map(|p| field(p, "bounce") == "on")
        .unwrap_or(v["bounce_unmanaged_senders"] == true);
    let in_host = val("inbound_host", relay_host(inbound));
    let in_port = val("inbound_port", port_of(inbound));
    let in_sec = val("inbound_security", sec_of(inbound));
    let out_relay = posted
        .map(|p| field(p, "outbound") == "relay")
        .unwrap_or(text(outbound, "kind") == "relay");
    let out_host = val("outbound_host", relay_host(outbound));
    let out_port = val("outbound_port", port_of(outbound));
    let out_sec = val("outbound_security", sec_of(outbound));
    html! {
        h2 { "Mail settings" }
        form method="post" action="/mail/proxies" {
            (csrf_field(&who.session))
            fieldset disabled[!can] {
                label for="hostname" { "Host name (SMTP greeting and EHLO)" }
                input #hostname type="text" name="hostname" value=(hostname);
                (error_at(errors, "hostname"))
                label for="placement" { "Placement" }
                (security_options("placement", &placement, &["gateway", "internal"]))
                (error_at(errors, "placement"))
                label { input type="checkbox" name="bounce" checked[bounce]; " Bounce outbound mail from domains that are not managed" }
                h3 { "Inbound mail server" }
                label for="inbound_host" { "Host name or address (empty: deliver by MX)" }
                input #inbound_host type="text" name="inbound_host" value=(in_host);
                label for="inbound_port" { "Port (25, or 465 for SSL, when empty)" }
                input #inbound_port type="number" name="inbound_port" min="1" max="65535" value=(in_port);
                label for="inbound_security" { "Security" }
                (security_options("inbound_security", &in_sec, PEER))
                (error_at(errors, "inbound_mail_server"))
                h3 { "Outbound delivery" }
                label { input type="radio" name="outbound" value="direct" checked[!out_relay]; " Send mail directly to the recipient's mail server" }
                label { input type="radio" name="outbound" value="relay" checked[out_relay]; " Send all outbound mail to a relay" }
                label for="outbound_host" { "Relay host" }
                input #outbound_host type="text" name="outbound_host" value=(out_host);
                label for="outbound_port" { "Relay port" }
                input #outbound_port type="number" name="outbound_port" min="1" max="65535" value=(out_port);
                label for="outbound_security" { "Relay security" }
                (security_options("outbound_security", &out_sec, PEER))
                (error_at(errors, "outbound_delivery"))
                p { button type="submit" { "Save mail settings" } }
            }
        }
    }
}

/// A port field: empty for the default, else a number (0 and junk go to the API, which names
/// the field).
fn port_value(raw: &str) -> Value {
    if raw.is_empty() {
        Value::Null
    } else {
        raw.parse::<u64>().map(Value::from).unwrap_or(json!(raw))
    }
}

fn relay(host: &str, port: &str, security: &str) -> Value {
    let mut v = json!({ "kind": "relay", "host": host, "security": security });
    if !port.is_empty() {
        v["port"] = port_value(port);
    }
    v
}

async fn save_settings(who: UiAdmin, State(s): State<AppState>, Form(f): Form<Posted>) -> Response {
    if !csrf_ok(&who.session, token(&f)) {
        return csrf_refused();
    }
    let hostname = field(&f, "hostname");
    let inbound = match field(&f, "inbound_host").as_str() {
        "" => json!({ "kind": "direct" }),
        host => relay(
            host,
            &field(&f, "inbound_port"),
            &field(&f, "inbound_security"),
        ),
    };
    let outbound = if field(&f, "outbound") == "relay" {
        relay(
            &field(&f, "outbound_host"),
            &field(&f, "outbound_port"),
            &field(&f, "outbound_security"),
        )
    } else {
        json!({ "kind": "direct" })
    };
    let mut body = json!({
        "placement": field(&f, "placement"),
        "bounce_unmanaged_senders": field(&f, "bounce") == "on",
        "inbound_mail_server": inbound,
        "outbound_delivery": outbound,
    });
    if !hostname.is_empty() {
        body["hostname"] = json!(hostname);
    }
    match api_call(
        &s,
        &who.session,
        Method::PUT,
        "/api/v1/mail/settings",
        Some(&body),
    )
    .await
    {
        Ok(_) => done(
            "/mail/proxies",
            "The mail settings were saved; the proxies use them now.",
        ),
        Err(p) => {
            let at = form_field(
                &p,
                &[
                    "hostname",
                    "placement",
                    "inbound_mail_server",
                    "outbound_delivery",
                ],
                "hostname",
            );
            let mut errors = Errors::new();
            errors.insert(at, p.detail.clone());
            settings_page(&who, &s, FlashQuery::default(), Some(&f), &errors).await
        }
    }
}

/// The proxy form's values, from the API's proxy or from the posted form.
struct ProxyForm {
    kind: String,
    connectors: String,
    designated: String,
    allow: String,
    block: String,
    auth: String,
}

impl ProxyForm {
    fn from_api(p: &Value) -> ProxyForm {
        let lines = |v: &Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let connectors = p["connectors"].as_array().cloned().unwrap_or_default();
        let first = connectors.first().cloned().unwrap_or(Value::Null);
        ProxyForm {
            kind: text(p, "kind").to_string(),
            connectors: connectors
                .iter()
                .map(|c| format!("{} {}", text(c, "listen"), text(c, "security")))
                .collect::<Vec<_>>()
                .join("\n"),
            designated: lines(&p["designated_source_ips"]),
            allow: lines(&first["allow"]),
            block: lines(&first["block"]),
            auth: p["auth"].as_str().unwrap_or("none").to_string(),
        }
    }

    fn from_post(f: &Posted) -> ProxyForm {
        ProxyForm {
            kind: field(f, "kind"),
            connectors: field(f, "connectors"),
            designated: field(f, "designated"),
            allow: field(f, "allow"),
            block: field(f, "block"),
            auth: field(f, "auth"),
        }
    }

    /// The API body. A connector line is `address:port [security]`; a line that does not
    /// parse goes as it is, and the API names it.
    fn body(&self) -> Value {
        let list = |t: &str| -> Vec<String> {
            t.split(['\n', ','])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        };
        let connectors: Vec<Value> = self
            .connectors
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let mut parts = line.split_whitespace();
                let addr = parts.next().unwrap_or("");
                let security = parts.next().unwrap_or("allow");
                let (interface, port) = match addr.parse::<std::net::SocketAddr>() {
                    Ok(sa) => (json!(sa.ip()), json!(sa.port())),
                    Err(_) => match addr.parse::<u64>() {
                        Ok(port) => (json!("0.0.0.0"), json!(port)),
                        Err(_) => (json!(addr), Value::Null),
                    },
                };
                let mut c = json!({ "interface": interface, "security": security,
                    "allow": list(&self.allow), "block": list(&self.block) });
                if !port.is_null() {
                    c["port"] = port;
                }
                c
            })
            .collect();
        json!({
            "kind": self.kind,
            "connectors": connectors,
            "designated_source_ips": list(&self.designated),
            "auth": if self.auth.is_empty() { "none" } else { self.auth.as_str() },
        })
    }
}

fn proxy_page(
    who: &UiAdmin,
    action: &str,
    title: &str,
    form: &ProxyForm,
    errors: &Errors,
) -> Response {
    let can = may(who, Permission::ConfigureSystem);
    let body = html! {
        p { a href="/mail/proxies" { "← Proxies" } }
        form method="post" action=(action) {
            (csrf_field(&who.session))
            fieldset disabled[!can] {
                label for="kind" { "Kind" }
                select #kind name="kind" {
                    @for (v, l) in [("unified", "Unified (direction by source address)"), ("inbound", "Inbound"), ("outbound", "Outbound")] {
                        option value=(v) selected[form.kind == v] { (l) }
                    }
                }
                (error_at(errors, "kind"))
                label for="connectors" { "Local connectors: one per line, " code { "address:port security" } " (security allow, disable, require or ssl; e.g. " code { "0.0.0.0:25 allow" } ", " code { "0.0.0.0:465 ssl" } ")" }
                textarea #connectors name="connectors" rows="3" { (form.connectors) }
                (error_at(errors, "connectors"))
                label for="designated" { "Designated Source IPs (Unified: these send outbound mail; one per line)" }
                textarea #designated name="designated" rows="3" { (form.designated) }
                (error_at(errors, "designated_source_ips"))
                label for="allow" { "Allow only these clients (addresses or CIDR ranges; empty allows all)" }
                textarea #allow name="allow" rows="2" { (form.allow) }
                label for="block" { "Block these clients" }
                textarea #block name="block" rows="2" { (form.block) }
                label for="auth" { "SMTP AUTH" }
                select #auth name="auth" {
                    option value="none" selected[form.auth != "mail_server"] { "None" }
                    option value="mail_server" selected[form.auth == "mail_server"] { "Passed to the mail server" }
                }
                (error_at(errors, "other"))
                p { button type="submit" { "Save proxy" } }
            }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, page(title, "/mail/proxies", who, None, body)).into_response()
}

async fn new_proxy(who: UiAdmin) -> Response {
    let form = ProxyForm {
        kind: "unified".into(),
        connectors: "0.0.0.0:25 allow".into(),
        designated: String::new(),
        allow: String::new(),
        block: String::new(),
        auth: "none".into(),
    };
    proxy_page(
        &who,
        "/mail/proxies/new",
        "Add a proxy",
        &form,
        &Errors::new(),
    )
}

async fn edit_page(who: UiAdmin, State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let path = format!("/api/v1/mail/proxies/{}", enc(&id));
    match read(&s, &who, &path).await {
        Ok(p) => proxy_page(
            &who,
            &format!("/mail/proxies/{}/edit", enc(&id)),
            &format!("Proxy {id}"),
            &ProxyForm::from_api(&p),
            &Errors::new(),
        ),
        Err(p) => super::forms::failed("/mail/proxies", &p.detail),
    }
}

async fn submit_proxy(
    who: UiAdmin,
    s: AppState,
    f: Posted,
    method: Method,
    api_path: String,
    action: String,
    title: String,
) -> Response {
    if !csrf_ok(&who.session, token(&f)) {
        return csrf_refused();
    }
    let form = ProxyForm::from_post(&f);
    match api_call(&s, &who.session, method, &api_path, Some(&form.body())).await {
        Ok(v) => done(
            "/mail/proxies",
            &format!(
                "Proxy {} saved; it runs with these settings now.",
                text(&v, "id")
            ),
        ),
        Err(p) => {
            let at = form_field(
                &p,
                &["kind", "connectors", "designated_source_ips"],
                "other",
            );
            let mut errors = Errors::new();
            errors.insert(at, p.detail.clone());
            proxy_page(&who, &action, &title, &form, &errors)
        }
    }
}

async fn add_proxy(who: UiAdmin, State(s): State<AppState>, Form(f): Form<Posted>) -> Response {
    submit_proxy(
        who,
        s,
        f,
        Method::POST,
        "/api/v1/mail/proxies".into(),
        "/mail/proxies/new".into(),
        "Add a proxy".into(),
    )
    .await
}

async fn save_proxy(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<Posted>,
) -> Response {
    submit_proxy(
        who,
        s,
        f,
        Method::PUT,
        format!("/api/v1/mail/proxies/{}", enc(&id)),
        format!("/mail/proxies/{}/edit", enc(&id)),
        format!("Proxy {id}"),
    )
    .await
}

async fn delete_proxy(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/mail/proxies/{}", enc(&id)),
        "/mail/proxies",
    )
    .refusal("The proxy was not deleted: ")
    .run_with(&s, &who, &f.csrf, |_| format!("Proxy {id} was deleted."))
    .await
}

async fn add_archive(who: UiAdmin, State(s): State<AppState>, Form(f): Form<Posted>) -> Response {
    let mut body = json!({
        "name": field(&f, "name"),
        "host": field(&f, "host"),
        "security": field(&f, "security"),
    });
    let port = field(&f, "port");
    if !port.is_empty() {
        body["port"] = port_value(&port);
    }
    Action::new(
        Method::POST,
        "/api/v1/mail/archive-servers",
        "/mail/proxies",
    )
    .body(body)
    .refusal("The archive server was not added: ")
    .run_with(&s, &who, token(&f), |v| {
        format!("Archive server {} added.", text(v, "name"))
    })
    .await
}

async fn remove_archive(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    Action::new(
        Method::DELETE,
        format!("/api/v1/mail/archive-servers/{}", enc(&name)),
        "/mail/proxies",
    )
    .refusal("The archive server was not deleted: ")
    .run_with(&s, &who, &f.csrf, |_| {
        format!("Archive server {name} was deleted.")
    })
    .await
}
