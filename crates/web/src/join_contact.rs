//! Joining by contact (guide: the joiner waits, the sponsor's administrator contacts it from the
//! cluster page). The sponsor's administrator types the waiting server's admin address and the
//! setup code its console shows; the sponsor issues a join token and sends it to the joiner's
//! `POST /setup/join/contact`, which joins with it.
//!
//! The joiner's certificate is self-signed and unknown to the sponsor, so TLS alone would hand
//! the token to whoever answers at that address. The token therefore travels sealed under a key
//! derived from the setup code (Argon2id): only the server showing that code can open it, and a
//! wrong code is counted like a wrong code typed into the assistant. The code itself is never
//! sent.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signet_model::Permission;
use signet_store::secrets::SealingKey;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// The associated data of a sealed token, so nothing else sealed can be passed off as one.
const LABEL: &str = "signet join contact v1";
/// How long a token sent by contact lives: the joiner uses it at once.
const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// The path the joiner answers on (its setup assistant).
pub const CONTACT_PATH: &str = "/setup/join/contact";

/// A join token sealed under a setup code, as it travels from sponsor to joiner.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedToken {
    /// Base64 of the 16-byte Argon2id salt.
    pub salt: String,
    /// Base64 of the sealed token (`signet_store::secrets` format).
    pub sealed: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContactError {
    #[error("the sealed join token is malformed")]
    Malformed,
    #[error("the setup code does not open the join token")]
    WrongCode,
}

/// Setup codes are typed with or without dashes, in either case: compare them normalized.
pub fn normalize_code(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn key_from_code(code: &str, salt: &[u8]) -> Result<SealingKey, ContactError> {
    // OWASP's Argon2id baseline (as for passphrases): an offline guess costs ~20 MiB and tens
    // of milliseconds, against a code of ~59 bits.
    let params = Params::new(19 * 1024, 2, 1, Some(32)).map_err(|_| ContactError::Malformed)?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(normalize_code(code).as_bytes(), salt, &mut key)
        .map_err(|_| ContactError::Malformed)?;
    SealingKey::from_bytes(&key).map_err(|_| ContactError::Malformed)
}

/// Seals `token` so that only a holder of `code` opens it.
pub fn seal(token: &str, code: &str) -> Result<SealedToken, ContactError> {
    let salt: [u8; 16] = rand::random();
    let key = key_from_code(code, &salt)?;
    Ok(SealedToken {
        salt: B64.encode(salt),
        sealed: B64.encode(key.seal(LABEL, token.as_bytes())),
    })
}

/// Opens a sealed token with this server's setup code.
pub fn open(sealed: &SealedToken, code: &str) -> Result<String, ContactError> {
    let salt = B64
        .decode(&sealed.salt)
        .map_err(|_| ContactError::Malformed)?;
    let body = B64
        .decode(&sealed.sealed)
        .map_err(|_| ContactError::Malformed)?;
    if salt.len() != 16 || body.len() > 4096 {
        return Err(ContactError::Malformed);
    }
    key_from_code(code, &salt)?
        .open_string(LABEL, &body)
        .map_err(|_| ContactError::WrongCode)
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/cluster/contact", post(contact))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactBody {
    /// The waiting server's admin address, `host:port` (port 9000 when left out).
    address: String,
    /// The setup code its console shows.
    setup_code: String,
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `host`, `host:port` or `[v6]:port`; the admin port when none is given.
fn admin_address(raw: &str) -> Result<String, Problem> {
    let raw = raw
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let bad = || {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "address: give the waiting server's admin address as host or host:port",
        )
    };
    if raw.is_empty() || raw.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad());
    }
    let has_port = match raw.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (!host.contains(':') || host.ends_with(']')) =>
        {
            port.parse::<u16>().map_err(|_| bad())?;
            true
        }
        _ => false,
    };
    if has_port {
        Ok(raw.to_string())
    } else if raw.contains(':') && !raw.starts_with('[') {
        Ok(format!("[{raw}]:9000"))
    } else {
        Ok(format!("{raw}:9000"))
    }
}

async fn contact(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ContactBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureClustering)?;
    let address = admin_address(&req.address)?;
    let code = normalize_code(&req.setup_code);
    if code.len() != 12 {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "setup_code: the setup code has 12 letters and digits (XXXX-XXXX-XXXX), as the waiting server's console shows it",
        ));
    }
    let issued = s.node.issue_join_token(&admin.0.login, TOKEN_TTL).await?;
    let sealed = seal(&issued.token, &code).map_err(internal)?;
    let body = serde_json::to_vec(&sealed).map_err(internal)?;
    let unreachable = |detail: String| {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            format!("{address} did not answer as a Signet server waiting to join: {detail}"),
        )
    };
    // Any certificate: the joiner's is self-signed and unknown here; the token is sealed.
    let mut tls =
        (*signet_transport::tls::opportunistic_client_config().map_err(internal)?).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let client =
        signet_transport::http::H2Client::new(address.clone(), "signet-admin", Arc::new(tls))
            .map_err(|e| unreachable(e.to_string()))?;
    let reply = client
        .request(
            axum::http::Method::POST,
            CONTACT_PATH,
            &[("content-type", "application/json")],
            Bytes::from(body),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let said = answer["detail"].as_str().unwrap_or("").to_string();
    match reply.status.as_u16() {
        202 => {
            tracing::info!(%address, by = %admin.0.login, "contacted a waiting server; it is joining the cluster");
            Ok(Json(json!({ "address": address, "state": "joining" })))
        }
        403 => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("setup_code: {address} refused the setup code ({said})"),
        )),
        409 => Err(Problem::new(
            StatusCode::CONFLICT,
            format!("{address} is not waiting to join a cluster ({said})"),
        )),
        other => Err(unreachable(format!("HTTP {other} {said}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_code_opens_the_token() {
        let sealed = seal("SIGNET-JOIN-1.abc", "ABCD-EFGH-JKMN").expect("sealed");
        assert_eq!(
            open(&sealed, "abcd efgh jkmn").as_deref(),
            Ok("SIGNET-JOIN-1.abc")
        );
        assert_eq!(
            open(&sealed, "ABCD-EFGH-JKMP"),
            Err(ContactError::WrongCode)
        );
        let broken = SealedToken {
            salt: "!!".into(),
            sealed: sealed.sealed.clone(),
        };
        assert_eq!(
            open(&broken, "ABCD-EFGH-JKMN"),
            Err(ContactError::Malformed)
        );
    }

    #[test]
    fn admin_addresses_get_the_admin_port() {
        let ok = |raw: &str| admin_address(raw).expect(raw);
        assert_eq!(ok("10.0.0.7"), "10.0.0.7:9000");
        assert_eq!(ok("keys.example.com:9443"), "keys.example.com:9443");
        assert_eq!(ok("https://10.0.0.7:9000/"), "10.0.0.7:9000");
        assert_eq!(ok("[::1]:19001"), "[::1]:19001");
        assert_eq!(ok("::1"), "[::1]:9000");
        for bad in ["", "a b", "host/path", "user@host", "host:99999"] {
            assert!(admin_address(bad).is_err(), "{bad}");
        }
    }
}
