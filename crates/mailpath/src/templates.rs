//! Message templates (guide: Mail > Message Templates): the notifications and bounces the
//! server writes itself. Each template is a whole RFC 5322 message, header fields, one empty
//! line, body, with `$VARIABLES` that expand when it is sent. A template with a variable it
//! does not know is refused when it is checked (the reference product silently sends nothing;
//! refusing at save time is stricter and tells the administrator why).
//!
//! Bounces go out as RFC 3464 delivery status notifications: the template's text is the
//! human-readable part, followed by the machine-readable status and the original header.

use std::collections::BTreeMap;

use signet_model::template::render_template;
use signet_smtp::reply::rfc5322_date;
use signet_smtp::spool::now_millis;

/// The catalogue ids of the templates the mail path sends (texts: the replicated state's
/// edited text, else the factory text of `signet_model::template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateName {
    /// A recipient could not be reached (permanent failure, or 96 hours of retries).
    DeliveryFailure,
    /// Policy said Bounce, or a key was required and not found.
    PolicyBounce,
    /// KB 160945: mail from an unmanaged domain, bounced.
    InternalServerError,
    /// A confirmation link for one address of a key submitted to the Verified Directory.
    VerifiedDirectoryConfirmation,
    /// A removal link for the keys of an address in the Verified Directory.
    VerifiedDirectoryRemoval,
    /// An administrator was locked out after failed logins.
    AdministratorLockout,
}

impl TemplateName {
    pub fn id(self) -> &'static str {
        match self {
            TemplateName::DeliveryFailure => "delivery-failure",
            TemplateName::PolicyBounce => "policy-bounce",
            TemplateName::InternalServerError => "internal-server-error",
            TemplateName::VerifiedDirectoryConfirmation => "verified-directory-confirmation",
            TemplateName::VerifiedDirectoryRemoval => "verified-directory-removal",
            TemplateName::AdministratorLockout => "administrator-lockout",
        }
    }
}

/// A template's text is checked when it is saved; a text that still has no header section
/// (written before a check existed, or hand-made) falls back to a minimal one here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template has no empty line between its header fields and its body")]
    NoBody,
}

/// What a bounce reports.
pub struct BounceFacts<'a> {
    /// The template's text in force.
    pub text: &'a str,
    pub sender: &'a str,
    /// (address, reason), one per failed recipient.
    pub failed: &'a [(String, String)],
    pub connection: u64,
    pub queue_id: &'a str,
    pub hostname: &'a str,
    pub postmaster: &'a str,
    /// The original message (its header is returned, never its body).
    pub original: &'a [u8],
}

/// A complete DSN (multipart/report; RFC 3464) built around the template's text.
pub fn bounce_message(facts: &BounceFacts<'_>) -> Result<Vec<u8>, TemplateError> {
    let original_header = header_section(facts.original);
    let subject = header_value(&original_header, "Subject").unwrap_or_default();
    let mut values = BTreeMap::new();
    values.insert("SENDER", facts.sender.to_string());
    values.insert(
        "RECIPIENTS",
        facts
            .failed
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    values.insert(
        "REASON",
        facts
            .failed
            .iter()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    );
    values.insert("SUBJECT", subject);
    values.insert("CONNECTION_ID", format!("SMTP-{:05}", facts.connection));
    values.insert("QUEUE_ID", facts.queue_id.to_string());
    values.insert("HOSTNAME", facts.hostname.to_string());
    values.insert("POSTMASTER", facts.postmaster.to_string());
    values.insert("DATE", rfc5322_date(now_millis()));
    let text = render_template(facts.text, &values);
    let (head, body) = text.split_once("\n\n").ok_or(TemplateError::NoBody)?;
    let boundary = format!("=_signet_dsn_{:016x}", rand::random::<u64>());
    let mut out = String::new();
    for line in head.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Date: {}\r\nMessage-ID: <{}.dsn@{}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"{boundary}\"\r\n\r\n",
        rfc5322_date(now_millis()),
        facts.queue_id,
        facts.hostname
    ));
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ));
    for line in body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {}\r\n",
        facts.hostname
    ));
    for (address, reason) in facts.failed {
        let reason = reason.replace(['\r', '\n'], " ");
        out.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {reason}\r\n",
            status_of(&reason)
        ));
    }
    out.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{}\r\n--{boundary}--\r\n",
        original_header.trim_end()
    ));
    Ok(out.into_bytes())
}

