//! OpenPGP interop against the real peers: GnuPG (gpg 2.2) and sq (sequoia 1.x CLI).
//!
//! Every test drives the real programs in a temporary GNUPGHOME. Missing programs are a
//! failure, never a skip: run scripts/install-peers.sh.

#[path = "openpgp_interop/support.rs"]
mod support;

use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_crypto::pgpmime::{self, CertList};
use signet_crypto::{CryptoError, Format, SignatureStatus};
use support::*;

const MESSAGE: &[u8] = b"From: Alice <alice@signet.test>\r\nTo: Bob <bob@ext.test>\r\nSubject: Quarterly numbers\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <q3@signet.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nThe numbers are up 12 % this quarter. Gr\xc3\xbc\xc3\x9fe, Alice\r\n";

#[test]
fn signet_output_is_read_by_gpg_and_sq_for_every_algorithm() {
    for algo in [
        KeyAlgorithm::Cv25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
    ] {
        let key = signet_key(algo);
        let keyid = key.keyid().to_hex();
        let g = Gpg::new();
        g.import(&secret_bin(key));
        let text = format!("secret {algo} payload\n");
        let ct = openpgp::encrypt_bytes(&[key], text.as_bytes(), Some(key), true).unwrap();
        let o = g.gpg(&["--decrypt"], &ct);
        assert!(o.ok, "{algo}: gpg --decrypt failed: {}", o.stderr);
        assert_eq!(o.stdout, text.as_bytes(), "{algo}");
        assert!(o.stderr.contains("Good signature"), "{algo}: {}", o.stderr);
        assert!(
            o.stderr.contains(&format!("GOODSIG {keyid}"))
                || o.stderr.contains(&key.fingerprint().to_hex()[24..]),
            "{algo}: {}",
            o.stderr
        );

        // Detached signature, binary.
        let sig = openpgp::sign_detached(key, text.as_bytes(), false).unwrap();
        let sig_path = g.file("d.sig", &sig);
        let data_path = g.file("d.txt", text.as_bytes());
        let o = g.gpg(
            &[
                "--verify",
                sig_path.to_str().unwrap(),
                data_path.to_str().unwrap(),
            ],
            b"",
        );
        assert!(
            o.ok && o.stderr.contains("Good signature"),
            "{algo}: {}",
            o.stderr
        );

        // sq reads the same message.
        let sec = g.file("key.pgp", &secret_bin(key));
        let cert = g.file("cert.pgp", &public_armor(key));
        let o = sq(
            &[
                &"decrypt",
                &"--recipient-key",
                &sec,
                &"--signer-cert",
                &cert,
            ],
            &ct,
        );
        assert!(o.ok, "{algo}: sq decrypt failed: {}", o.stderr);
        assert_eq!(o.stdout, text.as_bytes());
        assert!(
            o.stderr.contains("1 good signature"),
            "{algo}: {}",
            o.stderr
        );
    }
}

#[test]
fn pgp_mime_encrypted_and_signed_is_read_by_gpg_and_sq() {
    let bob = signet_key(KeyAlgorithm::Rsa3072);
    let alice = signet_key(KeyAlgorithm::Cv25519);
    let out = pgpmime::encrypt(MESSAGE, &[bob], Some(alice), Format::PgpMime).unwrap();
    assert!(has(&out, "Subject: Quarterly numbers\r\n"));
    assert!(has(&out, "Message-ID: <q3@signet.test>"));
    assert!(has(
        &out,
        "multipart/encrypted; protocol=\"application/pgp-encrypted\""
    ));
    assert!(
        !out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "bare LF in output"
    );
    let parts = mime_parts(&out);
    assert_eq!(parts.len(), 2);
    assert!(has(&parts[0], "application/pgp-encrypted") && has(&parts[0], "Version: 1"));
    assert!(has(&parts[1], "application/octet-stream"));
    let armored = body_of(&parts[1]);

    let g = Gpg::new();
    g.import(&secret_bin(bob));
    g.import(&public_armor(alice));
    let o = g.gpg(&["--decrypt"], armored);
    assert!(o.ok, "gpg: {}", o.stderr);
    assert!(has(&o.stdout, "Content-Type: text/plain; charset=utf-8"));
    assert!(has(
        &o.stdout,
        "The numbers are up 12 % this quarter. Grüße, Alice"
    ));
    assert!(
        o.stderr
            .contains("Good signature from \"Signet User <cv25519@signet.test>\""),
        "{}",
        o.stderr
    );
    // RFC 3156 §6.2: one OpenPGP message; the PKESK names bob's encryption subkey.
    let info = openpgp::KeyInfo::of(bob);
    let enc_sub = info
        .subkeys
        .iter()
        .find(|s| s.flags == ["encrypt"])
        .unwrap();
    assert!(
        o.stderr.contains(&format!("ENC_TO {}", enc_sub.key_id)),
        "{}",
        o.stderr
    );

    let sec = g.file("bob.pgp", &secret_bin(bob));
    let cert = g.file("alice.pgp", &public_armor(alice));
    let o = sq(
        &[
            &"decrypt",
            &"--recipient-key",
            &sec,
            &"--signer-cert",
            &cert,
        ],
        armored,
    );
    assert!(
        o.ok && o.stderr.contains("1 good signature"),
        "sq: {}",
        o.stderr
    );
    assert!(has(&o.stdout, "Grüße, Alice"));

    // And Signet opens it again.
    let ring = CertList {
        secret: vec![bob.clone()],
        public: vec![alice.clone()],
    };
    let opened = pgpmime::open(&out, &ring).unwrap().unwrap();
    assert!(has(&opened.message, "Subject: Quarterly numbers"));
    assert!(has(&opened.message, "Grüße, Alice"));
    assert!(opened.annotation.was_encrypted && opened.annotation.whole_message);
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
}

