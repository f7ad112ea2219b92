//! Just enough RFC 5322 / RFC 2045 structure to wrap and unwrap a whole message.
//!
//! Every transform (PGP/MIME, S/MIME, inline PGP) does the same three things: split a message
//! into its header fields and body, move the `Content-*` fields into the entity that gets
//! protected (so the protected entity is self-describing, RFC 3156 §3 and RFC 8551 §3.1), and
//! put a new entity back under the untouched routing headers (From, To, Subject, Received...).
//! Parsing of bodies (multipart trees, encodings) is left to mail-parser; this module never
//! looks past the header block.

use crate::CryptoError;

/// One header field as it appeared, including folded continuation lines and the line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name as written (case kept).
    pub name: String,
    /// The whole field, `Name: value` plus any continuation lines, each ending in CRLF.
    pub raw: Vec<u8>,
}

impl HeaderField {
    /// The unfolded value, without the name and the colon, trimmed.
    pub fn value(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        let after = text.split_once(':').map(|(_, v)| v).unwrap_or("");
        after
            .replace("\r\n", "")
            .replace('\n', "")
            .trim()
            .to_string()
    }

    /// True for the fields that describe the body rather than route the message.
    pub fn is_content_field(&self) -> bool {
        let lower = self.name.to_ascii_lowercase();
        lower.starts_with("content-") || lower == "mime-version"
    }
}

/// A message split at the first empty line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMessage {
    pub fields: Vec<HeaderField>,
    /// The body with CRLF line endings.
    pub body: Vec<u8>,
}

impl SplitMessage {
    /// The first field with this name (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&HeaderField> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The fields that route the message: everything that is not a `Content-*` field or
    /// `MIME-Version`.
    pub fn routing_fields(&self) -> impl Iterator<Item = &HeaderField> {
        self.fields.iter().filter(|f| !f.is_content_field())
    }

    /// The entity a transform protects: the message's content fields and its body. A message
    /// without a Content-Type gets the RFC 2045 default written out, so the protected entity
    /// still says what it is once it is taken out of the message.
    pub fn content_entity(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 256);
        let mut has_type = false;
        for field in self.fields.iter().filter(|f| f.is_content_field()) {
            if field.name.eq_ignore_ascii_case("mime-version") {
                continue;
            }
            has_type |= field.name.eq_ignore_ascii_case("content-type");
            out.extend_from_slice(&field.raw);
        }
        if !has_type {
            out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Converts bare LF (and lone CR) line endings to CRLF, the canonical form that signatures
/// cover (RFC 3156 §5, RFC 8551 §3.1.1).
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut rest = data;
    // Copy whole runs between line-break bytes (memchr is vectorized): a 1 MB body has a few
    // thousand lines, not a million bytes to look at one by one.
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(b"\r\n");
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[i + skip..];
    }
    out.extend_from_slice(rest);
    out
}

/// Splits a message into header fields and body. Line endings are made CRLF first.
///
/// Refuses input that has no header block: a first line that is not a field is not a message.
pub fn split(message: &[u8]) -> Result<SplitMessage, CryptoError> {
    let message = to_crlf(message);
    let mut fields: Vec<HeaderField> = Vec::new();
    let mut pos = 0;
    loop {
        if pos >= message.len() {
            // Headers only, no body: allowed (an empty body).
            return finish(fields, Vec::new());
        }
        let end = find_crlf(&message[pos..])
            .map(|i| pos + i + 2)
            .unwrap_or(message.len());
        let line = &message[pos..end];
        if line == b"\r\n" {
            return finish(fields, message[end..].to_vec());
        }
        if line[0] == b' ' || line[0] == b'\t' {
            let Some(last) = fields.last_mut() else {
                return Err(CryptoError::Mime(
                    "the message starts with a continuation line".into(),
                ));
            };
            last.raw.extend_from_slice(line);
        } else {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(CryptoError::Mime(format!(
                    "header line {} has no colon",
                    fields.len() + 1
                )));
            };
            let name = std::str::from_utf8(&line[..colon])
                .map_err(|_| CryptoError::Mime("a header field name is not ASCII".into()))?
                .trim_end()
                .to_string();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(CryptoError::Mime(format!(
                    "invalid header field name {name:?}"
                )));
            }
            let mut raw = line.to_vec();
            if !raw.ends_with(b"\r\n") {
                raw.extend_from_slice(b"\r\n");
            }
            fields.push(HeaderField { name, raw });
        }
        pos = end;
    }
}

fn finish(fields: Vec<HeaderField>, body: Vec<u8>) -> Result<SplitMessage, CryptoError> {
    if fields.is_empty() {
        return Err(CryptoError::Mime("the message has no header fields".into()));
    }
    Ok(SplitMessage { fields, body })
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

/// Puts a new entity under a message's routing fields: the result is the routing fields,
/// `MIME-Version: 1.0`, then the entity (its own header fields, an empty line, its body).
pub fn assemble(original: &SplitMessage, entity: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entity.len() + 1024);
    for field in original.routing_fields() {
        out.extend_from_slice(&field.raw);
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(entity);
    out
}

/// A boundary that cannot occur in base64 or quoted-printable text (it contains `=_`), so
/// bodies never need scanning for it.
pub fn new_boundary() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("=_signet_{}", hex::encode(bytes))
}

/// Wraps bytes as base64 in lines of 76 characters, CRLF-terminated (RFC 2045 §6.8).
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@example.com\nTo: b@ext.test\nSubject: folded\n subject\nContent-Type: text/plain;\n charset=utf-8\nMIME-Version: 1.0\n\nhello\nworld\n";

    #[test]
    fn splits_fields_and_normalizes_line_endings() {
        let m = split(MSG).unwrap();
        assert_eq!(m.fields.len(), 5);
        assert_eq!(m.field("subject").unwrap().value(), "folded subject");
        assert_eq!(m.body, b"hello\r\nworld\r\n");
    }

    #[test]
    fn content_entity_takes_content_fields_only() {
        let m = split(MSG).unwrap();
        let e = m.content_entity();
        assert_eq!(
            e,
            b"Content-Type: text/plain;\r\n charset=utf-8\r\n\r\nhello\r\nworld\r\n"
        );
        let routing: Vec<_> = m.routing_fields().map(|f| f.name.as_str()).collect();
        assert_eq!(routing, ["From", "To", "Subject"]);
    }

    #[test]
    fn default_content_type_is_written_out() {
        let m = split(b"From: a@b\r\n\r\nx").unwrap();
        assert!(
            m.content_entity()
                .starts_with(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
        );
    }

    #[test]
    fn assemble_keeps_routing_headers() {
        let m = split(MSG).unwrap();
        let out = assemble(&m, b"Content-Type: text/plain\r\n\r\nnew\r\n");
        let again = split(&out).unwrap();
        assert_eq!(again.field("to").unwrap().value(), "b@ext.test");
        assert_eq!(again.body, b"new\r\n");
    }

    #[test]
    fn line_endings_become_crlf() {
        assert_eq!(
            to_crlf(b"a\nb\r\nc\rd\r\r\n\n"),
            b"a\r\nb\r\nc\r\nd\r\n\r\n\r\n"
        );
        assert_eq!(to_crlf(b"no breaks"), b"no breaks");
        assert_eq!(to_crlf(b""), b"");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(split(b"no colon here\r\n\r\nbody").is_err());
        assert!(split(b" continuation\r\n\r\n").is_err());
        assert!(split(b"\r\nbody only").is_err());
    }
}
