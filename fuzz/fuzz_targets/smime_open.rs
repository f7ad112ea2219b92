#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_crypto::smime::{self, CertificateFields, CertificateInfo, KeyKind, SmimeIdentity};

struct Fixture {
    identities: Vec<SmimeIdentity>,
    trusted: Vec<Vec<u8>>,
}

// One RSA 2048 CA and one user identity issued by it, made once per process.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fields = CertificateFields {
            common_name: "Fuzz CA".into(),
            contact_email: None,
            organization: "Fuzz".into(),
            organizational_unit: None,
            locality: None,
            state: None,
            country: None,
        };
        let ca = smime::generate_organization_certificate(&fields, KeyKind::Rsa2048, None)
            .expect("CA generation");
        let user = smime::issue_user_certificate(
            &ca,
            "fuzz@example.org",
            None,
            KeyKind::Rsa2048,
            None,
            None,
        )
        .expect("user certificate");
        Fixture {
            identities: vec![user],
            trusted: vec![ca.cert_der],
        }
    })
}

// S/MIME messages arriving over SMTP, and certificates imported by administrators.
fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let _ = smime::open(data, &f.identities, &f.trusted);
    let _ = smime::parse_certificates(data);
    let _ = CertificateInfo::of(data);
    let _ = smime::is_x509(data);
});
