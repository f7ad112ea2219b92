//! Walking and rebuilding a MIME tree (mail-parser does the parsing and the decoding of
//! transfer encodings), plus the small encoders the transforms need.

use crate::CryptoError;
use mail_parser::{MessagePart, MimeHeaders, PartType};

/// A parsed entity and the bytes it was parsed from (CRLF line endings).
pub(crate) struct Tree<'a> {
    pub msg: mail_parser::Message<'a>,
    pub raw: &'a [u8],
}

/// What a leaf transform returns: a replacement entity (headers, empty line, body), or
/// `None` to keep the leaf's bytes as they were.
pub(crate) type LeafResult = Result<Option<Vec<u8>>, CryptoError>;

impl<'a> Tree<'a> {
    /// Parses an entity (content header fields, empty line, body).
    pub fn parse(raw: &'a [u8]) -> Result<Tree<'a>, CryptoError> {
        let msg = mail_parser::MessageParser::default()
            .parse(raw)
            .ok_or_else(|| CryptoError::Mime("cannot parse the MIME structure".into()))?;
        if msg.parts.is_empty() {
            return Err(CryptoError::Mime("the message has no parts".into()));
        }
        Ok(Tree { msg, raw })
    }

    pub fn root(&self) -> &MessagePart<'a> {
        &self.msg.parts[0]
    }

