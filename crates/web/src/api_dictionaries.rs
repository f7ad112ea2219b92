//! `/api/v1/dictionaries`: Mail > Dictionaries (guide "Dictionaries"; spec 2 §1). Terms are
//! literals (case-insensitive equality) or patterns (regular expressions matched against the
//! whole value, case-insensitively). Every change is one store command, so a Replace, an
//! approval or a rename is seen whole or not at all.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::{Dictionary, DictionaryEntry, Permission, TermKind};
use signet_policy::factory::MANAGED_DOMAINS;
use signet_policy::references::{RuleRef, rules_using_dictionary};
use signet_store::{Command, CommandOutput, StateView, now_millis};

use crate::api::{Admin, ApiResult, to_json};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

mod export;

pub(crate) const SIGN: &str = "Excluded Addresses: Sign";
pub(crate) const DO_NOT_SIGN: &str = "Excluded Addresses: Do Not Sign";
pub(crate) const PENDING: &str = "Excluded Addresses: Pending";

/// Terms in one request. An import larger than this is sent in several appends (the CLI does).
const MAX_TERMS: usize = 20_000;
/// Room for [`MAX_TERMS`] terms of ordinary length (the default body limit is 2 MiB).
const BODY_LIMIT: usize = 8 << 20;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dictionaries", get(list).post(create))
        .route(
            "/api/v1/dictionaries/{name}",
            get(show).patch(update).delete(delete),
        )
        .route(
            "/api/v1/dictionaries/{name}/entries",
            get(list_entries).post(add_entries).delete(remove_entries),
        )
        .route("/api/v1/dictionaries/{name}/approve", post(approve))
        .route("/api/v1/dictionaries/{name}/evaluate", post(evaluate))
        .route("/api/v1/dictionaries/{name}/export", get(export_one))
        .route(
            "/api/v1/dictionary-export",
            get(export_many_query).post(export_many_body),
        )
        .route("/api/v1/dictionary-search", get(search))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Problem {
    Problem::new(status, detail)
}

/// The dictionary named in a path: its exact name, else the one name that matches ignoring case
/// (rules name dictionaries case-insensitively, and so may an administrator).
fn resolve(view: &StateView, name: &str) -> Result<Dictionary, Problem> {
    if let Some(d) = view.dictionary(name)? {
        return Ok(d);
    }
    let wanted = name.trim().to_lowercase();
    view.dictionaries()?
        .into_iter()
        .find(|d| d.name.to_lowercase() == wanted)
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                format!("dictionary {name} not found"),
            )
        })
}

fn is_managed_domains(d: &Dictionary) -> bool {
    d.name.eq_ignore_ascii_case(MANAGED_DOMAINS)
}

/// Managed Domains follows the managed-domain list; its terms change only there.
fn refuse_managed_domains(d: &Dictionary) -> Result<(), Problem> {
    if is_managed_domains(d) {
        return Err(problem(
            StatusCode::CONFLICT,
            format!(
                "{MANAGED_DOMAINS} is read-only here: it follows the managed domains \
                 (edit those instead: signet domain add|remove, /api/v1/domains)"
            ),
        ));
    }
    Ok(())
}

fn entry_view(e: &DictionaryEntry) -> Value {
    json!({ "term": e.as_str(), "kind": e.kind() })
}

fn dictionary_view(d: &Dictionary, entries: Option<&[DictionaryEntry]>) -> Value {
    let mut v = json!({
        "name": d.name,
        "description": d.description,
        "factory": d.factory,
        "created_at": d.created_at,
    });
    if let Some(entries) = entries {
        v["entries"] = entries.iter().map(entry_view).collect();
    }
    v
}

fn rules_view(rules: &[RuleRef]) -> Value {
    json!(rules)
}

/// Checks terms of one kind. A pattern must compile the way dictionary matching uses it
/// (anchored, case-insensitive); the first bad term is named and nothing is written.
pub(crate) fn parse_terms(raw: &[TermIn], kind: TermKind) -> Result<Vec<DictionaryEntry>, Problem> {
    if raw.len() > MAX_TERMS {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("give at most {MAX_TERMS} terms per request (send more in further appends)"),
        ));
    }
    raw.iter()
        .map(|t| {
            let entry = match t {
                TermIn::Text(text) => DictionaryEntry::new(text, kind)?,
                TermIn::Typed { term, kind } => DictionaryEntry::new(term, *kind)?,
            };
            if entry.is_pattern() {
                signet_policy::modifier::compile_pattern(&anchored(entry.as_str())).map_err(
                    |e| {
                        let mut p = problem(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            format!("term {:?} is not a valid pattern: {e}", entry.as_str()),
                        );
                        p.extra = Some(json!({ "term": entry.as_str() }));
                        p
                    },
                )?;
            }
            Ok(entry)
        })
        .collect()
}

