//! Applying a [`Treatment`] to the bytes of one group's copy: header edits first (rules add
//! them to the message as received), then encryption, signing or decryption through the crypto
//! crate. Decryption adds annotation header fields saying what was found, and the body
//! annotation the rule asks for.

use signet_crypto::mime::{self, HeaderField};
use signet_crypto::openpgp::Cert;
use signet_crypto::{Annotation as Found, Format, SignatureStatus, pgpmime, smime};
use signet_policy::model::Annotation;

use crate::annotate::{annotate_body, annotation_lines};
use crate::error::MailError;
use crate::keys::MailKeys;
use crate::plan::Treatment;

/// Adds or replaces header fields, in order. New fields go on top, under the trace fields
/// (Received) so the message still reads in hop order.
pub fn edit_headers(
    message: &[u8],
    edits: &[(String, String, bool)],
) -> Result<Vec<u8>, MailError> {
    if edits.is_empty() {
        return Ok(message.to_vec());
    }
    let mut split = mime::split(message)?;
    for (name, value, replace) in edits {
        let clean: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let field = HeaderField {
            name: name.clone(),
            raw: format!("{name}: {clean}\r\n").into_bytes(),
        };
        if *replace {
            split.fields.retain(|f| !f.name.eq_ignore_ascii_case(name));
        }
        let at = split
            .fields
            .iter()
            .position(|f| !f.name.eq_ignore_ascii_case("received"))
            .unwrap_or(split.fields.len());
        split.fields.insert(at, field);
    }
    let mut out = Vec::with_capacity(message.len() + 256);
    for f in &split.fields {
        out.extend_from_slice(&f.raw);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&split.body);
    Ok(out)
}

/// The group's copy after its treatment. `recipients` are the group's addresses.
pub fn apply(
    treatment: &Treatment,
    message: &[u8],
    sender: &str,
    recipients: &[String],
    keys: &MailKeys<'_>,
) -> Result<Vec<u8>, MailError> {
    match treatment {
        Treatment::Unchanged | Treatment::Bounce { .. } | Treatment::Drop => Ok(message.to_vec()),
        Treatment::Encrypt {
            format: Format::Smime,
            sign,
            senders_key,
        } => {
            let mut certs = Vec::new();
            for r in recipients {
                let key = keys
                    .recipient(r)?
                    .and_then(|k| k.smime)
                    .ok_or_else(|| MailError::NoKey(r.clone()))?;
                certs.push(key);
            }
            if *senders_key && let Some(own) = keys.recipient(sender)?.and_then(|k| k.smime) {
                certs.push(own);
            }
            let refs: Vec<&[u8]> = certs.iter().map(Vec::as_slice).collect();
            match (sign, keys.smime_signer(sender)?) {
                (true, Some((identity, chain))) => {
                    Ok(smime::encrypt_and_sign(message, &identity, &chain, &refs)?)
                }
                _ => Ok(smime::encrypt(message, &refs)?),
            }
        }
        Treatment::Encrypt {
            format,
            sign,
            senders_key,
        } => {
            let mut certs: Vec<Cert> = Vec::new();
            for r in recipients {
                let key = keys
                    .recipient(r)?
                    .and_then(|k| k.cert)
                    .ok_or_else(|| MailError::NoKey(r.clone()))?;
                certs.push(key);
            }
            if *senders_key && let Some(own) = keys.recipient(sender)?.and_then(|k| k.cert) {
                certs.push(own);
            }
            let signer = if *sign {
                Some(keys.openpgp_signer(sender)?)
            } else {
                None
            };
            let refs: Vec<&Cert> = certs.iter().collect();
            Ok(pgpmime::encrypt(message, &refs, signer.as_ref(), *format)?)
        }
        Treatment::Sign { format } => {
            let signer = keys.openpgp_signer(sender)?;
            Ok(pgpmime::sign(message, &signer, *format)?)
        }
        Treatment::Decrypt { annotation } => decrypt(message, recipients, *annotation, keys),
    }
}

/// Opens an OpenPGP or S/MIME message for internal recipients. What cannot be opened (not
/// for our keys, damaged) is delivered as it came, with a header field that says why: the
/// recipient may still hold a key the server does not.
fn decrypt(
    message: &[u8],
    recipients: &[String],
    annotation: Annotation,
    keys: &MailKeys<'_>,
) -> Result<Vec<u8>, MailError> {
    let opened = if smime::smime_content(message) {
        let (identities, trusted) = keys.smime_ring(recipients)?;
        smime::open(message, &identities, &trusted).map(Some)
    } else {
        let ring = keys.openpgp_ring(recipients)?;
        pgpmime::open(message, &ring)
    };
    match opened {
        Ok(Some(opened)) => {
            let edits = annotation_fields(&opened.annotation, annotation);
            let lines = annotation_lines(&opened.annotation, annotation);
            let body = annotate_body(&opened.message, &lines);
            edit_headers(body.as_deref().unwrap_or(&opened.message), &edits)
        }
        Ok(None) => Ok(message.to_vec()),
        Err(e) => {
            tracing::info!(error = %e, "decrypt and verify: the message could not be opened; delivered as received");
            edit_headers(
                message,
                &[("X-Signet-Decryption".into(), format!("failed: {e}"), true)],
            )
        }
    }
}

/// Header fields that record what decryption and verification found. `None` annotation
/// still records the facts in header fields (they are not shown by mail clients); the body
/// annotation is [`crate::annotate`]'s.
fn annotation_fields(found: &Found, setting: Annotation) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    if found.was_encrypted {
        out.push((
            "X-Signet-Decrypted".to_string(),
            format!("yes ({:?})", found.format),
            true,
        ));
    }
    let signature = match found.signatures.first() {
        None => "none".to_string(),
        Some(s) => {
            let who = s.signer.join(", ");
            match &s.status {
                SignatureStatus::Good => format!("good; signer={who}"),
                SignatureStatus::Bad => "BAD: the message was changed after it was signed".into(),
                SignatureStatus::UnknownSigner => format!(
                    "unknown signer (key {})",
                    s.key_id
                        .clone()
                        .or_else(|| s.fingerprint.clone())
                        .unwrap_or_default()
                ),
                SignatureStatus::KeyNotValid(why) => format!("key not valid: {why}; signer={who}"),
            }
        }
    };
    let failure = signature.starts_with("BAD") || signature.starts_with("key not valid");
    if setting != Annotation::FailuresOnly || failure {
        out.push(("X-Signet-Signature".to_string(), signature, true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_added_under_received_and_replaced() -> Result<(), MailError> {
        let msg = b"Received: from x\r\nSubject: hi\r\nX-Tag: old\r\n\r\nbody\r\n";
        let out = edit_headers(
            msg,
            &[
                ("X-Tag".into(), "new".into(), true),
                ("X-Other".into(), "a\r\nInjected: yes".into(), false),
            ],
        )?;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(
                "Received: from x\r\nX-Other: a  Injected: yes\r\nX-Tag: new\r\nSubject: hi\r\n"
            ),
            "{text}"
        );
        assert!(!text.contains("old"));
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
        Ok(())
    }
}
