//! Administrators' passphrases: Argon2id hashing and verification, and the rules that need the
//! stored hashes (history). The other rules are in `signet_model::admin_settings`.
//!
//! Hashing is deliberately slow, so it runs on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::StatusCode;
use rand::RngCore;
use signet_model::{AdministrationSettings, PassphraseRecord, PassphraseRefused, UnixMillis};

use crate::Problem;

/// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(passphrase: &str) -> Result<String, Problem> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(internal)?;
    Ok(argon2()
        .hash_password(passphrase.as_bytes(), &salt)
        .map_err(internal)?
        .to_string())
}

fn verify_now(hash: &str, passphrase: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|h| argon2().verify_password(passphrase.as_bytes(), &h).is_ok())
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("passphrase hashing failed: {e}"),
    )
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

/// The Argon2id PHC string of a passphrase.
pub async fn hash(passphrase: &str) -> Result<String, Problem> {
    let p = passphrase.to_string();
    blocking(move || hash_now(&p)).await?
}

/// Whether `passphrase` matches `hash`. `None` (no such administrator, no passphrase) is checked
/// against a throw-away hash so the answer takes as long either way.
pub async fn verify(hash: Option<&str>, passphrase: &str) -> Result<bool, Problem> {
    let p = passphrase.to_string();
    match hash {
        Some(h) => {
            let h = h.to_string();
            blocking(move || verify_now(&h, &p)).await
        }
        None => {
            blocking(move || {
                static DUMMY: OnceLock<String> = OnceLock::new();
                let dummy = DUMMY.get_or_init(|| hash_now("signet-dummy").unwrap_or_default());
                let _ = verify_now(dummy, &p);
                false
            })
            .await
        }
    }
}

/// A 422 naming the rule that refused a passphrase.
pub fn refused(e: PassphraseRefused) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
}

/// The record for a new passphrase, after the composition and history rules: the old hash
/// joins the history (as many as the setting keeps; 0 keeps none).
pub async fn new_record(
    settings: &AdministrationSettings,
    current: Option<&PassphraseRecord>,
    new: &str,
    temporary: bool,
    now: UnixMillis,
) -> Result<PassphraseRecord, Problem> {
    settings.check_composition(new).map_err(refused)?;
    let keep = settings.history as usize;
    let mut history = Vec::new();
    if let Some(current) = current
        && keep > 0
    {
        let earlier: Vec<String> = std::iter::once(current.hash.clone())
            .chain(current.history.iter().cloned())
            .take(keep)
            .collect();
        let p = new.to_string();
        let candidates = earlier.clone();
        let reused = blocking(move || candidates.iter().any(|h| verify_now(h, &p))).await?;
        if reused {
            return Err(refused(PassphraseRefused::Reused(settings.history)));
        }
        history = earlier;
    }
    Ok(PassphraseRecord {
        hash: hash(new).await?,
        set_at: now,
        temporary,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_history_refuses_reuse() -> Result<(), Problem> {
        let s = AdministrationSettings::default();
        let first = new_record(&s, None, "First#pass1", false, 1).await?;
        assert!(first.hash.starts_with("$argon2id$"));
        assert!(verify(Some(&first.hash), "First#pass1").await?);
        assert!(!verify(Some(&first.hash), "first#pass1").await?);
        assert!(!verify(None, "First#pass1").await?);
        let second = new_record(&s, Some(&first), "Second#pass2", false, 2).await?;
        assert_eq!(second.history.len(), 1);
        let again = new_record(&s, Some(&second), "First#pass1", false, 3).await;
        let detail = again.err().map(|p| p.detail).unwrap_or_default();
        assert!(detail.contains("history rule"), "{detail}");
        let short = new_record(&s, Some(&second), "Ab1!", false, 3).await;
        let detail = short.err().map(|p| p.detail).unwrap_or_default();
        assert!(detail.contains("minimum length"), "{detail}");
        let none = AdministrationSettings { history: 0, ..s };
        let reuse = new_record(&none, Some(&second), "Second#pass2", false, 4).await?;
        assert!(reuse.history.is_empty());
        Ok(())
    }
}
