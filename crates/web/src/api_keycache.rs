//! `/api/v1/keycache`: the key cache (guide §4, Keys > Key Cache): list and search, Key
//! Information, Purge Key Now, Purge All, Trust Key, the cache timeout, and a keyserver lookup
//! that caches what it finds (the same search the mail path makes, run by hand).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_crypto::{openpgp, smime};
use signet_keyserver::{Keyserver, KeyserverKind, SearchError, SearchOptions};
use signet_model::{
    CachedKey, CachedKeyKind, Consumer, ConsumerKind, EmailAddress, KeyCacheTimeout, Permission,
    Setting,
};
use signet_store::{Command, CommandOutput, now_millis};

use crate::api::{Admin, ApiResult};
use crate::api_keys::{AddKeyBody, new_key_for};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keycache", get(list).delete(purge_all))
        .route("/api/v1/keycache/settings", get(settings).put(set_settings))
        .route("/api/v1/keycache/lookup", post(lookup))
        .route("/api/v1/keycache/{id}", get(show).delete(purge_one))
        .route("/api/v1/keycache/{id}/trust", post(trust))
}

/// What the list shows of a cached key (Key Information without the key itself).
fn summary(k: &CachedKey) -> Value {
    json!({
        "id": k.id,
        "kind": k.kind,
        "key_ids": k.key_ids,
        "user_ids": k.user_ids,
        "emails": k.emails,
        "primary_email": k.emails.first(),
        "source": k.source.label(),
        "created": k.created,
        "key_expires": k.key_expires,
        "cached_at": k.cached_at,
        "purge_at": k.expires_at,
    })
}

/// Key Information with the key: armored OpenPGP or a PEM certificate.
fn detail(k: &CachedKey) -> Value {
    let mut v = summary(k);
    let text = match k.kind {
        CachedKeyKind::OpenPgp => openpgp::parse_cert(&k.data)
            .ok()
            .and_then(|c| openpgp::armored_public(&c).ok()),
        CachedKeyKind::X509 => Some(pem_certificate(&k.data)),
    };
    v["key"] = json!(text);
    if k.kind == CachedKeyKind::X509 {
        v["certificate"] = json!(smime::CertificateInfo::of(&k.data).ok());
    }
    v
}

fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn not_found(id: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("no cached key {id}"))
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
}

async fn list(admin: Admin, State(s): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let keys = match q.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(query) => view.search_cached_keys(query)?,
        None => view.cached_keys()?,
    };
    Ok(Json(json!({
        "keys": keys.iter().map(summary).collect::<Vec<_>>(),
    })))
}

async fn show(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let key = view.cached_key(&id)?.ok_or_else(|| not_found(&id))?;
    Ok(Json(detail(&key)))
}

async fn purge_one(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    if s.node.read().await?.cached_key(&id)?.is_none() {
        return Err(not_found(&id));
    }
    s.node
        .execute(Command::PurgeCachedKey { id: id.clone() })
        .await?;
    Ok(Json(json!({ "purged": [id] })))
}

async fn purge_all(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let n = match s.node.execute(Command::PurgeKeyCache).await? {
        CommandOutput::Count(n) => n,
        _ => 0,
    };
    Ok(Json(json!({ "purged": n })))
}

#[derive(Deserialize, Default)]
struct TrustBody {
    /// The address the external user gets; the key's primary email when absent.
    email: Option<String>,
}

