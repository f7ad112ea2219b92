//! HKP `/pks/lookup` (draft-shaw-openpgp-hkp as GnuPG's dirmngr speaks it) over the published
//! directory, and `/pks/add`, which is refused: keys from the world enter only through the
//! Verified Directory, which checks each address first.

use std::sync::Arc;

use crate::directory::{Directory, PublishedKey};

use super::format;
use super::query::{Lookup, Op, Search};

/// At most this many keys answer one lookup (text searches and key-ID collisions).
pub const MAX_RESULTS: usize = 100;

/// What a lookup answers.
pub enum Answer {
    /// 200 with this content type and body.
    Found {
        content_type: &'static str,
        body: String,
    },
    /// 404 "no keys found".
    NotFound,
}

/// The keys a search names: exact address, key ID, fingerprint, or user-ID substring.
pub fn find(directory: &Directory, search: &Search, limit: usize) -> Vec<Arc<PublishedKey>> {
    let mut keys = match search {
        Search::Email(address) => directory.by_email(address),
        Search::KeyId(id) => directory.by_key_id(id),
        Search::Fingerprint(fpr) => directory.by_fingerprint(fpr).into_iter().collect(),
        Search::Text(text) => directory.search(text, limit),
    };
    keys.truncate(limit);
    keys
}

/// Answers a parsed lookup.
pub fn answer(directory: &Directory, lookup: &Lookup, raw_search: &str, now: u64) -> Answer {
    let keys = find(directory, &lookup.search, MAX_RESULTS);
    if keys.is_empty() {
        return Answer::NotFound;
    }
    match (lookup.op, lookup.machine_readable) {
        (Op::Get, _) => Answer::Found {
            content_type: "application/pgp-keys",
            body: format::armor_keys(&keys),
        },
        (Op::Index | Op::Vindex, true) => Answer::Found {
            content_type: "text/plain; charset=utf-8",
            body: format::machine_index(&keys, now),
        },
        (Op::Index | Op::Vindex, false) => Answer::Found {
            content_type: "text/html; charset=utf-8",
            body: format::html_index(&keys, raw_search, now),
        },
    }
}
