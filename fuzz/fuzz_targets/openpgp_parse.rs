#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_crypto::openpgp::{self, Cert, KeyAlgorithm, KeyInfo};

fn key() -> &'static Cert {
    static KEY: OnceLock<Cert> = OnceLock::new();
    KEY.get_or_init(|| {
        openpgp::generate_user_key("fuzz@example.org", None, KeyAlgorithm::Cv25519, None)
            .expect("key generation")
    })
}

// Keys imported by administrators (armored or binary, one or a keyring) and OpenPGP messages.
fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = openpgp::parse_cert(data) {
        let _ = KeyInfo::of(&cert);
    }
    if let Ok(certs) = openpgp::parse_certs(data) {
        for cert in &certs {
            let _ = KeyInfo::of(cert);
        }
    }
    let _ = openpgp::decrypt_bytes(&[key()], &[], data);
});
