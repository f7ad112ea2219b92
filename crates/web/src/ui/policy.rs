//! Mail policy lists: `/mail/policy` shows the chains (pre-installed ones marked, since they
//! cannot be deleted), adds a chain and restores the factory defaults; `/mail/policy/{chain}`
//! lists a chain's rules in evaluation order with enable/disable, move up/down and delete.
//! The rule editor itself is in `rule_editor.rs`.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{Method, Uri};
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
use super::widgets::{Action, CsrfForm, post_button, read};
use super::{UiAdmin, api_call, csrf_field, csrf_ok};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mail/policy", get(chains))
        .route("/mail/policy/add-chain", post(add_chain))
        .route(
            "/mail/policy/restore-factory-defaults",
            get(confirm_restore).post(restore),
        )
        .route("/mail/policy/{chain}", get(chain))
        .route(
            "/mail/policy/{chain}/delete",
            get(confirm_delete_chain).post(delete_chain),
        )
        .route(
            "/mail/policy/{chain}/rules/{rule}/enable",
            post(rule_button),
        )
        .route(
            "/mail/policy/{chain}/rules/{rule}/disable",
            post(rule_button),
        )
        .route("/mail/policy/{chain}/rules/{rule}/up", post(rule_button))
        .route("/mail/policy/{chain}/rules/{rule}/down", post(rule_button))
        .route(
            "/mail/policy/{chain}/rules/{rule}/delete",
            get(confirm_delete_rule).post(delete_rule),
        )
}

const CURRENT: &str = "/mail/policy";

/// The link to a chain's page.
pub fn chain_link(chain: &str) -> String {
    format!("/mail/policy/{}", enc(chain))
}

/// The link to a rule's editor.
pub fn rule_link(chain: &str, rule: &str) -> String {
    format!("/mail/policy/{}/rules/{}", enc(chain), enc(rule))
}

const APPLICABILITIES: &[(&str, &str)] = &[
    ("ServerAndClient", "Server and client"),
    ("Server", "Server only"),
    ("Client", "Client only"),
    ("Standalone", "Standalone desktop"),
    ("Mobile", "Mobile"),
];

