#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_crypto::openpgp::{self, Cert, CertList, KeyAlgorithm};

// One small key made once per process: opening tries it for decryption and verification.
fn keys() -> &'static CertList {
    static KEYS: OnceLock<CertList> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key: Cert =
            openpgp::generate_user_key("fuzz@example.org", None, KeyAlgorithm::Cv25519, None)
                .expect("key generation");
        CertList {
            public: vec![openpgp::public_only(&key)],
            secret: vec![key],
        }
    })
}

// Messages arriving over SMTP, opened by a Decrypt-and-verify action (PGP/MIME and inline).
fuzz_target!(|data: &[u8]| {
    let _ = signet_crypto::pgpmime::pgp_content(data);
    let _ = signet_crypto::pgpmime::open(data, keys());
});
