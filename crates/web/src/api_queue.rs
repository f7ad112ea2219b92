//! `/api/v1/queue`: this member's mail queue (guide: Mail > Mail Queue). The queue is
//! node-local, so the answer is about the member the request reached. Deleting a message does
//! not notify its sender, as the guide says.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_model::Permission;

use crate::api::{Admin, ApiResult};
use crate::{AppState, Problem};

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queued message {0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
    /// No queue runs on this member now (it has no mail proxy).
    #[error("this member runs no mail proxies, so it has no mail queue")]
    NoQueue,
}

/// What the API needs from the member's queue (implemented by the daemon, which owns it).
pub trait MailQueue: Send + Sync + 'static {
    /// Every queued message, oldest first, as the queue view shows it.
    fn list(&self) -> Result<Vec<Value>, QueueError>;
    fn delete(&self, id: &str) -> Result<(), QueueError>;
    /// Makes the message's pending recipients due now.
    fn retry(&self, id: &str) -> Result<(), QueueError>;
}

pub type SharedQueue = Arc<dyn MailQueue>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/queue", get(list).delete(delete_all))
        .route("/api/v1/queue/{id}", axum::routing::delete(delete_one))
        .route("/api/v1/queue/{id}/retry", post(retry))
}

fn queue(s: &AppState) -> Result<&SharedQueue, Problem> {
    s.mail_queue.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "this member runs no mail proxies, so it has no mail queue",
        )
    })
}

fn problem(e: QueueError) -> Problem {
    match e {
        QueueError::NotFound(_) | QueueError::NoQueue => {
            Problem::new(StatusCode::NOT_FOUND, e.to_string())
        }
        QueueError::Other(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    Ok(Json(Value::Array(queue(&s)?.list().map_err(problem)?)))
}

async fn delete_one(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    queue(&s)?.delete(&id).map_err(problem)?;
    Ok(Json(json!({ "deleted": [id] })))
}

async fn delete_all(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let q = queue(&s)?;
    let mut deleted = Vec::new();
    for entry in q.list().map_err(problem)? {
        if let Some(id) = entry["id"].as_str() {
            match q.delete(id) {
                Ok(()) | Err(QueueError::NotFound(_)) => deleted.push(id.to_string()),
                Err(e) => return Err(problem(e)),
            }
        }
    }
    Ok(Json(json!({ "deleted": deleted })))
}

async fn retry(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ControlServices)?;
    queue(&s)?.retry(&id).map_err(problem)?;
    Ok(Json(json!({ "retrying": id })))
}
