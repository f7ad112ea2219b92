//! Browser tests of the admin UI's frame: the setup assistant from a blank node to Learn Mode
//! on, login errors and the CAPTCHA, and the Logs page finding a message swaks sent through
//! the node's SMTP proxy. Each test starts real signetd processes and drives Debian's chromium
//! with the node scripts in `tests/browser/` (screenshots in $SIGNET_SCREENSHOTS, default
//! /tmp/signet-screenshots).
//!
//! Build the binaries first (`cargo build --bins`) and install the browser
//! (`scripts/install-peers.sh`); without chromium these tests are skipped outside CI.

mod common;
mod keys_support;
mod mail_support;
mod ui_support;

use std::time::Duration;

use common::{Node, free_port, issue_token, serial, wait_until};
use keys_support::setup;
use mail_support::{Sink, gateway_config, send_ok};
use serde_json::json;
use ui_support::{run_browser_script, skip_without_browser};

const PASSPHRASE: &str = "Tr0ub4dor&3-horse";

fn url(node: &Node) -> String {
    format!("https://127.0.0.1:{}", node.admin_port)
}

/// Gives `login` a SuperUser console passphrase through the API (bearer token from cli.json).
fn add_console_admin(node: &Node, login: &str) {
    node.api_json(
        "POST",
        "/api/v1/administrators",
        Some(&json!({
            "login": login,
            "role": "super-user",
            "passphrase": PASSPHRASE,
            "temporary": false,
        })),
    );
}

#[test]
fn setup_assistant_takes_a_blank_node_to_learn_mode() {
    if skip_without_browser("setup_assistant.mjs") {
        return;
    }
    let _serial = serial();
    let sink = Sink::start();
    let smtp = free_port();
    // Like the appliance's first boot: a placeholder Inbound proxy greets on the assistant's
    // address before setup; the assistant replaces it with the proxy the placement needs.
    let node = Node::spawn(
        "setup",
        Some(&format!(
            "[mail]\nsetup_listen = \"127.0.0.1:{smtp}\"\n\n\
             [[mail.proxy]]\nkind = \"inbound\"\nlisten = \"127.0.0.1:{smtp}\"\n"
        )),
    );
    let code_file = node.data_dir().join("setup-code");
    let code = wait_until(Duration::from_secs(10), "the setup code file", || {
        std::fs::read_to_string(&code_file).map_err(|e| e.to_string())
    });
    let mode = std::fs::metadata(&code_file).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    assert_eq!(mode.ok(), Some(0o600), "setup-code must be private");
    assert!(
        node.log().contains(code.trim()),
        "the node prints the setup code in its log"
    );

    run_browser_script(
        "setup_assistant.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_SETUP_CODE", code.trim()),
            ("SIGNET_DOMAIN", "example.com"),
            ("SIGNET_LOGIN", "alice"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_MAIL_SERVER", &format!("127.0.0.1:{}", sink.port)),
        ],
    );

    // The assistant made one Unified proxy: its inbound mail server is the one given, its
    // Designated Source IPs hold that server's address. Mail from another address is inbound
    // and reaches the mail server (smtp-sink).
    let proxies = node.api_json("GET", "/api/v1/mail/proxies", None);
    assert_eq!(proxies.as_array().map(Vec::len), Some(1), "{proxies}");
    assert_eq!(proxies[0]["kind"], "unified", "{proxies}");
    assert_eq!(
        proxies[0]["designated_source_ips"],
        json!(["127.0.0.1"]),
        "{proxies}"
    );
    assert_eq!(proxies[0]["connectors"][0]["port"], smtp, "{proxies}");
    let settings = node.api_json("GET", "/api/v1/mail/settings", None);
    assert_eq!(
        settings["inbound_mail_server"]["port"], sink.port,
        "{settings}"
    );
    assert_eq!(settings["hostname"], "keys.example.com", "{settings}");
    let server = format!("127.0.0.1:{smtp}");
    let out = mail_support::swaks(&[
        "--server",
        &server,
        "--local-interface",
        "127.0.0.2",
        "--from",
        "partner@ext.test",
        "--to",
        "alice@example.com",
        "--header",
        "Subject: through the setup proxy",
    ]);
    assert!(out.status.success(), "{}", common::describe(&out));
    sink.wait_for("the message through the assistant's proxy", |m| {
        m.contains("Subject: through the setup proxy")
    });

    // What the browser saw is what the API holds; the code file is gone.
    let state = node.api_json("GET", "/api/v1/setup", None);
    assert_eq!(state["learn_mode"], json!(true), "{state}");
    assert_eq!(state["managed_domains"], json!(["example.com"]), "{state}");
    assert_eq!(state["done"], json!(true), "{state}");
    assert!(!code_file.exists(), "the setup code is removed after setup");
}

#[test]
fn login_errors_are_shown_by_the_form_and_a_captcha_follows_three_failures() {
    if skip_without_browser("login_errors.mjs") {
        return;
    }
    let _serial = serial();
    let node = Node::spawn("login", None);
    add_console_admin(&node, "carol");
    run_browser_script(
        "login_errors.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_LOGIN", "carol"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
        ],
    );
}

