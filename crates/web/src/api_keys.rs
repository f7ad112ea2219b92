//! `/api/v1` routes for keys: the organization's keys and certificates, users' keys (generate,
//! import, revoke, export, delete, search), the CRL, Ignition Keys and unlocking.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_crypto::smime::{self, CertificateFields, KeyKind};
use signet_model::{
    Consumer, ConsumerKind, EmailAddress, KeyMode, ManagedKey, OrganizationItemKind, Permission,
};
use signet_store::{Command, Node, now_millis};

use crate::api::{Admin, ApiResult, to_json};
use crate::keyring::{self, KeyError, NewKey};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organization", get(list_organization))
        .route(
            "/api/v1/organization/{kind}",
            get(show_item).post(set_item).delete(delete_item),
        )
        .route("/api/v1/organization/{kind}/export", post(export_item))
        .route("/api/v1/crl", get(crl))
        .route(
            "/api/v1/users/{email}/keys",
            get(list_user_keys).post(add_user_key),
        )
        .route(
            "/api/v1/users/{email}/keys/{fingerprint}",
            delete(delete_user_key),
        )
        .route(
            "/api/v1/users/{email}/keys/{fingerprint}/revoke",
            post(revoke_user_key),
        )
        .route(
            "/api/v1/users/{email}/keys/{fingerprint}/export",
            post(export_user_key),
        )
        .route("/api/v1/keys", get(search_keys))
        .route(
            "/api/v1/ignition-keys",
            get(list_ignition).post(add_ignition),
        )
        .route("/api/v1/ignition-keys/{name}", delete(delete_ignition))
        .route("/api/v1/unlock", post(unlock))
}

impl From<KeyError> for Problem {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(e) => e.into(),
            KeyError::Crypto(e) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            KeyError::Invalid(m) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            KeyError::NotFound(m) => Problem::new(StatusCode::NOT_FOUND, m),
            KeyError::Conflict(m) => Problem::new(StatusCode::CONFLICT, m),
        }
    }
}

fn kind_of(raw: &str) -> Result<OrganizationItemKind, Problem> {
    OrganizationItemKind::parse(raw).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "no organization item {raw:?}; one of: {}",
                OrganizationItemKind::ALL.map(|k| k.as_str()).join(", ")
            ),
        )
    })
}

/// What the API shows of an organization item: its description, never the secret.
fn describe_item(item: &signet_model::OrganizationItem) -> Value {
    let details = if item.kind.is_openpgp() {
        openpgp::parse_cert(&item.public)
            .map(|c| serde_json::to_value(openpgp::KeyInfo::of(&c)).unwrap_or(Value::Null))
            .unwrap_or(Value::Null)
    } else {
        smime::CertificateInfo::of(&item.public)
            .ok()
            .and_then(|i| serde_json::to_value(i).ok())
            .unwrap_or(Value::Null)
    };
    json!({
        "kind": item.kind.as_str(),
        "title": item.kind.title(),
        "fingerprint": item.fingerprint,
        "has_private_key": item.secret.is_some(),
        "generated": item.generated,
        "added_at": item.added_at,
        "details": details,
    })
}

async fn list_organization(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let mut items = Vec::new();
    for kind in OrganizationItemKind::ALL {
        items.push(match view.organization_item(kind)? {
            Some(item) => describe_item(&item),
            None => json!({ "kind": kind.as_str(), "title": kind.title(), "present": false }),
        });
    }
    Ok(Json(json!({ "items": items })))
}

async fn show_item(admin: Admin, State(s): State<AppState>, Path(kind): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let kind = kind_of(&kind)?;
    match s.node.read().await?.organization_item(kind)? {
        Some(item) => Ok(Json(describe_item(&item))),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("there is no {}", kind.title()),
        )),
    }
}

/// Generate or import an organization item. Exactly one of `generate` and `key` (armored
/// OpenPGP, or PEM certificate for certificates, with `private_key` PEM).
#[derive(Deserialize, Default)]
pub struct ItemBody {
    #[serde(default)]
    generate: bool,
    algorithm: Option<String>,
    key: Option<String>,
    private_key: Option<String>,
    passphrase: Option<String>,
    #[serde(default)]
    confirm: bool,
    fields: Option<CertificateFields>,
}

impl ItemBody {
    pub fn generate() -> Self {
        ItemBody {
            generate: true,
            ..Default::default()
        }
    }
}

