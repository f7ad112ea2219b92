//! End-to-end test of the keyserver as another organization's mail path sees it: two separate
//! Signet nodes (two one-member clusters). Node B manages b.test and serves its users' keys
//! over LDAP; node A manages a.test and its outbound rule searches B's keyserver
//! (`pgp-ldap`, key space found from B's root DSE), named in A's TOML (`[[mail.keyserver]]`,
//! a node-local addition; keyservers_api.rs adds it to the replicated list instead). Mail from
//! a.test to the b.test user through A's outbound proxy arrives at a sink encrypted, and gpg
//! with the user's secret key decrypts it.
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod keyserver_support;
mod mail_support;

use common::{Node, free_port, serial};
use keys_support::{setup, tmp};
use keyserver_support::{assert_bob_decrypts, node_publishing_bob, search_on_encrypt_to_key};
use mail_support::{Sink, gateway_config, rcpt_of, send_ok};

#[test]
fn mail_path_finds_the_key_on_another_nodes_ldap_keyserver() {
    let _serial = serial();
    let dir = tmp();
    let (b, bob) = node_publishing_bob(dir.path());

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
    search_on_encrypt_to_key(&a, dir.path(), "B keyserver");

    let text = "Bob's key came from B's LDAP keyserver.";
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
            text,
        ],
    );
    let to_bob = sink.wait_for("bob's copy", |m| rcpt_of(m) == ["bob@b.test"]);
    assert_bob_decrypts(&bob, dir.path(), &to_bob, text);
    let cache = a.cli_ok_json(&["keycache", "list"]);
    assert!(cache.to_string().contains("bob@b.test"), "{cache}");
    assert!(cache.to_string().contains("B keyserver"), "{cache}");
}
