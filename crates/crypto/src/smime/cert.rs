//! Reading certificates: PEM (one or a bundle), DER, and PKCS#7 "certs-only" bundles (.p7b),
//! and describing one for the admin UI and the key-facts the policy engine uses.

use super::{cert_err, oids};
use crate::CryptoError;
use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName, SubjectKeyIdentifier};
use x509_cert::serial_number::SerialNumber;
use x509_cert::{Certificate, Version};

/// What an administrator (and a policy condition) wants to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// 1, 2 or 3 (X.509 v3 is the only one the Organization Certificate may be).
    pub version: u8,
    /// RFC 4514 rendering, e.g. `CN=Example Org CA,O=Example Org,C=DE`.
    pub subject: String,
    pub issuer: String,
    /// The serial number, upper-case hex without leading zero bytes (as `openssl` prints it).
    pub serial_hex: String,
    /// Addresses from the subjectAltName rfc822Names and the subject's emailAddress, lower
    /// case, deduplicated.
    pub emails: Vec<String>,
    /// Validity, seconds since the epoch.
    pub not_before: u64,
    pub not_after: u64,
    /// basicConstraints cA is true.
    pub is_ca: bool,
    /// SHA-256 of the DER certificate, upper-case hex.
    pub sha256_fingerprint: String,
    /// `RSA-2048`, `EC P-256`, ...
    pub key_algorithm: String,
}

impl CertificateInfo {
    /// Describes a DER certificate.
    pub fn of(der: &[u8]) -> Result<CertificateInfo, CryptoError> {
        let cert = decode(der)?;
        let tbs = &cert.tbs_certificate;
        Ok(CertificateInfo {
            version: match tbs.version {
                Version::V1 => 1,
                Version::V2 => 2,
                Version::V3 => 3,
            },
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial_hex: serial_hex(&tbs.serial_number),
            emails: emails(&cert),
            not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            is_ca: is_ca(&cert),
            sha256_fingerprint: fingerprint(der),
            key_algorithm: key_algorithm(der),
        })
    }
}

/// Reads exactly one certificate (the first, if it is a bundle) and returns it as DER.
pub fn parse_certificate(pem_or_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    parse_certificates(pem_or_der)?
        .into_iter()
        .next()
        .ok_or_else(|| CryptoError::Certificate("no certificate found".into()))
}

/// Reads every certificate from PEM (`CERTIFICATE` and `PKCS7` blocks, any text around them),
/// a DER certificate or a DER PKCS#7 bundle. Each returned item is one DER certificate.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
    let mut out = Vec::new();
    if data.trim_ascii_start().starts_with(b"-----BEGIN") || find(data, b"-----BEGIN ").is_some() {
        for (label, der) in pem_blocks(data)? {
            match label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => {
                    decode(&der)?;
                    out.push(der);
                }
                "PKCS7" | "CMS" => out.extend(certs_from_pkcs7(&der)?),
                _ => {}
            }
        }
    } else if Certificate::from_der(data).is_ok() {
        out.push(data.to_vec());
    } else if let Ok(certs) = certs_from_pkcs7(data) {
        out.extend(certs);
    } else {
        // Say why the certificate itself did not parse: it is the likely intent.
        decode(data)?;
    }
    if out.is_empty() {
        return Err(CryptoError::Certificate("no certificate found".into()));
    }
    Ok(out)
}

/// True if `bytes` hold an X.509 certificate or bundle in any form [`parse_certificates`]
/// reads. Used to refuse an X.509 certificate offered where an OpenPGP key is expected.
pub fn is_x509(bytes: &[u8]) -> bool {
    parse_certificates(bytes).is_ok()
}

pub(crate) fn decode(der: &[u8]) -> Result<Certificate, CryptoError> {
    Certificate::from_der(der).map_err(cert_err("not a DER X.509 certificate"))
}

