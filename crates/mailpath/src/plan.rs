//! From a policy plan to what happens to each recipient: the [`Treatment`] (keep, encrypt,
//! sign, decrypt, bounce, drop) and the side effects (header edits, log entries, dictionary
//! additions). Recipients with the same treatment share one outgoing message.
//!
//! Key-not-found is resolved here, per recipient, before grouping: a recipient whose key is
//! missing gets the rule's key-not-found choice, the others are encrypted.

use signet_crypto::Format;
use signet_model::KeyMode;
use signet_policy::eval::{Disposition, PlannedAction, RecipientPlan};
use signet_policy::model::{
    Action, AddressSource, Annotation, ArchiveOptions, KeyNotFound, PreferredEncoding,
};

/// What one recipient's copy of the message becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Treatment {
    /// Delivered as it is (Send clear, Deliver, pass through, Learn Mode).
    Unchanged,
    /// Encrypted to every recipient of the group (and the sender when asked), signed or not.
    Encrypt {
        format: Format,
        sign: bool,
        senders_key: bool,
    },
    /// Signed, not encrypted (key-not-found: send clear signed).
    Sign { format: Format },
    /// Decrypted and verified for an internal recipient, then annotated.
    Decrypt { annotation: Annotation },
    /// Not sent; the sender gets a bounce with this reason.
    Bounce { reason: String },
    /// Not sent; nobody is told.
    Drop,
}

/// One recipient's decision, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub recipient: String,
    pub treatment: Treatment,
    /// (name, value, replace existing) in action order.
    pub headers: Vec<(String, String, bool)>,
    /// (dictionary, address) to add.
    pub dictionary_additions: Vec<(String, String)>,
    /// Log entries the rules asked for.
    pub log_entries: Vec<String>,
    /// "chain / rule" that decided, for the log.
    pub decided_by: Option<String>,
    /// Archive copies to send (Send copy to alternate archive server).
    pub archive: Vec<ArchiveOptions>,
    /// Send found no key: the keyservers the rule's Key Search lists, to try before the
    /// key-not-found choice stands.
    pub key_search: Vec<String>,
}

/// What the key search found for a recipient (the caller looks keys up before deciding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyFacts {
    pub openpgp: Option<KeyMode>,
    pub smime: bool,
    /// "Require verified key" accepts the OpenPGP key (a user's own, from a trusted source,
    /// or certified by a trusted key; not a key harvested from mail or from an untrusted
    /// keyserver on its own).
    pub openpgp_verified: bool,
    /// The S/MIME certificate is a user's own or its chain reaches a Trusted certificate.
    pub smime_verified: bool,
}

