//! `/api/v1/certificates/admin`: the certificate this node's admin port (UI and API) presents.
//!
//! The certificate is node-local (made at first start, self-signed). Replacing it stores the
//! new pair (the key sealed with the node's data key, never in clear on disk) and updates the
//! pinned fingerprint in this node's `cli.json`. The listeners present it from the next TLS
//! handshake on (their configuration reads the certificate through
//! [`signet_transport::tls::AdminIdentity`]); connections already open keep the old one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;
use signet_store::local::{AdminTls, LABEL_ADMIN_KEY};
use signet_transport::pki::{CertifiedKey, cert_fingerprint};
use x509_cert::Certificate;
use x509_cert::der::DecodePem;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/certificates/admin", get(show).put(replace))
}

fn unprocessable(message: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// What an administrator checks about a certificate: fingerprint, subject, names, validity.
pub fn describe(cert_pem: &str) -> Result<Value, Problem> {
    let fingerprint =
        cert_fingerprint(cert_pem).map_err(|e| unprocessable(format!("certificate: {e}")))?;
    let cert = Certificate::from_pem(cert_pem.trim().as_bytes())
        .map_err(|e| unprocessable(format!("certificate: not an X.509 PEM certificate ({e})")))?;
    let tbs = &cert.tbs_certificate;
    let validity = &tbs.validity;
    let secs = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs();
    let names: Vec<String> = tbs
        .extensions
        .iter()
        .flatten()
        .filter(|e| {
            use x509_cert::der::oid::AssociatedOid;
            e.extn_id == x509_cert::ext::pkix::SubjectAltName::OID
        })
        .flat_map(|e| {
            use x509_cert::der::Decode;
            x509_cert::ext::pkix::SubjectAltName::from_der(e.extn_value.as_bytes())
                .map(|san| san.0)
                .unwrap_or_default()
        })
        .filter_map(|n| match n {
            x509_cert::ext::pkix::name::GeneralName::DnsName(d) => Some(d.to_string()),
            x509_cert::ext::pkix::name::GeneralName::IpAddress(ip) => match ip.as_bytes() {
                [a, b, c, d] => Some(std::net::Ipv4Addr::new(*a, *b, *c, *d).to_string()),
                bytes => <[u8; 16]>::try_from(bytes)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
            },
            _ => None,
        })
        .collect();
    Ok(json!({
        "fingerprint_sha256": fingerprint,
        "subject": tbs.subject.to_string(),
        "issuer": tbs.issuer.to_string(),
        "names": names,
        "not_before": secs(&validity.not_before) * 1000,
        "not_after": secs(&validity.not_after) * 1000,
    }))
}

async fn show(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let tls = s.node.local_store().admin_tls()?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "this node has no admin certificate yet",
        )
    })?;
    let mut view = describe(&tls.cert_pem)?;
    view["pem"] = json!(tls.cert_pem);
    Ok(Json(view))
}

#[derive(Deserialize)]
struct ReplaceBody {
    /// The certificate (and any intermediates after it), PEM.
    cert_pem: String,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    key_pem: String,
}

async fn replace(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ReplaceBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = describe(&req.cert_pem)?;
    let now = signet_store::now_millis();
    if view["not_after"].as_u64().is_some_and(|t| t <= now) {
        return Err(unprocessable("certificate: it has expired"));
    }
    let pair = CertifiedKey {
        cert_pem: req.cert_pem.trim().to_string() + "\n",
        key_pem: req.key_pem.trim().to_string() + "\n",
    };
    // rustls refuses a key that does not belong to the certificate.
    signet_transport::tls::admin_server_config(&pair).map_err(|e| {
        unprocessable(format!(
            "the certificate and key do not make a TLS identity: {e}"
        ))
    })?;
    let local = s.node.local_store();
    local.set_admin_tls(&AdminTls {
        cert_pem: pair.cert_pem.clone(),
        key_sealed: s
            .node
            .data_key_for_local()
            .seal(LABEL_ADMIN_KEY, pair.key_pem.as_bytes()),
    })?;
    // The CLI on this machine pins the admin certificate: pin the new one.
    if let Some(fingerprint) = view["fingerprint_sha256"].as_str() {
        pin_cli_certificate(s.node.data_dir(), fingerprint)?;
    }
    // New handshakes present it at once; connections already open keep the old one.
    let live = match &s.admin_identity {
        Some(identity) => identity.replace(&pair).is_ok(),
        None => false,
    };
    tracing::info!(admin = %admin.0.login, fingerprint = ?view["fingerprint_sha256"], live, "admin certificate replaced");
    Ok(Json(json!({
        "certificate": view,
        "restart_needed": !live,
    })))
}

fn pin_cli_certificate(
    dir: &signet_store::datadir::DataDir,
    fingerprint: &str,
) -> Result<(), Problem> {
    let path = dir.cli_file();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut v: Value = serde_json::from_str(&text)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cli.json: {e}")))?;
    v["cert_sha256"] = json!(fingerprint);
    let out = serde_json::to_vec_pretty(&v)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    signet_store::datadir::write_private_file(&path, &out)?;
    Ok(())
}
