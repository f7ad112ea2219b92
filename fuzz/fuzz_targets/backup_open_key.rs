#![no_main]

use libfuzzer_sys::fuzz_target;

// Restore with both inputs from the administrator: the Organization Key text and the backup.
// Input layout: 2-byte big-endian length N, N bytes of key text, then the backup file.
fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let n = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
    let (key, backup) = rest.split_at(n);
    let _ = signet_web::backup::open(backup, key, None);
});
