//! The Organization Certificate (an X.509 v3 CA), the users' S/MIME certificates it issues,
//! and its CRL.
//!
//! Certificates are assembled from `x509-cert` structures and signed through OpenSSL (see
//! [`super::keys`]), so an imported CA whose name encoding or key identifiers differ from
//! what a generator would write is still reproduced exactly in the issuer and AKI fields.

use super::cert::{decode, subject_key_id};
use super::keys::PrivateKey;
use super::{CaIdentity, KeyKind, SmimeIdentity, cert_err, now, oids};
use crate::CryptoError;
use der::asn1::{
    BitString, Ia5String, OctetString, PrintableStringRef, SetOfVec, Uint, Utf8StringRef,
};
use der::{Any, Encode};
use serde::{Deserialize, Serialize};
use spki::SubjectPublicKeyInfoOwned;
use std::time::{Duration, UNIX_EPOCH};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

/// The subject of the Organization Certificate, as the administrator types it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateFields {
    pub common_name: String,
    pub contact_email: Option<String>,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    /// Two-letter ISO 3166 code.
    pub country: Option<String>,
}

/// One entry of the CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedCertificate {
    /// The certificate's serial number in hex (either case; colons allowed).
    pub serial_hex: String,
    /// When it was revoked, seconds since the epoch.
    pub revoked_at: u64,
}

const DAY: u64 = 86_400;
/// Certificates start a little in the past so a peer whose clock is behind accepts them.
const BACKDATE: u64 = 300;

/// Generates a new Organization Certificate: a self-signed X.509 v3 CA (basicConstraints
/// CA:TRUE critical; keyUsage keyCertSign, cRLSign, digitalSignature), valid until
/// `not_after` (seconds since the epoch) or for ten years.
pub fn generate_organization_certificate(
    fields: &CertificateFields,
    key: KeyKind,
    not_after: Option<u64>,
) -> Result<CaIdentity, CryptoError> {
    let subject = ca_subject(fields)?;
    let now = now();
    let not_after = not_after.unwrap_or(now + 3652 * DAY);
    if not_after <= now {
        return Err(CryptoError::NotAllowed(
            "the Organization Certificate would already be expired".into(),
        ));
    }
    let private = PrivateKey::generate(key)?;
    let spki_der = private.spki_der()?;
    let ski = key_id(&spki_der)?;
    let extensions = vec![
        ext(
            oids::BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
        )?,
        ext(
            oids::KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature),
        )?,
        ext(
            oids::SUBJECT_KEY_ID,
            false,
            &SubjectKeyIdentifier(octets(&ski)?),
        )?,
        ext(oids::AUTHORITY_KEY_ID, false, &aki(ski))?,
    ];
    let cert_der = sign_certificate(
        subject.clone(),
        subject,
        &spki_der,
        now.saturating_sub(BACKDATE),
        not_after,
        extensions,
        &private,
    )?;
    Ok(CaIdentity {
        cert_der,
        key_pkcs8_der: private.to_pkcs8_der()?,
    })
}

/// Imports an existing CA certificate (PEM or DER) and its private key (PKCS#8, PKCS#1 or
/// SEC1; PEM or DER) as the Organization Certificate. Refuses a certificate that is not
/// X.509 v3, one that is not a CA, and a key that is not the certificate's.
pub fn import_organization_certificate(cert: &[u8], key: &[u8]) -> Result<CaIdentity, CryptoError> {
    let cert_der = super::cert::parse_certificate(cert)?;
    let parsed = decode(&cert_der)?;
    if parsed.tbs_certificate.version != Version::V3 {
        let v = match parsed.tbs_certificate.version {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 => 3,
        };
        return Err(CryptoError::Certificate(format!(
            "the Organization Certificate must be X.509 v3; this one is v{v}"
        )));
    }
    if !super::cert::is_ca(&parsed) {
        return Err(CryptoError::Certificate(
            "the Organization Certificate must be a CA certificate (basicConstraints CA:TRUE)"
                .into(),
        ));
    }
    let private = PrivateKey::parse(key)?;
    let public = openssl::x509::X509::from_der(&cert_der)
        .and_then(|c| c.public_key())
        .map_err(cert_err("unusable public key in the certificate"))?;
    if !private.matches(&public) {
        return Err(CryptoError::NoKey(
            "the private key does not belong to the certificate".into(),
        ));
    }
    Ok(CaIdentity {
        cert_der,
        key_pkcs8_der: private.to_pkcs8_der()?,
    })
}

