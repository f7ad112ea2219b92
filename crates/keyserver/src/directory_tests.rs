//! Unit tests of the published-key directory.

use super::*;
use signet_crypto::openpgp::{KeyAlgorithm, generate_user_key, public_only, revoke};

fn key(email: &str) -> Cert {
    generate_user_key(email, Some("Test User"), KeyAlgorithm::Cv25519, None).unwrap()
}

fn published(cert: &Cert) -> PublishedKey {
    let bytes = sopgp::binary_public(&public_only(cert)).unwrap();
    PublishedKey::from_cert_bytes(&bytes).unwrap()
}

#[test]
fn refuses_secret_material() {
    let cert = key("a@example.org");
    let tsk = sopgp::binary_secret(&cert).unwrap();
    assert!(matches!(
        PublishedKey::from_cert_bytes(&tsk),
        Err(DirectoryError::SecretMaterial(_))
    ));
    assert!(matches!(
        PublishedKey::from_cert_bytes(b"garbage"),
        Err(DirectoryError::Parse(_))
    ));
}

#[test]
fn describes_and_armors() {
    let cert = key("Alice@Example.org");
    let k = published(&cert);
    assert_eq!(k.fingerprint(), cert.fingerprint().to_hex());
    assert_eq!(k.key_id().len(), 16);
    assert_eq!(k.emails().collect::<Vec<_>>(), vec!["alice@example.org"]);
    assert_eq!(k.algorithm(), 22); // EdDSA
    assert!(k.bits() >= 255);
    assert_eq!(
        k.subkey_fingerprints().count(),
        cert.keys().subkeys().count()
    );
    let armored = k.armored();
    assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let back = sopgp::parse_cert(armored.as_bytes()).unwrap();
    assert_eq!(back.fingerprint(), cert.fingerprint());
}

#[test]
fn lookups_and_owner_changes() {
    let a = key("alice@example.org");
    let b = key("bob@example.org");
    let (pa, pb) = (published(&a), published(&b));
    let dir = SharedDirectory::new();
    dir.set_owner("alice@example.org", vec![pa.clone()], vec![]);
    dir.set_owner(
        "bob@example.org",
        vec![pb.clone()],
        vec![PublishedCertificate {
            der: Arc::from(&b"DER"[..]),
            emails: vec!["Bob@example.org".into()],
        }],
    );
    let d = dir.snapshot();
    assert_eq!(d.len(), 2);
    assert_eq!(
        d.by_email("ALICE@example.org")[0].fingerprint(),
        pa.fingerprint()
    );
    assert_eq!(
        d.by_email("<bob@example.org>")[0].fingerprint(),
        pb.fingerprint()
    );
    assert!(d.by_email("carol@example.org").is_empty());
    let lower = format!("0x{}", pa.fingerprint().to_lowercase());
    assert!(d.by_fingerprint(&lower).is_some());
    assert!(
        d.by_fingerprint(&pa.subkey_fingerprints().next().unwrap())
            .is_some()
    );
    assert_eq!(d.by_key_id(&pa.key_id()).len(), 1);
    assert_eq!(
        d.by_key_id(&pa.subkey_key_ids().next().unwrap()[8..]).len(),
        1
    );
    assert!(d.by_key_id("XYZ").is_empty());
    assert_eq!(d.search("EXAMPLE.ORG", 25).len(), 2);
    assert_eq!(d.search("example.org", 1).len(), 1);
    assert_eq!(d.certificates_for("bob@EXAMPLE.org").len(), 1);

    // The same key published by a second owner survives the first owner's removal.
    dir.set_owner("vd:1", vec![pa.clone()], vec![]);
    dir.remove_owner("alice@example.org");
    assert_eq!(d.by_email("alice@example.org").len(), 1);
    dir.remove_owner("vd:1");
    assert!(d.by_email("alice@example.org").is_empty());
    assert!(d.by_fingerprint(&pa.fingerprint()).is_none());

    // Replacing an owner's keys drops the old ones and its certificates.
    dir.set_owner("bob@example.org", vec![], vec![]);
    assert!(d.certificates_for("bob@example.org").is_empty());
    assert_eq!(d.len(), 0);
}

