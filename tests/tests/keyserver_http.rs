//! End-to-end tests for the public HTTP keyserver: HKP with the real `gpg`/dirmngr, the
//! machine-readable index, bad queries, Web Key Directory URLs as `gpg-wks-client` prints them,
//! and the CRL read by `openssl crl` before and after a revocation.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;
mod keyserver_http_support;

use std::process::Command;
use std::time::Duration;

use common::{describe, run_bounded, serial};
use keys_support::{
    Gpg, fingerprints, normalize_serial, only_key, openssl_ok, path_str, setup, str_of, tmp,
};
use keyserver_http_support::{PublicNode, curl, get, wait_for_200};

/// gpg fetches an internal user's key over HKP by fingerprint and finds it by address; the
/// machine-readable index lists it; bad queries get 400 and the server keeps answering;
/// uploads are refused.
#[test]
fn hkp_serves_internal_users_keys_to_gpg() {
    let _serial = serial();
    let dir = tmp();
    let a = PublicNode::spawn("HKP", "");
    setup(&a.node, &["example.com"]);
    a.node.cli_ok(&[
        "user",
        "add",
        "alice@example.com",
        "--name",
        "Alice Liddell",
    ]);
    let alice = only_key(&a.node, "alice@example.com");
    let fpr = str_of(&alice, "fingerprint").to_uppercase();

    let got = wait_for_200(
        &a.url(&format!("/pks/lookup?op=get&options=mr&search=0x{fpr}")),
        dir.path(),
    );
    assert_eq!(got.content_type, "application/pgp-keys");
    assert!(
        got.text()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );

    // gpg --recv-keys by fingerprint.
    let gpg = Gpg::new();
    let hkp = a.hkp();
    let out = gpg.run(&["--keyserver", &hkp, "--recv-keys", &fpr]);
    assert!(out.status.success(), "gpg --recv-keys\n{}", describe(&out));
    let listing = gpg.ok(&["--with-colons", "--list-keys", "alice@example.com"]);
    let fprs = fingerprints(&listing);
    assert_eq!(fprs.first().copied(), Some(fpr.as_str()), "{listing}");
    assert!(
        !listing.lines().any(|l| l.starts_with("sec:")),
        "public material only"
    );

    // gpg --search-keys by address lists it.
    let other = Gpg::new();
    let out = other.run(&["--keyserver", &hkp, "--search-keys", "alice@example.com"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("alice@example.com") && said.contains(&fpr[fpr.len() - 16..]),
        "gpg --search-keys did not list alice's key\n{said}"
    );

    // The machine-readable index (KEYSERVER format).
    let index = get(
        &a.url("/pks/lookup?op=index&options=mr&search=alice%40example.com"),
        dir.path(),
    );
    assert_eq!(index.status, 200, "{}", index.text());
    let text = index.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first().copied(), Some("info:1:1"), "{text}");
    let pub_fields: Vec<&str> = lines
        .get(1)
        .map(|l| l.split(':').collect())
        .unwrap_or_default();
    assert_eq!(pub_fields.first().copied(), Some("pub"), "{text}");
    assert_eq!(pub_fields.get(1).copied(), Some(fpr.as_str()), "{text}");
    assert!(
        pub_fields
            .get(4)
            .is_some_and(|c| c.parse::<u64>().is_ok_and(|c| c > 1_600_000_000)),
        "creation time: {text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("uid:Alice Liddell <alice@example.com>")),
        "{text}"
    );

    // By key ID, and a text search.
    let by_id = get(
        &a.url(&format!(
            "/pks/lookup?op=get&search=0x{}",
            &fpr[fpr.len() - 16..]
        )),
        dir.path(),
    );
    assert_eq!(by_id.status, 200, "{}", by_id.text());
    let by_text = get(
        &a.url("/pks/lookup?op=index&options=mr&search=liddell"),
        dir.path(),
    );
    assert!(by_text.text().contains(&fpr), "{}", by_text.text());

    // Bad queries: 400 with a short text; unknown keys: 404; uploads: 403.
    for (query, needle) in [
        ("op=frobnicate&search=x@y.z", "not supported"),
        ("op=get", "search"),
        ("search=alice@example.com", "op"),
        ("op=get&search=0xZZZZZZZZ", "hex"),
        ("op=get&search=%ZZ", "percent"),
        ("op=index&search=ab", "at least"),
    ] {
        let bad = get(&a.url(&format!("/pks/lookup?{query}")), dir.path());
        assert_eq!(bad.status, 400, "{query}: {}", bad.text());
        assert!(bad.text().contains(needle), "{query}: {}", bad.text());
    }
    let long = format!("/pks/lookup?op=get&search={}", "a".repeat(5000));
    assert_eq!(get(&a.url(&long), dir.path()).status, 400);
    let missing = get(
        &a.url("/pks/lookup?op=get&search=nobody@example.com"),
        dir.path(),
    );
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("no keys found"));
    let upload = curl(
        &["--data-urlencode", "keytext=garbage", &a.url("/pks/add")],
        &dir.path().join("add"),
    );
    assert_eq!(upload.status, 403, "{}", upload.text());
    assert!(upload.text().contains("Verified Directory"));
    // A request head far over the limit is refused, not served.
    let huge_header = format!("X-Filler: {}", "x".repeat(64 * 1024));
    let refused = curl(&["-H", &huge_header, &a.url("/")], &dir.path().join("huge"));
    assert!(
        refused.status == 431 || refused.status == 400 || refused.status == 0,
        "{}",
        refused.status
    );
    // Still answering.
    assert_eq!(
        get(
            &a.url(&format!("/pks/lookup?op=get&search=0x{fpr}")),
            dir.path()
        )
        .status,
        200
    );
}

