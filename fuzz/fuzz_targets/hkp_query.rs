#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_keyserver::http_service::{query, wkd};

// An HKP /pks/lookup query string and a WKD path as a client sends them: parsed into a lookup
// or refused with a 400 reason, never a panic. The first line is the query (or path), the
// second the Host header.
fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (first, host) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(lookup) = query::parse_lookup(first) {
        // What the handler relies on: normalized, bounded search values.
        match lookup.search {
            query::Search::KeyId(id) => assert!(id.len() == 8 || id.len() == 16),
            query::Search::Fingerprint(f) => assert!(f.len() == 40 || f.len() == 64),
            query::Search::Email(e) => assert!(e.contains('@')),
            query::Search::Text(t) => assert!(!t.is_empty()),
        }
    }
    let (path, q) = first.split_once('?').unwrap_or((first, ""));
    let _ = wkd::parse(path, Some(q), Some(host));
});
