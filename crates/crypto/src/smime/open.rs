//! Opening S/MIME messages: decrypt enveloped-data with our users' keys, verify multipart/signed
//! and opaque signed-data, recursively (signed-then-encrypted has a signed entity inside), and
//! put the innermost entity back under the message's routing headers.

use super::cert::{decode, render_issuer_serial, subject_key_id};
use super::keys::PrivateKey;
use super::message::{decode_ci, parameter, split_multipart};
use super::verify::{carried_certificates, verify_signed_data};
use super::{SmimeIdentity, ecdh, oids};
use crate::mime;
use crate::{Annotation, CryptoError, Format, OpenedMessage, SignatureInfo};
use cms::enveloped_data::{
    EnvelopedData, KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, KeyTransRecipientInfo,
    RecipientIdentifier, RecipientInfo,
};
use cms::signed_data::SignedData;

/// How many S/MIME layers are unwrapped at most (encrypt, sign, and a spare).
const MAX_LAYERS: usize = 4;

#[derive(Default)]
struct Found {
    was_encrypted: bool,
    encrypted_to: Vec<String>,
    signatures: Vec<SignatureInfo>,
    /// Every certificate the signed layers carry (DER), for [`signer_certificates`].
    certificates: Vec<Vec<u8>>,
}

/// Decrypts and verifies an S/MIME message with our users' `identities` (for decryption) and
/// the `trusted` CA certificates (DER; for signer status). Returns the restored message: the
/// original routing header fields over the innermost entity, and what was found.
///
/// Errors: not S/MIME, malformed data, [`CryptoError::NoKey`] when none of the recipients
/// is ours, [`CryptoError::Decrypt`] when our key does not open it. A signature that does not
/// hold is not an error: it is reported as [`crate::SignatureStatus::Bad`].
pub fn open(
    message: &[u8],
    identities: &[SmimeIdentity],
    trusted: &[Vec<u8>],
) -> Result<OpenedMessage, CryptoError> {
    let split = mime::split(message)?;
    let mut found = Found::default();
    let inner = unwrap(&split.content_entity(), identities, trusted, &mut found, 0)?;
    if !found.was_encrypted && found.signatures.is_empty() {
        return Err(CryptoError::Smime(
            "the message is not S/MIME signed or encrypted".into(),
        ));
    }
    Ok(OpenedMessage {
        message: mime::assemble(&split, &inner),
        annotation: Annotation {
            format: Format::Smime,
            was_encrypted: found.was_encrypted,
            encrypted_to: found.encrypted_to,
            signatures: found.signatures,
            whole_message: true,
        },
    })
}

/// A signer's certificate from a signed S/MIME message, with the other certificates the
/// message carries (its chain, as the sender sent it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCertificate {
    pub cert_der: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

/// The certificates of the signers whose signatures hold over what they sign (whether or not
/// their issuer is trusted) in a message that is signed, not encrypted: what a key cache may
/// harvest. Anything else (encrypted, unsigned, malformed, a bad or expired signature) gives
/// none.
pub fn signer_certificates(message: &[u8]) -> Vec<SignerCertificate> {
    let Ok(split) = mime::split(message) else {
        return Vec::new();
    };
    let mut found = Found::default();
    if unwrap(&split.content_entity(), &[], &[], &mut found, 0).is_err() || found.was_encrypted {
        return Vec::new();
    }
    let fingerprints: Vec<(String, &Vec<u8>)> = found
        .certificates
        .iter()
        .map(|der| (super::cert::fingerprint(der), der))
        .collect();
    found
        .signatures
        .iter()
        // With no trusted CA, a signature that holds reads "unknown signer" with the
        // certificate's fingerprint; without the certificate it has none.
        .filter(|s| {
            matches!(
                s.status,
                crate::SignatureStatus::Good | crate::SignatureStatus::UnknownSigner
            )
        })
        .filter_map(|s| s.fingerprint.as_ref())
        .filter_map(|fpr| {
            let (_, der) = fingerprints.iter().find(|(f, _)| f == fpr)?;
            Some(SignerCertificate {
                cert_der: (*der).clone(),
                chain: found
                    .certificates
                    .iter()
                    .filter(|c| c != der)
                    .cloned()
                    .collect(),
            })
        })
        .collect()
}

