#![no_main]

use libfuzzer_sys::fuzz_target;

// Join tokens are pasted by administrators: any UTF-8 text must be refused or accepted, never panic.
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = signet_store::wire::join_token(text);
});
