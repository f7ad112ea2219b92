//! The chains a fresh install has (guide §14.11, evidence note 1b).
//!
//! The guide names the pre-installed chains and what each one does, but not the rules inside
//! them; the evidence note confirms only two rule names from product mail logs ("Inbound Mail"
//! in Default, "Decrypt Message (SMTP)" in Inbound). Everything else here is reconstructed from
//! the chain descriptions. Where the sources are thin, the choice is the one a mail
//! administrator would expect, and the comment on the rule says so (docs/policy.md lists them
//! too).
//!
//! Every factory chain has `factory: true`. Rules refer to dictionaries by name; the names are
//! in [`FACTORY_DICTIONARIES`], which the installer must create alongside the chains.

use crate::model::{
    Action, Annotation, Applicability, Chain, Condition, ConditionGroup, ConditionSubject,
    DEFAULT_CHAIN, DeliveryPreference, EXCEPTION_CHAIN, EncodingFormat, Modifier, Node, PdfOptions,
    Policy, Rule, SendOptions, ServiceKind,
};

/// The dictionary of managed domains. The store keeps its entries equal to the configured
/// managed domains; the Default chain reads it to tell inbound and outbound mail apart.
pub const MANAGED_DOMAINS: &str = "Managed Domains";

pub const INBOUND_CHAIN: &str = "Inbound";
pub const OUTBOUND_CHAIN: &str = "Outbound";
pub const SECURE_MESSAGE_CHAIN: &str = "Outbound: Secure Message";
pub const SECURE_WITH_KEY_ONLY_CHAIN: &str = "Outbound: Secure With Key Only";
pub const LEGACY_CLIENT_CHAIN: &str = "Default: Legacy Client";
pub const STANDALONE_CHAIN: &str = "Default: Standalone";
pub const MOBILE_CHAIN: &str = "Default: Mobile";

/// Mailing lists with fewer members than this are expanded (guide §14.8, default 30).
pub const EXPAND_MAILING_LIST_BELOW: u64 = 30;

/// Dictionaries a fresh install creates, as (name, description). The factory rules reference
/// "Managed Domains"; the three "Excluded Addresses" dictionaries are the product's other
/// default dictionaries (KB 180145), created empty for administrators' rules and the Add to
/// dictionary action.
pub const FACTORY_DICTIONARIES: &[(&str, &str)] = &[
    (
        MANAGED_DOMAINS,
        "The managed domains; kept in step with the managed-domain list. Read by the Default chain.",
    ),
    (
        "Excluded Addresses: Sign",
        "Addresses that should get signed but unencrypted mail (e.g. mailing-list submissions).",
    ),
    (
        "Excluded Addresses: Do Not Sign",
        "Addresses that should get neither encrypted nor signed mail (e.g. list-admin addresses).",
    ),
    (
        "Excluded Addresses: Pending",
        "Automatically detected mailing-list addresses waiting for an administrator's approval.",
    ),
];

fn rule(name: &str, description: &str, conditions: ConditionGroup, actions: Vec<Action>) -> Rule {
    Rule {
        name: name.into(),
        description: description.into(),
        enabled: true,
        conditions,
        actions,
        key_search: Vec::new(),
    }
}

fn chain(name: &str, applicability: Applicability, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        applicability,
        rules,
        factory: true,
    }
}

fn go_to(chain: &str) -> Action {
    Action::GoToChain {
        chain: chain.into(),
    }
}

fn service(kind: ServiceKind) -> Node {
    Condition::flag(ConditionSubject::ServiceType(kind)).into()
}

fn header_is(name: &str, value: &str) -> Node {
    Condition::new(
        ConditionSubject::MessageHeader { name: name.into() },
        Modifier::Is,
        value,
    )
    .into()
}

fn subject_contains(value: &str) -> Node {
    Condition::new(ConditionSubject::MessageSubject, Modifier::Contains, value).into()
}

/// Cleartext mail is not decrypted; everything else is.
fn encoded() -> Node {
    ConditionGroup::none(vec![
        Condition::flag(ConditionSubject::MessageEncodingFormat(
            EncodingFormat::NotEncoded,
        ))
        .into(),
    ])
    .into()
}

/// Send (encrypted/signed) to the recipient's key, signed, automatic encoding, and bounce when
/// no key is found.
fn encrypt_or_bounce() -> Action {
    Action::Send(SendOptions::default())
}

