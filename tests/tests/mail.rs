//! End-to-end tests of the mail path with real peers on loopback: swaks sends to a Signet
//! gateway, Postfix's smtp-sink is the next hop, gpg reads what arrives.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;
#[path = "mail_support/gateway.rs"]
mod mail_gateway;
mod mail_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Node, describe, free_port, serial, wait_until};
use keys_support::{Gpg, path_str, setup, tmp};
use mail_gateway::{gateway, gpg_decrypt};
use mail_support::{Hkp, Sink, gateway_config, rcpt_of, send_ok, swaks, write};

/// The factory policy on the wire: a sensitive message to an external recipient with a key
/// arrives PGP/MIME encrypted and signed (gpg decrypts and verifies it); the recipient without
/// a key is bounced alone; an ordinary message goes out clear; inbound mail encrypted to an
/// internal user arrives decrypted; inbound mail for other domains is refused.
#[test]
fn factory_policy_encrypts_bounces_and_decrypts_with_real_peers() {
    let _serial = serial();
    let sink = Sink::start();
    let (node, outbound, inbound, bob, dir) = gateway(&sink, "");

    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "bob@ext.test,carol@ext.test",
            "--header",
            "Subject: [PGP] the plan",
            "--body",
            "Meet at the old mill at noon.",
        ],
    );
    let to_bob = sink.wait_for("bob's encrypted copy", |m| rcpt_of(m) == ["bob@ext.test"]);
    assert!(
        to_bob.contains("multipart/encrypted") && to_bob.contains("application/pgp-encrypted"),
        "PGP/MIME: {to_bob}"
    );
    assert!(
        !to_bob.contains("old mill"),
        "the body is not in clear: {to_bob}"
    );
    assert!(
        to_bob.contains("Subject: [PGP] the plan"),
        "routing headers stay: {to_bob}"
    );
    let (plain, status) = gpg_decrypt(&bob, dir.path(), &to_bob);
    assert!(plain.contains("Meet at the old mill at noon."), "{plain}");
    assert!(
        status.contains("[GNUPG:] GOODSIG"),
        "signed by Alice's key: {status}"
    );
    assert!(status.contains("alice@example.com"), "{status}");

    // Carol has no key: the Secure With Key Only chain bounces her copy to Alice.
    let bounce = sink.wait_for("the bounce for carol", |m| {
        rcpt_of(m) == ["alice@example.com"] && m.contains("Message undeliverable")
    });
    assert!(bounce.contains("carol@ext.test"), "{bounce}");
    assert!(bounce.contains("X-Mail-Args: <>"), "null sender: {bounce}");
    assert!(
        !bounce.contains("old mill"),
        "the body is not returned: {bounce}"
    );
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| rcpt_of(m).contains(&"carol@ext.test".to_string())),
        "carol got nothing"
    );

    // Ordinary mail goes out clear and unchanged.
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "carol@ext.test",
            "--header",
            "Subject: lunch?",
            "--body",
            "Pizza at one?",
        ],
    );
    let clear = sink.wait_for("carol's clear copy", |m| rcpt_of(m) == ["carol@ext.test"]);
    assert!(
        clear.contains("Pizza at one?") && !clear.contains("PGP"),
        "{clear}"
    );

    // A mailing list (a "Mailing List: <address>" dictionary) is expanded and each member
    // evaluated: Bob's copy is encrypted, Carol (no key) is bounced.
    node.cli_ok(&[
        "dictionary",
        "create",
        "Mailing List: team@example.com",
        "bob@ext.test",
        "carol@ext.test",
    ]);
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "team@example.com",
            "--header",
            "Subject: [PGP] team news",
            "--body",
            "The team meets on Friday.",
        ],
    );
    let team = sink.wait_for("bob's copy of the list mail", |m| {
        rcpt_of(m) == ["bob@ext.test"] && m.contains("team news")
    });
    let (plain, _) = gpg_decrypt(&bob, dir.path(), &team);
    assert!(plain.contains("The team meets on Friday."), "{plain}");
    sink.wait_for("the bounce for carol's list copy", |m| {
        rcpt_of(m) == ["alice@example.com"]
            && m.contains("team news")
            && m.contains("carol@ext.test")
    });
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| rcpt_of(m).contains(&"team@example.com".to_string())),
        "the list address itself gets nothing"
    );

    // Inbound: Bob writes to Alice with gpg; she receives it decrypted and annotated.
    let body = write(dir.path(), "note.txt", "The eagle has landed.\n");
    let enc = dir.path().join("note.asc");
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
    let armored = std::fs::read_to_string(&enc).expect("encrypted note");
    let eml = write(
        dir.path(),
        "inbound.eml",
        &format!(
            "From: bob@ext.test\r\nTo: alice@example.com\r\nSubject: landing\r\nMessage-ID: <landing@ext.test>\r\n\r\n{}",
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
    let opened = sink.wait_for("alice's decrypted copy", |m| {
        rcpt_of(m) == ["alice@example.com"] && m.contains("landing@ext.test")
    });
    assert!(
        opened.contains("The eagle has landed."),
        "decrypted: {opened}"
    );
    assert!(!opened.contains("BEGIN PGP MESSAGE"), "{opened}");
    assert!(opened.contains("X-Signet-Decrypted: yes"), "{opened}");
    assert!(
        opened.contains("X-Signet-Signature: good; signer=bob@ext.test"),
        "{opened}"
    );

    // The Inbound proxy is no open relay.
    let out = swaks(&[
        "--server",
        &format!("127.0.0.1:{inbound}"),
        "--from",
        "spam@ext.test",
        "--to",
        "victim@elsewhere.test",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("550 5.7.1"),
        "{}",
        describe(&out)
    );

    let log = node.log();
    assert!(
        log.contains("recipient 1/2 (bob@ext.test): encrypted and signed (PgpMime)"),
        "{log}"
    );
    assert!(
        log.contains("(carol@ext.test): bounced: no key was found"),
        "{log}"
    );
}

/// Learn Mode changes nothing on the wire and logs what policy would have done; with the
/// KB 160945 option on, mail from an unmanaged domain is bounced with its log line.
#[test]
fn learn_mode_and_unmanaged_domains() {
    let _serial = serial();
    let sink = Sink::start();
    let (node, outbound, _, _bob, dir) = gateway(&sink, "bounce_unmanaged_senders = true");
    node.cli_ok(&["learn-mode", "on"]);
    // The unmanaged-domain bounce uses its message template, edited here; a template with a
    // variable it may not use is refused.
    let bad = write(
        dir.path(),
        "bad.txt",
        "From: $POSTMASTER\nSubject: $URL\n\nx\n",
    );
    let out = node.cli(&["template", "set", "internal-server-error", path_str(&bad)]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("$URL cannot be used"),
        "{}",
        describe(&out)
    );
    let custom = write(
        dir.path(),
        "custom.txt",
        "From: $POSTMASTER\nTo: $SENDER\nSubject: Blocked: $SUBJECT\n\nNot from a managed domain: $RECIPIENTS ($CONNECTION_ID)\n",
    );
    node.cli_ok(&[
        "template",
        "set",
        "internal-server-error",
        path_str(&custom),
    ]);
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "bob@ext.test",
            "--header",
            "Subject: [PGP] learn",
            "--body",
            "would be encrypted",
        ],
    );
    let m = sink.wait_for("the unchanged copy", |m| rcpt_of(m) == ["bob@ext.test"]);
    assert!(
        m.contains("would be encrypted") && !m.contains("BEGIN PGP"),
        "{m}"
    );
    wait_until(Duration::from_secs(10), "the Learn Mode log line", || {
        let log = node.log();
        log.contains(
            "(bob@ext.test): Learn Mode: delivered unchanged; policy would have: encrypted and signed",
        )
        .then_some(())
        .ok_or(log)
    });

    send_ok(
        outbound,
        &[
            "--from",
            "mallory@unmanaged.test",
            "--to",
            "bob@ext.test",
            "--header",
            "Subject: spoof",
        ],
    );
    let bounce = sink.wait_for("the unmanaged-domain bounce", |m| {
        rcpt_of(m) == ["mallory@unmanaged.test"]
    });
    assert!(
        bounce.contains("Subject: Blocked: spoof"),
        "the edited template: {bounce}"
    );
    assert!(
        bounce.contains("Not from a managed domain: bob@ext.test (SMTP-0"),
        "{bounce}"
    );
    let log = node.log();
    assert!(
        log.contains(
            "recipient 1/1 (bob@ext.test): unmanaged domain blocked: bouncing message from mallory@unmanaged.test"
        ),
        "{log}"
    );
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| rcpt_of(m) == ["bob@ext.test"])
            .count(),
        1,
        "the spoofed message was not delivered"
    );
}

