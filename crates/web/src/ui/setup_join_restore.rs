//! The setup assistant's other two paths: Join a cluster (the joiner waits for a join token
//! from a member of the cluster) and Restore from a backup. Both run behind the same setup
//! code as the New server steps ([`super::setup`]).

use std::collections::HashMap;

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::bare_page;
use super::setup::guard;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup/join", get(join_page).post(join))
        .route(
            crate::join_contact::CONTACT_PATH,
            axum::routing::post(contacted),
        )
        .route("/setup/restore", get(restore_page).post(restore))
}

async fn join_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    join_form(None).into_response()
}

fn join_form(error: Option<&str>) -> Markup {
    bare_page(
        "Join a cluster",
        html! {
            p.waiting role="status" { "Waiting to be contacted by a member of the cluster." }
            p { "On a member of the cluster, open System → Clustering, give this server's admin address and the setup code you entered here (it is on this server's console), and choose " em { "Contact" } ". When the member says this server is joining, it restarts here: then log in with an administrator of the cluster." }
            p { "Or issue a join token there (" em { "Issue a join token" } ", or " code { "signet cluster token" } ") and paste it below. A token names the sponsor and pins its certificate, so this server only talks to that cluster." }
            p.hint { "This server's own data is erased when it joins: it takes the cluster's data, administrators included. It then restarts; log in with an administrator of the cluster." }
            form method="post" action="/setup/join" {
                div.field {
                    label for="token" { "Join token" }
                    textarea #token name="token" rows="4" aria-invalid=[error.map(|_| "true")] {}
                    @if let Some(e) = error { p.field-error role="alert" { (e) } }
                }
                div.buttons { a.button href="/setup/choose" { "Back" } button.primary type="submit" { "Join" } }
            }
        },
    )
}

async fn join(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    let token = form
        .get("token")
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if token.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            join_form(Some("Paste the join token.")),
        )
            .into_response();
    }
    match s.node.join(&token).await {
        Ok(started) => {
            if let Err(e) = signet_store::replace_cli_token(s.node.data_dir(), &started.cli_token) {
                tracing::warn!(error = %e, "cannot update cli.json after the join");
            }
            s.setup.finish();
            bare_page("Joining the cluster", html! {
                p role="status" { "This server is joining the cluster and restarts now. In a few seconds, " a href="/login" { "log in" } " with an administrator of the cluster." }
            }).into_response()
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            join_form(Some(&e.to_string())),
        )
            .into_response(),
    }
}

/// A sponsor's contact (`POST /setup/join/contact`, [`crate::join_contact`]): a join token
/// sealed under this server's setup code. Answers 202 and joins; 403 for a wrong code (counted
/// like a wrong code typed into the assistant); 409 when this server is set up or already a
/// member of a cluster.
async fn contacted(State(s): State<AppState>, body: axum::body::Bytes) -> Response {
    let problem = |status: StatusCode, detail: &str| {
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            serde_json::json!({ "status": status.as_u16(), "detail": detail }).to_string(),
        )
            .into_response()
    };
    let pending = crate::login::setup_pending(&s).await.unwrap_or(false);
    let Some(code) = s.setup.current_code().filter(|_| pending) else {
        return problem(StatusCode::CONFLICT, "this server is already set up");
    };
    // A member of a cluster is never pulled into another one by contact (the CLI's
    // `cluster join` remains for that deliberate move).
    if !s.node.status().standalone {
        return problem(
            StatusCode::CONFLICT,
            "this server is already a member of a cluster",
        );
    }
    let Ok(sealed) = serde_json::from_slice::<crate::join_contact::SealedToken>(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body is not a sealed join token",
        );
    };
    // Argon2id takes tens of milliseconds: off the async threads.
    let opened =
        tokio::task::spawn_blocking(move || crate::join_contact::open(&sealed, &code)).await;
    let token = match opened {
        Ok(Ok(token)) => token,
        Ok(Err(crate::join_contact::ContactError::WrongCode)) => {
            s.setup.count_wrong_code();
            return problem(StatusCode::FORBIDDEN, "wrong setup code");
        }
        Ok(Err(e)) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "cannot open the token"),
    };
    match s.node.join(&token).await {
        Ok(started) => {
            if let Err(e) = signet_store::replace_cli_token(s.node.data_dir(), &started.cli_token) {
                tracing::warn!(error = %e, "cannot update cli.json after the join");
            }
            s.setup.finish();
            tracing::info!(cluster = %started.cluster_id, "contacted by a member of the cluster: joining");
            (
                StatusCode::ACCEPTED,
                axum::Json(
                    serde_json::json!({ "state": "joining", "cluster_id": started.cluster_id }),
                ),
            )
                .into_response()
        }
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

fn restore_form(error: Option<&str>) -> Markup {
    bare_page(
        "Restore from a backup",
        html! {
            p { "Choose a backup file made by Signet and give the Organization Key it was encrypted to (with its private key). The backup's administrators, keys, users and policies replace this server's." }
            form method="post" action="/setup/restore" {
                div.field {
                    label for="backup_file" { "Backup file" }
                    input #backup_file type="file";
                    label for="backup" { "or the file as base64 (" code { "base64 -w0 FILE" } ")" }
                    textarea #backup name="backup" rows="3" {}
                }
                div.field {
                    label for="organization_key" { "Organization Key (armored, with its private key)" }
                    textarea #organization_key name="organization_key" rows="6" {}
                }
                div.field {
                    label for="passphrase" { "The key's passphrase (if any)" }
                    input #passphrase type="password" name="passphrase";
                }
                @if let Some(e) = error { p.field-error role="alert" { (e) } }
                div.buttons { a.button href="/setup/choose" { "Back" } button.primary type="submit" { "Restore" } }
            }
            // Optional: read the chosen file into the base64 field (no upload encoding needed).
            script { (maud::PreEscaped(r#"document.getElementById('backup_file').addEventListener('change',e=>{const f=e.target.files[0];if(!f)return;const r=new FileReader();r.onload=()=>{document.getElementById('backup').value=r.result.split(',')[1]};r.readAsDataURL(f)});"#)) }
        },
    )
}

async fn restore_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    restore_form(None).into_response()
}

async fn restore(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    use base64::Engine;
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let refuse =
        |m: String| (StatusCode::UNPROCESSABLE_ENTITY, restore_form(Some(&m))).into_response();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(field("backup")) else {
        return refuse("Choose the backup file (or paste it as base64).".into());
    };
    let key = field("organization_key").into_bytes();
    let passphrase = Some(field("passphrase")).filter(|p| !p.is_empty());
    let opened = tokio::task::spawn_blocking(move || {
        crate::backup::open(&bytes, &key, passphrase.as_deref())
    })
    .await;
    let doc = match opened {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => return refuse(format!("The backup cannot be opened: {e}")),
        Err(e) => return refuse(e.to_string()),
    };
    // The restore runs as the bootstrap administrator the node made at its first start.
    let admin = match s.node.local().administrators() {
        Ok(admins) if !admins.is_empty() => admins[0].clone(),
        _ => return refuse("This node has no administrator record to restore as.".into()),
    };
    match crate::backup::restore(&s.node, doc, &admin).await {
        Ok(n) => {
            s.setup.finish();
            tracing::info!(target: "signet::setup", entries = n, "restored from a backup in the setup assistant");
            bare_page("Restored", html! {
                p role="status" { "The backup is restored (" (n) " entries). " a href="/login" { "Log in" } " with an administrator from the backup." }
            }).into_response()
        }
        Err(e) => refuse(format!("The restore failed: {e}")),
    }
}
