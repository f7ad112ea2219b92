//! `GET /api/v1/policy/export` and `POST /api/v1/policy/import`: chains with the dictionaries
//! they use, as a JSON bundle (format and rules in `signet_policy::transfer`).
//!
//! An import is checked whole before the first write: the bundle's JSON, its format marker,
//! every chain against the validator, every reference to a dictionary or chain. Any problem
//! refuses it with 422 and the list of problems, and nothing is written. Then dictionaries are
//! written first and chains after, so no chain is ever stored before a dictionary it reads.
//! The writes are separate Raft commands: an import that fails half-way through (a lost
//! quorum) leaves what was written, and running it again with `replace` finishes it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{Dictionary, Permission};
use signet_policy::transfer::{
    self, Bundle, BundleDictionary, OnClash, ServerDictionary, TransferError,
};
use signet_store::{Command, now_millis};

use crate::api::{Admin, ApiResult, to_json};
use crate::api_policy::finding;
use crate::{AppState, Problem};

/// Bundles carry whole dictionaries; the 2 MiB default would refuse a few large ones.
const BUNDLE_LIMIT: usize = 32 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/policy/export", get(export))
        .route("/api/v1/policy/import", post(import))
        .layer(DefaultBodyLimit::max(BUNDLE_LIMIT))
}

fn bad_query(e: QueryRejection) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("the query is not acceptable: {e}"),
    )
}

#[derive(Deserialize)]
struct ExportQuery {
    /// Comma-separated chain names; absent exports every chain.
    chains: Option<String>,
}

/// The named chains (all by default) plus every chain they reach by Go to chain, with the
/// dictionaries those chains use and their entries.
async fn export(
    admin: Admin,
    State(s): State<AppState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let Query(query) = query.map_err(bad_query)?;
    let names: Option<Vec<String>> = query.chains.map(|c| {
        c.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    });
    let view = s.node.read().await?;
    let chains = transfer::select_chains(&view.policy()?, names.as_deref())
        .map_err(|e| Problem::new(StatusCode::NOT_FOUND, e.to_string()))?;
    let wanted = transfer::referenced_dictionaries(&chains);
    let mut dictionaries = Vec::new();
    for d in view.dictionaries()? {
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(&d.name)) {
            dictionaries.push(BundleDictionary {
                entries: view.dictionary_entries(&d.name)?,
                name: d.name,
                description: d.description,
                factory: d.factory,
            });
        }
    }
    to_json(&Bundle::new(chains, dictionaries))
}

#[derive(Deserialize)]
struct ImportQuery {
    on_clash: Option<OnClash>,
}

/// The 422 that refuses a whole bundle, every problem listed.
fn refused(problems: Vec<TransferError>) -> Problem {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let mut p = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "the bundle was refused and nothing was imported: {}",
            list.join("; ")
        ),
    );
    p.extra = Some(json!({ "problems": list }));
    p
}

/// The body is read as text, not through `ApiJson`, so that malformed JSON is one more problem
/// in the same answer shape as every other reason to refuse a bundle.
async fn import(
    admin: Admin,
    State(s): State<AppState>,
    query: Result<Query<ImportQuery>, QueryRejection>,
    body: String,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let Query(query) = query.map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("on_clash must be ignore or replace: {e}"),
        )
    })?;
    let on_clash = query.on_clash.unwrap_or_default();
    let bundle = transfer::parse_bundle(&body).map_err(refused)?;
    let view = s.node.read().await?;
    let server_dictionaries: Vec<ServerDictionary> = view
        .dictionaries()?
        .into_iter()
        .map(|d| ServerDictionary {
            name: d.name,
            factory: d.factory,
        })
        .collect();
    let plan = transfer::plan_import(&bundle, &view.policy()?, &server_dictionaries, on_clash)
        .map_err(refused)?;

    let mut created = Vec::new();
    let mut replaced = Vec::new();
    for d in &plan.dictionaries {
        let name = d.dictionary.name.clone();
        if d.replace {
            // One apply swaps the terms, so rules never see the dictionary half-filled. A
            // factory dictionary keeps the product's description; others take the bundle's.
            s.node
                .execute(Command::ReplaceDictionaryEntries {
                    name: name.clone(),
                    entries: d.dictionary.entries.clone(),
                })
                .await?;
            if !d.dictionary.factory {
                s.node
                    .execute(Command::UpdateDictionary {
                        name: name.clone(),
                        new_name: None,
                        description: Some(d.dictionary.description.clone()),
                    })
                    .await?;
            }
            replaced.push(json!({ "dictionary": name }));
        } else {
            s.node
                .execute(Command::CreateDictionary {
                    dictionary: Dictionary {
                        name: name.clone(),
                        description: d.dictionary.description.clone(),
                        factory: false,
                        created_at: now_millis(),
                    },
                })
                .await?;
            if !d.dictionary.entries.is_empty() {
                s.node
                    .execute(Command::AddDictionaryEntries {
                        name: name.clone(),
                        entries: d.dictionary.entries.clone(),
                    })
                    .await?;
            }
            created.push(json!({ "dictionary": name }));
        }
    }
    for c in plan.chains {
        let name = c.chain.name.clone();
        s.node
            .execute(Command::PutPolicyChain {
                chain: c.chain,
                replace: c.replace,
            })
            .await?;
        if c.replace {
            replaced.push(json!({ "chain": name }));
        } else {
            created.push(json!({ "chain": name }));
        }
    }
    Ok(Json(json!({
        "on_clash": on_clash,
        "created": created,
        "replaced": replaced,
        "kept": {
            "chains": plan.skipped_chains,
            "dictionaries": plan.skipped_dictionaries,
        },
        "warnings": plan.warnings.iter().map(finding).collect::<Vec<Value>>(),
    })))
}