#[test]
fn pgp_mime_signed_is_verified_by_gpg_and_sq() {
    let alice = signet_key(KeyAlgorithm::Rsa2048);
    let out = pgpmime::sign(MESSAGE, alice, Format::PgpMime).unwrap();
    assert!(has(&out, "multipart/signed; micalg=pgp-sha256;"));
    assert!(out.iter().all(|b| *b < 0x80), "signed output must be 7bit");
    let parts = mime_parts(&out);
    assert_eq!(parts.len(), 2);
    assert!(has(
        &parts[0],
        "Content-Transfer-Encoding: quoted-printable"
    ));
    let g = Gpg::new();
    g.import(&public_armor(alice));
    let signed = g.file("signed.eml", &parts[0]);
    let sig = g.file("sig.asc", body_of(&parts[1]));
    let o = g.gpg(
        &["--verify", sig.to_str().unwrap(), signed.to_str().unwrap()],
        b"",
    );
    assert!(
        o.ok && o
            .stderr
            .contains("Good signature from \"Signet User <rsa2048@signet.test>\""),
        "{}",
        o.stderr
    );
    let cert = g.file("alice.pgp", &public_armor(alice));
    let o = sq(
        &[
            &"verify",
            &"--signer-cert",
            &cert,
            &"--detached",
            &sig,
            &signed,
        ],
        b"",
    );
    assert!(
        o.ok && o.stderr.contains("1 good signature"),
        "sq: {}",
        o.stderr
    );

    let ring = CertList {
        secret: vec![],
        public: vec![alice.clone()],
    };
    let opened = pgpmime::open(&out, &ring).unwrap().unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert!(!opened.annotation.was_encrypted);
    assert!(has(&opened.message, "From: Alice <alice@signet.test>"));

    // Tampering with the signed part is a Bad signature, not an error.
    let tampered = String::from_utf8(out.clone())
        .unwrap()
        .replacen("12 %", "21 %", 1);
    let opened = pgpmime::open(tampered.as_bytes(), &ring).unwrap().unwrap();
    assert_eq!(opened.annotation.signatures[0].status, SignatureStatus::Bad);
    // Unknown signer.
    let opened = pgpmime::open(&out, &CertList::default()).unwrap().unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::UnknownSigner
    );
}

const MIXED: &[u8] = b"From: a@signet.test\r\nTo: b@ext.test\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attached report.\r\n--XX\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\r\n--XX--\r\n";