fn certs_from_pkcs7(der: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
    let ci =
        cms::content_info::ContentInfo::from_der(der).map_err(cert_err("not a PKCS#7 bundle"))?;
    if ci.content_type != oids::ID_SIGNED_DATA {
        return Err(CryptoError::Certificate(
            "the PKCS#7 data is not a certificate bundle".into(),
        ));
    }
    let sd: cms::signed_data::SignedData = ci
        .content
        .decode_as()
        .map_err(cert_err("bad PKCS#7 bundle"))?;
    let mut out = Vec::new();
    for choice in sd.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(cert) = choice {
            out.push(
                cert.to_der()
                    .map_err(cert_err("bad certificate in the bundle"))?,
            );
        }
    }
    Ok(out)
}

/// The PEM blocks in `data`: (label, decoded bytes). Header lines (`Proc-Type:`) are skipped.
fn pem_blocks(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, CryptoError> {
    use base64::Engine;
    let text = String::from_utf8_lossy(data);
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_string(), String::new()));
        } else if line.starts_with("-----END ") {
            if let Some((label, b64)) = current.take() {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(cert_err("bad base64 in a PEM block"))?;
                blocks.push((label, der));
            }
        } else if let Some((_, b64)) = current.as_mut()
            && !line.contains(':')
        {
            b64.push_str(line);
        }
    }
    Ok(blocks)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A decoded extension of the certificate, if present and well-formed.
pub(crate) fn extension<'a, T: Decode<'a>>(
    cert: &'a Certificate,
    oid: const_oid::ObjectIdentifier,
) -> Option<T> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)?;
    T::from_der(ext.extn_value.as_bytes()).ok()
}

pub(crate) fn is_ca(cert: &Certificate) -> bool {
    extension::<BasicConstraints>(cert, oids::BASIC_CONSTRAINTS).is_some_and(|bc| bc.ca)
}

pub(crate) fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    extension::<SubjectKeyIdentifier>(cert, oids::SUBJECT_KEY_ID).map(|s| s.0.as_bytes().to_vec())
}

/// The certificate's email addresses, lower case.
pub(crate) fn emails(cert: &Certificate) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(san) = extension::<SubjectAltName>(cert, oids::SUBJECT_ALT_NAME) {
        for name in san.0 {
            if let GeneralName::Rfc822Name(mail) = name {
                out.push(mail.as_str().to_ascii_lowercase());
            }
        }
    }
    for rdn in &cert.tbs_certificate.subject.0 {
        for atv in rdn.0.iter().filter(|a| a.oid == oids::EMAIL_ADDRESS) {
            if let Ok(s) = std::str::from_utf8(atv.value.value()) {
                out.push(s.to_ascii_lowercase());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.clone()));
    out
}

pub(crate) fn serial_hex(serial: &SerialNumber) -> String {
    let bytes = serial.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode_upper(&bytes[start..])
}

pub(crate) fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(sha2::Sha256::digest(der))
}

fn key_algorithm(der: &[u8]) -> String {
    use openssl::pkey::Id;
    let Ok(pkey) = openssl::x509::X509::from_der(der).and_then(|c| c.public_key()) else {
        return "unknown".into();
    };
    match pkey.id() {
        Id::RSA => format!("RSA-{}", pkey.bits()),
        Id::EC => {
            let curve = pkey
                .ec_key()
                .ok()
                .and_then(|k| k.group().curve_name())
                .map(|nid| match nid {
                    openssl::nid::Nid::X9_62_PRIME256V1 => "P-256".to_string(),
                    openssl::nid::Nid::SECP384R1 => "P-384".to_string(),
                    openssl::nid::Nid::SECP521R1 => "P-521".to_string(),
                    other => other.short_name().unwrap_or("unknown curve").to_string(),
                })
                .unwrap_or_else(|| "unknown curve".into());
            format!("EC {curve}")
        }
        Id::ED25519 => "Ed25519".into(),
        other => format!("{other:?}"),
    }
}

/// `issuer / serial`, how an IssuerAndSerialNumber is shown to people.
pub(crate) fn render_issuer_serial(
    issuer: &x509_cert::name::Name,
    serial: &SerialNumber,
) -> String {
    format!("{issuer} / {}", serial_hex(serial))
}
