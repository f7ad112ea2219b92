//! Opening OpenPGP messages: decrypt, verify, restore the original message.

use super::tree::{Tree, attachment_entity, is_plain_text, part_name, text_entity};
use crate::mime::{self, SplitMessage};
use crate::openpgp::{KeyRing, open_bytes, verify_detached_with};
use crate::{Annotation, CryptoError, Format, OpenedMessage};
use mail_parser::{MessagePart, MimeHeaders};

/// What kind of inline OpenPGP content a part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inline {
    /// A text part with armor blocks.
    Text,
    /// An encrypted attachment (`.pgp`, `.gpg`, or an armored `.asc`).
    Attachment,
}

pub(crate) fn inline_candidate(part: &MessagePart<'_>) -> Option<Inline> {
    if is_plain_text(part) {
        let text = part.contents();
        let has = |n: &[u8]| text.windows(n.len()).any(|w| w == n);
        return (has(b"-----BEGIN PGP MESSAGE-----") || has(b"-----BEGIN PGP SIGNED MESSAGE-----"))
            .then_some(Inline::Text);
    }
    let name = part.attachment_name()?.to_ascii_lowercase();
    let data = part.contents();
    let binary_packet = data.first().is_some_and(|b| b & 0x80 != 0);
    let armored = data.starts_with(b"-----BEGIN PGP MESSAGE-----");
    ((name.ends_with(".pgp") || name.ends_with(".gpg")) && (binary_packet || armored)
        || name.ends_with(".asc") && armored)
        .then_some(Inline::Attachment)
}

/// Opens a message protected with OpenPGP: PGP/MIME encrypted (RFC 3156 §4, including
/// signed-then-encrypted in either §6.1 or §6.2 form), PGP/MIME signed (§5), or inline
/// armor blocks and `.pgp` attachments anywhere in the MIME tree.
///
/// Returns `Ok(None)` when the message has no OpenPGP content (nothing to open). Errors
/// mean the content is there but could not be read: malformed, no key, modified. For inline
/// PGP every armor block and `.pgp` attachment must open: a quoted block encrypted to
/// someone else fails the whole message (the caller's key-not-found policy decides).
pub fn open(message: &[u8], keys: &dyn KeyRing) -> Result<Option<OpenedMessage>, CryptoError> {
    let split = mime::split(message)?;
    let entity = split.content_entity();
    let tree = Tree::parse(&entity)?;
    let (ctype, protocol) = match tree.root().content_type() {
        Some(ct) => (
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase(),
            ct.attribute("protocol").unwrap_or("").to_ascii_lowercase(),
        ),
        None => (String::new(), String::new()),
    };
    if ctype == "multipart/encrypted" && protocol == "application/pgp-encrypted" {
        return open_encrypted(&split, &tree, keys).map(Some);
    }
    if ctype == "multipart/signed" && protocol == "application/pgp-signature" {
        let (inner, annotation) = verify_signed(&entity, &tree, keys)?;
        return Ok(Some(OpenedMessage {
            message: mime::assemble(&split, &inner),
            annotation,
        }));
    }
    open_inline(&split, &tree, keys)
}

