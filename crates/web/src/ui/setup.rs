//! The setup assistant (`/setup`): what a new node shows until its first administrator has a
//! passphrase. It is guarded by a one-time setup code that the node prints to its log (the
//! appliance's console) and writes to `<data-dir>/setup-code` (mode 0600): unlike the reference
//! product, whose assistant anyone who reaches port 9000 first can run, only someone who can
//! read the node's console or disk can set it up (and so choose the first administrator).
//!
//! The choices are New server, Join a cluster and Restore from a backup. The New server steps
//! (one form each) fill a draft held in memory; Finish makes the first administrator, runs
//! `POST /api/v1/setup` as that administrator, sets Learn Mode and signs the browser in.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use rand::Rng;
use serde_json::json;
use signet_model::{EmailAddress, ManagedDomain};

use super::{api_call, bare_page};
use crate::AppState;
use crate::session::{self, cookie_value};

/// The cookie that marks the browser which entered the setup code.
const SETUP_COOKIE: &str = "signet_setup";
/// The setup code's file in the data directory.
pub const SETUP_CODE_FILE: &str = "setup-code";
/// Wrong codes tolerated before a new code is made (and printed again).
const MAX_WRONG_CODES: u32 = 10;

/// The answers of the New server steps so far (memory only; gone at restart).
#[derive(Default, Clone)]
pub struct Draft {
    pub hostname: String,
    pub domains: String,
    pub login: String,
    pub passphrase: String,
    pub email: String,
    pub placement: String,
    pub mail_server: String,
    pub org_key_mode: String,
    pub org_key: String,
    pub org_key_passphrase: String,
    /// Learn Mode starts on (the guide's advice); this records the box being cleared.
    pub learn_mode_off: bool,
}

/// The setup code and the browser that entered it.
#[derive(Default)]
pub struct SetupGate {
    inner: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    code: Option<String>,
    browser: Option<String>,
    wrong: u32,
    draft: Draft,
    data_dir: Option<std::path::PathBuf>,
}

