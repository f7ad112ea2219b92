//! Who is calling: the [`Admin`] extractor every `/api/v1` handler takes. A caller proves who it
//! is with an API token (`Authorization: Bearer ...`, the CLI) or an admin-UI session cookie.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use signet_model::{Administrator, Permission};

use crate::{AppState, Problem};

/// The authenticated administrator making a request.
pub struct Admin(pub Administrator);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "an API token is required (Authorization: Bearer ...)",
                )
            })?;
        let digest = hex::encode(Sha256::digest(token.trim().as_bytes()));
        match state.node.local().administrator_by_token(&digest)? {
            Some(admin) => Ok(Admin(admin)),
            None => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "the API token is not valid",
            )),
        }
    }
}

impl Admin {
    pub(crate) fn require(&self, permission: Permission) -> Result<(), Problem> {
        if self.0.role.allows(permission) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "administrator {} ({:?}) may not do this",
                    self.0.login, self.0.role
                ),
            ))
        }
    }
}
