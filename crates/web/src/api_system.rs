//! `/api/v1` routes for the setup assistant's core and for backups.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use signet_model::{BackupSchedule, ManagedDomain, OrganizationItemKind, Permission, Setting};
use signet_store::{Command, now_millis};

use crate::api::{Admin, ApiResult, to_json};
use crate::api_keys::{ItemBody, set_organization_item};
use crate::keyring::KeyError;
use crate::problem::ApiJson;
use crate::{AppState, Problem, backup};

/// Backups up to this size are accepted for restore (the guide refuses 2 GB and more).
const RESTORE_LIMIT: usize = 1 << 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/setup", get(setup_state).post(setup))
        .route("/api/v1/backups", get(list_backups).post(create_backup))
        .route(
            "/api/v1/backups/schedule",
            get(show_schedule).put(set_schedule),
        )
        .route("/api/v1/backups/{name}", get(download_backup))
        .route(
            "/api/v1/backups/restore",
            post(restore).layer(DefaultBodyLimit::max(RESTORE_LIMIT)),
        )
}

async fn setup_state(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let done = view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .is_some();
    Ok(Json(json!({
        "done": done,
        "managed_domains": view.managed_domains()?.into_iter().map(|d| d.name).collect::<Vec<_>>(),
        "learn_mode": view.learn_mode()?,
        "locked": s.node.is_locked(),
    })))
}

#[derive(Deserialize)]
struct SetupBody {
    domains: Vec<String>,
    /// Organization Key: `{"generate": true, "algorithm": "cv25519"}` or `{"key": ARMORED,
    /// "passphrase": ...}`. Default: generate.
    organization_key: Option<ItemBody>,
    /// Make a self-signed Organization Certificate (default true).
    organization_certificate: Option<bool>,
}

/// The setup assistant's core for a new server: managed domains, the Organization Key and
/// Certificate, the factory policy chains and dictionaries, Learn Mode on. The first administrator already exists (made at first start).
async fn setup(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<SetupBody>,
) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let view = s.node.read().await?;
    if view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .is_some()
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "this server is already set up (it has an Organization Key)",
        ));
    }
    if req.domains.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "give at least one managed domain",
        ));
    }
    let names = req
        .domains
        .iter()
        .map(|d| ManagedDomain::normalize_name(d))
        .collect::<Result<Vec<_>, _>>()?;
    for name in &names {
        if view.managed_domain(name)?.is_none() {
            s.node
                .execute(Command::AddManagedDomain {
                    name: name.clone(),
                    at: now_millis(),
                })
                .await?;
        }
    }
    let org = req.organization_key.unwrap_or(ItemBody::generate());
    set_organization_item(&s.node, OrganizationItemKind::OrganizationKey, org).await?;
    if req.organization_certificate.unwrap_or(true) {
        set_organization_item(
            &s.node,
            OrganizationItemKind::OrganizationCertificate,
            ItemBody::generate(),
        )
        .await?;
    }
    s.node
        .execute(Command::SetSetting {
            setting: Setting::LearnMode(true),
        })
        .await?;
    install_factory_policy(&s, &names).await?;
    let view = s.node.read().await?;
    let fingerprint = |k| {
        view.organization_item(k)
            .ok()
            .flatten()
            .map(|i| i.fingerprint)
    };
    tracing::info!(domains = ?names, "setup done");
    Ok(Json(json!({
        "managed_domains": names,
        "organization_key": fingerprint(OrganizationItemKind::OrganizationKey),
        "organization_certificate": fingerprint(OrganizationItemKind::OrganizationCertificate),
        "learn_mode": true,
    })))
}