fn open_encrypted(
    split: &SplitMessage,
    tree: &Tree<'_>,
    keys: &dyn KeyRing,
) -> Result<OpenedMessage, CryptoError> {
    let mail_parser::PartType::Multipart(children) = &tree.root().body else {
        return Err(CryptoError::Mime(
            "multipart/encrypted without parts".into(),
        ));
    };
    let data = children
        .iter()
        .filter_map(|&c| tree.part(c))
        .find(|p| {
            p.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("application")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("octet-stream"))
            })
        })
        .map(|p| p.contents())
        .ok_or_else(|| {
            CryptoError::Mime("multipart/encrypted has no application/octet-stream part".into())
        })?;
    let opened = open_bytes(keys, data)?;
    let mut inner = mime::to_crlf(&opened.plaintext);
    if mime::split(&inner).is_err() {
        // Some senders encrypt a bare text instead of a MIME entity.
        inner = text_entity(&opened.plaintext);
    }
    let mut annotation = Annotation {
        format: Format::PgpMime,
        was_encrypted: opened.encrypted,
        encrypted_to: opened.encrypted_to,
        signatures: opened.signatures,
        whole_message: true,
    };
    // RFC 3156 §6.1: a multipart/signed inside the encryption.
    let inner_tree = Tree::parse(&inner)?;
    let signed_inside = inner_tree.root().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
            && ct
                .attribute("protocol")
                .is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-signature"))
    });
    if signed_inside {
        let (entity, inner_annotation) = verify_signed(&inner, &inner_tree, keys)?;
        annotation.signatures.extend(inner_annotation.signatures);
        inner = entity;
    }
    Ok(OpenedMessage {
        message: mime::assemble(split, &inner),
        annotation,
    })
}

/// Verifies a multipart/signed entity; returns the signed entity (the original content)
/// and the annotation.
fn verify_signed(
    entity: &[u8],
    tree: &Tree<'_>,
    keys: &dyn KeyRing,
) -> Result<(Vec<u8>, Annotation), CryptoError> {
    let root = tree.root();
    let boundary = root
        .content_type()
        .and_then(|c| c.attribute("boundary"))
        .ok_or_else(|| CryptoError::Mime("multipart/signed without a boundary".into()))?;
    let signed = signed_part(tree.raw_body(root), boundary)
        .or_else(|| signed_part(entity, boundary))
        .ok_or_else(|| CryptoError::Mime("cannot find the signed part".into()))?;
    let mail_parser::PartType::Multipart(children) = &root.body else {
        return Err(CryptoError::Mime("multipart/signed without parts".into()));
    };
    let signature = children
        .get(1)
        .and_then(|&c| tree.part(c))
        .map(|p| p.contents())
        .ok_or_else(|| CryptoError::Mime("multipart/signed has no signature part".into()))?;
    let signatures = verify_detached_with(keys, signed, signature)?;
    Ok((
        signed.to_vec(),
        Annotation {
            format: Format::PgpMime,
            was_encrypted: false,
            encrypted_to: Vec::new(),
            signatures,
            whole_message: true,
        },
    ))
}

/// The bytes of the first body part, exactly: after the first delimiter line, up to (not
/// including) the CRLF before the next delimiter (RFC 2046 §5.1.1).
fn signed_part<'a>(body: &'a [u8], boundary: &str) -> Option<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut pos = 0;
    let start = loop {
        let line_end = body[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let line = &body[pos..line_end];
        if line.starts_with(d) && line[d.len()..].iter().all(|b| *b == b' ' || *b == b'\t') {
            break line_end + 2;
        }
        pos = line_end + 2;
    };
    let mut needle = b"\r\n".to_vec();
    needle.extend_from_slice(d);
    let end = body[start..]
        .windows(needle.len())
        .position(|w| w == needle.as_slice())?
        + start;
    Some(&body[start..end])
}

