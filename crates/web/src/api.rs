//! `/api/v1` routes. Each handler: authenticate, check the permission, validate input with the
//! model's constructors, then one store call.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{Consumer, ConsumerKind, EmailAddress, ManagedDomain, Permission, Setting};
use signet_store::{Command, now_millis};

pub use crate::auth::Admin;
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub(crate) type ApiResult = Result<Json<Value>, Problem>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/cluster", get(cluster_status))
        .route("/api/v1/cluster/tokens", post(issue_token))
        .route("/api/v1/cluster/join", post(join))
        .route("/api/v1/cluster/members/{id}", delete(remove_member))
        .route("/api/v1/domains", get(list_domains).post(add_domain))
        .route("/api/v1/domains/{name}", delete(remove_domain))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{email}", get(show_user).delete(remove_user))
        .route(
            "/api/v1/settings/learn-mode",
            get(learn_mode).put(set_learn_mode),
        )
        .merge(crate::api_dictionaries::routes())
        .merge(crate::api_keys::routes())
        .merge(crate::api_keycache::routes())
        .merge(crate::api_system::routes())
        .merge(crate::api_trusted::routes())
        .merge(crate::api_keyservers::routes())
        .merge(crate::api_routes::routes())
        .merge(crate::api_mail_settings::routes())
        .merge(crate::api_policy::routes())
        .merge(crate::api_queue::routes())
        .merge(crate::api_templates::routes())
        .merge(crate::api_verified_directory::routes())
        .merge(crate::api_logs::routes())
        .merge(crate::api_certificates::routes())
        .merge(crate::join_contact::routes())
        .merge(crate::api_admins::routes())
        // Every /api/v1 route is added above this line: the guard authorizes them all from the
        // route table before their handlers' extractors run (crate::guard).
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::guard::authorize,
        ))
        .merge(crate::ui::routes())
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such API route") })
        .with_state(state)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> ApiResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn cluster_status(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    to_json(&s.node.status())
}

#[derive(Deserialize)]
struct TokenRequest {
    ttl_secs: Option<u64>,
}

async fn issue_token(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult {
    admin.require(Permission::ConfigureClustering)?;
    let ttl = req.ttl_secs.unwrap_or(3600);
    if !(60..=7 * 24 * 3600).contains(&ttl) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ttl_secs must be between 60 and 604800",
        ));
    }
    to_json(
        &s.node
            .issue_join_token(&admin.0.login, Duration::from_secs(ttl))
            .await?,
    )
}

#[derive(Deserialize)]
struct JoinBody {
    token: String,
}

async fn join(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<JoinBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureClustering)?;
    let started = s.node.join(&req.token).await?;
    // The erased administrators' tokens die with the old data: hand the CLI on this machine
    // the token the cluster now knows.
    signet_store::replace_cli_token(s.node.data_dir(), &started.cli_token)?;
    to_json(&started)
}

async fn remove_member(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureClustering)?;
    let id: u64 = id.parse().map_err(|_| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{id:?} is not a member id"),
        )
    })?;
    s.node.remove_member(id).await?;
    Ok(Json(json!({ "removed": id })))
}

async fn list_domains(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    to_json(&s.node.read().await?.managed_domains()?)
}

#[derive(Deserialize)]
struct DomainBody {
    name: String,
}

async fn add_domain(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<DomainBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let name = ManagedDomain::normalize_name(&req.name)?;
    s.node
        .execute(Command::AddManagedDomain {
            name: name.clone(),
            at: now_millis(),
        })
        .await?;
    sync_organization_key(&s).await;
    Ok(Json(json!({ "name": name })))
}

async fn remove_domain(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let name = ManagedDomain::normalize_name(&name)?;
    s.node
        .execute(Command::RemoveManagedDomain { name: name.clone() })
        .await?;
    sync_organization_key(&s).await;
    Ok(Json(json!({ "removed": name })))
}

/// The Organization Key has one user ID per managed domain (guide §10.1). A locked member
/// cannot re-sign it; the next domain change on an unlocked member does.
async fn sync_organization_key(s: &AppState) {
    if let Err(e) = crate::keyring::sync_organization_domains(&s.node).await {
        tracing::warn!(error = %e, "the Organization Key's user IDs were not updated");
    }
}

/// A consumer as the API shows it: keys described, never their bytes.
fn consumer_view(c: &Consumer, org: Option<&signet_crypto::openpgp::Cert>) -> Value {
    json!({
        "email": c.email,
        "kind": c.kind,
        "display_name": c.display_name,
        "created_at": c.created_at,
        "keys": c.keys.iter().map(|k| crate::api_keys::key_view(k, org)).collect::<Vec<_>>(),
    })
}

/// Paging and search for `GET /api/v1/users`. Without any of them the answer is the whole list
/// (what the CLI reads); with any, it is `{total, offset, limit, items}`.
#[derive(Deserialize)]
struct UsersQuery {
    offset: Option<usize>,
    limit: Option<usize>,
    /// Case-insensitive part of the address or display name.
    q: Option<String>,
    kind: Option<ConsumerKind>,
}

