//! Errors as `application/problem+json`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use signet_store::{Rejection, StoreError};

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(skip)]
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    /// Extension members (RFC 9457 §3.2), e.g. a validator's findings.
    #[serde(skip)]
    pub extra: Option<serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            detail: detail.into(),
            extra: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            title: &'a str,
            status: u16,
            detail: &'a str,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            extra: Option<&'a serde_json::Value>,
        }
        let body = Body {
            kind: "about:blank",
            title: &self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            extra: self.extra.as_ref(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Rejected(Rejection::NotFound(_)) | StoreError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            StoreError::Rejected(Rejection::AlreadyExists(_) | Rejection::Conflict(_)) => {
                StatusCode::CONFLICT
            }
            StoreError::Rejected(Rejection::JoinToken(_)) | StoreError::Invalid(_) => {
                StatusCode::BAD_REQUEST
            }
            StoreError::NoQuorum(_) | StoreError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::Locked => StatusCode::LOCKED,
            StoreError::Cluster(_) | StoreError::Transport(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed");
        }
        Problem::new(status, e.to_string())
    }
}

impl From<signet_model::InvalidInput> for Problem {
    fn from(e: signet_model::InvalidInput) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
    }
}

/// A JSON request body whose rejection (bad JSON, wrong shape, wrong content type) is a
/// problem+json answer like every other error, saying what was wrong.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(Problem::new(
                rejection.status(),
                format!(
                    "the request body is not acceptable: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}