/// Turns one recipient's plan into a decision.
pub fn decide(plan: &RecipientPlan, sender: &str, keys: impl Fn(&str) -> KeyFacts) -> Decision {
    let mut d = Decision {
        recipient: plan.recipient.clone(),
        treatment: Treatment::Unchanged,
        headers: Vec::new(),
        dictionary_additions: Vec::new(),
        log_entries: Vec::new(),
        decided_by: None,
        archive: Vec::new(),
        key_search: Vec::new(),
    };
    for planned in &plan.actions {
        match &planned.action {
            Action::AddHeader {
                name,
                value,
                replace_existing,
            } => d
                .headers
                .push((name.clone(), value.clone(), *replace_existing)),
            Action::AddLogEntry { text } => d.log_entries.push(text.clone()),
            Action::AddToDictionary {
                address,
                dictionary,
            } => {
                let who = match address {
                    AddressSource::Sender => sender.to_string(),
                    AddressSource::Recipient | AddressSource::MailingList => plan.recipient.clone(),
                };
                d.dictionary_additions.push((dictionary.clone(), who));
            }
            Action::SendArchiveCopy(opts) => d.archive.push(opts.clone()),
            _ => {}
        }
    }
    let finished = match &plan.disposition {
        Disposition::Finished(p) => p,
        Disposition::ExpandMailingList(p) => {
            d.decided_by = Some(by(p));
            d.log_entries.push(
                "Expand mailing list: no mailing-list source is configured; delivered as addressed"
                    .into(),
            );
            return d;
        }
        Disposition::PassThrough | Disposition::DeliverUnchanged => return d,
    };
    d.decided_by = Some(by(finished));
    d.treatment = match &finished.action {
        Action::Send(opts) => {
            let found = keys(&plan.recipient);
            let end_to_end = |mode: KeyMode| matches!(mode, KeyMode::Ckm | KeyMode::Gkm);
            let usable_pgp = found
                .openpgp
                .filter(|m| !opts.require_end_to_end_key || end_to_end(*m))
                .filter(|_| !opts.require_verified_key || found.openpgp_verified);
            let usable_smime = found.smime
                && !opts.require_end_to_end_key
                && (!opts.require_verified_key || found.smime_verified);
            let format = match opts.encoding {
                PreferredEncoding::Smime if usable_smime => Some(Format::Smime),
                PreferredEncoding::Smime => None,
                PreferredEncoding::PgpPartitioned if usable_pgp.is_some() => {
                    Some(Format::PgpInline)
                }
                PreferredEncoding::PgpMime if usable_pgp.is_some() => Some(Format::PgpMime),
                PreferredEncoding::Automatic if usable_pgp.is_some() => Some(Format::PgpMime),
                PreferredEncoding::Automatic if usable_smime => Some(Format::Smime),
                _ => None,
            };
            match format {
                Some(format) if opts.recipient_key => Treatment::Encrypt {
                    format,
                    sign: opts.sign,
                    senders_key: opts.senders_key,
                },
                _ => {
                    d.key_search = finished
                        .key_search
                        .iter()
                        .map(|k| k.keyserver.clone())
                        .collect();
                    key_not_found(&opts.if_key_not_found, &plan.recipient)
                }
            }
        }
        Action::SendClear | Action::Deliver | Action::PassThrough => Treatment::Unchanged,
        Action::DecryptAndVerify { annotation } => Treatment::Decrypt {
            annotation: *annotation,
        },
        Action::Bounce => Treatment::Bounce {
            reason: format!("bounced by the rule \"{}\"", finished.rule),
        },
        Action::Drop => Treatment::Drop,
        Action::SendViaWep | Action::SendViaPdf(_) => Treatment::Bounce {
            reason:
                "Web Email Protection and PDF Email Protection are not available on this server yet"
                    .into(),
        },
        _ => Treatment::Unchanged,
    };
    d
}

fn by(p: &PlannedAction) -> String {
    format!("{} / {}", p.chain, p.rule)
}

