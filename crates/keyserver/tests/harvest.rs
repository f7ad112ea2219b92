//! Harvesting keys from received messages made by real tools: a gpg key attached as
//! application/pgp-keys, an armored block in the text, an Autocrypt header with gpg's binary
//! key, and an S/MIME message signed by `openssl smime -sign`.

mod common;

use std::process::Command;

use base64::Engine;
use common::*;
use signet_keyserver::harvest::{HarvestSource, harvest};
use signet_model::{CachedKeyKind, KeyCacheTimeout, KeySource};

fn attached(from: &str, key: &[u8]) -> Vec<u8> {
    format!(
        "From: Fay <{from}>\r\nTo: bob@corp.test\r\nSubject: my key\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain\r\n\r\nHere is my key.\r\n--b1\r\n\
         Content-Type: application/pgp-keys; name=\"key.asc\"\r\n\
         Content-Disposition: attachment; filename=\"key.asc\"\r\n\r\n{}\r\n--b1--\r\n",
        String::from_utf8_lossy(key).replace('\n', "\r\n")
    )
    .into_bytes()
}

#[test]
fn attached_keys_vouch_only_for_the_sender() -> TestResult {
    let gpg = Gpg::new()?;
    let fay = gpg.key("Fay <fay@ext.test>")?;
    let fay_fpr = gpg.fingerprint("fay@ext.test")?;
    let found = harvest(&attached("Fay@Ext.test", &fay));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].address, "fay@ext.test");
    assert_eq!(found[0].how, HarvestSource::AttachedKey);
    assert_eq!(found[0].key.id, fay_fpr);
    let entry = found[0]
        .key
        .cache_entry(found[0].source(), 1_000, KeyCacheTimeout::DEFAULT);
    assert!(matches!(entry.source, KeySource::MailFlow { .. }));
    assert_eq!(
        entry.expires_at,
        1_000 + signet_model::keycache::MAIL_FLOW_CACHE_MS
    );

    // Somebody else's key sent by fay is not harvested.
    let other = gpg.key("Gil <gil@ext.test>")?;
    assert!(harvest(&attached("fay@ext.test", &other)).is_empty());

    // An armored block pasted into the text counts as an attached key.
    let inline = format!(
        "From: fay@ext.test\r\nTo: bob@corp.test\r\nSubject: key\r\n\r\nMy key:\r\n{}\r\nBye\r\n",
        String::from_utf8_lossy(&fay).replace('\n', "\r\n")
    );
    assert_eq!(harvest(inline.as_bytes()).len(), 1);

    // Broken armor and garbage give nothing, never a panic.
    let broken = attached(
        "fay@ext.test",
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
    );
    assert!(harvest(&broken).is_empty());
    assert!(harvest(b"\xff\xfe garbage").is_empty());
    Ok(())
}

#[test]
fn autocrypt_header() -> TestResult {
    let gpg = Gpg::new()?;
    gpg.key("Hal <hal@ext.test>")?;
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(gpg.home.path())
        .args(["--batch", "--export", "hal@ext.test"])
        .output()?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&out.stdout);
    // Folded the way mail agents fold it.
    let folded: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    let header = |addr: &str, extra: &str| {
        format!(
            "From: Hal <hal@ext.test>\r\nTo: bob@corp.test\r\nSubject: hi\r\n\
             Autocrypt: addr={addr};{extra} prefer-encrypt=mutual; keydata=\r\n {}\r\n\r\nhello\r\n",
            folded.join("\r\n ")
        )
    };
    let found = harvest(header("hal@ext.test", "").as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].how, HarvestSource::Autocrypt);
    // addr must be the sender's; an unknown critical attribute voids the header.
    assert!(harvest(header("eve@ext.test", "").as_bytes()).is_empty());
    assert!(harvest(header("hal@ext.test", " critical=1;").as_bytes()).is_empty());
    assert_eq!(
        harvest(header("hal@ext.test", " _ignored=1;").as_bytes()).len(),
        1
    );
    Ok(())
}

#[test]
fn smime_signer_certificate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let der = openssl_certificate(dir.path(), "ivy@ext.test")?;
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "Content-Type: text/plain\r\n\r\nsigned hello\r\n")?;
    let out = Command::new("openssl")
        .args(["smime", "-sign", "-in"])
        .arg(&body)
        .arg("-signer")
        .arg(dir.path().join("cert.pem"))
        .arg("-inkey")
        .arg(dir.path().join("cert.key"))
        .args([
            "-from",
            "ivy@ext.test",
            "-to",
            "bob@corp.test",
            "-subject",
            "signed",
        ])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = harvest(&out.stdout);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].how, HarvestSource::SmimeSignature);
    assert_eq!(found[0].key.kind, CachedKeyKind::X509);
    assert_eq!(found[0].key.data, der);
    assert_eq!(found[0].address, "ivy@ext.test");
    // Changed after signing: the signature no longer holds, so the certificate vouches for
    // nothing and is not harvested.
    let tampered = String::from_utf8_lossy(&out.stdout).replace("signed hello", "signed HELLO");
    assert!(harvest(tampered.as_bytes()).is_empty());
    Ok(())
}
