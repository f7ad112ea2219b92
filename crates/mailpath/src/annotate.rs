//! Body annotation for Decrypt and verify (guide §14.5): a short block of text at the top of
//! the message's first text part saying what decryption and verification found, as the
//! rule's Annotation Setting asks:
//!
//! - **Don't annotate**: nothing in the body (the header fields still record the facts);
//! - **Annotate failures only**: only bad signatures, signers whose key is not valid and
//!   unknown signers;
//! - **Annotate detailed info**: one line per fact (decrypted, each signature, parts);
//! - **Smart annotation**: one line when a single signer covers the whole message, else
//!   detailed.
//!
//! The first `text/plain` body part gets the block (a `text/html` body only when there is no
//! plain one). mail-parser finds the part; the splice is done on the raw bytes, in the part's
//! own transfer encoding (7bit/8bit, quoted-printable, base64), so its charset and everything
//! else in the message stay byte for byte. A message that is still signed as delivered
//! (multipart/signed, S/MIME signed-data, inline PGP) keeps its body: changing it would break
//! the signature the recipient can still check.

use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};
use signet_crypto::{Annotation as Found, SignatureStatus};
use signet_policy::model::Annotation;

/// The annotation lines for what was found, per the setting. Empty: nothing to add.
pub fn annotation_lines(found: &Found, setting: Annotation) -> Vec<String> {
    let signature_line = |s: &signet_crypto::SignatureInfo| {
        let who = if s.signer.is_empty() {
            "an unknown sender".to_string()
        } else {
            s.signer.join(", ")
        };
        match &s.status {
            SignatureStatus::Good => (format!("signed by {who} (good signature)"), false),
            SignatureStatus::Bad => (
                format!("BAD signature from {who}: the message was changed after it was signed"),
                true,
            ),
            SignatureStatus::UnknownSigner => {
                let key = s
                    .key_id
                    .clone()
                    .or_else(|| s.fingerprint.clone())
                    .map(|k| format!(", key {k}"))
                    .unwrap_or_default();
                (
                    format!(
                        "signed by {who} (unverified signature: the signer's key is unknown or not trusted{key})"
                    ),
                    true,
                )
            }
            SignatureStatus::KeyNotValid(why) => {
                (format!("signed by {who} (key not valid: {why})"), true)
            }
        }
    };
    let signatures: Vec<(String, bool)> = found.signatures.iter().map(signature_line).collect();
    let partial = "only parts of this message were protected; text outside them was not";
    match setting {
        Annotation::None => Vec::new(),
        Annotation::FailuresOnly => signatures
            .into_iter()
            .filter(|(_, failure)| *failure)
            .map(|(l, _)| capitalize(&l))
            .collect(),
        Annotation::Smart if found.signatures.len() <= 1 && found.whole_message => {
            let mut facts = Vec::new();
            if found.was_encrypted {
                facts.push("decrypted message".to_string());
            }
            facts.extend(signatures.into_iter().map(|(l, _)| l));
            if facts.is_empty() {
                Vec::new()
            } else {
                vec![capitalize(&facts.join("; "))]
            }
        }
        Annotation::Smart | Annotation::Detailed => {
            let mut lines = Vec::new();
            if found.was_encrypted {
                lines.push("Decrypted message".to_string());
            }
            lines.extend(signatures.into_iter().map(|(l, _)| capitalize(&l)));
            if !found.whole_message {
                lines.push(capitalize(partial));
            }
            lines
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The block as text: each line marked, then an empty line before the original text. Only
/// ASCII, so it fits any ASCII-compatible charset the part declares.
fn block(lines: &[String]) -> String {
    let mut out = String::new();
    for l in lines {
        let clean: String = l
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        out.push_str(&format!("*** Signet: {clean} ***\r\n"));
    }
    out.push_str("\r\n");
    out
}

fn html_block(lines: &[String]) -> String {
    let text = block(lines);
    let escaped = text
        .trim_end()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!("<pre>{escaped}</pre>\r\n")
}

/// The message with `lines` at the top of its first text body part, or `None` when there is
/// nothing to add or nowhere to add it safely (the caller then keeps the message as it is).
pub fn annotate_body(message: &[u8], lines: &[String]) -> Option<Vec<u8>> {
    if lines.is_empty() {
        return None;
    }
    let parsed = MessageParser::default().parse(message)?;
    let still_signed = parsed.parts.iter().any(|p| {
        p.content_type().is_some_and(|ct| {
            let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
            (ct.ctype().eq_ignore_ascii_case("multipart") && sub == "signed")
                || sub.ends_with("pkcs7-mime")
                || sub.ends_with("pkcs7-signature")
                || sub.ends_with("pgp-signature")
        })
    }) || contains(message, b"-----BEGIN PGP SIGNED MESSAGE-----");
    if still_signed {
        return None;
    }
    let body_parts: Vec<u32> = parsed
        .text_body
        .iter()
        .chain(parsed.html_body.iter())
        .copied()
        .collect();
    let is = |id: u32, sub: &str| {
        parsed.parts.get(id as usize).is_some_and(|p| {
            matches!(p.body, PartType::Text(_) | PartType::Html(_))
                && p.content_type().map_or(sub == "plain", |ct| {
                    ct.ctype().eq_ignore_ascii_case("text")
                        && ct.subtype().unwrap_or("plain").eq_ignore_ascii_case(sub)
                })
        })
    };
    let mut ids = body_parts.clone();
    ids.sort_unstable();
    ids.dedup();
    let (id, html) = match ids.iter().find(|id| is(**id, "plain")) {
        Some(id) => (*id, false),
        None => (*ids.iter().find(|id| is(**id, "html"))?, true),
    };
    let part = parsed.parts.get(id as usize)?;
    let start = part.offset_body as usize;
    let end = (part.offset_end as usize).min(message.len());
    if start > end {
        return None;
    }
    let raw = &message[start..end];
    let text = if html {
        html_block(lines)
    } else {
        block(lines)
    };
    let spliced = match part.encoding {
        Encoding::None => splice_plain(raw, &text, html),
        Encoding::QuotedPrintable => splice_plain(raw, &quoted_printable(&text), html),
        Encoding::Base64 => splice_base64(raw, &text, html)?,
    };
    let mut out = Vec::with_capacity(message.len() + spliced.len());
    out.extend_from_slice(&message[..start]);
    out.extend_from_slice(&spliced);
    out.extend_from_slice(&message[end..]);
    Some(out)
}

/// Where the annotation goes in a (decoded or 7bit) body: the top, or for HTML just after
/// the `<body ...>` tag when there is one.
fn insertion_point(body: &[u8], html: bool) -> usize {
    if !html {
        return 0;
    }
    let lower = body.to_ascii_lowercase();
    find(&lower, b"<body")
        .and_then(|at| find(&lower[at..], b">").map(|gt| at + gt + 1))
        .unwrap_or(0)
}

fn splice_plain(raw: &[u8], text: &str, html: bool) -> Vec<u8> {
    let at = insertion_point(raw, html);
    let mut out = Vec::with_capacity(raw.len() + text.len());
    out.extend_from_slice(&raw[..at]);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&raw[at..]);
    out
}

fn splice_base64(raw: &[u8], text: &str, html: bool) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .ok()?;
    let at = insertion_point(&decoded, html);
    let mut body = Vec::with_capacity(decoded.len() + text.len());
    body.extend_from_slice(&decoded[..at]);
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(&decoded[at..]);
    let mut out = signet_crypto::mime::base64_lines(&body);
    // Keep the part's own ending: the line break before a boundary belongs to the boundary.
    if !raw.ends_with(b"\n") {
        while out.ends_with(b"\r\n") {
            out.truncate(out.len() - 2);
        }
    }
    Some(out)
}

/// ASCII text as quoted-printable: `=` escaped, lines kept under 76 characters with soft
/// breaks.
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let (content, eol) = match line.strip_suffix("\r\n") {
            Some(c) => (c, "\r\n"),
            None => (line, ""),
        };
        let mut width = 0;
        for c in content.chars() {
            let piece = if c == '=' {
                "=3D".to_string()
            } else {
                c.to_string()
            };
            if width + piece.len() > 72 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str(eol);
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_crypto::{Format, SignatureInfo};

    fn found(statuses: &[SignatureStatus]) -> Found {
        Found {
            format: Format::PgpMime,
            was_encrypted: true,
            encrypted_to: Vec::new(),
            signatures: statuses
                .iter()
                .map(|s| SignatureInfo {
                    status: s.clone(),
                    signer: vec!["alice@b.test".into()],
                    fingerprint: None,
                    key_id: Some("0123456789ABCDEF".into()),
                    created: None,
                })
                .collect(),
            whole_message: true,
        }
    }

    fn text_of(message: &[u8]) -> String {
        MessageParser::default()
            .parse(message)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .unwrap_or_default()
    }

    #[test]
    fn settings_choose_the_lines() {
        let good = found(&[SignatureStatus::Good]);
        assert!(annotation_lines(&good, Annotation::None).is_empty());
        assert!(annotation_lines(&good, Annotation::FailuresOnly).is_empty());
        assert_eq!(
            annotation_lines(&good, Annotation::Smart),
            vec!["Decrypted message; signed by alice@b.test (good signature)".to_string()]
        );
        assert_eq!(annotation_lines(&good, Annotation::Detailed).len(), 2);
        let bad = found(&[SignatureStatus::Bad]);
        let lines = annotation_lines(&bad, Annotation::FailuresOnly);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("BAD signature"), "{lines:?}");
        let two = found(&[SignatureStatus::Good, SignatureStatus::UnknownSigner]);
        assert_eq!(annotation_lines(&two, Annotation::Smart).len(), 3);
    }

    #[test]
    fn plain_quoted_printable_and_base64_parts_keep_their_text() {
        let lines = vec!["Decrypted message; signed by a=b@x (good signature)".to_string()];
        let plain = b"Subject: s\r\nContent-Type: text/plain\r\n\r\nHello there.\r\n";
        let out = annotate_body(plain, &lines).unwrap_or_default();
        let text = text_of(&out);
        assert!(text.starts_with("*** Signet: Decrypted message"), "{text}");
        assert!(text.ends_with("\r\n\r\nHello there.\r\n"), "{text:?}");

        let qp = b"Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait =\r\nsoft\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><body>Caf&eacute;</body></html>\r\n--b--\r\n";
        let out = annotate_body(qp, &lines).unwrap_or_default();
        let text = text_of(&out);
        assert!(
            text.starts_with("*** Signet: Decrypted message; signed by a=b@x"),
            "{text}"
        );
        assert!(text.contains("\r\n\r\nCafé au lait soft"), "{text:?}");
        assert!(String::from_utf8_lossy(&out).contains("<html><body>Caf&eacute;"));

        let b64 = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIHfDtnJsZC4=\r\n--b--\r\n";
        let out = annotate_body(b64, &lines).unwrap_or_default();
        let text = text_of(&out);
        assert!(text.starts_with("*** Signet:"), "{text}");
        assert!(text.ends_with("\r\n\r\nHello, wörld."), "{text:?}");
    }

    #[test]
    fn html_only_bodies_and_signed_messages() {
        let lines = vec!["Decrypted message".to_string()];
        let html =
            b"Content-Type: text/html\r\n\r\n<html><body class=\"x\"><p>Hi</p></body></html>\r\n";
        let out =
            String::from_utf8(annotate_body(html, &lines).unwrap_or_default()).unwrap_or_default();
        assert!(
            out.contains("<body class=\"x\"><pre>*** Signet: Decrypted message ***</pre>\r\n<p>Hi"),
            "{out}"
        );
        let signed = b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--s--\r\n";
        assert!(annotate_body(signed, &lines).is_none());
    }
}