fn new_code() -> String {
    // No 0/O, 1/I/L: the code is read off a console and typed.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn normalize_code(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl SetupGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a new code, writes it to the data directory and prints it to the log.
    fn issue(&self, state: &mut GateState) {
        let code = new_code();
        if let Some(dir) = &state.data_dir {
            let path = dir.join(SETUP_CODE_FILE);
            if let Err(e) =
                signet_store::datadir::write_private_file(&path, format!("{code}\n").as_bytes())
            {
                tracing::error!(error = %e, "cannot write the setup code file");
            }
        }
        tracing::warn!(
            target: "signet::setup",
            "setup is pending: open the admin UI and enter the setup code {code} (also in {})",
            state
                .data_dir
                .as_ref()
                .map(|d| d.join(SETUP_CODE_FILE).display().to_string())
                .unwrap_or_default()
        );
        state.code = Some(code);
        state.wrong = 0;
        state.browser = None;
    }

    fn browser_ok(&self, headers: &HeaderMap) -> bool {
        let state = self.lock();
        match (&state.browser, cookie_value(headers, SETUP_COOKIE)) {
            (Some(b), Some(c)) => constant_time_eq(b.as_bytes(), c.as_bytes()),
            _ => false,
        }
    }

    /// The setup code now, for a sponsor's contact ([`crate::join_contact`]).
    pub(super) fn current_code(&self) -> Option<String> {
        self.lock().code.clone()
    }

    /// Counts a wrong code that came another way than the form (a sponsor's contact).
    pub(super) fn count_wrong_code(&self) {
        let mut gate = self.lock();
        gate.wrong += 1;
        tracing::warn!(target: "signet::setup", "a join contact came with a wrong setup code");
        if gate.wrong >= MAX_WRONG_CODES {
            self.issue(&mut gate);
        }
    }

    /// Ends the assistant: forgets the code, the browser and the draft, removes the file.
    pub(super) fn finish(&self) {
        let mut state = self.lock();
        if let Some(dir) = &state.data_dir {
            let _ = std::fs::remove_file(dir.join(SETUP_CODE_FILE));
        }
        state.code = None;
        state.browser = None;
        state.draft = Draft::default();
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether setup is pending by this member's own copy of the state: no waiting for a quorum
/// (a start, or the login page of a member cut off from its cluster). The assistant's pages
/// check again with a linearizable read ([`session::setup_pending`]).
pub fn setup_pending_here(state: &AppState) -> bool {
    state
        .node
        .local()
        .administrators()
        .is_ok_and(|admins| !admins.iter().any(|a| a.passphrase.is_some()))
}

/// Called by signetd at start: when setup is pending, makes the setup code, writes it to
/// `<data-dir>/setup-code` (0600) and logs it; otherwise removes a stale code file.
pub fn announce_setup_code(state: &AppState) {
    let dir = state.node.data_dir().root().to_path_buf();
    let pending = setup_pending_here(state);
    let mut gate = state.setup.lock();
    gate.data_dir = Some(dir.clone());
    if pending {
        state.setup.issue(&mut gate);
    } else {
        let _ = std::fs::remove_file(dir.join(SETUP_CODE_FILE));
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/setup", get(start).post(enter_code))
        .route("/setup/choose", get(choose))
        .route("/setup/new/{step}", get(new_step).post(save_step))
        .merge(super::setup_join_restore::routes())
}

/// The New server steps: (slug, title).
pub const STEPS: &[(&str, &str)] = &[
    ("hostname", "Host name"),
    ("domains", "Managed domains"),
    ("administrator", "First administrator"),
    ("placement", "Placement"),
    ("mail-server", "Mail server"),
    ("organization-key", "Organization Key"),
    ("learn-mode", "Learn Mode"),
];

/// Refuses everything once setup is done, and everything but the code page to a browser that
/// has not entered the code.
pub(super) async fn guard(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    if !session::setup_pending(state).await.unwrap_or(false) {
        return Err(Redirect::to("/login").into_response());
    }
    if !state.setup.browser_ok(headers) {
        return Err(Redirect::to("/setup").into_response());
    }
    Ok(())
}

fn code_form(error: Option<&str>) -> Markup {
    bare_page(
        "Set up this server",
        html! {
            p { "This server is not set up yet. Enter the setup code it printed on its console and in its log when it started (it is also in the file "
                code { "setup-code" } " in its data directory)." }
            form method="post" action="/setup" {
                label for="code" { "Setup code" }
                input #code type="text" name="code" autocomplete="off" autofocus placeholder="XXXX-XXXX-XXXX"
                    aria-invalid=[error.map(|_| "true")];
                @if let Some(e) = error { p.field-error role="alert" { (e) } }
                div.buttons { button type="submit" { "Continue" } }
            }
        },
    )
}

async fn start(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !session::setup_pending(&s).await.unwrap_or(false) {
        return Redirect::to("/login").into_response();
    }
    if s.setup.browser_ok(&headers) {
        return Redirect::to("/setup/choose").into_response();
    }
    code_form(None).into_response()
}

async fn enter_code(
    State(s): State<AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !session::setup_pending(&s).await.unwrap_or(false) {
        return Redirect::to("/login").into_response();
    }
    let posted = normalize_code(form.get("code").map(String::as_str).unwrap_or(""));
    let mut gate = s.setup.lock();
    let right = gate
        .code
        .as_deref()
        .is_some_and(|c| constant_time_eq(normalize_code(c).as_bytes(), posted.as_bytes()));
    if !right {
        gate.wrong += 1;
        tracing::warn!(target: "signet::setup", "a wrong setup code was entered");
        if gate.wrong >= MAX_WRONG_CODES {
            s.setup.issue(&mut gate);
        }
        drop(gate);
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            code_form(Some("That is not the setup code.")),
        )
            .into_response();
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    gate.browser = Some(token.clone());
    drop(gate);
    let cookie = format!("{SETUP_COOKIE}={token}; Path=/setup; Secure; HttpOnly; SameSite=Strict");
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
        )],
        Redirect::to("/setup/choose"),
    )
        .into_response()
}

async fn choose(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    bare_page(
        "Set up this server",
        html! {
            p { "What should this server be?" }
            ul.choices {
                li { a.choice href="/setup/new/hostname" { strong { "New server" } " — the first member of a new cluster." } }
                li { a.choice href="/setup/join" { strong { "Join a cluster" } " — another member of an existing cluster." } }
                li { a.choice href="/setup/restore" { strong { "Restore from a backup" } " — a replacement for a lost server." } }
            }
        },
    )
    .into_response()
}

