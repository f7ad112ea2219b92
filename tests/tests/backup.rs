//! End-to-end tests for backups: a backup made on one server restores on a fresh one with the
//! Organization Key, and every bad input is a clear error that changes nothing. Real `signetd`
//! daemons driven through the `signet` CLI.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use common::{Node, describe, serial};
use keys_support::*;

/// A backup restores onto a fresh server with the Organization Key: users, keys (with usable
/// private keys), domains, dictionaries and settings. Bad inputs change nothing.
#[test]
fn backup_restores_on_a_fresh_server_and_bad_inputs_change_nothing() {
    let _serial = serial();
    let dir = tmp();
    let p = |name: &str| dir.path().join(name);
    let a = Node::spawn("A", None);
    setup(&a, &["example.com", "example.org"]);
    a.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let gpg = Gpg::new();
    gpg.generate("Bob <bob@example.org>");
    gpg.export_public("bob@example.org", &p("bob.asc"));
    a.cli_ok(&[
        "user",
        "add",
        "bob@example.org",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&p("bob.asc")),
    ]);
    a.cli_ok(&[
        "user",
        "add",
        "partner@partner.test",
        "--external",
        "--no-key",
    ]);
    a.api_json(
        "POST",
        "/api/v1/dictionaries",
        Some(&json!({ "name": "vip", "description": "very important" })),
    );
    a.api_json(
        "POST",
        "/api/v1/dictionaries/vip/entries",
        Some(&json!({ "entries": ["ceo@example.com", "cfo@example.com"] })),
    );
    a.cli_ok(&["learn-mode", "off"]);
    let schedule = a.cli_ok_json(&[
        "backup", "schedule", "--enable", "--time", "02:00", "--keep", "3",
    ]);
    assert_eq!(schedule["enabled"], true, "{schedule}");
    assert_eq!(schedule["time"], "02:00", "{schedule}");
    assert_eq!(schedule["keep"], 3, "{schedule}");

    let made = a.cli_ok_json(&["backup", "create"]);
    let file = str_of(&made, "file").to_string();
    assert!(
        Path::new(&file).starts_with(a.data_dir().join("backups")) && file.ends_with(".pgp"),
        "{made}"
    );
    let listed = a.cli_ok_json(&["backup", "list"]);
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|b| b["file"] == file.as_str())),
        "{listed}"
    );
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&p("org.asc")),
    ]);

    let users_a = a.cli_ok_json(&["user", "list"]);
    let domains_a = a.domains();
    let learn_a = a.cli_ok_json(&["learn-mode", "status"]);
    let dicts_a = a.api_json("GET", "/api/v1/dictionaries/vip/entries", None);
    let alice_a = only_key(&a, "alice@example.com");
    let alice_fpr = str_of(&alice_a, "fingerprint").to_string();
    let org_a = org_fingerprint(&a);

    // Bad inputs on a fresh server: each a clear error, nothing changed.
    let c = Node::spawn("C", None);
    let bytes = fs::read(&file).expect("backup file");
    fs::write(p("truncated.pgp"), &bytes[..bytes.len() / 2]).expect("write");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(p("garbage.pgp"), garbage).expect("write");
    let other = Node::spawn("D", None);
    setup(&other, &["other.example"]);
    other.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&p("other-org.asc")),
    ]);
    drop(other);
    let org_text = fs::read_to_string(p("org.asc")).expect("org.asc");
    let mut lines: Vec<&str> = org_text.lines().collect();
    let middle = lines.len() / 2;
    lines[middle] = "!!!! this is not base64 !!!!";
    fs::write(p("bad-armor.asc"), lines.join("\n")).expect("write");

    for (what, backup, key, needle) in [
        (
            "a truncated backup",
            p("truncated.pgp"),
            p("org.asc"),
            "cannot be decrypted",
        ),
        (
            "a garbage file",
            p("garbage.pgp"),
            p("org.asc"),
            "cannot be decrypted",
        ),
        (
            "another server's key",
            PathBuf::from(&file),
            p("other-org.asc"),
            "cannot be decrypted",
        ),
        (
            "malformed armor",
            PathBuf::from(&file),
            p("bad-armor.asc"),
            "Organization Key cannot be read",
        ),
    ] {
        let out = c.cli(&[
            "backup",
            "restore",
            path_str(&backup),
            "--organization-key",
            path_str(&key),
        ]);
        assert_fails_with(&out, what, &[needle]);
        assert!(c.domains().is_empty(), "{what}: domains appeared on C");
        assert_eq!(
            c.cli_ok_json(&["user", "list"]),
            json!([]),
            "{what}: users appeared on C"
        );
        let out = c.cli(&["org", "show", "organization-key"]);
        assert_error_line(&out, &format!("{what}: C's Organization Key"), &["404"]);
    }

    // The real thing on another fresh server.
    let b = Node::spawn("B", None);
    let out = b.cli(&[
        "backup",
        "restore",
        &file,
        "--organization-key",
        path_str(&p("org.asc")),
    ]);
    assert!(out.status.success(), "restore on B\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in ["[1/3]", "[2/3]", "[3/3]", "done in"] {
        assert!(
            stderr.contains(step),
            "restore progress lacks {step:?}:\n{stderr}"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("restored"),
        "{}",
        describe(&out)
    );

    assert_eq!(
        b.cli_ok_json(&["user", "list"]),
        users_a,
        "users after restore"
    );
    assert_eq!(b.domains(), domains_a, "domains after restore");
    assert_eq!(
        b.cli_ok_json(&["learn-mode", "status"]),
        learn_a,
        "Learn Mode after restore"
    );
    assert_eq!(learn_a["learn_mode"], false);
    assert_eq!(
        b.api_json("GET", "/api/v1/dictionaries/vip/entries", None),
        dicts_a,
        "dictionary after restore"
    );
    assert_eq!(org_fingerprint(&b), org_a, "Organization Key after restore");
    assert_eq!(
        b.cli_ok_json(&["backup", "schedule"]),
        schedule,
        "backup schedule after restore"
    );
    let alice_b = only_key(&b, "alice@example.com");
    assert_eq!(alice_b["fingerprint"], alice_a["fingerprint"], "{alice_b}");
    assert_eq!(alice_b["organization_certified"], true, "{alice_b}");
    assert_eq!(only_key(&b, "bob@example.org")["mode"], "CKM");

    // Private keys are usable on B: the secrets came along with their data key.
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "-o",
        path_str(&p("alice.asc")),
    ]);
    b.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "--private",
        "-o",
        path_str(&p("alice-b.asc")),
    ]);
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "--private",
        "-o",
        path_str(&p("alice-a.asc")),
    ]);
    let public = gpg.dearmor(&p("alice.asc"));
    assert_eq!(
        secret_material(&gpg.dearmor(&p("alice-b.asc")), &public),
        secret_material(&gpg.dearmor(&p("alice-a.asc")), &public),
        "alice's private key on B equals A's"
    );
    // And B can do new private-key work (certify with the restored Organization Key).
    b.cli_ok(&["user", "add", "dave@example.com"]);
    assert_eq!(
        only_key(&b, "dave@example.com")["organization_certified"],
        true
    );
}