/// The chains and dictionaries of a fresh install (guide §14.11), unless the policy already
/// has chains (a restored or hand-made policy is kept).
async fn install_factory_policy(s: &AppState, domains: &[String]) -> Result<(), Problem> {
    let view = s.node.read().await?;
    if !view.policy()?.chains.is_empty() {
        return Ok(());
    }
    for (name, description) in signet_policy::factory::FACTORY_DICTIONARIES {
        if view.dictionary(name)?.is_none() {
            s.node
                .execute(Command::CreateDictionary {
                    dictionary: signet_model::Dictionary {
                        name: (*name).to_string(),
                        description: (*description).to_string(),
                        factory: true,
                        created_at: now_millis(),
                    },
                })
                .await?;
        }
    }
    for (name, patterns) in signet_policy::factory::FACTORY_DICTIONARY_PATTERNS {
        let entries = patterns
            .iter()
            .map(|p| signet_model::DictionaryEntry::pattern(p))
            .collect::<Result<Vec<_>, _>>()?;
        s.node
            .execute(Command::AddDictionaryEntries {
                name: (*name).to_string(),
                entries,
            })
            .await?;
    }
    // The dictionary was made after the domains: fill it once; from now on the store keeps
    // it in step with the managed domains.
    let entries = domains
        .iter()
        .map(|d| signet_model::DictionaryEntry::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    s.node
        .execute(Command::AddDictionaryEntries {
            name: signet_policy::factory::MANAGED_DOMAINS.to_string(),
            entries,
        })
        .await?;
    for chain in signet_policy::factory::factory_policy(domains).chains {
        s.node
            .execute(Command::PutPolicyChain {
                chain,
                replace: false,
            })
            .await?;
    }
    Ok(())
}

#[derive(Deserialize, Default)]
struct CreateBackupBody {
    name: Option<String>,
}

async fn create_backup(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateBackupBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let keep = s.node.read().await?.backup_schedule()?.keep;
    let summary = backup::create(&s.node, req.name.as_deref(), Some(keep)).await?;
    tracing::info!(file = %summary.file, admin = %admin.0.login, "backup written");
    to_json(&summary)
}

async fn list_backups(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    to_json(&backup::list(&s.node))
}

/// One backup file, as it is on disk (encrypted to the Organization Key). It holds every
/// private key the cluster keeps, so it needs the right to export private keys as well as to
/// make backups.
async fn download_backup(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    admin.require(Permission::ConfigureSystem)?;
    admin.require(Permission::ExportPrivateKeys)?;
    let path = backup::find(&s.node, &name)?;
    let file_name = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("backup.pgp")
        .to_string();
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read backup {file_name}: {e}"),
        )
    })?;
    tracing::info!(target: "signet::audit", file = %file_name, admin = %admin.0.login, "backup downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn show_schedule(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let schedule = s.node.read().await?.backup_schedule()?;
    Ok(Json(schedule_json(&schedule)))
}

fn schedule_json(s: &BackupSchedule) -> serde_json::Value {
    json!({
        "enabled": s.enabled,
        "time": s.time_string(),
        "weekdays": s.weekdays,
        "keep": s.keep,
    })
}

#[derive(Deserialize)]
struct ScheduleBody {
    enabled: bool,
    /// "HH:MM", UTC.
    time: Option<String>,
    /// Monday = bit 0 ... Sunday = bit 6.
    weekdays: Option<u8>,
    keep: Option<u32>,
}

async fn set_schedule(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ScheduleBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let mut schedule = s.node.read().await?.backup_schedule()?;
    schedule.enabled = req.enabled;
    if let Some(t) = req.time.as_deref() {
        schedule.at_minute = BackupSchedule::parse_time(t).ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("time {t:?}: use HH:MM (24-hour, UTC)"),
            )
        })?;
    }
    if let Some(w) = req.weekdays {
        if w == 0 || w > 0x7f {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weekdays: a bit mask from 1 to 127 (Monday = 1 ... Sunday = 64)",
            ));
        }
        schedule.weekdays = w;
    }
    if let Some(k) = req.keep {
        if !(1..=1000).contains(&k) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "keep: 1 to 1000 backups",
            ));
        }
        schedule.keep = k;
    }
    s.node
        .execute(Command::SetSetting {
            setting: Setting::BackupSchedule(schedule.clone()),
        })
        .await?;
    Ok(Json(schedule_json(&schedule)))
}

#[derive(Deserialize)]
struct RestoreBody {
    /// The backup file, base64.
    backup: String,
    /// The Organization Key with its private key, armored.
    organization_key: String,
    passphrase: Option<String>,
}

async fn restore(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<RestoreBody>,
) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(req.backup.trim())
        .map_err(|_| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "backup: not base64"))?;
    let key = req.organization_key.into_bytes();
    let passphrase = req.passphrase;
    let doc =
        tokio::task::spawn_blocking(move || backup::open(&bytes, &key, passphrase.as_deref()))
            .await
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e: KeyError| Problem::from(e))?;
    let from = doc.cluster_id.clone();
    let created_at = doc.created_at;
    let restored = backup::restore(&s.node, doc, &admin.0).await?;
    tracing::info!(admin = %admin.0.login, entries = restored, from_cluster = %from, "backup restored");
    Ok(Json(json!({
        "restored_entries": restored,
        "backup_created_at": created_at,
        "from_cluster": from,
    })))
}
