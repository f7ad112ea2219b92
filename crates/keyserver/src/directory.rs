//! The published-key directory: the in-memory index of every key the keyserver publishes
//! (internal users' public keys, the Organization Key, Verified Directory keys) and of the
//! S/MIME certificates served as `userCertificate;binary`. The LDAP and HTTP keyservers both
//! read it; the appliance keeps it current from the store.
//!
//! Memory: each key is one `Arc<PublishedKey>` that owns its bytes exactly once (its
//! identifiers and strings in one buffer); the indexes map numbers (32 bits of a key ID, a
//! keyed hash of an address) to slot numbers, never to copies, and every hit is checked
//! against the key itself. Changes are made per *owner* (one consumer, the Organization Key,
//! one VD entry), so a change to one user costs only that user's keys, never a rebuild.
//!
//! Never holds secret material: [`PublishedKey::from_cert_bytes`] refuses it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sequoia_openpgp as pgp;
use signet_crypto::openpgp::{self as sopgp, Cert};

/// Why a key cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the OpenPGP certificate: {0}")]
    Parse(String),
    #[error("refusing to publish secret key material ({0})")]
    SecretMaterial(String),
}

/// What a key is built from ([`PublishedKey::new`]); [`PublishedKey::from_cert`] fills it
/// from a certificate.
#[derive(Debug, Clone, Default)]
pub struct KeyFacts {
    /// Primary fingerprint, hex (40 digits for v4, 64 for v6; case and spaces ignored).
    pub fingerprint: String,
    /// Subkey fingerprints, same format.
    pub subkeys: Vec<String>,
    /// As written, including revoked ones.
    pub user_ids: Vec<String>,
    /// From non-revoked user IDs (stored lower case).
    pub emails: Vec<String>,
    /// OpenPGP public-key algorithm number of the primary.
    pub algorithm: u8,
    /// Key size; 256 for 25519 keys.
    pub bits: u32,
    pub created: u64,
    pub expires: Option<u64>,
    pub revoked: bool,
    /// Binary transferable public key.
    pub public: Arc<[u8]>,
}

/// One published OpenPGP key: what the lookups match on and what they return.
///
/// Memory: at a million keys the per-allocation overhead and the `String` headers cost more
/// than the text, so every identifier and string lives in one buffer, `data`: the binary
/// fingerprints (primary first; one length byte each), then the user IDs, then the addresses
/// (a little-endian `u32` length each). Hex and key IDs are formatted when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    data: Box<[u8]>,
    public: Arc<[u8]>,
    created: u64,
    expires: Option<u64>,
    bits: u32,
    user_id_count: u32,
    email_count: u32,
    fingerprint_count: u8,
    algorithm: u8,
    revoked: bool,
}

/// The key ID of a fingerprint: the last 8 bytes for v4 (20 bytes), the first 8 for v6.
fn key_id_of(fpr: &[u8]) -> u64 {
    let bytes = if fpr.len() == 20 {
        fpr.get(12..20)
    } else {
        fpr.get(..8)
    };
    let mut id = [0u8; 8];
    if let Some(b) = bytes {
        id.copy_from_slice(b);
    }
    u64::from_be_bytes(id)
}

/// Fingerprint bytes from hex (optional `0x`, spaces ignored); only v4 and v6 lengths.
fn parse_fingerprint(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let hex_text: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(hex_text).ok()?;
    (bytes.len() == 20 || bytes.len() == 32).then_some(bytes)
}

fn push_text(data: &mut Vec<u8>, s: &str) {
    data.extend_from_slice(&(s.len() as u32).to_le_bytes());
    data.extend_from_slice(s.as_bytes());
}

