//! The key cache commands (issue 5 item 8): upsert with its email index, purge one, purge all,
//! purge expired at a stamped time, and Trust Key turning a cached key into an external user.
//! A refused command must leave the state and the transaction as they were.

use super::*;

use crate::command::Rejection;
use signet_model::{CachedKey, CachedKeyKind, EmailAddress, KeyCacheTimeout, KeyMode, KeySource};
use signet_model::{ManagedKey, UnixMillis};

type TestResult = Result<(), Box<dyn std::error::Error>>;

use super::fixture::Fixture;

fn cached(id: &str, emails: &[&str], expires_at: UnixMillis) -> CachedKey {
    CachedKey {
        id: id.into(),
        kind: CachedKeyKind::OpenPgp,
        key_ids: vec![id[id.len().saturating_sub(16)..].to_string()],
        user_ids: emails.iter().map(|e| format!("Someone <{e}>")).collect(),
        emails: emails.iter().map(|e| e.to_string()).collect(),
        data: vec![1, 2, 3],
        source: KeySource::Keyserver {
            description: "keys.partner.test".into(),
        },
        created: Some(1),
        key_expires: None,
        cached_at: 1_000,
        expires_at,
    }
}

fn external(email: &str) -> Result<Consumer, Box<dyn std::error::Error>> {
    Ok(Consumer {
        email: EmailAddress::parse(email)?,
        kind: ConsumerKind::External,
        display_name: None,
        keys: vec![ManagedKey {
            fingerprint: "AAAA0000AAAA0000AAAA0000AAAA0000AAAA0000".into(),
            mode: KeyMode::Ckm,
            public: vec![1, 2, 3],
            secret: None,
            smime: None,
            created_at: 5,
            revoked_at: None,
            adk_fingerprint: None,
        }],
        created_at: 5,
    })
}

const FPR_A: &str = "AAAA0000AAAA0000AAAA0000AAAA0000AAAA0000";
const FPR_B: &str = "BBBB0000BBBB0000BBBB0000BBBB0000BBBB0000";

#[test]
fn cache_upserts_and_finds_by_email() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CacheKey {
        key: cached(&FPR_A.to_lowercase(), &["Dan@Partner.test"], 5_000),
    })?;
    let v = f.view();
    let found = v.cached_keys_for("dan@partner.TEST", 1_000)?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, FPR_A, "ids are stored upper case");
    assert_eq!(found[0].emails, vec!["dan@partner.test"]);
    assert!(v.cached_keys_for("dan@partner.test", 5_000)?.is_empty());
    assert!(v.cached_key(&FPR_A.to_lowercase())?.is_some());

    // A fresher copy with other addresses replaces the entry and its index.
    f.ok(Command::CacheKey {
        key: cached(FPR_A, &["daniel@partner.test"], 9_000),
    })?;
    let v = f.view();
    assert!(v.cached_keys_for("dan@partner.test", 0)?.is_empty());
    assert_eq!(v.cached_keys_for("daniel@partner.test", 0)?.len(), 1);
    assert_eq!(v.cached_keys()?.len(), 1);
    assert_eq!(v.search_cached_keys("DANIEL")?.len(), 1);
    assert_eq!(v.search_cached_keys("keys.partner")?.len(), 1);
    assert!(v.search_cached_keys("nobody")?.is_empty());

    let r = f.rejected(Command::CacheKey {
        key: cached(FPR_B, &[], 9_000),
    })?;
    assert!(matches!(r, Rejection::Conflict(_)));
    Ok(())
}

#[test]
fn purge_one_all_and_expired() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CacheKey {
        key: cached(FPR_A, &["a@ext.test"], 2_000),
    })?;
    f.ok(Command::CacheKey {
        key: cached(FPR_B, &["b@ext.test"], 4_000),
    })?;
    assert_eq!(
        f.ok(Command::PurgeExpiredCachedKeys { now: 1_999 })?,
        CommandOutput::Count(0)
    );
    assert_eq!(
        f.ok(Command::PurgeExpiredCachedKeys { now: 2_000 })?,
        CommandOutput::Count(1)
    );
    assert!(f.view().cached_keys_for("a@ext.test", 0)?.is_empty());
    let r = f.rejected(Command::PurgeCachedKey { id: FPR_A.into() })?;
    assert!(matches!(r, Rejection::NotFound(_)));
    f.ok(Command::PurgeCachedKey {
        id: FPR_B.to_lowercase(),
    })?;
    assert!(f.view().cached_keys()?.is_empty());
    f.ok(Command::CacheKey {
        key: cached(FPR_A, &["a@ext.test"], 2_000),
    })?;
    f.ok(Command::CacheKey {
        key: cached(FPR_B, &["b@ext.test"], 4_000),
    })?;
    assert_eq!(f.ok(Command::PurgeKeyCache)?, CommandOutput::Count(2));
    // Nothing of the cache is left, index included.
    assert!(f.tree.scan_prefix(b"kc")?.is_empty());
    Ok(())
}

#[test]
fn trust_moves_the_key_to_an_external_user() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddManagedDomain {
        name: "corp.test".into(),
        at: 1,
    })?;
    f.ok(Command::CacheKey {
        key: cached(FPR_A, &["fay@ext.test"], 9_000),
    })?;
    f.ok(Command::CacheKey {
        key: cached(FPR_B, &["bob@corp.test"], 9_000),
    })?;

    let r = f.rejected(Command::TrustCachedKey {
        id: "CC".into(),
        consumer: external("fay@ext.test")?,
    })?;
    assert!(matches!(r, Rejection::NotFound(_)));
    // The consumer's address must be one the key carries.
    let r = f.rejected(Command::TrustCachedKey {
        id: FPR_A.into(),
        consumer: external("gus@ext.test")?,
    })?;
    assert!(matches!(r, Rejection::Conflict(_)));
    // A managed domain's address cannot become an external user.
    let r = f.rejected(Command::TrustCachedKey {
        id: FPR_B.into(),
        consumer: external("bob@corp.test")?,
    })?;
    assert!(matches!(r, Rejection::Conflict(_)));

    f.ok(Command::TrustCachedKey {
        id: FPR_A.into(),
        consumer: external("fay@ext.test")?,
    })?;
    let v = f.view();
    let fay = v
        .consumer(&EmailAddress::parse("fay@ext.test")?)?
        .expect("fay is an external user now");
    assert_eq!(fay.kind, ConsumerKind::External);
    assert!(v.cached_key(FPR_A)?.is_none());
    assert!(v.cached_keys_for("fay@ext.test", 0)?.is_empty());
    Ok(())
}

#[test]
fn timeout_setting_has_a_default_and_can_change() -> TestResult {
    let f = Fixture::new()?;
    assert_eq!(f.view().key_cache_timeout()?, KeyCacheTimeout::DEFAULT);
    f.ok(Command::SetSetting {
        setting: Setting::KeyCacheTimeout(KeyCacheTimeout::new(1)?),
    })?;
    assert_eq!(f.view().key_cache_timeout()?.hours, 1);
    Ok(())
}
