//! End-to-end tests for the system commands of the `signet` CLI: `signet logs` finds an event
//! the node logged, `signet backup download` fetches the very file the node wrote, `signet
//! certificate show` names the certificate the admin port really presents, `signet activity`
//! prints its table. Real `signetd` driven through the CLI; `openssl s_client` reads the served
//! certificate.
//!
//! Build the binaries first: `cargo build --bins`.

mod admin_support;
mod common;
mod keys_support;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use admin_support::{Auth, api_address, node_with_root};
use common::{CLI_TIMEOUT, Node, describe, run_bounded, serial};
use keys_support::*;

/// The SHA-256 (hex) of the certificate the node presents on `addr`, read with openssl.
fn served_fingerprint(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "signet-admin"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    let mut x509 = Command::new("openssl")
        .args(["x509", "-outform", "DER"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl x509 runs");
    x509.stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("pipe to openssl");
    let der = x509.wait_with_output().expect("openssl x509 finishes");
    assert!(der.status.success(), "{}", describe(&der));
    let mut sum = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    sum.stdin
        .take()
        .expect("stdin")
        .write_all(&der.stdout)
        .expect("pipe to sha256sum");
    let sum = sum.wait_with_output().expect("sha256sum finishes");
    String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn logs_backup_download_certificate_and_activity_over_the_cli() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    // A backup under a known name: the node logs it, and the download equals the file on disk.
    let made = a.cli_ok_json(&["backup", "create", "--name", "clitest_42"]);
    let file = str_of(&made, "file").to_string();
    let name = file.rsplit('/').next().expect("a file name").to_string();
    let out = dir.path().join("copy.pgp");
    let got = a.cli_ok_json(&["backup", "download", &name, "-o", path_str(&out)]);
    assert_eq!(
        got["bytes"].as_u64(),
        Some(fs::read(&file).expect("backup").len() as u64)
    );
    assert_eq!(
        fs::read(&out).expect("downloaded file"),
        fs::read(&file).expect("backup on disk"),
        "the download differs from the backup on disk"
    );
    // Without .pgp works too; a path or an unknown name is refused clearly.
    let stem = name.trim_end_matches(".pgp");
    let out2 = dir.path().join("copy2.pgp");
    a.cli_ok(&["backup", "download", stem, "-o", path_str(&out2)]);
    assert_eq!(
        fs::read(&out2).expect("second copy"),
        fs::read(&file).expect("backup")
    );
    for bad in ["../cli.json", "no-such-backup"] {
        let o = a.cli(&[
            "backup",
            "download",
            bad,
            "-o",
            path_str(&dir.path().join("x")),
        ]);
        assert!(!o.status.success(), "{bad}: {}", describe(&o));
        assert!(!dir.path().join("x").exists(), "{bad} wrote a file");
    }

    // The log book has the backup event, found by the backup's name.
    let logs = a.cli_ok_json(&["logs", "--query", "clitest_42"]);
    let entries = logs["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("backup written"))),
        "{logs}"
    );
    let text = a.cli_ok(&["logs", "--query", "clitest_42", "--level", "info"]);
    assert!(text.contains("backup written"), "{text}");
    let export = a.cli_ok(&["logs", "--export", "--query", "clitest_42"]);
    assert!(export.contains("backup written"), "{export}");
    let o = a.cli(&["logs", "--level", "loud"]);
    assert!(!o.status.success(), "{}", describe(&o));

    // The certificate the CLI shows is the one the admin port serves.
    let cli: serde_json::Value =
        serde_json::from_slice(&fs::read(a.data_dir().join("cli.json")).expect("cli.json"))
            .expect("cli.json is JSON");
    let served = served_fingerprint(cli["api"].as_str().expect("api address"));
    let shown = a.cli_ok_json(&["certificate", "show"]);
    assert_eq!(str_of(&shown, "fingerprint_sha256"), served, "{shown}");
    assert!(shown.get("pem").is_none(), "{shown}");
    let text = a.cli_ok(&["certificate", "show"]);
    assert!(text.contains(&served), "{text}");

    // Activity prints its table (the first sample may not be taken yet).
    let activity = a.cli_ok(&["activity"]);
    assert!(activity.contains("messages"), "{activity}");
    let activity = a.cli_ok_json(&["activity"]);
    assert!(activity["samples"].is_array(), "{activity}");
}

/// GET `path` on the admin port with a session cookie: status and raw body.
fn get_page(node: &Node, path: &str, auth: &Auth) -> (u16, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--http2", "-o", "-", "-w", "\n%{http_code}"])
        .args([
            "-H",
            &format!(
                "cookie: signet_session={}",
                auth.cookie.as_deref().unwrap_or("")
            ),
        ])
        .arg(format!("https://{}{path}", api_address(node)));
    let out = run_bounded(cmd, CLI_TIMEOUT).expect("curl finishes");
    let mut body = out.stdout;
    let split = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&body[split..])
        .trim()
        .parse()
        .unwrap_or(0);
    body.truncate(split);
    (code, body)
}

/// POST a form to a UI route with the session's cookie and CSRF token; the status.
fn post_form(node: &Node, path: &str, auth: &Auth, fields: &[(&str, &str)]) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-k",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .args([
        "-H",
        &format!(
            "cookie: signet_session={}",
            auth.cookie.as_deref().unwrap_or("")
        ),
    ])
    .args([
        "--data-urlencode",
        &format!("csrf={}", auth.csrf.as_deref().unwrap_or("")),
    ]);
    for (k, v) in fields {
        cmd.args(["--data-urlencode", &format!("{k}={v}")]);
    }
    cmd.arg(format!("https://{}{path}", api_address(node)));
    let out = run_bounded(cmd, CLI_TIMEOUT).expect("curl finishes");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The admin UI's new pieces, as a browser would get them: the passphrase-expiry banner on every
