//! Browser tests of the admin UI's data pages: a managed domain and an internal user added
//! through the pages show up in their lists and in the API (with a screenshot of every data
//! page, and a Read Only administrator seeing the controls disabled), and a rule written in the rule editor changes the mail the node's SMTP proxy sends.
//! Each test starts a real signetd and drives Debian's chromium with a script from
//! `tests/browser/` (screenshots in $SIGNET_SCREENSHOTS, default /tmp/signet-screenshots).
//!
//! Build the binaries first (`cargo build --bins`); without chromium these tests are skipped
//! outside CI.

mod common;
mod keys_support;
mod mail_support;
mod ui_support;

use common::{Node, free_port, serial};
use keys_support::setup;
use mail_support::{Sink, gateway_config, send_ok};
use serde_json::json;
use ui_support::{run_browser_script, skip_without_browser};

const PASSPHRASE: &str = "Tr0ub4dor&3-horse";

fn url(node: &Node) -> String {
    format!("https://127.0.0.1:{}", node.admin_port)
}

/// A SuperUser with a console passphrase, made through the API with the CLI's token.
fn add_console_admin(node: &Node, login: &str) {
    add_admin_with_role(node, login, "super-user");
}

fn add_admin_with_role(node: &Node, login: &str, role: &str) {
    node.api_json(
        "POST",
        "/api/v1/administrators",
        Some(&json!({
            "login": login,
            "role": role,
            "passphrase": PASSPHRASE,
            "temporary": false,
        })),
    );
}

#[test]
fn a_domain_and_a_user_added_in_the_pages_are_listed_and_in_the_api() {
    if skip_without_browser("domain_user.mjs") {
        return;
    }
    let _serial = serial();
    let node = Node::spawn("ui-pages", None);
    setup(&node, &["example.com"]);
    add_console_admin(&node, "erin");
    add_admin_with_role(&node, "rita", "read-only");
    let ran = run_browser_script(
        "domain_user.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_LOGIN", "erin"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_DOMAIN", "ui-test.example"),
            ("SIGNET_USER", "uma@ui-test.example"),
            ("SIGNET_READONLY_LOGIN", "rita"),
        ],
    );
    assert!(ran);
    // What the pages showed is what the cluster holds.
    let domains = node.api_json("GET", "/api/v1/domains", None);
    assert!(
        domains
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["name"] == "ui-test.example")),
        "{domains}"
    );
    assert!(
        domains
            .as_array()
            .is_some_and(|d| d.iter().all(|d| d["name"] != "forged.example")),
        "a form without the CSRF token changed nothing: {domains}"
    );
    let user = node.api_json("GET", "/api/v1/users/uma@ui-test.example", None);
    assert_eq!(user["kind"], "internal", "{user}");
    assert_eq!(user["display_name"], "UI Test User", "{user}");
    assert_eq!(user["keys"][0]["mode"], "SKM", "{user}");
    // The paged list the page uses finds the user by name as well.
    let page = node.api_json("GET", "/api/v1/users?q=ui+test&kind=internal", None);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["email"], "uma@ui-test.example", "{page}");
}

#[test]
fn a_rule_made_in_the_editor_adds_its_header_to_mail_through_the_proxy() {
    if skip_without_browser("rule_edit.mjs") {
        return;
    }
    let _serial = serial();
    let sink = Sink::start();
    let outbound = free_port();
    let node = Node::spawn(
        "ui-rule",
        Some(&gateway_config(outbound, free_port(), sink.port, "")),
    );
    setup(&node, &["example.com"]);
    add_console_admin(&node, "frank");
    let rule = "UI test header";
    let ran = run_browser_script(
        "rule_edit.mjs",
        &[
            ("SIGNET_URL", &url(&node)),
            ("SIGNET_LOGIN", "frank"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_RULE", rule),
        ],
    );
    assert!(ran);
    // The API holds the rule as the editor built it, first in the chain.
    let rules = node.api_json("GET", "/api/v1/policy/chains/Outbound/rules", None);
    assert_eq!(rules[0]["name"], rule, "{rules}");
    let stored = node.api_json(
        "GET",
        "/api/v1/policy/chains/Outbound/rules/UI%20test%20header",
        None,
    );
    assert_eq!(
        stored["actions"],
        json!([
            {"AddHeader": {"name": "X-Signet-UI", "value": "applied", "replace_existing": false}},
            "SendClear"
        ]),
        "{stored}"
    );

    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "someone@ext.test",
            "--header",
            "Subject: hello [signet-ui-test]",
            "--body",
            "sent through the proxy",
        ],
    );
    let delivered = sink.wait_for("the message at the next hop", |m| {
        m.contains("sent through the proxy")
    });
    assert!(
        delivered
            .lines()
            .any(|l| l.trim_end() == "X-Signet-UI: applied"),
        "the delivered message carries the rule's header:\n{delivered}"
    );
}

/// Joining by contact from the cluster page: the blank server waits in its setup assistant, a
/// SuperUser of the cluster types its address and setup code and presses Contact (a wrong code
/// first: refused, next to nothing changed); it becomes a voter.
#[test]
fn the_cluster_page_contacts_a_waiting_server() {
    if skip_without_browser("cluster_contact.mjs") {
        return;
    }
    let _serial = serial();
    let sponsor = Node::spawn("contact-sponsor", None);
    setup(&sponsor, &["example.com"]);
    add_console_admin(&sponsor, "erin");
    let joiner = Node::spawn("contact-joiner", None);
    let code = std::fs::read_to_string(joiner.data_dir().join("setup-code"))
        .expect("the blank joiner has a setup code");
    let address = format!("127.0.0.1:{}", joiner.admin_port);
    let ran = run_browser_script(
        "cluster_contact.mjs",
        &[
            ("SIGNET_URL", &url(&sponsor)),
            ("SIGNET_LOGIN", "erin"),
            ("SIGNET_PASSPHRASE", PASSPHRASE),
            ("SIGNET_JOINER_URL", &url(&joiner)),
            ("SIGNET_JOINER_ADDRESS", &address),
            ("SIGNET_SETUP_CODE", code.trim()),
        ],
    );
    if !ran {
        return;
    }
    sponsor.wait_voters(2);
}