async fn set_item(
    admin: Admin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    ApiJson(req): ApiJson<ItemBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let kind = kind_of(&kind)?;
    set_organization_item(&s.node, kind, req).await?;
    let view = s.node.read().await?;
    match view.organization_item(kind)? {
        Some(item) => Ok(Json(describe_item(&item))),
        None => Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not stored",
        )),
    }
}

pub(crate) async fn set_organization_item(
    node: &Arc<Node>,
    kind: OrganizationItemKind,
    req: ItemBody,
) -> Result<(), Problem> {
    let algorithm = parse_algorithm(req.algorithm.as_deref())?;
    use OrganizationItemKind as K;
    match (kind, req.generate, req.key.as_deref()) {
        (K::OrganizationKey, true, None) => {
            keyring::generate_organization_key(node, algorithm, req.confirm).await?;
        }
        (K::OrganizationKey, false, Some(key)) => {
            keyring::import_organization_key(
                node,
                key.as_bytes(),
                req.passphrase.as_deref(),
                req.confirm,
            )
            .await?;
        }
        (K::OrganizationCertificate | K::ExternalUserRootCertificate, true, None) => {
            let view = node.read().await?;
            let fields = match req.fields {
                Some(f) => f,
                None => keyring::default_certificate_fields(view)?,
            };
            let ca = tokio::task::spawn_blocking(move || {
                smime::generate_organization_certificate(&fields, KeyKind::Rsa3072, None)
            })
            .await
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(KeyError::from)?;
            keyring::set_certificate_item(node, kind, ca, true).await?;
        }
        (K::OrganizationCertificate | K::ExternalUserRootCertificate, false, Some(cert)) => {
            let key = req.private_key.as_deref().ok_or_else(|| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "give private_key (PKCS#8 PEM) with the certificate",
                )
            })?;
            let ca = smime::import_organization_certificate(cert.as_bytes(), key.as_bytes())
                .map_err(KeyError::from)?;
            keyring::set_certificate_item(node, kind, ca, false).await?;
        }
        (K::ExternalUserRootKey, true, None) => {
            let cert = openpgp::generate_user_key(
                "external-user-root@invalid",
                Some("External User Root Key"),
                algorithm,
                None,
            )
            .map_err(KeyError::from)?;
            let armored = openpgp::armored_secret(&cert, None).map_err(KeyError::from)?;
            keyring::import_openpgp_item(node, kind, armored.as_bytes(), None).await?;
        }
        (K::Adk | K::ExternalUserRootKey | K::VerifiedDirectoryKey, false, Some(key)) => {
            keyring::import_openpgp_item(node, kind, key.as_bytes(), req.passphrase.as_deref())
                .await?;
        }
        (K::Adk | K::VerifiedDirectoryKey, true, _) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the server cannot create the {}; import one", kind.title()),
            ));
        }
        _ => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "give either \"generate\": true or \"key\"",
            ));
        }
    }
    Ok(())
}

fn parse_algorithm(raw: Option<&str>) -> Result<KeyAlgorithm, Problem> {
    match raw {
        None => Ok(KeyAlgorithm::default()),
        Some(a) => a.parse().map_err(|_| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown algorithm {a:?}: use cv25519, rsa2048, rsa3072 or rsa4096"),
            )
        }),
    }
}

async fn delete_item(
    admin: Admin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let kind = kind_of(&kind)?;
    s.node
        .execute(Command::RemoveOrganizationItem { kind })
        .await?;
    Ok(Json(json!({ "removed": kind.as_str() })))
}