impl PublishedKey {
    /// Builds a key from its facts; refuses fingerprints that are not v4 or v6 hex.
    /// Key IDs are derived from the fingerprints. At most 254 subkeys are kept.
    pub fn new(facts: KeyFacts) -> Result<PublishedKey, DirectoryError> {
        let mut data = Vec::new();
        let mut fingerprint_count = 0u8;
        for (i, f) in std::iter::once(&facts.fingerprint)
            .chain(facts.subkeys.iter())
            .take(255)
            .enumerate()
        {
            let bytes = parse_fingerprint(f)
                .ok_or_else(|| DirectoryError::Parse(format!("bad fingerprint {f:?}")))?;
            if i == 0 || !fingerprint_list(&data).any(|x| x == bytes.as_slice()) {
                data.push(bytes.len() as u8);
                data.extend_from_slice(&bytes);
                fingerprint_count += 1;
            }
        }
        let (uids, emails) = (facts.user_ids.len(), facts.emails.len());
        let text: usize = facts
            .user_ids
            .iter()
            .chain(&facts.emails)
            .map(|s| s.len() + 4)
            .sum();
        data.reserve_exact(text);
        for u in &facts.user_ids {
            push_text(&mut data, u);
        }
        for e in &facts.emails {
            push_text(&mut data, &e.to_ascii_lowercase());
        }
        Ok(PublishedKey {
            data: data.into_boxed_slice(),
            public: facts.public,
            created: facts.created,
            expires: facts.expires,
            bits: facts.bits,
            user_id_count: uids as u32,
            email_count: emails as u32,
            fingerprint_count,
            algorithm: facts.algorithm,
            revoked: facts.revoked,
        })
    }

    /// Describes a certificate from its bytes (binary or armored). Refuses secret material
    /// rather than silently stripping it: the caller handed the wrong thing.
    pub fn from_cert_bytes(bytes: &[u8]) -> Result<PublishedKey, DirectoryError> {
        let cert = sopgp::parse_cert(bytes).map_err(|e| DirectoryError::Parse(e.to_string()))?;
        if cert.is_tsk() {
            return Err(DirectoryError::SecretMaterial(cert.fingerprint().to_hex()));
        }
        Self::from_cert(&cert)
    }

    /// Describes a parsed public certificate.
    pub fn from_cert(cert: &Cert) -> Result<PublishedKey, DirectoryError> {
        if cert.is_tsk() {
            return Err(DirectoryError::SecretMaterial(cert.fingerprint().to_hex()));
        }
        let info = sopgp::KeyInfo::of(cert);
        let primary = cert.primary_key().key();
        let bits = primary.mpis().bits().unwrap_or(0) as u32;
        let public =
            sopgp::binary_public(cert).map_err(|e| DirectoryError::Parse(e.to_string()))?;
        PublishedKey::new(KeyFacts {
            fingerprint: info.fingerprint,
            subkeys: info.subkeys.into_iter().map(|s| s.fingerprint).collect(),
            user_ids: info.user_ids,
            emails: info.emails,
            algorithm: u8::from(primary.pk_algo()),
            bits,
            created: info.created,
            expires: info.expires,
            revoked: info.revoked,
            public: Arc::from(public),
        })
    }