/// A term in a request: text of the batch's kind, or `{"term", "kind"}` (what the entries
/// list and an exported file hold, so a mixed export can be imported in one request).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum TermIn {
    Text(String),
    Typed { term: String, kind: TermKind },
}

/// Dictionary patterns describe the whole value (see `signet_policy::facts`).
fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// Stored terms named by the administrator: the exact text, else its lower-cased form (literals
/// are stored lower-cased; patterns as typed). Unknown terms are left out.
fn stored_terms(stored: &[DictionaryEntry], raw: &[String]) -> (Vec<DictionaryEntry>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for r in raw {
        let t = r.trim();
        let hit = stored
            .iter()
            .find(|e| e.as_str() == t)
            .or_else(|| stored.iter().find(|e| e.as_str() == t.to_lowercase()));
        match hit {
            Some(e) => found.push(e.clone()),
            None => missing.push(t.to_string()),
        }
    }
    (found, missing)
}

async fn count(s: &AppState, command: Command) -> Result<u64, Problem> {
    match s.node.execute(command).await? {
        CommandOutput::Count(n) => Ok(n),
        other => Err(problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected outcome {other:?}"),
        )),
    }
}

async fn list(admin: Admin, State(s): State<AppState>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    to_json(&s.node.read().await?.dictionaries()?)
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: String,
    /// Terms to import with the new dictionary (the guide's Add Dictionary form has them).
    #[serde(default)]
    entries: Vec<TermIn>,
    #[serde(default)]
    kind: TermKind,
}

fn check_description(raw: &str) -> Result<String, Problem> {
    let d = raw.trim();
    if d.chars().count() > 1024 || d.chars().any(char::is_control) {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a description is at most 1024 characters without control characters",
        ));
    }
    Ok(d.to_string())
}

async fn create(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let dictionary = Dictionary {
        name: Dictionary::check_name(&req.name)?,
        description: check_description(&req.description)?,
        factory: false,
        created_at: now_millis(),
    };
    // Checked before anything is created, so a bad term leaves no empty dictionary behind.
    let entries = parse_terms(&req.entries, req.kind)?;
    s.node
        .execute(Command::CreateDictionary {
            dictionary: dictionary.clone(),
        })
        .await?;
    if !entries.is_empty() {
        count(
            &s,
            Command::AddDictionaryEntries {
                name: dictionary.name.clone(),
                entries,
            },
        )
        .await?;
    }
    to_json(&dictionary)
}

async fn show(admin: Admin, State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    let entries = view.dictionary_entries(&d.name)?;
    Ok(Json(dictionary_view(&d, Some(&entries))))
}

#[derive(Deserialize)]
struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
}

/// Dictionary Settings. A rename leaves every rule that named the old name invalid (guide); the
/// answer lists them.
async fn update(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    if req.name.is_none() && req.description.is_none() {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "give a new name, a new description, or both",
        ));
    }
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    let new_name = req
        .name
        .as_deref()
        .map(Dictionary::check_name)
        .transpose()?;
    let description = req
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let renamed = new_name
        .as_deref()
        .is_some_and(|n| n.to_lowercase() != d.name.to_lowercase());
    let invalid = if renamed {
        rules_using_dictionary(&view.policy()?, &d.name)
    } else {
        Vec::new()
    };
    s.node
        .execute(Command::UpdateDictionary {
            name: d.name.clone(),
            new_name: new_name.clone(),
            description,
        })
        .await?;
    let view = s.node.read().await?;
    let now = resolve(view, new_name.as_deref().unwrap_or(&d.name))?;
    let mut v = dictionary_view(&now, None);
    v["previous_name"] = json!(d.name);
    v["invalid_rules"] = rules_view(&invalid);
    Ok(Json(v))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    confirm: bool,
}

