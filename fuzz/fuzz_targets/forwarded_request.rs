#![no_main]

use libfuzzer_sys::fuzz_target;

// Body of a write forwarded from another member (postcard-encoded `Request`).
fuzz_target!(|data: &[u8]| {
    let _ = signet_store::wire::forwarded_request(data);
});
