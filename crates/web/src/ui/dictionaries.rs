//! Mail > Dictionaries: the list (pre-installed ones marked), a dictionary's entries with
//! remove, adding or importing entries (literal or pattern, append or replace), adding a
//! dictionary and deleting one after a confirmation.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;

use super::forms::{
    FlashQuery, confirm_page, csrf_refused, done, enc, failed, may, text, unavailable,
};
use super::page;
use super::widgets::{Action, CsrfForm, read};
use super::{UiAdmin, api_call, csrf_field, csrf_ok};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mail/dictionaries", get(dictionaries).post(add_dictionary))
        .route("/mail/dictionaries/{name}", get(dictionary))
        .route("/mail/dictionaries/{name}/entries", post(add_entries))
        .route("/mail/dictionaries/{name}/remove-entry", post(remove_entry))
        .route(
            "/mail/dictionaries/{name}/delete",
            get(confirm_delete_dictionary).post(delete_dictionary),
        )
}

#[derive(Debug, Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
}

fn list_of(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

async fn dictionaries(
    who: UiAdmin,
    State(s): State<AppState>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let answer = read(&s, &who, "/api/v1/dictionaries").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "Lists of addresses, domains or patterns that policy conditions test with \"is in dictionary\". Pre-installed dictionaries cannot be deleted." }
        @match &answer {
            Err(p) => (unavailable("The dictionaries", p)),
            Ok(v) => {
                table.dictionaries {
                    thead { tr { th { "Dictionary" } th { "Description" } th { "" } } }
                    tbody {
                        @for d in list_of(v) {
                            tr {
                                td { a href=(format!("/mail/dictionaries/{}", enc(text(&d, "name")))) { (text(&d, "name")) } }
                                td { (text(&d, "description")) }
                                td { @if d["factory"] == true { span.badge { "pre-installed" } } }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a dictionary" }
            form method="post" action="/mail/dictionaries" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="dname" { "Name" }
                    input #dname type="text" name="name" required;
                    label for="ddesc" { "Description" }
                    input #ddesc type="text" name="description";
                    p { button type="submit" { "Add dictionary" } }
                }
            }
        }
    };
    page("Dictionaries", "/mail/dictionaries", &who, q.flash(), body)
}

async fn add_dictionary(
    who: UiAdmin,
    State(s): State<AppState>,
    Form(f): Form<NameForm>,
) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    let name = f.name.trim().to_string();
    let body = json!({ "name": name, "description": f.description.trim() });
    match api_call(
        &s,
        &who.session,
        Method::POST,
        "/api/v1/dictionaries",
        Some(&body),
    )
    .await
    {
        Ok(_) => done(
            &format!("/mail/dictionaries/{}", enc(&name)),
            &format!("Dictionary {name} added."),
        ),
        Err(p) => failed(
            "/mail/dictionaries",
            &format!("The dictionary was not added: {}", p.detail),
        ),
    }
}

/// Entries shown on a dictionary's page; the rest are counted.
const SHOWN_ENTRIES: usize = 1000;

async fn dictionary(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let base = format!("/mail/dictionaries/{}", enc(&name));
    let info = read(&s, &who, &format!("/api/v1/dictionaries/{}", enc(&name))).await;
    let entries = read(
        &s,
        &who,
        &format!("/api/v1/dictionaries/{}/entries", enc(&name)),
    )
    .await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p { a href="/mail/dictionaries" { "‹ All dictionaries" } }
        @if let Ok(d) = &info { p.muted { (text(d, "description")) } }
        @match &entries {
            Err(p) => (unavailable("This dictionary", p)),
            Ok(v) => {
                @let list = list_of(v);
                p.count { (list.len()) " entr" @if list.len() == 1 { "y" } @else { "ies" } "." }
                @if !list.is_empty() {
                    table.entries {
                        thead { tr { th { "Entry" } th { "Kind" } th { "" } } }
                        tbody {
                            @for e in list.iter().take(SHOWN_ENTRIES) {
                                tr {
                                    td { code { (text(e, "term")) } }
                                    td { (text(e, "kind")) }
                                    td {
                                        form.inline method="post" action=(format!("{base}/remove-entry")) {
                                            (csrf_field(&who.session))
                                            input type="hidden" name="term" value=(text(e, "term"));
                                            button.small.danger type="submit" disabled[!can] { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if list.len() > SHOWN_ENTRIES { p.muted { "The first " (SHOWN_ENTRIES) " are shown; export the dictionary with " code { "signet dictionary export" } " for all of them." } }
                }
            }
        }
        section {
            h2 { "Add or import entries" }
            form method="post" action=(format!("{base}/entries")) {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="terms" { "Entries, one a line (addresses, domains, or regular expressions)" }
                    textarea #terms name="terms" rows="6" required {}
                    label for="kind" { "Kind" }
                    select #kind name="kind" {
                        option value="literal" selected { "Literal text (case-insensitive)" }
                        option value="pattern" { "Pattern (regular expression)" }
                    }
                    label.check { input type="checkbox" name="replace" value="yes"; " Replace every existing entry (import)" }
                    p { button type="submit" { "Add entries" } }
                }
            }
        }
        @if info.as_ref().is_ok_and(|d| d["factory"] != true) {
            p { @if can { a.button.danger href=(format!("{base}/delete")) { "Delete dictionary…" } } }
        }
    };
    page(
        &format!("Dictionary {name}"),
        "/mail/dictionaries",
        &who,
        q.flash(),
        body,
    )
}

#[derive(Debug, Deserialize)]
struct EntriesForm {
    #[serde(default)]
    csrf: String,
    terms: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    replace: String,
}

async fn add_entries(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<EntriesForm>,
) -> Response {
    let back = format!("/mail/dictionaries/{}", enc(&name));
    let terms: Vec<&str> = f
        .terms
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let kind = if f.kind == "pattern" {
        "pattern"
    } else {
        "literal"
    };
    let mode = if f.replace == "yes" {
        "replace"
    } else {
        "append"
    };
    let body = json!({ "entries": terms, "kind": kind, "mode": mode });
    let path = format!("/api/v1/dictionaries/{}/entries", enc(&name));
    Action::new(Method::POST, path, &back)
        .body(body)
        .refusal("No entry was added: ")
        .run(
            &s,
            &who,
            &f.csrf,
            &format!(
                "{} entr{} saved.",
                terms.len(),
                if terms.len() == 1 { "y" } else { "ies" }
            ),
        )
        .await
}

#[derive(Debug, Deserialize)]
struct TermForm {
    #[serde(default)]
    csrf: String,
    term: String,
}

async fn remove_entry(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<TermForm>,
) -> Response {
    let back = format!("/mail/dictionaries/{}", enc(&name));
    let body = json!({ "entries": [f.term] });
    let path = format!("/api/v1/dictionaries/{}/entries", enc(&name));
    Action::new(Method::DELETE, path, &back)
        .body(body)
        .refusal("Nothing was removed: ")
        .run(&s, &who, &f.csrf, &format!("{} removed.", f.term))
        .await
}

async fn confirm_delete_dictionary(who: UiAdmin, Path(name): Path<String>) -> Markup {
    confirm_page(
        &who,
        "Delete dictionary",
        "/mail/dictionaries",
        &format!(
            "Delete the dictionary {name} and its entries? Rules that use it will no longer pass the policy check."
        ),
        &format!("/mail/dictionaries/{}/delete", enc(&name)),
        &format!("/mail/dictionaries/{}", enc(&name)),
    )
}

async fn delete_dictionary(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    if !f.confirmed() {
        return failed("/mail/dictionaries", "Nothing was deleted: not confirmed.");
    }
    let path = format!("/api/v1/dictionaries/{}?confirm=true", enc(&name));
    match api_call(&s, &who.session, Method::DELETE, &path, None).await {
        Ok(_) => done("/mail/dictionaries", &format!("Dictionary {name} deleted.")),
        Err(p) => failed(
            &format!("/mail/dictionaries/{}", enc(&name)),
            &format!("Nothing was deleted: {}", p.detail),
        ),
    }
}
