//! The published-key directory: the in-memory index of every key the keyserver publishes
//! (internal users' public keys, the Organization Key, Verified Directory keys) and of the
//! S/MIME certificates served as `userCertificate;binary`. The LDAP and HTTP keyservers both
//! read it; the appliance keeps it current from the store.
//!
//! Memory: each key is one `Arc<PublishedKey>` that owns its bytes exactly once; the indexes
//! map small keys (a `u64` key ID, a boxed address) to slot numbers, never to copies. Changes
//! are made per *owner* (one consumer, the Organization Key, one VD entry), so a change to one
//! user costs only that user's keys, never a rebuild.
//!
//! Never holds secret material: [`PublishedKey::from_cert_bytes`] refuses it.

use std::collections::HashMap;
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

/// A subkey's identifiers, in the same formats as the primary's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSubkey {
    pub fingerprint: String,
    pub key_id: String,
}

/// One published OpenPGP key: what the lookups match on and what they return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// Primary, upper-case hex, no spaces.
    pub fingerprint: String,
    /// Primary, 16 upper-case hex digits.
    pub key_id: String,
    pub subkeys: Vec<PublishedSubkey>,
    /// As written, including revoked ones.
    pub user_ids: Vec<String>,
    /// Lower case, from non-revoked user IDs.
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

impl PublishedKey {
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
        Ok(PublishedKey {
            fingerprint: info.fingerprint.to_ascii_uppercase(),
            key_id: info.key_id.to_ascii_uppercase(),
            subkeys: info
                .subkeys
                .iter()
                .map(|s| PublishedSubkey {
                    fingerprint: s.fingerprint.to_ascii_uppercase(),
                    key_id: s.key_id.to_ascii_uppercase(),
                })
                .collect(),
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

    /// ASCII armor of `public`, as gpg imports it.
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

/// Normalizes a fingerprint query: optional `0x`, spaces ignored, upper case.
fn normalize_fingerprint(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    if (hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(hex.to_ascii_uppercase())
    } else {
        None
    }
}

/// Slot numbers under one index key. Almost always exactly one: kept inline then, so the
/// common case costs no allocation (this matters at a million keys).
#[derive(Default)]
enum Slots {
    #[default]
    Empty,
    One(u32),
    Many(Box<[u32]>),
}

impl Slots {
    fn push_unique(&mut self, slot: u32) {
        match self {
            Slots::Empty => *self = Slots::One(slot),
            Slots::One(s) if *s == slot => {}
            Slots::One(s) => *self = Slots::Many(vec![*s, slot].into_boxed_slice()),
            Slots::Many(v) if v.contains(&slot) => {}
            Slots::Many(v) => {
                let mut grown = v.to_vec();
                grown.push(slot);
                *self = Slots::Many(grown.into_boxed_slice());
            }
        }
    }

    /// Removes `slot`; true when nothing is left.
    fn remove(&mut self, slot: u32) -> bool {
        match self {
            Slots::Empty => {}
            Slots::One(s) => {
                if *s == slot {
                    *self = Slots::Empty;
                }
            }
            Slots::Many(v) => {
                let left: Vec<u32> = v.iter().copied().filter(|s| *s != slot).collect();
                *self = match left.len() {
                    0 => Slots::Empty,
                    1 => Slots::One(left[0]),
                    _ => Slots::Many(left.into_boxed_slice()),
                };
            }
        }
        matches!(self, Slots::Empty)
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Slots::Empty => &[],
            Slots::One(s) => std::slice::from_ref(s),
            Slots::Many(v) => v,
        }
    }
}

/// A fingerprint as index key: the binary value (20 bytes for v4, 32 for v6), zero-padded,
/// instead of a heap-allocated hex string.
type FprKey = [u8; 32];

fn fpr_key(hex_text: &str) -> Option<FprKey> {
    let mut out = [0u8; 32];
    let bytes = hex::decode(hex_text).ok()?;
    if bytes.len() != 20 && bytes.len() != 32 {
        return None;
    }
    out[..bytes.len()].copy_from_slice(&bytes);
    Some(out)
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

/// What one owner publishes.
#[derive(Default)]
struct Owned {
    fingerprints: Vec<FprKey>,
    certificates: Vec<Certificate>,
}

#[derive(Default)]
struct Index {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_fingerprint: HashMap<FprKey, u32>,
    /// 16-digit key IDs; 8-digit ones are rare and answered by a scan.
    by_key_id: HashMap<u64, Slots>,
    by_email: HashMap<Box<str>, Slots>,
    certificates: HashMap<Box<str>, Vec<Arc<[u8]>>>,
    owners: HashMap<Box<str>, Owned>,
    live: usize,
}

fn push_unique(v: &mut Slots, slot: u32) {
    v.push_unique(slot);
}

fn remove_from<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Slots>, key: &K, slot: u32) {
    if let Some(v) = map.get_mut(key)
        && v.remove(slot)
    {
        map.remove(key);
    }
}

fn key_id_numbers(key: &PublishedKey) -> impl Iterator<Item = u64> + '_ {
    std::iter::once(key.key_id.as_str())
        .chain(key.subkeys.iter().map(|s| s.key_id.as_str()))
        .filter_map(|id| u64::from_str_radix(id, 16).ok())
}

impl Index {
    fn index_key(&mut self, slot: u32, key: &PublishedKey) {
        if let Some(f) = fpr_key(&key.fingerprint) {
            self.by_fingerprint.insert(f, slot);
        }
        for sub in &key.subkeys {
            if let Some(f) = fpr_key(&sub.fingerprint) {
                self.by_fingerprint.entry(f).or_insert(slot);
            }
        }
        let ids: Vec<u64> = key_id_numbers(key).collect();
        for id in ids {
            push_unique(self.by_key_id.entry(id).or_default(), slot);
        }
        for email in &key.emails {
            push_unique(
                self.by_email
                    .entry(email.to_ascii_lowercase().into_boxed_str())
                    .or_default(),
                slot,
            );
        }
    }