/// A notification the server writes (Verified Directory mail): the template's text with
/// `values` expanded, as a complete text/plain message with Date, Message-ID and
/// `Auto-Submitted: auto-generated`.
pub fn notification_message(
    text: &str,
    values: &BTreeMap<&str, String>,
    hostname: &str,
) -> Result<Vec<u8>, TemplateError> {
    let text = render_template(text, values);
    let (head, body) = text.split_once("\n\n").ok_or(TemplateError::NoBody)?;
    let mut out = String::new();
    for line in head.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Date: {}\r\nMessage-ID: <{:016x}.vd@{hostname}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        rfc5322_date(now_millis()),
        rand::random::<u64>()
    ));
    for line in body.lines() {
        out.push_str(line);
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

/// The enhanced status code in a reason, else a generic permanent failure.
fn status_of(reason: &str) -> String {
    reason
        .split_whitespace()
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "4" | "5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|s| s.replacen('4', "5", 1))
        .unwrap_or_else(|| "5.0.0".into())
}

fn header_section(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let end = text
        .find("\r\n\r\n")
        .or_else(|| text.find("\n\n"))
        .unwrap_or(text.len().min(64 * 1024));
    text[..end].replace("\r\n", "\n").replace('\n', "\r\n")
}

fn header_value(header: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = header.split("\r\n");
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut value = line[prefix.len()..].trim().to_string();
            for cont in lines.by_ref() {
                if !cont.starts_with([' ', '\t']) {
                    break;
                }
                value.push(' ');
                value.push_str(cont.trim());
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_names_the_recipient_reason_and_connection() -> Result<(), TemplateError> {
        let original =
            b"From: alice@example.com\r\nSubject: Quarterly\r\n numbers\r\n\r\nsecret body\r\n";
        let failed = vec![(
            "bob@ext.test".to_string(),
            "RCPT TO:<bob@ext.test>: 550 5.1.1 No such user".to_string(),
        )];
        let text = signet_model::template_spec(TemplateName::DeliveryFailure.id())
            .map(|t| t.default_text)
            .unwrap_or_default();
        let dsn = bounce_message(&BounceFacts {
            text,
            sender: "alice@example.com",
            failed: &failed,
            connection: 12,
            queue_id: "0abc",
            hostname: "gw.example.com",
            postmaster: "postmaster@example.com",
            original,
        })?;
        let text = String::from_utf8_lossy(&dsn);
        assert!(
            text.contains("Subject: Message undeliverable\r\n"),
            "{text}"
        );
        assert!(text.contains("To: alice@example.com\r\n"));
        assert!(text.contains("  bob@ext.test\r\n"));
        assert!(text.contains("Connection ID: SMTP-00012"));
        assert!(text.contains("Subject: Quarterly numbers"));
        assert!(text.contains("Status: 5.1.1"));
        assert!(text.contains("report-type=delivery-status"));
        assert!(
            !text.contains("secret body"),
            "the original body is not returned"
        );
        assert!(!text.contains('$'), "every variable expanded: {text}");
        Ok(())
    }

    #[test]
    fn a_text_without_a_body_is_an_error() {
        let r = bounce_message(&BounceFacts {
            text: "Subject: broken",
            sender: "a@b",
            failed: &[],
            connection: 1,
            queue_id: "1",
            hostname: "h",
            postmaster: "p@h",
            original: b"Subject: x\r\n\r\n",
        });
        assert_eq!(r, Err(TemplateError::NoBody));
    }
}
