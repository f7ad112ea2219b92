//! `/api/v1/mail/settings`, `/api/v1/mail/proxies` and `/api/v1/mail/archive-servers`: this
//! node's mail settings, SMTP proxies and archive servers (guide §5, Mail > Mail Proxies; §3,
//! Mail > Archive Servers). They are node-local: the answer is about the member the request
//! reached. A value set here lives in the node's local store and wins over the configuration
//! file's `[mail]` value for that key; the mail service applies a change at once, without a
//! restart. Each answer says where a value came from (`config` or `api`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use signet_model::Permission;
use signet_model::mail_settings::{
    ArchiveServer, FieldError, MailOverrides, MailSettingsChange, NodeMail, Proxy,
};
use signet_policy::model::Action;
use signet_store::local::ConfiguredMail;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/mail/settings",
            get(show_settings).put(set_settings),
        )
        .route("/api/v1/mail/proxies", get(list_proxies).post(add_proxy))
        .route(
            "/api/v1/mail/proxies/{id}",
            get(show_proxy).put(edit_proxy).delete(remove_proxy),
        )
        .route(
            "/api/v1/mail/archive-servers",
            get(list_archive).post(add_archive),
        )
        .route(
            "/api/v1/mail/archive-servers/{name}",
            axum::routing::delete(remove_archive),
        )
}

/// 422 naming the field, with the field as an extension member too.
fn field_problem(e: FieldError) -> Problem {
    let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    p.extra =
        Some(json!({ "field": e.field, "errors": [{ "field": e.field, "message": e.message }] }));
    p
}

/// Reads a body as `T`, naming the offending field when serde can tell which one it was.
fn parse<T: DeserializeOwned>(body: Value) -> Result<T, Problem> {
    serde_json::from_value(body.clone()).map_err(|e| {
        let text = e.to_string();
        let quoted = |marker: &str| {
            text.split_once(marker)
                .and_then(|(_, rest)| rest.split('`').next())
                .map(str::to_string)
        };
        let field = quoted("unknown field `")
            .or_else(|| quoted("missing field `"))
            .or_else(|| {
                // An unknown variant names the value; find the key that holds it.
                let value = quoted("unknown variant `")?;
                find_key(&body, &value)
            })
            .unwrap_or_else(|| "body".into());
        field_problem(FieldError::new(field, text))
    })
}

fn find_key(v: &Value, wanted: &str) -> Option<String> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, v)| match v {
            Value::String(s) if s == wanted => Some(k.clone()),
            other => find_key(other, wanted).map(|inner| format!("{k}.{inner}")),
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_key(v, wanted).map(|inner| format!("[{i}].{inner}"))),
        _ => None,
    }
}

/// The settings with their sources.
fn settings_view(effective: &NodeMail, overrides: &MailOverrides) -> Value {
    let mut v = serde_json::to_value(&effective.settings).unwrap_or_else(|_| json!({}));
    let set = overrides.settings.keys();
    let sources: serde_json::Map<String, Value> = [
        "hostname",
        "placement",
        "bounce_unmanaged_senders",
        "inbound_mail_server",
        "outbound_delivery",
    ]
    .iter()
    .map(|k| {
        let source = if set.contains(k) { "api" } else { "config" };
        (k.to_string(), json!(source))
    })
    .collect();
    if let Value::Object(map) = &mut v {
        map.insert("sources".into(), Value::Object(sources));
        map.insert(
            "proxies_source".into(),
            json!(source_of(overrides.proxies.is_some())),
        );
        map.insert(
            "archive_servers_source".into(),
            json!(source_of(overrides.archive_servers.is_some())),
        );
    }
    v
}

fn source_of(from_api: bool) -> &'static str {
    if from_api { "api" } else { "config" }
}

fn proxy_view(s: &AppState, p: &Proxy, from_api: bool) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_else(|_| json!({}));
    let state = s
        .node
        .local_store()
        .proxy_states()
        .get(&p.id)
        .cloned()
        .unwrap_or_else(|| "stopped".into());
    if let Value::Object(map) = &mut v {
        // Defaults filled in, so a reader sees the port in use.
        if let Some(Value::Array(cs)) = map.get_mut("connectors") {
            for (c, conn) in cs.iter_mut().zip(&p.connectors) {
                if let Value::Object(c) = c {
                    c.insert("port".into(), json!(conn.port()));
                    c.insert("listen".into(), json!(conn.listen()));
                }
            }
        }
        map.insert("source".into(), json!(source_of(from_api)));
        map.insert("state".into(), json!(state));
    }
    v
}

fn archive_view(a: &ArchiveServer, from_api: bool) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("port".into(), json!(a.port()));
        map.insert("source".into(), json!(source_of(from_api)));
    }
    v
}

/// Runs `edit` on the effective values under the store's edit lock; stores the parts it
/// changed as overrides when the whole still checks.
fn edit<R>(
    s: &AppState,
    edit: impl FnOnce(&mut NodeMail, &mut MailOverrides) -> Result<R, Problem>,
) -> Result<R, Problem> {
    s.node
        .local_store()
        .edit_mail_overrides(|overrides, configured: &ConfiguredMail| {
            let mut effective = overrides.apply(&configured.mail);
            let before = effective.clone();
            let answer = edit(&mut effective, overrides)?;
            effective.check().map_err(field_problem)?;
            if effective.proxies != before.proxies {
                overrides.proxies = Some(effective.proxies.clone());
            }
            if effective.archive_servers != before.archive_servers {
                overrides.archive_servers = Some(effective.archive_servers.clone());
            }
            Ok(answer)
        })
}