/// Trust Key: the cached key becomes a CKM key of an external user (made, or added to an
/// existing external user), certified by the Organization Key as imported keys are, and
/// leaves the cache.
async fn trust(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    // The body is optional: an empty one trusts the key for its primary email.
    let body: TrustBody = if raw.iter().all(u8::is_ascii_whitespace) {
        TrustBody::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("invalid body: {e}"),
            )
        })?
    };
    let view = s.node.read().await?.clone();
    let cached = view.cached_key(&id)?.ok_or_else(|| not_found(&id))?;
    if cached.kind != CachedKeyKind::OpenPgp {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "only OpenPGP keys can be trusted yet: an external user's key record holds an OpenPGP key",
        ));
    }
    let raw = match body.email.as_deref() {
        Some(e) => e.to_string(),
        None => cached.emails.first().cloned().unwrap_or_default(),
    };
    let email = EmailAddress::parse(&raw)?;
    if !cached.has_email(email.as_str()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("cached key {id} has no user ID for {email}"),
        ));
    }
    let mut consumer = match view.consumer(&email)? {
        Some(c) if c.kind == ConsumerKind::Internal => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("{email} is an internal user"),
            ));
        }
        Some(c) => c,
        None => Consumer {
            email: email.clone(),
            kind: ConsumerKind::External,
            display_name: None,
            keys: Vec::new(),
            created_at: now_millis(),
        },
    };
    let armored = openpgp::parse_cert(&cached.data)
        .and_then(|c| openpgp::armored_public(&c))
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let request = AddKeyBody {
        mode: Some("CKM".into()),
        algorithm: None,
        key: Some(armored),
        passphrase: None,
    };
    let key = new_key_for(&s.node, &view, &consumer, &request).await?;
    consumer.keys.retain(|k| k.fingerprint != key.fingerprint);
    // The newest key is the one mail uses.
    consumer.keys.insert(0, key);
    s.node
        .execute(Command::TrustCachedKey {
            id: cached.id.clone(),
            consumer,
        })
        .await?;
    Ok(Json(
        json!({ "trusted": cached.id, "external_user": email }),
    ))
}

async fn settings(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let t = s.node.read().await?.key_cache_timeout()?;
    Ok(Json(timeout_json(t)))
}

fn timeout_json(t: KeyCacheTimeout) -> Value {
    let text = if t.hours.is_multiple_of(24) {
        format!("{}d", t.hours / 24)
    } else {
        format!("{}h", t.hours)
    };
    json!({ "timeout_hours": t.hours, "timeout": text, "mail_flow_timeout": "183d" })
}

#[derive(Deserialize)]
struct SettingsBody {
    /// "12h", "30d", or a number of hours.
    timeout: Option<String>,
    timeout_hours: Option<u32>,
}

async fn set_settings(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let parsed = match (body.timeout.as_deref(), body.timeout_hours) {
        (Some(text), _) => KeyCacheTimeout::parse(text),
        (None, Some(h)) => KeyCacheTimeout::new(h),
        (None, None) => Err("give timeout (like 12h or 30d) or timeout_hours".into()),
    }
    .map_err(|m| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    s.node
        .execute(Command::SetSetting {
            setting: Setting::KeyCacheTimeout(parsed),
        })
        .await?;
    Ok(Json(timeout_json(parsed)))
}

#[derive(Deserialize)]
struct LookupBody {
    email: String,
    keyserver: Keyserver,
    /// The per-server timeout; 10 s when absent.
    timeout_ms: Option<u64>,
}

/// Searches one keyserver for an address now and caches what it finds, as the mail path does
/// after a rule's key search (Source: keyserver <description>).
async fn lookup(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<LookupBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let options = SearchOptions {
        timeout: Duration::from_millis(body.timeout_ms.unwrap_or(10_000).clamp(100, 120_000)),
        ..SearchOptions::default()
    };
    if body.keyserver.kind != KeyserverKind::Wkd && body.keyserver.host.trim().is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the keyserver needs a host",
        ));
    }
    let found = match signet_keyserver::search(&body.email, &body.keyserver, &options).await {
        Ok(found) => found,
        Err(e @ SearchError::InvalidAddress(_)) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
            ));
        }
        Err(e @ SearchError::NotFound { .. }) => {
            return Err(Problem::new(StatusCode::NOT_FOUND, e.to_string()));
        }
        Err(e) => return Err(Problem::new(StatusCode::BAD_GATEWAY, e.to_string())),
    };
    let timeout = s.node.read().await?.key_cache_timeout()?;
    let now = now_millis();
    let mut cached = Vec::new();
    for f in &found {
        let entry = f.key.cache_entry(f.source(), now, timeout);
        s.node
            .execute(Command::CacheKey { key: entry.clone() })
            .await?;
        cached.push(summary(&entry));
    }
    Ok(Json(json!({ "cached": cached })))
}
