#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use signet_smtp::auth::{AuthSettings, Credentials, FixedCredentials};
use signet_smtp::session::{SessionConfig, transcript_over_tls};

// An SMTP client on an encrypted session of a proxy that requires AUTH: AUTH commands, PLAIN
// and LOGIN continuation lines (base64 or not, `*`, over-long), failures up to the limit,
// and mail before and after a successful AUTH.
fuzz_target!(|data: &[u8]| {
    let config = SessionConfig {
        max_message_size: 2048,
        max_errors: 1000,
        auth: Some(AuthSettings {
            verifier: Arc::new(FixedCredentials(Credentials::new("alice", "secret"))),
            required: true,
        }),
        ..SessionConfig::default()
    };
    let out = transcript_over_tls(config, data);
    assert!(out.starts_with("220 "));
});
