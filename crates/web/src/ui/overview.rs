//! The System Overview (`/overview`): services, alerts, cluster members, Learn Mode, lock state,
//! mail queue size, and this node's message-activity and CPU graphs.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde_json::Value;

use super::graphs::{Graph, line_graph};
use super::{Flash, UiAdmin, api_call, page, svg};
use crate::AppState;
use crate::logbook::LogQuery;

pub fn routes() -> Router<AppState> {
    Router::new().route("/overview", get(overview))
}

fn badge(ok: bool, yes: &str, no: &str) -> Markup {
    html! { span class=(if ok { "badge ok" } else { "badge bad" }) { (if ok { yes } else { no }) } }
}

async fn overview(
    State(s): State<AppState>,
    who: UiAdmin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |path: &'static str| {
        let s = s.clone();
        let session = who.session.clone();
        async move { api_call(&s, &session, Method::GET, path, None).await }
    };
    let cluster = get("/api/v1/cluster").await.unwrap_or(Value::Null);
    let setup = get("/api/v1/setup").await.unwrap_or(Value::Null);
    let ignition = get("/api/v1/ignition-keys").await.unwrap_or(Value::Null);
    let queue = get("/api/v1/queue").await.ok();
    let activity = get("/api/v1/activity").await.unwrap_or(Value::Null);
    // The proxies as they run now (they change through the API without a restart).
    let proxies = get("/api/v1/mail/proxies").await.unwrap_or(Value::Null);

    let learn_mode = setup["learn_mode"].as_bool().unwrap_or(false);
    let locked = cluster["locked"].as_bool().unwrap_or(false);
    let domains: Vec<String> = setup["managed_domains"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let ignition_count = ignition["keys"].as_array().map_or(0, Vec::len);
    let queue_size = queue.as_ref().and_then(Value::as_array).map(Vec::len);

    // Alerts: what an administrator should act on.
    let mut alerts: Vec<(&str, String)> = Vec::new();
    if locked {
        alerts.push(("bad", "This member is locked: mail that needs private keys waits until an Ignition Key unlocks it (System → Ignition Keys).".into()));
    }
    if setup["done"].as_bool() == Some(false) {
        alerts.push((
            "warn",
            "No Organization Key yet: the server is not set up as a gateway.".into(),
        ));
    }
    if learn_mode {
        alerts.push((
            "warn",
            "Learn Mode is on: mail is logged as policy would treat it but sent unchanged.".into(),
        ));
    }
    if let Some(p) = cluster["pending"].as_str() {
        alerts.push((
            "warn",
            format!("This member is finishing a cluster change ({p})."),
        ));
    }
    if queue_size.is_some_and(|n| n >= 100) {
        alerts.push((
            "warn",
            format!(
                "{} messages are waiting in the mail queue.",
                queue_size.unwrap_or(0)
            ),
        ));
    }
    let errors = s.logbook.query(&LogQuery {
        level: Some(tracing::Level::ERROR),
        limit: 1000,
        ..Default::default()
    });
    let hour_ago = signet_store::now_millis().saturating_sub(3_600_000);
    let recent_errors = errors.iter().filter(|e| e.at >= hour_ago).count();
    if recent_errors > 0 {
        alerts.push((
            "bad",
            format!("{recent_errors} errors logged in the last hour (System → Logs)."),
        ));
    }

    let samples = activity["samples"].as_array().cloned().unwrap_or_default();
    let msgs: Vec<(u64, f64)> = samples
        .iter()
        .filter_map(|x| Some((x["at"].as_u64()?, x["messages"].as_f64()?)))
        .collect();
    let cpu: Vec<(u64, f64)> = samples
        .iter()
        .filter_map(|x| Some((x["at"].as_u64()?, x["cpu_percent"].as_f64()?)))
        .collect();
    let interval = activity["interval_secs"].as_f64().unwrap_or(60.0);

    let flash = q
        .get("setup")
        .is_some_and(|v| v == "problems")
        .then(|| Flash::Error("Setup finished with problems; see System → Logs.".into()));

    let members = cluster["members"].as_array().cloned().unwrap_or_default();
    let leader = cluster["diagnostics"]["leader_id"].as_u64();
    let me = cluster["node_id"].as_u64();
    let facts = &s.facts;
    let body = html! {
        @if !alerts.is_empty() {
            section.alerts aria-label="Alerts" {
                h2 { "Alerts" }
                ul { @for (kind, text) in &alerts { li class=(format!("alert {kind}")) { (text) } } }
            }
        }
        div.cards {
            div.card #learn-mode {
                h2 { "Learn Mode" }
                p { span class=(if learn_mode { "badge warn" } else { "badge ok" }) data-state=(if learn_mode { "on" } else { "off" }) { (if learn_mode { "On" } else { "Off" }) } }
                p.muted { a href="/mail/learn-mode" { "Change" } }
            }
            div.card #lock-state {
                h2 { "Ignition Keys" }
                p { (badge(!locked, "Unlocked", "Locked")) " " (ignition_count) " Ignition Key" (if ignition_count == 1 { "" } else { "s" }) }
            }
            div.card #queue {
                h2 { "Mail queue" }
                p { @match queue_size { Some(n) => { strong { (n) } " waiting" }, None => span.muted { "no mail proxies on this member" } } }
            }
            div.card #domains {
                h2 { "Managed domains" }
                @if domains.is_empty() { p.muted { "none" } } @else { ul { @for d in &domains { li { (d) } } } }
            }
        }
        h2 { "Services on this member" }
        table #services {
            thead { tr { th { "Service" } th { "Listening on" } th { "State" } } }
            tbody {
                tr { td { "Administration (web and API)" } td { (facts.admin_address) } td { (badge(true, "Running", "")) } }
                @for (service, address, state) in smtp_listeners(&proxies) {
                    tr { td { (service) } td { (address) } td { (badge(state == "running", &state, &state)) } }
                }
                @for l in &facts.listeners {
                    tr { td { (l.service) } td { (l.address) } td { span.badge { "Configured" } } }
                }
            }
        }
        h2 { "Cluster members" }
        table #members {
            thead { tr { th { "Member" } th { "Admin address" } th { "Cluster address" } th { "State" } } }
            tbody {
                @for m in &members {
                    @let id = m["node_id"].as_u64().unwrap_or(0);
                    tr {
                        td { (id) @if Some(id) == me { " (this member)" } }
                        td { (m["api_addr"].as_str().unwrap_or("")) }
                        td { (m["cluster_addr"].as_str().unwrap_or("")) }
                        td {
                            @if !m["voter"].as_bool().unwrap_or(false) { span.badge.warn { "Joining" } }
                            @else if leader.is_some() { span.badge.ok { "In service" } }
                            @else { span.badge.bad { "No quorum" } }
                        }
                    }
                }
            }
        }
        h2 { "Activity on this member" }
        div.graphs {
            figure { (svg(line_graph(&Graph { title: &format!("Messages processed (per {} s)", super::graphs::number(interval)), unit: "msgs", y_max: None, points: &msgs }))) }
            figure { (svg(line_graph(&Graph { title: "CPU use", unit: "%", y_max: Some(100.0), points: &cpu }))) }
        }
    };
    page("System overview", "/overview", &who, flash, body).into_response()
}

/// (service, listen address, state) for each connector of each SMTP proxy in a
/// `GET /api/v1/mail/proxies` answer.
pub(super) fn smtp_listeners(proxies: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in proxies.as_array().into_iter().flatten() {
        let kind = p["kind"].as_str().unwrap_or("smtp");
        let mut kind_name = kind.to_string();
        if let Some(first) = kind_name.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let state = p["state"].as_str().unwrap_or("unknown").to_string();
        for c in p["connectors"].as_array().into_iter().flatten() {
            out.push((
                format!("SMTP proxy ({kind_name})"),
                c["listen"].as_str().unwrap_or("").to_string(),
                state.clone(),
            ));
        }
    }
    out
}
