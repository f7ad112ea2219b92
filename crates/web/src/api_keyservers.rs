//! `/api/v1/keyservers`: the keyservers the mail path asks for recipients' keys (Keys >
//! Keyservers). The list is global replicated data; rules' Key Search name its entries.
//! A node's `[[mail.keyserver]]` TOML entries are node-local additions and are not listed here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{LookupKeyserver, LookupKeyserverKind, Permission};
use signet_store::Command;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keyservers", get(list).post(add))
        .route("/api/v1/keyservers/order", put(reorder))
        .route("/api/v1/keyservers/{name}", put(update).delete(remove))
}

/// A keyserver as the API takes it; `kind` is `ldap`, `ldaps`, `x509-ldap`, `x509-ldaps`,
/// `hkp`, `hkps` or `wkd`.
#[derive(Deserialize)]
struct KeyserverBody {
    name: String,
    kind: String,
    #[serde(default)]
    host: String,
    port: Option<u16>,
    base_dn: Option<String>,
    #[serde(default)]
    trusted: bool,
}

impl KeyserverBody {
    fn into_model(self) -> Result<LookupKeyserver, Problem> {
        let kind = LookupKeyserverKind::parse(&self.kind).ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "unknown keyserver kind {:?}: use ldap, ldaps, x509-ldap, x509-ldaps, hkp, hkps or wkd",
                    self.kind
                ),
            )
        })?;
        Ok(LookupKeyserver {
            name: self.name,
            kind,
            host: self.host,
            port: self.port,
            base_dn: self.base_dn,
            trusted: self.trusted,
        }
        .check()?)
    }
}

fn describe(k: &LookupKeyserver, order: usize) -> Value {
    json!({
        "name": k.name,
        "kind": k.kind,
        "host": k.host,
        "port": k.port,
        "base_dn": k.base_dn,
        "trusted": k.trusted,
        "order": order,
    })
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let servers = s.node.read().await?.keyservers()?;
    Ok(Json(Value::Array(
        servers
            .iter()
            .enumerate()
            .map(|(i, k)| describe(k, i + 1))
            .collect(),
    )))
}

async fn add(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<KeyserverBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let keyserver = body.into_model()?;
    let v = describe(&keyserver, 0);
    s.node
        .execute(Command::PutKeyserver {
            name: keyserver.name.clone(),
            keyserver,
            replace: false,
        })
        .await?;
    Ok(Json(v))
}

async fn update(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<KeyserverBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let keyserver = body.into_model()?;
    let v = describe(&keyserver, 0);
    s.node
        .execute(Command::PutKeyserver {
            name,
            keyserver,
            replace: true,
        })
        .await?;
    Ok(Json(v))
}

async fn remove(admin: Admin, State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    s.node.execute(Command::RemoveKeyserver { name }).await?;
    Ok(Json(json!({ "removed": true })))
}

#[derive(Deserialize)]
struct OrderBody {
    names: Vec<String>,
}

async fn reorder(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OrderBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    s.node
        .execute(Command::ReorderKeyservers { names: body.names })
        .await?;
    list(admin, State(s)).await
}