/// Per-client-address rate limits: lookups by address run out before lookups by fingerprint,
/// the refusal is 429, and the other class keeps answering.
#[test]
fn rate_limits_per_client_address() {
    let _serial = serial();
    let dir = tmp();
    let a = PublicNode::spawn(
        "RATE",
        "[public_web.rate_limit]\n\
         by_address = { per_second = 0.01, burst = 3 }\n\
         by_fingerprint = { per_second = 0.01, burst = 500 }\n",
    );
    setup(&a.node, &["example.com"]);
    a.node.cli_ok(&["user", "add", "carol@example.com"]);
    let fpr = str_of(&only_key(&a.node, "carol@example.com"), "fingerprint").to_uppercase();
    let by_fpr = a.url(&format!("/pks/lookup?op=get&search=0x{fpr}"));
    wait_for_200(&by_fpr, dir.path());
    let by_mail = a.url("/pks/lookup?op=get&search=carol%40example.com");
    let statuses: Vec<u16> = (0..5).map(|_| get(&by_mail, dir.path()).status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429], "by address");
    let refused = get(&by_mail, dir.path());
    assert!(
        refused.text().contains("too many requests"),
        "{}",
        refused.text()
    );
    assert_eq!(
        get(&by_fpr, dir.path()).status,
        200,
        "by fingerprint still answers"
    );
}

/// WKD, advanced and direct, for a managed domain, at the URLs gpg-wks-client prints; the
/// fetched bytes import into gpg as alice's key. Unmanaged domains get 404.
///
/// gpg's own `--locate-keys` is not driven here: dirmngr fetches WKD only over HTTPS on port
/// 443 with a certificate it trusts for `openpgpkey.<domain>`, and the public listener serves
/// the member's own self-signed certificate (installing a public certificate for keys.<domain>
/// comes with the network settings). curl with `--resolve` stands in for dirmngr's request.
#[test]
fn wkd_serves_managed_domains() {
    let _serial = serial();
    let dir = tmp();
    let a = PublicNode::spawn("WKD", "");
    setup(&a.node, &["example.com"]);
    a.node
        .cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let fpr = str_of(&only_key(&a.node, "alice@example.com"), "fingerprint").to_uppercase();

    let mut cmd = Command::new("/usr/lib/gnupg/gpg-wks-client");
    cmd.args(["--print-wkd-url", "alice@example.com"]);
    let out = run_bounded(cmd, Duration::from_secs(20)).expect("gpg-wks-client hung");
    assert!(out.status.success(), "{}", describe(&out));
    let advanced = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = advanced
        .strip_prefix("https://openpgpkey.example.com")
        .unwrap_or_else(|| panic!("unexpected WKD URL {advanced}"))
        .to_string();
    let hash_and_query = path
        .strip_prefix("/.well-known/openpgpkey/example.com/hu/")
        .expect("advanced path")
        .to_string();
    let port = a.https_port;
    let resolve = |host: &str| format!("{host}:{port}:127.0.0.1");
    let forms = [
        (
            "openpgpkey.example.com",
            format!("https://openpgpkey.example.com:{port}{path}"),
        ),
        (
            "example.com",
            format!("https://example.com:{port}/.well-known/openpgpkey/hu/{hash_and_query}"),
        ),
    ];
    for (i, (host, url)) in forms.iter().enumerate() {
        let body = dir.path().join(format!("wkd-{i}"));
        let fetched = common::wait_until(Duration::from_secs(20), url, || {
            let f = curl(&["-k", "--resolve", &resolve(host), url], &body);
            if f.status == 200 {
                Ok(f)
            } else {
                Err(format!("{} {}", f.status, f.text()))
            }
        });
        assert_eq!(fetched.content_type, "application/octet-stream");
        let gpg = Gpg::new();
        gpg.import(&body);
        let listing = gpg.ok(&["--with-colons", "--list-keys"]);
        assert!(
            fingerprints(&listing).contains(&fpr.as_str()),
            "{url}: {listing}"
        );
    }
    // The policy files both methods look for.
    let policy = curl(
        &[
            "-k",
            "--resolve",
            &resolve("openpgpkey.example.com"),
            &format!(
                "https://openpgpkey.example.com:{port}/.well-known/openpgpkey/example.com/policy"
            ),
        ],
        &dir.path().join("policy"),
    );
    assert_eq!(policy.status, 200);
    // Not a managed domain, and an address without a key.
    let other = curl(
        &[
            "-k",
            "--resolve",
            &resolve("openpgpkey.other.test"),
            &format!(
                "https://openpgpkey.other.test:{port}/.well-known/openpgpkey/other.test/hu/{hash_and_query}"
            ),
        ],
        &dir.path().join("other"),
    );
    assert_eq!(other.status, 404);
    let nobody = get(
        &format!(
            "http://127.0.0.1:{}/.well-known/openpgpkey/example.com/hu/kei1q4tipxxu1yj79k9kfukdhfy631xy",
            a.http_port
        ),
        dir.path(),
    );
    assert_eq!(nobody.status, 404);
}

