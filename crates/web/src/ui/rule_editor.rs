//! The rule editor: `/mail/policy/{chain}/rules/{rule}` edits a rule, `.../rules/new` adds one
//! (`?position=N` places it; absent appends). Name, description, enabled, the condition tree
//! (groups nest; every condition subject and modifier the policy crate has), the ordered actions
//! with their options, and the key-search list.
//!
//! It works without JavaScript: "Add condition", "Remove", moving actions and changing an
//! action's type post the form back and the page is drawn again from what was posted
//! ([`rule_form::Draft`]); only "Save" calls the rules API. The API's validator decides what is
//! a valid rule: its refusal is shown at the top, its warnings about this rule under the form.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use signet_model::Permission;

use super::forms::{FlashQuery, csrf_refused, done, enc, may, text};
use super::page;
use super::policy::{chain_link, findings_summary, rule_link};
use super::rule_choices::{
    ACTIONS, ADDRESS_SOURCES, ANNOTATIONS, ENCODINGS, KEY_NOT_FOUND, MODIFIERS, STATEMENTS,
    SUBJECTS,
};
use super::rule_form::{
    Draft, DraftAction, DraftGroup, DraftNode, FieldError, Op, action_field, cond_field,
};
use super::widgets::read;
use super::{Flash, UiAdmin, api_call, csrf_field, csrf_ok};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/mail/policy/{chain}/rules/new",
            get(new_rule).post(post_new),
        )
        .route(
            "/mail/policy/{chain}/rules/{rule}",
            get(edit_rule).post(post_edit),
        )
}

const CURRENT: &str = "/mail/policy";

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    position: Option<usize>,
}

/// Everything the form needs besides the draft.
struct Editor<'a> {
    who: &'a UiAdmin,
    chain: &'a str,
    /// The rule's stored name; None for a new rule.
    original: Option<&'a str>,
    position: Option<usize>,
    errors: &'a [FieldError],
    /// Names for the "Go to chain" and dictionary suggestions.
    chains: Vec<String>,
    dictionaries: Vec<String>,
    /// The validator's findings (shown for this rule).
    report: Option<Value>,
}

async fn names(s: &AppState, who: &UiAdmin, path: &str) -> Vec<String> {
    api_call(s, &who.session, Method::GET, path, None)
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|c| text(c, "name").to_string())
        .collect()
}

async fn editor<'a>(
    s: &AppState,
    who: &'a UiAdmin,
    chain: &'a str,
    original: Option<&'a str>,
    position: Option<usize>,
    errors: &'a [FieldError],
) -> Editor<'a> {
    Editor {
        who,
        chain,
        original,
        position,
        errors,
        chains: names(s, who, "/api/v1/policy/chains").await,
        dictionaries: names(s, who, "/api/v1/dictionaries").await,
        report: api_call(
            s,
            &who.session,
            Method::GET,
            "/api/v1/policy/validate",
            None,
        )
        .await
        .ok(),
    }
}

async fn new_rule(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(chain): Path<String>,
    Query(q): Query<NewQuery>,
) -> Markup {
    let e = editor(&s, &who, &chain, None, q.position, &[]).await;
    render(&e, &Draft::new_rule(), None)
}

async fn edit_rule(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    Query(q): Query<FlashQuery>,
) -> Markup {
    let path = format!("/api/v1/policy/chains/{}/rules/{}", enc(&chain), enc(&rule));
    let answer = read(&s, &who, &path).await;
    let e = editor(&s, &who, &chain, Some(&rule), None, &[]).await;
    match answer.and_then(|v| {
        serde_json::from_value::<signet_policy::model::Rule>(v).map_err(|err| {
            crate::Problem::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                err.to_string(),
            )
        })
    }) {
        Ok(r) => render(&e, &Draft::from_rule(&r), q.flash()),
        Err(p) => page(
            "Edit rule",
            CURRENT,
            &who,
            Some(Flash::Error(format!(
                "The rule could not be read: {}",
                p.detail
            ))),
            html! { p { a href=(chain_link(&chain)) { "‹ Back to the chain" } } },
        ),
    }
}

async fn post_new(
    who: UiAdmin,
    State(s): State<AppState>,
    Path(chain): Path<String>,
    Query(q): Query<NewQuery>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    posted(&s, &who, &chain, None, q.position, &fields).await
}