fn unwrap(
    entity: &[u8],
    identities: &[SmimeIdentity],
    trusted: &[Vec<u8>],
    found: &mut Found,
    depth: usize,
) -> Result<Vec<u8>, CryptoError> {
    if depth >= MAX_LAYERS {
        return Ok(entity.to_vec());
    }
    let entity = as_entity(entity);
    let entity = entity.as_slice();
    let part = mime::split(entity)?;
    let content_type = part
        .field("content-type")
        .map(|f| f.value())
        .unwrap_or_default();
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            let der = body_bytes(&part)?;
            let ci = decode_ci(&der)?;
            if ci.content_type == oids::ID_ENVELOPED_DATA {
                let ed: EnvelopedData = ci
                    .content
                    .decode_as()
                    .map_err(|e| CryptoError::Smime(format!("malformed enveloped data: {e}")))?;
                let content = decrypt(&ed, identities, found)?;
                found.was_encrypted = true;
                unwrap(
                    &mime::to_crlf(&content),
                    identities,
                    trusted,
                    found,
                    depth + 1,
                )
            } else if ci.content_type == oids::ID_SIGNED_DATA {
                let sd: SignedData = ci
                    .content
                    .decode_as()
                    .map_err(|e| CryptoError::Smime(format!("malformed signed data: {e}")))?;
                let (content, signatures) = verify_signed_data(&sd, None, trusted)?;
                found.signatures.extend(signatures);
                found.certificates.extend(carried_certificates(&sd));
                unwrap(
                    &mime::to_crlf(&content),
                    identities,
                    trusted,
                    found,
                    depth + 1,
                )
            } else {
                Err(CryptoError::Smime(format!(
                    "unsupported CMS content type {}",
                    ci.content_type
                )))
            }
        }
        "multipart/signed"
            if parameter(&content_type, "protocol")
                .is_some_and(|p| p.to_ascii_lowercase().ends_with("pkcs7-signature")) =>
        {
            let boundary = parameter(&content_type, "boundary")
                .ok_or_else(|| CryptoError::Mime("multipart/signed without a boundary".into()))?;
            let parts = split_multipart(&part.body, &boundary).ok_or_else(|| {
                CryptoError::Mime("multipart/signed without its closing boundary".into())
            })?;
            let [signed, signature, ..] = parts.parts.as_slice() else {
                return Err(CryptoError::Mime("multipart/signed needs two parts".into()));
            };
            let sig_part = mime::split(signature)?;
            let ci = decode_ci(&body_bytes(&sig_part)?)?;
            if ci.content_type != oids::ID_SIGNED_DATA {
                return Err(CryptoError::Smime(
                    "the signature part is not a CMS SignedData".into(),
                ));
            }
            let sd: SignedData = ci
                .content
                .decode_as()
                .map_err(|e| CryptoError::Smime(format!("malformed signature: {e}")))?;
            let (_, signatures) = verify_signed_data(&sd, Some(signed), trusted)?;
            found.signatures.extend(signatures);
            found.certificates.extend(carried_certificates(&sd));
            unwrap(signed, identities, trusted, found, depth + 1)
        }
        _ => Ok(entity.to_vec()),
    }
}

/// What a layer held, as a MIME entity. RFC 8551 says it is one, but some senders encrypt or
/// sign bare text, or an entity with no header fields (all defaults).
fn as_entity(content: &[u8]) -> Vec<u8> {
    if content.starts_with(b"\r\n") {
        return [
            &b"Content-Type: text/plain; charset=us-ascii\r\n"[..],
            content,
        ]
        .concat();
    }
    if mime::split(content).is_ok() {
        return content.to_vec();
    }
    if std::str::from_utf8(content).is_ok() {
        [
            &b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                [..],
            content,
        ]
        .concat()
    } else {
        let mut out =
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                .to_vec();
        out.extend_from_slice(&mime::base64_lines(content));
        out
    }
}

/// The body's octets: base64 decoded (whitespace ignored) or taken as is for 7bit, 8bit and
/// binary. Other encodings make no sense for a CMS structure.
fn body_bytes(part: &mime::SplitMessage) -> Result<Vec<u8>, CryptoError> {
    use base64::Engine;
    let cte = part
        .field("content-transfer-encoding")
        .map(|f| f.value().to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => {
            let clean: Vec<u8> = part
                .body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .map_err(|e| {
                    CryptoError::Smime(format!("the S/MIME body is not valid base64: {e}"))
                })
        }
        "" | "7bit" | "8bit" | "binary" => Ok(part.body.clone()),
        other => Err(CryptoError::Smime(format!(
            "unexpected transfer encoding {other} for S/MIME data"
        ))),
    }
}