/// Deleting a dictionary that rules use leaves them invalid (guide), so it needs `confirm`.
async fn delete(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    if d.factory {
        return Err(problem(
            StatusCode::CONFLICT,
            format!(
                "dictionary {} comes with the product and cannot be deleted",
                d.name
            ),
        ));
    }
    let users = rules_using_dictionary(&view.policy()?, &d.name);
    if !users.is_empty() && !q.confirm {
        let mut p = problem(
            StatusCode::CONFLICT,
            format!(
                "dictionary {} is used by {} rule(s), which would become invalid ({}); \
                 confirm to delete it anyway (signet dictionary delete --confirm, \
                 or ?confirm=true)",
                d.name,
                users.len(),
                users
                    .iter()
                    .take(5)
                    .map(|r| format!("{} / {}", r.chain, r.rule))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        p.extra = Some(json!({ "rules": users }));
        return Err(p);
    }
    s.node
        .execute(Command::DeleteDictionary {
            name: d.name.clone(),
        })
        .await?;
    Ok(Json(
        json!({ "removed": d.name, "invalid_rules": rules_view(&users) }),
    ))
}

async fn list_entries(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    let entries = view.dictionary_entries(&d.name)?;
    Ok(Json(entries.iter().map(entry_view).collect()))
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Append,
    Replace,
}

#[derive(Deserialize)]
struct AddBody {
    entries: Vec<TermIn>,
    #[serde(default)]
    kind: TermKind,
    #[serde(default)]
    mode: Mode,
}

/// Add Terms / Import: one batch of one kind, appended or replacing every term.
async fn add_entries(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<AddBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let d = resolve(s.node.read().await?, &name)?;
    refuse_managed_domains(&d)?;
    if req.mode == Mode::Append && req.entries.is_empty() {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "give at least one term",
        ));
    }
    let entries = parse_terms(&req.entries, req.kind)?;
    let name = d.name;
    match req.mode {
        Mode::Append => {
            let added = count(&s, Command::AddDictionaryEntries { name, entries }).await?;
            Ok(Json(json!({ "added": added })))
        }
        Mode::Replace => {
            let now = count(&s, Command::ReplaceDictionaryEntries { name, entries }).await?;
            Ok(Json(json!({ "replaced": true, "entries": now })))
        }
    }
}

#[derive(Deserialize)]
struct TermsBody {
    entries: Vec<String>,
}

async fn remove_entries(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<TermsBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    refuse_managed_domains(&d)?;
    if req.entries.is_empty() || req.entries.len() > MAX_TERMS {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("give 1 to {MAX_TERMS} terms"),
        ));
    }
    let (entries, _absent) = stored_terms(&view.dictionary_entries(&d.name)?, &req.entries);
    let removed = if entries.is_empty() {
        0
    } else {
        count(
            &s,
            Command::RemoveDictionaryEntries {
                name: d.name,
                entries,
            },
        )
        .await?
    };
    Ok(Json(json!({ "removed": removed })))
}

#[derive(Deserialize)]
struct ApproveBody {
    entries: Vec<String>,
    target: Option<String>,
}

/// Approve Selected on Excluded Addresses: Pending: the terms move to Sign (the guide's
/// procedure) or, when asked, to Do Not Sign (its overview allows either).
async fn approve(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ApproveBody>,
) -> ApiResult {
    admin.require(Permission::ConfigureSystem)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    if d.name != PENDING {
        return Err(problem(
            StatusCode::CONFLICT,
            format!("only {PENDING} holds terms waiting for approval"),
        ));
    }
    let target = match req.target.as_deref().map(str::trim) {
        None => SIGN,
        Some(t) if t.eq_ignore_ascii_case(SIGN) || t.eq_ignore_ascii_case("sign") => SIGN,
        Some(t) if t.eq_ignore_ascii_case(DO_NOT_SIGN) || t.eq_ignore_ascii_case("do-not-sign") => {
            DO_NOT_SIGN
        }
        Some(t) => {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("approved terms go to {SIGN} or {DO_NOT_SIGN}, not {t:?}"),
            ));
        }
    };
    if req.entries.is_empty() || req.entries.len() > MAX_TERMS {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("give 1 to {MAX_TERMS} terms to approve"),
        ));
    }
    let (entries, missing) = stored_terms(&view.dictionary_entries(PENDING)?, &req.entries);
    if !missing.is_empty() {
        let mut p = problem(
            StatusCode::NOT_FOUND,
            format!("not in {PENDING}: {}", missing.join(", ")),
        );
        p.extra = Some(json!({ "missing": missing }));
        return Err(p);
    }
    let moved = count(
        &s,
        Command::MoveDictionaryEntries {
            from: PENDING.to_string(),
            to: target.to_string(),
            entries,
        },
    )
    .await?;
    Ok(Json(json!({ "approved": moved, "target": target })))
}

#[derive(Deserialize)]
struct EvaluateBody {
    value: String,
}