#[derive(Deserialize, Default)]
struct ExportBody {
    #[serde(default)]
    private: bool,
    passphrase: Option<String>,
}

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn export_item(
    admin: Admin,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    ApiJson(req): ApiJson<ExportBody>,
) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let kind = kind_of(&kind)?;
    let view = s.node.read().await?;
    let item = view.organization_item(kind)?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("there is no {}", kind.title()),
        )
    })?;
    if req.private {
        admin.require(Permission::ExportPrivateKeys)?;
    }
    if kind.is_openpgp() {
        let armored = match (req.private, &item.secret) {
            (true, Some(secret)) => {
                let cert = openpgp::parse_cert(&keyring::open(
                    &s.node,
                    &keyring::label_for(kind),
                    secret,
                )?)
                .map_err(KeyError::from)?;
                openpgp::armored_secret(&cert, req.passphrase.as_deref()).map_err(KeyError::from)?
            }
            (true, None) => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    format!("the {} has no private key here", kind.title()),
                ));
            }
            (false, _) => {
                let cert = openpgp::parse_cert(&item.public).map_err(KeyError::from)?;
                openpgp::armored_public(&cert).map_err(KeyError::from)?
            }
        };
        Ok(text("application/pgp-keys", armored))
    } else {
        if req.private {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "export the certificate's key pair as PKCS#12 from the admin UI (not yet in the API)",
            ));
        }
        Ok(text(
            "application/x-pem-file",
            pem("CERTIFICATE", &item.public),
        ))
    }
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

async fn crl(admin: Admin, State(s): State<AppState>) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let der = keyring::current_crl(&s.node, view)?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}

/// A managed key as the API shows it.
#[derive(Serialize)]
pub(crate) struct KeyView {
    mode: KeyMode,
    fingerprint: String,
    created_at: u64,
    revoked_at: Option<u64>,
    server_holds_private_key: bool,
    adk_fingerprint: Option<String>,
    organization_certified: Option<bool>,
    info: Option<openpgp::KeyInfo>,
    smime: Option<Value>,
}

pub(crate) fn key_view(key: &ManagedKey, org: Option<&openpgp::Cert>) -> KeyView {
    let cert = openpgp::parse_cert(&key.public).ok();
    KeyView {
        mode: key.mode,
        fingerprint: key.fingerprint.clone(),
        created_at: key.created_at,
        revoked_at: key.revoked_at,
        server_holds_private_key: key.secret.is_some() && key.mode != KeyMode::Gkm,
        adk_fingerprint: key.adk_fingerprint.clone(),
        organization_certified: match (&cert, org) {
            (Some(c), Some(o)) => Some(openpgp::organization_certifications(c, o) > 0),
            _ => None,
        },
        info: cert.as_ref().map(openpgp::KeyInfo::of),
        smime: key.smime.as_ref().map(|c| {
            json!({
                "serial": c.serial_hex,
                "issued_here": c.issued_here,
                "revoked_at": c.revoked_at,
                "certificate": smime::CertificateInfo::of(&c.cert_der).ok(),
            })
        }),
    }
}

pub(crate) fn organization_public(view: &signet_store::StateView) -> Option<openpgp::Cert> {
    view.organization_item(OrganizationItemKind::OrganizationKey)
        .ok()
        .flatten()
        .and_then(|i| openpgp::parse_cert(&i.public).ok())
}

async fn consumer_or_404(
    node: &Node,
    email: &str,
) -> Result<(signet_store::StateView, Consumer), Problem> {
    let email = EmailAddress::parse(email)?;
    let view = node.read().await?;
    let consumer = view
        .consumer(&email)?
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, format!("user {email} not found")))?;
    Ok((view.clone(), consumer))
}

async fn list_user_keys(
    admin: Admin,
    State(s): State<AppState>,
    Path(email): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let (view, consumer) = consumer_or_404(&s.node, &email).await?;
    let org = organization_public(&view);
    let keys: Vec<KeyView> = consumer
        .keys
        .iter()
        .map(|k| key_view(k, org.as_ref()))
        .collect();
    to_json(&keys)
}

#[derive(Deserialize)]
pub(crate) struct AddKeyBody {
    pub(crate) mode: Option<String>,
    pub(crate) algorithm: Option<String>,
    /// The user's key, armored (CKM, GKM, SCKM, or an SKM key to import).
    pub(crate) key: Option<String>,
    pub(crate) passphrase: Option<String>,
}

pub(crate) fn parse_mode(raw: Option<&str>, kind: ConsumerKind) -> Result<KeyMode, Problem> {
    match raw {
        Some(m) => KeyMode::parse(m).ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown key mode {m:?}: use SKM, SCKM, CKM or GKM"),
            )
        }),
        // Internal users without a client get SKM (guide §8: mandatory without a client);
        // external users' keys are theirs.
        None if kind == ConsumerKind::Internal => Ok(KeyMode::Skm),
        None => Ok(KeyMode::Ckm),
    }
}

