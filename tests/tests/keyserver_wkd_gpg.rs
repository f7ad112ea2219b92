//! End-to-end test of Web Key Directory as GnuPG itself uses it:
//! `gpg --auto-key-locate clear,wkd --locate-keys bob@b.test` fetches bob's key from Signet.
//!
//! dirmngr fetches `https://openpgpkey.b.test/.well-known/openpgpkey/b.test/hu/...` on port
//! 443 and verifies TLS, so the test
//! - makes a CA and a server certificate for `openpgpkey.b.test` with `openssl`, and installs
//!   it as the node's certificate (`PUT /api/v1/certificates/admin`, a restart), which the
//!   public web listener on 127.0.0.1:443 presents;
//! - trusts the CA for this gpg home's dirmngr only (`hkp-cacert` in its `dirmngr.conf`; the
//!   CA list dirmngr registers that way is also used for WKD fetches), never system-wide;
//! - runs gpg in a private mount namespace (`unshare --mount`) whose /etc/hosts maps
//!   openpgpkey.b.test to 127.0.0.1, with `standard-resolver` so dirmngr reads /etc/hosts.
//!
//! Port 443, mount namespaces and bind mounts need root: the test is skipped, with the reason
//! printed, when not root and not in CI; in CI it must run.
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod pki_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Node, describe, run_bounded, serial, wait_until};
use keys_support::{only_key, setup, str_of, tmp};

/// Where Debian's GnuTLS (dirmngr's TLS library) reads the system trust.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `ca.pem`, and `server.pem`/`server.key` for the WKD names (and 127.0.0.1, so the admin
/// API, which presents the same certificate, stays reachable by address).
fn certificates(dir: &Path) {
    pki_support::make_ca(dir, "/CN=Test WKD CA");
    pki_support::issue(
        dir,
        "server",
        "/CN=openpgpkey.b.test",
        "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:openpgpkey.b.test,DNS:b.test,DNS:localhost,IP:127.0.0.1\n",
    );
}

fn may_run() -> bool {
    let root = is_root();
    if !root && std::env::var_os("CI").is_none() {
        eprintln!(
            "SKIPPED keyserver_wkd_gpg: needs root (port 443, a private mount namespace for \
             /etc/hosts); run as root or in CI"
        );
        return false;
    }
    // A container without CAP_SYS_ADMIN cannot make mount namespaces even as root: that is
    // the machine's limit, not Signet's, so say so plainly instead of failing.
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!(
            "SKIPPED keyserver_wkd_gpg: this machine refuses `unshare --mount` \
             (no CAP_SYS_ADMIN), so gpg cannot be given a private /etc/hosts"
        );
        return false;
    }
    true
}

fn is_root() -> bool {
    // `id -u` rather than a libc dependency for one call.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn gpg_locates_a_key_by_wkd() {
    if !may_run() {
        return;
    }
    let _serial = serial();
    let dir = tmp();
    certificates(dir.path());
    let config = "[[public_web.connector]]\nlisten = \"127.0.0.1:443\"\ntls = true\n";
    let mut node = Node::spawn("WKDGPG", Some(config));
    setup(&node, &["b.test"]);
    node.cli_ok(&["user", "add", "bob@b.test", "--name", "Bob"]);
    let bob = only_key(&node, "bob@b.test");
    let fpr = str_of(&bob, "fingerprint").to_uppercase();

    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).expect("read a made certificate")
    };
    let body = serde_json::json!({ "cert_pem": read("server.pem"), "key_pem": read("server.key") });
    node.api_json("PUT", "/api/v1/certificates/admin", Some(&body));
    // The key file is the test's own; the node keeps it sealed.
    std::fs::remove_file(dir.path().join("server.key")).expect("remove the server key");
    node.restart();

    let ca = dir.path().join("ca.pem");
    let ca_str = ca.to_string_lossy().into_owned();
    // curl, with the CA and the name, sees the key over HTTPS first: a failure here is the
    // server's, not dirmngr's.
    wait_until(Duration::from_secs(20), "WKD policy over HTTPS", || {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--fail", "--cacert", &ca_str])
            .args(["--resolve", "openpgpkey.b.test:443:127.0.0.1"])
            .arg("https://openpgpkey.b.test/.well-known/openpgpkey/b.test/policy");
        let out = run_bounded(cmd, Duration::from_secs(20)).expect("curl hung");
        out.status.success().then_some(()).ok_or(describe(&out))
    });

    let home = tempfile::Builder::new()
        .prefix("sg-wkd-")
        .tempdir_in("/tmp")
        .expect("gpg home");
    std::fs::write(
        home.path().join("dirmngr.conf"),
        format!(
            "standard-resolver\nverbose\ndebug-level advanced\nlog-file {}\n",
            home.path().join("dirmngr.log").display()
        ),
    )
    .expect("dirmngr.conf");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost openpgpkey.b.test b.test\n::1 localhost\n",
    )
    .expect("hosts");
    // dirmngr checks WKD servers against the system's CA bundle only (its `hkp-cacert` list
    // is for HKPS): inside the namespace that bundle is the system's plus the test CA.
    let bundle = dir.path().join("ca-certificates.crt");
    let mut cas = std::fs::read(SYSTEM_BUNDLE).unwrap_or_default();
    cas.extend_from_slice(read("ca.pem").as_bytes());
    std::fs::write(&bundle, cas).expect("CA bundle");
    let script = format!(
        "mount --bind '{}' /etc/hosts && mount --bind '{}' {SYSTEM_BUNDLE} && \
         gpg --homedir '{home}' --batch --no-tty --status-fd 2 \
             --auto-key-locate clear,wkd,nodefault --locate-keys bob@b.test; rc=$?; \
         gpgconf --homedir '{home}' --kill dirmngr; exit $rc",
        hosts.display(),
        bundle.display(),
        home = home.path().display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let out = run_bounded(cmd, Duration::from_secs(90)).expect("gpg --locate-keys hung");
    let said = format!(
        "{}\n--- dirmngr.log ---\n{}",
        describe(&out),
        std::fs::read_to_string(home.path().join("dirmngr.log")).unwrap_or_default()
    );
    assert!(out.status.success(), "gpg --locate-keys over WKD\n{said}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("IMPORT_OK 1 {fpr}"))
            || String::from_utf8_lossy(&out.stdout).contains(&fpr),
        "gpg did not import bob's key {fpr}\n{said}"
    );
    let mut list = Command::new("gpg");
    list.arg("--homedir").arg(home.path()).args([
        "--batch",
        "--with-colons",
        "--list-keys",
        "bob@b.test",
    ]);
    let listing = run_bounded(list, Duration::from_secs(30)).expect("gpg hung");
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains(&fpr),
        "{}",
        describe(&listing)
    );
}
