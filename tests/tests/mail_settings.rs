//! The node's mail settings and SMTP proxies through the API and the CLI, applied without a
//! restart: swaks sends to a proxy added on a running node, Postfix's smtp-sink receives; a
//! proxy moved to another port stops answering on the old one; mail queued before a change is
//! still delivered by the queue that runs after it; bad input is refused naming the field.
//!
//! Build the binaries first: `cargo build --bins`.

mod admin_support;
mod common;
mod keys_support;
mod mail_support;
mod ui_support;

use std::net::TcpStream;
use std::time::Duration;

use admin_support::{Auth, GOOD, add_admin, call, cli_token, ok};
use common::{Node, free_port, serial, wait_until};
use keys_support::setup;
use mail_support::{Sink, send_ok};
use serde_json::{Value, json};

fn relay_to(port: u16) -> Value {
    json!({ "kind": "relay", "host": "127.0.0.1", "port": port, "security": "disable" })
}

fn unified(port: u16) -> Value {
    json!({
        "kind": "unified",
        "connectors": [{ "interface": "127.0.0.1", "port": port }],
        "designated_source_ips": ["127.0.0.1"],
    })
}

fn wait_state(node: &Node, id: &str, wanted: impl Fn(&str) -> bool) -> Value {
    wait_until(Duration::from_secs(20), "the proxy's state", || {
        let p = node.api_json("GET", &format!("/api/v1/mail/proxies/{id}"), None);
        let state = p["state"].as_str().unwrap_or("").to_string();
        if wanted(&state) {
            Ok(p)
        } else {
            Err(format!("state {state:?}"))
        }
    })
}