/// Makes (or checks) a key for a consumer without storing it.
pub(crate) async fn new_key_for(
    node: &Arc<Node>,
    view: &signet_store::StateView,
    consumer: &Consumer,
    req: &AddKeyBody,
) -> Result<ManagedKey, Problem> {
    let mode = parse_mode(req.mode.as_deref(), consumer.kind)?;
    if consumer.kind == ConsumerKind::External
        && matches!(mode, KeyMode::Skm | KeyMode::Sckm)
        && req.key.is_none()
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the server generates keys only for internal users; import the external user's key",
        ));
    }
    let provided: Option<Vec<u8>> = match (&req.key, &req.passphrase) {
        (Some(k), Some(p)) if mode != KeyMode::Gkm => {
            let cert = openpgp::parse_cert(k.as_bytes()).map_err(KeyError::from)?;
            let cert = openpgp::unlock_secret(&cert, p).map_err(KeyError::from)?;
            Some(openpgp::binary_secret(&cert).map_err(KeyError::from)?)
        }
        (Some(k), _) => Some(k.as_bytes().to_vec()),
        (None, _) => None,
    };
    let key = keyring::make_managed_key(
        node,
        view,
        consumer,
        NewKey {
            mode,
            algorithm: parse_algorithm(req.algorithm.as_deref())?,
            provided: provided.as_deref(),
        },
    )
    .await?;
    Ok(key)
}

/// Adds a key to a consumer and commits it; returns the new key.
pub(crate) async fn add_key_to(
    node: &Arc<Node>,
    view: &signet_store::StateView,
    mut consumer: Consumer,
    req: &AddKeyBody,
) -> Result<ManagedKey, Problem> {
    let key = new_key_for(node, view, &consumer, req).await?;
    if consumer
        .keys
        .iter()
        .any(|k| k.fingerprint == key.fingerprint)
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!("{} already has key {}", consumer.email, key.fingerprint),
        ));
    }
    // The newest key is the one mail uses.
    consumer.keys.insert(0, key.clone());
    node.execute(Command::UpdateConsumer { consumer }).await?;
    Ok(key)
}

async fn add_user_key(
    admin: Admin,
    State(s): State<AppState>,
    Path(email): Path<String>,
    ApiJson(req): ApiJson<AddKeyBody>,
) -> ApiResult {
    admin.require(Permission::ManageUsers)?;
    let (view, consumer) = consumer_or_404(&s.node, &email).await?;
    let key = add_key_to(&s.node, &view, consumer, &req).await?;
    to_json(&key_view(&key, organization_public(&view).as_ref()))
}

async fn delete_user_key(
    admin: Admin,
    State(s): State<AppState>,
    Path((email, fingerprint)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ManageUsers)?;
    let (_, mut consumer) = consumer_or_404(&s.node, &email).await?;
    let before = consumer.keys.len();
    consumer
        .keys
        .retain(|k| !k.fingerprint.eq_ignore_ascii_case(&fingerprint));
    if consumer.keys.len() == before {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("{email} has no key {fingerprint}"),
        ));
    }
    // The sealed private key is gone from the state with the record: earlier mail to it can
    // no longer be decrypted (guide §11).
    s.node.execute(Command::UpdateConsumer { consumer }).await?;
    Ok(Json(json!({ "deleted": fingerprint })))
}

async fn revoke_user_key(
    admin: Admin,
    State(s): State<AppState>,
    Path((email, fingerprint)): Path<(String, String)>,
) -> ApiResult {
    admin.require(Permission::ManageUsers)?;
    let email = EmailAddress::parse(&email)?;
    let key = keyring::revoke_managed_key(&s.node, &email, &fingerprint).await?;
    let view = s.node.read().await?;
    to_json(&key_view(&key, organization_public(view).as_ref()))
}