/// Evaluate Expression: does VALUE match the dictionary the way a rule condition would?
/// Literals by case-insensitive equality, patterns as anchored case-insensitive regexes.
async fn evaluate(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<EvaluateBody>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    let value = req.value.trim().to_lowercase();
    let mut matched = Vec::new();
    for e in view.dictionary_entries(&d.name)? {
        let hit = match e.kind() {
            TermKind::Literal => e.as_str() == value,
            // A stored pattern that no longer compiles (a newer engine's limits) matches
            // nothing, as it does in mail evaluation.
            TermKind::Pattern => signet_policy::modifier::compile_pattern(&anchored(e.as_str()))
                .is_ok_and(|re| re.is_match(&value)),
        };
        if hit {
            matched.push(entry_view(&e));
        }
    }
    Ok(Json(json!({
        "dictionary": d.name,
        "value": req.value,
        "matches": !matched.is_empty(),
        "matched": matched,
    })))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    /// Search one dictionary only (the guide searches from a dictionary's page).
    dictionary: Option<String>,
}

/// Search for Term: a plain substring search over the terms' text (patterns included, as
/// text), in one dictionary or across all of them, ignoring case.
async fn search(
    admin: Admin,
    State(s): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    let needle = q.q.trim().to_lowercase();
    if needle.is_empty() || needle.len() > 1024 {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "q must be 1 to 1024 characters",
        ));
    }
    let view = s.node.read().await?;
    let dictionaries = match q.dictionary.as_deref() {
        Some(name) => vec![resolve(view, name)?],
        None => view.dictionaries()?,
    };
    let mut hits = Vec::new();
    for dictionary in dictionaries {
        for entry in view.dictionary_entries(&dictionary.name)? {
            if entry.as_str().to_lowercase().contains(&needle) {
                hits.push(json!({
                    "dictionary": dictionary.name,
                    "term": entry.as_str(),
                    "kind": entry.kind(),
                }));
            }
        }
    }
    Ok(Json(json!({ "results": hits })))
}

async fn export_one(
    admin: Admin,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let view = s.node.read().await?;
    let d = resolve(view, &name)?;
    let xml = export::dictionary_xml(&d, &view.dictionary_entries(&d.name)?);
    let disposition = format!(
        "attachment; filename=\"{}\"",
        export::file_name(&d.name, &mut Vec::new())
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xml,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ExportQuery {
    /// Comma-separated names (a name with a comma in it: use the POST form).
    names: String,
}

#[derive(Deserialize)]
struct ExportBody {
    names: Vec<String>,
}

async fn export_many_query(
    admin: Admin,
    State(s): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, Problem> {
    let names: Vec<String> = q.names.split(',').map(str::to_string).collect();
    export_many(admin, &s, &names).await
}

async fn export_many_body(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ExportBody>,
) -> Result<Response, Problem> {
    export_many(admin, &s, &req.names).await
}

/// Export Selected: `dictionaries.zip` with one XML file per dictionary (guide).
async fn export_many(admin: Admin, s: &AppState, names: &[String]) -> Result<Response, Problem> {
    admin.require(Permission::ViewSettings)?;
    let names: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name at least one dictionary to export",
        ));
    }
    let view = s.node.read().await?;
    let mut files = Vec::new();
    let mut used = Vec::new();
    for name in names {
        let d = resolve(view, name)?;
        if files
            .iter()
            .any(|(_, _, n): &(String, String, String)| *n == d.name)
        {
            continue;
        }
        let xml = export::dictionary_xml(&d, &view.dictionary_entries(&d.name)?);
        files.push((export::file_name(&d.name, &mut used), xml, d.name));
    }
    let zip = export::zip_stored(
        &files
            .iter()
            .map(|(f, x, _)| (f.as_str(), x.as_bytes()))
            .collect::<Vec<_>>(),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"dictionaries.zip\"",
            ),
        ],
        zip,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What setup installs passes the checks an administrator's import gets.
    #[test]
    fn factory_patterns_are_valid_terms_of_factory_dictionaries() {
        let factory = signet_policy::factory::factory_dictionary_names();
        for (name, patterns) in signet_policy::factory::FACTORY_DICTIONARY_PATTERNS {
            assert!(factory.iter().any(|f| f == name), "{name}");
            let raw: Vec<TermIn> = patterns
                .iter()
                .map(|p| TermIn::Text(p.to_string()))
                .collect();
            let parsed = parse_terms(&raw, TermKind::Pattern).map_err(|p| p.detail);
            assert_eq!(parsed.map(|e| e.len()), Ok(patterns.len()), "{name}");
        }
    }

    #[test]
    fn stored_terms_match_exact_text_then_lower_case() {
        let stored = vec![
            DictionaryEntry::pattern("J.*@X").expect("pattern"),
            DictionaryEntry::parse("bob@x").expect("literal"),
        ];
        let (found, missing) =
            stored_terms(&stored, &["J.*@X".into(), "BOB@x".into(), "j.*@x".into()]);
        assert_eq!(found, [stored[0].clone(), stored[1].clone()]);
        assert_eq!(missing, ["j.*@x"]);
    }
}
