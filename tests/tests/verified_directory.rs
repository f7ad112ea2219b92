//! End-to-end tests for the Verified Directory: a key with two user IDs made by gpg is
//! submitted with curl and with `gpg --send-keys` (HKP `/pks/add`); the confirmation mails are
//! captured by Postfix's smtp-sink; following one link publishes that user ID only, certified
//! by the Verified Directory Key, and gpg fetches it over HKP; LDAP, HKP and the web search
//! never show the unconfirmed one. Manual vetting waits for the administrator; expired links,
//! bad uploads and removal by emailed link.
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod keyserver_http_support;
mod keyserver_support;
mod mail_support;
mod vd_support;

use std::time::Duration;

use common::{describe, serial, wait_until};
use keys_support::{Gpg, fingerprints, path_str, setup, str_of, tmp};
use keyserver_http_support::{get, wait_for_200};
use keyserver_support::ldapsearch;
use vd_support::{VdNode, post_empty, post_form};

/// A gpg key `Dee <d@ext.test>` with a second user ID `Dee Other <dee@other.test>`; returns
/// the fingerprint and the armored public key file.
fn two_uid_key(gpg: &Gpg, dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let fpr = gpg.generate("Dee <d@ext.test>");
    gpg.ok(&["--quick-add-uid", &fpr, "Dee Other <dee@other.test>"]);
    let file = dir.join("dee.asc");
    gpg.export_public(&fpr, &file);
    (fpr, file)
}

/// The Verified Directory Key's fingerprint.
fn vd_key_fingerprint(node: &VdNode) -> String {
    let settings = node.node.cli_ok_json(&["vd", "settings"]);
    str_of(&settings, "verified_directory_key").to_uppercase()
}