async fn export_user_key(
    admin: Admin,
    State(s): State<AppState>,
    Path((email, fingerprint)): Path<(String, String)>,
    ApiJson(req): ApiJson<ExportBody>,
) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let (_, consumer) = consumer_or_404(&s.node, &email).await?;
    let key = consumer
        .keys
        .iter()
        .find(|k| k.fingerprint.eq_ignore_ascii_case(&fingerprint))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                format!("{email} has no key {fingerprint}"),
            )
        })?;
    if !req.private {
        let cert = openpgp::parse_cert(&key.public).map_err(KeyError::from)?;
        return Ok(text(
            "application/pgp-keys",
            openpgp::armored_public(&cert).map_err(KeyError::from)?,
        ));
    }
    admin.require(Permission::ExportPrivateKeys)?;
    if key.mode != KeyMode::Skm && key.mode != KeyMode::Sckm || key.secret.is_none() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the server holds no usable private key for this {} key",
                key.mode.as_str()
            ),
        ));
    }
    let cert = keyring::open_managed_key(&s.node, key)?;
    Ok(text(
        "application/pgp-keys",
        openpgp::armored_secret(&cert, req.passphrase.as_deref()).map_err(KeyError::from)?,
    ))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search_keys(
    admin: Admin,
    State(s): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let query = q.q.trim();
    if query.is_empty() || query.len() > 256 {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "q must be an email address, a key ID or a fingerprint",
        ));
    }
    let view = s.node.read().await?;
    let org = organization_public(view);
    let mut hits = Vec::new();
    for consumer in view.consumers()? {
        for key in &consumer.keys {
            let Ok(cert) = openpgp::parse_cert(&key.public) else {
                continue;
            };
            if openpgp::key_matches(&cert, query) {
                hits.push(json!({
                    "email": consumer.email,
                    "kind": consumer.kind,
                    "key": key_view(key, org.as_ref()),
                }));
            }
        }
    }
    Ok(Json(json!({ "results": hits })))
}

async fn list_ignition(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let keys = s.node.read().await?.ignition_keys()?;
    Ok(Json(json!({
        "locked": s.node.is_locked(),
        "keys": keys.iter().map(|k| json!({ "name": k.name, "added_at": k.added_at })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct IgnitionBody {
    name: String,
    passphrase: String,
}

async fn add_ignition(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<IgnitionBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let name = req.name.trim().to_string();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be 1 to 64 printable characters",
        ));
    }
    if req.passphrase.chars().count() < 8 || req.passphrase.len() > 128 {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the passphrase must be 8 to 128 characters",
        ));
    }
    let data_key = s.node.data_key()?;
    let now = now_millis();
    let key = tokio::task::spawn_blocking(move || {
        signet_store::vault::new_ignition_key(&name, &req.passphrase, &data_key, now)
    })
    .await
    .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let name = key.name.clone();
    s.node.execute(Command::AddIgnitionKey { key }).await?;
    s.node.reconcile_data_key_custody()?;
    Ok(Json(json!({ "added": name, "locked": s.node.is_locked() })))
}

async fn delete_ignition(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    s.node
        .execute(Command::RemoveIgnitionKey { name: name.clone() })
        .await?;
    s.node.reconcile_data_key_custody()?;
    Ok(Json(json!({ "removed": name })))
}

#[derive(Deserialize)]
struct UnlockBody {
    passphrase: Option<String>,
    /// The Organization Key, armored, with its private key (and `passphrase` for it).
    organization_key: Option<String>,
}

async fn unlock(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<UnlockBody>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    if !s.node.is_locked() {
        return Ok(Json(json!({ "locked": false, "changed": false })));
    }
    match (req.organization_key, req.passphrase) {
        (Some(org), passphrase) => {
            let view = s.node.local();
            let wrapped = view.data_key_for_organization_key()?.ok_or_else(|| {
                Problem::new(StatusCode::CONFLICT, "this cluster has no Organization Key")
            })?;
            let mut cert = openpgp::parse_cert(org.as_bytes()).map_err(KeyError::from)?;
            if let Some(p) = passphrase.as_deref() {
                cert = openpgp::unlock_secret(&cert, p).map_err(KeyError::from)?;
            }
            let plain = openpgp::decrypt_bytes(&[&cert], &[], &wrapped).map_err(|_| {
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "that is not this cluster's Organization Key",
                )
            })?;
            s.node.unlock_with_data_key(&plain.plaintext)?;
        }
        (None, Some(passphrase)) => {
            let node = s.node.clone();
            let ok = tokio::task::spawn_blocking(move || node.unlock_with_passphrase(&passphrase))
                .await
                .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
            if !ok {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "the passphrase does not match any Ignition Key",
                ));
            }
        }
        (None, None) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "give an Ignition Key passphrase, or the Organization Key",
            ));
        }
    }
    tracing::info!(admin = %admin.0.login, "member unlocked");
    Ok(Json(json!({ "locked": false, "changed": true })))
}