async fn post_edit(
    who: UiAdmin,
    State(s): State<AppState>,
    Path((chain, rule)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    posted(&s, &who, &chain, Some(&rule), None, &fields).await
}

/// One posted form: an editing button redraws the form; Save sends the rule to the API.
async fn posted(
    s: &AppState,
    who: &UiAdmin,
    chain: &str,
    original: Option<&str>,
    position: Option<usize>,
    fields: &[(String, String)],
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if !csrf_ok(&who.session, field("csrf")) {
        return csrf_refused();
    }
    let op = Op::parse(field("op"));
    let (mut draft, changed_types) = Draft::from_fields(fields);
    if op != Op::Save || changed_types {
        draft.apply(&op);
        let note = changed_types.then(|| {
            Flash::Done("An action's type changed: check its options below, then save.".to_string())
        });
        let e = editor(s, who, chain, original, position, &[]).await;
        return render(&e, &draft, note).into_response();
    }
    let rule = match draft.to_rule() {
        Ok(rule) => rule,
        Err(errors) => {
            let e = editor(s, who, chain, original, position, &errors).await;
            let flash = Flash::Error(format!(
                "The rule was not saved: {} field(s) need attention.",
                errors.len()
            ));
            return render(&e, &draft, Some(flash)).into_response();
        }
    };
    let body = match serde_json::to_value(&rule) {
        Ok(b) => b,
        Err(e) => {
            let ed = editor(s, who, chain, original, position, &[]).await;
            return render(&ed, &draft, Some(Flash::Error(e.to_string()))).into_response();
        }
    };
    let (method, path) = match original {
        Some(name) => (
            Method::PUT,
            format!("/api/v1/policy/chains/{}/rules/{}", enc(chain), enc(name)),
        ),
        None => (
            Method::POST,
            match position {
                Some(p) => format!("/api/v1/policy/chains/{}/rules?position={p}", enc(chain)),
                None => format!("/api/v1/policy/chains/{}/rules", enc(chain)),
            },
        ),
    };
    match api_call(s, &who.session, method, &path, Some(&body)).await {
        Ok(v) => {
            let warnings = v["warnings"].as_array().map_or(0, Vec::len);
            let message = if warnings > 0 {
                format!(
                    "Rule {} saved. The policy check has {warnings} warning(s) about the policy; this rule's are listed below.",
                    rule.name
                )
            } else {
                format!("Rule {} saved.", rule.name)
            };
            done(&rule_link(chain, &rule.name), &message)
        }
        Err(p) => {
            let e = editor(s, who, chain, original, position, &[]).await;
            let flash = Flash::Error(format!("The rule was not saved: {}", p.detail));
            render(&e, &draft, Some(flash)).into_response()
        }
    }
}

fn error_for(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| e.field == field) {
            span.field-error role="alert" { (e.message) }
        }
    }
}

fn select(name: &str, options: &[(&str, &str)], current: &str) -> Markup {
    let known = options.iter().any(|(t, _)| *t == current);
    html! {
        select name=(name) {
            @if !known && !current.is_empty() { option value=(current) selected { (current) " (unknown)" } }
            @for (token, label) in options {
                option value=(token) selected[*token == current] { (label) }
            }
        }
    }
}

