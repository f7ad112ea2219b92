//! `/api/v1/mail/routes`: this node's static mail routes (Mail > Mail Routes). Routes are
//! node-local: the answer is about the member the request reached. Routes added here live in
//! the node's local store and win over the configuration file's `[[mail.route]]` for the same
//! domain; delivery uses a change at once, without a restart.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;
use signet_store::local::LocalMailRoute;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/mail/routes", get(list).post(add))
        .route("/api/v1/mail/routes/{domain}", delete(remove))
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let local = s.node.local_store();
    let added = local.mail_routes()?;
    let mut out: Vec<Value> = added
        .iter()
        .map(|r| json!({ "domain": r.domain, "host": r.host, "port": r.port, "source": "api" }))
        .collect();
    for r in local.configured_mail_routes()? {
        if !added.iter().any(|a| a.domain == r.domain) {
            out.push(
                json!({ "domain": r.domain, "host": r.host, "port": r.port, "source": "config" }),
            );
        }
    }
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
struct RouteBody {
    domain: String,
    host: String,
    #[serde(default = "smtp_port")]
    port: u16,
}

fn smtp_port() -> u16 {
    25
}

fn unprocessable(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

async fn add(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<RouteBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let domain = body.domain.trim().to_ascii_lowercase();
    if domain != "*" {
        signet_model::EmailAddress::parse(&format!("postmaster@{domain}"))
            .map_err(|_| unprocessable(format!("{:?} is not a domain name or *", body.domain)))?;
    }
    let host = body.host.trim();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(unprocessable("a route needs a host name or address"));
    }
    if body.port == 0 {
        return Err(unprocessable("the port must be 1 to 65535"));
    }
    let route = LocalMailRoute {
        domain,
        host: host.to_string(),
        port: body.port,
    };
    s.node.local_store().put_mail_route(route.clone())?;
    Ok(Json(
        json!({ "domain": route.domain, "host": route.host, "port": route.port, "source": "api" }),
    ))
}

async fn remove(admin: Admin, State(s): State<AppState>, Path(domain): Path<String>) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    if !s.node.local_store().remove_mail_route(&domain)? {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!(
                "no mail route added for {domain} (routes from the configuration file change only there)"
            ),
        ));
    }
    Ok(Json(json!({ "removed": true })))
}
