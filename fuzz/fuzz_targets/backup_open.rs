#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_crypto::openpgp::{self, KeyAlgorithm};

// The Organization Key, armored with its private key, made once per process.
fn org_key() -> &'static [u8] {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let org = openpgp::generate_organization_key(&["example.org".into()], KeyAlgorithm::Cv25519)
            .expect("key generation");
        openpgp::armored_secret(&org, None).expect("export")
    })
    .as_bytes()
}

// Backup files uploaded by administrators for a restore.
fuzz_target!(|data: &[u8]| {
    let _ = signet_web::backup::open(data, org_key(), None);
});