    fn unindex_key(&mut self, slot: u32, key: &PublishedKey) {
        let fprs = std::iter::once(key.fingerprint.as_str())
            .chain(key.subkeys.iter().map(|s| s.fingerprint.as_str()))
            .filter_map(fpr_key);
        for f in fprs {
            if self.by_fingerprint.get(&f) == Some(&slot) {
                self.by_fingerprint.remove(&f);
            }
        }
        let ids: Vec<u64> = key_id_numbers(key).collect();
        for id in ids {
            remove_from(&mut self.by_key_id, &id, slot);
        }
        for email in &key.emails {
            let e: Box<str> = email.to_ascii_lowercase().into_boxed_str();
            remove_from(&mut self.by_email, &e, slot);
        }
    }

    /// Adds one reference to a key; a key already present under its fingerprint is replaced
    /// by the newer description (new certifications, new user IDs).
    fn add_key(&mut self, fpr: &FprKey, key: PublishedKey) {
        if let Some(&slot) = self.by_fingerprint.get(fpr)
            && let Some(Some(existing)) = self.slots.get(slot as usize)
            && existing.key.fingerprint == key.fingerprint
        {
            let old = existing.key.clone();
            let refs = existing.refs + 1;
            self.unindex_key(slot, &old);
            self.index_key(slot, &key);
            self.slots[slot as usize] = Some(Slot {
                key: Arc::new(key),
                refs,
            });
            return;
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
    }

    fn drop_key(&mut self, fingerprint: &FprKey) {
        let Some(&slot) = self.by_fingerprint.get(fingerprint) else {
            return;
        };
        let Some(Some(entry)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if fpr_key(&entry.key.fingerprint).as_ref() != Some(fingerprint) {
            return;
        }
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
        let Some(owned) = self.owners.remove(owner) else {
            return;
        };
        for fpr in &owned.fingerprints {
            self.drop_key(fpr);
        }
        for cert in &owned.certificates {
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

    fn keys_of(&self, slots: Option<&Slots>) -> Vec<Arc<PublishedKey>> {
        slots
            .map(|v| {
                v.as_slice()
                    .iter()
                    .filter_map(|s| self.slots.get(*s as usize))
                    .filter_map(|s| s.as_ref().map(|s| s.key.clone()))
                    .collect()
            })
            .unwrap_or_default()
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
        keys.into_iter().filter(|k| !k.revoked).collect()
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

    /// Non-revoked keys with this exact address (case-insensitive).
    pub fn by_email(&self, email: &str) -> Vec<Arc<PublishedKey>> {
        keep(self.by_email_any(email), false)
    }

    /// Keys with this address, revoked ones included.
    pub fn by_email_any(&self, email: &str) -> Vec<Arc<PublishedKey>> {
        let e = email
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_ascii_lowercase();
        let ix = self.read();
        ix.keys_of(ix.by_email.get(e.as_str()))
    }

    /// The non-revoked key with this primary or subkey fingerprint.
    pub fn by_fingerprint(&self, hex: &str) -> Option<Arc<PublishedKey>> {
        self.by_fingerprint_any(hex).filter(|k| !k.revoked)
    }

    /// The key with this primary or subkey fingerprint, revoked or not.
    pub fn by_fingerprint_any(&self, hex: &str) -> Option<Arc<PublishedKey>> {
        let fpr = fpr_key(&normalize_fingerprint(hex)?)?;
        let ix = self.read();
        let slot = *ix.by_fingerprint.get(&fpr)?;
        ix.slots.get(slot as usize)?.as_ref().map(|s| s.key.clone())
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
        if digits == 16 {
            let ix = self.read();
            ix.keys_of(ix.by_key_id.get(&id))
        } else {
            let short = id as u32;
            self.scan(usize::MAX, |k| key_id_numbers(k).any(|n| n as u32 == short))
        }
    }

    /// Non-revoked keys with a user ID containing `text` (case-insensitive), at most `limit`.
    pub fn search(&self, text: &str, limit: usize) -> Vec<Arc<PublishedKey>> {
        let needle = text.to_lowercase();
        self.scan(limit, |k| {
            !k.revoked
                && k.user_ids
                    .iter()
                    .any(|u| u.to_lowercase().contains(&needle))
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
        let mut owned = Owned::default();
        for key in keys {
            // A key without a valid fingerprint cannot be found or removed: not published.
            let Some(fpr) = fpr_key(&key.fingerprint) else {
                continue;
            };
            if owned.fingerprints.contains(&fpr) {
                continue;
            }
            owned.fingerprints.push(fpr);
            ix.add_key(&fpr, key);
        }
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
            owned.certificates.push(Certificate {
                der: cert.der,
                emails,
            });
        }
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
mod tests {
    use super::*;
    use signet_crypto::openpgp::{KeyAlgorithm, generate_user_key, public_only, revoke};

    fn key(email: &str) -> Cert {
        generate_user_key(email, Some("Test User"), KeyAlgorithm::Cv25519, None).unwrap()
    }

    fn published(cert: &Cert) -> PublishedKey {
        let bytes = sopgp::binary_public(&public_only(cert)).unwrap();
        PublishedKey::from_cert_bytes(&bytes).unwrap()
    }

    #[test]
    fn refuses_secret_material() {
        let cert = key("a@example.org");
        let tsk = sopgp::binary_secret(&cert).unwrap();
        assert!(matches!(
            PublishedKey::from_cert_bytes(&tsk),
            Err(DirectoryError::SecretMaterial(_))
        ));
        assert!(matches!(
            PublishedKey::from_cert_bytes(b"garbage"),
            Err(DirectoryError::Parse(_))
        ));
    }

    #[test]
    fn describes_and_armors() {
        let cert = key("Alice@Example.org");
        let k = published(&cert);
        assert_eq!(k.fingerprint, cert.fingerprint().to_hex());
        assert_eq!(k.key_id.len(), 16);
        assert_eq!(k.emails, vec!["alice@example.org".to_string()]);
        assert_eq!(k.algorithm, 22); // EdDSA
        assert!(k.bits >= 255);
        assert!(!k.subkeys.is_empty());
        let armored = k.armored();
        assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
        let back = sopgp::parse_cert(armored.as_bytes()).unwrap();
        assert_eq!(back.fingerprint(), cert.fingerprint());
    }

    #[test]
    fn lookups_and_owner_changes() {
        let a = key("alice@example.org");
        let b = key("bob@example.org");
        let (pa, pb) = (published(&a), published(&b));
        let dir = SharedDirectory::new();
        dir.set_owner("alice@example.org", vec![pa.clone()], vec![]);
        dir.set_owner(
            "bob@example.org",
            vec![pb.clone()],
            vec![PublishedCertificate {
                der: Arc::from(&b"DER"[..]),
                emails: vec!["Bob@example.org".into()],
            }],
        );
        let d = dir.snapshot();
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.by_email("ALICE@example.org")[0].fingerprint,
            pa.fingerprint
        );
        assert_eq!(
            d.by_email("<bob@example.org>")[0].fingerprint,
            pb.fingerprint
        );
        assert!(d.by_email("carol@example.org").is_empty());
        let lower = format!("0x{}", pa.fingerprint.to_lowercase());
        assert!(d.by_fingerprint(&lower).is_some());
        assert!(d.by_fingerprint(&pa.subkeys[0].fingerprint).is_some());
        assert_eq!(d.by_key_id(&pa.key_id).len(), 1);
        assert_eq!(d.by_key_id(&pa.subkeys[0].key_id[8..]).len(), 1);
        assert!(d.by_key_id("XYZ").is_empty());
        assert_eq!(d.search("EXAMPLE.ORG", 25).len(), 2);
        assert_eq!(d.search("example.org", 1).len(), 1);
        assert_eq!(d.certificates_for("bob@EXAMPLE.org").len(), 1);

        // The same key published by a second owner survives the first owner's removal.
        dir.set_owner("vd:1", vec![pa.clone()], vec![]);
        dir.remove_owner("alice@example.org");
        assert_eq!(d.by_email("alice@example.org").len(), 1);
        dir.remove_owner("vd:1");
        assert!(d.by_email("alice@example.org").is_empty());
        assert!(d.by_fingerprint(&pa.fingerprint).is_none());

        // Replacing an owner's keys drops the old ones and its certificates.
        dir.set_owner("bob@example.org", vec![], vec![]);
        assert!(d.certificates_for("bob@example.org").is_empty());
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn several_keys_under_one_address() {
        let (a, b, c) = (
            published(&key("same@example.org")),
            published(&key("same@example.org")),
            published(&key("same@example.org")),
        );
        let dir = Directory::new();
        dir.set_owner("one", vec![a.clone(), b.clone()], vec![]);
        dir.set_owner("two", vec![c.clone()], vec![]);
        assert_eq!(dir.by_email("same@example.org").len(), 3);
        dir.remove_owner("two");
        assert_eq!(dir.by_email("same@example.org").len(), 2);
        dir.set_owner("one", vec![b.clone()], vec![]);
        let left = dir.by_email("same@example.org");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].fingerprint, b.fingerprint);
        assert!(dir.by_fingerprint(&a.fingerprint).is_none());
        assert_eq!(dir.len(), 1);
    }

    #[test]
    fn revoked_keys_only_when_asked() {
        let a = key("rev@example.org");
        let revoked = revoke(&a, None).unwrap();
        let p = published(&revoked);
        assert!(p.revoked);
        let dir = Directory::new();
        dir.set_owner("rev@example.org", vec![p.clone()], vec![]);
        assert!(dir.by_email("rev@example.org").is_empty());
        assert_eq!(dir.by_email_any("rev@example.org").len(), 1);
        assert!(dir.by_fingerprint(&p.fingerprint).is_none());
        assert!(dir.by_fingerprint_any(&p.fingerprint).is_some());
        assert!(dir.search("rev@", 25).is_empty());
    }
}
