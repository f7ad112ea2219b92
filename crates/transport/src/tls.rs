//! rustls configurations.
//!
//! Members authenticate each other with certificates issued by the cluster CA. The RPC listener
//! also accepts clients without a certificate, because a joiner has none until its sponsor issues
//! one; such connections may reach only the join route (the RPC server checks [`PeerIdentity`]).
//! The CLI and a joiner trust a server by pinning its certificate's SHA-256 fingerprint.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::TransportError;
use crate::pki::CertifiedKey;

pub fn first_cert_der(pem: &str) -> Result<CertificateDer<'static>, TransportError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| TransportError::Pem("no certificate found".into()))?
        .map_err(|e| TransportError::Pem(e.to_string()))
}

fn certs_der(pem: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Pem(e.to_string()))
}

fn key_der(pem: &str) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TransportError::Pem(e.to_string()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_der(ca_pem)? {
        roots.add(cert)?;
    }
    Ok(Arc::new(roots))
}

/// The member RPC listener: presents the member's certificate; verifies client certificates
/// against the cluster CA but lets certificate-less joiners through to the handshake.
pub fn cluster_server_config(
    ca_pem: &str,
    node: &CertifiedKey,
) -> Result<Arc<ServerConfig>, TransportError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_pem)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TransportError::Pem(format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_der(&node.cert_pem)?, key_der(&node.key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A member connecting to another member: verifies the server against the cluster CA and
/// presents its own certificate.
pub fn cluster_client_config(
    ca_pem: &str,
    node: &CertifiedKey,
) -> Result<Arc<ClientConfig>, TransportError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs_der(&node.cert_pem)?, key_der(&node.key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The admin listener: one certificate, no client certificates, HTTP/2 and HTTP/1.1.
pub fn admin_server_config(cert: &CertifiedKey) -> Result<Arc<ServerConfig>, TransportError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs_der(&cert.cert_pem)?, key_der(&cert.key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate the admin port (and the other public listeners that share its TLS
/// configuration: SMTP STARTTLS, LDAPS, HTTPS) presents, replaceable while they run: each new
/// handshake reads the current one, and connections already open keep theirs.
#[derive(Debug)]
pub struct AdminIdentity {
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl AdminIdentity {
    fn load(cert: &CertifiedKey) -> Result<Arc<rustls::sign::CertifiedKey>, TransportError> {
        let key = rustls::sign::CertifiedKey::from_der(
            certs_der(&cert.cert_pem)?,
            key_der(&cert.key_pem)?,
            &provider(),
        )?;
        Ok(Arc::new(key))
    }

    /// Presents `cert` from the next handshake on. A key that does not match the certificate
    /// is refused and the current identity stays.
    pub fn replace(&self, cert: &CertifiedKey) -> Result<(), TransportError> {
        let next = Self::load(cert)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for AdminIdentity {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The admin listener's configuration as [`admin_server_config`], with the certificate behind
/// an [`AdminIdentity`] that can replace it while the listeners run.
pub fn replaceable_admin_server_config(
    cert: &CertifiedKey,
) -> Result<(Arc<ServerConfig>, Arc<AdminIdentity>), TransportError> {
    let identity = Arc::new(AdminIdentity {
        current: std::sync::RwLock::new(AdminIdentity::load(cert)?),
    });
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(identity.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), identity))
}

/// A client that trusts exactly one server certificate, named by its SHA-256 fingerprint.
pub fn pinned_client_config(fingerprint_hex: &str) -> Result<Arc<ClientConfig>, TransportError> {
    let pin = hex::decode(fingerprint_hex.trim())
        .ok()
        .filter(|p| p.len() == 32)
        .ok_or_else(|| TransportError::Pem("a certificate pin must be 64 hex digits".into()))?;
    let provider = provider();
    let verifier = Arc::new(ServerCheck {
        pin: Some(pin),
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// A client for opportunistic TLS (SMTP between servers, RFC 7435): any certificate is
/// accepted, the handshake signature is still verified, so the session is encrypted to
/// whoever holds the presented key. No ALPN.
pub fn opportunistic_client_config() -> Result<Arc<ClientConfig>, TransportError> {
    let provider = provider();
    let verifier = Arc::new(ServerCheck {
        pin: None,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts a server whose end-entity certificate has the pinned SHA-256 digest, or any
/// certificate when there is no pin (opportunistic TLS); the handshake signature is always
/// verified, so the server must hold the certificate's key.
#[derive(Debug)]
struct ServerCheck {
    pin: Option<Vec<u8>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use sha2::{Digest, Sha256};
        let Some(pin) = &self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        if Sha256::digest(end_entity.as_ref()).as_slice() == pin.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate does not match the pinned fingerprint".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Who is on the other end of an accepted connection.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity {
    /// The member id in the client certificate, when the client presented one that the cluster CA
    /// issued (rustls has verified the chain before the handshake completes).
    pub node_id: Option<u64>,
    pub remote_addr: Option<std::net::SocketAddr>,
}