async fn chains(who: UiAdmin, State(s): State<AppState>, Query(q): Query<FlashQuery>) -> Markup {
    let list = read(&s, &who, "/api/v1/policy/chains").await;
    let report = read(&s, &who, "/api/v1/policy/validate").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p.muted { "Every message starts in the Default chain; its rules run in order, and a rule's actions may send the message to another chain. Pre-installed chains cannot be deleted, but their rules can be edited." }
        @if let Ok(r) = &report {
            (findings_summary(r, None))
        }
        @match &list {
            Err(p) => (unavailable("The policy chains", p)),
            Ok(v) => {
                table.chains {
                    thead { tr { th { "Chain" } th { "Applies to" } th { "Rules" } th { "" } } }
                    tbody {
                        @for c in v.as_array().cloned().unwrap_or_default() {
                            @let name = text(&c, "name");
                            tr {
                                td { a href=(chain_link(name)) { (name) } }
                                td { (applicability_label(text(&c, "applicability"))) }
                                td { (c["rules"].as_u64().unwrap_or(0)) }
                                td {
                                    @if c["factory"] == true {
                                        span.badge title="Pre-installed: cannot be deleted" { "pre-installed" }
                                    } @else if can {
                                        a.button.danger href=(format!("{}/delete", chain_link(name))) { "Delete" }
                                    } @else {
                                        button.danger type="button" disabled { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Add a chain" }
            form method="post" action="/mail/policy/add-chain" {
                (csrf_field(&who.session))
                fieldset disabled[!can] {
                    label for="name" { "Name" }
                    input #name type="text" name="name" required;
                    label for="applicability" { "Applies to" }
                    select #applicability name="applicability" {
                        @for (token, label) in APPLICABILITIES {
                            option value=(token) selected[*token == "Server"] { (label) }
                        }
                    }
                    p { button type="submit" { "Add chain" } }
                }
            }
        }
        section {
            h2 { "Factory defaults" }
            p.muted { "Puts every pre-installed chain back as it ships; chains you added stay." }
            @if can { a.button.danger href="/mail/policy/restore-factory-defaults" { "Restore factory defaults…" } }
            @else { button.danger type="button" disabled { "Restore factory defaults…" } }
        }
    };
    page("Mail policy", CURRENT, &who, q.flash(), body)
}

fn applicability_label(token: &str) -> &str {
    APPLICABILITIES
        .iter()
        .find(|(t, _)| *t == token)
        .map_or(token, |(_, l)| l)
}

/// The validator's findings, all of them or those of one chain (and rule).
pub fn findings_summary(report: &Value, only: Option<(&str, Option<&str>)>) -> Markup {
    let matches = |f: &Value| match only {
        None => true,
        Some((chain, rule)) => {
            text(f, "chain").eq_ignore_ascii_case(chain)
                && rule.is_none_or(|r| text(f, "rule").eq_ignore_ascii_case(r))
        }
    };
    let pick = |kind: &str| -> Vec<Value> {
        report[kind]
            .as_array()
            .map(|a| a.iter().filter(|f| matches(f)).cloned().collect())
            .unwrap_or_default()
    };
    let errors = pick("errors");
    let warnings = pick("warnings");
    html! {
        @if !errors.is_empty() || !warnings.is_empty() {
            div.findings role="status" {
                strong { "Policy check: " (errors.len()) " error(s), " (warnings.len()) " warning(s)" }
                ul {
                    @for f in errors.iter().chain(warnings.iter()) {
                        li {
                            @if errors.contains(f) { span.badge.bad { "error" } } @else { span.badge.warn { "warning" } }
                            " "
                            @if only.is_none() || only.is_some_and(|(_, r)| r.is_none()) {
                                (text(f, "chain")) @if !text(f, "rule").is_empty() { " › " (text(f, "rule")) } ": "
                            }
                            (text(f, "message"))
                        }
                    }
                }
            }
        }
    }
}

async fn chain(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let rules = read(
        &s,
        &who,
        &format!("/api/v1/policy/chains/{}/rules", enc(&name)),
    )
    .await;
    let report = read(&s, &who, "/api/v1/policy/validate").await;
    let can = may(&who, Permission::ConfigureSystem);
    let body = html! {
        p { a href=(CURRENT) { "‹ All chains" } }
        @if let Ok(r) = &report { (findings_summary(r, Some((&name, None)))) }
        @match &rules {
            Err(p) => (unavailable("This chain", p)),
            Ok(v) => {
                @let rules = v.as_array().cloned().unwrap_or_default();
                @if rules.is_empty() { p.muted { "This chain has no rules yet." } }
                @else {
                    table.rules {
                        thead { tr { th { "#" } th { "Rule" } th { "State" } th { "Description" } th { "Order" } th { "" } } }
                        tbody {
                            @for (i, r) in rules.iter().enumerate() {
                                @let rule = text(r, "name");
                                @let base = format!("{}/rules/{}", chain_link(&name), enc(rule));
                                tr {
                                    td { (r["position"].as_u64().unwrap_or(i as u64 + 1)) }
                                    td { a href=(rule_link(&name, rule)) { (rule) } }
                                    td {
                                        @if r["enabled"] == true {
                                            span.badge.ok { "enabled" } " "
                                            (post_button(&who.session, &format!("{base}/disable"), "Disable", "small", !can))
                                        } @else {
                                            span.badge { "disabled" } " "
                                            (post_button(&who.session, &format!("{base}/enable"), "Enable", "small", !can))
                                        }
                                    }
                                    td { (text(r, "description")) }
                                    td {
                                        form.inline method="post" action=(format!("{base}/up")) { (csrf_field(&who.session)) button.small type="submit" title="Move up" disabled[!can || i == 0] { "↑" } }
                                        " "
                                        form.inline method="post" action=(format!("{base}/down")) { (csrf_field(&who.session)) button.small type="submit" title="Move down" disabled[!can || i + 1 == rules.len()] { "↓" } }
                                    }
                                    td {
                                        a.button.small href=(rule_link(&name, rule)) { "Edit" } " "
                                        @if can { a.button.small.danger href=(format!("{base}/delete")) { "Delete" } }
                                        @else { button.small.danger type="button" disabled { "Delete" } }
                                    }
                                }
                            }
                        }
                    }
                }
                p {
                    @if can {
                        a.button href=(format!("{}/rules/new", chain_link(&name))) { "Add rule" } " "
                        a.button href=(format!("{}/rules/new?position=1", chain_link(&name))) { "Add rule at the top" }
                    } @else { button type="button" disabled { "Add rule" } }
                }
            }
        }
    };
    page(&format!("Chain {name}"), CURRENT, &who, q.flash(), body)
}

#[derive(Debug, Deserialize)]
struct ChainForm {
    #[serde(default)]
    csrf: String,
    name: String,
    applicability: String,
}

async fn add_chain(who: UiAdmin, State(s): State<AppState>, Form(f): Form<ChainForm>) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    let name = f.name.trim();
    if name.is_empty() {
        return failed(CURRENT, "The chain was not added: it needs a name.");
    }
    let chain = json!({
        "name": name,
        "applicability": f.applicability,
        "rules": [],
        "factory": false,
    });
    match api_call(
        &s,
        &who.session,
        Method::PUT,
        &format!("/api/v1/policy/chains/{}", enc(name)),
        Some(&chain),
    )
    .await
    {
        Ok(v) if v["replaced"] == true => failed(
            &chain_link(name),
            &format!("A chain named {name} already existed; it was replaced by an empty one."),
        ),
        Ok(_) => done(&chain_link(name), &format!("Chain {name} added.")),
        Err(p) => failed(CURRENT, &format!("The chain was not added: {}", p.detail)),
    }
}

async fn confirm_restore(who: UiAdmin) -> Markup {
    confirm_page(
        &who,
        "Restore factory defaults",
        CURRENT,
        "Put every pre-installed chain back as it ships? Changes you made to their rules are lost; chains you added stay.",
        "/mail/policy/restore-factory-defaults",
        CURRENT,
    )
}

async fn restore(who: UiAdmin, State(s): State<AppState>, Form(f): Form<CsrfForm>) -> Response {
    Action::new(
        Method::POST,
        "/api/v1/policy/restore-factory-defaults",
        CURRENT,
    )
    .body(json!({}))
    .refusal("Nothing was restored: ")
    .unless_confirmed(f.confirmed(), "Nothing was restored: not confirmed.")
    .run_with(&s, &who, &f.csrf, |v| {
        format!(
            "Factory defaults restored ({} chains).",
            v["restored"].as_array().map_or(0, Vec::len)
        )
    })
    .await
}

async fn confirm_delete_chain(who: UiAdmin, Path(name): Path<String>) -> Markup {
    confirm_page(
        &who,
        "Delete chain",
        CURRENT,
        &format!(
            "Delete the chain {name} and its rules? Rules that go to this chain will no longer pass the policy check."
        ),
        &format!("{}/delete", chain_link(&name)),
        &chain_link(&name),
    )
}

async fn delete_chain(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    if !f.confirmed() {
        return failed(
            &chain_link(&name),
            "The chain was not deleted: not confirmed.",
        );
    }
    match api_call(
        &s,
        &who.session,
        Method::DELETE,
        &format!("/api/v1/policy/chains/{}", enc(&name)),
        None,
    )
    .await
    {
        Ok(_) => done(CURRENT, &format!("Chain {name} deleted.")),
        Err(p) => failed(
            &chain_link(&name),
            &format!("The chain was not deleted: {}", p.detail),
        ),
    }
}

/// Runs one rule operation through the API and goes back to the chain with its outcome.
async fn rule_op(
    s: &AppState,
    who: &UiAdmin,
    chain: &str,
    rule: &str,
    api_suffix: &str,
    body: Option<Value>,
    what: &str,
) -> Response {
    let method = if api_suffix.is_empty() {
        Method::DELETE
    } else {
        Method::POST
    };
    let path = format!(
        "/api/v1/policy/chains/{}/rules/{}{api_suffix}",
        enc(chain),
        enc(rule)
    );
    let body = body.unwrap_or_else(|| json!({}));
    let sent = (method == Method::POST).then_some(&body);
    match api_call(s, &who.session, method, &path, sent).await {
        Ok(v) => {
            let warnings = v["warnings"].as_array().map_or(0, Vec::len);
            let note = if warnings > 0 {
                format!(" The policy check has {warnings} warning(s); see below.")
            } else {
                String::new()
            };
            done(&chain_link(chain), &format!("Rule {rule} {what}.{note}"))
        }
        Err(p) => failed(
            &chain_link(chain),
            &format!("Rule {rule} was not {what}: {}", p.detail),
        ),
    }
}

/// The rule's 1-based position now.
async fn position(s: &AppState, who: &UiAdmin, chain: &str, rule: &str) -> Option<usize> {
    let rules = api_call(
        s,
        &who.session,
        Method::GET,
        &format!("/api/v1/policy/chains/{}/rules", enc(chain)),
        None,
    )
    .await
    .ok()?;
    rules
        .as_array()?
        .iter()
        .position(|r| text(r, "name").eq_ignore_ascii_case(rule))
        .map(|i| i + 1)
}

async fn move_by(who: UiAdmin, s: AppState, chain: String, rule: String, up: bool) -> Response {
    let Some(now) = position(&s, &who, &chain, &rule).await else {
        return failed(&chain_link(&chain), &format!("Rule {rule} was not found."));
    };
    let to = if up {
        now.saturating_sub(1).max(1)
    } else {
        now + 1
    };
    rule_op(
        &s,
        &who,
        &chain,
        &rule,
        "/move",
        Some(json!({ "position": to })),
        "moved",
    )
    .await
}

/// The chain page's per-rule buttons (enable, disable, up, down), told apart by the last
/// segment of the path they post to.
async fn rule_button(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    uri: Uri,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    match uri.path().rsplit('/').next() {
        Some("enable") => rule_op(&s, &who, &chain, &rule, "/enable", None, "enabled").await,
        Some("disable") => rule_op(&s, &who, &chain, &rule, "/disable", None, "disabled").await,
        Some("up") => move_by(who, s, chain, rule, true).await,
        _ => move_by(who, s, chain, rule, false).await,
    }
}

async fn confirm_delete_rule(who: UiAdmin, Path((chain, rule)): Path<(String, String)>) -> Markup {
    confirm_page(
        &who,
        "Delete rule",
        CURRENT,
        &format!("Delete the rule {rule} from the chain {chain}?"),
        &format!("{}/delete", rule_link(&chain, &rule)),
        &chain_link(&chain),
    )
}

async fn delete_rule(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&who.session, &f.csrf) {
        return csrf_refused();
    }
    if !f.confirmed() {
        return failed(
            &chain_link(&chain),
            "The rule was not deleted: not confirmed.",
        );
    }
    rule_op(&s, &who, &chain, &rule, "", None, "deleted").await
}
