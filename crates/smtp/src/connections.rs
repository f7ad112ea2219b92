//! SMTP connection caching: a delivery leaves its connection open for the next message to
//! the same server instead of closing it, as Postfix's smtp client does with its connection
//! cache (`smtp_connection_cache_on_demand`). Under load, consecutive messages to one next
//! hop then cost one transaction each (pipelined when the server allows) instead of a TCP and
//! TLS handshake, greeting, EHLO and STARTTLS each.
//!
//! Bounded three ways, with Postfix's defaults: a connection idle longer than
//! [`CacheLimits::idle_time`] (2 s, `smtp_connection_cache_time_limit`) is closed, one older
//! than [`CacheLimits::reuse_time`] (300 s, `smtp_connection_reuse_time_limit`) is not used
//! again, and at most [`CacheLimits::max_idle_per_server`] connections per server and
//! [`CacheLimits::max_idle`] in all wait. A connection is only cached after a clean
//! transaction; closed ones are said goodbye to (QUIT) in the background.
//!
//! A cached connection the server has dropped in the meantime is found out by the RSET that
//! starts the next transaction, before any of the message is sent; the message then goes on
//! another connection (see [`deliver`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{ClientSettings, RecipientResult, ServerTls, Session, TransactionError};
use crate::error::DeliveryError;

/// How many connections wait, and for how long.
#[derive(Debug, Clone)]
pub struct CacheLimits {
    pub idle_time: Duration,
    pub reuse_time: Duration,
    pub max_idle_per_server: usize,
    pub max_idle: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            idle_time: Duration::from_secs(2),
            reuse_time: Duration::from_secs(300),
            max_idle_per_server: 20,
            max_idle: 100,
        }
    }
}

/// A connection is only reused for the same server, TLS mode, EHLO name and AUTH user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    addr: SocketAddr,
    tls: ServerTls,
    hostname: String,
    user: Option<String>,
}

impl Key {
    fn new(addr: SocketAddr, settings: &ClientSettings) -> Self {
        Key {
            addr,
            tls: settings.tls,
            hostname: settings.hostname.clone(),
            user: settings.credentials.as_ref().map(|c| c.user().to_string()),
        }
    }
}

struct Idle {
    session: Session,
    since: Instant,
}

struct Shared {
    limits: CacheLimits,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// A sweeper task is running (it exits when the cache is empty).
    sweeping: AtomicBool,
}

/// Open connections waiting for the next message to their server. Cheap to clone (shared).
#[derive(Clone)]
pub struct ConnectionCache {
    shared: Arc<Shared>,
}

impl Default for ConnectionCache {
    fn default() -> Self {
        ConnectionCache::new(CacheLimits::default())
    }
}

impl ConnectionCache {
    pub fn new(limits: CacheLimits) -> Self {
        ConnectionCache {
            shared: Arc::new(Shared {
                limits,
                idle: Mutex::new(HashMap::new()),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Connections waiting now (for tests and diagnostics).
    pub fn idle_count(&self) -> usize {
        self.shared
            .idle
            .lock()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// The most recently used live connection to this server, if one waits.
    fn take(&self, key: &Key) -> Option<Session> {
        let limits = &self.shared.limits;
        let mut expired = Vec::new();
        let found = {
            let mut idle = self.shared.idle.lock().ok()?;
            let list = idle.get_mut(key)?;
            let mut found = None;
            while let Some(c) = list.pop() {
                if c.since.elapsed() < limits.idle_time
                    && c.session.opened.elapsed() < limits.reuse_time
                {
                    found = Some(c.session);
                    break;
                }
                expired.push(c.session);
            }
            if list.is_empty() {
                idle.remove(key);
            }
            found
        };
        close_all(expired);
        found
    }

    /// Keeps a connection that just finished a clean transaction, or closes it when it is
    /// too old or too many wait already.
    fn put(&self, key: Key, session: Session) {
        let limits = &self.shared.limits;
        if session.opened.elapsed() >= limits.reuse_time {
            close_all(vec![session]);
            return;
        }
        let Ok(mut idle) = self.shared.idle.lock() else {
            close_all(vec![session]);
            return;
        };
        let total: usize = idle.values().map(Vec::len).sum();
        let list = idle.entry(key).or_default();
        if list.len() >= limits.max_idle_per_server || total >= limits.max_idle {
            drop(idle);
            close_all(vec![session]);
            return;
        }
        list.push(Idle {
            session,
            since: Instant::now(),
        });
        if !self.shared.sweeping.swap(true, Ordering::SeqCst) {
            self.spawn_sweeper();
        }
    }

    /// Closes idle connections once they pass the idle time, so a quiet destination is not
    /// held open; stops when nothing waits. Runs while the lock is held when it decides to
    /// stop, so a concurrent `put` either sees it running or starts a new one.
    fn spawn_sweeper(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.sweeping.store(false, Ordering::SeqCst);
            return;
        };
        let shared = Arc::downgrade(&self.shared);
        let period = self.shared.limits.idle_time.max(Duration::from_millis(100));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let mut expired = Vec::new();
                {
                    let Ok(mut idle) = shared.idle.lock() else {
                        return;
                    };
                    for list in idle.values_mut() {
                        let (keep, old): (Vec<Idle>, Vec<Idle>) = std::mem::take(list)
                            .into_iter()
                            .partition(|c| c.since.elapsed() < shared.limits.idle_time);
                        *list = keep;
                        expired.extend(old.into_iter().map(|c| c.session));
                    }
                    idle.retain(|_, list| !list.is_empty());
                    if idle.is_empty() {
                        shared.sweeping.store(false, Ordering::SeqCst);
                        drop(idle);
                        close_all(expired);
                        return;
                    }
                }
                close_all(expired);
            }
        });
    }
}

/// QUIT in the background: nobody waits for a connection's goodbye.
fn close_all(sessions: Vec<Session>) {
    if sessions.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for s in sessions {
                    s.quit().await;
                }
            });
        }
        Err(_) => drop(sessions),
    }
}

/// Sends `message` to `recipients` through the server at `addr`, on a cached connection when
/// one waits and on a new one otherwise, and leaves the connection in the cache afterwards
/// when the transaction ended cleanly. Errors are as [`crate::client::send`]'s.
pub async fn deliver(
    cache: &ConnectionCache,
    addr: SocketAddr,
    settings: &ClientSettings,
    mail_from: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<Vec<RecipientResult>, DeliveryError> {
    let key = Key::new(addr, settings);
    while let Some(mut session) = cache.take(&key) {
        match session
            .transaction(mail_from, recipients, message, true)
            .await
        {
            Ok(done) => {
                finish(cache, key, session, done.reusable);
                return Ok(done.results);
            }
            // Closed while idle: nothing of this message went; try the next one.
            Err(TransactionError::Stale(e)) => {
                tracing::debug!(server = %addr, error = %e, "cached connection was closed");
            }
            Err(TransactionError::Failed(e)) => return Err(e),
        }
    }
    let mut session = Session::open(addr, settings).await?;
    let done = session
        .transaction(mail_from, recipients, message, false)
        .await
        .map_err(TransactionError::into_inner)?;
    finish(cache, key, session, done.reusable);
    Ok(done.results)
}

fn finish(cache: &ConnectionCache, key: Key, session: Session, reusable: bool) {
    if reusable {
        cache.put(key, session);
    } else {
        close_all(vec![session]);
    }
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
