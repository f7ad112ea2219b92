#![no_main]

use libfuzzer_sys::fuzz_target;

// A received message read for policy, then a header edit as the Add message header action
// makes it.
fuzz_target!(|data: &[u8]| {
    let _ = signet_mailpath::facts::message_facts(data, "sender@example.com");
    let _ = signet_mailpath::transform::edit_headers(
        data,
        &[("X-Fuzz".to_string(), "1".to_string(), true)],
    );
});