type Errors = HashMap<&'static str, String>;

fn field_error(errors: &Errors, name: &str) -> Markup {
    html! { @if let Some(e) = errors.get(name) { p.field-error role="alert" id=(format!("{name}-error")) { (e) } } }
}

fn text_field(
    label: &str,
    name: &'static str,
    value: &str,
    kind: &str,
    hint: Option<&str>,
    errors: &Errors,
) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value) autocomplete="off"
                aria-invalid=[errors.get(name).map(|_| "true")];
            @if let Some(h) = hint { p.hint { (h) } }
            (field_error(errors, name))
        }
    }
}

fn step_index(step: &str) -> Option<usize> {
    STEPS.iter().position(|(slug, _)| *slug == step)
}

fn step_page(step: usize, draft: &Draft, errors: &Errors) -> Markup {
    let (slug, title) = STEPS[step];
    let fields = match slug {
        "hostname" => text_field(
            "Host name",
            "hostname",
            &draft.hostname,
            "text",
            Some(
                "The name other mail servers reach this server by. Name it keys.<your domain> (for example keys.example.com): other PGP servers look for keys there.",
            ),
            errors,
        ),
        "domains" => text_field(
            "Managed domains",
            "domains",
            &draft.domains,
            "text",
            Some(
                "The mail domains this server protects, separated by commas (for example example.com, example.org).",
            ),
            errors,
        ),
        "administrator" => html! {
            (text_field("Login name", "login", &draft.login, "text", None, errors))
            (text_field("Passphrase", "passphrase", "", "password", Some("At least 8 characters; the administration settings may ask for more."), errors))
            (text_field("Passphrase again", "passphrase2", "", "password", None, errors))
            (text_field("Email (optional)", "email", &draft.email, "email", None, errors))
        },
        "placement" => html! {
            fieldset.field {
                legend { "Where does this server sit in the mail path?" }
                label { input type="radio" name="placement" value="gateway" checked[draft.placement != "internal"]; " Gateway: between the internet and your mail server (MX records point here)." }
                label { input type="radio" name="placement" value="internal" checked[draft.placement == "internal"]; " Internal: between your mail server and the internet relay (your mail server sends through it)." }
                (field_error(errors, "placement"))
            }
        },
        "mail-server" => text_field(
            "Mail server",
            "mail_server",
            &draft.mail_server,
            "text",
            Some(
                "Where this server delivers mail after processing it (the next hop): host name or address, optionally :port.",
            ),
            errors,
        ),
        "organization-key" => html! {
            fieldset.field {
                legend { "The Organization Key signs your users' keys and opens backups." }
                label { input type="radio" name="org_key_mode" value="generate" checked[draft.org_key_mode != "import"]; " Generate a new key (Ed25519/Cv25519)" }
                label { input type="radio" name="org_key_mode" value="import" checked[draft.org_key_mode == "import"]; " Import a key (armored private key)" }
            }
            div.field {
                label for="org_key" { "Key to import" }
                textarea id="org_key" name="org_key" rows="6" aria-invalid=[errors.get("org_key").map(|_| "true")] { (draft.org_key) }
                (field_error(errors, "org_key"))
            }
            (text_field("Its passphrase (if any)", "org_key_passphrase", "", "password", None, errors))
        },
        _ => html! {
            p { "Learn Mode runs every message through the mail policy and logs what it would do, but sends mail on unchanged. Leave it on until the logs show the policy does what you want." }
            div.field { label { input type="checkbox" name="learn_mode" value="on" checked[!draft.learn_mode_off]; " Turn Learn Mode on" } }
        },
    };
    let last = step + 1 == STEPS.len();
    bare_page(
        &format!("New server: {title}"),
        html! {
            ol.steps { @for (i, (_, t)) in STEPS.iter().enumerate() { li class=[(i == step).then_some("current")] { (t) } } }
            @if let Some(e) = errors.get("form") { p.flash.error role="alert" { (e) } }
            form method="post" action=(format!("/setup/new/{slug}")) novalidate {
                (fields)
                div.buttons {
                    button type="submit" name="go" value="back" formnovalidate { "Back" }
                    button.primary type="submit" name="go" value="next" { @if last { "Finish" } @else { "Next" } }
                }
            }
        },
    )
}