/// Issues a user's S/MIME certificate signed by the Organization Certificate: subject CN
/// (display name or the address) and emailAddress, SAN rfc822Name, keyUsage digitalSignature
/// plus keyEncipherment (RSA) or keyAgreement (EC), extKeyUsage emailProtection, a random
/// 16-byte serial, SKI and AKI, and a CRL distribution point if `crl_url` is given. Valid
/// for a year unless `not_after` says otherwise (never past the CA's own notAfter).
pub fn issue_user_certificate(
    ca: &CaIdentity,
    email: &str,
    display_name: Option<&str>,
    key: KeyKind,
    not_after: Option<u64>,
    crl_url: Option<&str>,
) -> Result<SmimeIdentity, CryptoError> {
    let email = email.trim();
    if !is_plain_address(email) {
        return Err(CryptoError::NotAllowed(format!(
            "{email:?} is not an email address"
        )));
    }
    let ca_cert = decode(&ca.cert_der)?;
    let ca_key = PrivateKey::parse(&ca.key_pkcs8_der)?;
    let now = now();
    let ca_not_after = ca_cert
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    let not_after = not_after.unwrap_or(now + 365 * DAY).min(ca_not_after);
    if not_after <= now {
        return Err(CryptoError::NotAllowed(
            "the certificate would already be expired".into(),
        ));
    }
    let cn = display_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(email);
    let subject = name(&[
        (oids::CN, StringKind::Utf8, cn),
        (oids::EMAIL_ADDRESS, StringKind::Ia5, email),
    ])?;

    let private = PrivateKey::generate(key)?;
    let spki_der = private.spki_der()?;
    let ca_key_id = match subject_key_id(&ca_cert) {
        Some(id) => id,
        None => key_id(
            &ca_cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(cert_err("CA key"))?,
        )?,
    };
    let usage = if private.is_rsa() {
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    } else {
        KeyUsages::DigitalSignature | KeyUsages::KeyAgreement
    };
    let mut extensions = vec![
        ext(
            oids::BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
        )?,
        ext(oids::KEY_USAGE, true, &KeyUsage(usage))?,
        ext(
            oids::EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(vec![oids::KP_EMAIL_PROTECTION]),
        )?,
        ext(
            oids::SUBJECT_ALT_NAME,
            false,
            &SubjectAltName(vec![GeneralName::Rfc822Name(ia5(email)?)]),
        )?,
        ext(
            oids::SUBJECT_KEY_ID,
            false,
            &SubjectKeyIdentifier(octets(&key_id(&spki_der)?)?),
        )?,
        ext(oids::AUTHORITY_KEY_ID, false, &aki(ca_key_id))?,
    ];
    if let Some(url) = crl_url {
        let point = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(ia5(url)?),
            ])),
            reasons: None,
            crl_issuer: None,
        };
        extensions.push(ext(
            oids::CRL_DISTRIBUTION_POINTS,
            false,
            &CrlDistributionPoints(vec![point]),
        )?);
    }
    let cert_der = sign_certificate(
        ca_cert.tbs_certificate.subject.clone(),
        subject,
        &spki_der,
        now.saturating_sub(BACKDATE),
        not_after,
        extensions,
        &ca_key,
    )?;
    Ok(SmimeIdentity {
        cert_der,
        key_pkcs8_der: private.to_pkcs8_der()?,
    })
}

/// The Organization Certificate's CRL (v2, DER): the revoked serials, thisUpdate and
/// nextUpdate (seconds since the epoch), AKI, and a CRL number that is `this_update` (so
/// later CRLs have larger numbers without keeping a counter).
pub fn crl(
    ca: &CaIdentity,
    revoked: &[RevokedCertificate],
    this_update: u64,
    next_update: u64,
) -> Result<Vec<u8>, CryptoError> {
    let ca_cert = decode(&ca.cert_der)?;
    let ca_key = PrivateKey::parse(&ca.key_pkcs8_der)?;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let cleaned: String = r
            .serial_hex
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let bytes = hex::decode(&cleaned).map_err(|_| {
            CryptoError::NotAllowed(format!("{:?} is not a hex serial number", r.serial_hex))
        })?;
        entries.push(RevokedCert {
            serial_number: serial(&bytes)?,
            revocation_date: time(r.revoked_at)?,
            crl_entry_extensions: None,
        });
    }
    let ca_key_id = match subject_key_id(&ca_cert) {
        Some(id) => id,
        None => key_id(
            &ca_cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(cert_err("CA key"))?,
        )?,
    };
    let number = Uint::new(&this_update.to_be_bytes()).map_err(cert_err("CRL number"))?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: ca_key.signature_algorithm(),
        issuer: ca_cert.tbs_certificate.subject.clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some(vec![
            ext(oids::AUTHORITY_KEY_ID, false, &aki(ca_key_id))?,
            ext(oids::CRL_NUMBER, false, &number)?,
        ]),
    };
    let tbs_der = tbs.to_der().map_err(cert_err("CRL"))?;
    let signature = ca_key.sign_sha256(&tbs_der)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: ca_key.signature_algorithm(),
        signature: BitString::from_bytes(&signature).map_err(cert_err("CRL signature"))?,
    }
    .to_der()
    .map_err(cert_err("CRL"))
}

