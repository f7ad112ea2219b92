#![no_main]

use libfuzzer_sys::fuzz_target;

// Messages arriving over SMTP: the header/body split every transform starts with.
fuzz_target!(|data: &[u8]| {
    if let Ok(split) = signet_crypto::mime::split(data) {
        let entity = split.content_entity();
        let _ = signet_crypto::mime::assemble(&split, &entity);
    }
});
