//! End-to-end tests for the LDAP keyserver: the real `gpg`/dirmngr fetches and finds an
//! internal user's key over LDAP, `ldapsearch` by mail gets `pgpKey` and
//! `userCertificate;binary`, anonymous read turned off refuses it, and bad input (malformed
//! BER, over-deep and oversize filters, wildcard abuse) gets an error or a disconnect while the
//! server keeps answering.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;
mod keyserver_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{describe, serial, wait_until};
use keys_support::{Gpg, fingerprints, only_key, setup, str_of};
use keyserver_support::{LdapNode, ldapsearch};

/// gpg --recv-keys and --search-keys over LDAP, ldapsearch by mail, and bad input.
#[test]
fn ldap_serves_internal_users_keys() {
    let _serial = serial();
    let a = LdapNode::spawn("LDAP", "");
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

    // ldapsearch by mail: the armored key and the S/MIME certificate.
    let out = wait_until(Duration::from_secs(20), "alice's entry over LDAP", || {
        let out = ldapsearch(
            a.port,
            &[
                "(mail=alice@example.com)",
                "pgpKey",
                "userCertificate;binary",
                "pgpCertID",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("userCertificate;binary::") {
            Ok(text)
        } else {
            Err(describe(&out))
        }
    });
    assert!(out.contains("pgpKey:"), "{out}");
    assert!(
        out.contains(&format!("pgpCertID: {}", &fpr[fpr.len() - 16..])),
        "{out}"
    );

    // gpg fetches it by fingerprint over LDAP.
    let gpg = Gpg::new();
    let url = a.url();
    let got = gpg.run(&["--keyserver", &url, "--recv-keys", &fpr]);
    assert!(got.status.success(), "gpg --recv-keys\n{}", describe(&got));
    let listing = gpg.ok(&["--with-colons", "--list-keys", "alice@example.com"]);
    let fprs = fingerprints(&listing);
    assert_eq!(fprs.first().copied(), Some(fpr.as_str()), "{listing}");

    // gpg --search-keys by address lists it.
    let other = Gpg::new();
    let found = other.run(&["--keyserver", &url, "--search-keys", "alice@example.com"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&found.stdout),
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        said.contains("alice@example.com") && said.contains(&fpr[fpr.len() - 16..]),
        "gpg --search-keys did not list alice's key\n{said}"
    );

    // Malformed BER: a protocol-error notice or a closed connection, nothing else.
    for garbage in [
        &b"\x30\x84\xff\xff\xff\xff\x02\x01\x01"[..],
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        &b"\x30\x05\x02\x01\x01\x60\x00"[..],
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(garbage).expect("write");
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(reply.len() < 512, "unexpected reply to garbage: {reply:?}");
    }

    // An over-deep filter gets "Administrative limit exceeded"; a much deeper one is cut off
    // by the decoder; an oversize one too; a one-letter wildcard is refused.
    let deep = format!(
        "{}(mail=alice@example.com){}",
        "(!".repeat(12),
        ")".repeat(12)
    );
    let out = ldapsearch(a.port, &[&deep]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Administrative limit exceeded (11)"),
        "{}",
        describe(&out)
    );
    let deeper = format!("{}(mail=a@b.c){}", "(&".repeat(200), ")".repeat(200));
    assert!(!ldapsearch(a.port, &[&deeper]).status.success());
    let huge = format!(
        "(|{})",
        "(mail=someone.with.a.long.name@example.com)".repeat(600)
    );
    assert!(!ldapsearch(a.port, &[&huge]).status.success());
    let out = ldapsearch(a.port, &["(pgpUserID=*a*)"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Server is unwilling to perform (53)"),
        "{}",
        describe(&out)
    );

    // Still answering.
    let by_fpr = format!("(gpgFingerprint={fpr})");
    let out = ldapsearch(a.port, &[&by_fpr]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pgpKey:"));
}

/// With anonymous read off, a search without a client certificate is refused with
/// "Insufficient access (50)"; the root DSE stays readable.
#[test]
fn anonymous_read_off_refuses_searches() {
    let _serial = serial();
    let a = LdapNode::spawn("LDAPOFF", "anonymous_read = false\n");
    setup(&a.node, &["example.com"]);
    a.node.cli_ok(&["user", "add", "bob@example.com"]);
    let out = ldapsearch(a.port, &["(mail=bob@example.com)", "pgpKey"]);
    assert_eq!(out.status.code(), Some(50), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Insufficient access (50)"),
        "{}",
        describe(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pgpKey"));
}
