//! `/api/v1` routes for administrators (spec ADM-1..ADM-8): the list, add, role and email,
//! delete, passphrase change and reset, unlock; the administration settings; the audit log;
//! console sessions (login, logout); the OpenAPI document.
//!
//! Roles are checked by the middleware from the route table before these run; the handlers
//! check again (defence in depth) and enforce what depends on who is asking: nobody deletes
//! themselves or changes their own role, and the last SuperUser with a passphrase stays (the
//! store refuses that one, so two members cannot race past it).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{AdminRole, AdministrationSettings, Administrator, Permission};
use signet_store::{Command, now_millis};

use crate::api::{Admin, ApiResult};
use crate::login::{valid_email, valid_login};
use crate::problem::ApiJson;
use crate::session::{self, CSRF_HEADER, Session};
use crate::{AppState, Problem, audit, passphrase};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/session",
            post(create_session).get(show_session).delete(end_session),
        )
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/administrators", get(list).post(add))
        .route(
            "/api/v1/administrators/{login}",
            get(show).put(update).delete(remove),
        )
        .route(
            "/api/v1/administrators/{login}/passphrase",
            put(set_passphrase),
        )
        .route("/api/v1/administrators/{login}/unlock", post(unlock))
        .route(
            "/api/v1/administrators/{login}/tokens",
            post(issue_api_token),
        )
        .route(
            "/api/v1/settings/administration",
            get(show_settings).put(set_settings),
        )
        .route("/api/v1/audit", get(list_audit))
}

/// An administrator as the API shows it: never a hash or a token digest.
fn view(a: &Administrator, settings: &AdministrationSettings) -> Value {
    let now = now_millis();
    let p = a.passphrase.as_ref();
    json!({
        "login": a.login,
        "role": a.role,
        "email": a.email,
        "created_at": a.created_at,
        "has_passphrase": p.is_some(),
        "passphrase_set_at": p.map(|p| p.set_at),
        "temporary_passphrase": p.is_some_and(|p| p.temporary),
        "passphrase_expired": p.is_some_and(|p| settings.expired(p.set_at, now)),
        "failed_logins": a.failed_logins.count,
        "locked": a.locked_at(now),
        "locked_until": a.failed_logins.locked_until.filter(|t| *t > now),
        "api_tokens": a.api_tokens.len(),
    })
}

fn not_found(login: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("administrator {login} not found"),
    )
}

async fn load(s: &AppState, login: &str) -> Result<Administrator, Problem> {
    s.node
        .read()
        .await?
        .administrator(login)?
        .ok_or_else(|| not_found(login))
}

async fn settings_of(s: &AppState) -> Result<AdministrationSettings, Problem> {
    Ok(s.node.read().await?.administration_settings()?)
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let settings = settings_of(&s).await?;
    let admins = s.node.read().await?.administrators()?;
    Ok(Json(Value::Array(
        admins.iter().map(|a| view(a, &settings)).collect(),
    )))
}

async fn show(admin: Admin, State(s): State<AppState>, Path(login): Path<String>) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let settings = settings_of(&s).await?;
    Ok(Json(view(&load(&s, &login).await?, &settings)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    login: String,
    role: AdminRole,
    email: Option<String>,
    passphrase: Option<String>,
    /// A passphrase set by a SuperUser is temporary unless this says otherwise (ADM-8).
    temporary: Option<bool>,
}

async fn add(admin: Admin, State(s): State<AppState>, ApiJson(req): ApiJson<AddBody>) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let login = valid_login(&req.login)?;
    let email = valid_email(req.email.as_deref())?;
    let settings = settings_of(&s).await?;
    let now = now_millis();
    let passphrase = match req.passphrase.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(
            passphrase::new_record(&settings, None, p, req.temporary.unwrap_or(true), now).await?,
        ),
        None => None,
    };
    let new = Administrator {
        login,
        role: req.role,
        email,
        api_tokens: Vec::new(),
        created_at: now,
        passphrase,
        failed_logins: Default::default(),
    };
    s.node
        .execute(Command::AddAdministrator { admin: new.clone() })
        .await?;
    Ok(Json(view(&new, &settings)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    role: Option<AdminRole>,
    /// An empty string removes the address.
    email: Option<String>,
}

async fn update(
    admin: Admin,
    State(s): State<AppState>,
    Path(login): Path<String>,
    ApiJson(req): ApiJson<UpdateBody>,
) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let current = load(&s, &login).await?;
    let role = req.role.unwrap_or(current.role);
    if login == admin.0.login && role != current.role {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you cannot change your own role; another SuperUser must",
        ));
    }
    let email = match req.email {
        Some(e) => valid_email(Some(&e))?,
        None => current.email.clone(),
    };
    s.node
        .execute(Command::UpdateAdministrator {
            login: login.clone(),
            role,
            email,
        })
        .await?;
    let settings = settings_of(&s).await?;
    Ok(Json(view(&load(&s, &login).await?, &settings)))
}

