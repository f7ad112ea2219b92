//! End-to-end tests for administrators (spec ADM-1..ADM-8) against a real `signetd` over HTTPS:
//! the role matrix on every operation of the OpenAPI document, self-protection and the last
//! SuperUser, login with CAPTCHA and lockout, passphrase rules, forced change, CSRF, idle
//! timeout and the audit log.
//!
//! Build the binaries first: `cargo build --bins`.

mod admin_support;
mod common;

use std::thread::sleep;
use std::time::Duration;

use serde_json::{Value, json};

use admin_support::*;

const ROLES: [&str; 6] = [
    "read-only",
    "wdrt-only",
    "service-control",
    "basic",
    "full",
    "super-user",
];

/// The guide's permission table (spec ADM-2), written out independently of the product's code.
fn role_has(role: &str, permission: &str) -> bool {
    let allowed: &[&str] = match permission {
        "view-settings" => &ROLES,
        "read-recovery-tokens" => &["wdrt-only", "basic", "full", "super-user"],
        "control-services" => &["service-control", "basic", "full", "super-user"],
        "configure-system" | "manage-users" => &["basic", "full", "super-user"],
        "add-users" | "configure-clustering" | "export-private-keys" => &["full", "super-user"],
        "manage-administrators" => &["super-user"],
        other => panic!("unknown permission {other}"),
    };
    allowed.contains(&role)
}

/// For every operation in openapi.json, every role gets 403 exactly when it lacks the
/// operation's permission.
#[test]
fn every_route_enforces_the_role_table() {
    let (node, root) = node_with_root("roles");
    let mut tokens = Vec::new();
    for role in ROLES {
        let login = format!("role-{role}");
        add_admin(&node, &root, &login, role, GOOD);
        let t = ok(
            &node,
            "POST",
            &format!("/api/v1/administrators/{login}/tokens"),
            &root,
            Some(&json!({ "label": "matrix" })),
        );
        tokens.push((role, Auth::token(t["token"].as_str().expect("token"))));
    }
    let doc = ok(&node, "GET", "/api/v1/openapi.json", &Auth::none(), None);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let Some(permission) = op["x-signet-permission"].as_str() else {
                // Open routes (login, this document): no role gets 403.
                for (role, auth) in &tokens {
                    let r = call(&node, &method.to_uppercase(), path, auth, None);
                    assert_ne!(r.status, 403, "{role}: {method} {path}: {}", r.body);
                }
                continue;
            };
            let permission = permission.split(' ').next().unwrap_or("");
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "nonexistent"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let body = (method != "get").then(|| json!({}));
            for (role, auth) in &tokens {
                let r = call(
                    &node,
                    &method.to_uppercase(),
                    &concrete,
                    auth,
                    body.as_ref(),
                );
                let expect_forbidden = !role_has(role, permission);
                assert_eq!(
                    r.status == 403,
                    expect_forbidden,
                    "{role} on {} {path} (needs {permission}): HTTP {} {}",
                    method.to_uppercase(),
                    r.status,
                    r.body
                );
                checked += 1;
            }
        }
    }
    assert!(
        operations > 60,
        "only {operations} operations in openapi.json"
    );
    assert!(checked > 60 * 6 - 30, "only {checked} checks");
    // Without credentials every protected route answers 401.
    let r = call(&node, "GET", "/api/v1/domains", &Auth::none(), None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.headers
            .to_lowercase()
            .contains("application/problem+json"),
        "{}",
        r.headers
    );
}