impl UsersQuery {
    fn paged(&self) -> bool {
        self.offset.is_some() || self.limit.is_some() || self.q.is_some() || self.kind.is_some()
    }
}

/// The most users one page may hold.
const MAX_USERS_PAGE: usize = 1000;

async fn list_users(
    admin: Admin,
    State(s): State<AppState>,
    query: Result<axum::extract::Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let axum::extract::Query(query) = query.map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("offset and limit are numbers, kind is internal or external: {e}"),
        )
    })?;
    let view = s.node.read().await?;
    let org = crate::api_keys::organization_public(view);
    if query.paged() {
        let offset = query.offset.unwrap_or(0);
        let limit = query.limit.unwrap_or(50).clamp(1, MAX_USERS_PAGE);
        let page =
            view.consumers_page(query.kind, query.q.as_deref().unwrap_or(""), offset, limit)?;
        return Ok(Json(json!({
            "total": page.total,
            "offset": offset,
            "limit": limit,
            "items": page
                .items
                .iter()
                .map(|c| consumer_view(c, org.as_ref()))
                .collect::<Vec<_>>(),
        })));
    }
    Ok(Json(Value::Array(
        view.consumers()?
            .iter()
            .map(|c| consumer_view(c, org.as_ref()))
            .collect(),
    )))
}

#[derive(Deserialize)]
struct UserBody {
    email: String,
    kind: Option<ConsumerKind>,
    display_name: Option<String>,
    /// SKM (default for internal users: the server generates the key), SCKM, CKM or GKM.
    key_mode: Option<String>,
    /// cv25519 (default), rsa2048, rsa3072, rsa4096: for keys the server generates.
    algorithm: Option<String>,
    /// The user's own key, armored (CKM, GKM, SCKM, or an SKM key to import).
    key: Option<String>,
    passphrase: Option<String>,
    /// Create the user without a key (default: internal users get one).
    #[serde(default)]
    no_key: bool,
}

async fn add_user(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<UserBody>,
) -> ApiResult {
    admin.require(Permission::AddUsers)?;
    let email = EmailAddress::parse(&req.email)?;
    let kind = match req.kind {
        Some(kind) => kind,
        // Managed domains decide internal versus external.
        None if s
            .node
            .read()
            .await?
            .managed_domain(email.domain())?
            .is_some() =>
        {
            ConsumerKind::Internal
        }
        None => ConsumerKind::External,
    };
    let display_name = match req.display_name.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(n) if n.chars().count() > 128 || n.chars().any(char::is_control) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "display_name must be at most 128 printable characters",
            ));
        }
        Some(n) => Some(n.to_string()),
    };
    let consumer = Consumer {
        email,
        kind,
        display_name,
        keys: Vec::new(),
        created_at: now_millis(),
    };
    let wants_key = !req.no_key && (req.key.is_some() || consumer.kind == ConsumerKind::Internal);
    // The key is made (and checked) before the user is added, so a refused key adds nothing.
    let view = s.node.read().await?.clone();
    let mut consumer = consumer;
    if wants_key {
        let body = crate::api_keys::AddKeyBody {
            mode: req.key_mode.clone(),
            algorithm: req.algorithm.clone(),
            key: req.key.clone(),
            passphrase: req.passphrase.clone(),
        };
        let key = crate::api_keys::new_key_for(&s.node, &view, &consumer, &body).await?;
        consumer.keys.push(key);
    }
    s.node
        .execute(Command::AddConsumer {
            consumer: consumer.clone(),
        })
        .await?;
    let org = crate::api_keys::organization_public(&view);
    Ok(Json(consumer_view(&consumer, org.as_ref())))
}

async fn show_user(
    admin: Admin,
    State(s): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let email = EmailAddress::parse(&email)?;
    let view = s.node.read().await?;
    match view.consumer(&email)? {
        Some(c) => Ok(Json(consumer_view(
            &c,
            crate::api_keys::organization_public(view).as_ref(),
        ))),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("user {email} not found"),
        )),
    }
}

async fn remove_user(
    admin: Admin,
    State(s): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::AddUsers)?;
    let email = EmailAddress::parse(&email)?;
    s.node
        .execute(Command::RemoveConsumer {
            email: email.clone(),
        })
        .await?;
    Ok(Json(json!({ "removed": email })))
}

async fn learn_mode(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    Ok(Json(
        json!({ "learn_mode": s.node.read().await?.learn_mode()? }),
    ))
}

#[derive(Deserialize)]
struct LearnModeBody {
    learn_mode: bool,
}

async fn set_learn_mode(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LearnModeBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    s.node
        .execute(Command::SetSetting {
            setting: Setting::LearnMode(req.learn_mode),
        })
        .await?;
    Ok(Json(json!({ "learn_mode": req.learn_mode })))
}
