//! The Rust source of `crates/policy/factory/policy.json` (test builds only).
//!
//! The JSON file is what the crate ships and loads ([`super::factory_defaults`]); this builder
//! exists to keep the provenance of every factory rule next to it as comments, and to regenerate
//! the file: edit the builder, then run
//! `SIGNET_REGENERATE_FACTORY=1 cargo test -p signet-policy factory_file` and commit both.
//! `factory_file_matches_the_builder` fails while the two differ.

use super::*;
use crate::model::{
    Action, Annotation, Applicability, Chain, Condition, ConditionGroup, ConditionSubject,
    DEFAULT_CHAIN, DeliveryPreference, EXCEPTION_CHAIN, EncodingFormat, Modifier, Node, PdfOptions,
    Policy, Rule, SendOptions, ServiceKind,
};

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

/// The factory policy as `factory/policy.json` holds it (without the install-time note that
/// [`super::factory_policy`] adds).
pub(super) fn build() -> Policy {
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
                "Mail received for a managed domain goes to the Inbound chain.",
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
                "Mail sent by a managed-domain user goes to the Outbound chain.",
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