/// Nobody deletes themselves or changes their own role; the last SuperUser with a passphrase
/// stays.
#[test]
fn self_protection_and_the_last_superuser() {
    let (node, root) = node_with_root("self");
    let r = call(&node, "DELETE", "/api/v1/administrators/root", &root, None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("yourself"), "{}", r.body);
    let r = call(
        &node,
        "PUT",
        "/api/v1/administrators/root",
        &root,
        Some(&json!({ "role": "full" })),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("own role"), "{}", r.body);
    // The bootstrap `admin` (a SuperUser with only a token) cannot remove or demote root either.
    let boot = Auth::token(&cli_token(&node));
    let r = call(&node, "DELETE", "/api/v1/administrators/root", &boot, None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.detail().contains("last SuperUser"), "{}", r.body);
    let r = call(
        &node,
        "PUT",
        "/api/v1/administrators/root",
        &boot,
        Some(&json!({ "role": "basic" })),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    // With a second one, root may go.
    add_admin(&node, &root, "second", "super-user", GOOD);
    ok(
        &node,
        "PUT",
        "/api/v1/administrators/root",
        &boot,
        Some(&json!({ "role": "full" })),
    );
    let list = ok(&node, "GET", "/api/v1/administrators", &boot, None);
    let root_view = list
        .as_array()
        .and_then(|a| a.iter().find(|a| a["login"] == "root"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(root_view["role"], "full", "{list}");
    assert!(root_view.get("passphrase").is_none() && !list.to_string().contains("argon2"));
    // Root's session now has the Full role's rights: no more administrator management.
    let r = call(&node, "GET", "/api/v1/administrators", &root, None);
    assert_eq!(r.status, 403, "{}", r.body);
}

/// Three wrong passphrases: the next attempt needs a CAPTCHA, even with the right passphrase.
/// With a lockout threshold the right passphrase is refused until a SuperUser unlocks.
#[test]
fn captcha_then_lockout_and_unlock() {
    let (node, root) = node_with_root("login");
    add_admin(&node, &root, "ann", "basic", GOOD);
    let (wrong_name, _) = login(&node, "nobody", "Wrong#pass1");
    for i in 1..=3 {
        let (r, auth) = login(&node, "ann", "Wrong#pass1");
        assert!(auth.is_none());
        assert_eq!(r.status, 401);
        assert_eq!(
            r.detail(),
            wrong_name.detail(),
            "the same answer for a wrong login"
        );
        assert_eq!(
            r.body["captcha_svg"].is_string(),
            i == 3,
            "attempt {i}: {}",
            r.body
        );
    }
    let (r, auth) = login(&node, "ann", GOOD);
    assert!(
        auth.is_none(),
        "the right passphrase without the CAPTCHA must fail"
    );
    assert!(r.detail().contains("image"), "{}", r.body);
    let svg = r.body["captcha_svg"].as_str().expect("a CAPTCHA image");
    assert!(svg.starts_with("<svg") && !svg.contains("<text"));
    let (r, auth) = login_with(
        &node,
        &json!({ "login": "ann", "passphrase": GOOD,
                 "captcha_id": r.body["captcha_id"], "captcha_answer": "WRONG1" }),
    );
    assert!(auth.is_none(), "a wrong CAPTCHA answer fails: {}", r.body);

    // Unlock clears the count: no CAPTCHA any more.
    ok(
        &node,
        "POST",
        "/api/v1/administrators/ann/unlock",
        &root,
        Some(&json!({})),
    );
    session(&node, "ann", GOOD);

    // Lockout: threshold 3, CAPTCHA only after 10.
    ok(
        &node,
        "PUT",
        "/api/v1/settings/administration",
        &root,
        Some(&json!({ "lockout_threshold": 3, "lockout_hours": 1, "captcha_threshold": 10 })),
    );
    for _ in 0..3 {
        let (_, auth) = login(&node, "ann", "Wrong#pass1");
        assert!(auth.is_none());
    }
    let (r, auth) = login(&node, "ann", GOOD);
    assert!(auth.is_none(), "locked: the right passphrase is refused");
    assert!(r.detail().contains("locked"), "{}", r.body);
    let list = ok(&node, "GET", "/api/v1/administrators/ann", &root, None);
    assert_eq!(list["locked"], true, "{list}");
    ok(
        &node,
        "POST",
        "/api/v1/administrators/ann/unlock",
        &root,
        Some(&json!({})),
    );
    session(&node, "ann", GOOD);
}

/// Length, character classes, history and minimum age, each refused with its rule named;
/// a temporary passphrase must be changed before anything else.
#[test]
fn passphrase_rules_and_forced_change() {
    let (node, root) = node_with_root("rules");
    let add = |login: &str, p: &str| {
        call(
            &node,
            "POST",
            "/api/v1/administrators",
            &root,
            Some(&json!({ "login": login, "role": "read-only", "passphrase": p })),
        )
    };
    let r = add("bob", "Abcdefg1");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.detail().contains("character class"), "{}", r.body);
    let r = add("bob", "Ab1!");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.detail().contains("minimum length"), "{}", r.body);
    // A SuperUser's passphrase for someone else is temporary by default.
    let r = add("bob", "Temp#Pass99");
    assert_eq!(r.status, 200, "{}", r.body);

    let (r, bob) = login(&node, "bob", "Temp#Pass99");
    let bob = bob.expect("bob logs in");
    assert_eq!(r.body["must_change_passphrase"], true, "{}", r.body);
    let r = call(&node, "GET", "/api/v1/domains", &bob, None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("change it first"), "{}", r.body);
    assert_eq!(
        call(&node, "GET", "/api/v1/session", &bob, None).status,
        200
    );
    let change = |auth: &Auth, current: &str, new: &str| {
        call(
            &node,
            "PUT",
            "/api/v1/administrators/bob/passphrase",
            auth,
            Some(&json!({ "current": current, "new": new })),
        )
    };
    let r = change(&bob, "wrong", "Bob#Second22");
    assert_eq!(r.status, 403, "{}", r.body);
    let r = change(&bob, "Temp#Pass99", "Bob#Second22");
    assert_eq!(r.status, 200, "{}", r.body);
    ok(&node, "GET", "/api/v1/domains", &bob, None);

    // Minimum age (1 day by default): a second change the same day is refused.
    let r = change(&bob, "Bob#Second22", "Bob#Third333");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.detail().contains("minimum age"), "{}", r.body);
    // History: with the minimum age off, the last passphrases cannot come back.
    ok(
        &node,
        "PUT",
        "/api/v1/settings/administration",
        &root,
        Some(&json!({ "min_age_days": 0 })),
    );
    let r = change(&bob, "Bob#Second22", "Temp#Pass99");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.detail().contains("history"), "{}", r.body);
    ok(
        &node,
        "PUT",
        "/api/v1/administrators/bob/passphrase",
        &bob,
        Some(&json!({ "current": "Bob#Second22", "new": "Bob#Third333" })),
    );
    // Settings out of range name the field.
    let r = call(
        &node,
        "PUT",
        "/api/v1/settings/administration",
        &root,
        Some(&json!({ "min_length": 4 })),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.detail().contains("min_length"), "{}", r.body);
    // A SuperUser's reset makes it temporary again and ends bob's sessions.
    ok(
        &node,
        "PUT",
        "/api/v1/administrators/bob/passphrase",
        &root,
        Some(&json!({ "new": "Reset#Pass44" })),
    );
    assert_eq!(
        call(&node, "GET", "/api/v1/session", &bob, None).status,
        401
    );
    let (r, _) = login(&node, "bob", "Reset#Pass44");
    assert_eq!(r.body["must_change_passphrase"], true, "{}", r.body);
}

