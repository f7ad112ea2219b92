//! Message templates (guide: Mail > Message Templates): the messages the server writes itself,
//! bounces and notifications. Each template is a whole RFC 5322 message, header fields, one
//! empty line, body, with `$VARIABLES` that expand when it is sent.
//!
//! This file holds the catalogue (every template the guide names, its factory text and the
//! variables it may use) and the checks; the replicated state keeps an administrator's edited
//! text ([`MessageTemplate`]), and "revert to default" removes it. A template with a variable
//! it may not use is refused when it is saved (the reference product silently sends nothing;
//! refusing at save time says why).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// An administrator's edited text for one template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTemplate {
    /// The catalogue id, e.g. `delivery-failure`.
    pub id: String,
    pub text: String,
    pub updated_at: UnixMillis,
}

/// One template of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateSpec {
    /// Stable id used by the API and the store.
    pub id: &'static str,
    /// The name the guide gives it.
    pub title: &'static str,
    /// When it is sent.
    pub trigger: &'static str,
    /// The variables it may use (without `$`).
    pub variables: &'static [&'static str],
    pub default_text: &'static str,
    /// Sent by the mail path today (the others come with the web portal).
    pub in_use: bool,
}

const BOUNCE_VARS: &[&str] = &[
    "SENDER",
    "RECIPIENTS",
    "REASON",
    "SUBJECT",
    "CONNECTION_ID",
    "QUEUE_ID",
    "HOSTNAME",
    "POSTMASTER",
    "DATE",
];

const PORTAL_VARS: &[&str] = &[
    "SENDER",
    "RECIPIENT",
    "SUBJECT",
    "URL",
    "HOSTNAME",
    "POSTMASTER",
    "DATE",
    "EXPIRES",
];

/// Verified Directory mail: `$FROM` is the Customized Sender Address (or the postmaster),
/// `$URL` the link to follow, `$VALID_HOURS` how long it works.
const VD_VARS: &[&str] = &[
    "FROM",
    "RECIPIENT",
    "USER_ID",
    "FINGERPRINT",
    "URL",
    "VALID_HOURS",
    "HOSTNAME",
    "DATE",
];

/// The lockout notice to an administrator: `$FROM` is the postmaster of the first managed
/// domain, `$UNTIL` when the lockout ends (UTC).
const LOCKOUT_VARS: &[&str] = &["FROM", "RECIPIENT", "LOGIN", "UNTIL", "HOSTNAME", "DATE"];

macro_rules! portal {
    ($id:literal, $title:literal, $trigger:literal, $subject:literal, $body:literal) => {
        TemplateSpec {
            id: $id,
            title: $title,
            trigger: $trigger,
            variables: PORTAL_VARS,
            default_text: concat!(
                "From: $POSTMASTER\nTo: $RECIPIENT\nSubject: ",
                $subject,
                "\n\n",
                $body,
                "\n"
            ),
            in_use: false,
        }
    };
}

