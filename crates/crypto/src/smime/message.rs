//! Making S/MIME messages (RFC 8551): multipart/signed with a detached SignedData, and
//! application/pkcs7-mime enveloped-data. Input and output are whole RFC 5322 messages; the
//! routing header fields are kept and the content fields move into the protected entity.

use super::cert::decode;
use super::ecdh::KariBuilder;
use super::keys::PrivateKey;
use super::{SmimeIdentity, now, oids, smime_err};
use crate::CryptoError;
use crate::mime::{self, base64_lines};
use cms::builder::{
    ContentEncryptionAlgorithm, EnvelopedDataBuilder, KeyEncryptionInfo,
    KeyTransRecipientInfoBuilder,
};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::RecipientIdentifier;
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

/// Signs a message: the result is multipart/signed (protocol application/pkcs7-signature,
/// micalg sha-256) whose first part is the original content, made 7-bit safe first, and whose
/// second part is a detached SignedData with contentType, messageDigest and signingTime
/// signed attributes and the signer's certificate plus `chain` (DER CA certificates).
pub fn sign(
    message: &[u8],
    signer: &SmimeIdentity,
    chain: &[Vec<u8>],
) -> Result<Vec<u8>, CryptoError> {
    let split = mime::split(message)?;
    let entity = seven_bit(&split.content_entity(), 0)?;
    let signed_data = signed_data(&entity, signer, chain)?;
    let boundary = mime::new_boundary();
    let mut out = Vec::with_capacity(entity.len() + signed_data.len() * 2 + 512);
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n micalg=sha-256; boundary=\"{boundary}\"\r\n\r\nThis is an S/MIME signed message.\r\n--{boundary}\r\n"
        )
        .as_bytes(),
    );
    // The signed content ends where the CRLF before the next delimiter starts (RFC 1847).
    out.extend_from_slice(&entity);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&base64_lines(&signed_data));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(mime::assemble(&split, &out))
}

/// Encrypts a message to the recipients' certificates (DER): application/pkcs7-mime
/// enveloped-data, AES-256-CBC content, RSA PKCS#1 v1.5 key transport identified by issuer
/// and serial for RSA certificates; for EC (P-256) certificates ephemeral-static ECDH
/// (dhSinglePass-stdDH-sha256kdf-scheme, aes256-wrap; RFC 5753). Other key types are refused
/// with [`CryptoError::NoKey`].
pub fn encrypt(message: &[u8], recipients: &[&[u8]]) -> Result<Vec<u8>, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoKey(
            "no recipient certificate to encrypt to".into(),
        ));
    }
    let split = mime::split(message)?;
    let entity = split.content_entity();
    // The builders want rand_core 0.6 RNGs (toolchain pitfall 7), one borrowed per recipient
    // for as long as the builder lives.
    let mut rngs = vec![rsa::rand_core::OsRng; recipients.len()];
    let mut builder =
        EnvelopedDataBuilder::new(None, &entity, ContentEncryptionAlgorithm::Aes256Cbc, None)
            .map_err(smime_err("cannot start the enveloped data"))?;
    for (der, rng) in recipients.iter().zip(rngs.iter_mut()) {
        let cert = decode(der)?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let isn = IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        };
        let spki_der = spki.to_der().map_err(smime_err("recipient key"))?;
        if spki.algorithm.oid == oids::EC_PUBLIC_KEY {
            let recipient = openssl::pkey::PKey::public_key_from_der(&spki_der).map_err(|e| {
                CryptoError::Certificate(format!("unusable EC key in a recipient certificate: {e}"))
            })?;
            builder
                .add_recipient_info(KariBuilder {
                    rid: isn,
                    recipient,
                })
                .map_err(smime_err("cannot add a recipient"))?;
            continue;
        }
        if spki.algorithm.oid != oids::RSA_ENCRYPTION {
            return Err(CryptoError::NoKey(format!(
                "{}: the certificate's key ({}) cannot be encrypted to",
                super::cert::emails(&cert).join(", "),
                spki.algorithm.oid
            )));
        }
        let public = {
            use rsa::pkcs8::DecodePublicKey;
            rsa::RsaPublicKey::from_public_key_der(&spki_der).map_err(|e| {
                CryptoError::Certificate(format!(
                    "unusable RSA key in a recipient certificate: {e}"
                ))
            })?
        };
        let rid = RecipientIdentifier::IssuerAndSerialNumber(isn);
        let info = KeyTransRecipientInfoBuilder::new(rid, KeyEncryptionInfo::Rsa(public), rng)
            .map_err(smime_err("cannot add a recipient"))?;
        builder
            .add_recipient_info(info)
            .map_err(smime_err("cannot add a recipient"))?;
    }
    let enveloped = builder
        .build_with_rng(&mut rsa::rand_core::OsRng)
        .map_err(smime_err("cannot encrypt"))?;
    let ci = ContentInfo {
        content_type: oids::ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(smime_err("cannot encode"))?,
    };
    let der = ci.to_der().map_err(smime_err("cannot encode"))?;
    let mut out = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n".to_vec();
    out.extend_from_slice(&base64_lines(&der));
    Ok(mime::assemble(&split, &out))
}