/// A listener answers on the port (an SMTP greeting arrives).
fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn proxy_added_and_moved_through_the_api_without_a_restart() {
    let _g = serial();
    let sink = Sink::start();
    let node = Node::spawn(
        "ms-api",
        Some("[mail]\nhostname = \"gw.example.com\"\nretry_delays_secs = [1]\n"),
    );
    setup(&node, &["example.com"]);
    let pid = node.pid();
    let root = Auth::token(&cli_token(&node));
    assert_eq!(
        call(&node, "GET", "/api/v1/queue", &root, None).status,
        404,
        "a node without proxies runs no queue"
    );
    let s = node.api_json(
        "PUT",
        "/api/v1/mail/settings",
        Some(&json!({ "inbound_mail_server": relay_to(sink.port), "outbound_delivery": relay_to(sink.port) })),
    );
    assert_eq!(s["sources"]["outbound_delivery"], "api");
    assert_eq!(s["sources"]["hostname"], "config");
    assert_eq!(s["hostname"], "gw.example.com");

    let port = free_port();
    let p = node.api_json("POST", "/api/v1/mail/proxies", Some(&unified(port)));
    let id = p["id"].as_str().expect("id").to_string();
    assert_eq!(p["source"], "api");
    wait_state(&node, &id, |s| s == "running");
    send_ok(
        port,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "bob@ext.test",
            "--header",
            "Subject: first",
        ],
    );
    sink.wait_for("the first message", |m| m.contains("Subject: first"));

    // Delivery to a dead relay: the message waits in the queue.
    let dead = free_port();
    node.api_json(
        "PUT",
        "/api/v1/mail/settings",
        Some(&json!({ "outbound_delivery": relay_to(dead) })),
    );
    wait_until(
        Duration::from_secs(20),
        "the proxy back after the change",
        || {
            let out = mail_support::swaks(&[
                "--server",
                &format!("127.0.0.1:{port}"),
                "--from",
                "alice@example.com",
                "--to",
                "carol@ext.test",
                "--header",
                "Subject: queued",
            ]);
            if out.status.success() {
                Ok(())
            } else {
                Err(common::describe(&out))
            }
        },
    );
    wait_until(Duration::from_secs(20), "the message in the queue", || {
        let q = node.api_json("GET", "/api/v1/queue", None);
        if q.as_array().is_some_and(|a| !a.is_empty()) {
            Ok(())
        } else {
            Err(format!("queue {q}"))
        }
    });

    // Move the proxy and point delivery back at the sink.
    let port2 = free_port();
    let moved = node.api_json(
        "PUT",
        &format!("/api/v1/mail/proxies/{id}"),
        Some(&unified(port2)),
    );
    assert_eq!(moved["connectors"][0]["port"], port2);
    node.api_json(
        "PUT",
        "/api/v1/mail/settings",
        Some(&json!({ "outbound_delivery": relay_to(sink.port) })),
    );
    wait_until(Duration::from_secs(20), "the old port closed", || {
        if answers(port) && !answers(port2) {
            Err("still on the old port".to_string())
        } else if answers(port2) && !answers(port) {
            Ok(())
        } else {
            Err("in between".to_string())
        }
    });
    send_ok(
        port2,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "dave@ext.test",
            "--header",
            "Subject: moved",
        ],
    );
    sink.wait_for("the message sent after the move", |m| {
        m.contains("Subject: moved")
    });
    // The queued message was routed to the dead relay before the change; once something
    // listens there, the queue that runs now delivers it.
    let late = Sink::start_on(dead);
    late.wait_for("the message queued before the change", |m| {
        m.contains("Subject: queued")
    });
    assert_eq!(node.pid(), pid, "signetd was not restarted");
    assert!(node.log().contains("mail settings changed"));
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let _g = serial();
    let node = Node::spawn("ms-bad", None);
    let root = Auth::token(&cli_token(&node));
    let port = free_port();
    let refused = |method: &str, path: &str, body: Value, field: &str| {
        let r = call(&node, method, path, &root, Some(&body));
        assert_eq!(r.status, 422, "{method} {path} {body}: {}", r.body);
        assert_eq!(r.body["field"], field, "{}", r.body);
        assert!(r.headers.contains("application/problem+json"));
    };
    ok(
        &node,
        "PUT",
        "/api/v1/mail/settings",
        &root,
        Some(&json!({ "placement": "internal" })),
    );
    let mut inbound = unified(port);
    inbound["kind"] = json!("inbound");
    refused("POST", "/api/v1/mail/proxies", inbound, "kind");
    ok(
        &node,
        "PUT",
        "/api/v1/mail/settings",
        &root,
        Some(&json!({ "placement": "gateway" })),
    );
    let p = ok(
        &node,
        "POST",
        "/api/v1/mail/proxies",
        &root,
        Some(&unified(port)),
    );
    let before = ok(&node, "GET", "/api/v1/mail/proxies", &root, None);
    refused(
        "PUT",
        "/api/v1/mail/settings",
        json!({ "placement": "internal" }),
        "placement",
    );
    let mut bad_cidr = unified(port);
    bad_cidr["designated_source_ips"] = json!(["10.0.0.0/33"]);
    refused(
        "POST",
        "/api/v1/mail/proxies",
        bad_cidr,
        "designated_source_ips[0]",
    );
    refused(
        "POST",
        "/api/v1/mail/proxies",
        unified(0),
        "connectors[0].port",
    );
    let mut unknown = unified(port);
    unknown["colour"] = json!("red");
    refused("POST", "/api/v1/mail/proxies", unknown, "colour");
    refused(
        "PUT",
        &format!("/api/v1/mail/proxies/{}", p["id"].as_str().expect("id")),
        json!({ "kind": "sideways", "connectors": [] }),
        "kind",
    );
    let after = ok(&node, "GET", "/api/v1/mail/proxies", &root, None);
    assert_eq!(before, after, "a refused change changed nothing");
    let s = ok(&node, "GET", "/api/v1/mail/settings", &root, None);
    assert_eq!(s["placement"], "gateway");

    // A port in use: that connector fails and says so, the others run, signetd stays up.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port();
    let free = free_port();
    let mut two = unified(busy_port);
    two["connectors"] = json!([
        { "interface": "127.0.0.1", "port": busy_port },
        { "interface": "127.0.0.1", "port": free },
    ]);
    ok(
        &node,
        "DELETE",
        &format!("/api/v1/mail/proxies/{}", p["id"].as_str().expect("id")),
        &root,
        None,
    );
    let second = ok(&node, "POST", "/api/v1/mail/proxies", &root, Some(&two));
    let id = second["id"].as_str().expect("id").to_string();
    let failed = wait_state(&node, &id, |s| s.starts_with("error:"));
    assert!(
        failed["state"]
            .as_str()
            .is_some_and(|s| s.contains(&busy_port.to_string())),
        "{failed}"
    );
    wait_until(Duration::from_secs(10), "the other connector", || {
        if answers(free) {
            Ok(())
        } else {
            Err("not listening".to_string())
        }
    });
    drop(busy);

    // A read-only administrator sees the settings and changes none.
    add_admin(&node, &root, "viewer", "read-only", GOOD);
    let t = ok(
        &node,
        "POST",
        "/api/v1/administrators/viewer/tokens",
        &root,
        Some(&json!({ "label": "test" })),
    );
    let viewer = Auth::token(t["token"].as_str().expect("token"));
    assert_eq!(
        call(&node, "GET", "/api/v1/mail/settings", &viewer, None).status,
        200
    );
    let r = call(
        &node,
        "PUT",
        "/api/v1/mail/settings",
        &viewer,
        Some(&json!({ "hostname": "x.example" })),
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn cli_round_trip() {
    let _g = serial();
    let node = Node::spawn("ms-cli", None);
    let port = free_port();
    let port_ssl = free_port();
    node.cli_ok(&[
        "mail",
        "settings",
        "--set",
        "hostname=cli.example.com",
        "--set",
        "outbound_delivery=relay.example.net:2525,require",
    ]);
    let s = node.cli_ok_json(&["mail", "settings"]);
    assert_eq!(s["hostname"], "cli.example.com");
    assert_eq!(s["outbound_delivery"]["port"], 2525);
    assert_eq!(s["outbound_delivery"]["security"], "require");
    assert_eq!(s["sources"]["hostname"], "api");

    let added = node.cli_ok_json(&[
        "mail",
        "proxy",
        "add",
        "--kind",
        "unified",
        "--connector",
        &format!("127.0.0.1:{port}"),
        "--designated",
        "10.0.0.5",
        "--auth",
        "mail_server",
    ]);
    let id = added["id"].as_str().expect("id").to_string();
    assert_eq!(added["auth"], "mail_server");
    node.cli_ok(&[
        "mail",
        "proxy",
        "edit",
        &id,
        "--connector",
        &format!("127.0.0.1:{port}"),
        "--connector",
        &format!("127.0.0.1:{port_ssl},ssl"),
    ]);
    let list = node.cli_ok_json(&["mail", "proxy", "list"]);
    let p = &list[0];
    assert_eq!(p["connectors"][1]["security"], "ssl");
    assert_eq!(
        p["designated_source_ips"][0], "10.0.0.5",
        "edit keeps what it was not given"
    );
    let listing = node.cli_ok(&["mail", "proxy", "list"]);
    assert!(
        listing.contains(&id) && listing.contains("unified"),
        "{listing}"
    );

    node.cli_ok(&[
        "mail",
        "archive",
        "add",
        "Vault",
        "10.0.0.9",
        "--security",
        "ssl",
    ]);
    let archives = node.cli_ok_json(&["mail", "archive", "list"]);
    assert_eq!(archives[0]["name"], "Vault");
    assert_eq!(archives[0]["port"], 465);
    node.cli_ok(&["mail", "archive", "remove", "Vault"]);
    assert_eq!(node.cli_ok_json(&["mail", "archive", "list"]), json!([]));
    node.cli_ok(&["mail", "proxy", "remove", &id]);
    assert_eq!(node.cli_ok_json(&["mail", "proxy", "list"]), json!([]));
    let refused = node.cli(&["mail", "proxy", "add", "--kind", "unified"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("connectors"),
        "{}",
        common::describe(&refused)
    );
}

#[test]
fn the_proxies_page_adds_moves_and_deletes_a_proxy() {
    if ui_support::skip_without_browser("mail_proxies.mjs") {
        return;
    }
    let _g = serial();
    let node = Node::spawn("ms-ui", None);
    setup(&node, &["example.com"]);
    let root = Auth::token(&cli_token(&node));
    add_admin(&node, &root, "ui-admin", "super-user", GOOD);
    let (port, port2) = (free_port(), free_port());
    ui_support::run_browser_script(
        "mail_proxies.mjs",
        &[
            (
                "SIGNET_URL",
                &format!("https://127.0.0.1:{}", node.admin_port),
            ),
            ("SIGNET_LOGIN", "ui-admin"),
            ("SIGNET_PASSPHRASE", GOOD),
            ("SIGNET_PORT", &port.to_string()),
            ("SIGNET_PORT2", &port2.to_string()),
        ],
    );
    let s = node.api_json("GET", "/api/v1/mail/settings", None);
    assert_eq!(s["hostname"], "ui.example.com");
    assert_eq!(
        node.api_json("GET", "/api/v1/mail/proxies", None),
        json!([])
    );
    assert!(!answers(port2), "the deleted proxy's port is closed");
}

/// SMTP AUTH on the internal placement's Outbound proxy (`auth = "mail_server"`): a mail client
/// must authenticate after STARTTLS, the mail server the proxy relays to (smtp-sink, which
/// accepts any SASL login) checks the login, and the message reaches it; MAIL without AUTH gets
/// 530. The Postfix + Dovecot test in crates/smtp checks refused passphrases.
#[test]
fn the_internal_proxy_passes_smtp_auth_to_the_mail_server() {
    use std::io::Write;
    let _serial = serial();
    let sink = Sink::start();
    let port = free_port();
    let config = format!(
        r#"
[mail]
hostname = "gw.example.com"
placement = "internal"
outbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {sink}, tls = "disable" }}

[[mail.proxy]]
kind = "outbound"
listen = "127.0.0.1:{port}"
auth = "mail_server"
"#,
        sink = sink.port
    );
    let node = Node::spawn("auth", Some(&config));
    setup(&node, &["example.com"]);
    wait_state(&node, "p1", |s| s == "running");

    // Without AUTH: refused at MAIL, nothing relayed.
    let out = mail_support::swaks(&[
        "--server",
        &format!("127.0.0.1:{port}"),
        "--from",
        "alice@example.com",
        "--to",
        "bob@elsewhere.test",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("530 5.7.0"), "{said}");

    // With AUTH PLAIN after STARTTLS (openssl s_client: this swaks has no TLS support).
    // base64 of "\0alice@example.com\0pass word" (SASL PLAIN: authzid, user, passphrase).
    let login = "AGFsaWNlQGV4YW1wbGUuY29tAHBhc3Mgd29yZA==";
    let lines = [
        "EHLO client.example.com".to_string(),
        format!("AUTH PLAIN {login}"),
        "MAIL FROM:<alice@example.com>".into(),
        "RCPT TO:<bob@elsewhere.test>".into(),
        "DATA".into(),
        "Subject: through the internal proxy".into(),
        "".into(),
        "Sent by an authenticated user.".into(),
        ".".into(),
        "QUIT".into(),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("session.txt");
    std::fs::File::create(&session)
        .and_then(|mut f| f.write_all(format!("{}\r\n", lines.join("\r\n")).as_bytes()))
        .expect("write the session");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!(
        "openssl s_client -quiet -ign_eof -starttls smtp -connect 127.0.0.1:{port} < '{}' 2>/dev/null",
        session.display()
    ));
    let out = common::run_bounded(cmd, Duration::from_secs(30)).expect("openssl s_client hung");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("235 "), "{said}");
    assert!(said.contains("250 2.0.0"), "{said}");
    let got = sink.wait_for("the authenticated user's message", |m| {
        m.contains("Sent by an authenticated user.")
    });
    assert!(got.contains("ESMTPSA"), "{got}");
    assert!(
        node.log().contains("authenticated as alice@example.com"),
        "{}",
        node.log()
    );
    assert!(
        !node.log().contains("pass word"),
        "the passphrase was logged"
    );
}
