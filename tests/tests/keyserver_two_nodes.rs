//! End-to-end test of the keyserver as another organization's mail path sees it: two separate
//! Signet nodes (two one-member clusters). Node B manages b.test and serves its users' keys
//! over LDAP; node A manages a.test and its outbound rule searches B's keyserver
//! (`pgp-ldap`, key space found from B's root DSE). Mail from a.test to the b.test user through
//! A's outbound proxy arrives at a sink encrypted, and gpg with the user's secret key decrypts
//! it.
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod keyserver_support;
mod mail_support;

use std::time::Duration;

use common::{Node, describe, free_port, serial, wait_until};
use keys_support::{Gpg, path_str, setup, tmp};
use keyserver_support::{LdapNode, ldapsearch};
use mail_support::{Sink, gateway_config, rcpt_of, send_ok, write};

#[test]
fn mail_path_finds_the_key_on_another_nodes_ldap_keyserver() {
    let _serial = serial();
    let dir = tmp();

    // Node B: b.test, with bob, whose key (made by his own gpg) B publishes.
    let b = LdapNode::spawn("B", "");
    setup(&b.node, &["b.test"]);
    let bob = Gpg::new();
    bob.generate("Bob <bob@b.test>");
    let bob_asc = dir.path().join("bob.asc");
    bob.export_public("bob@b.test", &bob_asc);
    b.node.cli_ok(&[
        "user",
        "add",
        "bob@b.test",
        "--internal",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&bob_asc),
    ]);
    wait_until(
        Duration::from_secs(20),
        "bob's key on B's keyserver",
        || {
            let out = ldapsearch(b.port, &["(pgpUserID=*bob@b.test*)", "pgpKey"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pgpKey:") {
                Ok(())
            } else {
                Err(describe(&out))
            }
        },
    );

    // Node A: a.test; its "Encrypt to Key" rule searches B's keyserver.
    let sink = Sink::start();
    let outbound = free_port();
    let inbound = free_port();
    let config = format!(
        "{}\n[[mail.keyserver]]\ndescription = \"B keyserver\"\nkind = \"pgp-ldap\"\n\
         host = \"127.0.0.1\"\nport = {}\n",
        gateway_config(outbound, inbound, sink.port, "keyserver_timeout_secs = 5"),
        b.port
    );
    let a = Node::spawn("A", Some(&config));
    setup(&a, &["a.test"]);
    a.cli_ok(&["learn-mode", "off"]);
    a.cli_ok(&["user", "add", "alice@a.test"]);
    let chain = "Outbound: Secure With Key Only";
    let mut rule = a.cli_ok_json(&["policy", "rule", "show", chain, "Encrypt to Key"]);
    rule["key_search"] = serde_json::json!([{ "keyserver": "B keyserver" }]);
    let file = write(dir.path(), "rule.json", &rule.to_string());
    a.cli_ok(&[
        "policy",
        "rule",
        "put",
        chain,
        "Encrypt to Key",
        path_str(&file),
    ]);

    send_ok(
        outbound,
        &[
            "--from",
            "alice@a.test",
            "--to",
            "bob@b.test",
            "--header",
            "Subject: [PGP] across organizations",
            "--body",
            "Bob's key came from B's LDAP keyserver.",
        ],
    );
    let to_bob = sink.wait_for("bob's copy", |m| rcpt_of(m) == ["bob@b.test"]);
    assert!(
        !to_bob.contains("Bob's key came from"),
        "the message went out in clear:\n{to_bob}"
    );
    let start = to_bob
        .find("-----BEGIN PGP MESSAGE-----")
        .unwrap_or_else(|| panic!("no PGP message in:\n{to_bob}"));
    let end = to_bob
        .find("-----END PGP MESSAGE-----")
        .map(|e| e + "-----END PGP MESSAGE-----".len())
        .unwrap_or(to_bob.len());
    let armored = write(
        dir.path(),
        "in.asc",
        &to_bob[start..end].replace("\r\n", "\n"),
    );
    let out = bob.run(&["--status-fd", "2", "--decrypt", path_str(&armored)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[GNUPG:] DECRYPTION_OKAY"),
        "gpg --decrypt\n{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Bob's key came from B's LDAP keyserver."),
        "{}",
        describe(&out)
    );
    let cache = a.cli_ok_json(&["keycache", "list"]);
    assert!(cache.to_string().contains("bob@b.test"), "{cache}");
    assert!(cache.to_string().contains("B keyserver"), "{cache}");
}
