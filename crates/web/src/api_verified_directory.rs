//! `/api/v1/verified-directory`: the Verified Directory's settings (guide: Services > Verified
//! Directory) and its keys (Consumers > Verified Directory Users): list by state, approve,
//! reject (deny), delete. Viewing needs View Settings; every change Configure System.
//!
//! Enabling the service makes the Verified Directory Key when there is none (an Ed25519 key,
//! sealed under the cluster data key like the other organization keys).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_keyserver::verified_directory::{self as vd, PublishError, Update, VdRefusal};
use signet_model::{
    EmailAddress, OrganizationItemKind, Permission, VdEntry, VdSettings, VdUidState, Vetting,
};
use signet_store::{Command, Node, StoreError, now_millis};

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/verified-directory/settings",
            get(show_settings).put(set_settings),
        )
        .route("/api/v1/verified-directory/keys", get(list_keys))
        .route(
            "/api/v1/verified-directory/keys/{fingerprint}",
            get(show_key).delete(delete_key),
        )
        .route(
            "/api/v1/verified-directory/keys/{fingerprint}/approve",
            post(approve_key),
        )
        .route(
            "/api/v1/verified-directory/keys/{fingerprint}/reject",
            post(reject_key),
        )
}

fn unprocessable(text: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, text)
}

fn settings_json(settings: &VdSettings, key: Option<String>) -> ApiResult {
    let mut v = serde_json::to_value(settings)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("verified_directory_key".into(), json!(key));
    }
    Ok(Json(v))
}

async fn show_settings(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let key = view
        .organization_item(OrganizationItemKind::VerifiedDirectoryKey)?
        .map(|i| i.fingerprint);
    settings_json(&view.vd_settings()?, key)
}

/// Every field optional: what is given changes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    enabled: Option<bool>,
    paused: Option<bool>,
    vetting: Option<Vetting>,
    token_validity_hours: Option<u32>,
    resend_interval_hours: Option<u32>,
    signature_validity_days: Option<u32>,
    max_search_results: Option<u32>,
    /// An empty string clears it.
    public_url: Option<String>,
    sender_address: Option<String>,
    allow_internal: Option<bool>,
    allow_directory: Option<bool>,
}

fn in_range(name: &str, v: Option<u32>, lo: u32, hi: u32) -> Result<Option<u32>, Problem> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(unprocessable(format!(
            "{name} must be between {lo} and {hi}"
        ))),
        other => Ok(other),
    }
}

