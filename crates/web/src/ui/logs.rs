//! The Logs page (`/system/logs`): this member's recent log events, filtered by level and
//! component and searched by text (a sender, a Message-ID, a connection like SMTP-00012), with
//! a link that downloads the same selection as text.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::widgets::read;
use super::{Flash, UiAdmin, page};
use crate::AppState;
use crate::logbook::{COMPONENTS, format_time};

pub fn routes() -> Router<AppState> {
    Router::new().route("/system/logs", get(logs))
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn logs(
    State(s): State<AppState>,
    who: UiAdmin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let level = q.get("level").cloned().unwrap_or_default();
    let component = q.get("component").cloned().unwrap_or_default();
    let text = q.get("q").cloned().unwrap_or_default();
    let query = format!(
        "level={}&component={}&q={}",
        encode(&level),
        encode(&component),
        encode(&text)
    );
    let answer = read(&s, &who, &format!("/api/v1/logs?{query}&limit=1000")).await;
    let (entries, flash) = match answer {
        Ok(v) => (v["entries"].as_array().cloned().unwrap_or_default(), None),
        Err(p) => (Vec::new(), Some(Flash::Error(p.detail))),
    };
    let body = html! {
        form.filters method="get" action="/system/logs" {
            div.row {
                div {
                    label for="level" { "Level" }
                    select #level name="level" {
                        @for (value, name) in [("", "All"), ("error", "Errors"), ("warn", "Warnings and errors"), ("info", "Information and above"), ("debug", "Debug and above")] {
                            option value=(value) selected[level == value] { (name) }
                        }
                    }
                }
                div {
                    label for="component" { "Component" }
                    select #component name="component" {
                        option value="" selected[component.is_empty()] { "All" }
                        @for c in COMPONENTS { option value=(c) selected[component == *c] { (c) } }
                    }
                }
                div.grow {
                    label for="q" { "Search" }
                    input #q type="text" name="q" value=(text) placeholder="sender, recipient, Message-ID, SMTP-00012 ...";
                }
            }
            div.buttons {
                button type="submit" { "Show" }
                a.button href=(format!("/api/v1/logs/export?{query}")) download { "Export as text" }
            }
        }
        p.muted { (entries.len()) " events, newest first (this member only; it keeps its last 20,000)." }
        table.logs #log-entries {
            thead { tr { th { "Time (UTC)" } th { "Level" } th { "Component" } th { "Message" } } }
            tbody {
                @for e in &entries {
                    @let lvl = e["level"].as_str().unwrap_or("");
                    tr class=(format!("level-{}", lvl.to_ascii_lowercase())) {
                        td.nowrap { (format_time(e["at"].as_u64().unwrap_or(0))) }
                        td { (lvl) }
                        td { (e["component"].as_str().unwrap_or("")) }
                        td.message { (e["message"].as_str().unwrap_or("")) br; small.muted { (e["target"].as_str().unwrap_or("")) } }
                    }
                }
            }
        }
    };
    page("Logs", "/system/logs", &who, flash, body).into_response()
}