/// Signs, then encrypts the signed message (RFC 8551 §3.6): recipients see who signed only
/// after decrypting.
pub fn encrypt_and_sign(
    message: &[u8],
    signer: &SmimeIdentity,
    chain: &[Vec<u8>],
    recipients: &[&[u8]],
) -> Result<Vec<u8>, CryptoError> {
    encrypt(&sign(message, signer, chain)?, recipients)
}

/// True if the message is S/MIME at the top level: application/(x-)pkcs7-mime, or
/// multipart/signed with a PKCS#7 signature protocol. Looks at the header block only.
pub fn smime_content(message: &[u8]) -> bool {
    let Ok(split) = mime::split(message) else {
        return false;
    };
    let Some(ct) = split.field("content-type") else {
        return false;
    };
    let value = ct.value().to_ascii_lowercase();
    value.starts_with("application/pkcs7-mime")
        || value.starts_with("application/x-pkcs7-mime")
        || (value.starts_with("multipart/signed") && value.contains("pkcs7-signature"))
}

/// A detached SignedData (DER ContentInfo) over `content`.
fn signed_data(
    content: &[u8],
    signer: &SmimeIdentity,
    chain: &[Vec<u8>],
) -> Result<Vec<u8>, CryptoError> {
    let enc = smime_err("cannot encode the signature");
    let cert = decode(&signer.cert_der)?;
    let key = PrivateKey::parse(&signer.key_pkcs8_der)?;
    let public = openssl::x509::X509::from_der(&signer.cert_der)
        .and_then(|c| c.public_key())
        .map_err(super::cert_err(
            "unusable public key in the signer's certificate",
        ))?;
    if !key.matches(&public) {
        return Err(CryptoError::NoKey(
            "the signing key does not belong to the signer's certificate".into(),
        ));
    }
    let digest = openssl::sha::sha256(content);
    let attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
        attribute(oids::ID_CONTENT_TYPE, Any::encode_from(&oids::ID_DATA))?,
        attribute(
            oids::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest.to_vec()).map_err(smime_err("digest"))?),
        )?,
        attribute(
            oids::ID_SIGNING_TIME,
            Any::encode_from(
                &x509_cert::time::Time::try_from(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(now()),
                )
                .map_err(smime_err("time"))?,
            ),
        )?,
    ])
    .map_err(smime_err("signed attributes"))?;
    // The signature covers the DER SET OF, not the [0] IMPLICIT form in the SignerInfo.
    let signature = key.sign_sha256(&attrs.to_der().map_err(smime_err("signed attributes"))?)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: oids::SHA256,
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: key.cms_signature_algorithm(),
        signature: OctetString::new(signature).map_err(smime_err("signature"))?,
        unsigned_attrs: None,
    };
    let mut certs = vec![CertificateChoices::Certificate(cert)];
    for der in chain {
        certs.push(CertificateChoices::Certificate(decode(der)?));
    }
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])
            .map_err(smime_err("digest algorithms"))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(certs).map_err(smime_err("certificates"))?,
        )),
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![signer_info]).map_err(smime_err("signer infos"))?,
        ),
    };
    let ci = ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc)?,
    };
    ci.to_der()
        .map_err(smime_err("cannot encode the signature"))
}

