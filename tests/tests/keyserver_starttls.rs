//! End-to-end tests for the keyserver's TLS options as `ldapsearch` (OpenLDAP's client) uses
//! them: StartTLS on the plain LDAP port (`-ZZ`, which fails unless TLS is established), and an
//! LDAPS port that requires a client certificate issued by the configured CA (made here with
//! `openssl`): refused without one, answered with one. Also: an unknown LDAP operation is
//! refused without a word on the daemon's output.
//!
//! Build the binaries first: `cargo build --bins`.

mod common;
mod keys_support;
mod keyserver_support;
mod pki_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Node, describe, free_port, run_bounded, serial, wait_until};
use keys_support::{only_key, setup, str_of};

/// `ldapsearch` against `url` with extra `LDAPTLS_*` settings; `args` go before the filter.
fn ldapsearch_tls(url: &str, env: &[(&str, &str)], args: &[&str], filter: &[&str]) -> Output {
    let mut cmd = Command::new("ldapsearch");
    // The node's certificate is issued by its own cluster CA; these tests are about the
    // transport, so the client does not check the server's name.
    cmd.env("LDAPTLS_REQCERT", "never")
        .env("LDAPRC", "/dev/null")
        .envs(env.iter().copied())
        .args(["-x", "-LLL", "-o", "nettimeout=10", "-l", "10", "-H", url])
        .args(args)
        .args(["-b", "o=Signet"])
        .args(filter);
    run_bounded(cmd, Duration::from_secs(30)).expect("ldapsearch hung")
}

/// `ldapsearch -ZZ` on the plain port switches to TLS and finds the key; without `-ZZ` the
/// same port still answers in clear.
#[test]
fn starttls_on_the_plain_port_finds_the_key() {
    let _serial = serial();
    let a = keyserver_support::LdapNode::spawn("STARTTLS", "");
    setup(&a.node, &["example.com"]);
    a.node.cli_ok(&["user", "add", "carol@example.com"]);
    let carol = only_key(&a.node, "carol@example.com");
    let fpr = str_of(&carol, "fingerprint").to_uppercase();
    let url = a.url();
    let filter = ["(mail=carol@example.com)", "pgpKey", "pgpCertID"];
    let out = wait_until(
        Duration::from_secs(20),
        "carol's entry over StartTLS",
        || {
            let out = ldapsearch_tls(&url, &[], &["-ZZ"], &filter);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && text.contains("pgpKey:") {
                Ok(text)
            } else {
                Err(describe(&out))
            }
        },
    );
    assert!(
        out.contains(&format!("pgpCertID: {}", &fpr[fpr.len() - 16..])),
        "{out}"
    );
    let clear = ldapsearch_tls(&url, &[], &[], &filter);
    assert!(clear.status.success(), "{}", describe(&clear));
    assert!(String::from_utf8_lossy(&clear.stdout).contains("pgpKey:"));

    // An operation tag LDAP does not have gets a Notice of Disconnection, and nothing reaches
    // the daemon's output (ldap3_proto alone would print "unknown op -> 30").
    let mut s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"\x30\x05\x02\x01\x01\x7e\x00").expect("write");
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    // The notice is an ExtendedResponse ([APPLICATION 24]) with protocolError (2).
    assert!(
        reply.windows(3).any(|w| w == b"\x0a\x01\x02") && reply.contains(&0x78),
        "{reply:02x?}"
    );
    let clear = ldapsearch_tls(&url, &[], &[], &filter);
    assert!(clear.status.success(), "{}", describe(&clear));
    assert!(!a.node.log().contains("unknown op"), "{}", a.node.log());
}

/// A CA, and a client certificate it issues (`client.pem`, `client.key`), in `dir`.
fn client_ca(dir: &Path) {
    pki_support::make_ca(dir, "/CN=Test LDAP Client CA");
    pki_support::issue(
        dir,
        "client",
        "/CN=ldap client",
        "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n",
    );
}

/// An LDAPS port with `require_client_certificate`: the handshake fails without a client
/// certificate, and with one the configured CA issued, a search finds the key even with
/// anonymous read off.
#[test]
fn ldaps_client_certificate_required() {
    let _serial = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    client_ca(tmp.path());
    let ca = tmp.path().join("ca.pem");
    let port = free_port();
    let config = format!(
        "[keyserver]\nanonymous_read = false\nclient_ca = \"{}\"\n\
         [[keyserver.connector]]\ninterface = \"127.0.0.1\"\nport = {port}\nssl = true\n\
         require_client_certificate = true\n",
        ca.display()
    );
    let node = Node::spawn("LDAPSCERT", Some(&config));
    setup(&node, &["example.com"]);
    node.cli_ok(&["user", "add", "dave@example.com"]);
    let url = format!("ldaps://127.0.0.1:{port}");
    let filter = ["(mail=dave@example.com)", "pgpKey"];
    let cert = tmp.path().join("client.pem");
    let key = tmp.path().join("client.key");
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let with_cert = [("LDAPTLS_CERT", &*cert), ("LDAPTLS_KEY", &*key)];
    let out = wait_until(Duration::from_secs(20), "dave's entry over LDAPS", || {
        let out = ldapsearch_tls(&url, &with_cert, &[], &filter);
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pgpKey:") {
            Ok(out)
        } else {
            Err(describe(&out))
        }
    });
    assert!(out.status.success());

    // No certificate: the TLS handshake is refused, so ldapsearch cannot connect at all.
    let out = ldapsearch_tls(&url, &[], &[], &filter);
    // (With TLS 1.3 the refusal arrives after the client's handshake, at its first read.)
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Can't contact LDAP server"),
        "{}",
        describe(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pgpKey"));

    // A certificate from another CA is refused the same way.
    let other = tempfile::tempdir().expect("tempdir");
    client_ca(other.path());
    let ocert = other.path().join("client.pem");
    let okey = other.path().join("client.key");
    let (ocert, okey) = (ocert.to_string_lossy(), okey.to_string_lossy());
    let out = ldapsearch_tls(
        &url,
        &[("LDAPTLS_CERT", &*ocert), ("LDAPTLS_KEY", &*okey)],
        &[],
        &filter,
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pgpKey"));
}