/// A cookie-authenticated change needs the session's CSRF token; the audit log records the
/// changes with the administrator's login.
#[test]
fn csrf_and_audit_log() {
    let (node, root) = node_with_root("csrf");
    let add = |auth: &Auth, name: &str| {
        call(
            &node,
            "POST",
            "/api/v1/domains",
            auth,
            Some(&json!({ "name": name })),
        )
    };
    let r = add(&root.without_csrf(), "nocsrf.example");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("CSRF"), "{}", r.body);
    let r = add(&root.with_csrf("0123456789abcdef"), "wrongcsrf.example");
    assert_eq!(r.status, 403, "{}", r.body);
    let domains = ok(&node, "GET", "/api/v1/domains", &root, None);
    assert_eq!(domains, json!([]), "nothing changed");
    let r = add(&root, "csrf.example");
    assert_eq!(r.status, 200, "{}", r.body);

    let audit = ok(&node, "GET", "/api/v1/audit?limit=50", &root, None);
    let entries = audit.as_array().expect("entries");
    let added = entries
        .iter()
        .find(|e| e["path"] == "/api/v1/domains" && e["method"] == "POST")
        .unwrap_or_else(|| panic!("no audit entry for the domain: {audit}"));
    assert_eq!(added["login"], "root");
    assert_eq!(added["status"], 200);
    assert!(
        added["summary"]
            .as_str()
            .unwrap_or("")
            .contains("csrf.example")
    );
    let made = entries
        .iter()
        .find(|e| e["path"] == "/api/v1/administrators")
        .unwrap_or_else(|| panic!("no audit entry for root's creation: {audit}"));
    assert_eq!(made["login"], "admin");
    assert!(
        made["summary"]
            .as_str()
            .unwrap_or("")
            .contains("passphrase=***")
    );
    assert!(
        !audit.to_string().contains(GOOD),
        "a passphrase reached the audit log"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e["path"] == "/api/v1/domains" && e["status"] == 403),
        "refused requests are not changes"
    );
    // The CLI reads it too.
    let out = node.cli_ok(&["audit", "--limit", "5"]);
    assert!(out.contains("/api/v1/domains"), "{out}");
}

