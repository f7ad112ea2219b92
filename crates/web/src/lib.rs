//! The admin REST API on the admin port (the admin UI joins it in the admin-UI issue).
//!
//! Every route needs a bearer token belonging to an administrator whose role allows the route's
//! [`Permission`]; errors are `application/problem+json` (RFC 9457) with a message meant for an
//! administrator, never a stack trace.

pub mod activity;
mod api;
mod api_admins;
mod api_certificates;
mod api_dictionaries;
mod api_keycache;
mod api_keys;
mod api_keyservers;
mod api_logs;
mod api_mail_settings;
mod api_policy;
mod api_policy_evaluate;
mod api_policy_rules;
mod api_policy_transfer;
pub mod api_queue;
mod api_routes;
mod api_system;
mod api_templates;
mod api_trusted;
mod api_verified_directory;
pub mod audit;
mod auth;
pub mod backup;
mod captcha;
mod guard;
pub mod join_contact;
pub mod logbook;
mod login;
pub mod notify;
pub mod openapi;
mod passphrase;
/// The key service lives in its own crate (the mail path uses it too); `crate::keyring` keeps
/// its old name here.
pub use signet_keys as keyring;
mod problem;
pub mod route_table;
pub mod session;
pub mod ui;

use std::sync::Arc;

pub use api::router;
pub use problem::Problem;
use signet_store::Node;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    /// The member's mail queue, when it runs mail proxies.
    pub mail_queue: Option<api_queue::SharedQueue>,
    /// This node's admin-UI sessions.
    pub sessions: Arc<session::Sessions>,
    /// This node's recent log events (the Logs page).
    pub logbook: Arc<logbook::LogBook>,
    /// This node's CPU and message samples (the overview's graphs).
    pub activity: Arc<activity::Activity>,
    /// The setup assistant's one-time code and its signed-in browser (while setup is pending).
    pub setup: Arc<ui::setup::SetupGate>,
    /// What this node runs and where, for the overview and Network pages.
    pub facts: Arc<ui::NodeFacts>,
    /// The certificate the admin port presents, replaced in place by the certificate API
    /// (none in the admin-UI bench, which serves no TLS).
    pub admin_identity: Option<Arc<signet_transport::tls::AdminIdentity>>,
    /// Mail to administrators (lockout notices); none where no mail queue can take it.
    pub notifier: Option<Arc<dyn notify::Notifier>>,
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
