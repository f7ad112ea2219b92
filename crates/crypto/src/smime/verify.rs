//! Checking a SignedData: the messageDigest attribute against the exact signed bytes, the
//! signature over the DER SET OF signed attributes, the signer's certificate validity, and
//! whether the certificate was issued by (or is) one of the trusted CA certificates.

use super::cert::{emails, fingerprint, subject_key_id};
use super::keys::{digest_for, verify_signature};
use super::{now, oids};
use crate::{CryptoError, SignatureInfo, SignatureStatus};
use cms::cert::CertificateChoices;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::Encode;
use x509_cert::Certificate;

/// The signed content (the detached bytes, or the encapsulated content) and one
/// [`SignatureInfo`] per SignerInfo.
pub(crate) fn verify_signed_data(
    sd: &SignedData,
    detached: Option<&[u8]>,
    trusted: &[Vec<u8>],
) -> Result<(Vec<u8>, Vec<SignatureInfo>), CryptoError> {
    let content = match (detached, &sd.encap_content_info.econtent) {
        (Some(bytes), _) => bytes.to_vec(),
        (None, Some(any)) => {
            // id-data content is an OCTET STRING; its value is the signed bytes.
            any.decode_as::<der::asn1::OctetString>()
                .map(|o| o.into_bytes())
                .map_err(|e| {
                    CryptoError::Smime(format!("the signed content is not an OCTET STRING: {e}"))
                })?
        }
        (None, None) => {
            return Err(CryptoError::Smime(
                "the signed data holds no content (a certificate bundle, or a lost detached part)"
                    .into(),
            ));
        }
    };
    if sd.signer_infos.0.is_empty() {
        return Err(CryptoError::Smime(
            "the signed data has no signatures".into(),
        ));
    }
    let certs: Vec<&Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let mut results = Vec::with_capacity(sd.signer_infos.0.len());
    for si in sd.signer_infos.0.iter() {
        results.push(check_signer(
            si,
            &content,
            &sd.encap_content_info.econtent_type,
            &certs,
            trusted,
        )?);
    }
    Ok((content, results))
}

/// The certificates a SignedData carries, DER.
pub(crate) fn carried_certificates(sd: &SignedData) -> Vec<Vec<u8>> {
    sd.certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => cert.to_der().ok(),
            CertificateChoices::Other(_) => None,
        })
        .collect()
}

/// Whether a certificate reaches one of the `trusted` ones (DER): it is one of them, is issued
/// by one, or is issued by a CA in `chain` that is. What "Require verified key" asks of an
/// S/MIME certificate.
pub fn chain_is_trusted(cert_der: &[u8], chain: &[Vec<u8>], trusted: &[Vec<u8>]) -> bool {
    if is_trusted(cert_der, trusted) {
        return true;
    }
    let certs: Vec<Certificate> = chain
        .iter()
        .filter_map(|d| <Certificate as der::Decode>::from_der(d).ok())
        .collect();
    let refs: Vec<&Certificate> = certs.iter().collect();
    via_intermediate(cert_der, &refs, trusted)
}

