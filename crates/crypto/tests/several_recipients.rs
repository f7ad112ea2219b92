//! A gateway encrypts one message to every recipient, the sender and the ADK at once (guide
//! §10.3, §14.6). Each of them, with their own program, must be able to read it; gpg's packet
//! listing shows one PKESK per key.

#[path = "openpgp_interop/support.rs"]
#[allow(dead_code)]
mod support;

use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_crypto::{Format, pgpmime, smime};
use support::{Gpg, has, mime_parts, public_armor, secret_bin};

const MESSAGE: &[u8] = b"From: alice@example.com\r\nTo: bob@gpg.test, carol@example.com\r\nSubject: quarterly figures\r\nMessage-ID: <q3@example.com>\r\n\r\nThe figures are attached in spirit.\r\n";

#[test]
fn pgp_mime_to_recipients_sender_and_adk_is_readable_by_each() {
    // Bob and the ADK holder use gpg; carol and the sender alice are server-made keys.
    let bob_home = Gpg::new();
    let bob = openpgp::parse_cert(&bob_home.generate("Bob <bob@gpg.test>", "rsa3072")).unwrap();
    let adk_home = Gpg::new();
    let adk = openpgp::parse_cert(&adk_home.generate("ADK <adk@example.com>", "ed25519")).unwrap();
    let alice = openpgp::generate_user_key(
        "alice@example.com",
        Some("Alice"),
        KeyAlgorithm::Cv25519,
        None,
    )
    .unwrap();
    let carol =
        openpgp::generate_user_key("carol@example.com", None, KeyAlgorithm::Rsa2048, None).unwrap();

    let bob_pub = openpgp::public_only(&bob);
    let adk_pub = openpgp::public_only(&adk);
    let out = pgpmime::encrypt(
        MESSAGE,
        &[
            &bob_pub,
            &openpgp::public_only(&carol),
            &openpgp::public_only(&alice),
            &adk_pub,
        ],
        Some(&alice),
        Format::PgpMime,
    )
    .unwrap();
    assert!(has(&out, "Subject: quarterly figures"));
    let parts = mime_parts(&out);
    let armored = support::body_of(&parts[1]).to_vec();

    // One PKESK per key: four recipients.
    let listing = bob_home.gpg(&["--list-packets"], &armored);
    let pkesks = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| l.starts_with(":pubkey enc packet:"))
        .count();
    assert_eq!(pkesks, 4, "{}", String::from_utf8_lossy(&listing.stdout));

    // Bob and the ADK holder read it with gpg; the signature by alice verifies.
    for home in [&bob_home, &adk_home] {
        home.import(&public_armor(&alice));
        let o = home.gpg(&["--decrypt"], &armored);
        assert!(o.ok, "gpg could not decrypt: {}", o.stderr);
        assert!(has(&o.stdout, "The figures are attached in spirit."));
        assert!(
            o.stderr
                .contains("Good signature from \"Alice <alice@example.com>\""),
            "{}",
            o.stderr
        );
    }
    // Carol and alice (the sender's copy) read it through Signet.
    for reader in [&carol, &alice] {
        let keys = openpgp::CertList {
            secret: vec![reader.clone()],
            public: vec![openpgp::public_only(&alice)],
        };
        let opened = pgpmime::open(&out, &keys).unwrap().expect("PGP content");
        assert!(has(&opened.message, "The figures are attached in spirit."));
        assert_eq!(opened.annotation.encrypted_to.len(), 4);
    }
    let _ = secret_bin(&alice);
}

#[test]
fn smime_to_two_recipients_is_readable_by_each_with_openssl() {
    let fields = smime::CertificateFields {
        common_name: "Example Org CA".into(),
        contact_email: None,
        organization: "example.com".into(),
        organizational_unit: None,
        locality: None,
        state: None,
        country: None,
    };
    let ca =
        smime::generate_organization_certificate(&fields, smime::KeyKind::Rsa2048, None).unwrap();
    let bob = smime::issue_user_certificate(
        &ca,
        "bob@ext.test",
        None,
        smime::KeyKind::Rsa2048,
        None,
        None,
    )
    .unwrap();
    let carol = smime::issue_user_certificate(
        &ca,
        "carol@ext.test",
        None,
        smime::KeyKind::P256,
        None,
        None,
    )
    .unwrap();
    let out = smime::encrypt(MESSAGE, &[&bob.cert_der, &carol.cert_der]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg.eml");
    std::fs::write(&msg, &out).unwrap();
    for (name, who) in [("bob", &bob), ("carol", &carol)] {
        let cert = dir.path().join(format!("{name}.crt"));
        let key = dir.path().join(format!("{name}.key"));
        std::fs::write(&cert, pem("CERTIFICATE", &who.cert_der)).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", &who.key_pkcs8_der)).unwrap();
        let o = std::process::Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(&msg)
            .args(["-recip"])
            .arg(&cert)
            .args(["-inkey"])
            .arg(&key)
            .output()
            .expect("openssl is installed (scripts/install-peers.sh)");
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(has(&o.stdout, "The figures are attached in spirit."));
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
