//! End-to-end tests of key search and annotation in the mail path, with real peers on
//! loopback: a keyserver that does not answer splits a message, "Require verified key"
//! refuses harvested keys, S/MIME signer certificates are harvested and used (openssl reads
//! the result), and decrypted mail is annotated in its body (gpg wrote it).
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
#[path = "mail_support/gateway.rs"]
mod mail_gateway;
mod mail_support;

use std::process::Command;
use std::time::Duration;

use common::{Node, describe, run_bounded, serial, wait_until};
use keys_support::{Gpg, path_str};
use mail_gateway::{gateway, gpg_decrypt};
use mail_support::{Silent, Sink, openssl_certificate, rcpt_of, send_ok, write};

const KEY_ONLY: &str = "Outbound: Secure With Key Only";

/// Edits the factory "Encrypt to Key" rule: `edit` gets its JSON.
fn edit_rule(node: &Node, dir: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut rule = node.cli_ok_json(&["policy", "rule", "show", KEY_ONLY, "Encrypt to Key"]);
    edit(&mut rule);
    let file = write(dir, "rule.json", &rule.to_string());
    node.cli_ok(&[
        "policy",
        "rule",
        "put",
        KEY_ONLY,
        "Encrypt to Key",
        path_str(&file),
    ]);
}

/// Sets every `key` in the JSON to `value`, wherever it is.
fn set_everywhere(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, inner) in map.iter_mut() {
                if k == key {
                    *inner = value.clone();
                } else {
                    set_everywhere(inner, key, value.clone());
                }
            }
        }
        serde_json::Value::Array(items) => {
            for inner in items {
                set_everywhere(inner, key, value.clone());
            }
        }
        _ => {}
    }
}

fn queue(node: &Node) -> serde_json::Value {
    node.cli_ok_json(&["queue", "list"])
}

/// Guide §6, scenario 17: bob has a key, carol's is searched on a keyserver that accepts the
/// connection and never answers. Bob's copy goes out encrypted at once; only carol waits in
/// the queue, with the keyserver as the reason; once her key is known the retry delivers it.
#[test]
fn a_silent_keyserver_holds_back_only_its_recipient() {
    let _serial = serial();
    let sink = Sink::start();
    let silent = Silent::start();
    let (node, outbound, _inbound, bob, dir) =
        gateway(&sink, "keyserver_timeout_secs = 2\nretry_delays_secs = [3]");
    node.cli_ok(&[
        "keyserver",
        "add",
        "Silent",
        "--kind",
        "hkp",
        "--host",
        "127.0.0.1",
        "--port",
        &silent.port.to_string(),
    ]);
    edit_rule(&node, dir.path(), |rule| {
        rule["key_search"] = serde_json::json!([{ "keyserver": "Silent" }]);
    });
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "bob@ext.test,carol@partner.test",
            "--header",
            "Subject: [PGP] split",
            "--body",
            "One keyserver is silent.",
        ],
    );
    let to_bob = sink.wait_for("bob's copy", |m| rcpt_of(m) == ["bob@ext.test"]);
    let (plain, _) = gpg_decrypt(&bob, dir.path(), &to_bob);
    assert!(plain.contains("One keyserver is silent."), "{plain}");
    let waiting = wait_until(Duration::from_secs(20), "carol in the queue", || {
        let q = queue(&node);
        let entries = q.as_array().cloned().unwrap_or_default();
        entries
            .into_iter()
            .find(|e| e.to_string().contains("carol@partner.test"))
            .ok_or(q.to_string())
    });
    let text = waiting.to_string();
    assert!(!text.contains("bob@ext.test"), "only carol waits: {text}");
    assert!(
        waiting["reason"]
            .as_str()
            .is_some_and(|r| r.contains("keyserver did not answer") && r.contains("Silent")),
        "{text}"
    );
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| rcpt_of(m).contains(&"carol@partner.test".to_string())),
        "carol's copy waits"
    );

    // Carol's key becomes known (she is added as an external user): the retry delivers.
    let carol = Gpg::new();
    carol.generate("Carol <carol@partner.test>");
    let carol_asc = dir.path().join("carol.asc");
    carol.export_public("carol@partner.test", &carol_asc);
    node.cli_ok(&[
        "user",
        "add",
        "carol@partner.test",
        "--external",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&carol_asc),
    ]);
    let to_carol = sink.wait_for("carol's copy after the retry", |m| {
        rcpt_of(m) == ["carol@partner.test"]
    });
    let (plain, _) = gpg_decrypt(&carol, dir.path(), &to_carol);
    assert!(plain.contains("One keyserver is silent."), "{plain}");
    assert!(
        node.log()
            .contains("message split: waiting for a keyserver"),
        "{}",
        node.log_tail(40)
    );
}

