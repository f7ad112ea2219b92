//! End-to-end tests of the API-managed mail settings: keyservers for lookup (replicated,
//! `signet keyserver`) and static mail routes (node-local, `signet route`).
//!
//! - Node A has no keyserver in its TOML; `signet keyserver add` puts node B's LDAP keyserver
//!   in the cluster's list, A's rule searches it, and mail to bob@b.test reaches the sink
//!   encrypted to bob's key.
//! - A route added with `signet route add` while the node runs sends mail for its domain to a
//!   sink on the route's port.
//!
//! - The admin UI's Keys > Keyservers and Mail > Mail Routes forms add to the same lists
//!   (a browser script, `tests/browser/keyservers_routes.mjs`; skipped without chromium
//!   outside CI).
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod keyserver_support;
mod mail_support;
mod ui_support;

use common::{Node, free_port, serial};
use keys_support::{setup, tmp};
use keyserver_support::{assert_bob_decrypts, node_publishing_bob, search_on_encrypt_to_key};
use mail_support::{Sink, gateway_config, rcpt_of, send_ok};

#[test]
fn a_keyserver_added_through_the_cli_is_searched_by_the_mail_path() {
    let _serial = serial();
    let dir = tmp();
    let (b, bob) = node_publishing_bob(dir.path());

    let sink = Sink::start();
    let outbound = free_port();
    let config = gateway_config(
        outbound,
        free_port(),
        sink.port,
        "keyserver_timeout_secs = 5",
    );
    let a = Node::spawn("A", Some(&config));
    setup(&a, &["a.test"]);
    a.cli_ok(&["learn-mode", "off"]);
    a.cli_ok(&["user", "add", "alice@a.test"]);
    let port = b.port.to_string();
    a.cli_ok(&[
        "keyserver",
        "add",
        "B keyserver",
        "--kind",
        "ldap",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    let listed = a.cli_ok_json(&["keyserver", "list"]);
    assert_eq!(listed[0]["name"], "B keyserver", "{listed}");
    assert_eq!(listed[0]["kind"], "pgp-ldap", "{listed}");
    assert_eq!(listed[0]["port"], b.port, "{listed}");
    // Adding the same name again is refused.
    let again = a.cli(&[
        "keyserver",
        "add",
        "b KEYSERVER",
        "--kind",
        "hkp",
        "--host",
        "x",
    ]);
    assert!(
        !again.status.success(),
        "a duplicate keyserver was accepted"
    );
    a.cli_ok(&[
        "keyserver",
        "add",
        "Second",
        "--kind",
        "hkps",
        "--host",
        "keys.example.net",
    ]);
    a.cli_ok(&["keyserver", "order", "second", "b keyserver"]);
    let listed = a.cli_ok_json(&["keyserver", "list"]);
    assert_eq!(listed[0]["name"], "Second", "{listed}");
    assert_eq!(listed[1]["order"], 2, "{listed}");
    a.cli_ok(&["keyserver", "remove", "Second"]);
    search_on_encrypt_to_key(&a, dir.path(), "B keyserver");

    let text = "Bob's key came from a keyserver added through the API.";
    send_ok(
        outbound,
        &[
            "--from",
            "alice@a.test",
            "--to",
            "bob@b.test",
            "--header",
            "Subject: [PGP] keyserver from the API",
            "--body",
            text,
        ],
    );
    let to_bob = sink.wait_for("bob's copy", |m| rcpt_of(m) == ["bob@b.test"]);
    assert_bob_decrypts(&bob, dir.path(), &to_bob, text);
    let cache = a.cli_ok_json(&["keycache", "list"]);
    assert!(cache.to_string().contains("B keyserver"), "{cache}");

    a.cli_ok(&["keyserver", "remove", "b keyserver"]);
    let listed = a.cli_ok_json(&["keyserver", "list"]);
    assert_eq!(listed, serde_json::json!([]), "{listed}");
}

#[test]
fn a_route_added_through_the_cli_is_used_for_delivery() {
    let _serial = serial();
    // Outbound mail goes direct (static routes, then MX): no relay.
    let relay_sink = Sink::start();
    let routed_sink = Sink::start();
    let outbound = free_port();
    let config = format!(
        r#"
[mail]
hostname = "gw.example.com"
placement = "gateway"
inbound_next_hop = {{ kind = "relay", host = "127.0.0.1", port = {relay}, tls = "disable" }}
retry_delays_secs = [1, 1, 1]

[[mail.proxy]]
kind = "outbound"
listen = "127.0.0.1:{outbound}"
allow = ["127.0.0.0/8"]
"#,
        relay = relay_sink.port
    );
    let a = Node::spawn("A", Some(&config));
    setup(&a, &["a.test"]);
    a.cli_ok(&["user", "add", "alice@a.test"]);
    let port = routed_sink.port.to_string();
    a.cli_ok(&["route", "add", "routed.test", "127.0.0.1", "--port", &port]);
    let routes = a.cli_ok_json(&["route", "list"]);
    assert_eq!(routes[0]["domain"], "routed.test", "{routes}");
    assert_eq!(routes[0]["port"], routed_sink.port, "{routes}");

    send_ok(
        outbound,
        &[
            "--from",
            "alice@a.test",
            "--to",
            "carol@routed.test",
            "--header",
            "Subject: routed",
            "--body",
            "This goes by the static route.",
        ],
    );
    let got = routed_sink.wait_for("carol's copy", |m| rcpt_of(m) == ["carol@routed.test"]);
    assert!(got.contains("This goes by the static route."), "{got}");

    a.cli_ok(&["route", "remove", "routed.test"]);
    let routes = a.cli_ok_json(&["route", "list"]);
    assert_eq!(routes, serde_json::json!([]), "{routes}");
    let missing = a.cli(&["route", "remove", "routed.test"]);
    assert!(
        !missing.status.success(),
        "removing an absent route succeeded"
    );
}

#[test]
fn the_ui_pages_add_keyservers_and_routes() {
    if ui_support::skip_without_browser("keyservers_routes.mjs") {
        return;
    }
    let _serial = serial();
    let node = Node::spawn("ui-ks", None);
    setup(&node, &["example.com"]);
    let passphrase = "Tr0ub4dor&3-horse";
    node.api_json(
        "POST",
        "/api/v1/administrators",
        Some(&serde_json::json!({
            "login": "erin",
            "role": "super-user",
            "passphrase": passphrase,
            "temporary": false,
        })),
    );
    let url = format!("https://127.0.0.1:{}", node.admin_port);
    ui_support::run_browser_script(
        "keyservers_routes.mjs",
        &[
            ("SIGNET_URL", &url),
            ("SIGNET_LOGIN", "erin"),
            ("SIGNET_PASSPHRASE", passphrase),
        ],
    );
    let servers = node.cli_ok_json(&["keyserver", "list"]);
    assert_eq!(servers[0]["name"], "Partner LDAP", "{servers}");
    assert_eq!(servers[0]["port"], 3389, "{servers}");
    let routes = node.cli_ok_json(&["route", "list"]);
    assert_eq!(routes.as_array().map(Vec::len), Some(1), "{routes}");
    assert_eq!(routes[0]["domain"], "partner.test", "{routes}");
}
