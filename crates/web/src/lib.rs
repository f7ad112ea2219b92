//! The admin REST API on the admin port (the admin UI joins it in the admin-UI issue).
//!
//! Every route needs a bearer token belonging to an administrator whose role allows the route's
//! [`Permission`]; errors are `application/problem+json` (RFC 9457) with a message meant for an
//! administrator, never a stack trace.

mod api;
mod api_keys;
mod api_policy;
mod api_system;
mod api_trusted;
pub mod backup;
pub mod keyring;
mod problem;

use std::sync::Arc;

pub use api::router;
pub use problem::Problem;
use signet_store::Node;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
}

/// Serves the API over TLS until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use tower::ServiceExt;
    let router = router(state);
    signet_transport::http::serve_tls(
        listener,
        tls,
        move |req, _peer| {
            let router = router.clone();
            async move {
                match router.oneshot(req.map(axum::body::Body::new)).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
        },
        shutdown,
    )
    .await
}