/// Every message acknowledged with 250 survives kill -9: the next hop is down while they are
/// queued, the daemon is killed, and after a restart (and the next hop coming up) all arrive.
#[test]
fn acknowledged_mail_survives_kill_9() {
    let _serial = serial();
    let sink_port = free_port();
    let outbound = free_port();
    let inbound = free_port();
    let config = gateway_config(outbound, inbound, sink_port, "retry_delays_secs = [1]");
    let mut node = Node::spawn("gw", Some(&config));
    setup(&node, &["example.com"]);
    node.cli_ok(&["learn-mode", "off"]);
    const N: usize = 20;
    let out = common::run_bounded(
        {
            let mut c = std::process::Command::new("smtp-source");
            c.args([
                "-m",
                &N.to_string(),
                "-s",
                "4",
                "-f",
                "alice@example.com",
                "-t",
                "carol@ext.test",
                &format!("127.0.0.1:{outbound}"),
            ]);
            c
        },
        Duration::from_secs(60),
    )
    .expect("smtp-source hung");
    assert!(out.status.success(), "smtp-source\n{}", describe(&out));
    send_ok(
        outbound,
        &["--from", "alice@example.com", "--to", "doomed@ext.test"],
    );
    // The queue view shows every message waiting, with the reason.
    let queued = wait_until(
        Duration::from_secs(30),
        "the queue to hold every message",
        || {
            let list = node.cli_ok_json(&["queue", "list"]);
            let all = list.as_array().cloned().unwrap_or_default();
            let tried = all
                .iter()
                .filter(|m| m["reason"].as_str().unwrap_or("").contains("connecting"))
                .count();
            if all.len() == N + 1 && tried == N + 1 {
                Ok(all)
            } else {
                Err(format!("{} queued, {tried} tried: {list}", all.len()))
            }
        },
    );
    let doomed = queued
        .iter()
        .find(|m| m["recipients"][0]["address"] == "doomed@ext.test")
        .and_then(|m| m["id"].as_str())
        .expect("the doomed message is queued")
        .to_string();
    node.cli_ok(&["queue", "delete", &doomed]);
    let left = node.cli_ok_json(&["queue", "list"]);
    assert_eq!(left.as_array().map(Vec::len), Some(N), "{left}");
    node.kill9();
    let sink = Sink::start_on(sink_port);
    node.start();
    node.wait_ready();
    let all = sink.wait_count(N);
    assert_eq!(all.len(), N, "exactly once each");
    assert!(
        all.iter().all(|m| rcpt_of(m) == ["carol@ext.test"]),
        "the deleted one stays deleted"
    );
    wait_until(Duration::from_secs(10), "an empty queue", || {
        let list = node.cli_ok_json(&["queue", "list"]);
        (list.as_array().map(Vec::len) == Some(0))
            .then_some(())
            .ok_or(list.to_string())
    });
}

