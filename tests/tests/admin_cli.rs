//! End-to-end tests for the system commands of the `signet` CLI: `signet logs` finds an event
//! the node logged, `signet backup download` fetches the very file the node wrote, `signet
//! certificate show` names the certificate the admin port really presents, `signet activity`
//! prints its table, `signet admin show|set-email|token` manage administrators, a replaced admin
//! certificate is served without a restart, `signet cluster contact` joins a waiting server,
//! and a locked-out administrator gets the lockout notice by mail. Real `signetd` driven
//! through the CLI; `openssl s_client` reads the served certificate; Postfix's smtp-sink
//! receives the mail.
//!
//! Build the binaries first: `cargo build --bins`.

mod admin_support;
mod common;
mod keys_support;
mod mail_support;

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

    // Administrators over the CLI: show one, change the email, issue a token for a script.
    a.cli_ok(&["admin", "add", "scripts", "--role", "read-only"]);
    a.cli_ok(&["admin", "set-email", "scripts", "ops@example.com"]);
    let shown = a.cli_ok_json(&["admin", "show", "scripts"]);
    assert_eq!(str_of(&shown, "email"), "ops@example.com", "{shown}");
    assert_eq!(str_of(&shown, "role"), "read-only", "{shown}");
    let token = a.cli_ok(&["admin", "token", "scripts", "--label", "nightly report"]);
    let token = token.trim();
    assert_eq!(token.len(), 64, "one hex token on stdout: {token:?}");
    let auth = Auth::token(token);
    let list = admin_support::call(&a, "GET", "/api/v1/cluster", &auth, None);
    assert_eq!(list.status, 200, "{}", list.detail());
    // The token carries the read-only role: a change is refused.
    let change = admin_support::call(
        &a,
        "PUT",
        "/api/v1/administrators/scripts",
        &auth,
        Some(&serde_json::json!({ "email": "" })),
    );
    assert_eq!(change.status, 403, "{}", change.detail());
    let o = a.cli(&["admin", "show", "nobody-here"]);
    assert!(!o.status.success(), "{}", describe(&o));
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

/// `signet certificate replace` stores a new pair (the key is never printed); the node serves
/// it from the next handshake on and again after a restart, and the CLI, whose pin was
/// updated, still reaches the node.
#[test]
fn certificate_replace_is_served_at_once_and_after_a_restart() {
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
    let cli: serde_json::Value =
        serde_json::from_slice(&fs::read(a.data_dir().join("cli.json")).expect("cli.json"))
            .expect("cli.json is JSON");
    let api = cli["api"].as_str().expect("api address").to_string();
    // Served by the next handshake, without a restart, and the CLI (re-pinned) still connects.
    let served = served_fingerprint(&api);
    assert!(out.contains(&served), "not served at once: {out}");
    let shown = a.cli_ok_json(&["certificate", "show"]);
    assert_eq!(str_of(&shown, "fingerprint_sha256"), served, "{shown}");
    a.restart();
    assert_eq!(
        served_fingerprint(&api),
        served,
        "a restart serves the stored certificate"
    );
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

/// Joining by contact: the new server waits in its setup assistant; a member contacts it with
/// its admin address and setup code (`signet cluster contact`, the cluster page's Contact). A
/// wrong code is refused by the waiting server and nothing joins; the right one makes it a
/// voter; once joined, it is not waiting any more.
#[test]
fn a_member_contacts_a_waiting_server_and_it_joins() {
    let _serial = serial();
    let sponsor = Node::spawn("sponsor", None);
    setup(&sponsor, &["example.com"]);
    let joiner = Node::spawn("joiner", None);
    let code = fs::read_to_string(joiner.data_dir().join("setup-code"))
        .expect("the blank joiner has a setup code");
    let address = api_address(&joiner);

    let wrong = sponsor.cli(&[
        "cluster",
        "contact",
        &address,
        "--setup-code",
        "AAAA-BBBB-CCCC",
    ]);
    assert!(!wrong.status.success(), "{}", describe(&wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("refused the setup code"),
        "{}",
        describe(&wrong)
    );
    let status = sponsor.try_status().expect("sponsor status");
    assert_eq!(common::voter_count(&status), 1, "{status}");

    let joined =
        sponsor.cli_ok_json(&["cluster", "contact", &address, "--setup-code", code.trim()]);
    assert_eq!(joined["state"], "joining", "{joined}");
    sponsor.wait_voters(2);
    // It took the cluster's data: the sponsor's managed domain is there.
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the joiner to serve the cluster's data",
        || {
            let out = joiner.cli(&["domain", "list"]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if text.contains("example.com") {
                Ok(())
            } else {
                Err(describe(&out))
            }
        },
    );
    // Once joined, it is no longer waiting: a second contact is refused.
    let own = sponsor.cli(&["cluster", "contact", &address, "--setup-code", code.trim()]);
    assert!(!own.status.success(), "{}", describe(&own));
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("not waiting to join"),
        "{}",
        describe(&own)
    );
}

/// Guide ADM-6: a locked-out administrator "is mailed if they have an address". With lockout
/// at 3, the third wrong passphrase locks ann, and the member's mail queue delivers the
/// lockout notice (the `administrator-lockout` template) to her address at the next hop.
#[test]
fn a_locked_out_administrator_is_mailed() {
    let _serial = serial();
    let sink = mail_support::Sink::start();
    let config =
        mail_support::gateway_config(common::free_port(), common::free_port(), sink.port, "");
    let a = Node::spawn("lockout", Some(&config));
    setup(&a, &["example.com"]);
    let boot = Auth::token(&admin_support::cli_token(&a));
    admin_support::add_admin(&a, &boot, "ann", "basic", admin_support::GOOD);
    a.cli_ok(&["admin", "set-email", "ann", "ann@example.com"]);
    a.cli_ok(&[
        "admin",
        "settings",
        "set",
        "lockout_threshold=3",
        "captcha_threshold=10",
    ]);
    for _ in 0..3 {
        let (r, auth) = admin_support::login(&a, "ann", "Wrong#pass1");
        assert!(auth.is_none(), "{}", r.body);
    }
    let (r, auth) = admin_support::login(&a, "ann", admin_support::GOOD);
    assert!(auth.is_none(), "locked: {}", r.body);
    let notice = sink.wait_for("the lockout notice", |m| {
        mail_support::rcpt_of(m) == ["ann@example.com"]
    });
    assert!(
        notice.contains("Subject: Your Signet administrator account ann is locked"),
        "{notice}"
    );
    assert!(notice.contains("signet admin unlock ann"), "{notice}");
    // The overview and Network pages list the running SMTP proxies from the mail API.
    admin_support::add_admin(&a, &boot, "olga", "read-only", admin_support::GOOD);
    let olga = admin_support::session(&a, "olga", admin_support::GOOD);
    for page in ["/overview", "/system/network"] {
        let (code, body) = get_page(&a, page, &olga);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(code, 200, "{page}: {body}");
        assert!(body.contains("SMTP proxy (Outbound)"), "{page}: {body}");
        assert!(body.contains("running"), "{page}: {body}");
    }
    // One notice per lockout, not one per refused login.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(sink.messages().len(), 1, "{:?}", sink.messages());
}
