//! The outbound key-search client: asks one keyserver for a recipient's keys (guide §2).
//!
//! The mail path searches its own stores first (internal users, external users, the key
//! cache) and only then calls [`search`] for each keyserver on the matching rule's Key Search
//! list, in order, until one finds a key. Every call is bounded by [`SearchOptions::timeout`]:
//! a server that does not answer in time gives [`SearchError::Timeout`], which the mail path
//! requeues on, except for `keys.<domain>` servers ([`Keyserver::requeues_on_failure`]).
//!
//! Only keys that parse and carry the searched address come back, at most
//! [`SearchOptions::max_keys`], from answers of at most [`SearchOptions::max_bytes`].

mod hkp;
mod http;
mod ldap;
mod wkd;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use signet_model::{EmailAddress, KeySource};

use crate::material::KeyMaterial;

pub use wkd::{wkd_hash, wkd_urls, zbase32};

/// The placeholder the guide's pre-installed `keys.$ADDRESS_DOMAIN` entry uses.
pub const ADDRESS_DOMAIN: &str = "$ADDRESS_DOMAIN";

/// The keyserver types (guide §2.3) plus HKP and WKD, which the reference lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyserverKind {
    /// PGP Keyserver LDAP (and PGP Global Directory): OpenPGP keys by `pgpUserID`.
    PgpLdap,
    /// The same over TLS (LDAPS, port 636).
    PgpLdaps,
    /// X.509 Directory LDAP: `userCertificate;binary` by `mail`.
    X509Ldap,
    X509Ldaps,
    /// HTTP Keyserver Protocol, `/pks/lookup`.
    Hkp,
    Hkps,
    /// Web Key Directory: the recipient's own domain over HTTPS.
    Wkd,
}

impl KeyserverKind {
    pub fn default_port(self) -> u16 {
        match self {
            KeyserverKind::PgpLdap | KeyserverKind::X509Ldap => 389,
            KeyserverKind::PgpLdaps | KeyserverKind::X509Ldaps => 636,
            KeyserverKind::Hkp => 11371,
            KeyserverKind::Hkps | KeyserverKind::Wkd => 443,
        }
    }
}

/// One keyserver as a rule's Key Search list names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyserver {
    /// How administrators and the key cache's Source name it.
    pub description: String,
    pub kind: KeyserverKind,
    /// Host name or address; `keys.$ADDRESS_DOMAIN` takes the recipient's domain. Unused by WKD
    /// (the recipient's domain is the server).
    pub host: String,
    /// Overrides the type's default port.
    #[serde(default)]
    pub port: Option<u16>,
    /// LDAP: where to search; found from the server (`pgpBaseKeySpaceDN`, namingContexts)
    /// when absent.
    #[serde(default)]
    pub base_dn: Option<String>,
    /// "Trust keys from this keyserver implicitly".
    #[serde(default)]
    pub trusted: bool,
}

impl Keyserver {
    /// The guide's pre-installed entry: `keys.<recipient domain>` over LDAP.
    pub fn address_domain() -> Keyserver {
        Keyserver {
            description: format!("keys.{ADDRESS_DOMAIN}"),
            kind: KeyserverKind::PgpLdap,
            host: format!("keys.{ADDRESS_DOMAIN}"),
            port: None,
            base_dn: None,
            trusted: false,
        }
    }

    /// A `keys.<recipient domain>` server: its keys are trusted and its failure does not queue
    /// the message (guide §2.2, scenario 18).
    pub fn is_address_domain(&self) -> bool {
        self.host.contains(ADDRESS_DOMAIN)
    }

    /// The host for a recipient in `domain`.
    pub fn host_for(&self, domain: &str) -> String {
        self.host.replace(ADDRESS_DOMAIN, domain)
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.kind.default_port())
    }

    /// Whether a timeout or failure of this server should requeue the message (guide §6):
    /// yes for configured keyservers, no for `keys.<domain>`.
    pub fn requeues_on_failure(&self) -> bool {
        !self.is_address_domain()
    }

    /// Whether keys found here may be used without further trust: `keys.<domain>` servers and
    /// servers marked "trust implicitly".
    pub fn keys_trusted(&self) -> bool {
        self.trusted || self.is_address_domain()
    }
}

/// How a search is made. [`SearchOptions::default`] is what production uses; the overrides are
/// for tests and for sites with their own CA.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The whole search on one server, connection included.
    pub timeout: Duration,
    /// The largest answer read (bytes).
    pub max_bytes: usize,
    /// The most keys returned.
    pub max_keys: usize,
    /// Host name → address, used instead of DNS (tests point `keys.partner.test` or
    /// `openpgpkey.example.org` at a loopback server).
    pub resolve: BTreeMap<String, SocketAddr>,
    /// Extra trusted CA certificates (PEM) besides the system's.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Accept any TLS certificate. For tests only; never on by default.
    pub accept_invalid_certs: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            timeout: Duration::from_secs(10),
            max_bytes: 1 << 20,
            max_keys: 16,
            resolve: BTreeMap::new(),
            extra_roots_pem: None,
            accept_invalid_certs: false,
        }
    }
}