async fn new_step(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(step): Path<String>,
) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    let Some(i) = step_index(&step) else {
        return Redirect::to("/setup/new/hostname").into_response();
    };
    let draft = s.setup.lock().draft.clone();
    step_page(i, &draft, &Errors::new()).into_response()
}

fn valid_host(raw: &str) -> Result<String, String> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.is_empty() {
        return Err("Give a host name.".into());
    }
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{raw:?} is not a host name (letters, digits, hyphens and dots)."
        ));
    }
    Ok(host)
}

/// Checks one step's form and stores it in the draft; returns the errors by field.
fn apply_step(slug: &str, form: &HashMap<String, String>, draft: &mut Draft) -> Errors {
    let get = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Errors::new();
    match slug {
        "hostname" => match valid_host(&get("hostname")) {
            Ok(h) => draft.hostname = h,
            Err(e) => {
                draft.hostname = get("hostname");
                errors.insert("hostname", e);
            }
        },
        "domains" => {
            draft.domains = get("domains");
            let names: Vec<&str> = draft
                .domains
                .split([',', ' ', ';'])
                .filter(|d| !d.is_empty())
                .collect();
            if names.is_empty() {
                errors.insert("domains", "Give at least one managed domain.".into());
            }
            let mut normal = Vec::new();
            for n in names {
                match ManagedDomain::normalize_name(n) {
                    Ok(d) => normal.push(d),
                    Err(e) => {
                        errors.insert("domains", e.to_string());
                    }
                }
            }
            if !errors.contains_key("domains") {
                draft.domains = normal.join(", ");
            }
        }
        "administrator" => {
            draft.login = get("login");
            draft.email = get("email");
            let login_ok = !draft.login.is_empty()
                && draft.login.len() <= 64
                && draft
                    .login
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            if !login_ok {
                errors.insert(
                    "login",
                    "A login name: 1 to 64 letters, digits, dots, hyphens or underscores.".into(),
                );
            }
            let pass = form.get("passphrase").cloned().unwrap_or_default();
            if pass.chars().count() < 8 {
                errors.insert(
                    "passphrase",
                    "The passphrase needs at least 8 characters.".into(),
                );
            } else if form.get("passphrase2") != Some(&pass) {
                errors.insert("passphrase2", "The two passphrases differ.".into());
            } else {
                draft.passphrase = pass;
            }
            if !draft.email.is_empty()
                && let Err(e) = EmailAddress::parse(&draft.email)
            {
                errors.insert("email", e.to_string());
            }
        }
        "placement" => {
            let p = get("placement");
            if p == "gateway" || p == "internal" {
                draft.placement = p;
            } else {
                errors.insert("placement", "Choose gateway or internal.".into());
            }
        }
        "mail-server" => {
            draft.mail_server = get("mail_server");
            let (host, port) = match draft.mail_server.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (draft.mail_server.clone(), None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host_ok = host.parse::<std::net::IpAddr>().is_ok() || valid_host(host).is_ok();
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
            if draft.mail_server.is_empty() {
                errors.insert(
                    "mail_server",
                    "Give the mail server this server delivers to.".into(),
                );
            } else if !host_ok || !port_ok {
                errors.insert(
                    "mail_server",
                    format!("{:?} is not host or host:port.", draft.mail_server),
                );
            }
        }
        "organization-key" => {
            draft.org_key_mode = get("org_key_mode");
            draft.org_key = get("org_key");
            draft.org_key_passphrase = form.get("org_key_passphrase").cloned().unwrap_or_default();
            if draft.org_key_mode == "import"
                && !draft.org_key.contains("BEGIN PGP PRIVATE KEY BLOCK")
            {
                errors.insert(
                    "org_key",
                    "Paste the armored private key (-----BEGIN PGP PRIVATE KEY BLOCK-----).".into(),
                );
            }
        }
        _ => draft.learn_mode_off = form.get("learn_mode").is_none_or(|v| v != "on"),
    }
    errors
}

async fn save_step(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(step): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = guard(&s, &headers).await {
        return r;
    }
    let Some(i) = step_index(&step) else {
        return Redirect::to("/setup/new/hostname").into_response();
    };
    let back = form.get("go").is_some_and(|g| g == "back");
    let mut draft = s.setup.lock().draft.clone();
    let errors = apply_step(STEPS[i].0, &form, &mut draft);
    s.setup.lock().draft = draft.clone();
    if back {
        return Redirect::to(&if i == 0 {
            "/setup/choose".to_string()
        } else {
            format!("/setup/new/{}", STEPS[i - 1].0)
        })
        .into_response();
    }
    if !errors.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            step_page(i, &draft, &errors),
        )
            .into_response();
    }
    // Every earlier step must have been answered (a browser may skip ahead by URL).
    for (j, (slug, _)) in STEPS.iter().enumerate().take(i) {
        let mut probe = draft.clone();
        let answered = match *slug {
            "administrator" => !draft.passphrase.is_empty(),
            _ => apply_step(slug, &draft_as_form(&draft), &mut probe).is_empty(),
        };
        if !answered {
            return Redirect::to(&format!("/setup/new/{}", STEPS[j].0)).into_response();
        }
    }
    if i + 1 < STEPS.len() {
        return Redirect::to(&format!("/setup/new/{}", STEPS[i + 1].0)).into_response();
    }
    finish(&s, draft).await
}