#[test]
fn inline_encryption_is_read_by_gpg() {
    let bob = signet_key(KeyAlgorithm::Cv25519);
    let signer = signet_key(KeyAlgorithm::Rsa2048);
    let out = pgpmime::encrypt(MIXED, &[bob], Some(signer), Format::PgpInline).unwrap();
    assert!(has(&out, "Subject: report"));
    assert!(has(&out, "name=\"report.pdf.pgp\""));
    assert!(!has(&out, "See the attached"));
    let parts = mime_parts(&out);
    assert_eq!(parts.len(), 2);
    let g = Gpg::new();
    g.import(&secret_bin(bob));
    g.import(&public_armor(signer));
    let o = g.gpg(&["--decrypt"], body_of(&parts[0]));
    assert!(o.ok && o.stderr.contains("Good signature"), "{}", o.stderr);
    // The CRLF before a boundary belongs to the delimiter, so the text ends without one.
    assert_eq!(o.stdout, b"See the attached report.");
    use base64::Engine;
    let b64: Vec<u8> = body_of(&parts[1])
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bin = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let o = g.gpg(&["--decrypt"], &bin);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.starts_with(b"%PDF-1.4"));

    // Single-part text becomes the armor block itself.
    let single = pgpmime::encrypt(MESSAGE, &[bob], None, Format::PgpInline).unwrap();
    let body = body_of(&single);
    assert!(body.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    let o = g.gpg(&["--decrypt"], body);
    assert!(o.ok && has(&o.stdout, "Grüße"), "{}", o.stderr);

    // Signet opens both.
    let ring = CertList {
        secret: vec![bob.clone()],
        public: vec![signer.clone()],
    };
    let opened = pgpmime::open(&out, &ring).unwrap().unwrap();
    assert_eq!(opened.annotation.format, Format::PgpInline);
    assert!(opened.annotation.whole_message && opened.annotation.was_encrypted);
    assert!(has(&opened.message, "See the attached report."));
    assert!(has(&opened.message, "report.pdf\""));
    assert_eq!(opened.annotation.signatures.len(), 2);
    assert!(
        opened
            .annotation
            .signatures
            .iter()
            .all(|s| s.status == SignatureStatus::Good)
    );
    let opened = pgpmime::open(&single, &ring).unwrap().unwrap();
    assert!(has(&opened.message, "Gr=C3=BC=C3=9Fe") || has(&opened.message, "Grüße"));
}

#[test]
fn inline_signature_is_verified_by_gpg() {
    let alice = signet_key(KeyAlgorithm::Cv25519);
    let out = pgpmime::sign(MIXED, alice, Format::PgpInline).unwrap();
    let parts = mime_parts(&out);
    let g = Gpg::new();
    g.import(&public_armor(alice));
    let o = g.gpg(&["--verify"], body_of(&parts[0]));
    assert!(o.ok && o.stderr.contains("Good signature"), "{}", o.stderr);
    let ring = CertList {
        secret: vec![],
        public: vec![alice.clone()],
    };
    let opened = pgpmime::open(&out, &ring).unwrap().unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert!(
        !opened.annotation.whole_message,
        "the PDF is not covered by the signature"
    );
    assert!(has(&opened.message, "See the attached report."));
}

#[test]
fn gpg_and_sq_output_is_read_by_signet() {
    let keys = gpg_keys();
    let g = Gpg::new();
    for (algo, key) in &keys.keys {
        g.import(&secret_bin(key));
        let uid = format!("{algo}@gpg.test");
        let text = format!("from gpg with {algo}\n");
        let o = g.gpg(&["-e", "-s", "-a", "-r", &uid, "-u", &uid], text.as_bytes());
        assert!(o.ok, "{algo}: {}", o.stderr);
        let d = openpgp::decrypt_bytes(&[key], &[key], &o.stdout).unwrap();
        assert_eq!(d.plaintext, text.as_bytes(), "{algo}");
        assert!(d.encrypted);
        assert_eq!(d.signatures.len(), 1);
        assert_eq!(d.signatures[0].status, SignatureStatus::Good, "{algo}");
        assert_eq!(d.signatures[0].signer, vec![uid.clone()]);
        // The PKESK names the encryption key: the primary for the RSA keys made here, the
        // cv25519 subkey for ed25519.
        let enc = key.keys().find(|k| {
            k.key().pk_algo().for_encryption() && k.key().keyid().to_hex() == d.encrypted_to[0]
        });
        assert!(enc.is_some(), "{algo}: {:?}", d.encrypted_to);

        let o = g.gpg(&["--clearsign", "-u", &uid], b"clear text\n- dash line\n");
        assert!(o.ok);
        let d = openpgp::decrypt_bytes(&[], &[key], &o.stdout).unwrap();
        assert!(!d.encrypted);
        assert_eq!(
            d.signatures[0].status,
            SignatureStatus::Good,
            "{algo} clearsign"
        );
        assert!(has(&d.plaintext, "- dash line"));
    }

    // sq encrypt + sign with a gpg-made key.
    let (_, bob) = &keys.keys[3];
    let (_, alice) = &keys.keys[0];
    let bob_cert = g.file("bob.pub", &public_armor(bob));
    let alice_key = g.file("alice.sec", &secret_bin(alice));
    let o = sq(
        &[
            &"encrypt",
            &"--recipient-cert",
            &bob_cert,
            &"--signer-key",
            &alice_key,
        ],
        b"from sq\n",
    );
    assert!(o.ok, "sq encrypt: {}", o.stderr);
    let d = openpgp::decrypt_bytes(&[bob], &[alice], &o.stdout).unwrap();
    assert_eq!(d.plaintext, b"from sq\n");
    assert_eq!(d.signatures[0].status, SignatureStatus::Good);
    let o = sq(&[&"sign", &"--signer-key", &alice_key], b"signed by sq\n");
    assert!(o.ok, "sq sign: {}", o.stderr);
    let d = openpgp::decrypt_bytes(&[], &[alice], &o.stdout).unwrap();
    assert_eq!(d.plaintext, b"signed by sq\n");
    assert_eq!(d.signatures[0].status, SignatureStatus::Good);
}

