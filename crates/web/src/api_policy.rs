//! `/api/v1/policy`: the mail policy's chains (guide §14), read and written whole. Every write
//! is validated against the whole policy first: errors refuse it (422, with every finding),
//! warnings come back with the answer, as the guide's permissive editor would allow them.
//!
//! Rule-level editing is in `api_policy_rules`, export/import in `api_policy_transfer`, the dry
//! run in `api_policy_evaluate`; their routes are merged here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_model::Permission;
use signet_policy::model::{Chain, Policy};
use signet_policy::validate::{Finding, Report, validate_policy};
use signet_store::{Command, StateView};

use crate::api::{Admin, ApiResult, to_json};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policy/chains", get(list_chains))
        .route(
            "/api/v1/policy/chains/{name}",
            get(show_chain)
                .put(put_chain)
                .delete(delete_chain)
                .patch(crate::api_policy_rules::patch_chain),
        )
        .route("/api/v1/policy/validate", get(validate))
        .route(
            "/api/v1/policy/restore-factory-defaults",
            axum::routing::post(restore_factory_defaults),
        )
        .merge(crate::api_policy_rules::routes())
        .merge(crate::api_policy_transfer::routes())
        .merge(crate::api_policy_evaluate::routes())
}

pub(crate) fn dictionary_names(view: &StateView) -> Result<Vec<String>, Problem> {
    Ok(view.dictionaries()?.into_iter().map(|d| d.name).collect())
}

/// One validator finding as JSON: where, the issue's variant and the sentence for people.
pub(crate) fn finding(f: &Finding) -> Value {
    json!({
        "chain": f.chain,
        "rule": f.rule,
        "issue": format!("{:?}", f.issue),
        "message": f.issue.to_string(),
    })
}

pub(crate) fn findings(report: &Report) -> Value {
    json!({
        "errors": report.errors.iter().map(finding).collect::<Vec<_>>(),
        "warnings": report.warnings.iter().map(finding).collect::<Vec<_>>(),
    })
}

/// The 422 for a policy that would have errors, naming the first few in the detail (the CLI
/// prints only the detail) and all of them in `errors`/`warnings`.
fn invalid(report: &Report) -> Problem {
    let first: Vec<String> = report
        .errors
        .iter()
        .take(3)
        .map(|f| match &f.rule {
            Some(r) => format!("chain {:?}, rule {r:?}: {}", f.chain, f.issue),
            None => format!("chain {:?}: {}", f.chain, f.issue),
        })
        .collect();
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "the policy would not be valid: {} error(s); nothing was changed: {}",
            report.errors.len(),
            first.join("; ")
        ),
    );
    p.extra = Some(findings(report));
    p
}

/// Validates the whole policy with `chain` in place of its namesake and, if it has no errors,
/// writes the chain. Returns the warnings about the new policy. Every chain write goes through
/// here, so no route can store a policy with errors.
pub(crate) async fn store_chain(
    s: &AppState,
    chain: Chain,
    replace: bool,
) -> Result<Value, Problem> {
    let view = s.node.read().await?;
    let mut policy: Policy = view.policy()?;
    policy
        .chains
        .retain(|c| !c.name.eq_ignore_ascii_case(&chain.name));
    policy.chains.push(chain.clone());
    let report = validate_policy(&policy, &dictionary_names(view)?);
    if !report.errors.is_empty() {
        return Err(invalid(&report));
    }
    s.node
        .execute(Command::PutPolicyChain { chain, replace })
        .await?;
    Ok(findings(&report)["warnings"].clone())
}

/// The stored chain with this name, or 404.
pub(crate) async fn load_chain(s: &AppState, name: &str) -> Result<Chain, Problem> {
    s.node.read().await?.policy_chain(name)?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("policy chain {name} not found"),
        )
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
    to_json(&load_chain(&s, &name).await?)
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
    let replace = s.node.read().await?.policy_chain(&name)?.is_some();
    let warnings = store_chain(&s, chain, replace).await?;
    Ok(Json(json!({
        "name": name,
        "replaced": replace,
        "warnings": warnings,
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