/// The policy of a fresh install. `managed_domains` only appears in the Default chain's rule
/// descriptions: the rules read the [`MANAGED_DOMAINS`] dictionary, so that later changes to
/// the managed-domain list need no rule edits.
pub fn factory_policy(managed_domains: &[String]) -> Policy {
    let at_install = if managed_domains.is_empty() {
        "none yet".to_string()
    } else {
        managed_domains.join(", ")
    };
    let managed = |subject: ConditionSubject| -> Node {
        Condition::new(subject, Modifier::IsInDictionary, MANAGED_DOMAINS).into()
    };

    // Default: every message starts here. "Inbound Mail" is the product's rule name (mail log in
    // KB 156100); its conditions follow the guide's reconstruction (inbound service and a
    // managed recipient domain). "Outbound Mail" is the symmetric rule (name inferred). Mail
    // from and to unmanaged domains passes through unmodified, as the product does (KB 160945).
    let default = chain(
        DEFAULT_CHAIN,
        Applicability::ServerAndClient,
        vec![
            rule(
                "Inbound Mail",
                &format!(
                    "Mail received for a managed domain goes to the Inbound chain. \
                     Managed domains at install: {at_install}."
                ),
                ConditionGroup::all(vec![
                    ConditionGroup::any(vec![
                        service(ServiceKind::SmtpInbound),
                        service(ServiceKind::Pop),
                        service(ServiceKind::Imap),
                    ])
                    .into(),
                    managed(ConditionSubject::RecipientDomain),
                ]),
                vec![go_to(INBOUND_CHAIN)],
            ),
            rule(
                "Outbound Mail",
                &format!(
                    "Mail sent by a managed-domain user goes to the Outbound chain. \
                     Managed domains at install: {at_install}."
                ),
                ConditionGroup::all(vec![managed(ConditionSubject::SenderDomain)]),
                vec![go_to(OUTBOUND_CHAIN)],
            ),
            rule(
                "Unmanaged Mail",
                "Mail neither to nor from a managed domain passes through unmodified.",
                ConditionGroup::always(),
                vec![Action::SendClear],
            ),
        ],
    );

    // Only the legacy client's existence is known; it follows the Outbound chain, so an
    // administrator edits outbound behaviour in one place.
    let legacy = chain(
        LEGACY_CLIENT_CHAIN,
        Applicability::Client,
        vec![rule(
            "Outbound Mail",
            "Legacy (9.0.x) clients apply the Outbound chain.",
            ConditionGroup::always(),
            vec![go_to(OUTBOUND_CHAIN)],
        )],
    );

    // Guide: "Default: block when the key is not found" for both.
    let standalone = chain(
        STANDALONE_CHAIN,
        Applicability::Standalone,
        vec![rule(
            "Encrypt or Block",
            "Encrypt and sign to the recipient's key; block (bounce) when no key is found.",
            ConditionGroup::always(),
            vec![encrypt_or_bounce()],
        )],
    );
    let mobile = chain(
        MOBILE_CHAIN,
        Applicability::Mobile,
        vec![rule(
            "Encrypt or Block",
            "Encrypt and sign to the recipient's key; block (bounce) when no key is found.",
            ConditionGroup::always(),
            vec![encrypt_or_bounce()],
        )],
    );

    // Guide: the default rule keys on service type, and the default is pass through. One rule
    // per direction so an administrator can switch outbound to Bounce (older releases bounced
    // outbound mail here, KB 156100) without touching inbound.
    let exception = chain(
        EXCEPTION_CHAIN,
        Applicability::Server,
        vec![
            rule(
                "Inbound Exceptions",
                "Inbound mail that could not be processed is delivered unmodified.",
                ConditionGroup::any(vec![
                    service(ServiceKind::SmtpInbound),
                    service(ServiceKind::Pop),
                    service(ServiceKind::Imap),
                ]),
                vec![Action::PassThrough],
            ),
            rule(
                "Outbound Exceptions",
                "Outbound mail that could not be processed is sent unmodified. Choose Bounce \
                 here to stop unprocessed mail from leaving.",
                ConditionGroup::any(vec![
                    service(ServiceKind::SmtpOutbound),
                    service(ServiceKind::Mapi),
                    service(ServiceKind::WebEmailProtection),
                    service(ServiceKind::Blackberry),
                ]),
                vec![Action::PassThrough],
            ),
        ],
    );

    // Inbound: "Decrypt Message (SMTP)" is the product's rule name. The POP/IMAP sibling and the
    // final Deliver rule are inferred: cleartext mail is delivered as it is.
    let inbound = chain(
        INBOUND_CHAIN,
        Applicability::Server,
        vec![
            rule(
                "Decrypt Message (SMTP)",
                "Decrypt, verify and annotate protected mail arriving by SMTP, then deliver it.",
                ConditionGroup::all(vec![service(ServiceKind::SmtpInbound), encoded()]),
                vec![Action::DecryptAndVerify {
                    annotation: Annotation::Smart,
                }],
            ),
            rule(
                "Decrypt Message (POP/IMAP)",
                "Decrypt, verify and annotate protected mail fetched over POP or IMAP.",
                ConditionGroup::all(vec![
                    ConditionGroup::any(vec![
                        service(ServiceKind::Pop),
                        service(ServiceKind::Imap),
                    ])
                    .into(),
                    encoded(),
                ]),
                vec![Action::DecryptAndVerify {
                    annotation: Annotation::Smart,
                }],
            ),
            rule(
                "Deliver Message",
                "Deliver everything else unchanged.",
                ConditionGroup::always(),
                vec![Action::Deliver],
            ),
        ],
    );

    // Outbound: expand small mailing lists, send sensitive mail to Secure Message, send the
    // rest in clear (guide: from 3.2.1 non-sensitive mail goes out in clear). The sensitivity
    // markers are the ones the evidence supports: "[PGP]" / "[PDF]" in the subject and the
    // Sensitivity header Outlook writes for "confidential" / "private". The client's encrypt
    // button has no documented header, so it is not a factory condition.
    let outbound = chain(
        OUTBOUND_CHAIN,
        Applicability::ServerAndClient,
        vec![
            rule(
                "Expand Mailing Lists",
                "Replace a small directory mailing list by its members and start again.",
                ConditionGroup::all(vec![
                    Condition::flag(ConditionSubject::RecipientIsMailingList).into(),
                    Condition::new(
                        ConditionSubject::MailingListUserCount,
                        Modifier::FewerThan,
                        EXPAND_MAILING_LIST_BELOW.to_string(),
                    )
                    .into(),
                ]),
                vec![Action::ExpandMailingList],
            ),
            rule(
                "Sensitive Mail",
                "Mail marked sensitive, confidential, private, [PGP] or [PDF] is sent securely.",
                ConditionGroup::any(vec![
                    subject_contains("[PGP]"),
                    subject_contains("[PDF]"),
                    header_is("Sensitivity", "Company-Confidential"),
                    header_is("Sensitivity", "Private"),
                    header_is("Sensitivity", "Personal"),
                ]),
                vec![go_to(SECURE_MESSAGE_CHAIN)],
            ),
            rule(
                "Send Clear",
                "Everything else goes out unencrypted and unsigned.",
                ConditionGroup::always(),
                vec![Action::SendClear],
            ),
        ],
    );

    let secure_message = chain(
        SECURE_MESSAGE_CHAIN,
        Applicability::ServerAndClient,
        vec![
            rule(
                "Web Email Protection Recipients",
                "External recipients who chose Web Email Protection get a WEP notification.",
                ConditionGroup::all(vec![
                    Condition::flag(ConditionSubject::RecipientDeliveryPreference(
                        DeliveryPreference::WebEmailProtection,
                    ))
                    .into(),
                ]),
                vec![Action::SendViaWep],
            ),
            rule(
                "PDF Email Protection Recipients",
                "External recipients who chose PDF Email Protection get a protected PDF.",
                ConditionGroup::all(vec![
                    Condition::flag(ConditionSubject::RecipientDeliveryPreference(
                        DeliveryPreference::PdfEmailProtection,
                    ))
                    .into(),
                ]),
                vec![Action::SendViaPdf(PdfOptions::default())],
            ),
            rule(
                "Other Recipients",
                "Everyone else needs a key.",
                ConditionGroup::always(),
                vec![go_to(SECURE_WITH_KEY_ONLY_CHAIN)],
            ),
        ],
    );

    let key_only = chain(
        SECURE_WITH_KEY_ONLY_CHAIN,
        Applicability::ServerAndClient,
        vec![rule(
            "Encrypt to Key",
            "Encrypt and sign to the recipient's key; bounce when no key is found.",
            ConditionGroup::always(),
            vec![encrypt_or_bounce()],
        )],
    );

    Policy {
        chains: vec![
            default,
            legacy,
            standalone,
            mobile,
            exception,
            inbound,
            outbound,
            secure_message,
            key_only,
        ],
    }
}

