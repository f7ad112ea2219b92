//! Harvesting keys from a received message (guide §4: "keys harvested from the mail flow"): the
//! key cache learns a correspondent's key from the mail they send. Inbound mail only; the mail
//! path decides that, this module only reads the message.
//!
//! Three carriers are read:
//! - attached OpenPGP keys: `application/pgp-keys` parts and armored public key blocks in the
//!   message's text or attachments;
//! - the Autocrypt header (Autocrypt Level 1: `Autocrypt: addr=...; keydata=...`);
//! - S/MIME signer certificates: the certificates in a `pkcs7-signature` part (or a
//!   `pkcs7-mime` signed-data body), kept only when they belong to a signer whose signature
//!   holds over the message ([`signet_crypto::smime::signer_certificates`]): a certificate
//!   merely attached to the signature proves nothing.
//!
//! A key vouches only for the sender: a key is kept when it carries the `From` address, and is
//! returned with that address. Keys for anybody else (a forwarded colleague's key) are not
//! harvested: the sender cannot speak for them.

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use signet_model::KeySource;

use crate::material::{KeyMaterial, certificates_for, merge, openpgp_keys_for};

/// At most this many keys come out of one message.
const MAX_KEYS: usize = 16;
/// Parts larger than this are not read for keys.
const MAX_PART: usize = 1 << 20;

const ARMOR_BEGIN: &[u8] = b"-----BEGIN PGP PUBLIC KEY BLOCK-----";
const ARMOR_END: &[u8] = b"-----END PGP PUBLIC KEY BLOCK-----";

/// What carried a harvested key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarvestSource {
    AttachedKey,
    Autocrypt,
    SmimeSignature,
}

impl HarvestSource {
    pub fn label(self) -> &'static str {
        match self {
            HarvestSource::AttachedKey => "attached key",
            HarvestSource::Autocrypt => "Autocrypt header",
            HarvestSource::SmimeSignature => "S/MIME signature",
        }
    }
}

/// A key found in a message, with the address it vouches for (the sender's, lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestedKey {
    pub key: KeyMaterial,
    pub address: String,
    pub how: HarvestSource,
}

impl HarvestedKey {
    /// The key cache's Source for this key.
    pub fn source(&self) -> KeySource {
        KeySource::MailFlow {
            how: self.how.label().to_string(),
        }
    }
}

/// Every key the message offers for its sender. A message that does not parse, has no `From`
/// or offers nothing gives an empty list.
pub fn harvest(message: &[u8]) -> Vec<HarvestedKey> {
    let Some(parsed) = MessageParser::default().parse(message) else {
        return Vec::new();
    };
    let Some(from) = parsed
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_ascii_lowercase)
    else {
        return Vec::new();
    };
    let mut found: Vec<(KeyMaterial, HarvestSource)> = Vec::new();
    let mut add = |keys: Vec<KeyMaterial>, how: HarvestSource| {
        let mut ids: Vec<KeyMaterial> = found.iter().map(|(k, _)| k.clone()).collect();
        let before = ids.len();
        merge(&mut ids, keys, MAX_KEYS);
        for k in ids.into_iter().skip(before) {
            found.push((k, how));
        }
    };

    let autocrypt: Vec<&str> = parsed
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Autocrypt"))
        .map(|(_, value)| value)
        .collect();
    // Autocrypt Level 1: more than one header means none is used.
    if let [only] = autocrypt.as_slice()
        && let Some(keydata) = autocrypt_keydata(only, &from)
    {
        add(openpgp_keys_for(&keydata, &from), HarvestSource::Autocrypt);
    }

    for part in &parsed.parts {
        if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
            continue;
        }
        let contents = part.contents();
        if contents.len() > MAX_PART {
            continue;
        }
        let (ctype, subtype) = part
            .content_type()
            .map(|c| {
                (
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or("").to_ascii_lowercase(),
                )
            })
            .unwrap_or_else(|| ("text".into(), "plain".into()));
        match (ctype.as_str(), subtype.as_str()) {
            ("application", "pgp-keys") => add(
                openpgp_keys_for(contents, &from),
                HarvestSource::AttachedKey,
            ),
            ("application", "pkcs7-signature" | "x-pkcs7-signature") => add(
                certificates_for(contents, &from),
                HarvestSource::SmimeSignature,
            ),
            ("application", "pkcs7-mime" | "x-pkcs7-mime")
                if part
                    .content_type()
                    .and_then(|c| c.attribute("smime-type"))
                    .is_some_and(|t| t.eq_ignore_ascii_case("signed-data")) =>
            {
                add(
                    certificates_for(contents, &from),
                    HarvestSource::SmimeSignature,
                )
            }
            _ => {
                for block in armored_blocks(contents) {
                    add(openpgp_keys_for(block, &from), HarvestSource::AttachedKey);
                }
            }
        }
    }
    if found
        .iter()
        .any(|(_, how)| *how == HarvestSource::SmimeSignature)
    {
        let signers = signet_crypto::smime::signer_certificates(message);
        found.retain(|(key, how)| {
            *how != HarvestSource::SmimeSignature || signers.iter().any(|s| s.cert_der == key.data)
        });
    }
    found
        .into_iter()
        .map(|(key, how)| HarvestedKey {
            key,
            address: from.clone(),
            how,
        })
        .collect()
}

/// The key data of an Autocrypt header whose `addr` is the sender's. A header with an unknown
/// critical attribute (one not starting with `_`) is ignored, as Level 1 says.
pub fn autocrypt_keydata(value: &str, from: &str) -> Option<Vec<u8>> {
    let mut addr = None;
    let mut keydata = None;
    for attribute in value.split(';') {
        let (name, val) = attribute.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "addr" => addr = Some(val.trim().to_ascii_lowercase()),
            "keydata" => keydata = Some(val),
            "prefer-encrypt" => {}
            n if n.starts_with('_') => {}
            _ => return None,
        }
    }
    if addr.as_deref() != Some(from) {
        return None;
    }
    let compact: String = keydata?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// The armored public key blocks in a text.
fn armored_blocks(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, ARMOR_BEGIN) {
        let Some(len) = find(&rest[start..], ARMOR_END) else {
            break;
        };
        let end = start + len + ARMOR_END.len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
        if out.len() >= MAX_KEYS {
            break;
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
