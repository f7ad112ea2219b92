//! Whole-message OpenPGP transforms: PGP/MIME (RFC 3156) and inline PGP ("PGP
//! partitioned"). Messages go in and come out as RFC 5322 bytes; routing header fields
//! (From, To, Subject, Date, Message-ID, Received...) are kept as they were, the output uses
//! CRLF line endings.
//!
//! Inline PGP, as done here:
//! - each text/plain part (not an attachment) is replaced by an armored OpenPGP message of
//!   its decoded text (the part stays text/plain, us-ascii, 7bit); a single-part text
//!   message simply becomes the armor block;
//! - every other leaf (attachments, HTML) is encrypted to an `application/octet-stream`
//!   attachment named `<name>.pgp` (binary OpenPGP, base64);
//! - a multipart/alternative with a text/plain version is reduced to that version before
//!   encrypting: the HTML rendering of the same text would otherwise travel as an opaque
//!   attachment the recipient's client cannot show.
//! - inline signing clear-signs each text/plain part and leaves other parts as they are.

mod open;
pub(crate) mod tree;

pub use crate::openpgp::{CertList, KeyRing};
pub use open::open;

use crate::mime::{self, SplitMessage};
use crate::openpgp::{Cert, encrypt_bytes, sign_detached};
use crate::{CryptoError, Format};
use mail_parser::MimeHeaders;
use tree::{Tree, attachment_entity, is_7bit_safe, is_plain_text, part_name, quoted_printable};

/// Preamble text for clients that do not understand PGP/MIME.
const ENCRYPTED_PREAMBLE: &str = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)";
const SIGNED_PREAMBLE: &str = "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)";

fn check_format(format: Format) -> Result<(), CryptoError> {
    match format {
        Format::PgpMime | Format::PgpInline => Ok(()),
        Format::Smime => Err(CryptoError::NotAllowed(
            "S/MIME is not an OpenPGP format (use the smime module)".into(),
        )),
    }
}

/// Encrypts a message to the recipients (all of them can read it), signed by `signer` when
/// given: PGP/MIME signs and encrypts in one OpenPGP message (RFC 3156 §6.2); inline does
/// the same per part.
pub fn encrypt(
    message: &[u8],
    recipients: &[&Cert],
    signer: Option<&Cert>,
    format: Format,
) -> Result<Vec<u8>, CryptoError> {
    check_format(format)?;
    let split = mime::split(message)?;
    let entity = match format {
        Format::PgpInline => inline_encrypt(&split, recipients, signer)?,
        _ => {
            let armored = encrypt_bytes(recipients, &split.content_entity(), signer, true)?;
            pgp_mime_encrypted(&armored)
        }
    };
    Ok(mime::assemble(&split, &entity))
}