/// `/crl/RevokedCertificates.crl` is a DER CRL signed by the Organization Certificate, valid
/// 7 days; revoking a user's key puts its certificate's serial on the next fetch.
#[test]
fn crl_follows_revocations() {
    let _serial = serial();
    let dir = tmp();
    let a = PublicNode::spawn("CRL", "");
    let crl_url = a.url("/crl/RevokedCertificates.crl");
    // No Organization Certificate yet: nothing to sign with.
    assert_eq!(get(&crl_url, dir.path()).status, 404);

    setup(&a.node, &["example.com"]);
    let pem = dir.path().join("orgcert.pem");
    a.node.cli_ok(&[
        "org",
        "export",
        "organization-certificate",
        "-o",
        path_str(&pem),
    ]);
    a.node
        .cli_ok(&["user", "add", "bob@example.com", "--name", "Bob"]);
    let bob = only_key(&a.node, "bob@example.com");
    let fpr = str_of(&bob, "fingerprint").to_string();
    let serial_hex = bob["smime"]["serial"]
        .as_str()
        .unwrap_or_else(|| panic!("bob has no S/MIME certificate: {bob}"))
        .to_string();
    let wanted = normalize_serial(&serial_hex);

    let crl_file = dir.path().join("crl.der");
    let fetch = |what: &str| -> String {
        let f = curl(&[&crl_url], &crl_file);
        assert_eq!(f.status, 200, "{what}: {}", f.text());
        assert_eq!(f.content_type, "application/pkix-crl");
        openssl_ok(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            path_str(&crl_file),
            "-CAfile",
            path_str(&pem),
            "-noout",
            "-text",
        ])
    };
    let listed = |text: &str| {
        text.lines()
            .filter(|l| l.contains("Serial Number:"))
            .any(|l| normalize_serial(l.split(':').nth(1).unwrap_or_default()) == wanted)
    };
    let before = fetch("before");
    assert!(
        !listed(&before),
        "bob is listed before revocation:\n{before}"
    );
    assert_eq!(validity_days(&before), 7, "{before}");

    a.node
        .cli_ok_json(&["key", "revoke", "bob@example.com", &fpr]);
    let after = common::wait_until(Duration::from_secs(20), "bob on the CRL", || {
        let text = fetch("after");
        if listed(&text) { Ok(text) } else { Err(text) }
    });
    assert_eq!(validity_days(&after), 7, "{after}");
}

/// nextUpdate − lastUpdate of an `openssl crl -text` listing, in whole days.
fn validity_days(text: &str) -> i64 {
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let seconds = |date: String| -> i64 {
        let mut cmd = Command::new("date");
        cmd.args(["-u", "-d", &date, "+%s"]);
        let out = run_bounded(cmd, Duration::from_secs(10)).expect("date hung");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("date cannot read {date:?}"))
    };
    (seconds(field("Next Update:")) - seconds(field("Last Update:"))) / 86_400
}
