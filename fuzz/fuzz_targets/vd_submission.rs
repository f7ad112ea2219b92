#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_keyserver::verified_directory::{certify, form};

// A Verified Directory submission as a stranger posts it: the form body (urlencoded, or
// multipart when the first line names a boundary) and the key inside it. Every input is
// parsed into fields and then a key, or refused with a reason, never a panic.
fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let content_type = String::from_utf8_lossy(first);
    let fields = match form::boundary(&content_type) {
        Some(boundary) => form::multipart(body, &boundary),
        None => form::urlencoded(body),
    };
    if let Some(key) = form::field(&fields, &["keytext", "key", "file"]) {
        let _ = certify::parse_submission(key, None);
    }
    let _ = certify::parse_submission(body, None);
});