async fn remove(admin: Admin, State(s): State<AppState>, Path(login): Path<String>) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    if login == admin.0.login {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "you cannot delete yourself; another SuperUser must",
        ));
    }
    s.node
        .execute(Command::RemoveAdministrator {
            login: login.clone(),
        })
        .await?;
    s.sessions.end_all_for(&login);
    Ok(Json(json!({ "removed": login })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PassphraseBody {
    /// The current passphrase (changing one's own).
    current: Option<String>,
    new: String,
}

async fn set_passphrase(
    admin: Admin,
    State(s): State<AppState>,
    Path(login): Path<String>,
    ApiJson(req): ApiJson<PassphraseBody>,
) -> ApiResult {
    let own = login == admin.0.login;
    if !own {
        admin.require(Permission::ManageAdministrators)?;
    }
    let target = load(&s, &login).await?;
    let settings = settings_of(&s).await?;
    let now = now_millis();
    let current = target.passphrase.as_ref();
    if own && let Some(record) = current {
        let given = req.current.as_deref().unwrap_or("");
        if !passphrase::verify(Some(&record.hash), given).await? {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "the current passphrase is wrong",
            ));
        }
        let forced = record.temporary || settings.expired(record.set_at, now);
        if !forced {
            settings
                .check_min_age(record.set_at, now)
                .map_err(passphrase::refused)?;
        }
    }
    let record = passphrase::new_record(&settings, current, &req.new, !own, now).await?;
    s.node
        .execute(Command::SetAdministratorPassphrase {
            login: login.clone(),
            passphrase: Some(record),
        })
        .await?;
    if own {
        s.sessions.passphrase_changed(&login);
    } else {
        // A reset ends the other administrator's sessions: the new passphrase is needed.
        s.sessions.end_all_for(&login);
    }
    Ok(Json(json!({
        "login": login,
        "temporary": !own,
        "changed_at": now,
    })))
}

async fn unlock(admin: Admin, State(s): State<AppState>, Path(login): Path<String>) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    s.node
        .execute(Command::ClearFailedLogins {
            login: login.clone(),
        })
        .await?;
    Ok(Json(json!({ "unlocked": login })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    label: Option<String>,
}

/// A new API token for an administrator (scripts, the CLI on another machine). The token is
/// shown once; only its SHA-256 digest is stored.
async fn issue_api_token(
    admin: Admin,
    State(s): State<AppState>,
    Path(login): Path<String>,
    ApiJson(req): ApiJson<TokenBody>,
) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let label = req
        .label
        .map(|l| l.trim().chars().take(64).collect::<String>())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| format!("issued by {}", admin.0.login));
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
    let token = hex::encode(secret);
    use sha2::Digest;
    s.node
        .execute(Command::AddApiToken {
            login: login.clone(),
            token: signet_model::ApiToken {
                label: label.clone(),
                sha256_hex: hex::encode(sha2::Sha256::digest(token.as_bytes())),
                created_at: now_millis(),
            },
        })
        .await?;
    Ok(Json(
        json!({ "login": login, "label": label, "token": token }),
    ))
}

