//! A minimal HTTP/1.1 GET over hyper for HKP and WKD: one request per connection, TLS through
//! rustls with the system's roots (plus any configured), the answer's size capped.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Failure, SearchOptions};

/// What a GET gave: the status and the body (at most `max_bytes`).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where to connect: the resolve override, else DNS.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    options: &SearchOptions,
) -> Result<TcpStream, Failure> {
    let stream = match options.resolve.get(&host.to_ascii_lowercase()) {
        Some(addr) => TcpStream::connect(SocketAddr::new(addr.ip(), addr.port())).await,
        None => TcpStream::connect((host, port)).await,
    };
    stream.map_err(|e| Failure(format!("cannot connect to {host}:{port}: {e}")))
}

/// The TLS client settings: the system's roots and any extra ones; any certificate only when
/// the test flag says so.
pub(crate) fn tls_config(options: &SearchOptions) -> Result<rustls::ClientConfig, Failure> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Failure(format!("TLS setup: {e}")))?;
    if options.accept_invalid_certs {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth());
    }
    let mut roots = system_roots().clone();
    if let Some(pem) = &options.extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Failure(format!("extra CA certificates: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Failure(format!("extra CA certificate: {e}")))?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The system's CA bundle (Debian's), read once; a missing file only means fewer roots.
fn system_roots() -> &'static rustls::RootCertStore {
    static ROOTS: std::sync::OnceLock<rustls::RootCertStore> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        if let Ok(pem) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
            for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(cert);
            }
        }
        roots
    })
}

/// GETs `path_and_query` from `host:port`, over TLS when `tls`.
pub(crate) async fn get(
    tls: bool,
    host: &str,
    port: u16,
    path_and_query: &str,
    options: &SearchOptions,
) -> Result<Answer, Failure> {
    let tcp = connect(host, port, options).await?;
    let io: Box<dyn Io> = if tls {
        let config = Arc::new(tls_config(options)?);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| Failure(format!("bad server name {host}: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| Failure(format!("TLS with {host}: {e}")))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure(format!("HTTP with {host}: {e}")))?;
    let driver = tokio::spawn(conn);
    let authority = if port == if tls { 443 } else { 80 } {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let request = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "signet-keysearch")
        .header(hyper::header::ACCEPT, "application/pgp-keys, */*")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Failure(format!("request: {e}")))?;
    let result = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), options.max_bytes)
            .collect()
            .await
            .map_err(|e| Failure(format!("answer from {host}: {e}")))?
            .to_bytes()
            .to_vec();
        Ok::<_, Failure>(Answer { status, body })
    }
    .await;
    driver.abort();
    result
}

/// Accepts every server certificate: only ever built when the test flag asks for it.
#[derive(Debug)]
pub(crate) struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub(crate) fn encode_query(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