/// "Require verified key": a key harvested from the mail flow is not enough (the rule's
/// key-not-found action, Bounce, applies); the same key imported as an external user is.
#[test]
fn require_verified_key_refuses_harvested_keys() {
    let _serial = serial();
    let sink = Sink::start();
    let (node, outbound, inbound, _bob, dir) = gateway(&sink, "");
    edit_rule(&node, dir.path(), |rule| {
        set_everywhere(rule, "require_verified_key", serde_json::json!(true));
    });
    let erin = Gpg::new();
    erin.generate("Erin <erin@faraway.test>");
    let erin_asc = dir.path().join("erin.asc");
    erin.export_public("erin@faraway.test", &erin_asc);
    let erin_key = std::fs::read_to_string(&erin_asc).expect("erin's key");
    let eml = write(
        dir.path(),
        "with-key.eml",
        &format!(
            "From: erin@faraway.test\r\nTo: alice@example.com\r\nSubject: my key\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHere is my key.\r\n--b\r\nContent-Type: application/pgp-keys; name=\"erin.asc\"\r\n\r\n{}\r\n--b--\r\n",
            erin_key.replace('\n', "\r\n")
        ),
    );
    let from_erin = ["--from", "erin@faraway.test", "--to", "alice@example.com"];
    send_ok(
        inbound,
        &[&from_erin[..], &["--data", path_str(&eml)]].concat(),
    );
    wait_until(Duration::from_secs(30), "erin's key in the cache", || {
        let cache = node.cli_ok_json(&["keycache", "list"]);
        let text = cache.to_string();
        (text.contains("erin@faraway.test") && text.contains("mail flow"))
            .then_some(())
            .ok_or(text)
    });
    let to_erin = [
        "--from",
        "alice@example.com",
        "--to",
        "erin@faraway.test",
        "--header",
        "Subject: [PGP] verified?",
        "--body",
        "Only to a verified key.",
    ];
    send_ok(outbound, &to_erin);
    let bounce = sink.wait_for("the bounce to alice", |m| {
        rcpt_of(m) == ["alice@example.com"]
            && m.contains("erin@faraway.test")
            && !m.contains("Here is my key.")
    });
    assert!(bounce.contains("no key was found"), "{bounce}");
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| rcpt_of(m) == ["erin@faraway.test"]),
        "nothing went to erin"
    );

    // The same key, imported as an external user, is verified.
    node.cli_ok(&[
        "user",
        "add",
        "erin@faraway.test",
        "--external",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&erin_asc),
    ]);
    send_ok(outbound, &to_erin);
    let copy = sink.wait_for("erin's copy", |m| rcpt_of(m) == ["erin@faraway.test"]);
    let (plain, _) = gpg_decrypt(&erin, dir.path(), &copy);
    assert!(plain.contains("Only to a verified key."), "{plain}");
}

