//! `/api/v1/trusted`: keys and certificates from outside the organization that are trusted
//! anyway (guide §12), each with the guide's three trust flags. An OpenPGP key is certified by
//! the Organization Key when it is added; certificates are not checked against CRLs on import,
//! as the guide says.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_crypto::{openpgp, smime};
use signet_model::{Permission, TrustFlags, TrustedItem};
use signet_store::{Command, now_millis};

use crate::api::{Admin, ApiResult};
use crate::keyring::{self, KeyError};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trusted", get(list).post(add))
        .route(
            "/api/v1/trusted/{id}",
            get(show).put(set_flags).delete(remove),
        )
}

fn describe(item: &TrustedItem) -> Value {
    json!({
        "id": item.id,
        "type": if item.x509 { "x509" } else { "openpgp" },
        "name": item.name,
        "flags": item.flags,
        "added_at": item.added_at,
    })
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let items = s.node.read().await?.trusted_items()?;
    Ok(Json(Value::Array(items.iter().map(describe).collect())))
}

async fn show(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let item = s
        .node
        .read()
        .await?
        .trusted_item(&id.to_uppercase())?
        .ok_or_else(|| {
            Problem::new(StatusCode::NOT_FOUND, format!("trusted key {id} not found"))
        })?;
    let mut v = describe(&item);
    v["details"] = if item.x509 {
        serde_json::to_value(smime::CertificateInfo::of(&item.data).map_err(KeyError::from)?)
            .unwrap_or(Value::Null)
    } else {
        let cert = openpgp::parse_cert(&item.data).map_err(KeyError::from)?;
        serde_json::to_value(openpgp::KeyInfo::of(&cert)).unwrap_or(Value::Null)
    };
    Ok(Json(v))
}

#[derive(Deserialize)]
struct AddBody {
    /// An armored OpenPGP key, or a PEM/DER certificate (PEM bundles and .p7b: the first).
    data: String,
    #[serde(default)]
    flags: TrustFlags,
}

fn check_flags(x509: bool, flags: &TrustFlags) -> Result<(), Problem> {
    if !x509 && (flags.tls_servers || flags.keyserver_clients) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "only X.509 certificates can be trusted for TLS servers or keyserver clients",
        ));
    }
    Ok(())
}

async fn add(admin: Admin, State(s): State<AppState>, ApiJson(req): ApiJson<AddBody>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let bytes = req.data.as_bytes();
    let item = if smime::is_x509(bytes) {
        check_flags(true, &req.flags)?;
        let der = smime::parse_certificate(bytes).map_err(KeyError::from)?;
        let info = smime::CertificateInfo::of(&der).map_err(KeyError::from)?;
        TrustedItem {
            id: info.sha256_fingerprint.to_uppercase(),
            x509: true,
            data: der,
            flags: req.flags,
            name: info.subject,
            added_at: now_millis(),
        }
    } else {
        check_flags(false, &req.flags)?;
        let cert = openpgp::public_only(&openpgp::parse_cert(bytes).map_err(KeyError::from)?);
        // The Organization Key signs every trusted entry (guide §12), when there is one.
        let view = s.node.read().await?;
        let cert = match keyring::organization_key(&s.node, view) {
            Ok(org) => openpgp::certify(&org, cert).map_err(KeyError::from)?,
            Err(KeyError::NotFound(_)) => cert,
            Err(e) => return Err(e.into()),
        };
        let name = cert
            .userids()
            .next()
            .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
            .unwrap_or_else(|| cert.fingerprint().to_hex());
        TrustedItem {
            id: cert.fingerprint().to_hex(),
            x509: false,
            data: openpgp::binary_public(&cert).map_err(KeyError::from)?,
            flags: req.flags,
            name,
            added_at: now_millis(),
        }
    };
    let v = describe(&item);
    s.node.execute(Command::AddTrusted { item }).await?;
    Ok(Json(v))
}

async fn set_flags(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(flags): ApiJson<TrustFlags>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let id = id.to_uppercase();
    let item = s.node.read().await?.trusted_item(&id)?.ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, format!("trusted key {id} not found"))
    })?;
    check_flags(item.x509, &flags)?;
    s.node
        .execute(Command::SetTrustFlags {
            id: id.clone(),
            flags,
        })
        .await?;
    Ok(Json(json!({ "id": id, "flags": flags })))
}

async fn remove(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let id = id.to_uppercase();
    s.node
        .execute(Command::RemoveTrusted { id: id.clone() })
        .await?;
    Ok(Json(json!({ "removed": id })))
}