/// Abuse on the wire gets SMTP answers, never a crash: an over-long line, a flood of garbage
/// commands, and a message over the size limit.
#[test]
fn smtp_abuse_gets_replies_not_crashes() {
    let _serial = serial();
    let sink = Sink::start();
    let outbound = free_port();
    let inbound = free_port();
    let config = gateway_config(outbound, inbound, sink.port, "").replace(
        "allow = [\"127.0.0.0/8\"]",
        "allow = [\"127.0.0.0/8\"]\nmax_message_size = 2000",
    );
    let mut node = Node::spawn("gw", Some(&config));
    setup(&node, &["example.com"]);

    let talk = |lines: &[u8]| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", outbound)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut greeting = [0u8; 512];
        let _ = s.read(&mut greeting);
        let _ = s.write_all(lines);
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    };
    let long = format!("EHLO {}\r\nQUIT\r\n", "x".repeat(10_000));
    let answer = talk(long.as_bytes());
    assert!(answer.contains("500 5.5.6"), "line too long: {answer}");
    let garbage: String = (0..30)
        .map(|i| format!("\u{1}\u{2}GARBAGE {i}\r\n"))
        .collect();
    let answer = talk(garbage.as_bytes());
    assert!(
        answer.contains("421 4.7.0"),
        "closed after too many errors: {answer}"
    );
    let big = format!(
        "EHLO x\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@ext.test>\r\nDATA\r\nSubject: big\r\n\r\n{}\r\n.\r\nQUIT\r\n",
        "y".repeat(5000)
    );
    let answer = talk(big.as_bytes());
    assert!(answer.contains("552 5.3.4"), "too large: {answer}");
    // Malformed MIME still gets through the Exception chain (pass-through by default).
    let malformed = "EHLO x\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@ext.test>\r\nDATA\r\nthis is no header\r\n\u{ff}\u{fe}\r\n.\r\nQUIT\r\n";
    let answer = talk(malformed.as_bytes());
    assert!(answer.contains("250 2.0.0 Queued"), "{answer}");
    sink.wait_for("the malformed message passed through", |m| {
        m.contains("this is no header")
    });
    assert!(
        node.is_running(),
        "the daemon is still up:\n{}",
        node.log_tail(40)
    );
}