fn open_inline(
    split: &SplitMessage,
    tree: &Tree<'_>,
    keys: &dyn KeyRing,
) -> Result<Option<OpenedMessage>, CryptoError> {
    let mut annotation = Annotation {
        format: Format::PgpInline,
        was_encrypted: false,
        encrypted_to: Vec::new(),
        signatures: Vec::new(),
        whole_message: true,
    };
    let mut found = false;
    let rebuilt = tree.rebuild(0, false, &mut |part, _| {
        let Some(kind) = inline_candidate(part) else {
            if !part.contents().iter().all(u8::is_ascii_whitespace) {
                annotation.whole_message = false;
            }
            return Ok(None);
        };
        found = true;
        match kind {
            Inline::Attachment => {
                let opened = open_bytes(keys, part.contents())?;
                merge(
                    &mut annotation,
                    opened.encrypted,
                    opened.encrypted_to,
                    opened.signatures,
                );
                let name = part_name(part);
                let lower = name.to_ascii_lowercase();
                let name = if [".pgp", ".gpg", ".asc"].iter().any(|e| lower.ends_with(e)) {
                    name[..name.len() - 4].to_string()
                } else {
                    name
                };
                Ok(Some(attachment_entity(
                    type_for_name(&name),
                    &name,
                    &opened.plaintext,
                )))
            }
            Inline::Text => {
                let (text, whole) = open_text_blocks(part.contents(), keys, &mut annotation)?;
                annotation.whole_message &= whole;
                Ok(Some(text_entity(&text)))
            }
        }
    })?;
    if !found {
        return Ok(None);
    }
    Ok(Some(OpenedMessage {
        message: mime::assemble(split, &rebuilt),
        annotation,
    }))
}

/// A content type for a decrypted attachment: inline PGP keeps only the file name, so the
/// common types are guessed from the extension (clients pick viewers by type).
fn type_for_name(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

fn merge(a: &mut Annotation, encrypted: bool, to: Vec<String>, sigs: Vec<crate::SignatureInfo>) {
    a.was_encrypted |= encrypted;
    for id in to {
        if !a.encrypted_to.contains(&id) {
            a.encrypted_to.push(id);
        }
    }
    a.signatures.extend(sigs);
}

/// Replaces every armor block in a text with its content. Returns the new text and whether
/// the blocks were all there was (apart from white space).
fn open_text_blocks(
    text: &[u8],
    keys: &dyn KeyRing,
    annotation: &mut Annotation,
) -> Result<(Vec<u8>, bool), CryptoError> {
    const BEGIN_MSG: &[u8] = b"-----BEGIN PGP MESSAGE-----";
    const END_MSG: &[u8] = b"-----END PGP MESSAGE-----";
    const BEGIN_SIGNED: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
    const END_SIG: &[u8] = b"-----END PGP SIGNATURE-----";
    let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    let mut whole = true;
    loop {
        let msg = find(rest, BEGIN_MSG);
        let signed = find(rest, BEGIN_SIGNED);
        let (start, end_marker) = match (msg, signed) {
            (Some(m), Some(s)) if s < m => (s, END_SIG),
            (Some(m), _) => (m, END_MSG),
            (None, Some(s)) => (s, END_SIG),
            (None, None) => break,
        };
        let end = find(&rest[start..], end_marker)
            .map(|e| start + e + end_marker.len())
            .ok_or_else(|| CryptoError::OpenPgp("an armor block has no END line".into()))?;
        let before = &rest[..start];
        whole &= before.iter().all(u8::is_ascii_whitespace);
        out.extend_from_slice(before);
        let opened = open_bytes(keys, &rest[start..end])?;
        out.extend_from_slice(&mime::to_crlf(&opened.plaintext));
        merge(
            annotation,
            opened.encrypted,
            opened.encrypted_to,
            opened.signatures,
        );
        rest = &rest[end..];
    }
    whole &= rest.iter().all(u8::is_ascii_whitespace);
    out.extend_from_slice(rest);
    Ok((out, whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_part_is_byte_exact() {
        let body =
            b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\r\n--b\r\nsig\r\n--b--\r\n";
        assert_eq!(
            signed_part(body, "b").unwrap(),
            b"Content-Type: text/plain\r\n\r\nhi\r\n"
        );
        assert!(signed_part(b"no delimiter", "b").is_none());
        assert!(signed_part(b"--b\r\nunterminated", "b").is_none());
    }

    #[test]
    fn a_plain_message_has_nothing_to_open() {
        let msg = b"From: a@b.test\r\nSubject: x\r\n\r\nhello\r\n";
        assert!(
            open(msg, &crate::openpgp::CertList::default())
                .unwrap()
                .is_none()
        );
    }
}
