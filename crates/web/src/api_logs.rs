//! `/api/v1` routes for this node's log book and activity samples (node-local, like the
//! reference product's Logs and Graphs pages).

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use signet_model::Permission;

use crate::api::{Admin, ApiResult};
use crate::logbook::{COMPONENTS, LogQuery, export_line};
use crate::{AppState, Problem};

/// At most this many events in one JSON answer.
const MAX_LIMIT: usize = 5_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/logs", get(list))
        .route("/api/v1/logs/export", get(export))
        .route("/api/v1/activity", get(activity))
}

/// The query string of both log routes.
#[derive(Deserialize, Default)]
pub struct LogParams {
    /// error, warn, info, debug or trace: that level and the more severe ones.
    pub level: Option<String>,
    /// Text to find (case-insensitive), e.g. a sender or a Message-ID.
    pub q: Option<String>,
    /// mail, keyserver, admin, cluster or system.
    pub component: Option<String>,
    pub limit: Option<usize>,
}

impl LogParams {
    /// Checks the parameters and turns them into a query of at most `max` events.
    pub fn to_query(&self, max: usize) -> Result<LogQuery, Problem> {
        let level = match self.level.as_deref().map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(l) => Some(l.parse::<tracing::Level>().map_err(|_| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("level {l:?}: use error, warn, info, debug or trace"),
                )
            })?),
        };
        let component = match self.component.as_deref().map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(c) if COMPONENTS.contains(&c) => Some(c.to_string()),
            Some(c) => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("component {c:?}: use one of {}", COMPONENTS.join(", ")),
                ));
            }
        };
        Ok(LogQuery {
            level,
            text: self.q.clone(),
            component,
            limit: self.limit.unwrap_or(500).clamp(1, max),
        })
    }
}

async fn list(
    admin: Admin,
    State(s): State<AppState>,
    Query(params): Query<LogParams>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let query = params.to_query(MAX_LIMIT)?;
    Ok(Json(json!({
        "node": s.node.id(),
        "entries": s.logbook.query(&query),
    })))
}

/// The matching events as a text file, oldest first.
async fn export(
    admin: Admin,
    State(s): State<AppState>,
    Query(params): Query<LogParams>,
) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let mut query = params.to_query(usize::MAX)?;
    if params.limit.is_none() {
        query.limit = usize::MAX;
    }
    let mut text = String::new();
    for entry in s.logbook.query(&query).iter().rev() {
        text.push_str(&export_line(entry));
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"signet-node-{}.log\"", s.node.id()),
            ),
        ],
        text,
    )
        .into_response())
}

async fn activity(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    Ok(Json(json!({
        "node": s.node.id(),
        "interval_secs": s.activity.interval().as_secs_f64(),
        "samples": s.activity.samples(),
    })))
}
