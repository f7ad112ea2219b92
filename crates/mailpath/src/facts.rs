//! What policy needs to know about a message, read once from its bytes with mail-parser.
//!
//! A message mail-parser cannot read, or that has no header section, is *malformed*:
//! evaluation sends it straight to the Exception chain (guide §14.3).

use mail_parser::{MessageParser, MimeHeaders};
use signet_crypto::Format;
use signet_policy::facts::{Attachment, CryptoFacts, SimpleMessage};
use signet_policy::model::EncodingFormat;

/// Body text beyond this is not searched by body conditions: a 50 MB attachment-heavy message
/// must not cost 50 MB of lower-casing per condition.
const BODY_TEXT_LIMIT: usize = 1024 * 1024;

/// The facts of `raw`, sent by `envelope_sender`.
pub fn message_facts(raw: &[u8], envelope_sender: &str) -> SimpleMessage {
    let mut facts = SimpleMessage {
        sender: envelope_sender.to_string(),
        size_bytes: raw.len() as u64,
        ..SimpleMessage::default()
    };
    let Some(msg) = MessageParser::default().parse(raw) else {
        facts.malformed = true;
        return facts;
    };
    if msg.headers().is_empty() || !has_header_section(raw) {
        facts.malformed = true;
        return facts;
    }
    for h in msg.headers() {
        let start = (h.offset_start as usize).min(raw.len());
        let end = (h.offset_end as usize).clamp(start, raw.len());
        let value = unfold(&String::from_utf8_lossy(&raw[start..end]));
        facts.headers.push((h.name.as_str().to_string(), value));
    }
    let mut body = String::new();
    for part in msg.text_bodies() {
        if let Some(text) = part.text_contents() {
            if body.len() + text.len() > BODY_TEXT_LIMIT {
                break;
            }
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(text);
        }
    }
    facts.body = body;
    for part in msg.attachments() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        facts.attachments.push(Attachment {
            name: part.attachment_name().unwrap_or("").to_string(),
            content_type,
        });
    }
    facts.from_mailing_list = msg.header_raw("List-Id").is_some();
    let (encoding, mut crypto) = crypto_facts(raw, &facts);
    if crypto.any_part_encrypted && encoding != EncodingFormat::Smime {
        crypto.pkesk_key_ids = pkesk_key_ids(raw);
    }
    facts.encoding = Some(encoding);
    facts.crypto = crypto;
    facts
}

/// The key IDs every armored OpenPGP message in the message names (PGP/MIME's encrypted part,
/// inline blocks), so that key-ID conditions match the key really encrypted to.
fn pkesk_key_ids(raw: &[u8]) -> Vec<String> {
    const BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
    const END: &[u8] = b"-----END PGP MESSAGE-----";
    let mut ids = Vec::new();
    let mut rest = raw;
    while let Some(start) = memchr::memmem::find(rest, BEGIN) {
        let block = &rest[start..];
        let Some(end) = memchr::memmem::find(block, END) else {
            break;
        };
        for id in signet_crypto::openpgp::message::recipient_key_ids(&block[..end + END.len()]) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        rest = &block[end + END.len()..];
        if ids.len() > 100 {
            break;
        }
    }
    ids
}

/// A header section ends with an empty line; a message that is only body text has none.
fn has_header_section(raw: &[u8]) -> bool {
    let first_line = raw.split(|b| *b == b'\n').next().unwrap_or(&[]);
    first_line.contains(&b':')
}

fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the message is protected, from its top-level Content-Type and armor.
fn crypto_facts(raw: &[u8], facts: &SimpleMessage) -> (EncodingFormat, CryptoFacts) {
    let content_type = facts
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let mut crypto = CryptoFacts::default();
    let smime_encrypted = content_type.starts_with("application/pkcs7-mime")
        || content_type.starts_with("application/x-pkcs7-mime");
    let smime_signed =
        content_type.starts_with("multipart/signed") && content_type.contains("pkcs7-signature");
    if smime_encrypted || smime_signed {
        let enveloped = smime_encrypted && !content_type.contains("signed-data");
        crypto.any_part_encrypted = enveloped;
        crypto.all_encrypted = enveloped;
        crypto.any_part_signed = smime_signed || content_type.contains("signed-data");
        return (EncodingFormat::Smime, crypto);
    }
    match signet_crypto::pgpmime::pgp_content(raw) {
        Some(Format::PgpMime) => {
            let encrypted = content_type.starts_with("multipart/encrypted");
            crypto.any_part_encrypted = encrypted;
            crypto.all_encrypted = encrypted;
            crypto.any_part_signed = !encrypted;
            (EncodingFormat::OpenPgp, crypto)
        }
        Some(_) => {
            let text = &facts.body;
            crypto.any_part_encrypted = text.contains("-----BEGIN PGP MESSAGE-----")
                || facts.attachments.iter().any(|a| {
                    let n = a.name.to_ascii_lowercase();
                    n.ends_with(".pgp") || n.ends_with(".gpg")
                });
            crypto.any_part_signed = text.contains("-----BEGIN PGP SIGNED MESSAGE-----");
            (EncodingFormat::Partitioned, crypto)
        }
        None => (EncodingFormat::NotEncoded, crypto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_policy::facts::MessageFacts;

    #[test]
    fn headers_body_attachments() {
        let raw = b"From: a@example.com\r\nTo: b@ext.test\r\nSubject: [Sensitive]\r\n the plan\r\nList-Id: <team.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nHello there\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"q3.pdf\"\r\n\r\nJVBER\r\n--XX--\r\n";
        let f = message_facts(raw, "a@example.com");
        assert!(!f.is_malformed());
        assert_eq!(f.subject(), Some("[Sensitive] the plan"));
        assert!(f.body_text().contains("Hello there"));
        assert_eq!(f.attachments().len(), 1);
        assert_eq!(f.attachments()[0].name, "q3.pdf");
        assert_eq!(f.attachments()[0].content_type, "application/pdf");
        assert!(f.is_from_mailing_list());
        assert_eq!(f.encoding(), EncodingFormat::NotEncoded);
    }

    #[test]
    fn protected_messages_are_recognised() {
        let pgp = b"From: a@x\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=B\r\n\r\n--B\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--B\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nx\r\n-----END PGP MESSAGE-----\r\n--B--\r\n";
        let f = message_facts(pgp, "");
        assert_eq!(f.encoding(), EncodingFormat::OpenPgp);
        assert!(f.crypto().all_encrypted);
        let smime = b"From: a@x\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n";
        let f = message_facts(smime, "");
        assert_eq!(f.encoding(), EncodingFormat::Smime);
        assert!(f.crypto().any_part_encrypted);
        let inline = b"From: a@x\r\nSubject: s\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQ\r\n-----END PGP MESSAGE-----\r\n";
        let f = message_facts(inline, "");
        assert_eq!(f.encoding(), EncodingFormat::Partitioned);
        assert!(f.crypto().any_part_encrypted);
    }

    #[test]
    fn key_id_facts_name_the_encryption_subkey() -> Result<(), signet_crypto::CryptoError> {
        use signet_crypto::openpgp::{self, KeyAlgorithm, KeyInfo};
        let bob = openpgp::generate_user_key("bob@ext.test", None, KeyAlgorithm::Cv25519, None)?;
        let armored = openpgp::message::encrypt_bytes(&[&bob], b"hello", None, true)?;
        let raw = [
            &b"From: a@example.com\r\nSubject: x\r\n\r\n"[..],
            &armored[..],
        ]
        .concat();
        let f = message_facts(&raw, "a@example.com");
        let info = KeyInfo::of(&bob);
        let encryption: Vec<String> = info
            .subkeys
            .iter()
            .filter(|k| k.flags.iter().any(|f| f == "encrypt"))
            .map(|k| k.key_id.clone())
            .collect();
        assert_eq!(f.crypto().pkesk_key_ids, encryption);
        assert_ne!(
            f.crypto().pkesk_key_ids,
            vec![info.key_id],
            "not the primary key"
        );
        Ok(())
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for raw in [
            &b""[..],
            b"just some text without headers\r\n",
            &[0xff, 0xfe, 0x00, 0x0a],
        ] {
            assert!(message_facts(raw, "x@y").is_malformed(), "{raw:?}");
        }
    }
}
