//! `/api/v1/policy`: the mail policy's chains (guide §14), read and written whole. Every write
//! is validated against the whole policy first: errors refuse it (422, with every finding),
//! warnings come back with the answer, as the guide's permissive editor would allow them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_model::Permission;
use signet_policy::model::{Chain, Policy};
use signet_policy::validate::{Report, validate_policy};
use signet_store::{Command, StateView};

use crate::api::{Admin, ApiResult, to_json};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policy/chains", get(list_chains))
        .route(
            "/api/v1/policy/chains/{name}",
            get(show_chain).put(put_chain).delete(delete_chain),
        )
        .route("/api/v1/policy/validate", get(validate))
        .route(
            "/api/v1/policy/restore-factory-defaults",
            axum::routing::post(restore_factory_defaults),
        )
}

fn dictionary_names(view: &StateView) -> Result<Vec<String>, Problem> {
    Ok(view.dictionaries()?.into_iter().map(|d| d.name).collect())
}

fn findings(report: &Report) -> Value {
    let one = |f: &signet_policy::validate::Finding| {
        json!({
            "chain": f.chain,
            "rule": f.rule,
            "issue": format!("{:?}", f.issue),
        })
    };
    json!({
        "errors": report.errors.iter().map(one).collect::<Vec<_>>(),
        "warnings": report.warnings.iter().map(one).collect::<Vec<_>>(),
    })
}

async fn list_chains(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let policy = s.node.read().await?.policy()?;
    Ok(Json(Value::Array(
        policy
            .chains
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "applicability": c.applicability,
                    "factory": c.factory,
                    "rules": c.rules.len(),
                })
            })
            .collect(),
    )))
}

async fn show_chain(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    match s.node.read().await?.policy_chain(&name)? {
        Some(chain) => to_json(&chain),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("policy chain {name} not found"),
        )),
    }
}

/// Creates or replaces a chain. The body is the chain; its name must be the one in the path.
async fn put_chain(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(chain): ApiJson<Chain>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    if !chain.name.eq_ignore_ascii_case(&name) || chain.name.trim().is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the chain's name {:?} must be the one in the path ({name:?})",
                chain.name
            ),
        ));
    }
    let view = s.node.read().await?;
    let mut policy: Policy = view.policy()?;
    let replace = policy.chain(&name).is_some();
    policy
        .chains
        .retain(|c| !c.name.eq_ignore_ascii_case(&name));
    policy.chains.push(chain.clone());
    let report = validate_policy(&policy, &dictionary_names(view)?);
    if !report.errors.is_empty() {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the policy would not be valid: {} error(s); nothing was changed",
                report.errors.len()
            ),
        );
        p.extra = Some(findings(&report));
        return Err(p);
    }
    s.node
        .execute(Command::PutPolicyChain { chain, replace })
        .await?;
    Ok(Json(json!({
        "name": name,
        "replaced": replace,
        "warnings": findings(&report)["warnings"],
    })))
}

async fn delete_chain(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    s.node
        .execute(Command::DeletePolicyChain { name: name.clone() })
        .await?;
    Ok(Json(json!({ "removed": name })))
}

async fn validate(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let report = validate_policy(&view.policy()?, &dictionary_names(view)?);
    Ok(Json(findings(&report)))
}

/// Puts every factory chain back as it ships (user chains stay), as the guide's "restore
/// factory defaults" does. Each chain is one write.
async fn restore_factory_defaults(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = s.node.read().await?;
    let current = view.policy()?;
    let restored = signet_policy::factory::restore_factory_defaults(&current);
    let mut names = Vec::new();
    for chain in restored.chains {
        if !chain.factory && current.chain(&chain.name).is_some() {
            continue;
        }
        let replace = current.chain(&chain.name).is_some();
        names.push(chain.name.clone());
        s.node
            .execute(Command::PutPolicyChain { chain, replace })
            .await?;
    }
    Ok(Json(json!({ "restored": names })))
}
