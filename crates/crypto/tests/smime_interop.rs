//! S/MIME interoperability with the real OpenSSL 3 command line: what Signet makes, openssl
//! opens and verifies; what openssl makes, Signet opens and verifies; the Organization
//! Certificate, user certificates and CRL read as a CA administrator would check them.
//!
//! Needs `openssl` on PATH (scripts/install-peers.sh installs it).

use signet_crypto::smime::{
    self, CaIdentity, CertificateFields, KeyKind, RevokedCertificate, SmimeIdentity,
};
use signet_crypto::{CryptoError, SignatureStatus};
use std::path::{Path, PathBuf};
use std::process::Command;

const MESSAGE: &[u8] = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Quarterly numbers\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <q4@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHello Bob, the numbers are in. Grüße, Alice\r\n".as_bytes();

/// Runs `openssl` with a command line split at whitespace, in `dir`; returns (success,
/// stdout, stderr).
fn openssl(dir: &Path, line: &str) -> (bool, String, String) {
    openssl_args(dir, &line.split_whitespace().collect::<Vec<_>>())
}

fn openssl_args(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}); run scripts/install-peers.sh"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn openssl_ok(dir: &Path, line: &str) -> String {
    let (ok, stdout, stderr) = openssl(dir, line);
    assert!(ok, "openssl {line} failed:\n{stderr}\n{stdout}");
    stdout
}

