#![no_main]

use libfuzzer_sys::fuzz_target;

// Constructors that validate text typed by administrators or received through the API.
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = signet_model::EmailAddress::parse(text);
    let _ = signet_model::ManagedDomain::normalize_name(text);
    let _ = signet_model::DictionaryEntry::parse(text);
});
