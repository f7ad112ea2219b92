//! Applying the key cache's commands (guide §4) and reading the cache.
//!
//! Entries live under `kc/<id>`; an index `kce/<email>\0<id>` finds a recipient's cached keys
//! without reading the whole cache, which the mail path does for every recipient it has no
//! key for. Apply never reads the clock: expiry compares with the `now` the proposer stamped.

use signet_model::{CachedKey, Consumer, ConsumerKind, KeyCacheTimeout, Setting, SettingName};

use super::keys::{CONSUMER, key};
use super::{StateView, Txn, decode, kind_mismatch};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

const CACHE: &str = "kc/";
const BY_EMAIL: &str = "kce/";

fn email_prefix(email: &str) -> Vec<u8> {
    [
        BY_EMAIL.as_bytes(),
        email.to_ascii_lowercase().as_bytes(),
        b"\0",
    ]
    .concat()
}

fn email_index(email: &str, id: &str) -> Vec<u8> {
    [email_prefix(email).as_slice(), id.as_bytes()].concat()
}

/// Cache ids are upper-case hex; callers may give any case.
fn normalize_id(id: &str) -> String {
    id.trim()
        .trim_start_matches("0x")
        .replace(' ', "")
        .to_ascii_uppercase()
}

fn remove(txn: &mut Txn<'_>, id: &str) -> Result<bool, StoreError> {
    let k = key(CACHE, id);
    let Some(old) = txn.get::<CachedKey>(&k)? else {
        return Ok(false);
    };
    for email in &old.emails {
        txn.delete(email_index(email, id));
    }
    txn.delete(k);
    Ok(true)
}

fn purge_where(txn: &mut Txn<'_>, doomed: impl Fn(&CachedKey) -> bool) -> Result<u64, StoreError> {
    let mut n = 0;
    for (_, v) in txn.scan_prefix(CACHE.as_bytes())? {
        let entry: CachedKey = decode(&v)?;
        if doomed(&entry) && remove(txn, &entry.id)? {
            n += 1;
        }
    }
    Ok(n)
}

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    let done = Ok(Ok(CommandOutput::Done));
    match command {
        Command::CacheKey { key: entry } => {
            let mut entry = entry.clone();
            entry.id = normalize_id(&entry.id);
            if entry.id.is_empty() || entry.emails.is_empty() {
                return Ok(Err(Rejection::Conflict(
                    "a cached key needs an id and at least one email address".into(),
                )));
            }
            entry.emails = entry
                .emails
                .iter()
                .map(|e| e.to_ascii_lowercase())
                .collect();
            remove(txn, &entry.id)?;
            for email in &entry.emails {
                txn.put(email_index(email, &entry.id), &())?;
            }
            txn.put(key(CACHE, &entry.id), &entry)?;
            done
        }
        Command::PurgeCachedKey { id } => {
            if remove(txn, &normalize_id(id))? {
                done
            } else {
                Ok(Err(Rejection::NotFound(format!("cached key {id}"))))
            }
        }
        Command::PurgeKeyCache => Ok(Ok(CommandOutput::Count(purge_where(txn, |_| true)?))),
        Command::PurgeExpiredCachedKeys { now } => {
            Ok(Ok(CommandOutput::Count(purge_where(txn, |k| {
                k.expires_at <= *now
            })?)))
        }
        Command::TrustCachedKey { id, consumer } => trust(txn, &normalize_id(id), consumer),
        _ => Err(StoreError::Decode(
            "keycache::apply called with a command it does not handle".into(),
        )),
    }
}

/// Trust Key: the consumer must be an external user whose address the cached key carries and
/// who holds it; an internal user of that address refuses the whole command.
fn trust(txn: &mut Txn<'_>, id: &str, consumer: &Consumer) -> Result<CommandOutcome, StoreError> {
    let Some(entry) = txn.get::<CachedKey>(&key(CACHE, id))? else {
        return Ok(Err(Rejection::NotFound(format!("cached key {id}"))));
    };
    if consumer.kind != ConsumerKind::External {
        return Ok(Err(Rejection::Conflict(
            "a trusted cached key becomes an external user's key".into(),
        )));
    }
    if !entry.has_email(consumer.email.as_str()) {
        return Ok(Err(Rejection::Conflict(format!(
            "cached key {id} has no user ID for {}",
            consumer.email
        ))));
    }
    let ck = key(CONSUMER, &consumer.email.key());
    if let Some(existing) = txn.get::<Consumer>(&ck)?
        && existing.kind == ConsumerKind::Internal
    {
        return Ok(Err(Rejection::Conflict(format!(
            "{} is an internal user",
            consumer.email
        ))));
    }
    if let Some(r) = kind_mismatch(txn, consumer)? {
        return Ok(Err(r));
    }
    txn.put(ck, consumer)?;
    remove(txn, id)?;
    Ok(Ok(CommandOutput::Done))
}

impl StateView {
    /// Every cached key, in id order.
    pub fn cached_keys(&self) -> Result<Vec<CachedKey>, StoreError> {
        self.all(CACHE)
    }

    pub fn cached_key(&self, id: &str) -> Result<Option<CachedKey>, StoreError> {
        self.get(CACHE, &normalize_id(id))
    }

    /// The cached keys that carry this address, still unexpired at `now` (an expired key
    /// waiting for housekeeping is not used).
    pub fn cached_keys_for(&self, email: &str, now: u64) -> Result<Vec<CachedKey>, StoreError> {
        let prefix = email_prefix(email);
        let mut out = Vec::new();
        for (k, _) in self.tree.scan_prefix(&prefix)? {
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(entry) = self.get::<CachedKey>(CACHE, &id)?
                && entry.expires_at > now
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The Key Cache page's simple search (see [`CachedKey::matches_text`]).
    pub fn search_cached_keys(&self, query: &str) -> Result<Vec<CachedKey>, StoreError> {
        Ok(self
            .cached_keys()?
            .into_iter()
            .filter(|k| k.matches_text(query))
            .collect())
    }

    pub fn key_cache_timeout(&self) -> Result<KeyCacheTimeout, StoreError> {
        match self.setting(SettingName::KeyCacheTimeout)? {
            Setting::KeyCacheTimeout(t) => Ok(t),
            other => Err(StoreError::Decode(format!(
                "the key cache timeout holds {other:?}"
            ))),
        }
    }
}
