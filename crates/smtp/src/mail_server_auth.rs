//! Checks SMTP AUTH credentials with the organization's mail server, for the internal
//! placement: Signet sits between the users' mail clients and their mail server, holds no
//! passphrases of its own, and so asks the server that does. Each check is one SMTP
//! connection: greeting, EHLO, STARTTLS as the proxy's server-side TLS mode says, `AUTH PLAIN`
//! with the user's credentials, then QUIT. 235 (or another 2xx) accepts, 535 refuses; anything else (the
//! server unreachable, AUTH not offered, a 4xx) is a temporary failure, so the client retries
//! instead of telling its user the passphrase is wrong.
//!
//! Successful checks are remembered in memory only, for [`DEFAULT_CACHE_TIME`], as a salted
//! SHA-256 digest of the user name and passphrase (the salt is random per process): a client
//! that opens a connection per message does not cost the mail server a login each time, and
//! nothing usable as a passphrase is kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::{AuthFailure, AuthVerifier, Credentials, VerifyFuture};
use crate::client::{ClientSettings, ServerTls, Session};
use crate::routes::NextHop;

/// How long a successful check is remembered.
pub const DEFAULT_CACHE_TIME: Duration = Duration::from_secs(300);
/// Remembered users at most; past that, expired ones go, then all.
const MAX_CACHED: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum MailServerAuthError {
    #[error(
        "SMTP AUTH by the mail server needs the proxy's mail server as its next hop, not direct delivery"
    )]
    NoMailServer,
}

/// An [`AuthVerifier`] that asks the mail server.
pub struct MailServerAuth {
    host: String,
    port: u16,
    client: ClientSettings,
    cache_time: Duration,
    salt: [u8; 32],
    cache: Mutex<HashMap<String, ([u8; 32], Instant)>>,
}

impl MailServerAuth {
    /// Checks with the server of `next_hop` (host, port and TLS mode of the proxy's peer).
    /// `client` gives the EHLO name and timeouts; its TLS mode and credentials are ignored.
    pub fn new(next_hop: &NextHop, client: ClientSettings) -> Result<Self, MailServerAuthError> {
        let NextHop::Relay { host, port, tls } = next_hop else {
            return Err(MailServerAuthError::NoMailServer);
        };
        Ok(MailServerAuth {
            host: host.clone(),
            port: *port,
            client: ClientSettings {
                tls: *tls,
                credentials: None,
                ..client
            },
            cache_time: DEFAULT_CACHE_TIME,
            salt: rand::random(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Remembers successful checks for `time` instead (zero: never).
    pub fn with_cache_time(mut self, time: Duration) -> Self {
        self.cache_time = time.min(DEFAULT_CACHE_TIME);
        self
    }

    fn digest(&self, c: &Credentials) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update((c.user().len() as u64).to_be_bytes());
        h.update(c.user().as_bytes());
        h.update(c.passphrase().as_bytes());
        h.finalize().into()
    }

    fn cached(&self, c: &Credentials) -> bool {
        if self.cache_time.is_zero() {
            return false;
        }
        let digest = self.digest(c);
        let Ok(cache) = self.cache.lock() else {
            return false;
        };
        cache
            .get(c.user())
            .is_some_and(|(d, at)| *d == digest && at.elapsed() < self.cache_time)
    }

    fn remember(&self, c: &Credentials, ok: bool) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if !ok || self.cache_time.is_zero() {
            cache.remove(c.user());
            return;
        }
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (_, at)| at.elapsed() < self.cache_time);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(c.user().to_string(), (self.digest(c), Instant::now()));
    }

    async fn check(&self, c: &Credentials) -> Result<(), AuthFailure> {
        if self.cached(c) {
            return Ok(());
        }
        let server = format!("{}:{}", self.host, self.port);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| unavailable(&server, format!("cannot resolve: {e}")))?
            .collect();
        let mut last = format!("{server} has no address");
        for addr in addrs {
            match self.check_at(addr, c).await {
                Err(AuthFailure::Unavailable(why)) => last = why,
                result => {
                    self.remember(c, result.is_ok());
                    return result;
                }
            }
        }
        Err(unavailable(&server, last))
    }

    async fn check_at(&self, addr: SocketAddr, c: &Credentials) -> Result<(), AuthFailure> {
        let mut session = Session::open_unauthenticated(addr, &self.client)
            .await
            .map_err(|e| AuthFailure::Unavailable(e.to_string()))?;
        // Only a proxy set to send to its mail server in clear (Disable) sends a passphrase
        // in clear; Attempt falling back to clear does not.
        if !session.is_tls() && self.client.tls != ServerTls::Disable {
            session.quit().await;
            return Err(AuthFailure::Unavailable(format!(
                "{addr} did not offer STARTTLS; credentials are not sent in clear"
            )));
        }
        let reply = session
            .auth_plain(c)
            .await
            .map_err(|e| AuthFailure::Unavailable(e.to_string()));
        session.quit().await;
        let reply = reply?;
        match reply.code {
            // 235 per RFC 4954. Some servers answer another positive completion (Postfix's
            // smtp-sink test server says 250): the server accepted the login either way.
            200..=299 => Ok(()),
            535 => Err(AuthFailure::Invalid),
            _ => Err(AuthFailure::Unavailable(format!(
                "{addr} answered AUTH with {}",
                reply.text()
            ))),
        }
    }
}

fn unavailable(server: &str, why: String) -> AuthFailure {
    tracing::warn!(mail_server = %server, reason = %why, "cannot check SMTP AUTH credentials with the mail server");
    AuthFailure::Unavailable(why)
}

impl AuthVerifier for MailServerAuth {
    fn verify<'a>(&'a self, credentials: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(self.check(credentials))
    }
}