    /// Binary fingerprints, primary first.
    pub fn fingerprints(&self) -> impl Iterator<Item = &[u8]> + '_ {
        fingerprint_list(&self.data).take(usize::from(self.fingerprint_count))
    }

    /// The primary's binary fingerprint.
    pub fn fingerprint_bytes(&self) -> &[u8] {
        self.fingerprints().next().unwrap_or_default()
    }

    /// Primary fingerprint, upper-case hex, no spaces.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.fingerprint_bytes())
    }

    /// Primary key ID as a number.
    pub fn key_id_value(&self) -> u64 {
        key_id_of(self.fingerprint_bytes())
    }

    /// Primary key ID, 16 upper-case hex digits.
    pub fn key_id(&self) -> String {
        format!("{:016X}", self.key_id_value())
    }

    /// Key IDs of the primary and every subkey.
    pub fn key_id_values(&self) -> impl Iterator<Item = u64> + '_ {
        self.fingerprints().map(key_id_of)
    }

    /// Subkey fingerprints, upper-case hex.
    pub fn subkey_fingerprints(&self) -> impl Iterator<Item = String> + '_ {
        self.fingerprints().skip(1).map(hex::encode_upper)
    }

    /// Subkey key IDs, 16 upper-case hex digits.
    pub fn subkey_key_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.fingerprints()
            .skip(1)
            .map(|f| format!("{:016X}", key_id_of(f)))
    }

    fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        let start: usize = self.fingerprints().map(|f| f.len() + 1).sum();
        let mut rest = self.data.get(start..).unwrap_or_default();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let (text, tail) = tail.split_at_checked(len)?;
            rest = tail;
            // Written from `&str` in `new`: always valid.
            Some(std::str::from_utf8(text).unwrap_or_default())
        })
    }

    /// User IDs as written, including revoked ones.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.texts().take(self.user_id_count as usize)
    }

    /// Lower-case addresses from non-revoked user IDs.
    pub fn emails(&self) -> impl Iterator<Item = &str> + '_ {
        self.texts()
            .skip(self.user_id_count as usize)
            .take(self.email_count as usize)
    }

    /// OpenPGP public-key algorithm number of the primary.
    pub fn algorithm(&self) -> u8 {
        self.algorithm
    }

    /// Key size; 256 for 25519 keys.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn created(&self) -> u64 {
        self.created
    }

    pub fn expires(&self) -> Option<u64> {
        self.expires
    }

    pub fn revoked(&self) -> bool {
        self.revoked
    }

    /// Marks the key revoked (the store knows of a revocation the certificate lacks).
    pub fn set_revoked(&mut self, revoked: bool) {
        self.revoked = revoked;
    }

    /// Binary transferable public key.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The public key bytes as shared (no copy).
    pub fn public_shared(&self) -> Arc<[u8]> {
        self.public.clone()
    }

    /// ASCII armor of the public key, as gpg imports it.
    pub fn armored(&self) -> String {
        use std::io::Write;
        let mut out = Vec::with_capacity(self.public.len() * 4 / 3 + 128);
        let written = (|| -> std::io::Result<()> {
            let mut w = pgp::armor::Writer::new(&mut out, pgp::armor::Kind::PublicKey)?;
            w.write_all(&self.public)?;
            w.finalize()?;
            Ok(())
        })();
        match written {
            // Armor is ASCII by construction.
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Whether the key has expired at `now` (seconds).
    pub fn expired_at(&self, now: u64) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// The fingerprints at the start of a key's `data` (length byte, bytes). The caller bounds
/// the count: the text after them could look like more.
fn fingerprint_list(data: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        if len != 20 && len != 32 {
            return None;
        }
        let (f, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        Some(f)
    })
}

/// Parses 16 or 8 hex digits (optional `0x`) into a number; `None` for anything else.
fn parse_hex_id(text: &str) -> Option<(u64, usize)> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if (t.len() == 16 || t.len() == 8) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        u64::from_str_radix(t, 16).ok().map(|v| (v, t.len()))
    } else {
        None
    }
}

/// Marks a [`Multi`] entry whose slots are in `many`.
const MANY: u32 = u32::MAX;

/// A multimap from a small key to slot numbers. Almost every key has exactly one slot: that
/// one is stored inline in `one` (8 or 12 bytes an entry), the rare others in `many`.
struct Multi<K> {
    one: HashMap<K, u32>,
    many: HashMap<K, Vec<u32>>,
}