fn openssl_args_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = openssl_args(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{stderr}\n{stdout}");
    stdout
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

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn fields() -> CertificateFields {
    CertificateFields {
        common_name: "Example Org CA".into(),
        contact_email: Some("pki@example.org".into()),
        organization: "Example Org".into(),
        organizational_unit: Some("IT".into()),
        locality: Some("Berlin".into()),
        state: None,
        country: Some("DE".into()),
    }
}

/// An Org Cert (RSA) with users alice (RSA), bob (RSA) and carol (EC), all written as PEM.
struct Pki {
    dir: tempfile::TempDir,
    ca: CaIdentity,
    alice: SmimeIdentity,
    bob: SmimeIdentity,
    carol: SmimeIdentity,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca =
            smime::generate_organization_certificate(&fields(), KeyKind::Rsa2048, None).unwrap();
        let issue = |mail, name, kind| {
            smime::issue_user_certificate(&ca, mail, Some(name), kind, None, None).unwrap()
        };
        let alice = issue("alice@example.org", "Alice", KeyKind::Rsa2048);
        let bob = issue("bob@example.net", "Bob", KeyKind::Rsa2048);
        let carol = issue("carol@example.org", "Carol", KeyKind::P256);
        let d = dir.path();
        write(d, "org.pem", pem("CERTIFICATE", &ca.cert_der));
        write(d, "org.key", pem("PRIVATE KEY", &ca.key_pkcs8_der));
        for (name, id) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
            write(d, &format!("{name}.pem"), pem("CERTIFICATE", &id.cert_der));
            write(
                d,
                &format!("{name}.key"),
                pem("PRIVATE KEY", &id.key_pkcs8_der),
            );
        }
        Pki {
            dir,
            ca,
            alice,
            bob,
            carol,
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn trusted(&self) -> Vec<Vec<u8>> {
        vec![self.ca.cert_der.clone()]
    }
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

#[test]
fn org_certificate_user_certificates_and_crl_as_openssl_sees_them() {
    let pki = Pki::new();
    let d = pki.path();
    let text = openssl_ok(d, "x509 -in org.pem -noout -text");
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(text.contains("O = Example Org"), "{text}");
    let info = smime::CertificateInfo::of(&pki.ca.cert_der).unwrap();
    assert_eq!((info.version, info.is_ca), (3, true));
    let years = (info.not_after - info.not_before) as f64 / (365.25 * 86400.0);
    assert!((9.9..10.1).contains(&years), "{years} years");
    assert_eq!(info.key_algorithm, "RSA-2048");
    assert_eq!(info.emails, ["pki@example.org"]);
    let end = openssl_ok(d, "x509 -in org.pem -noout -enddate");
    let year = 1970 + (info.not_after / 31_556_952);
    assert!(end.contains(&year.to_string()), "{end} vs {year}");

    // openssl accepts the users' certificates as issued by the Org Cert.
    let verified = openssl_ok(
        d,
        "verify -purpose smimesign -CAfile org.pem alice.pem carol.pem",
    );
    assert!(
        verified.contains("alice.pem: OK") && verified.contains("carol.pem: OK"),
        "{verified}"
    );
    let alice = openssl_ok(d, "x509 -in alice.pem -noout -text");
    for needle in [
        "email:alice@example.org",
        "E-mail Protection",
        "Key Encipherment",
        "CN = Alice",
    ] {
        assert!(alice.contains(needle), "{needle} missing in {alice}");
    }
    let carol = smime::CertificateInfo::of(&pki.carol.cert_der).unwrap();
    assert_eq!(
        (carol.key_algorithm.as_str(), carol.is_ca),
        ("EC P-256", false)
    );
    assert_eq!(carol.serial_hex.len(), 32);

    // A CRL distribution point, when asked for.
    let dave = smime::issue_user_certificate(
        &pki.ca,
        "dave@example.org",
        None,
        KeyKind::Rsa2048,
        None,
        Some("http://keys.example.org/crl/org.crl"),
    )
    .unwrap();
    write(d, "dave.pem", pem("CERTIFICATE", &dave.cert_der));
    let dave_text = openssl_ok(d, "x509 -in dave.pem -noout -text");
    assert!(
        dave_text.contains("URI:http://keys.example.org/crl/org.crl"),
        "{dave_text}"
    );

    // The CRL lists dave's serial and verifies against the Org Cert.
    let dave_serial = smime::CertificateInfo::of(&dave.cert_der)
        .unwrap()
        .serial_hex;
    let now = 1_790_000_000;
    let crl = smime::crl(
        &pki.ca,
        &[RevokedCertificate {
            serial_hex: dave_serial.to_lowercase(),
            revoked_at: now - 60,
        }],
        now,
        now + 7 * 86400,
    )
    .unwrap();
    write(d, "org.crl", &crl);
    let crl_text = openssl_ok(d, "crl -inform DER -in org.crl -noout -text");
    assert!(
        crl_text.contains(&format!("Serial Number: {dave_serial}")),
        "{dave_serial} not in {crl_text}"
    );
    let (ok, out, err) = openssl(d, "crl -inform DER -in org.crl -CAfile org.pem -noout");
    assert!(ok && (out + &err).contains("verify OK"));
}

#[test]
fn import_refuses_v1_non_ca_and_mismatched_keys() {
    let pki = Pki::new();
    let d = pki.path();
    // A v1 certificate: `openssl x509 -req` without extensions makes one.
    openssl_args_ok(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "v1.key",
            "-subj",
            "/CN=Old CA",
            "-out",
            "v1.csr",
        ],
    );
    openssl_ok(
        d,
        "x509 -req -in v1.csr -signkey v1.key -days 30 -out v1.pem",
    );
    assert!(openssl_ok(d, "x509 -in v1.pem -noout -text").contains("Version: 1 (0x0)"));
    let v1 = std::fs::read(d.join("v1.pem")).unwrap();
    let v1_key = std::fs::read(d.join("v1.key")).unwrap();
    let err = smime::import_organization_certificate(&v1, &v1_key).unwrap_err();
    assert!(err.to_string().contains("must be X.509 v3"), "{err}");

    // Not a CA: a user certificate.
    let alice = std::fs::read(d.join("alice.pem")).unwrap();
    let alice_key = std::fs::read(d.join("alice.key")).unwrap();
    let err = smime::import_organization_certificate(&alice, &alice_key).unwrap_err();
    assert!(
        err.to_string().contains("must be a CA certificate"),
        "{err}"
    );

    // An openssl-made CA imports; with someone else's key it does not.
    openssl_args_ok(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ext.key",
            "-subj",
            "/O=Other Org/CN=Other Org CA",
            "-days",
            "365",
            "-out",
            "ext.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let ext = std::fs::read(d.join("ext.pem")).unwrap();
    let err = smime::import_organization_certificate(&ext, &alice_key).unwrap_err();
    assert!(
        matches!(err, CryptoError::NoKey(_)) && err.to_string().contains("does not belong"),
        "{err}"
    );
    let imported =
        smime::import_organization_certificate(&ext, &std::fs::read(d.join("ext.key")).unwrap())
            .unwrap();
    // It issues certificates openssl chains to it (EC CA signing an RSA user).
    let erin = smime::issue_user_certificate(
        &imported,
        "erin@other.test",
        None,
        KeyKind::Rsa2048,
        None,
        None,
    )
    .unwrap();
    write(d, "erin.pem", pem("CERTIFICATE", &erin.cert_der));
    assert!(openssl_ok(d, "verify -CAfile ext.pem erin.pem").contains("erin.pem: OK"));

    // Certificate parsing in all the forms the UI accepts; X.509 is recognised as such.
    let bundle = [std::fs::read(d.join("org.pem")).unwrap(), alice.clone()].concat();
    assert_eq!(smime::parse_certificates(&bundle).unwrap().len(), 2);
    openssl_ok(
        d,
        "crl2pkcs7 -nocrl -certfile org.pem -certfile alice.pem -outform DER -out b.p7b",
    );
    assert_eq!(
        smime::parse_certificates(&std::fs::read(d.join("b.p7b")).unwrap())
            .unwrap()
            .len(),
        2
    );
    assert!(smime::is_x509(&pki.alice.cert_der) && smime::is_x509(&alice));
    assert!(!smime::is_x509(
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF\n-----END PGP PUBLIC KEY BLOCK-----\n"
    ));
}

#[test]
fn openssl_decrypts_and_verifies_what_signet_makes() {
    let pki = Pki::new();
    let d = pki.path();

    let encrypted = smime::encrypt(MESSAGE, &[&pki.bob.cert_der, &pki.alice.cert_der]).unwrap();
    let text = String::from_utf8(encrypted.clone()).unwrap();
    assert_eq!(header(&text, "Subject"), Some("Quarterly numbers"));
    assert_eq!(header(&text, "Message-ID"), Some("<q4@example.org>"));
    assert!(!text.contains("numbers are in"));
    write(d, "enc.eml", &encrypted);
    let out = openssl_ok(d, "cms -decrypt -in enc.eml -recip bob.pem -inkey bob.key");
    assert!(
        out.contains("Hello Bob, the numbers are in. Grüße, Alice"),
        "{out}"
    );
    let out = openssl_ok(
        d,
        "smime -decrypt -in enc.eml -recip alice.pem -inkey alice.key",
    );
    assert!(
        out.contains("Content-Type: text/plain; charset=utf-8") && out.contains("numbers are in"),
        "{out}"
    );

    // An EC (P-256) recipient: RFC 5753 ECDH key agreement, which openssl opens.
    let to_carol = smime::encrypt(MESSAGE, &[&pki.carol.cert_der, &pki.bob.cert_der]).unwrap();
    write(d, "enc-ec.eml", &to_carol);
    let out = openssl_ok(
        d,
        "cms -decrypt -in enc-ec.eml -recip carol.pem -inkey carol.key",
    );
    assert!(
        out.contains("Hello Bob, the numbers are in. Grüße, Alice"),
        "{out}"
    );
    let out = openssl_ok(
        d,
        "cms -decrypt -in enc-ec.eml -recip bob.pem -inkey bob.key",
    );
    assert!(out.contains("the numbers are in"), "{out}");

    // Signed by an RSA and by an EC signer; both verify against the Org Cert.
    for (signer, name) in [(&pki.alice, "rsa"), (&pki.carol, "ec")] {
        let signed = smime::sign(MESSAGE, signer, std::slice::from_ref(&pki.ca.cert_der)).unwrap();
        let file = format!("signed-{name}.eml");
        write(d, &file, &signed);
        let (ok, out, err) = openssl(d, &format!("cms -verify -CAfile org.pem -in {file}"));
        assert!(
            ok && err.contains("Verification successful"),
            "{name}: {err}"
        );
        // The 8-bit body was made 7-bit safe before signing; the text survives.
        assert!(out.contains("Content-Transfer-Encoding: base64"), "{out}");
        let (ok, _, err) = openssl(
            d,
            &format!("smime -verify -CAfile org.pem -in {file} -out /dev/null"),
        );
        assert!(
            ok && err.contains("Verification successful"),
            "{name}: {err}"
        );
        let opened = smime::open(&signed, &[], &pki.trusted()).unwrap();
        assert_eq!(
            opened.annotation.signatures[0].status,
            SignatureStatus::Good,
            "{name}"
        );
        assert_eq!(
            body_text(&opened.message).trim(),
            "Hello Bob, the numbers are in. Grüße, Alice"
        );
    }

    // Sign, then encrypt: openssl decrypts, then verifies the inner message.
    let both = smime::encrypt_and_sign(MESSAGE, &pki.alice, &[], &[&pki.bob.cert_der]).unwrap();
    write(d, "both.eml", &both);
    openssl_ok(
        d,
        "cms -decrypt -in both.eml -recip bob.pem -inkey bob.key -out inner.eml",
    );
    let (ok, out, err) = openssl(d, "cms -verify -CAfile org.pem -in inner.eml");
    assert!(ok && err.contains("Verification successful"), "{err}");
    assert!(
        out.contains("Content-Type: text/plain; charset=utf-8"),
        "{out}"
    );
}

#[test]
fn signet_opens_what_signet_makes() {
    let pki = Pki::new();
    let both = smime::encrypt_and_sign(MESSAGE, &pki.carol, &[], &[&pki.bob.cert_der]).unwrap();
    assert!(smime::smime_content(&both) && !smime::smime_content(MESSAGE));
    let opened = smime::open(&both, std::slice::from_ref(&pki.bob), &pki.trusted()).unwrap();
    let text = String::from_utf8(opened.message).unwrap();
    assert_eq!(header(&text, "To"), Some("Bob <bob@example.net>"));
    assert_eq!(
        header(&text, "Date"),
        Some("Mon, 23 Nov 2026 10:00:00 +0000")
    );
    assert!(
        text.contains("Content-Type: text/plain; charset=utf-8"),
        "{text}"
    );
    let a = &opened.annotation;
    assert!(a.was_encrypted && a.whole_message);
    let bob_serial = smime::CertificateInfo::of(&pki.bob.cert_der)
        .unwrap()
        .serial_hex;
    assert!(
        a.encrypted_to[0].ends_with(&format!(" / {bob_serial}")),
        "{:?}",
        a.encrypted_to
    );
    assert!(
        a.encrypted_to[0].contains("CN=Example Org CA"),
        "{:?}",
        a.encrypted_to
    );
    assert_eq!(a.signatures.len(), 1);
    assert_eq!(a.signatures[0].status, SignatureStatus::Good);
    assert_eq!(a.signatures[0].signer, ["carol@example.org"]);
    // Without the Org Cert the signature holds but the signer is unknown.
    let opened = smime::open(&both, std::slice::from_ref(&pki.bob), &[]).unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::UnknownSigner
    );
}

fn body_text(message: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(message)
        .expect("a parsable message");
    parsed
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

#[test]
fn signet_opens_what_openssl_makes() {
    let pki = Pki::new();
    let d = pki.path();
    write(
        d,
        "entity.txt",
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello from OpenSSL.\r\n",
    );
    let headers = [
        "-from",
        "alice@example.org",
        "-to",
        "bob@example.net",
        "-subject",
        "From the CLI",
    ];
    let run = |line: &str| {
        let args: Vec<&str> = line.split_whitespace().collect();
        // Options before the positional recipient certificates.
        let all: Vec<&str> = args[..2]
            .iter()
            .chain(headers.iter())
            .chain(args[2..].iter())
            .copied()
            .collect();
        openssl_args_ok(d, &all);
        std::fs::read(d.join("out.eml")).unwrap()
    };
    let me = [pki.bob.clone()];
    let trusted = pki.trusted();

    // Encrypted by openssl smime (AES-256), openssl cms (AES-128, and its default 3DES).
    let enc_smime = run("smime -encrypt -aes256 -in entity.txt -out out.eml bob.pem");
    let enc_cms = run("cms -encrypt -aes128 -in entity.txt -out out.eml bob.pem alice.pem");
    let enc_3des = run("cms -encrypt -in entity.txt -out out.eml alice.pem bob.pem");
    // To an EC recipient (openssl smime, i.e. PKCS#7, cannot): openssl cms's ECDH defaults (SHA-1 KDF) and AES-128 / AES-256 wrap.
    let enc_ec = run("cms -encrypt -aes256 -in entity.txt -out out.eml carol.pem");
    let enc_ec128 = run("cms -encrypt -aes128 -in entity.txt -out out.eml carol.pem");
    let keys = [pki.bob.clone(), pki.carol.clone()];
    for enc in [enc_smime, enc_cms, enc_3des, enc_ec, enc_ec128] {
        assert!(smime::smime_content(&enc));
        let opened = smime::open(&enc, &keys, &trusted).unwrap();
        assert!(opened.annotation.was_encrypted && opened.annotation.signatures.is_empty());
        assert_eq!(body_text(&opened.message).trim(), "Hello from OpenSSL.");
        let text = String::from_utf8_lossy(&opened.message).into_owned();
        assert_eq!(header(&text, "Subject"), Some("From the CLI"));
    }

    // Signed by openssl: RSA and EC, detached multipart/signed and opaque signed-data.
    for (who, mail) in [
        ("alice", "alice@example.org"),
        ("carol", "carol@example.org"),
    ] {
        for detach in [true, false] {
            let nodetach = if detach { "" } else { "-nodetach" };
            let signed = run(&format!(
                "smime -sign {nodetach} -in entity.txt -out out.eml -signer {who}.pem -inkey {who}.key"
            ));
            let opened = smime::open(&signed, &[], &trusted)
                .unwrap_or_else(|e| panic!("{who} {detach}: {e}"));
            let sig = &opened.annotation.signatures;
            assert_eq!(sig.len(), 1, "{who} detach={detach}");
            assert_eq!(
                sig[0].status,
                SignatureStatus::Good,
                "{who} detach={detach}"
            );
            assert_eq!(sig[0].signer, [mail]);
            assert!(sig[0].created.is_some());
            assert_eq!(body_text(&opened.message).trim(), "Hello from OpenSSL.");
        }
    }

    // Bare text, not a MIME entity, as some senders encrypt it.
    write(d, "bare.txt", "Just text, no headers.\n");
    let bare = run("smime -encrypt -aes256 -in bare.txt -out out.eml bob.pem");
    let opened = smime::open(&bare, &me, &trusted).unwrap();
    assert_eq!(body_text(&opened.message).trim(), "Just text, no headers.");

    // A signer under an intermediate CA that the message carries (-certfile), which the
    // Org Cert issued: Good with only the Org Cert trusted.
    write(
        d,
        "ca.ext",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n",
    );
    write(
        d,
        "leaf.ext",
        "subjectAltName=email:frank@example.org\nextendedKeyUsage=emailProtection\n",
    );
    let subj_inter = [
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "inter.key",
        "-out",
        "inter.csr",
        "-subj",
        "/CN=Inter CA",
    ];
    openssl_args_ok(d, &subj_inter);
    openssl_ok(
        d,
        "x509 -req -in inter.csr -CA org.pem -CAkey org.key -days 30 -extfile ca.ext -out inter.pem",
    );
    let subj_leaf = [
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "frank.key",
        "-out",
        "frank.csr",
        "-subj",
        "/CN=Frank",
    ];
    openssl_args_ok(d, &subj_leaf);
    openssl_ok(
        d,
        "x509 -req -in frank.csr -CA inter.pem -CAkey inter.key -days 30 -extfile leaf.ext -out frank.pem",
    );
    let signed = run(
        "smime -sign -in entity.txt -out out.eml -signer frank.pem -inkey frank.key -certfile inter.pem",
    );
    let opened = smime::open(&signed, &[], &trusted).unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert_eq!(
        opened.annotation.signatures[0].signer,
        ["frank@example.org"]
    );

    // Streaming (BER, indefinite lengths), as NSS and `openssl -stream` write it.
    let ber_signed = run(
        "cms -sign -stream -nodetach -in entity.txt -out out.eml -signer alice.pem -inkey alice.key",
    );
    let opened = smime::open(&ber_signed, &[], &trusted).unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert_eq!(body_text(&opened.message).trim(), "Hello from OpenSSL.");
    let ber_enc = run("cms -encrypt -stream -aes256 -in entity.txt -out out.eml bob.pem");
    let opened = smime::open(&ber_enc, &me, &trusted).unwrap();
    assert_eq!(body_text(&opened.message).trim(), "Hello from OpenSSL.");

    // Signed, then encrypted, by openssl.
    openssl_ok(
        d,
        "smime -sign -in entity.txt -out signed.eml -signer alice.pem -inkey alice.key",
    );
    let both = run("smime -encrypt -aes256 -in signed.eml -out out.eml bob.pem");
    let opened = smime::open(&both, &me, &trusted).unwrap();
    assert!(opened.annotation.was_encrypted);
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert_eq!(
        opened.annotation.signatures[0].signer,
        ["alice@example.org"]
    );
    assert_eq!(body_text(&opened.message).trim(), "Hello from OpenSSL.");
}

#[test]
fn bad_input_gives_clear_errors() {
    let pki = Pki::new();
    let me = [pki.bob.clone()];
    let trusted = pki.trusted();
    let encrypted =
        String::from_utf8(smime::encrypt(MESSAGE, &[&pki.bob.cert_der]).unwrap()).unwrap();

    // Truncated base64: cut the body in the middle of a line.
    let cut = &encrypted[..encrypted.len() * 2 / 3];
    let err = smime::open(cut.as_bytes(), &me, &trusted).unwrap_err();
    assert!(matches!(err, CryptoError::Smime(_)), "{err}");

    // Garbage DER in valid base64.
    let (head, _) = encrypted.split_once("\r\n\r\n").unwrap();
    let garbage = format!("{head}\r\n\r\nMIIBAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\r\n");
    let err = smime::open(garbage.as_bytes(), &me, &trusted).unwrap_err();
    assert!(
        err.to_string().contains("not a CMS/PKCS#7 structure"),
        "{err}"
    );
    assert!(smime::parse_certificate(b"\x30\x03\x02\x01\x01").is_err());
    assert!(smime::CertificateInfo::of(b"garbage").is_err());

    // Encrypted to bob, opened with alice's key only: names bob's certificate.
    let err = smime::open(
        encrypted.as_bytes(),
        std::slice::from_ref(&pki.alice),
        &trusted,
    )
    .unwrap_err();
    assert!(
        matches!(err, CryptoError::NoKey(_)) && err.to_string().contains("Example Org CA"),
        "{err}"
    );
    // A key that is not the certificate's, under bob's certificate: cannot decrypt.
    let impostor = SmimeIdentity {
        cert_der: pki.bob.cert_der.clone(),
        key_pkcs8_der: pki.alice.key_pkcs8_der.clone(),
    };
    let err = smime::open(encrypted.as_bytes(), &[impostor], &trusted).unwrap_err();
    assert!(matches!(err, CryptoError::Decrypt(_)), "{err}");

    // Encrypted to carol (EC) only: bob's RSA key is not asked, and says so.
    let to_carol = smime::encrypt(MESSAGE, &[&pki.carol.cert_der]).unwrap();
    let err = smime::open(&to_carol, &me, &trusted).unwrap_err();
    assert!(matches!(err, CryptoError::NoKey(_)), "{err}");
    // carol's certificate with bob's key: the key agreement fails cleanly.
    let impostor = SmimeIdentity {
        cert_der: pki.carol.cert_der.clone(),
        key_pkcs8_der: pki.bob.key_pkcs8_der.clone(),
    };
    assert!(smime::open(&to_carol, &[impostor], &trusted).is_err());

    // A changed signed body is a Bad signature, not an error.
    let signed = String::from_utf8(
        smime::sign(
            b"From: a@example.org\r\nSubject: s\r\n\r\nPay 100 EUR\r\n",
            &pki.alice,
            &[],
        )
        .unwrap(),
    )
    .unwrap();
    let tampered = signed.replace("Pay 100 EUR", "Pay 900 EUR");
    let opened = smime::open(tampered.as_bytes(), &[], &trusted).unwrap();
    assert_eq!(opened.annotation.signatures[0].status, SignatureStatus::Bad);
    let opened = smime::open(signed.as_bytes(), &[], &trusted).unwrap();
    assert_eq!(
        opened.annotation.signatures[0].status,
        SignatureStatus::Good
    );
    assert!(
        String::from_utf8(opened.message)
            .unwrap()
            .ends_with("\r\n\r\nPay 100 EUR\r\n")
    );

    // Plain mail is not S/MIME.
    let err = smime::open(MESSAGE, &me, &trusted).unwrap_err();
    assert!(err.to_string().contains("not S/MIME"), "{err}");
}