fn attribute(
    oid: const_oid::ObjectIdentifier,
    value: der::Result<Any>,
) -> Result<Attribute, CryptoError> {
    let value = value.map_err(smime_err("attribute"))?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(smime_err("attribute"))?,
    })
}

/// Makes an entity safe for 7-bit transport, so a relay's 8BITMIME downgrade cannot change
/// the signed bytes: a leaf body with 8-bit bytes, NULs or lines over 998 octets is
/// re-encoded base64; multipart bodies are rebuilt part by part. Already-safe entities are
/// returned unchanged (byte for byte).
pub(crate) fn seven_bit(entity: &[u8], depth: usize) -> Result<Vec<u8>, CryptoError> {
    if is_seven_bit(entity) {
        return Ok(entity.to_vec());
    }
    if depth > 16 {
        return Err(CryptoError::Mime("MIME structure nested too deeply".into()));
    }
    // A part with no header fields at all is text/plain (RFC 2045 §5.2); say so, so that
    // it can be given a transfer encoding.
    let entity = if entity.starts_with(b"\r\n") {
        [
            &b"Content-Type: text/plain; charset=us-ascii\r\n"[..],
            entity,
        ]
        .concat()
    } else {
        entity.to_vec()
    };
    let part = mime::split(&entity)?;
    let content_type = part
        .field("content-type")
        .map(|f| f.value())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(entity.len() * 4 / 3 + 256);
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let Some(boundary) = parameter(&content_type, "boundary") else {
            return Err(CryptoError::Mime(
                "a multipart entity has no boundary".into(),
            ));
        };
        for field in &part.fields {
            out.extend_from_slice(&field.raw);
        }
        out.extend_from_slice(b"\r\n");
        let Multipart {
            preamble,
            parts,
            epilogue,
        } = split_multipart(&part.body, &boundary).ok_or_else(|| {
            CryptoError::Mime("a multipart entity has no closing boundary".into())
        })?;
        out.extend_from_slice(&ascii_only(preamble));
        for p in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            out.extend_from_slice(&seven_bit(p, depth + 1)?);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out.extend_from_slice(&ascii_only(epilogue));
        return Ok(out);
    }
    // A leaf: decode nothing (8bit/binary bodies are the raw octets), just re-encode.
    for field in part
        .fields
        .iter()
        .filter(|f| !f.name.eq_ignore_ascii_case("content-transfer-encoding"))
    {
        out.extend_from_slice(&field.raw);
    }
    if part.field("content-type").is_none() {
        out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n");
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out.extend_from_slice(&base64_lines(&part.body));
    Ok(out)
}

fn is_seven_bit(data: &[u8]) -> bool {
    data.iter().all(|&b| b != 0 && b < 0x80) && data.split(|&b| b == b'\n').all(|l| l.len() <= 999)
}

fn ascii_only(data: &[u8]) -> Vec<u8> {
    data.iter()
        .map(|&b| if b >= 0x80 || b == 0 { b'?' } else { b })
        .collect()
}

/// A multipart body cut at its delimiters.
pub(crate) struct Multipart<'a> {
    pub preamble: &'a [u8],
    /// Each part without the CRLF that belongs to the next delimiter (RFC 2046 §5.1.1).
    pub parts: Vec<&'a [u8]>,
    pub epilogue: &'a [u8],
}

/// Splits a multipart body (CRLF) at its `--boundary` lines. None without a closing
/// delimiter.
pub(crate) fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Multipart<'a>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // Positions of lines that start with the delimiter.
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos <= body.len() {
        let line_end = body[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| pos + i)
            .unwrap_or(body.len());
        let line = &body[pos..line_end];
        if line.starts_with(delimiter) {
            let rest = &line[delimiter.len()..];
            let closing = rest.starts_with(b"--");
            let tail = if closing { &rest[2..] } else { rest };
            if tail.iter().all(|b| *b == b' ' || *b == b'\t') {
                starts.push((pos, line_end, closing));
                if closing {
                    break;
                }
            }
        }
        if line_end >= body.len() {
            break;
        }
        pos = line_end + 2;
    }
    let (_, close_end, closing) = *starts.last()?;
    if !closing {
        return None;
    }
    let first = starts.first()?.0;
    let preamble = &body[..first];
    let mut parts = Vec::new();
    for pair in starts.windows(2) {
        let (_, open_end, _) = pair[0];
        let (next_start, _, _) = pair[1];
        let from = (open_end + 2).min(next_start);
        // The CRLF before a delimiter belongs to the delimiter.
        let to = next_start.saturating_sub(2).max(from);
        parts.push(&body[from..to]);
    }
    let epilogue = body.get(close_end + 2..).unwrap_or(&[]);
    Some(Multipart {
        preamble,
        parts,
        epilogue,
    })
}