/// A key a keyserver gave for the searched address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundKey {
    pub key: KeyMaterial,
    /// The server's description (the key cache's Source).
    pub server: String,
    /// Found on a `keys.<domain>` server or one trusted implicitly.
    pub trusted: bool,
}

impl FoundKey {
    pub fn source(&self) -> KeySource {
        KeySource::Keyserver {
            description: self.server.clone(),
        }
    }
}

/// Why a search found nothing. [`SearchError::NotFound`] is an answer; the others mean the
/// server could not give one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("{server} has no key for {email}")]
    NotFound { server: String, email: String },
    #[error("{server} did not answer within {} ms", .after.as_millis())]
    Timeout { server: String, after: Duration },
    #[error("{server} failed: {reason}")]
    Failed { server: String, reason: String },
    #[error("cannot search for {0:?}: not an email address")]
    InvalidAddress(String),
}

impl SearchError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, SearchError::NotFound { .. })
    }

    /// The server did not answer in time or failed: the mail path may requeue.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            SearchError::Timeout { .. } | SearchError::Failed { .. }
        )
    }
}

/// A failure inside one protocol, before the server's name is attached.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// The searched address, checked.
pub(crate) struct Target {
    pub(crate) email: String,
    pub(crate) local: String,
    pub(crate) domain: String,
}

/// Asks one keyserver for `email`'s keys, within `options.timeout`.
pub async fn search(
    email: &str,
    server: &Keyserver,
    options: &SearchOptions,
) -> Result<Vec<FoundKey>, SearchError> {
    let parsed =
        EmailAddress::parse(email).map_err(|_| SearchError::InvalidAddress(email.into()))?;
    let address = parsed.as_str().to_string();
    let (local, domain) = address
        .rsplit_once('@')
        .ok_or_else(|| SearchError::InvalidAddress(email.into()))?;
    let target = Target {
        email: address.to_ascii_lowercase(),
        local: local.to_string(),
        domain: domain.to_ascii_lowercase(),
    };
    let name = server.description.clone();
    let work = async {
        match server.kind {
            KeyserverKind::PgpLdap
            | KeyserverKind::PgpLdaps
            | KeyserverKind::X509Ldap
            | KeyserverKind::X509Ldaps => ldap::search(&target, server, options).await,
            KeyserverKind::Hkp | KeyserverKind::Hkps => hkp::search(&target, server, options).await,
            KeyserverKind::Wkd => wkd::search(&target, options).await,
        }
    };
    let keys = match tokio::time::timeout(options.timeout, work).await {
        Err(_) => {
            tracing::info!(server = %name, email = %target.email, "key search timed out");
            return Err(SearchError::Timeout {
                server: name,
                after: options.timeout,
            });
        }
        Ok(Err(Failure(reason))) => {
            tracing::info!(server = %name, email = %target.email, %reason, "key search failed");
            return Err(SearchError::Failed {
                server: name,
                reason,
            });
        }
        Ok(Ok(keys)) => keys,
    };
    if keys.is_empty() {
        return Err(SearchError::NotFound {
            server: name,
            email: target.email,
        });
    }
    Ok(keys
        .into_iter()
        .map(|key| FoundKey {
            key,
            server: name.clone(),
            trusted: server.keys_trusted(),
        })
        .collect())
}

/// Searches the servers in order and returns the first one's keys. A server that failed or
/// timed out does not stop the search; if no server had a key, the error is the first
/// unavailable server's that requeues (so the caller requeues) or else `NotFound`: a
/// `keys.<domain>` server's failure alone never makes the caller requeue.
pub async fn search_in_order(
    email: &str,
    servers: &[Keyserver],
    options: &SearchOptions,
) -> Result<Vec<FoundKey>, SearchError> {
    let mut first_unavailable = None;
    let mut last = SearchError::NotFound {
        server: "no keyserver".into(),
        email: email.into(),
    };
    for server in servers {
        match search(email, server, options).await {
            Ok(keys) => return Ok(keys),
            Err(e @ SearchError::InvalidAddress(_)) => return Err(e),
            Err(e) if e.is_unavailable() => {
                // A keys.<domain> server that does not answer counts as having no key: its
                // failure never queues the message (guide §2.2).
                if server.requeues_on_failure() {
                    first_unavailable.get_or_insert(e);
                }
            }
            Err(e) => last = e,
        }
    }
    Err(first_unavailable.unwrap_or(last))
}