/// The RFC 3156 §4 multipart/encrypted entity around an armored OpenPGP message.
fn pgp_mime_encrypted(armored: &[u8]) -> Vec<u8> {
    let b = mime::new_boundary();
    let mut out = format!(
        "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n boundary=\"{b}\"\r\n\r\n\
         {ENCRYPTED_PREAMBLE}\r\n\
         --{b}\r\n\
         Content-Type: application/pgp-encrypted\r\n\
         Content-Description: PGP/MIME version identification\r\n\r\n\
         Version: 1\r\n\r\n\
         --{b}\r\n\
         Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
         Content-Description: OpenPGP encrypted message\r\n\
         Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
    )
    .into_bytes();
    let armored = mime::to_crlf(armored);
    out.extend_from_slice(&armored);
    if !armored.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

fn inline_encrypt(
    split: &SplitMessage,
    recipients: &[&Cert],
    signer: Option<&Cert>,
) -> Result<Vec<u8>, CryptoError> {
    let entity = split.content_entity();
    let tree = Tree::parse(&entity)?;
    tree.rebuild(0, true, &mut |part, _| {
        if is_plain_text(part) {
            let text = mime::to_crlf(part.contents());
            let armored = encrypt_bytes(recipients, &text, signer, true)?;
            let mut out = b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n".to_vec();
            out.extend_from_slice(&mime::to_crlf(&armored));
            Ok(Some(out))
        } else {
            let data = encrypt_bytes(recipients, part.contents(), signer, false)?;
            let name = format!("{}.pgp", part_name(part));
            Ok(Some(attachment_entity("application/octet-stream", &name, &data)))
        }
    })
}

/// Signs a message. PGP/MIME: RFC 3156 multipart/signed (micalg=pgp-sha256) over the
/// canonical CRLF content entity, made 7bit-safe first (8bit bodies and long lines are
/// re-encoded as quoted-printable or base64) so no relay can change a signed byte. Inline:
/// each text/plain part is clear-signed.
pub fn sign(message: &[u8], signer: &Cert, format: Format) -> Result<Vec<u8>, CryptoError> {
    check_format(format)?;
    let split = mime::split(message)?;
    let entity = match format {
        Format::PgpInline => inline_sign(&split, signer)?,
        _ => {
            let signed = seven_bit_entity(&split.content_entity())?;
            let signature = sign_detached(signer, &signed, true)?;
            pgp_mime_signed(&signed, &signature)
        }
    };
    Ok(mime::assemble(&split, &entity))
}

/// The RFC 3156 §5 multipart/signed entity. `signed` is written byte for byte: the CRLF
/// before the next delimiter belongs to the delimiter, not to the signed part.
fn pgp_mime_signed(signed: &[u8], signature: &[u8]) -> Vec<u8> {
    let b = mime::new_boundary();
    let mut out = format!(
        "Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\"; boundary=\"{b}\"\r\n\r\n\
         {SIGNED_PREAMBLE}\r\n\
         --{b}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(signed);
    out.extend_from_slice(
        format!(
            "\r\n--{b}\r\n\
             Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
             Content-Description: OpenPGP digital signature\r\n\
             Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n"
        )
        .as_bytes(),
    );
    let signature = mime::to_crlf(signature);
    out.extend_from_slice(&signature);
    if !signature.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

/// Re-encodes the leaves of an entity whose raw body is not 7bit-safe: text as
/// quoted-printable, everything else as base64. Safe entities are returned unchanged.
fn seven_bit_entity(entity: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if is_7bit_safe(entity) {
        return Ok(entity.to_vec());
    }
    let tree = Tree::parse(entity)?;
    tree.rebuild(0, false, &mut |part, tree| {
        let body = tree.raw_body(part);
        if is_7bit_safe(tree.raw_part(part)) {
            return Ok(None);
        }
        // Encoded bodies (base64, quoted-printable) come decoded from mail-parser; identity
        // encoded ones are taken raw so the declared charset still describes the bytes.
        let encoded = part
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case("content-transfer-encoding"))
            .and_then(|h| h.value().as_text().map(|v| v.trim().to_ascii_lowercase()))
            .is_some_and(|v| v == "base64" || v == "quoted-printable");
        let content = if encoded {
            contents_bytes(part)
        } else {
            body.to_vec()
        };
        let text = part
            .content_type()
            .is_none_or(|c| c.ctype().eq_ignore_ascii_case("text"));
        let mut out = Vec::new();
        for h in &part.headers {
            if h.name().eq_ignore_ascii_case("content-transfer-encoding") {
                continue;
            }
            let start = (h.offset_field() as usize).min(tree.raw.len());
            let end = (h.offset_end() as usize).clamp(start, tree.raw.len());
            out.extend_from_slice(&tree.raw[start..end]);
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        if text && !encoded {
            out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
            out.extend_from_slice(&quoted_printable(&content));
        } else {
            out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
            out.extend_from_slice(&mime::base64_lines(&content));
        }
        Ok(Some(out))
    })
}

/// A part's decoded bytes. For text parts mail-parser has converted the charset to UTF-8,
/// so those are only used when the part was transfer-encoded and is re-encoded as base64
/// with its headers unchanged — an edge case (an encoded part with unsafe raw lines).
fn contents_bytes(part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    part.contents().to_vec()
}

fn inline_sign(split: &SplitMessage, signer: &Cert) -> Result<Vec<u8>, CryptoError> {
    let entity = split.content_entity();
    let tree = Tree::parse(&entity)?;
    let mut signed_any = false;
    let out = tree.rebuild(0, false, &mut |part, _| {
        if !is_plain_text(part) {
            return Ok(None);
        }
        signed_any = true;
        let text = mime::to_crlf(part.contents());
        let signed = crate::openpgp::clearsign(signer, &text)?;
        Ok(Some(tree::text_entity(&signed)))
    })?;
    if !signed_any {
        return Err(CryptoError::NotAllowed(
            "inline signing needs a text/plain part; use PGP/MIME for this message".into(),
        ));
    }
    Ok(out)
}

/// Which OpenPGP format a message uses, if any: PGP/MIME by its top-level Content-Type,
/// inline by armor headers in a text part or a `.pgp`/`.gpg` attachment. Cheap: a raw scan
/// first, a MIME parse only when the message has encoded parts.
pub fn pgp_content(message: &[u8]) -> Option<Format> {
    let split = mime::split(message).ok()?;
    if let Some(ct) = split.field("content-type") {
        let v = ct.value().to_ascii_lowercase();
        if (v.starts_with("multipart/encrypted") && v.contains("application/pgp-encrypted"))
            || (v.starts_with("multipart/signed") && v.contains("application/pgp-signature"))
        {
            return Some(Format::PgpMime);
        }
    }
    let body = &split.body;
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if has(b"-----BEGIN PGP MESSAGE-----") || has(b"-----BEGIN PGP SIGNED MESSAGE-----") {
        return Some(Format::PgpInline);
    }
    let lower = body.to_ascii_lowercase();
    let has_lower = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if !(has_lower(b"base64")
        || has_lower(b"quoted-printable")
        || has_lower(b".pgp")
        || has_lower(b".gpg"))
    {
        return None;
    }
    let entity = split.content_entity();
    let tree = Tree::parse(&entity).ok()?;
    tree.msg
        .parts
        .iter()
        .any(|p| open::inline_candidate(p).is_some())
        .then_some(Format::PgpInline)
}
