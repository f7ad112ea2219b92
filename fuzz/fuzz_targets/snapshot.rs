#![no_main]

use libfuzzer_sys::fuzz_target;

// Snapshot bytes installed from the leader, decoded by the state machine.
fuzz_target!(|data: &[u8]| {
    let _ = signet_store::wire::snapshot(data);
});
