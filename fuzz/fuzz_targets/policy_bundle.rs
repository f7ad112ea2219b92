#![no_main]

use libfuzzer_sys::fuzz_target;

// A policy export uploaded for import (`signet policy import`). Non-UTF-8 inputs are skipped.
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signet_policy::transfer::parse_bundle(text);
    }
});