fn draft_as_form(d: &Draft) -> HashMap<String, String> {
    [
        ("hostname", &d.hostname),
        ("domains", &d.domains),
        ("placement", &d.placement),
        ("mail_server", &d.mail_server),
        ("org_key_mode", &d.org_key_mode),
        ("org_key", &d.org_key),
        ("org_key_passphrase", &d.org_key_passphrase),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect()
}

/// Makes the first administrator, signs in as it, and sets the server up through the API.
async fn finish(s: &AppState, draft: Draft) -> Response {
    let email = Some(draft.email.as_str()).filter(|e| !e.is_empty());
    if let Err(problem) =
        session::create_first_administrator(s, &draft.login, &draft.passphrase, email).await
    {
        let mut errors = Errors::new();
        errors.insert("passphrase", problem.detail.clone());
        let i = step_index("administrator").unwrap_or(2);
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            step_page(i, &draft, &errors),
        )
            .into_response();
    }
    s.setup.finish();
    let session = s.sessions.start(&draft.login, false);
    let domains: Vec<&str> = draft
        .domains
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let org_key = if draft.org_key_mode == "import" {
        json!({ "key": draft.org_key, "passphrase": Some(draft.org_key_passphrase.as_str()).filter(|p| !p.is_empty()) })
    } else {
        json!({ "generate": true })
    };
    let mut problems = Vec::new();
    let body = json!({ "domains": domains, "organization_key": org_key });
    if let Err(p) = api_call(s, &session, Method::POST, "/api/v1/setup", Some(&body)).await {
        problems.push(format!("Organization setup: {}", p.detail));
    }
    let learn = json!({ "learn_mode": !draft.learn_mode_off });
    if let Err(p) = api_call(
        s,
        &session,
        Method::PUT,
        "/api/v1/settings/learn-mode",
        Some(&learn),
    )
    .await
    {
        problems.push(format!("Learn Mode: {}", p.detail));
    }
    problems.extend(super::setup_mail::apply_mail(s, &session, &draft).await);
    tracing::info!(
        target: "signet::setup",
        hostname = %draft.hostname,
        placement = %draft.placement,
        mail_server = %draft.mail_server,
        domains = %draft.domains,
        administrator = %draft.login,
        learn_mode = !draft.learn_mode_off,
        "setup assistant finished"
    );
    let to = if problems.is_empty() {
        "/overview".to_string()
    } else {
        tracing::error!(target: "signet::setup", problems = ?problems, "setup finished with problems");
        "/overview?setup=problems".to_string()
    };
    // AppendHeaders: both cookies must be sent (a plain array would keep only the last).
    (
        axum::response::AppendHeaders([
            (header::SET_COOKIE, session::cookie_header(&session)),
            (
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "signet_setup=; Path=/setup; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
                ),
            ),
        ]),
        Redirect::to(&to),
    )
        .into_response()
}