async fn show_settings(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let local = s.node.local_store();
    Ok(Json(settings_view(
        &local.effective_mail()?,
        &local.mail_overrides()?,
    )))
}

async fn set_settings(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let change: MailSettingsChange = parse(body)?;
    let placement_changed = change.placement.is_some();
    edit(&s, |effective, overrides| {
        overrides.settings = overrides.settings.merged(&change);
        let configured_settings = effective.settings.clone();
        effective.settings = MailOverrides {
            settings: overrides.settings.clone(),
            ..MailOverrides::default()
        }
        .apply(&NodeMail {
            settings: configured_settings,
            ..NodeMail::default()
        })
        .settings;
        if let Err(e) = effective.check() {
            // Existing proxies that the new placement does not allow: the placement is wrong.
            if placement_changed && e.field.starts_with("proxies[") && e.field.ends_with(".kind") {
                return Err(field_problem(FieldError::new(
                    "placement",
                    format!("{}: remove or change that proxy first", e),
                )));
            }
            return Err(field_problem(e));
        }
        Ok(())
    })?;
    let local = s.node.local_store();
    Ok(Json(settings_view(
        &local.effective_mail()?,
        &local.mail_overrides()?,
    )))
}

async fn list_proxies(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let local = s.node.local_store();
    let from_api = local.mail_overrides()?.proxies.is_some();
    let effective = local.effective_mail()?;
    Ok(Json(Value::Array(
        effective
            .proxies
            .iter()
            .map(|p| proxy_view(&s, p, from_api))
            .collect(),
    )))
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("no mail proxy {id} on this node"),
    )
}

async fn show_proxy(admin: Admin, State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let local = s.node.local_store();
    let from_api = local.mail_overrides()?.proxies.is_some();
    let effective = local.effective_mail()?;
    let p = effective
        .proxies
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(proxy_view(&s, p, from_api)))
}

fn proxy_body(body: Value) -> Result<Proxy, Problem> {
    if body.get("id").is_some() {
        return Err(field_problem(FieldError::new(
            "id",
            "the node gives proxies their ids",
        )));
    }
    parse(body)
}

async fn add_proxy(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let mut proxy = proxy_body(body)?;
    let placement = s.node.local_store().effective_mail()?.settings.placement;
    proxy.check(placement).map_err(field_problem)?;
    let added = edit(&s, |effective, _| {
        proxy.id = effective.next_proxy_id();
        effective.proxies.push(proxy.clone());
        Ok(proxy)
    })?;
    Ok(Json(proxy_view(&s, &added, true)))
}

async fn edit_proxy(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let mut proxy = proxy_body(body)?;
    let placement = s.node.local_store().effective_mail()?.settings.placement;
    proxy.check(placement).map_err(field_problem)?;
    let changed = edit(&s, |effective, _| {
        let slot = effective
            .proxies
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| not_found(&id))?;
        proxy.id = id.clone();
        *slot = proxy;
        Ok(slot.clone())
    })?;
    Ok(Json(proxy_view(&s, &changed, true)))
}

async fn remove_proxy(
    admin: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    edit(&s, |effective, _| {
        let before = effective.proxies.len();
        effective.proxies.retain(|p| p.id != id);
        if effective.proxies.len() == before {
            return Err(not_found(&id));
        }
        Ok(())
    })?;
    Ok(Json(json!({ "removed": id })))
}

async fn list_archive(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let local = s.node.local_store();
    let from_api = local.mail_overrides()?.archive_servers.is_some();
    Ok(Json(Value::Array(
        local
            .effective_mail()?
            .archive_servers
            .iter()
            .map(|a| archive_view(a, from_api))
            .collect(),
    )))
}

async fn add_archive(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let mut server: ArchiveServer = parse(body)?;
    server.name = server.name.trim().to_string();
    server.host = server.host.trim().to_string();
    server.check().map_err(field_problem)?;
    let added = edit(&s, |effective, _| {
        let same = |a: &ArchiveServer| a.name.eq_ignore_ascii_case(&server.name);
        if effective.archive_servers.iter().any(same) {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("an archive server named {:?} exists", server.name),
            ));
        }
        effective.archive_servers.push(server.clone());
        Ok(server)
    })?;
    Ok(Json(archive_view(&added, true)))
}

/// The rules (as `chain / rule`) whose "Send copy to alternate archive server" names `name`.
async fn rules_naming(s: &AppState, name: &str) -> Result<Vec<String>, Problem> {
    let policy = s.node.read().await?.policy()?;
    let mut out = Vec::new();
    for chain in &policy.chains {
        for rule in &chain.rules {
            let names = rule.actions.iter().any(|a| {
                matches!(a, Action::SendArchiveCopy(o) if o.archive_server.trim().eq_ignore_ascii_case(name.trim()))
            });
            if names {
                out.push(format!("{} / {}", chain.name, rule.name));
            }
        }
    }
    Ok(out)
}

async fn remove_archive(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let rules = rules_naming(&s, &name).await?;
    if !rules.is_empty() {
        let mut p = Problem::new(
            StatusCode::CONFLICT,
            format!(
                "archive server {name:?} is named by the rule(s) {}; remove it from them first",
                rules.join(", ")
            ),
        );
        p.extra = Some(json!({ "rules": rules }));
        return Err(p);
    }
    edit(&s, |effective, _| {
        let before = effective.archive_servers.len();
        effective
            .archive_servers
            .retain(|a| !a.name.eq_ignore_ascii_case(name.trim()));
        if effective.archive_servers.len() == before {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                format!("no archive server {name:?} on this node"),
            ));
        }
        Ok(())
    })?;
    Ok(Json(json!({ "removed": name })))
}
