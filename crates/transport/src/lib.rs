//! TLS identities and HTTPS plumbing shared by the cluster RPC, the admin API and the CLI.
//!
//! - [`pki`]: the cluster CA made at `init`, node certificates it issues, the self-signed admin
//!   certificate, fingerprints.
//! - [`tls`]: rustls configurations: mutual TLS between members, certificate pinning for the CLI
//!   and for a joiner that only knows its sponsor's fingerprint.
//! - [`http`]: serve a hyper service over TLS (with the peer's certificate available to the
//!   handler) and a small HTTP/2 client that keeps one multiplexed connection per peer.
//!
//! Everything uses the aws-lc-rs provider; [`install_crypto_provider`] must run once at startup.

pub mod http;
pub mod pki;
pub mod tls;

/// Errors of this crate, each with the context an operator needs.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid PEM data: {0}")]
    Pem(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {addr} failed: {source}")]
    Handshake {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP exchange with {addr} failed: {source}")]
    Http { addr: String, source: hyper::Error },
    #[error("{addr} did not answer within {secs:.1} s")]
    Timeout { addr: String, secs: f64 },
    #[error("invalid request: {0}")]
    Request(String),
}

/// Installs aws-lc-rs as the process-wide rustls provider. Idempotent.
pub fn install_crypto_provider() {
    // A second install returns Err with the already-installed provider: that is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