#[test]
fn several_keys_under_one_address() {
    let (a, b, c) = (
        published(&key("same@example.org")),
        published(&key("same@example.org")),
        published(&key("same@example.org")),
    );
    let dir = Directory::new();
    dir.set_owner("one", vec![a.clone(), b.clone()], vec![]);
    dir.set_owner("two", vec![c.clone()], vec![]);
    assert_eq!(dir.by_email("same@example.org").len(), 3);
    dir.remove_owner("two");
    assert_eq!(dir.by_email("same@example.org").len(), 2);
    dir.set_owner("one", vec![b.clone()], vec![]);
    let left = dir.by_email("same@example.org");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fingerprint(), b.fingerprint());
    assert!(dir.by_fingerprint(&a.fingerprint()).is_none());
    assert_eq!(dir.len(), 1);
}

#[test]
fn compact_encoding_round_trips() {
    let sub = "0123456789ABCDEF0123456789ABCDEF01234567".to_string();
    let v6 = "ab".repeat(32);
    let facts = KeyFacts {
        fingerprint: "0x00112233 44556677 8899aabb ccddeeff 00112233".into(),
        // A repeated subkey is kept once.
        subkeys: vec![sub.clone(), v6.clone(), sub.clone()],
        // Lengths that look like fingerprint length bytes, and non-ASCII text.
        user_ids: vec![
            "x".repeat(20),
            "Zoë <Zoe@Example.org>".into(),
            String::new(),
        ],
        emails: vec!["Zoe@Example.org".into()],
        algorithm: 1,
        bits: 3072,
        created: 7,
        expires: Some(9),
        revoked: true,
        public: Arc::from(&b"key"[..]),
    };
    let k = PublishedKey::new(facts.clone()).unwrap();
    assert_eq!(k.fingerprint(), "00112233445566778899AABBCCDDEEFF00112233");
    assert_eq!(k.key_id(), "CCDDEEFF00112233");
    assert_eq!(
        k.subkey_fingerprints().collect::<Vec<_>>(),
        vec![sub.clone(), v6.to_uppercase()]
    );
    // v4: the last 8 bytes; v6: the first 8.
    assert_eq!(
        k.subkey_key_ids().collect::<Vec<_>>(),
        vec![
            "89ABCDEF01234567".to_string(),
            "ABABABABABABABAB".to_string()
        ]
    );
    assert_eq!(k.user_ids().collect::<Vec<_>>(), facts.user_ids);
    assert_eq!(k.emails().collect::<Vec<_>>(), vec!["zoe@example.org"]);
    assert_eq!((k.algorithm(), k.bits(), k.created()), (1, 3072, 7));
    assert!(k.revoked() && k.expired_at(9) && k.public() == b"key");
    let bad = KeyFacts {
        fingerprint: "1234".into(),
        ..facts
    };
    assert!(matches!(
        PublishedKey::new(bad),
        Err(DirectoryError::Parse(_))
    ));

    // Found by every identifier, through the numeric indexes.
    let dir = Directory::new();
    dir.set_owner("o", vec![k.clone()], vec![]);
    assert!(dir.by_fingerprint_any(&v6).is_some());
    assert_eq!(dir.by_key_id_any("0x89abcdef01234567").len(), 1);
    assert_eq!(dir.by_key_id_any("00112233").len(), 1);
    assert!(dir.by_key_id_any("FFFFFFFF00112233").is_empty());
    assert_eq!(dir.by_email_any("ZOE@example.ORG").len(), 1);
    assert!(dir.by_email_any("zoe@example.net").is_empty());
}

#[test]
fn revoked_keys_only_when_asked() {
    let a = key("rev@example.org");
    let revoked = revoke(&a, None).unwrap();
    let p = published(&revoked);
    assert!(p.revoked());
    let dir = Directory::new();
    dir.set_owner("rev@example.org", vec![p.clone()], vec![]);
    assert!(dir.by_email("rev@example.org").is_empty());
    assert_eq!(dir.by_email_any("rev@example.org").len(), 1);
    assert!(dir.by_fingerprint(&p.fingerprint()).is_none());
    assert!(dir.by_fingerprint_any(&p.fingerprint()).is_some());
    assert!(dir.search("rev@", 25).is_empty());
}