/// A session idle longer than the setting ends (1 minute, the shortest allowed).
#[test]
fn idle_sessions_end() {
    let (node, root) = node_with_root("idle");
    ok(
        &node,
        "PUT",
        "/api/v1/settings/administration",
        &root,
        Some(&json!({ "idle_timeout_minutes": 1 })),
    );
    let active = session(&node, "root", GOOD);
    let idle = session(&node, "root", GOOD);
    for _ in 0..4 {
        sleep(Duration::from_secs(20));
        ok(&node, "GET", "/api/v1/session", &active, None);
    }
    let r = call(&node, "GET", "/api/v1/session", &idle, None);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = call(&node, "GET", "/api/v1/domains", &idle, None);
    assert_eq!(r.status, 401, "{}", r.body);
    ok(&node, "GET", "/api/v1/domains", &active, None);
    // Logging out ends the session.
    ok(&node, "DELETE", "/api/v1/session", &active, None);
    assert_eq!(
        call(&node, "GET", "/api/v1/session", &active, None).status,
        401
    );
}

/// `signet admin` reads passphrases from standard input, never from argv.
#[test]
fn cli_manages_administrators() {
    let (node, root) = node_with_root("cli");
    let (done, out, err) = cli_with_stdin(
        &node,
        &[
            "admin",
            "add",
            "carol",
            "--role",
            "basic",
            "--with-passphrase",
        ],
        "Carol#Temp11\n",
    );
    assert!(done, "{out}{err}");
    let (r, _) = login(&node, "carol", "Carol#Temp11");
    assert_eq!(r.body["must_change_passphrase"], true, "{}", r.body);
    let (done, out, err) = cli_with_stdin(
        &node,
        &[
            "admin",
            "add",
            "dave",
            "--role",
            "full",
            "--with-passphrase",
        ],
        "short\n",
    );
    assert!(!done && err.contains("minimum length"), "{out}{err}");

    let list = node.cli_ok_json(&["admin", "list"]);
    let roles: Vec<(String, String)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["login"].as_str().unwrap_or("").to_string(),
                a["role"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(roles.contains(&("carol".into(), "basic".into())), "{list}");
    node.cli_ok(&["admin", "set-role", "carol", "full"]);
    node.cli_ok(&[
        "admin",
        "settings",
        "set",
        "lockout_threshold=5",
        "aging=false",
    ]);
    let s = node.cli_ok_json(&["admin", "settings", "show"]);
    assert_eq!(
        (s["lockout_threshold"].as_u64(), s["aging"].as_bool()),
        (Some(5), Some(false))
    );
    let out = node.cli(&["admin", "settings", "set", "lockout_hours=0"]);
    assert!(!out.status.success());
    node.cli_ok(&["admin", "remove", "carol"]);
    let r = call(&node, "GET", "/api/v1/administrators/carol", &root, None);
    assert_eq!(r.status, 404, "{}", r.body);
}