#[test]
fn hand_assembled_pgp_mime_from_gpg_is_opened() {
    let keys = gpg_keys();
    let (_, bob) = &keys.keys[3];
    let (_, alice) = &keys.keys[1];
    let g = Gpg::new();
    g.import(&public_armor(bob));
    g.import(&secret_bin(alice));
    let inner = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nMeet at noon.\r\n";
    let o = g.gpg(
        &[
            "-e",
            "-s",
            "-a",
            "-r",
            "ed25519@gpg.test",
            "-u",
            "rsa3072@gpg.test",
        ],
        inner,
    );
    assert!(o.ok, "{}", o.stderr);
    let mut msg = b"From: rsa3072@gpg.test\r\nTo: ed25519@gpg.test\r\nSubject: lunch\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    msg.extend_from_slice(&o.stdout);
    msg.extend_from_slice(b"\r\n--b1--\r\n");
    assert_eq!(pgpmime::pgp_content(&msg), Some(Format::PgpMime));
    let ring = CertList {
        secret: vec![bob.clone()],
        public: vec![alice.clone()],
    };
    let opened = pgpmime::open(&msg, &ring).unwrap().unwrap();
    assert!(has(&opened.message, "Subject: lunch\r\n"));
    assert!(has(&opened.message, "\r\n\r\nMeet at noon.\r\n"));
    let a = &opened.annotation;
    assert!(a.was_encrypted && a.whole_message);
    assert_eq!(a.format, Format::PgpMime);
    assert_eq!(a.signatures[0].status, SignatureStatus::Good);
    assert_eq!(a.signatures[0].signer, vec!["rsa3072@gpg.test".to_string()]);
    let enc = bob.keys().subkeys().next().unwrap().key().keyid().to_hex();
    assert_eq!(a.encrypted_to, vec![enc]);
    // Wrong key: a clear Decrypt error.
    let wrong = CertList {
        secret: vec![signet_key(KeyAlgorithm::Cv25519).clone()],
        public: vec![],
    };
    match pgpmime::open(&msg, &wrong) {
        Err(CryptoError::Decrypt(why)) => assert!(why.contains("no secret key"), "{why}"),
        other => panic!("expected a Decrypt error, got {other:?}"),
    }
}

#[test]
fn gpg_sees_the_organization_certification() {
    let org = openpgp::generate_organization_key(
        &["signet.test".into(), "example.com".into()],
        KeyAlgorithm::Cv25519,
    )
    .unwrap();
    let user = openpgp::generate_user_key(
        "carol@signet.test",
        Some("Carol"),
        KeyAlgorithm::Cv25519,
        Some(&org),
    )
    .unwrap();
    assert_eq!(openpgp::organization_certifications(&user, &org), 1);
    let g = Gpg::new();
    g.import(&public_armor(&org));
    g.import(&public_armor(&user));
    let o = g.gpg(&["--check-sigs", "carol@signet.test"], b"");
    let out = String::from_utf8_lossy(&o.stdout);
    let org_id = org.keyid().to_hex();
    assert!(
        out.lines()
            .any(|l| l.starts_with("sig!") && l.contains(&org_id)),
        "{out}"
    );
    let o = g.gpg(&["--list-keys", "pgp-universal-admin@example.com"], b"");
    assert!(has(
        &o.stdout,
        "example.com Organization Key <pgp-universal-admin@example.com>"
    ));

    // Revoking removes the org certification; gpg sees the revocation.
    let revoked = openpgp::revoke(&user, Some(&org.fingerprint())).unwrap();
    assert_eq!(openpgp::organization_certifications(&revoked, &org), 0);
    assert!(openpgp::KeyInfo::of(&revoked).revoked);
    let g = Gpg::new();
    g.import(&public_armor(&org));
    g.import(&public_armor(&revoked));
    let o = g.gpg(&["--with-colons", "--check-sigs", "carol@signet.test"], b"");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().any(|l| l.starts_with("pub:r:")), "{out}");
    assert!(!out.contains(&format!(":{org_id}:")), "{out}");
}