/// A parameter of a structured header value (`boundary`, `smime-type`, `protocol`), with
/// quotes removed. Parameter names are case-insensitive.
pub(crate) fn parameter(value: &str, name: &str) -> Option<String> {
    let mut rest = value.split_once(';')?.1;
    loop {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(';').trim();
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            let next = quoted[end..].split_once(';').map(|(_, n)| n).unwrap_or("");
            (out, next)
        } else {
            let (v, n) = after.split_once(';').unwrap_or((after, ""));
            (v.trim().to_string(), n)
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(val);
        }
        if next.trim().is_empty() {
            return None;
        }
        rest = next;
    }
}

/// Parses a CMS ContentInfo. The `der` crate reads DER only, but many clients (NSS in
/// Thunderbird, streaming OpenSSL) send BER with indefinite lengths and chunked OCTET
/// STRINGs; those are re-encoded through OpenSSL's CMS parser, which writes definite
/// lengths. Signatures are unaffected: they cover the DER form of the signed attributes.
pub(crate) fn decode_ci(der: &[u8]) -> Result<ContentInfo, CryptoError> {
    let first = match ContentInfo::from_der(der) {
        Ok(ci) => return Ok(ci),
        Err(e) => e,
    };
    let normalized = openssl::cms::CmsContentInfo::from_der(der).and_then(|cms| cms.to_der());
    match normalized {
        Ok(bytes) => ContentInfo::from_der(&bytes)
            .map_err(|e| CryptoError::Smime(format!("not a CMS/PKCS#7 structure: {e}"))),
        Err(_) => Err(CryptoError::Smime(format!(
            "not a CMS/PKCS#7 structure: {first}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_quoted_and_plain() {
        let v = r#"multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="a;b=\"c""#;
        assert_eq!(
            parameter(v, "PROTOCOL").as_deref(),
            Some("application/pkcs7-signature")
        );
        assert_eq!(parameter(v, "micalg").as_deref(), Some("sha-256"));
        assert_eq!(parameter(v, "boundary").as_deref(), Some("a;b=\"c"));
        assert_eq!(parameter(v, "charset"), None);
        assert_eq!(parameter("text/plain", "charset"), None);
    }

    #[test]
    fn multipart_parts_exclude_the_delimiter_crlf() {
        let body = b"pre\r\n--B\r\nA: 1\r\n\r\none\r\n--B\r\n\r\ntwo\r\n--B--\r\nepi\r\n";
        let m = split_multipart(body, "B").unwrap();
        assert_eq!(m.preamble, b"pre\r\n");
        assert_eq!(m.parts, [&b"A: 1\r\n\r\none"[..], &b"\r\ntwo"[..]]);
        assert_eq!(m.epilogue, b"epi\r\n");
        assert!(split_multipart(b"--B\r\nx\r\n", "B").is_none());
    }

    #[test]
    fn eight_bit_leaves_are_base64_encoded_inside_multiparts() {
        let entity = "Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n--X\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n--X--\r\n";
        let out = seven_bit(entity.as_bytes(), 0).unwrap();
        assert!(out.is_ascii());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\n\r\nplain\r\n--X\r\n"), "{text}");
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\nR3LDvMOfZQ==\r\n"),
            "{text}"
        );
        assert!(!text.contains("8bit"));
        let ascii = b"Content-Type: text/plain\r\n\r\nhello\r\n";
        assert_eq!(seven_bit(ascii, 0).unwrap(), ascii);
    }
}