#[test]
fn email_vetting_publishes_only_confirmed_user_ids() {
    let _serial = serial();
    let dir = tmp();
    let vd = VdNode::spawn("VD");
    setup(&vd.node, &["example.com"]);

    // Disabled (the default): /pks/add is refused, the pages are not there.
    let refused = post_form(&vd.url("/pks/add"), "keytext=x", dir.path());
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(get(&vd.url("/vd/"), dir.path()).status, 404);

    let settings = vd.node.cli_ok_json(&[
        "vd",
        "settings",
        "--enable",
        "--vetting",
        "automatic",
        "--public-url",
        &vd.base(),
    ]);
    assert_eq!(settings["vetting"], "automatic", "{settings}");
    assert_eq!(settings["token_validity_hours"], 336);
    assert_eq!(settings["resend_interval_hours"], 24);
    assert_eq!(settings["max_search_results"], 25);
    let vd_fpr = vd_key_fingerprint(&vd);
    let vd_key = vd_fpr[vd_fpr.len() - 16..].to_string();

    let home = get(&vd.url("/vd/"), dir.path());
    assert_eq!(home.status, 200);
    assert!(
        home.text().contains("<form action=\"/vd/submit\""),
        "{}",
        home.text()
    );
    assert!(!home.text().contains("<script"), "plain HTML");

    let gpg = Gpg::new();
    let (fpr, file) = two_uid_key(&gpg, dir.path());

    // Submit with curl: one confirmation mail per address.
    let submitted = post_form(
        &vd.url("/vd/submit"),
        &format!("keytext@{}", path_str(&file)),
        dir.path(),
    );
    assert_eq!(submitted.status, 200, "{}", submitted.text());
    assert!(
        submitted.text().contains("d@ext.test"),
        "{}",
        submitted.text()
    );
    let confirm = vd.wait_link("d@ext.test", "confirm", 1);
    vd.wait_link("dee@other.test", "confirm", 1);
    let mail = vd.mails_to("d@ext.test").remove(0);
    assert!(mail.contains(&fpr), "the mail names the key: {mail}");
    assert!(mail.contains("Subject: Confirm your address"), "{mail}");

    // Nothing is published before a confirmation.
    let by_fpr = vd.url(&format!("/pks/lookup?op=get&options=mr&search=0x{fpr}"));
    assert_eq!(get(&by_fpr, dir.path()).status, 404);

    // Submitted again within 24 h, now through HKP with gpg: no second mail.
    let out = gpg.run(&["--keyserver", &vd.hkp(), "--send-keys", &fpr]);
    assert!(out.status.success(), "gpg --send-keys\n{}", describe(&out));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(vd.mails_to("d@ext.test").len(), 1, "one mail per 24 hours");
    assert_eq!(vd.mails_to("dee@other.test").len(), 1);

    // The link opens a page with a button; its POST publishes.
    let page = get(&confirm, dir.path());
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("method=\"post\""), "{}", page.text());
    assert_eq!(
        get(&by_fpr, dir.path()).status,
        404,
        "a GET changes nothing"
    );
    let done = post_empty(&confirm, dir.path());
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.text().contains("published"), "{}", done.text());
    let again = post_empty(&confirm, dir.path());
    assert_eq!(again.status, 404, "a link works once: {}", again.text());

    // gpg fetches it over HKP: only the confirmed user ID, certified by the VD Key.
    let served = wait_for_200(&by_fpr, dir.path());
    let served_file = dir.path().join("served.asc");
    std::fs::write(&served_file, &served.body).expect("write");
    let mut sq = std::process::Command::new("sq");
    sq.args(["inspect", "--certifications", path_str(&served_file)]);
    let inspected = common::run_bounded(sq, Duration::from_secs(30)).expect("sq hung");
    let text = String::from_utf8_lossy(&inspected.stdout).into_owned();
    assert!(inspected.status.success(), "{}", describe(&inspected));
    assert!(
        text.contains(&format!("Alleged certifier: {vd_fpr}")),
        "{text}"
    );
    assert!(!text.contains("other.test"), "{text}");
    // gpg keeps only self-signatures from keyservers unless told otherwise.
    let other = Gpg::new();
    let out = other.run(&[
        "--keyserver",
        &vd.hkp(),
        "--keyserver-options",
        "no-self-sigs-only,no-import-clean",
        "--recv-keys",
        &fpr,
    ]);
    assert!(out.status.success(), "gpg --recv-keys\n{}", describe(&out));
    let sigs = other.ok(&["--with-colons", "--list-sigs", &fpr]);
    assert_eq!(fingerprints(&sigs).first().copied(), Some(fpr.as_str()));
    let uids: Vec<&str> = sigs.lines().filter(|l| l.starts_with("uid:")).collect();
    assert_eq!(uids.len(), 1, "{sigs}");
    assert!(uids[0].contains("Dee <d@ext.test>"), "{sigs}");
    assert!(!sigs.contains("other.test"), "{sigs}");
    let vd_sig = sigs
        .lines()
        .find(|l| l.starts_with("sig:") && l.split(':').nth(4) == Some(vd_key.as_str()))
        .unwrap_or_else(|| panic!("no certification by the VD Key {vd_key}\n{sigs}"));
    // Field 7: the certification's expiry, about 6 months on.
    let expires: u64 = vd_sig
        .split(':')
        .nth(6)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = expires.saturating_sub(now) / 86_400;
    assert!(
        (180..=184).contains(&days),
        "expires in {days} days: {vd_sig}"
    );

    // The unconfirmed user ID appears nowhere: HKP, LDAP, web search.
    let unconfirmed = get(
        &vd.url("/pks/lookup?op=index&options=mr&search=dee%40other.test"),
        dir.path(),
    );
    assert_eq!(unconfirmed.status, 404, "{}", unconfirmed.text());
    let index = get(
        &vd.url("/pks/lookup?op=index&options=mr&search=d%40ext.test"),
        dir.path(),
    );
    assert_eq!(index.status, 200, "{}", index.text());
    assert!(!index.text().contains("other.test"), "{}", index.text());
    let ldap = ldapsearch(vd.ldap_port, &["(pgpUserID=*other.test*)", "pgpUserID"]);
    assert!(
        !String::from_utf8_lossy(&ldap.stdout).contains("other.test"),
        "{}",
        describe(&ldap)
    );
    let ldap = ldapsearch(vd.ldap_port, &["(mail=d@ext.test)", "pgpKey", "pgpUserID"]);
    let text = String::from_utf8_lossy(&ldap.stdout).into_owned();
    assert!(text.contains("pgpKey:"), "{}", describe(&ldap));
    assert!(!text.contains("other.test"), "{text}");
    let search = get(&vd.url("/vd/search?q=Dee"), dir.path());
    assert_eq!(search.status, 200);
    assert!(search.text().contains(&fpr), "{}", search.text());
    assert!(!search.text().contains("other.test"), "{}", search.text());
    let listed = vd.node.cli_ok_json(&["vd", "list", "--state", "published"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    // Bad uploads: 400, nothing stored.
    let malformed = post_form(
        &vd.url("/vd/submit"),
        "keytext=-----BEGIN PGP PUBLIC KEY BLOCK-----%0A%0Agarbage",
        dir.path(),
    );
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    let big = dir.path().join("big.asc");
    std::fs::write(&big, "A".repeat(300 * 1024)).expect("write");
    let oversize = post_form(
        &vd.url("/vd/submit"),
        &format!("keytext@{}", path_str(&big)),
        dir.path(),
    );
    assert_eq!(oversize.status, 400, "{}", oversize.text());
    assert!(
        oversize.text().contains("larger than"),
        "{}",
        oversize.text()
    );
    let hkp_bad = post_form(&vd.url("/pks/add"), "keytext=garbage", dir.path());
    assert_eq!(hkp_bad.status, 400, "{}", hkp_bad.text());
    let all = vd.node.cli_ok_json(&["vd", "list"]);
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");

    // Removal by emailed link (no passphrase): the key goes.
    let asked = post_form(&vd.url("/vd/remove"), "email=d@ext.test", dir.path());
    assert_eq!(asked.status, 200, "{}", asked.text());
    let remove = vd.wait_link("d@ext.test", "remove", 1);
    let listed = vd
        .node
        .cli_ok_json(&["vd", "list", "--state", "delete-pending"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        get(&by_fpr, dir.path()).status,
        200,
        "served until confirmed"
    );
    let removed = post_empty(&remove, dir.path());
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert!(removed.text().contains("removed"), "{}", removed.text());
    wait_until(Duration::from_secs(20), "the key to leave HKP", || {
        let f = get(&by_fpr, dir.path());
        if f.status == 404 {
            Ok(())
        } else {
            Err(f.status.to_string())
        }
    });
    let all = vd.node.cli_ok_json(&["vd", "list"]);
    assert_eq!(all.as_array().map(Vec::len), Some(0), "{all}");
}

#[test]
fn manual_vetting_waits_for_the_administrator_and_expired_links_are_refused() {
    let _serial = serial();
    let dir = tmp();
    let vd = VdNode::spawn("VD-manual");
    setup(&vd.node, &["example.com"]);
    let fresh = vd.node.cli_ok_json(&["vd", "settings"]);
    assert_eq!(fresh["vetting"], "manual", "Manual is the default: {fresh}");
    vd.node
        .cli_ok_json(&["vd", "settings", "--enable", "--public-url", &vd.base()]);

    let gpg = Gpg::new();
    let (fpr, file) = two_uid_key(&gpg, dir.path());
    let submitted = post_form(
        &vd.url("/vd/submit"),
        &format!("keytext@{}", path_str(&file)),
        dir.path(),
    );
    assert_eq!(submitted.status, 200, "{}", submitted.text());
    let confirm = vd.wait_link("d@ext.test", "confirm", 1);
    let other = vd.wait_link("dee@other.test", "confirm", 1);

    let done = post_empty(&confirm, dir.path());
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.text().contains("administrator"), "{}", done.text());
    let by_fpr = vd.url(&format!("/pks/lookup?op=get&options=mr&search=0x{fpr}"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(&by_fpr, dir.path()).status, 404, "not before approval");
    let waiting = vd
        .node
        .cli_ok_json(&["vd", "list", "--state", "pending-approval"]);
    assert_eq!(waiting.as_array().map(Vec::len), Some(1), "{waiting}");
    // A key waiting for approval is approved or denied, not deleted.
    let out = vd.node.cli(&["vd", "remove", &fpr]);
    assert!(!out.status.success(), "{}", describe(&out));

    let approved = vd.node.cli_ok_json(&["vd", "approve", &fpr]);
    assert_eq!(approved["published"], true, "{approved}");
    let got = wait_for_200(&by_fpr, dir.path());
    assert!(
        got.text()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
    let reader = Gpg::new();
    let out = reader.run(&["--keyserver", &vd.hkp(), "--recv-keys", &fpr]);
    assert!(out.status.success(), "{}", describe(&out));
    let listing = reader.ok(&["--with-colons", "--list-keys", &fpr]);
    assert!(
        listing.contains("d@ext.test") && !listing.contains("other.test"),
        "{listing}"
    );

    // The other address's link, once its token has expired (the Email Token Timeout set to
    // 0 hours shows what a clock 337 hours on would): refused with a clear page.
    vd.node
        .cli_ok_json(&["vd", "settings", "--token-validity-hours", "0"]);
    let expired = get(&other, dir.path());
    assert_eq!(expired.status, 410, "{}", expired.text());
    assert!(expired.text().contains("expired"), "{}", expired.text());
    let expired = post_empty(&other, dir.path());
    assert_eq!(expired.status, 410, "{}", expired.text());
    vd.node
        .cli_ok_json(&["vd", "settings", "--token-validity-hours", "336"]);
    let listing = reader.ok(&["--with-colons", "--list-keys", &fpr]);
    assert!(!listing.contains("other.test"), "{listing}");
    let served = get(&by_fpr, dir.path());
    assert!(!served.text().is_empty());
    let key = vd.node.cli_ok_json(&["vd", "list"]);
    let states: Vec<&str> = key[0]["user_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["state"].as_str())
        .collect();
    assert_eq!(states, vec!["published", "pending-confirmation"], "{key}");
}