/// "Send copy to alternate archive server" (a server-only action): a rule at the top of the
/// Inbound chain sends a copy of every inbound message, as received, to the archive server
/// under its own envelope recipient, with the original recipients in a header; the message
/// itself is still delivered.
#[test]
fn archive_copies_go_to_the_archive_server() {
    let _serial = serial();
    let sink = Sink::start();
    let archive = Sink::start();
    let extra = format!(
        "[[mail.archive_server]]\nname = \"Archive\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"disable\"\n",
        archive.port
    );
    // The archive server table must follow the [mail] keys, so it goes after the proxies.
    let outbound = free_port();
    let inbound = free_port();
    let config = format!(
        "{}\n{extra}",
        gateway_config(outbound, inbound, sink.port, "")
    );
    let node = Node::spawn("gw", Some(&config));
    setup(&node, &["example.com"]);
    node.cli_ok(&["learn-mode", "off"]);
    let dir = tmp();
    let rule = serde_json::json!({
        "name": "Archive everything",
        "description": "",
        "enabled": true,
        "conditions": { "statement": "AlwaysTrue", "children": [] },
        "actions": [{ "SendArchiveCopy": {
            "archive_server": "Archive",
            "envelope_recipient": "archive@example.com",
            "preserve_envelope_headers": true,
            "copy_of": "Original",
            "attempt_decrypt": false,
            "encrypt_to": [],
            "encoding": "PgpMime",
            "sign_with_organization_key": false
        }}],
        "key_search": []
    });
    let file = write(dir.path(), "rule.json", &rule.to_string());
    node.cli_ok(&[
        "policy",
        "rule",
        "add",
        "Inbound",
        path_str(&file),
        "--position",
        "1",
    ]);
    send_ok(
        inbound,
        &[
            "--from",
            "carol@ext.test",
            "--to",
            "alice@example.com",
            "--header",
            "Subject: keep this",
            "--body",
            "For the record.",
        ],
    );
    let copy = archive.wait_for("the archive copy", |m| {
        rcpt_of(m) == ["archive@example.com"]
    });
    assert!(
        copy.contains("X-PGP-Envelope-Recipients: alice@example.com"),
        "{copy}"
    );
    assert!(copy.contains("For the record."), "{copy}");
    let sent = sink.wait_for("alice's copy", |m| rcpt_of(m) == ["alice@example.com"]);
    assert!(!sent.contains("X-PGP-Envelope-Recipients"), "{sent}");
}