fn settings_view(settings: &AdministrationSettings) -> ApiResult {
    let mut v = crate::api::to_json(settings)?;
    if let Some(o) = v.0.as_object_mut() {
        o.insert(
            "max_length".into(),
            json!(signet_model::admin_settings::MAX_PASSPHRASE_LENGTH),
        );
    }
    Ok(v)
}

async fn show_settings(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    settings_view(&settings_of(&s).await?)
}

/// Takes the fields given and keeps the others.
async fn set_settings(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<Value>,
) -> ApiResult {
    admin.require(Permission::ManageAdministrators)?;
    let Value::Object(changes) = req else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "send a JSON object with the settings to change",
        ));
    };
    let mut merged = crate::api::to_json(&settings_of(&s).await?)?.0;
    if let Some(o) = merged.as_object_mut() {
        for (k, v) in changes {
            if k != "max_length" {
                o.insert(k, v);
            }
        }
    }
    let settings: AdministrationSettings = serde_json::from_value(merged)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    settings
        .validate()
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    s.node
        .execute(Command::SetAdministrationSettings {
            settings: settings.clone(),
        })
        .await?;
    crate::auth::apply_idle_timeout(&s);
    settings_view(&settings)
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
    q: Option<String>,
}

async fn list_audit(
    admin: Admin,
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let entries = audit::read(s.node.data_dir().root(), limit, q.q.as_deref());
    crate::api::to_json(&entries)
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
    passphrase: String,
    captcha_id: Option<String>,
    captcha_answer: Option<String>,
}

/// What the session routes answer: who, the CSRF token, and the passphrase state.
fn session_view(s: &AppState, session: &Session) -> Result<Value, Problem> {
    let view = s.node.local();
    let admin = view
        .administrator(&session.login)?
        .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "the administrator is gone"))?;
    let settings = view.administration_settings()?;
    let days = admin
        .passphrase
        .as_ref()
        .and_then(|p| settings.warning_days_left(p.set_at, now_millis()));
    Ok(json!({
        "login": admin.login,
        "role": admin.role,
        "csrf": session.csrf,
        "must_change_passphrase": session.must_change_passphrase,
        "passphrase_expires_in_days": days,
    }))
}

fn audit_session(s: &AppState, login: &str, method: &str, status: u16, summary: &str) {
    let login: String = login.chars().take(64).collect();
    audit::record(
        s.node.data_dir().root(),
        &audit::AuditEntry {
            at: now_millis(),
            login,
            method: method.into(),
            path: "/api/v1/session".into(),
            status,
            summary: summary.into(),
        },
    );
}

async fn create_session(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LoginBody>,
) -> Result<Response, Problem> {
    let captcha = req.captcha_id.as_deref().zip(req.captcha_answer.as_deref());
    match session::login(&s, &req.login, &req.passphrase, captcha).await {
        Ok(new) => {
            let body = session_view(&s, &new)?;
            Ok((
                [(header::SET_COOKIE, session::cookie_header(&new))],
                Json(body),
            )
                .into_response())
        }
        Err(refused) => {
            let mut problem = Problem::new(StatusCode::UNAUTHORIZED, refused.message);
            if let Some(c) = refused.captcha {
                problem.extra = Some(json!({ "captcha_id": c.id, "captcha_svg": c.svg }));
            }
            Err(problem)
        }
    }
}

fn current_session(s: &AppState, headers: &HeaderMap) -> Result<Session, Problem> {
    crate::auth::apply_idle_timeout(s);
    s.sessions.from_headers(headers).ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "no session: log in with POST /api/v1/session",
        )
    })
}

async fn show_session(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    let session = current_session(&s, &headers)?;
    Ok(Json(session_view(&s, &session)?))
}

async fn end_session(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let session = current_session(&s, &headers)?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent != session.csrf {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "CSRF token missing or wrong (send the session's csrf value in x-csrf-token)",
        ));
    }
    s.sessions.end(&session.token);
    audit_session(&s, &session.login, "DELETE", 200, "logout");
    Ok((
        [(header::SET_COOKIE, session::clear_cookie_header())],
        Json(json!({ "logged_out": session.login })),
    )
        .into_response())
}