/// page, the backup download link, and a user's key actions.
#[test]
fn ui_banner_backup_download_and_user_key_actions() {
    let _serial = serial();
    let (a, root) = node_with_root("A");
    setup(&a, &["example.com"]);
    a.cli_ok(&["user", "add", "alice@example.com"]);

    // No banner while the passphrase is far from expiry; with a 10-day maximum age, every page
    // says 10 days and links to My passphrase.
    let (code, page) = get_page(&a, "/mail/queue", &root);
    assert_eq!(code, 200);
    assert!(!String::from_utf8_lossy(&page).contains("Your passphrase expires"));
    a.cli_ok(&["admin", "settings", "set", "max_age_days=10"]);
    for path in ["/overview", "/mail/queue", "/system/backups"] {
        let (code, page) = get_page(&a, path, &root);
        let page = String::from_utf8_lossy(&page);
        assert_eq!(code, 200, "{path}");
        assert!(
            page.contains("Your passphrase expires in 10 days")
                && page.contains("/system/passphrase"),
            "{path}: no banner"
        );
    }

    // The Backups page links each backup; the link gives the file as it is on disk.
    let made = a.cli_ok_json(&["backup", "create"]);
    let file = str_of(&made, "file").to_string();
    let name = file.rsplit('/').next().expect("file name").to_string();
    let (_, page) = get_page(&a, "/system/backups", &root);
    let link = format!("/system/backups/{name}/download");
    assert!(
        String::from_utf8_lossy(&page).contains(&link),
        "no download link"
    );
    let (code, bytes) = get_page(&a, &link, &root);
    assert_eq!(code, 200);
    assert_eq!(bytes, fs::read(&file).expect("backup on disk"));

    // A user's page: add a generated key, revoke it, delete it (after confirming).
    let user = "/consumers/user/alice@example.com";
    let (_, page) = get_page(&a, user, &root);
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("Add a key") && page.contains("Revoke"),
        "no key actions"
    );
    let before = a.cli_ok_json(&["key", "list", "alice@example.com"]);
    let before = before.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(
        post_form(&a, &format!("{user}/keys"), &root, &[("mode", "SKM")]),
        303
    );
    let keys = a.cli_ok_json(&["key", "list", "alice@example.com"]);
    let keys = keys.as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), before + 1, "{keys:?}");
    let fpr = str_of(&keys[0], "fingerprint").to_string();
    assert_eq!(
        post_form(&a, &format!("{user}/keys/{fpr}/revoke"), &root, &[]),
        303
    );
    let keys = a.cli_ok_json(&["key", "list", "alice@example.com"]);
    let revoked = keys
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["fingerprint"] == fpr.as_str())
        .expect("the key is still listed");
    assert!(revoked["revoked_at"].is_u64(), "{revoked}");
    // Unconfirmed, nothing is deleted; confirmed, the key is gone.
    post_form(&a, &format!("{user}/keys/{fpr}/delete"), &root, &[]);
    let keys = a.cli_ok(&["key", "list", "alice@example.com"]);
    assert!(keys.contains(&fpr), "deleted without confirmation");
    post_form(
        &a,
        &format!("{user}/keys/{fpr}/delete"),
        &root,
        &[("confirmed", "yes")],
    );
    let keys = a.cli_ok(&["key", "list", "alice@example.com"]);
    assert!(!keys.contains(&fpr), "not deleted: {keys}");
}

/// `signet certificate replace` stores a new pair (the key is never printed); after a restart
/// the node serves it and the CLI, whose pin was updated, still reaches the node.
#[test]
fn certificate_replace_is_served_after_a_restart() {
    let _serial = serial();
    let dir = tmp();
    let mut a = Node::spawn("A", None);
    let (cert, key) = (dir.path().join("admin.crt"), dir.path().join("admin.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", "/CN=signet-admin"])
        .args(["-addext", "subjectAltName=DNS:signet-admin,IP:127.0.0.1"])
        .args(["-keyout", path_str(&key), "-out", path_str(&cert)])
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", describe(&made));
    let out = a.cli_ok(&[
        "certificate",
        "replace",
        "--cert",
        path_str(&cert),
        "--key",
        path_str(&key),
    ]);
    assert!(!out.contains("PRIVATE KEY"), "the key was echoed: {out}");
    a.restart();
    let cli: serde_json::Value =
        serde_json::from_slice(&fs::read(a.data_dir().join("cli.json")).expect("cli.json"))
            .expect("cli.json is JSON");
    let served = served_fingerprint(cli["api"].as_str().expect("api address"));
    let shown = a.cli_ok_json(&["certificate", "show"]);
    assert_eq!(str_of(&shown, "fingerprint_sha256"), served, "{shown}");
    assert_eq!(str_of(&shown, "subject"), "CN=signet-admin", "{shown}");
    assert!(out.contains(&served), "{out}");
    // A missing key file is refused before anything is sent.
    let o = a.cli(&[
        "certificate",
        "replace",
        "--cert",
        path_str(&cert),
        "--key",
        "/nonexistent",
    ]);
    assert!(!o.status.success(), "{}", describe(&o));
}