/// Every template, in the guide's order. Bounce texts share the subject "Message
/// undeliverable", as KB 160945 describes.
pub const TEMPLATES: &[TemplateSpec] = &[
    TemplateSpec {
        id: "delivery-failure",
        title: "Message Bounced -- Delivery Failure",
        trigger: "A recipient failed permanently or could not be reached for 96 hours.",
        variables: BOUNCE_VARS,
        default_text: "From: Mail Delivery System <$POSTMASTER>\nTo: $SENDER\nSubject: Message undeliverable\n\nYour message could not be delivered to:\n\n  $RECIPIENTS\n\nReason: $REASON\n\nSubject: $SUBJECT\nConnection ID: $CONNECTION_ID (search the Mail Log for it)\nServer: $HOSTNAME\n",
        in_use: true,
    },
    TemplateSpec {
        id: "policy-bounce",
        title: "Message Bounced -- Policy",
        trigger: "Policy bounced a recipient (the Bounce action, or no key where one is required).",
        variables: BOUNCE_VARS,
        default_text: "From: Mail Delivery System <$POSTMASTER>\nTo: $SENDER\nSubject: Message undeliverable\n\nYour message was not sent to:\n\n  $RECIPIENTS\n\nThe organization's mail policy did not allow it: $REASON\n\nSubject: $SUBJECT\nConnection ID: $CONNECTION_ID (search the Mail Log for it)\nServer: $HOSTNAME\n",
        in_use: true,
    },
    TemplateSpec {
        id: "internal-server-error",
        title: "Message Bounced -- Internal Server Error",
        trigger: "Outbound mail from a domain that is not managed, with the unmanaged-domain option on (KB 160945).",
        variables: BOUNCE_VARS,
        default_text: "From: Mail Delivery System <$POSTMASTER>\nTo: $SENDER\nSubject: Message undeliverable\n\nYour message to:\n\n  $RECIPIENTS\n\ncould not be processed: $REASON\n\nSubject: $SUBJECT\nConnection ID: $CONNECTION_ID (search the Mail Log for it)\nServer: $HOSTNAME\n",
        in_use: true,
    },
    TemplateSpec {
        id: "message-too-large",
        title: "Message Bounced - Message Too Large",
        trigger: "A Web Email Protection recipient's message is larger than the quota or 50 MB.",
        variables: BOUNCE_VARS,
        default_text: "From: Mail Delivery System <$POSTMASTER>\nTo: $SENDER\nSubject: Message undeliverable: message too large\n\nYour message to:\n\n  $RECIPIENTS\n\nwas larger than the server accepts and was not delivered.\n\nSubject: $SUBJECT\nConnection ID: $CONNECTION_ID\nServer: $HOSTNAME\n",
        in_use: false,
    },
    TemplateSpec {
        id: "quota-exceeded",
        title: "Quota Exceeded for Web Messenger Recipient (Delivered to Sender)",
        trigger: "The message would exceed the recipient's Web Email Protection quota.",
        variables: BOUNCE_VARS,
        default_text: "From: Mail Delivery System <$POSTMASTER>\nTo: $SENDER\nSubject: Message undeliverable: mailbox full\n\nYour message to $RECIPIENTS was not delivered: the recipient's secure mailbox is full.\n\nSubject: $SUBJECT\nConnection ID: $CONNECTION_ID\n",
        in_use: false,
    },
    TemplateSpec {
        id: "verified-directory-confirmation",
        title: "Verified Directory Confirmation",
        trigger: "A key was submitted to the Verified Directory (or its certification is due for renewal): one mail per address on it.",
        variables: VD_VARS,
        default_text: "From: $FROM\nTo: $RECIPIENT\nSubject: Confirm your address for the Verified Directory\n\nSomeone submitted the key $FINGERPRINT to the Verified Directory at $HOSTNAME with the user ID\n\n  $USER_ID\n\nTo publish your address with this key, open this link and press Confirm:\n\n  $URL\n\nThe link works for $VALID_HOURS hours. If you did not submit this key, ignore this mail: the address is not published.\n",
        in_use: true,
    },
    TemplateSpec {
        id: "verified-directory-removal",
        title: "Verified Directory Removal",
        trigger: "Someone asked to remove the keys of an address from the Verified Directory.",
        variables: VD_VARS,
        default_text: "From: $FROM\nTo: $RECIPIENT\nSubject: Remove your key from the Verified Directory\n\nSomeone asked to remove the keys with the address $RECIPIENT from the Verified Directory at $HOSTNAME.\n\nTo remove them, open this link and press Remove:\n\n  $URL\n\nThe link works for $VALID_HOURS hours. If you did not ask for this, ignore this mail: nothing is removed.\n",
        in_use: true,
    },
    TemplateSpec {
        id: "administrator-lockout",
        title: "Administrator Lockout",
        trigger: "An administrator with an email address is locked out after too many failed logins (lockout is off unless a threshold is set).",
        variables: LOCKOUT_VARS,
        default_text: "From: $FROM\nTo: $RECIPIENT\nSubject: Your Signet administrator account $LOGIN is locked\n\nThe administrator account $LOGIN on $HOSTNAME was locked after too many failed logins, at $DATE.\n\nIt refuses every login until $UNTIL, or until a SuperUser unlocks it (Administrators page, Unlock; or signet admin unlock $LOGIN).\n\nIf these attempts were not yours, someone is guessing your passphrase: tell your security officer.\n",
        in_use: true,
    },
    portal!(
        "smart-trailer",
        "Smart Trailer",
        "Appended to mail sent clear to a recipient without a key.",
        "$SUBJECT",
        "This message was sent to you unencrypted. To receive encrypted mail from $SENDER in the future, visit $URL"
    ),
    portal!(
        "pdf-new-message",
        "New Symantec PDF Email Protection Message Notification",
        "A PDF recipient with a passphrase: the message is converted to a secure PDF.",
        "Secure message from $SENDER",
        "You have received a secure message from $SENDER. Open the attached PDF with your passphrase."
    ),
    portal!(
        "pdf-establish-passphrase",
        "Establish Symantec PDF Email Protection Passphrase",
        "An existing Web Email Protection user with no usable passphrase on record.",
        "Set your passphrase to read secure mail",
        "To read secure mail from $SENDER, set your passphrase at $URL"
    ),
    portal!(
        "pdf-new-user-establish-passphrase",
        "New User Email - Establish Symantec PDF Email Protection Passphrase",
        "A new PDF recipient without an account.",
        "Secure message from $SENDER: set your passphrase",
        "You have a secure message from $SENDER. Set your passphrase at $URL to read it."
    ),
    portal!(
        "pdf-new-message-secure-reply",
        "New Symantec PDF Email Protection Message Notification + Secure Reply",
        "An existing user; the notice has a Secure Reply link.",
        "Secure message from $SENDER",
        "You have received a secure message from $SENDER. To reply securely, visit $URL"
    ),
    portal!(
        "certified-delivery-secure-reply",
        "New Certified Delivery Message Notification + Secure Reply",
        "Certified delivery with secure reply: open the attached Read Me First.html.",
        "Certified message from $SENDER",
        "Open the attached \"Read Me First.html\" to read the message from $SENDER. To reply securely, visit $URL"
    ),
    portal!(
        "certified-delivery",
        "New Certified Delivery Message Notification",
        "Certified delivery without reply.",
        "Certified message from $SENDER",
        "Open the attached \"Read Me First.html\" to read the message from $SENDER."
    ),
    portal!(
        "secure-reply-trailer",
        "Secure Reply Trailer",
        "Appended to secure messages: a Secure Reply link.",
        "$SUBJECT",
        "Reply securely to $SENDER at $URL"
    ),
    portal!(
        "wep-new-message",
        "New Message Notification",
        "A new Web Email Protection message is waiting.",
        "Secure message from $SENDER",
        "You have a new secure message from $SENDER. Read it at $URL"
    ),
    portal!(
        "wep-new-user-establish-passphrase",
        "New User Email - Establish Passphrase",
        "An external user imported on the External Users page must set a passphrase.",
        "Set your passphrase for secure mail",
        "An account for secure mail was made for you. Set your passphrase at $URL"
    ),
    portal!(
        "wep-new-user-out-of-band",
        "New User Email - Out-of-band Passphrase",
        "The recipient must get the passphrase from the sender.",
        "Secure message from $SENDER",
        "You have a secure message from $SENDER. Ask the sender for your passphrase, then visit $URL"
    ),
    portal!(
        "wep-out-of-band-to-sender",
        "Out-of-band Passphrase (Delivered to sender)",
        "Asks the sender to create the recipient's passphrase.",
        "Create a passphrase for $RECIPIENT",
        "Your secure message to $RECIPIENT is waiting. Create a passphrase for them at $URL and tell them by another channel."
    ),
    portal!(
        "wep-expiration-warning",
        "Expiration Warning Message",
        "7 days before an external user's Web Email Protection account expires.",
        "Your secure mail account expires on $EXPIRES",
        "Your secure mail account expires on $EXPIRES. Sign in at $URL to keep it."
    ),
];

