//! `/api/v1/policy/chains/{chain}/rules`: rule-level editing (guide §14: add, edit, reorder,
//! enable/disable, delete rules) and `PATCH /api/v1/policy/chains/{chain}`.
//!
//! Each write reads the chain, changes it with a pure function of `signet_policy::edit`, and
//! stores it through [`store_chain`], which validates the whole policy first: errors refuse the
//! edit (422, nothing changed), warnings come back with the answer. Positions are 1-based, the
//! order numbers the guide's rule list shows. Two administrators editing one chain at once
//! race like two `PUT`s of the chain: the later write wins.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;
use signet_policy::edit::{self, EditError};
use signet_policy::model::{Applicability, Rule};

use crate::api::{Admin, ApiResult, to_json};
use crate::api_policy::{load_chain, store_chain};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/policy/chains/{chain}/rules",
            get(list_rules).post(add_rule),
        )
        .route(
            "/api/v1/policy/chains/{chain}/rules/{rule}",
            get(show_rule).put(put_rule).delete(delete_rule),
        )
        .route(
            "/api/v1/policy/chains/{chain}/rules/{rule}/move",
            post(move_rule),
        )
        .route(
            "/api/v1/policy/chains/{chain}/rules/{rule}/enable",
            post(enable_rule),
        )
        .route(
            "/api/v1/policy/chains/{chain}/rules/{rule}/disable",
            post(disable_rule),
        )
}

impl From<EditError> for Problem {
    fn from(e: EditError) -> Self {
        let status = match e {
            EditError::UnknownRule { .. } => StatusCode::NOT_FOUND,
            EditError::DuplicateRule { .. } => StatusCode::CONFLICT,
            EditError::BadPosition { .. } | EditError::EmptyName => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        Problem::new(status, e.to_string())
    }
}

/// The rules of a chain in order: position, name, enabled, description.
async fn list_rules(
    admin: Admin,
    State(s): State<AppState>,
    Path(chain): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let chain = load_chain(&s, &chain).await?;
    Ok(Json(Value::Array(
        chain
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "position": i + 1,
                    "name": r.name,
                    "enabled": r.enabled,
                    "description": r.description,
                    "actions": r.actions.len(),
                })
            })
            .collect(),
    )))
}

/// One rule as JSON, exactly as it appears in the chain (edit it and `PUT` it back).
async fn show_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let chain = load_chain(&s, &chain).await?;
    to_json(edit::find_rule(&chain, &rule)?)
}

#[derive(Deserialize)]
struct AddQuery {
    /// 1-based; absent appends.
    position: Option<usize>,
}

/// Adds the rule in the body at `?position=N` (1-based), or last.
async fn add_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path(chain): Path<String>,
    query: Result<Query<AddQuery>, axum::extract::rejection::QueryRejection>,
    ApiJson(rule): ApiJson<Rule>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let Query(query) = query.map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("position must be a number from 1: {e}"),
        )
    })?;
    let current = load_chain(&s, &chain).await?;
    let changed = edit::add_rule(&current, rule, query.position)?;
    let position = query.position.unwrap_or(changed.rules.len());
    answer(&s, changed, position, "added").await
}

/// Stores the edited chain and answers with the rule's position and the warnings.
async fn answer(
    s: &AppState,
    chain: signet_policy::model::Chain,
    position: usize,
    what: &str,
) -> ApiResult {
    let name = chain.name.clone();
    let rule = chain
        .rules
        .get(position.saturating_sub(1))
        .map(|r| json!({ "name": r.name, "enabled": r.enabled }))
        .unwrap_or(Value::Null);
    let warnings = store_chain(s, chain, true).await?;
    Ok(Json(json!({
        "chain": name,
        "rule": rule,
        "done": what,
        "position": position,
        "warnings": warnings,
    })))
}

/// Replaces the rule in place; the body may rename it.
async fn put_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    ApiJson(new): ApiJson<Rule>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let current = load_chain(&s, &chain).await?;
    let i = edit::rule_index(&current, &rule).unwrap_or(0);
    let changed = edit::replace_rule(&current, &rule, new)?;
    answer(&s, changed, i + 1, "replaced").await
}

async fn delete_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let current = load_chain(&s, &chain).await?;
    let (changed, removed) = edit::delete_rule(&current, &rule)?;
    let name = changed.name.clone();
    let warnings = store_chain(&s, changed, true).await?;
    Ok(Json(json!({
        "chain": name,
        "removed": removed.name,
        "warnings": warnings,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    /// 1-based position the rule ends at.
    position: usize,
}

async fn move_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    ApiJson(body): ApiJson<MoveBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let current = load_chain(&s, &chain).await?;
    let changed = edit::move_rule(&current, &rule, body.position)?;
    answer(&s, changed, body.position, "moved").await
}

async fn enable_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    set_enabled(&s, &chain, &rule, true).await
}

async fn disable_rule(
    admin: Admin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    set_enabled(&s, &chain, &rule, false).await
}

async fn set_enabled(s: &AppState, chain: &str, rule: &str, enabled: bool) -> ApiResult {
    let current = load_chain(s, chain).await?;
    let changed = edit::set_rule_enabled(&current, rule, enabled)?;
    let i = edit::rule_index(&changed, rule).unwrap_or(0);
    answer(
        s,
        changed,
        i + 1,
        if enabled { "enabled" } else { "disabled" },
    )
    .await
}

/// What `PATCH /api/v1/policy/chains/{chain}` may change. Chains have no description in the
/// model, and renaming would break every Go to chain that names the chain, so applicability is
/// the one chain-level setting.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChainPatch {
    applicability: Option<Applicability>,
}

pub(crate) async fn patch_chain(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<ChainPatch>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let mut chain = load_chain(&s, &name).await?;
    if let Some(applicability) = patch.applicability {
        chain = edit::set_applicability(&chain, applicability);
    }
    let applicability = chain.applicability;
    let name = chain.name.clone();
    let warnings = store_chain(&s, chain, true).await?;
    Ok(Json(json!({
        "name": name,
        "applicability": applicability,
        "warnings": warnings,
    })))
}
