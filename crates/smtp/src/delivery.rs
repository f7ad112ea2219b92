//! One delivery attempt for the recipients of one domain, and the retry schedule.
//!
//! Servers are tried in order (MX preference, then each address); a server that cannot be
//! reached or answers 4xx for the whole session passes the attempt on to the next one. A 5xx
//! for the whole session, or per recipient, is permanent and bounces. Connections are
//! reused between messages to the same server ([`ConnectionCache`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::client::{ClientSettings, RecipientResult, ServerTls};
use crate::connections::{ConnectionCache, deliver};
use crate::error::DeliveryError;
use crate::routes::{MailRoutes, NextHop, Resolve, servers_for};
use crate::spool::Millis;

/// When to try again and when to give up (guide: a message expires after 96 hours).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Delay after the 1st, 2nd, ... failure; the last one repeats.
    pub delays: Vec<Duration>,
    pub expire_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            delays: [60, 300, 900, 1800, 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            expire_after: Duration::from_secs(96 * 3600),
        }
    }
}

impl RetryPolicy {
    /// When the next attempt is due after `attempts` failures.
    pub fn next_attempt(&self, now: Millis, attempts: u32) -> Millis {
        let i = (attempts.max(1) as usize - 1).min(self.delays.len().saturating_sub(1));
        let delay = self
            .delays
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(3600));
        now + delay.as_millis() as u64
    }

    pub fn expired(&self, received_at: Millis, now: Millis) -> bool {
        now.saturating_sub(received_at) >= self.expire_after.as_millis() as u64
    }
}

/// How this node sends: client settings, static routes and name resolution.
pub struct Transport<R> {
    pub client: ClientSettings,
    pub routes: std::sync::RwLock<MailRoutes>,
    pub resolver: R,
    /// Open connections kept for the next message to the same server.
    pub connections: ConnectionCache,
}

impl<R: Resolve> Transport<R> {
    pub fn new(client: ClientSettings, routes: MailRoutes, resolver: R) -> Self {
        Transport {
            client,
            routes: std::sync::RwLock::new(routes),
            resolver,
            connections: ConnectionCache::default(),
        }
    }

    fn routes(&self) -> MailRoutes {
        self.routes.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Delivers `message` to `recipients` (all in `domain`) by the next hop.
    pub async fn deliver_domain(
        &self,
        hop: &NextHop,
        domain: &str,
        recipients: &[String],
        mail_from: &str,
        message: &[u8],
    ) -> Vec<RecipientResult> {
        let all = |e: DeliveryError| {
            recipients
                .iter()
                .map(|r| RecipientResult {
                    address: r.clone(),
                    result: Err(e.clone()),
                })
                .collect::<Vec<_>>()
        };
        let routes = self.routes();
        let servers = match servers_for(hop, domain, &routes, &self.resolver).await {
            Ok(s) => s,
            Err(e) => return all(e),
        };
        let mut settings = self.client.clone();
        if let NextHop::Relay { tls, .. } = hop {
            settings.tls = *tls;
        } else if settings.tls == ServerTls::Ssl {
            // MX hosts speak plain SMTP on 25; SSL is for configured peers only.
            settings.tls = ServerTls::Attempt;
        }
        let mut last = DeliveryError::Temporary(format!("no server to deliver {domain} mail to"));
        for (host, port) in servers {
            let addresses = match self.resolver.addresses(&host).await {
                Ok(a) => a,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            for ip in addresses {
                let addr = SocketAddr::new(ip, port);
                match deliver(
                    &self.connections,
                    addr,
                    &settings,
                    mail_from,
                    recipients,
                    message,
                )
                .await
                {
                    Ok(results) => return results,
                    Err(e) if e.is_permanent() => return all(e),
                    Err(e) => {
                        tracing::info!(server = %addr, host, error = %e, "delivery attempt failed; trying the next server");
                        last = e;
                    }
                }
            }
        }
        all(last)
    }
}

/// The domain of an address (after the last `@`), lower-cased.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(address)
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_and_expiry() {
        let p = RetryPolicy::default();
        assert_eq!(p.next_attempt(0, 1), 60_000);
        assert_eq!(p.next_attempt(0, 2), 300_000);
        assert_eq!(p.next_attempt(0, 50), 3_600_000);
        assert!(!p.expired(0, 96 * 3600 * 1000 - 1));
        assert!(p.expired(0, 96 * 3600 * 1000));
        assert_eq!(domain_of("Bob@Ext.TEST"), "ext.test");
    }
}