/// Key search and the key cache in the mail path: a recipient without a key is found on the
/// keyserver the rule's Key Search names, cached, and encrypted to; a key attached to inbound
/// mail is harvested and used for the next outbound message.
#[test]
fn keys_from_keyservers_and_from_the_mail_flow() {
    let _serial = serial();
    let sink = Sink::start();
    let dir = tmp();
    let dan = Gpg::new();
    dan.generate("Dan <dan@partner.test>");
    let dan_asc = dir.path().join("dan.asc");
    dan.export_public("dan@partner.test", &dan_asc);
    let dan_key = std::fs::read_to_string(&dan_asc).expect("dan's key");
    let hkp = Hkp::start(vec![("dan@partner.test".into(), dan_key)]);
    let outbound = free_port();
    let inbound = free_port();
    let config = format!(
        "{}\n[[mail.keyserver]]\ndescription = \"Partner HKP\"\nkind = \"hkp\"\nhost = \"127.0.0.1\"\nport = {}\n",
        gateway_config(outbound, inbound, sink.port, "keyserver_timeout_secs = 5"),
        hkp.port
    );
    let node = Node::spawn("gw", Some(&config));
    setup(&node, &["example.com"]);
    node.cli_ok(&["learn-mode", "off"]);
    node.cli_ok(&["user", "add", "alice@example.com"]);
    // The factory "Encrypt to Key" rule gets a Key Search list.
    let chain = "Outbound: Secure With Key Only";
    let mut rule = node.cli_ok_json(&["policy", "rule", "show", chain, "Encrypt to Key"]);
    rule["key_search"] = serde_json::json!([{ "keyserver": "Partner HKP" }]);
    let file = write(dir.path(), "rule.json", &rule.to_string());
    node.cli_ok(&[
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
            "alice@example.com",
            "--to",
            "dan@partner.test",
            "--header",
            "Subject: [PGP] found on the keyserver",
            "--body",
            "Dan's key came from HKP.",
        ],
    );
    let to_dan = sink.wait_for("dan's copy", |m| rcpt_of(m) == ["dan@partner.test"]);
    let (plain, _) = gpg_decrypt(&dan, dir.path(), &to_dan);
    assert!(plain.contains("Dan's key came from HKP."), "{plain}");
    let cache = node.cli_ok_json(&["keycache", "list"]);
    assert!(cache.to_string().contains("dan@partner.test"), "{cache}");
    assert!(
        cache.to_string().contains("Partner HKP"),
        "the source: {cache}"
    );

    // Erin sends her key along with an inbound message; it is harvested.
    let erin = Gpg::new();
    erin.generate("Erin <erin@faraway.test>");
    let erin_asc = dir.path().join("erin.asc");
    erin.export_public("erin@faraway.test", &erin_asc);
    let erin_key = std::fs::read_to_string(&erin_asc).expect("erin's key");
    let eml = write(
        dir.path(),
        "with-key.eml",
        &format!(
            "From: erin@faraway.test\r\nTo: alice@example.com\r\nSubject: my key\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHere is my key.\r\n--b\r\nContent-Type: application/pgp-keys; name=\"erin.asc\"\r\nContent-Disposition: attachment; filename=\"erin.asc\"\r\n\r\n{}\r\n--b--\r\n",
            erin_key.replace('\n', "\r\n")
        ),
    );
    send_ok(
        inbound,
        &[
            "--from",
            "erin@faraway.test",
            "--to",
            "alice@example.com",
            "--data",
            path_str(&eml),
        ],
    );
    sink.wait_for("alice's copy of erin's mail", |m| {
        m.contains("Here is my key.")
    });
    wait_until(Duration::from_secs(20), "erin's key in the cache", || {
        let cache = node.cli_ok_json(&["keycache", "list"]);
        cache
            .to_string()
            .contains("erin@faraway.test")
            .then_some(())
            .ok_or(cache.to_string())
    });
    send_ok(
        outbound,
        &[
            "--from",
            "alice@example.com",
            "--to",
            "erin@faraway.test",
            "--header",
            "Subject: [PGP] thanks",
            "--body",
            "Got your key.",
        ],
    );
    let to_erin = sink.wait_for("erin's copy", |m| rcpt_of(m) == ["erin@faraway.test"]);
    let (plain, _) = gpg_decrypt(&erin, dir.path(), &to_erin);
    assert!(plain.contains("Got your key."), "{plain}");
}
