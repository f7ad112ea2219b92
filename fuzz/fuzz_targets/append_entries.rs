#![no_main]

use libfuzzer_sys::fuzz_target;

// Body of an openraft AppendEntries RPC from another member (postcard-encoded).
fuzz_target!(|data: &[u8]| {
    let _ = signet_store::wire::append_entries(data);
});