/// The catalogue entry for an id.
pub fn template_spec(id: &str) -> Option<&'static TemplateSpec> {
    TEMPLATES.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template {0:?}")]
    Unknown(String),
    #[error("the template has no empty line between its header fields and its body")]
    NoBody,
    #[error("the template's header section is not valid: {0}")]
    BadHeader(String),
    #[error("the variable ${0} cannot be used in this template (allowed: {1})")]
    UnknownVariable(String, String),
    #[error("the template is larger than 64 KiB")]
    TooLarge,
}

/// Checks a template's text for template `id`: a header section, an empty line, a body, and
/// only the variables that template may use.
pub fn check_template(id: &str, text: &str) -> Result<(), TemplateError> {
    let spec = template_spec(id).ok_or_else(|| TemplateError::Unknown(id.to_string()))?;
    if text.len() > 64 * 1024 {
        return Err(TemplateError::TooLarge);
    }
    let text = text.replace("\r\n", "\n");
    let Some((head, _)) = text.split_once("\n\n") else {
        return Err(TemplateError::NoBody);
    };
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return Err(TemplateError::BadHeader(format!(
                "{line:?} is not a header field"
            )));
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TemplateError::BadHeader(format!(
                "{name:?} is not a field name"
            )));
        }
    }
    for var in variables_in(&text) {
        if !spec.variables.contains(&var.as_str()) {
            return Err(TemplateError::UnknownVariable(
                var,
                format!("${}", spec.variables.join(", $")),
            ));
        }
    }
    Ok(())
}