/// The names in [`FACTORY_DICTIONARIES`], for validation.
pub fn factory_dictionary_names() -> Vec<String> {
    FACTORY_DICTIONARIES
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Disposition, Plan, Trace, default_input, evaluate};
    use crate::facts::{
        MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage, UserFacts,
    };
    use crate::model::KeyNotFound;
    use crate::validate::validate_policy;

    fn world() -> (SimpleDirectory, MemoryDictionaries) {
        let dir = SimpleDirectory::default()
            .with(
                "alice@example.com",
                UserFacts {
                    internal: true,
                    key_available: true,
                    ..Default::default()
                },
            )
            .with(
                "carol@example.com",
                UserFacts {
                    internal: true,
                    key_available: true,
                    ..Default::default()
                },
            )
            .with(
                "bob@ext.test",
                UserFacts {
                    key_available: true,
                    ..Default::default()
                },
            );
        let mut dicts = MemoryDictionaries::default();
        for (name, _) in FACTORY_DICTIONARIES {
            dicts.define(name);
        }
        dicts.add_literal(MANAGED_DOMAINS, "example.com");
        (dir, dicts)
    }

    fn run(message: &SimpleMessage, session: &SessionFacts, rcpt: &str) -> (Plan, Trace) {
        let (dir, dicts) = world();
        let policy = factory_policy(&["example.com".to_string()]);
        let rcpts = vec![rcpt.to_string()];
        let input = default_input(message, session, &dir, &dicts, &rcpts);
        evaluate(&policy, &input)
    }

    fn message(subject: &str) -> SimpleMessage {
        SimpleMessage {
            sender: "alice@example.com".into(),
            headers: vec![("Subject".into(), subject.into())],
            body: "hello".into(),
            size_bytes: 100,
            ..Default::default()
        }
    }

    #[test]
    fn factory_policy_validates() {
        let policy = factory_policy(&["example.com".to_string()]);
        let report = validate_policy(&policy, &factory_dictionary_names());
        assert!(report.is_ok(), "{:?}", report.errors);
        assert!(policy.chains.iter().all(|c| c.factory));
        // Only the Exception chain may fall off its end (to the pass-through default).
        for w in &report.warnings {
            assert_eq!(w.chain, EXCEPTION_CHAIN, "{w:?}");
        }
        for name in [
            DEFAULT_CHAIN,
            LEGACY_CLIENT_CHAIN,
            STANDALONE_CHAIN,
            MOBILE_CHAIN,
            EXCEPTION_CHAIN,
            INBOUND_CHAIN,
            OUTBOUND_CHAIN,
            SECURE_MESSAGE_CHAIN,
            SECURE_WITH_KEY_ONLY_CHAIN,
        ] {
            assert!(policy.chain(name).is_some(), "{name}");
        }
    }

    #[test]
    fn sensitive_outbound_to_external_is_encrypted_or_bounced() {
        let m = message("[PGP] quarterly numbers");
        let (plan, trace) = run(&m, &SessionFacts::default(), "bob@ext.test");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![
                (DEFAULT_CHAIN, "Outbound Mail"),
                (OUTBOUND_CHAIN, "Sensitive Mail"),
                (SECURE_MESSAGE_CHAIN, "Other Recipients"),
                (SECURE_WITH_KEY_ONLY_CHAIN, "Encrypt to Key"),
            ]
        );
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => match &p.action {
                Action::Send(o) => {
                    assert!(o.recipient_key && o.sign);
                    assert_eq!(o.if_key_not_found, KeyNotFound::Bounce);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sensitivity_header_and_wep_preference() {
        let mut m = message("hi");
        m.headers
            .push(("Sensitivity".into(), "company-confidential".into()));
        let (dir, dicts) = world();
        let dir = dir.with(
            "dave@ext.test",
            UserFacts {
                delivery_preference: Some(DeliveryPreference::WebEmailProtection),
                ..Default::default()
            },
        );
        let policy = factory_policy(&[]);
        let rcpts = vec!["dave@ext.test".to_string()];
        let session = SessionFacts::default();
        let (plan, _) = evaluate(&policy, &default_input(&m, &session, &dir, &dicts, &rcpts));
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => assert_eq!(p.action, Action::SendViaWep),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ordinary_and_internal_mail_goes_out_clear() {
        for rcpt in ["bob@ext.test", "carol@example.com"] {
            let (plan, trace) = run(&message("lunch?"), &SessionFacts::default(), rcpt);
            assert_eq!(
                trace.recipients[0].fired(),
                vec![
                    (DEFAULT_CHAIN, "Outbound Mail"),
                    (OUTBOUND_CHAIN, "Send Clear")
                ],
                "{rcpt}"
            );
            match &plan.recipients[0].disposition {
                Disposition::Finished(p) => assert_eq!(p.action, Action::SendClear),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn inbound_encrypted_mail_is_decrypted() {
        let mut m = message("hi");
        m.sender = "bob@ext.test".into();
        m.encoding = Some(EncodingFormat::OpenPgp);
        let session = SessionFacts {
            service: ServiceKind::SmtpInbound,
            ..Default::default()
        };
        let (_, trace) = run(&m, &session, "alice@example.com");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![
                (DEFAULT_CHAIN, "Inbound Mail"),
                (INBOUND_CHAIN, "Decrypt Message (SMTP)")
            ]
        );
    }

    #[test]
    fn malformed_mail_passes_through() {
        let mut m = message("x");
        m.malformed = true;
        let (plan, trace) = run(&m, &SessionFacts::default(), "bob@ext.test");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![(EXCEPTION_CHAIN, "Outbound Exceptions")]
        );
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => assert_eq!(p.action, Action::PassThrough),
            other => panic!("{other:?}"),
        }
    }
}
