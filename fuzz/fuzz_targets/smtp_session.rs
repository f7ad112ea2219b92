#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_smtp::session::{SessionConfig, transcript};

// What an SMTP client sends: command framing, the session's rules and the data phase, with a
// small size limit so the over-size path is reached too.
fuzz_target!(|data: &[u8]| {
    let config = SessionConfig {
        max_message_size: 2048,
        max_errors: 1000,
        ..SessionConfig::default()
    };
    let out = transcript(config, data);
    assert!(out.starts_with("220 "));
});