fn render(e: &Editor<'_>, draft: &Draft, flash: Option<Flash>) -> Markup {
    let can = may(e.who, Permission::ConfigureSystem);
    let action = match (e.original, e.position) {
        (Some(name), _) => rule_link(e.chain, name),
        (None, Some(p)) => format!("{}/rules/new?position={p}", chain_link(e.chain)),
        (None, None) => format!("{}/rules/new", chain_link(e.chain)),
    };
    let title = match e.original {
        Some(name) => format!("Rule {name}"),
        None => "New rule".to_string(),
    };
    let body = html! {
        p { a href=(chain_link(e.chain)) { "‹ Chain " (e.chain) } }
        @if !can { p.muted { "Your role may look at this rule but not change it." } }
        form.rule-editor method="post" action=(action) {
            (csrf_field(&e.who.session))
            // Enter in a text box saves rather than pressing the first editing button.
            button.hidden-default type="submit" name="op" value="save" tabindex="-1" aria-hidden="true" style="position:absolute;left:-9999px" { "Save" }
            fieldset.rule disabled[!can] {
                legend { "Rule" }
                label for="name" { "Name" }
                input #name type="text" name="name" value=(draft.name) required;
                (error_for(e.errors, "name"))
                label for="description" { "Description" }
                input #description type="text" name="description" value=(draft.description);
                label.check { input type="checkbox" name="enabled" checked[draft.enabled]; " Enabled" }
            }
            fieldset.conditions disabled[!can] {
                legend { "Conditions" }
                (group(e, &draft.conditions, "0"))
            }
            fieldset.actions disabled[!can] {
                legend { "Actions, in order" }
                (error_for(e.errors, "actions"))
                ol.actions {
                    @for (i, a) in draft.actions.iter().enumerate() {
                        li.action { (action_row(e, a, i, draft.actions.len())) }
                    }
                }
                button.secondary type="submit" name="op" value="add-action" { "Add action" }
            }
            fieldset.key-search disabled[!can] {
                legend { "Key search" }
                label for="key_search" { "Keyservers searched for recipient keys, in order (one name a line)" }
                textarea #key_search name="key_search" rows="3" { (draft.key_search) }
            }
            datalist #chain-names { @for c in &e.chains { option value=(c) {} } }
            datalist #dictionary-names { @for d in &e.dictionaries { option value=(d) {} } }
            p.save {
                button type="submit" name="op" value="save" disabled[!can] { "Save rule" }
                " " a.button.secondary href=(chain_link(e.chain)) { "Cancel" }
            }
        }
        @if let (Some(report), Some(name)) = (&e.report, e.original) {
            (findings_summary(report, Some((e.chain, Some(name)))))
        }
    };
    page(&title, CURRENT, e.who, flash, body)
}

fn group(e: &Editor<'_>, g: &DraftGroup, path: &str) -> Markup {
    html! {
        div.group data-path=(path) {
            input type="hidden" name=(cond_field(path, "type")) value="group";
            div.group-head {
                (select(&cond_field(path, "statement"), STATEMENTS, &g.statement))
                (error_for(e.errors, &cond_field(path, "statement")))
                @if path != "0" {
                    " " button.small.danger type="submit" name="op" value=(format!("remove:{path}")) title="Remove this group" { "Remove group" }
                }
            }
            @if g.statement == "AlwaysTrue" && g.children.is_empty() {
                p.muted { "Always true: the rule applies to every message. Add a condition to narrow it." }
            }
            ul.children {
                @for (i, child) in g.children.iter().enumerate() {
                    @let p = format!("{path}.{i}");
                    li {
                        @match child {
                            DraftNode::Group(inner) => (group(e, inner, &p)),
                            DraftNode::Condition(c) => {
                                div.condition data-path=(p) {
                                    input type="hidden" name=(cond_field(&p, "type")) value="condition";
                                    (subject_select(&cond_field(&p, "subject"), &c.subject))
                                    input.arg type="text" name=(cond_field(&p, "arg")) value=(c.arg) placeholder="header / key ID / dictionary" title="Header name, key ID or dictionary, for conditions that need one";
                                    label.check.inline { input type="checkbox" name=(cond_field(&p, "negate")) checked[c.negate]; " not" }
                                    (select(&cond_field(&p, "modifier"), MODIFIERS, &c.modifier))
                                    input.value type="text" name=(cond_field(&p, "value")) value=(c.value) placeholder="value" list="dictionary-names";
                                    " " button.small.danger type="submit" name="op" value=(format!("remove:{p}")) title="Remove this condition" { "Remove" }
                                    (error_for(e.errors, &cond_field(&p, "subject")))
                                    (error_for(e.errors, &cond_field(&p, "arg")))
                                    (error_for(e.errors, &cond_field(&p, "modifier")))
                                }
                            }
                        }
                    }
                }
            }
            div.group-tools {
                button.small.secondary type="submit" name="op" value=(format!("add-condition:{path}")) { "Add condition" }
                " "
                button.small.secondary type="submit" name="op" value=(format!("add-group:{path}")) { "Add group" }
            }
        }
    }
}

fn subject_select(name: &str, current: &str) -> Markup {
    let options: Vec<(&str, &str)> = SUBJECTS.iter().map(|(t, l, _)| (*t, *l)).collect();
    select(name, &options, current)
}