#[test]
fn passphrase_export_and_sckm() {
    let key =
        openpgp::generate_user_key("dave@signet.test", None, KeyAlgorithm::Cv25519, None).unwrap();
    let armored = openpgp::armored_secret(&key, Some("correct horse")).unwrap();
    let g = Gpg::new();
    let o = run(
        g.cmd().args(["--passphrase", "correct horse", "--import"]),
        armored.as_bytes(),
    );
    assert!(o.ok, "{}", o.stderr);
    let ct = openpgp::encrypt_bytes(&[&key], b"hi dave\n", None, true).unwrap();
    let o = run(
        g.cmd().args(["--passphrase", "correct horse", "--decrypt"]),
        &ct,
    );
    assert!(o.ok && o.stdout == b"hi dave\n", "{}", o.stderr);
    let locked = openpgp::parse_cert(armored.as_bytes()).unwrap();
    assert!(matches!(
        openpgp::unlock_secret(&locked, "wrong"),
        Err(CryptoError::WrongPassphrase)
    ));
    let unlocked = openpgp::unlock_secret(&locked, "correct horse").unwrap();
    assert_eq!(
        openpgp::decrypt_bytes(&[&unlocked], &[], &ct)
            .unwrap()
            .plaintext,
        b"hi dave\n"
    );

    // SCKM: the server keeps the encryption secret only.
    let sckm = openpgp::without_signing_secret(&key);
    let info = openpgp::KeyInfo::of(&sckm);
    assert!(!info.primary_has_secret);
    assert_eq!(info.subkeys.iter().filter(|s| s.has_secret).count(), 1);
    assert_eq!(
        openpgp::decrypt_bytes(&[&sckm], &[], &ct)
            .unwrap()
            .plaintext,
        b"hi dave\n"
    );
    match openpgp::encrypt_bytes(&[&key], b"x", Some(&sckm), true) {
        Err(CryptoError::NoKey(m)) => assert!(m.contains("dave@signet.test"), "{m}"),
        other => panic!("expected NoKey, got {other:?}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let key = signet_key(KeyAlgorithm::Cv25519);
    let ct = openpgp::encrypt_bytes(&[key], b"payload", None, true).unwrap();
    let truncated = &ct[..ct.len() / 2];
    assert!(openpgp::decrypt_bytes(&[key], &[], truncated).is_err());
    assert!(openpgp::decrypt_bytes(&[key], &[], b"garbage, not OpenPGP").is_err());
    assert!(openpgp::decrypt_bytes(&[key], &[], &[0x85, 0xff, 0xff, 0x00]).is_err());
    assert!(openpgp::parse_cert(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n").is_err());
    assert!(openpgp::parse_cert(b"").is_err());
    let two = [
        public_armor(key),
        public_armor(signet_key(KeyAlgorithm::Rsa2048)),
    ]
    .concat();
    assert!(openpgp::parse_cert(&two).is_err());
    assert_eq!(openpgp::parse_certs(&two).unwrap().len(), 2);
    let other = signet_key(KeyAlgorithm::Rsa2048);
    assert!(matches!(
        openpgp::decrypt_bytes(&[other], &[], &ct),
        Err(CryptoError::Decrypt(_))
    ));
    // Flipped bit in the ciphertext body (binary form).
    let mut bin = openpgp::encrypt_bytes(&[key], b"payload payload payload", None, false).unwrap();
    let n = bin.len();
    bin[n - 5] ^= 0x01;
    assert!(openpgp::decrypt_bytes(&[key], &[], &bin).is_err());
    // A message without OpenPGP content: nothing to open.
    assert!(
        pgpmime::open(MESSAGE, &CertList::default())
            .unwrap()
            .is_none()
    );
    assert_eq!(pgpmime::pgp_content(MESSAGE), None);
    // A truncated armor block inside a mail.
    let mut msg = b"From: a@b.test\r\nSubject: x\r\n\r\n".to_vec();
    msg.extend_from_slice(truncated);
    assert!(
        pgpmime::open(
            &msg,
            &CertList {
                secret: vec![key.clone()],
                public: vec![]
            }
        )
        .is_err()
    );
    // Encrypting to a key without an encryption subkey names it.
    let org =
        openpgp::generate_organization_key(&["x.test".into()], KeyAlgorithm::Cv25519).unwrap();
    let signing_only = org
        .clone()
        .retain_subkeys(|k| k.key().pk_algo().for_signing());
    match openpgp::encrypt_bytes(&[&signing_only], b"x", None, true) {
        Err(CryptoError::NoKey(m)) => assert!(m.contains("pgp-universal-admin@x.test"), "{m}"),
        other => panic!("expected NoKey, got {other:?}"),
    }
}

#[test]
fn key_management_helpers() {
    let org = openpgp::generate_organization_key(
        &["a.test".into(), "b.test".into()],
        KeyAlgorithm::Cv25519,
    )
    .unwrap();
    let org2 =
        openpgp::set_organization_domains(&org, &["b.test".into(), "c.test".into()]).unwrap();
    let info = openpgp::KeyInfo::of(&org2);
    assert_eq!(
        info.emails,
        vec!["pgp-universal-admin@b.test", "pgp-universal-admin@c.test"]
    );
    assert_eq!(info.user_ids.len(), 3);
    assert!(info.flags.contains(&"certify".to_string()));
    let user =
        openpgp::generate_user_key("Eve@Signet.test", None, KeyAlgorithm::Rsa2048, None).unwrap();
    let user = openpgp::certify(&org2, user).unwrap();
    assert_eq!(openpgp::organization_certifications(&user, &org2), 1);
    let info = openpgp::KeyInfo::of(&user);
    assert_eq!(info.algorithm, "RSA 2048");
    assert!(info.expires.is_none());
    let sub = &info.subkeys;
    assert_eq!(sub.len(), 2);
    assert!(sub.iter().any(|s| s.flags == ["sign"]) && sub.iter().any(|s| s.flags == ["encrypt"]));
    assert!(openpgp::key_matches(&user, "eve@signet.TEST"));
    assert!(openpgp::key_matches(
        &user,
        &format!("0x{}", info.key_id.to_lowercase())
    ));
    assert!(openpgp::key_matches(&user, &sub[1].key_id));
    assert!(openpgp::key_matches(&user, &info.fingerprint));
    assert!(!openpgp::key_matches(&user, "mallory@signet.test"));
    assert_eq!(
        "rsa4096".parse::<KeyAlgorithm>().unwrap(),
        KeyAlgorithm::Rsa4096
    );
    assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Cv25519);
    let public = openpgp::public_only(&user);
    assert!(!public.is_tsk());
    assert!(openpgp::armored_secret(&public, None).is_err());
}

#[test]
fn truncated_and_mangled_messages_never_panic() {
    let k = signet_key(KeyAlgorithm::Cv25519);
    let ring = CertList {
        secret: vec![k.clone()],
        public: vec![k.clone()],
    };
    let mut inputs = Vec::new();
    for format in [Format::PgpMime, Format::PgpInline] {
        inputs.push(pgpmime::encrypt(MIXED, &[k], Some(k), format).unwrap());
        inputs.push(pgpmime::sign(MIXED, k, format).unwrap());
    }
    for msg in &inputs {
        for n in (0..msg.len()).step_by(53) {
            let _ = pgpmime::open(&msg[..n], &ring);
            let _ = pgpmime::pgp_content(&msg[..n]);
        }
        let mangled: Vec<u8> = msg
            .iter()
            .map(|b| if *b == b'A' { b'B' } else { *b })
            .collect();
        let _ = pgpmime::open(&mangled, &ring);
    }
    // Re-adding a domain that was removed brings its user ID back.
    let org =
        openpgp::generate_organization_key(&["a.test".into()], KeyAlgorithm::Cv25519).unwrap();
    let org = openpgp::set_organization_domains(&org, &["b.test".into()]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let org = openpgp::set_organization_domains(&org, &["a.test".into(), "b.test".into()]).unwrap();
    let info = openpgp::KeyInfo::of(&org);
    assert_eq!(
        info.emails,
        vec!["pgp-universal-admin@a.test", "pgp-universal-admin@b.test"]
    );
}