    pub fn part(&self, id: u32) -> Option<&MessagePart<'a>> {
        self.msg.parts.get(id as usize)
    }

    /// The raw bytes of a part, header fields included, without the line break that
    /// belongs to the following boundary delimiter.
    pub fn raw_part(&self, part: &MessagePart<'_>) -> &'a [u8] {
        let start = (part.offset_header as usize).min(self.raw.len());
        let end = (part.offset_end as usize).clamp(start, self.raw.len());
        let slice = &self.raw[start..end];
        slice.strip_suffix(b"\r\n").unwrap_or(slice)
    }

    /// The raw header block of a part (fields only, no empty line).
    pub fn raw_headers(&self, part: &MessagePart<'_>) -> &'a [u8] {
        let start = (part.offset_header as usize).min(self.raw.len());
        let end = (part.offset_body as usize).clamp(start, self.raw.len());
        let h = &self.raw[start..end];
        let h = h.strip_suffix(b"\r\n").unwrap_or(h);
        h.strip_suffix(b"\r\n").unwrap_or(h)
    }

    /// The raw (still transfer-encoded) body of a part.
    pub fn raw_body(&self, part: &MessagePart<'_>) -> &'a [u8] {
        let start = (part.offset_body as usize).min(self.raw.len());
        let end = (part.offset_end as usize).clamp(start, self.raw.len());
        &self.raw[start..end]
    }

    /// Rebuilds the entity rooted at `id`: multipart nodes keep their header fields and
    /// boundary, leaves go through `leaf`. With `collapse_alternatives`, a
    /// multipart/alternative that has a text/plain child is replaced by that child.
    pub fn rebuild(
        &self,
        id: u32,
        collapse_alternatives: bool,
        leaf: &mut dyn FnMut(&MessagePart<'a>, &Tree<'a>) -> LeafResult,
    ) -> Result<Vec<u8>, CryptoError> {
        let part = self
            .part(id)
            .ok_or_else(|| CryptoError::Mime(format!("missing MIME part {id}")))?;
        let PartType::Multipart(children) = &part.body else {
            return Ok(match leaf(part, self)? {
                Some(new) => new,
                None => self.raw_part(part).to_vec(),
            });
        };
        let ct = part.content_type();
        if collapse_alternatives
            && ct
                .and_then(|c| c.subtype())
                .is_some_and(|s| s.eq_ignore_ascii_case("alternative"))
            && let Some(&plain) = children
                .iter()
                .find(|&&c| self.part(c).is_some_and(is_plain_text))
        {
            return self.rebuild(plain, collapse_alternatives, leaf);
        }
        let boundary = ct
            .and_then(|c| c.attribute("boundary"))
            .ok_or_else(|| CryptoError::Mime("a multipart has no boundary".into()))?
            .to_string();
        let mut out = self.raw_headers(part).to_vec();
        out.extend_from_slice(b"\r\n\r\n");
        for &child in children {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut entity = self.rebuild(child, collapse_alternatives, leaf)?;
            if !entity.ends_with(b"\r\n") {
                entity.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(&entity);
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Ok(out)
    }
}

/// A text/plain body that is not an attachment (what inline PGP protects in place).
pub(crate) fn is_plain_text(part: &MessagePart<'_>) -> bool {
    let plain = match part.content_type() {
        None => true,
        Some(ct) => {
            ct.ctype().eq_ignore_ascii_case("text")
                && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
        }
    };
    let attachment = part
        .content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
    plain && !attachment && matches!(part.body, PartType::Text(_))
}

/// The file name for a part: its own, else one made from the type.
pub(crate) fn part_name(part: &MessagePart<'_>) -> String {
    if let Some(n) = part.attachment_name().filter(|n| !n.trim().is_empty()) {
        return n.trim().to_string();
    }
    let sub = part.content_type().map(|c| {
        (
            c.ctype().to_ascii_lowercase(),
            c.subtype().unwrap_or("").to_ascii_lowercase(),
        )
    });
    match sub.as_ref().map(|(t, s)| (t.as_str(), s.as_str())) {
        Some(("text", "html")) => "message.html".into(),
        Some(("text", _)) => "message.txt".into(),
        Some(("message", _)) => "message.eml".into(),
        _ => "attachment.bin".into(),
    }
}

/// A `name="..."` parameter value: quoted when plain ASCII, RFC 2047 encoded otherwise (what
/// mail clients read for file names in practice).
pub(crate) fn quoted_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() && !clean.contains('"') && !clean.contains('\\') {
        format!("\"{clean}\"")
    } else {
        use base64::Engine;
        format!(
            "\"=?utf-8?b?{}?=\"",
            base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
        )
    }
}

/// A binary attachment entity, base64-encoded.
pub(crate) fn attachment_entity(content_type: &str, name: &str, data: &[u8]) -> Vec<u8> {
    let q = quoted_name(name);
    let mut out = format!(
        "Content-Type: {content_type}; name={q}\r\nContent-Disposition: attachment; filename={q}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&crate::mime::base64_lines(data));
    out
}

/// A text/plain entity: 7bit when the text is ASCII with short lines, quoted-printable
/// (UTF-8) otherwise.
pub(crate) fn text_entity(text: &[u8]) -> Vec<u8> {
    let text = crate::mime::to_crlf(text);
    let mut out;
    if is_7bit_safe(&text) {
        out = b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n".to_vec();
        out.extend_from_slice(&text);
    } else {
        out = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
        out.extend_from_slice(&quoted_printable(&text));
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// True when bytes survive any mail transport unchanged: ASCII without NUL or bare CR/LF,
/// lines of at most 76 characters, no trailing white space, no line starting with "From "
/// (mbox quoting) (RFC 3156 §3 and §5).
pub(crate) fn is_7bit_safe(data: &[u8]) -> bool {
    if data.iter().any(|&b| b >= 0x80 || b == 0) {
        return false;
    }
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\r\n");
        let (line, next) = match end {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &rest[rest.len()..]),
        };
        if line.len() > 76
            || line.contains(&b'\r')
            || line.contains(&b'\n')
            || line.ends_with(b" ")
            || line.ends_with(b"\t")
            || line.starts_with(b"From ")
        {
            return false;
        }
        rest = next;
    }
    true
}

/// Quoted-printable (RFC 2045 §6.7) of CRLF text: line breaks kept as hard breaks, soft
/// breaks at 76 characters, trailing white space and a leading "From " or "." protected.
pub(crate) fn quoted_printable(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 11 / 10 + 16);
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if n == last && line.is_empty() {
            break;
        }
        let mut width = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let literal = (b == b' ' || b == b'\t') && !at_end
                || (33..=126).contains(&b) && b != b'=' && !(i == 0 && (b == b'.' || b == b'F'));
            let piece_len = if literal { 1 } else { 3 };
            if width + piece_len > 75 {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            width += piece_len;
        }
        if n != last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_bit_safety() {
        assert!(is_7bit_safe(b"Content-Type: text/plain\r\n\r\nhello\r\n"));
        assert!(!is_7bit_safe("Grüße\r\n".as_bytes()));
        assert!(!is_7bit_safe(b"trailing \r\n"));
        assert!(!is_7bit_safe(b"x\r\nFrom me\r\n"));
        assert!(!is_7bit_safe(&[b'a'; 77]));
        assert!(!is_7bit_safe(b"bare\nlf"));
    }

    #[test]
    fn quoted_printable_round_trips_through_mail_parser() {
        let text = "Grüße = 1\r\nFrom here \r\n.dot\r\n".to_string() + &"x".repeat(200) + "\r\n";
        let qp = quoted_printable(text.as_bytes());
        assert!(is_7bit_safe(&qp), "{}", String::from_utf8_lossy(&qp));
        let mut msg = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
        msg.extend_from_slice(&qp);
        let tree = Tree::parse(&msg).unwrap();
        assert_eq!(tree.root().contents(), text.as_bytes());
    }

    #[test]
    fn names_are_quoted_or_encoded() {
        assert_eq!(quoted_name("a b.pdf"), "\"a b.pdf\"");
        assert!(quoted_name("Grüße.pdf").starts_with("\"=?utf-8?b?"));
    }
}