/// Finds our RecipientInfo, unwraps the content-encryption key with our RSA key (OpenSSL,
/// PKCS#1 v1.5 or OAEP with SHA-1) or by ECDH with our EC key (RFC 5753) and decrypts the AES-CBC (or 3DES-CBC) content. Records every
/// recipient the message names in `found.encrypted_to`.
fn decrypt(
    ed: &EnvelopedData,
    identities: &[SmimeIdentity],
    found: &mut Found,
) -> Result<Vec<u8>, CryptoError> {
    let mut ours = Vec::new();
    for ri in ed.recip_infos.0.iter() {
        match ri {
            RecipientInfo::Ktri(ktri) => {
                found.encrypted_to.push(match &ktri.rid {
                    RecipientIdentifier::IssuerAndSerialNumber(isn) => {
                        render_issuer_serial(&isn.issuer, &isn.serial_number)
                    }
                    RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                        format!("key identifier {}", hex::encode_upper(ski.0.as_bytes()))
                    }
                });
                for id in identities {
                    if recipient_matches(&ktri.rid, id) {
                        ours.push(Candidate::Ktri(id, ktri));
                    }
                }
            }
            RecipientInfo::Kari(kari) => {
                for rek in kari.recipient_enc_keys.iter() {
                    for id in identities {
                        if kari_matches(&rek.rid, id) {
                            ours.push(Candidate::Kari(id, kari, rek.enc_key.as_bytes()));
                        }
                    }
                    found.encrypted_to.push(match &rek.rid {
                        KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(isn) => {
                            render_issuer_serial(&isn.issuer, &isn.serial_number)
                        }
                        KeyAgreeRecipientIdentifier::RKeyId(rkid) => format!(
                            "key identifier {}",
                            hex::encode_upper(rkid.subject_key_identifier.0.as_bytes())
                        ),
                    });
                }
            }
            _ => found
                .encrypted_to
                .push("a non-certificate recipient (password or shared key)".into()),
        }
    }
    if ours.is_empty() {
        return Err(CryptoError::NoKey(format!(
            "the message is encrypted to {}; none of these is a certificate we hold a key for",
            if found.encrypted_to.is_empty() {
                "nobody".to_string()
            } else {
                found.encrypted_to.join("; ")
            }
        )));
    }
    let mut last = CryptoError::Decrypt("the content could not be decrypted with our key".into());
    for candidate in ours {
        let attempt = match candidate {
            Candidate::Ktri(id, ktri) => {
                let key = PrivateKey::parse(&id.key_pkcs8_der)?;
                let oaep = match ktri.key_enc_alg.oid {
                    oids::RSA_ENCRYPTION => false,
                    oids::RSAES_OAEP => true,
                    other => {
                        return Err(CryptoError::Decrypt(format!(
                            "unsupported key transport algorithm {other}"
                        )));
                    }
                };
                key.rsa_decrypt(ktri.enc_key.as_bytes(), oaep)
            }
            Candidate::Kari(id, kari, wrapped) => {
                let key = PrivateKey::parse(&id.key_pkcs8_der)?;
                ecdh::unwrap(kari, wrapped, key.pkey())
            }
        };
        match attempt.and_then(|cek| decrypt_content(ed, &cek)) {
            Ok(content) => return Ok(content),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One of our identities and the RecipientInfo that names it.
enum Candidate<'a> {
    Ktri(&'a SmimeIdentity, &'a KeyTransRecipientInfo),
    Kari(&'a SmimeIdentity, &'a KeyAgreeRecipientInfo, &'a [u8]),
}

fn kari_matches(rid: &KeyAgreeRecipientIdentifier, id: &SmimeIdentity) -> bool {
    let Ok(cert) = decode(&id.cert_der) else {
        return false;
    };
    match rid {
        KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == cert.tbs_certificate.issuer
                && isn.serial_number == cert.tbs_certificate.serial_number
        }
        KeyAgreeRecipientIdentifier::RKeyId(rkid) => {
            subject_key_id(&cert).is_some_and(|k| k == rkid.subject_key_identifier.0.as_bytes())
        }
    }
}

fn recipient_matches(rid: &RecipientIdentifier, id: &SmimeIdentity) -> bool {
    let Ok(cert) = decode(&id.cert_der) else {
        return false;
    };
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == cert.tbs_certificate.issuer
                && isn.serial_number == cert.tbs_certificate.serial_number
        }
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            subject_key_id(&cert).is_some_and(|k| k == ski.0.as_bytes())
        }
    }
}

fn decrypt_content(ed: &EnvelopedData, cek: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    let eci = &ed.encrypted_content;
    let alg = &eci.content_enc_alg;
    let iv = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::OctetString>().ok())
        .ok_or_else(|| CryptoError::Smime("the content-encryption algorithm has no IV".into()))?;
    let ciphertext = eci
        .encrypted_content
        .as_ref()
        .ok_or_else(|| CryptoError::Smime("the encrypted content is missing (detached)".into()))?
        .as_bytes()
        .to_vec();
    let (iv, ct) = (iv.as_bytes(), ciphertext.as_slice());
    let fail = || CryptoError::Decrypt("the content could not be decrypted with our key".into());
    let plain: Result<Vec<u8>, _> = match alg.oid {
        oids::AES128_CBC => cbc::Decryptor::<aes::Aes128>::new_from_slices(cek, iv)
            .map_err(|_| fail())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| fail()),
        oids::AES192_CBC => cbc::Decryptor::<aes::Aes192>::new_from_slices(cek, iv)
            .map_err(|_| fail())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| fail()),
        oids::AES256_CBC => cbc::Decryptor::<aes::Aes256>::new_from_slices(cek, iv)
            .map_err(|_| fail())?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| fail()),
        // 3DES is still what `openssl cms -encrypt` and older clients default to.
        oids::DES_EDE3_CBC => {
            openssl::symm::decrypt(openssl::symm::Cipher::des_ede3_cbc(), cek, Some(iv), ct)
                .map_err(|_| fail())
        }
        other => {
            return Err(CryptoError::Decrypt(format!(
                "unsupported content encryption {other} (AES-CBC and 3DES-CBC only)"
            )));
        }
    };
    plain
}