fn key_not_found(choice: &KeyNotFound, recipient: &str) -> Treatment {
    match choice {
        KeyNotFound::Bounce => Treatment::Bounce {
            reason: format!("no key was found for {recipient}, and the policy requires encryption"),
        },
        KeyNotFound::SendClearSigned => Treatment::Sign {
            format: Format::PgpMime,
        },
        KeyNotFound::SendClearUnsigned => Treatment::Unchanged,
        // Fail closed: these deliver through the web portal, which comes with a later issue.
        KeyNotFound::Pdf(_) | KeyNotFound::SmartTrailer | KeyNotFound::WebEmailProtection => {
            Treatment::Bounce {
                reason: format!(
                    "no key was found for {recipient}, and Web Email Protection / PDF delivery is not available on this server yet"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_policy::model::SendOptions;

    fn finished(action: Action) -> RecipientPlan {
        RecipientPlan {
            recipient: "bob@ext.test".into(),
            actions: vec![PlannedAction {
                chain: "Outbound".into(),
                rule: "Header".into(),
                action: Action::AddHeader {
                    name: "X-Classified".into(),
                    value: "yes".into(),
                    replace_existing: true,
                },
                key_search: vec![],
            }],
            disposition: Disposition::Finished(PlannedAction {
                chain: "Outbound".into(),
                rule: "Encrypt".into(),
                action,
                key_search: vec![],
            }),
        }
    }

    fn pgp(mode: KeyMode) -> impl Fn(&str) -> KeyFacts {
        move |_| KeyFacts {
            openpgp: Some(mode),
            openpgp_verified: true,
            ..KeyFacts::default()
        }
    }

    fn none(_: &str) -> KeyFacts {
        KeyFacts::default()
    }

    #[test]
    fn send_with_a_key_encrypts_and_keeps_continuing_actions() {
        let d = decide(
            &finished(Action::Send(SendOptions::default())),
            "a@x",
            pgp(KeyMode::Skm),
        );
        assert_eq!(
            d.treatment,
            Treatment::Encrypt {
                format: Format::PgpMime,
                sign: true,
                senders_key: false
            }
        );
        assert_eq!(d.headers, vec![("X-Classified".into(), "yes".into(), true)]);
        assert_eq!(d.decided_by.as_deref(), Some("Outbound / Encrypt"));
    }

    #[test]
    fn key_not_found_choices() {
        let send = |knf| {
            Action::Send(SendOptions {
                if_key_not_found: knf,
                ..SendOptions::default()
            })
        };
        assert!(matches!(
            decide(&finished(send(KeyNotFound::Bounce)), "a@x", none).treatment,
            Treatment::Bounce { .. }
        ));
        assert_eq!(
            decide(&finished(send(KeyNotFound::SendClearSigned)), "a@x", none).treatment,
            Treatment::Sign {
                format: Format::PgpMime
            }
        );
        assert_eq!(
            decide(&finished(send(KeyNotFound::SendClearUnsigned)), "a@x", none).treatment,
            Treatment::Unchanged
        );
        // Require end-to-end: an SKM key does not count.
        let e2e = Action::Send(SendOptions {
            require_end_to_end_key: true,
            ..SendOptions::default()
        });
        assert!(matches!(
            decide(&finished(e2e.clone()), "a@x", pgp(KeyMode::Skm)).treatment,
            Treatment::Bounce { .. }
        ));
        assert!(matches!(
            decide(&finished(e2e), "a@x", pgp(KeyMode::Ckm)).treatment,
            Treatment::Encrypt { .. }
        ));
    }

    #[test]
    fn require_verified_key_refuses_unverified_keys() {
        let verified = Action::Send(SendOptions {
            require_verified_key: true,
            if_key_not_found: KeyNotFound::SendClearUnsigned,
            ..SendOptions::default()
        });
        let harvested = |_: &str| KeyFacts {
            openpgp: Some(KeyMode::Ckm),
            smime: true,
            ..KeyFacts::default()
        };
        assert_eq!(
            decide(&finished(verified.clone()), "a@x", harvested).treatment,
            Treatment::Unchanged
        );
        assert!(matches!(
            decide(&finished(verified.clone()), "a@x", pgp(KeyMode::Ckm)).treatment,
            Treatment::Encrypt {
                format: Format::PgpMime,
                ..
            }
        ));
        // Only the certificate is verified: S/MIME it is.
        let cert_only = |_: &str| KeyFacts {
            openpgp: Some(KeyMode::Ckm),
            smime: true,
            smime_verified: true,
            ..KeyFacts::default()
        };
        assert!(matches!(
            decide(&finished(verified), "a@x", cert_only).treatment,
            Treatment::Encrypt {
                format: Format::Smime,
                ..
            }
        ));
    }

    #[test]
    fn smime_preference_needs_a_certificate() {
        let smime = Action::Send(SendOptions {
            encoding: PreferredEncoding::Smime,
            ..SendOptions::default()
        });
        let with_cert = |_: &str| KeyFacts {
            openpgp: Some(KeyMode::Skm),
            smime: true,
            ..KeyFacts::default()
        };
        assert_eq!(
            decide(&finished(smime.clone()), "a@x", with_cert).treatment,
            Treatment::Encrypt {
                format: Format::Smime,
                sign: true,
                senders_key: false
            }
        );
        assert!(matches!(
            decide(&finished(smime), "a@x", pgp(KeyMode::Skm)).treatment,
            Treatment::Bounce { .. }
        ));
    }

    #[test]
    fn other_dispositions() {
        assert_eq!(
            decide(&finished(Action::Drop), "a@x", none).treatment,
            Treatment::Drop
        );
        assert_eq!(
            decide(&finished(Action::SendClear), "a@x", none).treatment,
            Treatment::Unchanged
        );
        assert!(matches!(
            decide(&finished(Action::Bounce), "a@x", none).treatment,
            Treatment::Bounce { reason } if reason.contains("Encrypt")
        ));
        let mut learn = finished(Action::Drop);
        learn.disposition = Disposition::DeliverUnchanged;
        assert_eq!(decide(&learn, "a@x", none).treatment, Treatment::Unchanged);
    }
}
