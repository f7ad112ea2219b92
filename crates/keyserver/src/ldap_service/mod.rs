//! The LDAP/LDAPS keyserver: published OpenPGP keys in the keyserver schema GnuPG's dirmngr
//! and PGP clients read, and S/MIME certificates as `userCertificate;binary`, from the shared
//! [`crate::directory`]. Read-only; anonymous read can be turned off, in which case only
//! LDAPS clients with a verified client certificate may search.
//!
//! - [`codec`]: ldap3_proto's codec behind a pre-check of each message's operation.
//! - [`session`]: one connection (bind, search, StartTLS, disconnect on bad input).
//! - [`schema`]: the root DSE, `cn=PGPServerInfo`, entry building.
//! - [`filter`]: filter limits, index-driven evaluation.
//! - [`ratelimit`]: per-address token buckets.

pub mod client;
pub mod codec;
pub mod filter;
pub mod ratelimit;
pub mod schema;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Decoder;

use crate::directory::SharedDirectory;
pub use filter::FilterLimits;
pub use schema::Naming;
pub use session::Peer;

/// What the service enforces.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    pub base_dn: String,
    pub anonymous_read: bool,
    /// Most entries one search returns.
    pub size_limit: usize,
    pub filter_limits: FilterLimits,
    /// Lookups per second per client address (0: unlimited) and the burst allowed.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// Most connections served at once, all listeners together.
    pub max_connections: usize,
}

impl Default for LdapSettings {
    fn default() -> Self {
        LdapSettings {
            base_dn: "o=Signet".into(),
            anonymous_read: true,
            size_limit: 100,
            filter_limits: FilterLimits::default(),
            rate_per_second: 100,
            rate_burst: 400,
            max_connections: 1024,
        }
    }
}

/// Shared by every connection of every listener.
pub struct Service {
    pub settings: LdapSettings,
    pub naming: Naming,
    pub directory: SharedDirectory,
    pub limiter: ratelimit::RateLimiter,
    connections: Arc<Semaphore>,
}

impl Service {
    pub fn new(settings: LdapSettings, directory: SharedDirectory) -> Arc<Service> {
        Arc::new(Service {
            naming: Naming {
                base_dn: settings.base_dn.clone(),
            },
            limiter: ratelimit::RateLimiter::new(settings.rate_per_second, settings.rate_burst),
            connections: Arc::new(Semaphore::new(settings.max_connections.max(1))),
            settings,
            directory,
        })
    }

    /// Decodes every request in `bytes` and answers it, as a connection would; stops at the
    /// first undecodable one. For the fuzz target and tests: must never panic.
    pub fn answer_bytes(&self, bytes: &[u8]) -> usize {
        let mut codec = codec::RequestCodec::new(16 * 1024, 24);
        let mut buf = BytesMut::from(bytes);
        let peer = Peer {
            ip: [127, 0, 0, 1].into(),
            certificate: false,
            encrypted: false,
        };
        let mut replies = 0;
        while let Ok(Some(msg)) = codec.decode(&mut buf) {
            match session::handle(self, &peer, msg) {
                Some(r) => replies += r.len(),
                None => break,
            }
        }
        replies
    }
}

/// One listener: plain LDAP, or LDAPS with this TLS configuration. `client_certificates`
/// says the TLS configuration verifies client certificates, so a connection that presented
/// one counts as authenticated. `starttls`, on a plain listener, is the TLS configuration a
/// connection switches to on StartTLS (none: StartTLS is answered "unavailable").
pub struct Listener {
    pub listener: TcpListener,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub client_certificates: bool,
    pub starttls: Option<Arc<rustls::ServerConfig>>,
}

/// Accepts connections until `stop` resolves.
pub async fn serve(
    service: Arc<Service>,
    listener: Listener,
    stop: impl std::future::Future<Output = ()>,
) {
    let acceptor = listener.tls.clone().map(TlsAcceptor::from);
    let starttls = listener.starttls.clone().map(TlsAcceptor::from);
    tokio::pin!(stop);
    loop {
        let (tcp, addr): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "LDAP: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = service.connections.clone().try_acquire_owned() else {
            // Over the connection limit: close at once rather than queue.
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let acceptor = acceptor.clone();
        let starttls = starttls.clone();
        let client_certificates = listener.client_certificates;
        tokio::spawn(async move {
            let _permit = permit;
            let ip = addr.ip();
            match acceptor {
                None => {
                    let peer = Peer {
                        ip,
                        certificate: false,
                        encrypted: false,
                    };
                    session::run_plain(service, tcp, peer, starttls, client_certificates).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(session::HANDSHAKE, acceptor.accept(tcp)).await;
                    let Ok(Ok(tls)) = handshake else {
                        tracing::debug!(peer = %ip, "LDAPS: handshake failed");
                        return;
                    };
                    let certificate = client_certificates
                        && tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .is_some_and(|c| !c.is_empty());
                    let peer = Peer {
                        ip,
                        certificate,
                        encrypted: true,
                    };
                    session::run(service, tls, peer).await
                }
            }
        });
    }
}