fn variables_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name.clone());
        }
        rest = &after[name.len()..];
    }
    out
}

/// Expands `$NAME` with `values` (longest names first, so `$SENDER_X` cannot half-match).
/// Values become single-line (CR and LF turn into spaces), so they cannot add header fields.
pub fn render_template(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut names: Vec<&&str> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.replace("\r\n", "\n");
    for name in names {
        let value = values[*name].replace(['\r', '\n'], " ");
        out = out.replace(&format!("${name}"), &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_valid_and_unique() {
        let mut ids = std::collections::HashSet::new();
        for t in TEMPLATES {
            assert!(ids.insert(t.id), "{} twice", t.id);
            assert_eq!(check_template(t.id, t.default_text), Ok(()), "{}", t.title);
        }
        assert_eq!(TEMPLATES.len(), 21);
    }

    #[test]
    fn malformed_templates_are_refused() {
        let id = "delivery-failure";
        assert_eq!(
            check_template(id, "Subject: x\nbody without blank line"),
            Err(TemplateError::NoBody)
        );
        assert!(matches!(
            check_template(id, "Subject x\n\nbody"),
            Err(TemplateError::BadHeader(_))
        ));
        assert!(matches!(
            check_template(id, "Subject: $URL\n\nbody"),
            Err(TemplateError::UnknownVariable(v, _)) if v == "URL"
        ));
        assert!(matches!(
            check_template("nope", "x"),
            Err(TemplateError::Unknown(_))
        ));
        assert_eq!(
            check_template("wep-new-message", "To: $RECIPIENT\n\n$URL\n"),
            Ok(())
        );
    }

    #[test]
    fn rendering_cannot_add_header_fields() {
        let mut v = BTreeMap::new();
        v.insert("SUBJECT", "hi\r\nBcc: evil@x".to_string());
        v.insert("SENDER", "a@b".to_string());
        let out = render_template("Subject: $SUBJECT\nTo: $SENDER\n\nx\n", &v);
        assert_eq!(out, "Subject: hi  Bcc: evil@x\nTo: a@b\n\nx\n");
    }
}