fn apply_body(mut s: VdSettings, b: SettingsBody) -> Result<VdSettings, Problem> {
    if let Some(v) = b.enabled {
        s.enabled = v;
    }
    if let Some(v) = b.paused {
        s.paused = v;
    }
    if let Some(v) = b.vetting {
        s.vetting = v;
    }
    if let Some(v) = in_range("token_validity_hours", b.token_validity_hours, 0, 8760)? {
        s.token_validity_hours = v;
    }
    if let Some(v) = in_range("resend_interval_hours", b.resend_interval_hours, 0, 8760)? {
        s.resend_interval_hours = v;
    }
    if let Some(v) = in_range(
        "signature_validity_days",
        b.signature_validity_days,
        1,
        3650,
    )? {
        s.signature_validity_days = v;
    }
    if let Some(v) = in_range("max_search_results", b.max_search_results, 1, 1000)? {
        s.max_search_results = v;
    }
    if let Some(url) = b.public_url {
        let url = url.trim().trim_end_matches('/').to_string();
        if url.is_empty() {
            s.public_url = None;
        } else if (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= 255
            && !url.contains(char::is_whitespace)
        {
            s.public_url = Some(url);
        } else {
            return Err(unprocessable(
                "public_url must be an http:// or https:// URL, e.g. https://keys.example.com",
            ));
        }
    }
    if let Some(addr) = b.sender_address {
        let addr = addr.trim();
        s.sender_address = if addr.is_empty() {
            None
        } else {
            Some(EmailAddress::parse(addr)?.to_string())
        };
    }
    if let Some(v) = b.allow_internal {
        s.allow_internal = v;
    }
    if let Some(v) = b.allow_directory {
        s.allow_directory = v;
    }
    Ok(s)
}

/// Makes the Verified Directory Key when there is none (VDU-1: it must exist before keys are
/// taken). Returns its fingerprint.
async fn ensure_vd_key(node: &std::sync::Arc<Node>) -> Result<String, Problem> {
    let view = node.read().await?;
    if let Some(item) = view.organization_item(OrganizationItemKind::VerifiedDirectoryKey)? {
        return Ok(item.fingerprint);
    }
    let domain = view
        .managed_domains()?
        .into_iter()
        .next()
        .map(|d| d.name)
        .unwrap_or_else(|| "invalid".into());
    let cert = tokio::task::spawn_blocking(move || {
        openpgp::generate_user_key(
            &format!("verified-directory@{domain}"),
            Some("Verified Directory Key"),
            KeyAlgorithm::default(),
            None,
        )
        .and_then(|c| openpgp::armored_secret(&c, None))
    })
    .await
    .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(signet_keys::KeyError::from)?;
    let cert = signet_keys::import_openpgp_item(
        node,
        OrganizationItemKind::VerifiedDirectoryKey,
        cert.as_bytes(),
        None,
    )
    .await?;
    Ok(cert.fingerprint().to_hex())
}

async fn set_settings(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = s.node.read().await?;
    let settings = apply_body(view.vd_settings()?, body)?;
    let key = if settings.enabled {
        Some(ensure_vd_key(&s.node).await?)
    } else {
        view.organization_item(OrganizationItemKind::VerifiedDirectoryKey)?
            .map(|i| i.fingerprint)
    };
    s.node
        .execute(Command::SetVdSettings {
            settings: settings.clone(),
        })
        .await?;
    settings_json(&settings, key)
}

fn entry_json(e: &VdEntry) -> Value {
    json!({
        "fingerprint": e.fingerprint,
        "state": e.summary_state().map(VdUidState::as_str),
        "user_ids": e.user_ids.iter().map(|u| json!({
            "user_id": u.user_id,
            "email": u.email,
            "state": u.state.as_str(),
            "mailed_at": u.mailed_at,
            "confirmed_at": u.confirmed_at,
        })).collect::<Vec<_>>(),
        "submitted_at": e.submitted_at,
        "certified_until": e.certified_until,
        "renewal_started_at": e.renewal_started_at,
        "published": e.published.is_some(),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list_keys(
    admin: Admin,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let wanted = match q.state.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(VdUidState::parse(raw).ok_or_else(|| {
            unprocessable(format!(
                "unknown state {raw:?}: use pending-confirmation, pending-approval, published or delete-pending"
            ))
        })?),
    };
    let view = s.node.read().await?;
    let keys: Vec<Value> = view
        .vd_entries()?
        .iter()
        .filter(|e| wanted.is_none_or(|w| e.user_ids.iter().any(|u| u.state == w)))
        .map(entry_json)
        .collect();
    Ok(Json(Value::Array(keys)))
}

fn not_found(fingerprint: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("there is no key {fingerprint} in the Verified Directory"),
    )
}

async fn load(s: &AppState, fingerprint: &str) -> Result<VdEntry, Problem> {
    s.node
        .read()
        .await?
        .vd_entry(fingerprint)?
        .ok_or_else(|| not_found(fingerprint))
}

async fn show_key(
    admin: Admin,
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    Ok(Json(entry_json(&load(&s, &fingerprint).await?)))
}

fn refusal(r: VdRefusal) -> Problem {
    match r {
        VdRefusal::NotFound(t) => Problem::new(StatusCode::CONFLICT, t),
        other => Problem::new(StatusCode::CONFLICT, other.to_string()),
    }
}

/// Decides with the stored entry, publishes what must be (certified by the VD Key), commits;
/// again when another member changed the entry meanwhile.
async fn change(
    s: &AppState,
    fingerprint: &str,
    decide: fn(&VdEntry) -> Result<Update, VdRefusal>,
) -> ApiResult {
    for _ in 0..3 {
        let view = s.node.read().await?;
        let settings = view.vd_settings()?;
        let stored = view
            .vd_entry(fingerprint)?
            .ok_or_else(|| not_found(fingerprint))?;
        let mut update = decide(&stored).map_err(refusal)?;
        let node = s.node.clone();
        let key = || -> Result<openpgp::Cert, PublishError> {
            let fail = |e: String| PublishError::SigningKey(e);
            let item = node
                .local()
                .organization_item(OrganizationItemKind::VerifiedDirectoryKey)
                .map_err(|e| fail(e.to_string()))?
                .ok_or_else(|| fail("there is no Verified Directory Key".into()))?;
            let secret = item
                .secret
                .ok_or_else(|| fail("the Verified Directory Key has no private key".into()))?;
            let bytes = crate::keyring::open(
                &node,
                &crate::keyring::label_for(OrganizationItemKind::VerifiedDirectoryKey),
                &secret,
            )
            .map_err(|e| fail(e.to_string()))?;
            openpgp::parse_cert(&bytes).map_err(|e| fail(e.to_string()))
        };
        let lookup = |f: &str| (f == stored.fingerprint).then(|| stored.clone());
        vd::finish(&mut update, &lookup, &key, &settings, now_millis())
            .map_err(|e| Problem::new(StatusCode::CONFLICT, e.to_string()))?;
        let command = Command::UpdateVerifiedDirectory {
            put: update.put.clone(),
            remove: update.remove.clone(),
            issue_tokens: update.issue_tokens.clone(),
            spend_tokens: update.spend_tokens.clone(),
        };
        match s.node.execute(command).await {
            Ok(_) => {
                let after = s.node.read().await?.vd_entry(fingerprint)?;
                return Ok(Json(match after {
                    Some(e) => entry_json(&e),
                    None => json!({ "removed": stored.fingerprint }),
                }));
            }
            Err(StoreError::Rejected(signet_store::Rejection::Conflict(_))) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "the key kept changing; try again",
    ))
}

async fn approve_key(
    admin: Admin,
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    change(&s, &fingerprint, vd::entry::approve).await
}

async fn reject_key(
    admin: Admin,
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    change(&s, &fingerprint, vd::entry::reject).await
}

fn delete_decision(e: &VdEntry) -> Result<Update, VdRefusal> {
    // VDU-3: a pending key is approved or denied, not deleted.
    if e.user_ids
        .iter()
        .any(|u| u.state == VdUidState::PendingApproval)
    {
        return Err(VdRefusal::NotFound(format!(
            "the key {} is waiting for approval: approve or reject it",
            e.fingerprint
        )));
    }
    Ok(Update {
        remove: vec![e.fingerprint.clone()],
        ..Update::default()
    })
}

async fn delete_key(
    admin: Admin,
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    change(&s, &fingerprint, delete_decision).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let bad = apply_body(
            VdSettings::default(),
            SettingsBody {
                token_validity_hours: Some(9000),
                ..SettingsBody::default()
            },
        );
        assert!(bad.is_err());
        let bad_url = apply_body(
            VdSettings::default(),
            SettingsBody {
                public_url: Some("ftp://x".into()),
                ..SettingsBody::default()
            },
        );
        assert!(bad_url.is_err());
        let ok = apply_body(
            VdSettings::default(),
            SettingsBody {
                enabled: Some(true),
                vetting: Some(Vetting::Automatic),
                public_url: Some("https://keys.example.com/".into()),
                ..SettingsBody::default()
            },
        )
        .unwrap_or_default();
        assert!(ok.enabled);
        assert_eq!(ok.public_url.as_deref(), Some("https://keys.example.com"));
    }
}