fn checkbox(a: &DraftAction, i: usize, field: &str, label: &str) -> Markup {
    html! {
        label.check { input type="checkbox" name=(action_field(i, field)) checked[a.fields.contains_key(field)]; " " (label) }
    }
}

fn text_input(a: &DraftAction, i: usize, field: &str, label: &str, list: Option<&str>) -> Markup {
    html! {
        label { (label) input type="text" name=(action_field(i, field)) value=(a.fields.get(field).map_or("", String::as_str)) list=[list]; }
    }
}

fn action_row(e: &Editor<'_>, a: &DraftAction, i: usize, count: usize) -> Markup {
    let f = |k: &str| a.fields.get(k).map_or("", String::as_str).to_string();
    let err = |k: &str| error_for(e.errors, &action_field(i, k));
    html! {
        div.action-head {
            input type="hidden" name=(action_field(i, "shown")) value=(a.kind);
            (select(&action_field(i, "kind"), ACTIONS, &a.kind))
            " " button.small.secondary type="submit" name="op" value="refresh" title="Show the options of a changed action type" { "Apply type" }
            " " button.small.secondary type="submit" name="op" value=(format!("up-action:{i}")) disabled[i == 0] title="Move up" { "↑" }
            " " button.small.secondary type="submit" name="op" value=(format!("down-action:{i}")) disabled[i + 1 == count] title="Move down" { "↓" }
            " " button.small.danger type="submit" name="op" value=(format!("remove-action:{i}")) { "Remove" }
            (err("kind"))
        }
        div.action-options {
            @match a.kind.as_str() {
                "Send" => {
                    (checkbox(a, i, "recipient_key", "Encrypt to the recipient's key"))
                    (checkbox(a, i, "require_verified_key", "Require a verified key"))
                    (checkbox(a, i, "require_end_to_end_key", "Require an end-to-end key (CKM or GKM)"))
                    (checkbox(a, i, "senders_key", "Also encrypt to the sender's key"))
                    (checkbox(a, i, "sign", "Sign"))
                    (text_input(a, i, "other_keys", "Other keys (key IDs or fingerprints, separated by spaces)", None))
                    label { "Preferred encoding " (select(&action_field(i, "encoding"), ENCODINGS, &f("encoding"))) }
                    label { "If no key is found " (select(&action_field(i, "knf"), KEY_NOT_FOUND, &f("knf"))) }
                    (err("knf"))
                    p.muted { "For PDF Messenger when no key is found:" }
                    (checkbox(a, i, "knf_encrypt_all", "Encrypt every message as PDF"))
                    (checkbox(a, i, "knf_certified_delivery", "Certified delivery"))
                    (checkbox(a, i, "knf_secure_reply", "Secure reply"))
                }
                "SendViaPdf" => {
                    (checkbox(a, i, "encrypt_all", "Encrypt every message as PDF"))
                    (checkbox(a, i, "certified_delivery", "Certified delivery"))
                    (checkbox(a, i, "secure_reply", "Secure reply"))
                }
                "SendArchiveCopy" | "Json" => {
                    label {
                        @if a.kind == "Json" { "The action as JSON (advanced)" } @else { "Archive options as JSON" }
                        textarea.json name=(action_field(i, "json")) rows="6" { (f("json")) }
                    }
                    (err("json"))
                }
                "DecryptAndVerify" => {
                    label { "Annotation " (select(&action_field(i, "annotation"), ANNOTATIONS, &f("annotation"))) }
                    (err("annotation"))
                }
                "AddToDictionary" => {
                    label { "Add the address of the " (select(&action_field(i, "address"), ADDRESS_SOURCES, &f("address"))) }
                    (text_input(a, i, "dictionary", "to the dictionary", Some("dictionary-names")))
                    (err("dictionary"))
                }
                "AddLogEntry" => {
                    (text_input(a, i, "text", "Log entry text", None))
                }
                "AddHeader" => {
                    (text_input(a, i, "header_name", "Header name", None))
                    (err("header_name"))
                    (text_input(a, i, "header_value", "Header value", None))
                    (checkbox(a, i, "replace_existing", "Replace an existing header of that name"))
                }
                "GoToChain" => {
                    (text_input(a, i, "chain", "Chain", Some("chain-names")))
                    (err("chain"))
                }
                _ => { p.muted { "No options." } }
            }
        }
    }
}