fn check_signer(
    si: &SignerInfo,
    content: &[u8],
    content_type: &const_oid::ObjectIdentifier,
    certs: &[&Certificate],
    trusted: &[Vec<u8>],
) -> Result<SignatureInfo, CryptoError> {
    let Some(cert) = certs.iter().find(|c| identifies(&si.sid, c)) else {
        // Without the certificate there is nothing to check against.
        return Ok(SignatureInfo {
            status: SignatureStatus::UnknownSigner,
            signer: Vec::new(),
            fingerprint: None,
            key_id: None,
            created: None,
        });
    };
    let cert_der = cert
        .to_der()
        .map_err(|e| CryptoError::Certificate(format!("signer certificate: {e}")))?;
    let mut info = SignatureInfo {
        status: SignatureStatus::Bad,
        signer: emails(cert),
        fingerprint: Some(fingerprint(&cert_der)),
        key_id: None,
        created: None,
    };
    let Some(digest) = digest_for(&si.digest_alg.oid) else {
        return Err(CryptoError::Smime(format!(
            "unsupported digest algorithm {}",
            si.digest_alg.oid
        )));
    };
    let content_digest = openssl::hash::hash(digest, content)
        .map_err(|e| CryptoError::Smime(format!("hashing failed: {e}")))?;
    let signed_bytes = match &si.signed_attrs {
        Some(attrs) => {
            let attr = |oid| {
                attrs
                    .iter()
                    .find(|a| a.oid == oid)
                    .and_then(|a| a.values.iter().next())
            };
            let md = attr(oids::ID_MESSAGE_DIGEST)
                .and_then(|v| v.decode_as::<der::asn1::OctetString>().ok());
            if md.as_ref().map(|m| m.as_bytes()) != Some(&content_digest[..]) {
                return Ok(info);
            }
            let ct = attr(oids::ID_CONTENT_TYPE)
                .and_then(|v| v.decode_as::<const_oid::ObjectIdentifier>().ok());
            if ct.as_ref() != Some(content_type) {
                return Ok(info);
            }
            info.created = attr(oids::ID_SIGNING_TIME)
                .and_then(|v| v.to_der().ok())
                .and_then(|d| <x509_cert::time::Time as der::Decode>::from_der(&d).ok())
                .map(|t| t.to_unix_duration().as_secs());
            // RFC 5652 §5.4: the signature covers the DER SET OF, with its universal tag.
            attrs
                .to_der()
                .map_err(|e| CryptoError::Smime(format!("signed attributes: {e}")))?
        }
        None => content.to_vec(),
    };
    let sig_alg = &si.signature_algorithm.oid;
    let sig_digest = if *sig_alg == oids::RSA_ENCRYPTION || *sig_alg == oids::EC_PUBLIC_KEY {
        Some(digest)
    } else {
        digest_for(sig_alg)
    };
    let Some(sig_digest) = sig_digest else {
        // RSA-PSS, Ed25519, ... : not something we can vouch for.
        return Ok(info);
    };
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CryptoError::Certificate(format!("signer key: {e}")))?;
    if !verify_signature(&spki, sig_digest, &signed_bytes, si.signature.as_bytes())? {
        return Ok(info);
    }
    let validity = &cert.tbs_certificate.validity;
    let now = now();
    info.status = if now < validity.not_before.to_unix_duration().as_secs() {
        SignatureStatus::KeyNotValid(format!(
            "the signer's certificate is not valid before {}",
            validity.not_before
        ))
    } else if now > validity.not_after.to_unix_duration().as_secs() {
        SignatureStatus::KeyNotValid(format!(
            "the signer's certificate expired on {}",
            validity.not_after
        ))
    } else if is_trusted(&cert_der, trusted) || via_intermediate(&cert_der, certs, trusted) {
        SignatureStatus::Good
    } else {
        SignatureStatus::UnknownSigner
    };
    Ok(info)
}

fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == cert.tbs_certificate.issuer
                && isn.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            subject_key_id(cert).is_some_and(|id| id == ski.0.as_bytes())
        }
    }
}

/// The signer's certificate was issued by a CA certificate the message carries, which is
/// itself trusted or issued by a trusted CA: the usual shape for commercial CAs.
fn via_intermediate(cert_der: &[u8], certs: &[&Certificate], trusted: &[Vec<u8>]) -> bool {
    certs.iter().filter(|c| super::cert::is_ca(c)).any(|ca| {
        let Ok(ca_der) = ca.to_der() else {
            return false;
        };
        ca_der != cert_der
            && is_trusted(&ca_der, trusted)
            && is_trusted(cert_der, std::slice::from_ref(&ca_der))
    })
}

/// The certificate is one of `trusted`, or was issued by one of them: names (and key
/// identifiers, if present) match and the trusted certificate's key verifies its signature.
fn is_trusted(cert_der: &[u8], trusted: &[Vec<u8>]) -> bool {
    use openssl::x509::{X509, X509VerifyResult};
    if trusted.iter().any(|t| t == cert_der) {
        return true;
    }
    let Ok(cert) = X509::from_der(cert_der) else {
        return false;
    };
    trusted.iter().any(|ca_der| {
        let Ok(ca) = X509::from_der(ca_der) else {
            return false;
        };
        ca.issued(&cert) == X509VerifyResult::OK
            && ca
                .public_key()
                .and_then(|k| cert.verify(&k))
                .unwrap_or(false)
    })
}