fn sign_certificate(
    issuer: Name,
    subject: Name,
    spki_der: &[u8],
    not_before: u64,
    not_after: u64,
    extensions: Vec<Extension>,
    signer: &PrivateKey,
) -> Result<Vec<u8>, CryptoError> {
    use der::Decode;
    use rand::RngCore;
    let mut serial_bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut serial_bytes);
    // Positive, and exactly 16 bytes long once encoded.
    serial_bytes[0] = (serial_bytes[0] & 0x7f) | 0x40;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial(&serial_bytes)?,
        signature: signer.signature_algorithm(),
        issuer,
        validity: Validity {
            not_before: time(not_before)?,
            not_after: time(not_after)?,
        },
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(cert_err("public key"))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(cert_err("certificate"))?;
    let signature = signer.sign_sha256(&tbs_der)?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signer.signature_algorithm(),
        signature: BitString::from_bytes(&signature).map_err(cert_err("signature"))?,
    }
    .to_der()
    .map_err(cert_err("certificate"))
}

#[derive(Clone, Copy)]
enum StringKind {
    Utf8,
    Printable,
    Ia5,
}

fn name(parts: &[(const_oid::ObjectIdentifier, StringKind, &str)]) -> Result<Name, CryptoError> {
    let mut rdns = Vec::with_capacity(parts.len());
    for &(oid, kind, value) in parts {
        let bad = |e: der::Error| {
            CryptoError::NotAllowed(format!(
                "{value:?} cannot be used in a certificate name: {e}"
            ))
        };
        let value = match kind {
            StringKind::Utf8 => Any::encode_from(&Utf8StringRef::new(value).map_err(bad)?),
            StringKind::Printable => {
                Any::encode_from(&PrintableStringRef::new(value).map_err(bad)?)
            }
            StringKind::Ia5 => Any::encode_from(&ia5(value)?),
        }
        .map_err(bad)?;
        let set = SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }]).map_err(bad)?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// C, ST, L, O, OU, CN, emailAddress: the conventional order, most general first.
fn ca_subject(f: &CertificateFields) -> Result<Name, CryptoError> {
    let required = |v: &str, what: &str| {
        if v.trim().is_empty() {
            Err(CryptoError::NotAllowed(format!(
                "the Organization Certificate needs {what}"
            )))
        } else {
            Ok(())
        }
    };
    required(&f.common_name, "a common name")?;
    required(&f.organization, "an organization")?;
    let mut parts = Vec::new();
    if let Some(c) = opt(&f.country) {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CryptoError::NotAllowed(format!(
                "country {c:?} is not a two-letter ISO 3166 code"
            )));
        }
        parts.push((oids::C, StringKind::Printable, c));
    }
    if let Some(st) = opt(&f.state) {
        parts.push((oids::ST, StringKind::Utf8, st));
    }
    if let Some(l) = opt(&f.locality) {
        parts.push((oids::L, StringKind::Utf8, l));
    }
    parts.push((oids::O, StringKind::Utf8, f.organization.trim()));
    if let Some(ou) = opt(&f.organizational_unit) {
        parts.push((oids::OU, StringKind::Utf8, ou));
    }
    parts.push((oids::CN, StringKind::Utf8, f.common_name.trim()));
    if let Some(mail) = opt(&f.contact_email) {
        if !is_plain_address(mail) {
            return Err(CryptoError::NotAllowed(format!(
                "{mail:?} is not an email address"
            )));
        }
        parts.push((oids::EMAIL_ADDRESS, StringKind::Ia5, mail));
    }
    name(&parts)
}

fn opt(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn is_plain_address(s: &str) -> bool {
    s.is_ascii()
        && !s.contains(char::is_whitespace)
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
}

fn ext<T: Encode>(
    oid: const_oid::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, CryptoError> {
    let der = value.to_der().map_err(cert_err("extension"))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: octets(&der)?,
    })
}

fn aki(key_id: Vec<u8>) -> AuthorityKeyIdentifier {
    AuthorityKeyIdentifier {
        key_identifier: OctetString::new(key_id).ok(),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    }
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes.
fn key_id(spki_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use der::Decode;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(cert_err("public key"))?;
    Ok(openssl::sha::sha1(spki.subject_public_key.raw_bytes()).to_vec())
}

fn octets(bytes: &[u8]) -> Result<OctetString, CryptoError> {
    OctetString::new(bytes).map_err(cert_err("octet string"))
}

fn ia5(s: &str) -> Result<Ia5String, CryptoError> {
    Ia5String::new(s).map_err(|_| CryptoError::NotAllowed(format!("{s:?} must be plain ASCII")))
}

fn serial(bytes: &[u8]) -> Result<SerialNumber, CryptoError> {
    SerialNumber::new(bytes).map_err(cert_err("serial number"))
}

fn time(unix: u64) -> Result<Time, CryptoError> {
    Time::try_from(UNIX_EPOCH + Duration::from_secs(unix)).map_err(cert_err("time"))
}