#[test]
fn the_logs_page_finds_a_message_sent_through_the_smtp_proxy() {
    if skip_without_browser("logs_search.mjs") {
        return;
    }
    let _serial = serial();
    let sink = Sink::start();
    let outbound = free_port();
    let node = Node::spawn(
        "logs",
        Some(&gateway_config(outbound, free_port(), sink.port, "")),
    );
    setup(&node, &["example.com"]);
    add_console_admin(&node, "dave");
    let message_id = format!("<ui-logs-{}@example.com>", std::process::id());
    send_ok(
        outbound,
        &[
            "--from",
            "sender.for.logs@example.com",
            "--to",
            "someone@ext.test",
            "--header",
            &format!("Message-Id: {message_id}"),
            "--header",
            "Subject: log search",
        ],
    );
    sink.wait_for("the message at the next hop", |m| m.contains("log search"));
    run_browser_script(
        "logs_search.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_LOGIN", "dave"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_SENDER", "sender.for.logs@example.com"),
            ("SIGNET_MESSAGE_ID", &message_id),
        ],
    );
}

#[test]
fn system_pages_work_for_a_super_user_and_are_read_only_for_lower_roles() {
    if skip_without_browser("system_pages.mjs") {
        return;
    }
    let _serial = serial();
    let node = Node::spawn("system", None);
    setup(&node, &["example.com"]);
    add_console_admin(&node, "erin");
    run_browser_script(
        "system_pages.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_LOGIN", "erin"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
        ],
    );
    // The administrator the form added is in the API, with its own passphrase now.
    let admins = node.api_json("GET", "/api/v1/administrators", None);
    let rita = admins
        .as_array()
        .and_then(|a| a.iter().find(|x| x["login"] == "rita"))
        .unwrap_or_else(|| panic!("rita missing: {admins}"));
    assert_eq!(rita["role"], "read-only");
    assert_eq!(rita["temporary_passphrase"], false, "{rita}");
}

#[test]
fn the_setup_assistant_joins_a_blank_node_to_a_cluster() {
    if skip_without_browser("setup_join.mjs") {
        return;
    }
    let _serial = serial();
    let sponsor = Node::spawn("sponsor", None);
    let joiner = Node::spawn("joiner", None);
    let code = std::fs::read_to_string(joiner.data_dir().join("setup-code"))
        .expect("the blank joiner has a setup code");
    let token = issue_token(&sponsor);
    run_browser_script(
        "setup_join.mjs",
        &[
            ("SIGNET_URL", &url(&joiner)),
            ("SIGNET_SETUP_CODE", code.trim()),
            ("SIGNET_JOIN_TOKEN", &token),
        ],
    );
    sponsor.wait_voters(2);
}

#[test]
fn the_setup_assistant_restores_a_backup_on_a_blank_node() {
    if skip_without_browser("setup_restore.mjs") {
        return;
    }
    let _serial = serial();
    let old = Node::spawn("old", None);
    setup(&old, &["restored.example"]);
    add_console_admin(&old, "frank");
    let made = old.cli_ok_json(&["backup", "create"]);
    // The old node's directory goes with it: keep the backup elsewhere.
    let dir = tempfile::tempdir().expect("tempdir");
    let backup = dir.path().join("backup.pgp");
    std::fs::copy(made["file"].as_str().expect("backup file"), &backup).expect("copy the backup");
    let backup = backup.to_str().expect("utf-8 path").to_string();
    let org = dir.path().join("org.asc");
    old.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        org.to_str().expect("utf-8 path"),
    ]);
    drop(old);

    let blank = Node::spawn("blank", None);
    let code = std::fs::read_to_string(blank.data_dir().join("setup-code"))
        .expect("the blank node has a setup code");
    run_browser_script(
        "setup_restore.mjs",
        &[
            ("SIGNET_URL", &url(&blank)),
            ("SIGNET_SETUP_CODE", code.trim()),
            ("SIGNET_BACKUP_FILE", &backup),
            ("SIGNET_ORG_KEY_FILE", org.to_str().expect("utf-8 path")),
            ("SIGNET_LOGIN", "frank"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_DOMAIN", "restored.example"),
        ],
    );
}

/// The admin certificate replaced through the API (what the Certificates page posts): the new
/// one is described at once, needs no restart (admin_cli.rs checks the next handshake), is
/// still served after a restart, and the CLI on the node still connects.
#[test]
fn a_replaced_admin_certificate_is_served_after_a_restart() {
    let _serial = serial();
    let mut node = Node::spawn("cert", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let mut openssl = std::process::Command::new("openssl");
    openssl
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=admin.example.com"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
    let out = common::run_bounded(openssl, Duration::from_secs(30)).expect("openssl req hung");
    assert!(out.status.success(), "{}", common::describe(&out));
    let cert_pem = std::fs::read_to_string(&cert).expect("cert.pem");
    let answer = node.api_json(
        "PUT",
        "/api/v1/certificates/admin",
        Some(&json!({
            "cert_pem": cert_pem,
            "key_pem": std::fs::read_to_string(&key).expect("key.pem"),
        })),
    );
    let fingerprint = answer["certificate"]["fingerprint_sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("no fingerprint: {answer}"))
        .to_string();
    assert_eq!(answer["restart_needed"], false, "{answer}");
    let shown = node.api_json("GET", "/api/v1/certificates/admin", None);
    assert_eq!(shown["fingerprint_sha256"], fingerprint.as_str(), "{shown}");
    assert_eq!(shown["names"], json!(["localhost", "127.0.0.1"]), "{shown}");

    node.restart();
    let mut s_client = std::process::Command::new("sh");
    s_client.arg("-c").arg(format!(
        "openssl s_client -connect 127.0.0.1:{} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
        node.admin_port
    ));
    let out = common::run_bounded(s_client, Duration::from_secs(30)).expect("s_client hung");
    let served = String::from_utf8_lossy(&out.stdout)
        .rsplit('=')
        .next()
        .unwrap_or("")
        .trim()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(served, fingerprint, "{}", common::describe(&out));
}