impl<K> Default for Multi<K> {
    fn default() -> Self {
        Multi {
            one: HashMap::new(),
            many: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Copy> Multi<K> {
    fn get(&self, k: K) -> &[u32] {
        match self.one.get(&k) {
            Some(&MANY) => self.many.get(&k).map_or(&[], |v| v.as_slice()),
            Some(s) => std::slice::from_ref(s),
            None => &[],
        }
    }

    fn insert(&mut self, k: K, slot: u32) {
        match self.one.get(&k).copied() {
            None => {
                self.one.insert(k, slot);
            }
            Some(s) if s == slot => {}
            Some(MANY) => {
                let v = self.many.entry(k).or_default();
                if !v.contains(&slot) {
                    v.push(slot);
                }
            }
            Some(s) => {
                self.one.insert(k, MANY);
                self.many.insert(k, vec![s, slot]);
            }
        }
    }

    fn remove(&mut self, k: K, slot: u32) {
        match self.one.get(&k).copied() {
            Some(MANY) => {
                let Some(v) = self.many.get_mut(&k) else {
                    self.one.remove(&k);
                    return;
                };
                v.retain(|s| *s != slot);
                if v.len() <= 1 {
                    let left = v.first().copied();
                    self.many.remove(&k);
                    match left {
                        Some(s) => self.one.insert(k, s),
                        None => self.one.remove(&k),
                    };
                }
            }
            Some(s) if s == slot => {
                self.one.remove(&k);
            }
            _ => {}
        }
    }

    fn reserve(&mut self, n: usize) {
        self.one.reserve(n);
    }
}

struct Slot {
    key: Arc<PublishedKey>,
    /// How many owners publish this fingerprint (the same key may be both a user's and a VD
    /// entry); the key leaves the indexes when the last owner drops it.
    refs: u32,
}

struct Certificate {
    der: Arc<[u8]>,
    emails: Vec<Box<str>>,
}

/// What one owner publishes. Nearly every owner publishes one key and no certificate: that
/// case is one slot number, not two vectors.
enum Owned {
    Key(u32),
    Full(Box<OwnedFull>),
}

#[derive(Default)]
struct OwnedFull {
    slots: Vec<u32>,
    certificates: Vec<Certificate>,
}

/// The indexes hold slot numbers keyed by numbers, never copies of the keys' text: lookups
/// narrow down by number and then compare against the key itself.
#[derive(Default)]
struct Index {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Low 32 bits of every primary and subkey key ID: answers fingerprints (whose key ID is
    /// part of them), 16- and 8-digit key IDs alike.
    by_id: Multi<u32>,
    /// Keyed hash of each lower-case address.
    by_email: Multi<u64>,
    hasher: RandomState,
    certificates: HashMap<Box<str>, Vec<Arc<[u8]>>>,
    owners: HashMap<Box<str>, Owned>,
    live: usize,
}

impl Index {
    /// Hash of an address, lower-cased on the fly (no allocation per lookup).
    fn email_hash(&self, email: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        for b in email.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    }

    fn key(&self, slot: u32) -> Option<&Arc<PublishedKey>> {
        self.slots.get(slot as usize)?.as_ref().map(|s| &s.key)
    }

    /// Live keys under these slots that `accept` takes. [`Multi`] keeps each slot once per
    /// index key, so no key is returned twice.
    fn keys_where(
        &self,
        slots: &[u32],
        accept: impl Fn(&PublishedKey) -> bool,
    ) -> Vec<Arc<PublishedKey>> {
        slots
            .iter()
            .filter_map(|&s| self.key(s))
            .filter(|k| accept(k))
            .cloned()
            .collect()
    }

    /// The slot holding the key whose primary fingerprint is `fpr`.
    fn slot_of(&self, fpr: &[u8]) -> Option<u32> {
        let id = key_id_of(fpr) as u32;
        self.by_id
            .get(id)
            .iter()
            .copied()
            .find(|&s| self.key(s).is_some_and(|k| k.fingerprint_bytes() == fpr))
    }

    fn index_key(&mut self, slot: u32, key: &PublishedKey) {
        for id in key.key_id_values() {
            self.by_id.insert(id as u32, slot);
        }
        for email in key.emails() {
            let h = self.email_hash(email);
            self.by_email.insert(h, slot);
        }
    }

    fn unindex_key(&mut self, slot: u32, key: &PublishedKey) {
        for id in key.key_id_values() {
            self.by_id.remove(id as u32, slot);
        }
        for email in key.emails() {
            let h = self.email_hash(email);
            self.by_email.remove(h, slot);
        }
    }

    /// Adds one reference to a key and returns its slot; a key already present under its
    /// fingerprint is replaced by the newer description (new certifications, new user IDs).
    fn add_key(&mut self, key: PublishedKey) -> u32 {
        if let Some(slot) = self.slot_of(key.fingerprint_bytes())
            && let Some(Some(existing)) = self.slots.get(slot as usize)
        {
            let old = existing.key.clone();
            let refs = existing.refs.saturating_add(1);
            self.unindex_key(slot, &old);
            self.index_key(slot, &key);
            self.slots[slot as usize] = Some(Slot {
                key: Arc::new(key),
                refs,
            });
            return slot;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.index_key(slot, &key);
        self.slots[slot as usize] = Some(Slot {
            key: Arc::new(key),
            refs: 1,
        });
        self.live += 1;
        slot
    }

    fn drop_key(&mut self, slot: u32) {
        let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        entry.refs = entry.refs.saturating_sub(1);
        if entry.refs > 0 {
            return;
        }
        let key = entry.key.clone();
        self.unindex_key(slot, &key);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        self.live -= 1;
    }

    fn drop_owner(&mut self, owner: &str) {
        let full = match self.owners.remove(owner) {
            None => return,
            Some(Owned::Key(slot)) => {
                self.drop_key(slot);
                return;
            }
            Some(Owned::Full(full)) => full,
        };
        for &slot in &full.slots {
            self.drop_key(slot);
        }
        for cert in &full.certificates {
            for email in &cert.emails {
                if let Some(list) = self.certificates.get_mut(email) {
                    if let Some(pos) = list.iter().position(|d| Arc::ptr_eq(d, &cert.der)) {
                        list.remove(pos);
                    }
                    if list.is_empty() {
                        self.certificates.remove(email);
                    }
                }
            }
        }
    }
}

/// An S/MIME certificate to publish, with the addresses it is found under.
#[derive(Debug, Clone)]
pub struct PublishedCertificate {
    pub der: Arc<[u8]>,
    /// Lower-case addresses.
    pub emails: Vec<String>,
}

/// The index. Every lookup takes the read lock only for the lookup itself and returns owned
/// `Arc`s, so readers never hold it across I/O and writers wait at most one lookup.
#[derive(Default)]
pub struct Directory {
    index: RwLock<Index>,
}

fn keep(keys: Vec<Arc<PublishedKey>>, with_revoked: bool) -> Vec<Arc<PublishedKey>> {
    if with_revoked {
        keys
    } else {
        keys.into_iter().filter(|k| !k.revoked()).collect()
    }
}

impl Directory {
    pub fn new() -> Directory {
        Directory::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // matters more than refusing every lookup afterwards would.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes room for `keys` more keys (one owner each) before a bulk load, so the tables
    /// are not regrown (and briefly held twice) along the way.
    pub fn reserve(&self, keys: usize) {
        let mut ix = self.write();
        ix.slots.reserve(keys);
        ix.by_id.reserve(keys.saturating_mul(2));
        ix.by_email.reserve(keys);
        ix.owners.reserve(keys);
    }

    /// Non-revoked keys with this exact address (case-insensitive).
    pub fn by_email(&self, email: &str) -> Vec<Arc<PublishedKey>> {
        keep(self.by_email_any(email), false)
    }

    /// Keys with this address, revoked ones included.
    pub fn by_email_any(&self, email: &str) -> Vec<Arc<PublishedKey>> {
        let e = email.trim().trim_start_matches('<').trim_end_matches('>');
        let ix = self.read();
        // The index holds hashes: compare with the key's own addresses.
        ix.keys_where(ix.by_email.get(ix.email_hash(e)), |k| {
            k.emails().any(|m| m.eq_ignore_ascii_case(e))
        })
    }

    /// The non-revoked key with this primary or subkey fingerprint.
    pub fn by_fingerprint(&self, hex: &str) -> Option<Arc<PublishedKey>> {
        self.by_fingerprint_any(hex).filter(|k| !k.revoked())
    }

    /// The key with this primary or subkey fingerprint, revoked or not; a key whose primary
    /// it is comes before one that has it as a subkey.
    pub fn by_fingerprint_any(&self, hex: &str) -> Option<Arc<PublishedKey>> {
        let fpr = parse_fingerprint(hex)?;
        let ix = self.read();
        let found = ix.keys_where(ix.by_id.get(key_id_of(&fpr) as u32), |k| {
            k.fingerprints().any(|f| f == fpr.as_slice())
        });
        found
            .iter()
            .find(|k| k.fingerprint_bytes() == fpr.as_slice())
            .or(found.first())
            .cloned()
    }

    /// Non-revoked keys whose primary or a subkey has this 16- or 8-digit key ID.
    pub fn by_key_id(&self, hex: &str) -> Vec<Arc<PublishedKey>> {
        keep(self.by_key_id_any(hex), false)
    }

    /// Keys with this key ID, revoked ones included.
    pub fn by_key_id_any(&self, hex: &str) -> Vec<Arc<PublishedKey>> {
        let Some((id, digits)) = parse_hex_id(hex) else {
            return Vec::new();
        };
        let ix = self.read();
        ix.keys_where(ix.by_id.get(id as u32), |k| {
            k.key_id_values().any(|n| {
                if digits == 16 {
                    n == id
                } else {
                    n as u32 == id as u32
                }
            })
        })
    }

    /// Non-revoked keys with a user ID containing `text` (case-insensitive), at most `limit`.
    pub fn search(&self, text: &str, limit: usize) -> Vec<Arc<PublishedKey>> {
        let needle = text.to_lowercase();
        self.scan(limit, |k| {
            !k.revoked() && k.user_ids().any(|u| u.to_lowercase().contains(&needle))
        })
    }

    /// Every key `accept` takes, in slot order, at most `limit`. A linear scan: for filters no
    /// index answers (the LDAP service bounds what it lets reach here).
    pub fn scan(
        &self,
        limit: usize,
        mut accept: impl FnMut(&PublishedKey) -> bool,
    ) -> Vec<Arc<PublishedKey>> {
        let ix = self.read();
        let mut out = Vec::new();
        for slot in ix.slots.iter().flatten() {
            if out.len() >= limit {
                break;
            }
            if accept(&slot.key) {
                out.push(slot.key.clone());
            }
        }
        out
    }

    /// DER S/MIME certificates published for this address.
    pub fn certificates_for(&self, email: &str) -> Vec<Arc<[u8]>> {
        let e = email.trim().to_ascii_lowercase();
        self.read()
            .certificates
            .get(e.as_str())
            .cloned()
            .unwrap_or_default()
    }

    /// Every address that has S/MIME certificates, at most `limit` (for LDAP filters that no
    /// index answers).
    pub fn certificate_addresses(&self, limit: usize) -> Vec<String> {
        self.read()
            .certificates
            .keys()
            .take(limit)
            .map(|k| k.to_string())
            .collect()
    }

    /// Number of distinct published keys.
    pub fn len(&self) -> usize {
        self.read().live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces everything `owner` publishes (a consumer's address, `org:…`, `vd:…`) with
    /// `keys` and `certificates`. Costs only this owner's keys.
    pub fn set_owner(
        &self,
        owner: &str,
        keys: Vec<PublishedKey>,
        certificates: Vec<PublishedCertificate>,
    ) {
        let mut ix = self.write();
        ix.drop_owner(owner);
        if keys.is_empty() && certificates.is_empty() {
            return;
        }
        let mut slots: Vec<u32> = Vec::with_capacity(keys.len());
        for key in keys {
            // The same key twice in one owner's list counts once.
            if let Some(s) = ix.slot_of(key.fingerprint_bytes())
                && slots.contains(&s)
            {
                continue;
            }
            slots.push(ix.add_key(key));
        }
        let owned = match (slots.as_slice(), certificates.is_empty()) {
            (&[slot], true) => Owned::Key(slot),
            _ => {
                let mut full = OwnedFull {
                    slots,
                    certificates: Vec::with_capacity(certificates.len()),
                };
                for cert in certificates {
                    let emails: Vec<Box<str>> = cert
                        .emails
                        .iter()
                        .map(|e| e.to_ascii_lowercase().into_boxed_str())
                        .collect();
                    for e in &emails {
                        ix.certificates
                            .entry(e.clone())
                            .or_default()
                            .push(cert.der.clone());
                    }
                    full.certificates.push(Certificate {
                        der: cert.der,
                        emails,
                    });
                }
                Owned::Full(Box::new(full))
            }
        };
        ix.owners.insert(owner.into(), owned);
    }

    /// Removes everything `owner` publishes.
    pub fn remove_owner(&self, owner: &str) {
        self.write().drop_owner(owner);
    }

    /// The owners currently publishing something.
    pub fn owners(&self) -> Vec<String> {
        self.read().owners.keys().map(|k| k.to_string()).collect()
    }
}

/// What listeners hold: a cheap clone of one shared [`Directory`]. Lookups lock only for
/// their own duration, so a snapshot is simply the shared instance.
#[derive(Clone, Default)]
pub struct SharedDirectory {
    inner: Arc<Directory>,
}

impl SharedDirectory {
    pub fn new() -> SharedDirectory {
        SharedDirectory::default()
    }

    pub fn snapshot(&self) -> Arc<Directory> {
        self.inner.clone()
    }
}

impl std::ops::Deref for SharedDirectory {
    type Target = Directory;
    fn deref(&self) -> &Directory {
        &self.inner
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