/// An inbound message S/MIME-signed by x@b.test (openssl): the signer's certificate goes
/// into the key cache (source: mail flow), and the next sensitive message to x@b.test is
/// S/MIME encrypted to it; openssl opens it with x's key.
#[test]
fn smime_signer_certificates_are_harvested_and_used() {
    let _serial = serial();
    let sink = Sink::start();
    let (node, outbound, inbound, _bob, dir) = gateway(&sink, "");
    let (cert, key) = openssl_certificate(dir.path(), "x@b.test");
    let body = write(
        dir.path(),
        "body.txt",
        "Content-Type: text/plain\r\n\r\nSigned by x.\r\n",
    );
    let mut sign = Command::new("openssl");
    sign.args(["smime", "-sign", "-in", path_str(&body), "-signer"])
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .args([
            "-from",
            "x@b.test",
            "-to",
            "alice@example.com",
            "-subject",
            "signed",
        ]);
    let out = run_bounded(sign, common::CLI_TIMEOUT).expect("openssl smime -sign hung");
    assert!(out.status.success(), "{}", describe(&out));
    let signed = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let eml = write(dir.path(), "signed.eml", &signed.replace('\n', "\r\n"));
    send_ok(
        inbound,
        &[
            "--from",
            "x@b.test",
            "--to",
            "alice@example.com",
            "--data",
            path_str(&eml),
        ],
    );
    wait_until(
        Duration::from_secs(30),
        "x's certificate in the cache",
        || {
            let cache = node.cli_ok_json(&["keycache", "list"]);
            let text = cache.to_string();
            (text.contains("x@b.test") && text.contains("mail flow"))
                .then_some(())
                .ok_or(text)
        },
    );
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "x@b.test",
            "--header",
            "Subject: [PGP] to x",
            "--body",
            "Encrypted to a harvested certificate.",
        ],
    );
    let copy = sink.wait_for("x's copy", |m| rcpt_of(m) == ["x@b.test"]);
    assert!(copy.contains("application/pkcs7-mime"), "{copy}");
    // smtp-sink's own X- lines and Received are header fields too: openssl reads past them.
    let enc = write(dir.path(), "to-x.eml", &copy);
    let mut decrypt = Command::new("openssl");
    decrypt
        .args(["smime", "-decrypt", "-in", path_str(&enc), "-recip"])
        .arg(&cert)
        .arg("-inkey")
        .arg(&key);
    let out = run_bounded(decrypt, common::CLI_TIMEOUT).expect("openssl smime -decrypt hung");
    assert!(out.status.success(), "{}", describe(&out));
    let opened = String::from_utf8_lossy(&out.stdout);
    assert!(
        opened.contains("Encrypted to a harvested certificate."),
        "{opened}"
    );
}

/// Decrypt and verify annotates the body: with Smart annotation a gpg signed and encrypted
/// message arrives with one line on top and its text intact below; with "Annotate failures
/// only" a good signature adds nothing to the body.
#[test]
fn decrypted_mail_is_annotated_in_its_body() {
    let _serial = serial();
    let sink = Sink::start();
    let (node, _outbound, inbound, bob, dir) = gateway(&sink, "");
    let send = |id: &str, text: &str| {
        let body = write(dir.path(), &format!("{id}.txt"), text);
        let enc = dir.path().join(format!("{id}.asc"));
        bob.ok(&[
            "--armor",
            "--trust-model",
            "always",
            "--sign",
            "--local-user",
            "bob@ext.test",
            "--encrypt",
            "--recipient",
            "alice@example.com",
            "--output",
            path_str(&enc),
            path_str(&body),
        ]);
        let armored = std::fs::read_to_string(&enc).expect("encrypted");
        let eml = write(
            dir.path(),
            &format!("{id}.eml"),
            &format!(
                "From: bob@ext.test\r\nTo: alice@example.com\r\nSubject: {id}\r\nMessage-ID: <{id}@ext.test>\r\n\r\n{}",
                armored.replace('\n', "\r\n")
            ),
        );
        send_ok(
            inbound,
            &[
                "--from",
                "bob@ext.test",
                "--to",
                "alice@example.com",
                "--data",
                path_str(&eml),
            ],
        );
        sink.wait_for(id, |m| m.contains(&format!("<{id}@ext.test>")))
    };
    let smart = send("smart", "First line.\nSecond line.\n");
    let body = smart
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .or_else(|| smart.split_once("\n\n").map(|(_, b)| b.to_string()))
        .unwrap_or_default();
    assert!(
        body.starts_with(
            "*** Signet: Decrypted message; signed by bob@ext.test (good signature) ***"
        ),
        "{smart}"
    );
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines.get(1..4),
        Some(&["", "First line.", "Second line."][..]),
        "{smart}"
    );
    assert!(smart.contains("X-Signet-Signature: good"), "{smart}");

    let inbound_rule = ["Inbound", "Decrypt Message (SMTP)"];
    let rule = node.cli_ok_json(&["policy", "rule", "show", inbound_rule[0], inbound_rule[1]]);
    let edited = rule.to_string().replace("\"Smart\"", "\"FailuresOnly\"");
    assert_ne!(
        edited,
        rule.to_string(),
        "the rule names its annotation: {rule}"
    );
    let file = write(dir.path(), "inbound-rule.json", &edited);
    node.cli_ok(&[
        "policy",
        "rule",
        "put",
        inbound_rule[0],
        inbound_rule[1],
        path_str(&file),
    ]);
    let quiet = send("quiet", "Nothing to report.\n");
    assert!(quiet.contains("Nothing to report."), "{quiet}");
    assert!(!quiet.contains("*** Signet:"), "{quiet}");
}
