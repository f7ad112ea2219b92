//! LDAP requests as a client sends them (BER bytes): decode with the service's limits, check
//! and evaluate the filter over a small directory, build the entries. Must never panic.
//! The first byte chooses: raw BER for the whole service, or a text filter (RFC 4515) for the
//! filter checks and evaluation alone.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use signet_keyserver::directory::{KeyFacts, PublishedCertificate, PublishedKey, SharedDirectory};
use signet_keyserver::ldap_service::{LdapSettings, Service, filter};

fn service() -> &'static Arc<Service> {
    static SERVICE: OnceLock<Arc<Service>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let dir = SharedDirectory::new();
        for i in 0..4u8 {
            let fpr = format!("{:040X}", u128::from(i) + 0xABCD);
            let email = format!("user{i}@example.org");
            // Fixed, valid facts: `new` only refuses malformed fingerprints.
            let Ok(key) = PublishedKey::new(KeyFacts {
                fingerprint: fpr,
                subkeys: vec![format!("{:040X}", u128::from(i) + 0xFFFF)],
                user_ids: vec![format!("User {i} <{email}>")],
                emails: vec![email.clone()],
                algorithm: 22,
                bits: 256,
                created: 1_700_000_000,
                expires: None,
                revoked: i == 3,
                public: Arc::from(vec![0x99u8, 0, 1, i].as_slice()),
            }) else {
                continue;
            };
            let certs = vec![PublishedCertificate {
                der: Arc::from(vec![0x30u8, 0x00].as_slice()),
                emails: vec![email.clone()],
            }];
            dir.set_owner(&email, vec![key], certs);
        }
        let settings = LdapSettings {
            rate_per_second: 0,
            ..LdapSettings::default()
        };
        Service::new(settings, dir)
    })
}

fuzz_target!(|data: &[u8]| {
    let service = service();
    match data.split_first() {
        Some((0, rest)) => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(f) = filter::parse_ldap_filter_str(text)
                && filter::check(&f, &service.settings.filter_limits).is_ok()
            {
                let dir = service.directory.snapshot();
                let _ = filter::evaluate(&f, &dir, 10);
            }
        }
        _ => {
            let _ = service.answer_bytes(data);
        }
    }
});
