//! `/api/v1/templates`: message templates (guide: Mail > Message Templates). Every template the
//! guide names is listed; an edited text is checked (header section, empty line, only the
//! template's variables) before it is stored, and "revert" restores the factory text.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{MessageTemplate, Permission, TEMPLATES, check_template, template_spec};
use signet_store::{Command, now_millis};

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/templates", get(list))
        .route("/api/v1/templates/{id}", get(show).put(set))
        .route("/api/v1/templates/{id}/revert", post(revert))
}

fn unknown(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("there is no message template {id:?} (see GET /api/v1/templates)"),
    )
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let mut out = Vec::new();
    for t in TEMPLATES {
        out.push(json!({
            "id": t.id,
            "title": t.title,
            "trigger": t.trigger,
            "variables": t.variables,
            "in_use": t.in_use,
            "edited": view.message_template(t.id)?.is_some(),
        }));
    }
    Ok(Json(Value::Array(out)))
}

async fn show(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let spec = template_spec(&id).ok_or_else(|| unknown(&id))?;
    let view = s.node.read().await?;
    let edited = view.message_template(spec.id)?;
    Ok(Json(json!({
        "id": spec.id,
        "title": spec.title,
        "trigger": spec.trigger,
        "variables": spec.variables,
        "in_use": spec.in_use,
        "edited": edited.is_some(),
        "updated_at": edited.as_ref().map(|t| t.updated_at),
        "text": edited.map(|t| t.text).unwrap_or_else(|| spec.default_text.to_string()),
        "default_text": spec.default_text,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    text: String,
}

async fn set(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let spec = template_spec(&id).ok_or_else(|| unknown(&id))?;
    check_template(spec.id, &body.text).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{e}; nothing was changed"),
        )
    })?;
    s.node
        .execute(Command::SetMessageTemplate {
            template: MessageTemplate {
                id: spec.id.to_string(),
                text: body.text.replace("\r\n", "\n"),
                updated_at: now_millis(),
            },
        })
        .await?;
    Ok(Json(json!({ "id": spec.id, "edited": true })))
}

async fn revert(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let spec = template_spec(&id).ok_or_else(|| unknown(&id))?;
    s.node
        .execute(Command::RevertMessageTemplate {
            id: spec.id.to_string(),
        })
        .await?;
    Ok(Json(json!({ "id": spec.id, "edited": false })))
}
