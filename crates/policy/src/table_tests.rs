//! Table-driven tests: every condition subject with every modifier it takes (a matching and a
//! non-matching row each, values typed in a different case from the facts), the negated form,
//! and every action's finishing / continuing behaviour through the evaluator.

use std::collections::BTreeSet;

use signet_model::KeyMode;

use crate::eval::{Disposition, PlannedAction, default_input, evaluate};
use crate::facts::{
    Attachment, CryptoFacts, MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage,
    UserFacts,
};
use crate::model::{
    Action, AddressSource, Annotation, Applicability, ApplicationKind, ArchiveCopyOf,
    ArchiveOptions, Chain, Condition, ConditionGroup, ConditionSubject, DEFAULT_CHAIN,
    DeliveryPreference, EncodingFormat, EncryptedTo, Modifier, PdfOptions, Policy,
    PreferredEncoding, Rule, SendOptions, ServiceKind,
};
use crate::validate::allowed_modifiers;

const RCPT: &str = "bob@ext.test";
const SENDER: &str = "alice@example.com";

#[derive(Clone)]
struct World {
    message: SimpleMessage,
    session: SessionFacts,
    directory: SimpleDirectory,
    dictionaries: MemoryDictionaries,
    recipient: String,
}

impl World {
    fn new() -> Self {
        let mut dictionaries = MemoryDictionaries::default();
        dictionaries.define("Empty Dict");
        dictionaries.define("Keys");
        dictionaries.add_literal("Keys", "deadbeef");
        World {
            message: SimpleMessage {
                sender: SENDER.into(),
                ..Default::default()
            },
            session: SessionFacts::default(),
            directory: SimpleDirectory::default(),
            dictionaries,
            recipient: RCPT.into(),
        }
    }

    fn user(&mut self, address: &str, f: impl FnOnce(&mut UserFacts)) {
        let mut facts = self
            .directory
            .users
            .get(&address.to_lowercase())
            .cloned()
            .unwrap_or_default();
        f(&mut facts);
        self.directory = std::mem::take(&mut self.directory).with(address, facts);
    }

    /// Whether the condition holds for the recipient, through the full evaluator.
    fn holds(&self, condition: &Condition) -> bool {
        let policy = Policy {
            chains: vec![Chain {
                name: DEFAULT_CHAIN.into(),
                applicability: Applicability::Server,
                rules: vec![
                    rule(
                        "hit",
                        ConditionGroup::all(vec![condition.clone().into()]),
                        vec![Action::SendClear],
                    ),
                    rule("miss", ConditionGroup::always(), vec![Action::Drop]),
                ],
                factory: false,
            }],
        };
        let rcpts = vec![self.recipient.clone()];
        let input = default_input(
            &self.message,
            &self.session,
            &self.directory,
            &self.dictionaries,
            &rcpts,
        );
        let (plan, trace) = evaluate(&policy, &input);
        match &plan.recipients[0].disposition {
            Disposition::Finished(PlannedAction {
                action: Action::SendClear,
                ..
            }) => true,
            Disposition::Finished(PlannedAction {
                action: Action::Drop,
                ..
            }) => false,
            other => panic!(
                "{condition:?} did not evaluate: {other:?} {:?}",
                trace.recipients[0].steps
            ),
        }
    }
}

fn rule(name: &str, conditions: ConditionGroup, actions: Vec<Action>) -> Rule {
    Rule {
        name: name.into(),
        description: String::new(),
        enabled: true,
        conditions,
        actions,
        key_search: vec![],
    }
}

/// How a text subject's fact is set to a value.
type Setter = fn(&mut World, &str);
/// How a number or flag subject's fact is set.
type Fixture = fn(&mut World);

/// Text-valued subjects and how to give each the fact value.
fn text_subjects() -> Vec<(ConditionSubject, Setter)> {
    vec![
        (ConditionSubject::RecipientAddress, |w, v| {
            w.recipient = v.into()
        }),
        (ConditionSubject::RecipientDomain, |w, v| {
            w.recipient = format!("user@{v}")
        }),
        (ConditionSubject::SenderAddress, |w, v| {
            w.message.sender = v.into()
        }),
        (ConditionSubject::SenderDomain, |w, v| {
            w.message.sender = format!("user@{v}")
        }),
        (ConditionSubject::RecipientConsumerPolicy, |w, v| {
            w.user(RCPT, |u| u.consumer_policy = Some(v.into()))
        }),
        (ConditionSubject::SenderConsumerPolicy, |w, v| {
            w.user(SENDER, |u| u.consumer_policy = Some(v.into()))
        }),
        (
            ConditionSubject::MessageHeader {
                name: "X-Test".into(),
            },
            // Header names are case-insensitive too; a second instance that does not match.
            |w, v| {
                w.message.headers.push(("x-other".into(), "zzz".into()));
                w.message.headers.push(("X-TEST".into(), "zzz".into()));
                w.message.headers.push(("x-test".into(), v.into()));
            },
        ),
        (ConditionSubject::MessageSubject, |w, v| {
            w.message.headers.push(("SUBJECT".into(), v.into()))
        }),
        (ConditionSubject::MessageBody, |w, v| {
            w.message.body = v.into()
        }),
        (ConditionSubject::AttachmentName, |w, v| {
            w.message.attachments.push(Attachment {
                name: "zzz.bin".into(),
                content_type: "x/y".into(),
            });
            w.message.attachments.push(Attachment {
                name: v.into(),
                content_type: "x/y".into(),
            });
        }),
        (ConditionSubject::AttachmentType, |w, v| {
            w.message.attachments.push(Attachment {
                name: "a".into(),
                content_type: v.into(),
            })
        }),
        (ConditionSubject::LocalConnectorIp, |w, v| {
            w.session.connector_ip = v.into()
        }),
    ]
}

/// The fact value every text row is checked against (mixed case on purpose).
const TEXT_FACT: &str = "Mail.Ext.Test";

/// (modifier, typed value, negate, expected). Values are typed in a different case from
/// [`TEXT_FACT`]: every text comparison ignores case.
const TEXT_ROWS: &[(Modifier, &str, bool, bool)] = &[
    (Modifier::Is, "mail.EXT.test", false, true),
    (Modifier::Is, "ext.test", false, false),
    (Modifier::Is, "ext.test", true, true),
    (Modifier::Is, "MAIL.ext.TEST", true, false),
    (Modifier::Contains, "EXT", false, true),
    (Modifier::Contains, "other", false, false),
    (Modifier::Contains, "other", true, true),
    (Modifier::BeginsWith, "MAIL.", false, true),
    (Modifier::BeginsWith, "ext", false, false),
    (Modifier::EndsWith, ".TEST", false, true),
    (Modifier::EndsWith, "mail", false, false),
    (Modifier::MatchesPattern, r"^mail\.ext", false, true),
    (Modifier::MatchesPattern, r"EXT\.T", false, true),
    (Modifier::MatchesPattern, r"^ext", false, false),
    (Modifier::MatchesPattern, r"^ext", true, true),
    (Modifier::IsInDictionary, "text dict", false, true),
    (Modifier::IsInDictionary, "Empty Dict", false, false),
    (Modifier::IsInDictionary, "Empty Dict", true, true),
    (Modifier::IsSubdomainOf, "EXT.TEST", false, true),
    (Modifier::IsSubdomainOf, "mail.ext.test", false, false),
    (Modifier::IsSubdomainOf, "test.ext", false, false),
];

fn check_rows(
    subject: &ConditionSubject,
    base: &World,
    rows: &[(Modifier, &str, bool, bool)],
    covered: &mut BTreeSet<String>,
) {
    let mut seen: BTreeSet<(String, bool)> = BTreeSet::new();
    for &(modifier, value, negate, expected) in rows {
        if !allowed_modifiers(subject).contains(&modifier) {
            continue;
        }
        let mut c = Condition::new(subject.clone(), modifier, value);
        c.negate = negate;
        assert_eq!(base.holds(&c), expected, "{c:?}");
        if !negate {
            seen.insert((format!("{modifier:?}"), expected));
        }
    }
    // Every modifier the subject takes has a matching and a non-matching row.
    for m in allowed_modifiers(subject) {
        for want in [true, false] {
            assert!(
                seen.contains(&(format!("{m:?}"), want)),
                "{subject:?} {m:?} lacks a {want} row"
            );
        }
    }
    covered.insert(subject_name(subject));
}

fn subject_name(subject: &ConditionSubject) -> String {
    format!("{subject:?}")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every subject variant, to check the tables cover them all.
const ALL_SUBJECTS: &[&str] = &[
    "RecipientAddress",
    "RecipientDomain",
    "RecipientConsumerPolicy",
    "RecipientIsMailingList",
    "RecipientKeyMode",
    "RecipientDeliveryPreference",
    "RecipientIsInternal",
    "RecipientKeyFound",
    "SenderAddress",
    "SenderDomain",
    "SenderConsumerPolicy",
    "SenderKeyMode",
    "SenderIsInternal",
    "MessageEncodingFormat",
    "MessageHeader",
    "MessageSubject",
    "MessageBody",
    "MessageSize",
    "AnyPartEncrypted",
    "AllEncrypted",
    "AnyPartSigned",
    "AttachmentName",
    "AttachmentType",
    "MessageIsFromMailingList",
    "MailingListUserCount",
    "Application",
    "ServiceType",
    "ClientVersion",
    "ConnectedUserAuthenticated",
    "LocalConnectorIp",
    "LocalConnectorPort",
];

#[test]
fn every_subject_and_modifier() {
    let mut covered = BTreeSet::new();

    // Text subjects.
    for (subject, set) in text_subjects() {
        let mut w = World::new();
        w.dictionaries.define("Text Dict");
        w.dictionaries.add_literal("TEXT DICT", "MAIL.ext.test");
        set(&mut w, TEXT_FACT);
        check_rows(&subject, &w, TEXT_ROWS, &mut covered);
    }

    // Numbers: the fact is 30 (KB, port, members).
    let number_rows: &[(Modifier, &str, bool, bool)] = &[
        (Modifier::Is, "30", false, true),
        (Modifier::Is, " 30 ", false, true),
        (Modifier::Is, "31", false, false),
        (Modifier::Is, "31", true, true),
        (Modifier::GreaterThan, "29", false, true),
        (Modifier::GreaterThan, "30", false, false),
        (Modifier::LessThan, "31", false, true),
        (Modifier::LessThan, "30", false, false),
        (Modifier::FewerThan, "31", false, true),
        (Modifier::FewerThan, "30", false, false),
    ];
    let numbers: Vec<(ConditionSubject, Fixture)> = vec![
        (ConditionSubject::MessageSize, |w| {
            w.message.size_bytes = 29 * 1024 + 1 // rounds up to 30 KB
        }),
        (ConditionSubject::LocalConnectorPort, |w| {
            w.session.connector_port = 30
        }),
        (ConditionSubject::MailingListUserCount, |w| {
            w.user("BOB@EXT.TEST", |u| u.mailing_list_size = Some(30))
        }),
    ];
    for (subject, set) in numbers {
        let mut w = World::new();
        set(&mut w);
        check_rows(&subject, &w, number_rows, &mut covered);
    }
    // Not a mailing list: a count condition is false either way.
    let c = Condition::new(
        ConditionSubject::MailingListUserCount,
        Modifier::FewerThan,
        "100",
    );
    assert!(!World::new().holds(&c));

    // Client version 9.10 (component-wise, so greater than 9.9).
    let version_rows: &[(Modifier, &str, bool, bool)] = &[
        (Modifier::Is, "9.10.0", false, true),
        (Modifier::Is, "9.1", false, false),
        (Modifier::GreaterThan, "9.9", false, true),
        (Modifier::GreaterThan, "9.10", false, false),
        (Modifier::LessThan, "10", false, true),
        (Modifier::LessThan, "9.9", false, false),
        (Modifier::GreaterOrEqual, "9.10", false, true),
        (Modifier::GreaterOrEqual, "9.11", false, false),
        (Modifier::LessOrEqual, "9.10", false, true),
        (Modifier::LessOrEqual, "9.9", false, false),
        (Modifier::LessOrEqual, "9.9", true, true),
    ];
    let mut w = World::new();
    w.session.client_version = Some("9.10".into());
    check_rows(
        &ConditionSubject::ClientVersion,
        &w,
        version_rows,
        &mut covered,
    );

    // Flags: (subject, how to make it true). False in the default world; the negated form flips.
    // Addresses and key IDs are set in a different case from the recipient / condition.
    let flags: Vec<(ConditionSubject, Fixture)> = vec![
        (ConditionSubject::RecipientIsMailingList, |w| {
            w.user("Bob@Ext.Test", |u| u.mailing_list_size = Some(3))
        }),
        (ConditionSubject::RecipientKeyMode(KeyMode::Skm), |w| {
            w.user("BOB@ext.test", |u| u.key_mode = Some(KeyMode::Skm))
        }),
        (
            ConditionSubject::RecipientDeliveryPreference(DeliveryPreference::WebEmailProtection),
            |w| {
                w.user("bob@EXT.test", |u| {
                    u.delivery_preference = Some(DeliveryPreference::WebEmailProtection)
                })
            },
        ),
        (ConditionSubject::RecipientIsInternal, |w| {
            w.user("BOB@EXT.TEST", |u| u.internal = true)
        }),
        (ConditionSubject::RecipientKeyFound, |w| {
            w.user("Bob@ext.test", |u| u.key_available = true)
        }),
        (ConditionSubject::SenderKeyMode(KeyMode::Ckm), |w| {
            w.user("ALICE@EXAMPLE.COM", |u| u.key_mode = Some(KeyMode::Ckm))
        }),
        (ConditionSubject::SenderIsInternal, |w| {
            w.user("Alice@Example.com", |u| u.internal = true)
        }),
        (
            ConditionSubject::MessageEncodingFormat(EncodingFormat::OpenPgp),
            |w| w.message.encoding = Some(EncodingFormat::OpenPgp),
        ),
        (
            ConditionSubject::AnyPartEncrypted(EncryptedTo::AnyKey),
            |w| w.message.crypto.any_part_encrypted = true,
        ),
        (
            ConditionSubject::AnyPartEncrypted(EncryptedTo::KeyId("0xdeadbeef".into())),
            |w| {
                w.message.crypto = CryptoFacts {
                    any_part_encrypted: true,
                    pkesk_key_ids: vec!["89ABCDEFDEADBEEF".into()],
                    ..Default::default()
                }
            },
        ),
        (ConditionSubject::AllEncrypted(EncryptedTo::Adk), |w| {
            w.directory.adk_key_ids.push("89abcdefdeadbeef".into());
            w.message.crypto = CryptoFacts {
                any_part_encrypted: true,
                all_encrypted: true,
                pkesk_key_ids: vec!["89ABCDEFDEADBEEF".into()],
                ..Default::default()
            }
        }),
        (
            ConditionSubject::AllEncrypted(EncryptedTo::KeyInDictionary("KEYS".into())),
            |w| {
                w.message.crypto = CryptoFacts {
                    any_part_encrypted: true,
                    all_encrypted: true,
                    pkesk_key_ids: vec!["89ABCDEFDEADBEEF".into()],
                    ..Default::default()
                }
            },
        ),
        (ConditionSubject::AnyPartSigned, |w| {
            w.message.crypto.any_part_signed = true
        }),
        (ConditionSubject::MessageIsFromMailingList, |w| {
            w.message.from_mailing_list = true
        }),
        (
            ConditionSubject::Application(ApplicationKind::InternalDesktop),
            |w| w.session.application = ApplicationKind::InternalDesktop,
        ),
        (ConditionSubject::ServiceType(ServiceKind::Imap), |w| {
            w.session.service = ServiceKind::Imap
        }),
        (ConditionSubject::ConnectedUserAuthenticated, |w| {
            w.session.authenticated = true
        }),
    ];
    for (subject, set) in flags {
        assert_eq!(allowed_modifiers(&subject), &[Modifier::Is], "{subject:?}");
        let off = World::new();
        let mut on = off.clone();
        set(&mut on);
        let c = Condition::flag(subject.clone());
        assert!(on.holds(&c), "{subject:?} should hold");
        assert!(!off.holds(&c), "{subject:?} should not hold");
        assert!(!on.holds(&c.clone().negated()), "not {subject:?}");
        assert!(off.holds(&c.negated()), "not {subject:?}");
        covered.insert(subject_name(&subject));
    }

    // Fixed-choice subjects compare their choice: a different choice does not match.
    let mut w = World::new();
    w.session.service = ServiceKind::Pop;
    assert!(!w.holds(&Condition::flag(ConditionSubject::ServiceType(
        ServiceKind::Imap
    ))));
    w.user(RCPT, |u| u.key_mode = Some(KeyMode::Gkm));
    assert!(
        !w.holds(&Condition::flag(ConditionSubject::RecipientKeyMode(
            KeyMode::Skm
        )))
    );
    // Delivery preference is for external recipients only.
    w.user(RCPT, |u| {
        u.internal = true;
        u.delivery_preference = Some(DeliveryPreference::PdfEmailProtection)
    });
    assert!(!w.holds(&Condition::flag(
        ConditionSubject::RecipientDeliveryPreference(DeliveryPreference::PdfEmailProtection)
    )));

    let missing: Vec<_> = ALL_SUBJECTS
        .iter()
        .filter(|s| !covered.contains(**s))
        .collect();
    assert!(missing.is_empty(), "subjects without a table: {missing:?}");
}

/// Every action: (action, finishes, transfers, what evaluation does after it).
#[derive(Debug, PartialEq)]
enum After {
    /// The action is the disposition; later actions and rules never run.
    Finishes,
    /// Evaluation continues in the Go to target.
    GoesTo,
    /// The pass ends with an expansion request.
    Expands,
    /// The action is collected and the next action and rule run.
    Continues,
}

fn all_actions() -> Vec<(Action, After)> {
    vec![
        (Action::Send(SendOptions::default()), After::Finishes),
        (Action::SendViaWep, After::Finishes),
        (Action::SendClear, After::Finishes),
        (Action::SendViaPdf(PdfOptions::default()), After::Finishes),
        (
            Action::SendArchiveCopy(ArchiveOptions {
                archive_server: "archive".into(),
                envelope_recipient: None,
                preserve_envelope_headers: true,
                copy_of: ArchiveCopyOf::Original,
                attempt_decrypt: false,
                encrypt_to: vec![],
                encoding: PreferredEncoding::Automatic,
                sign_with_organization_key: false,
            }),
            After::Continues,
        ),
        (Action::Deliver, After::Finishes),
        (
            Action::DecryptAndVerify {
                annotation: Annotation::Smart,
            },
            After::Finishes,
        ),
        (Action::Bounce, After::Finishes),
        (Action::Drop, After::Finishes),
        (Action::PassThrough, After::Finishes),
        (
            Action::AddToDictionary {
                address: AddressSource::Sender,
                dictionary: "Empty Dict".into(),
            },
            After::Continues,
        ),
        (Action::ExpandMailingList, After::Expands),
        (Action::AddLogEntry { text: "x".into() }, After::Continues),
        (
            Action::AddHeader {
                name: "X-A".into(),
                value: "1".into(),
                replace_existing: true,
            },
            After::Continues,
        ),
        (
            Action::GoToChain {
                chain: "TARGET".into(),
            },
            After::GoesTo,
        ),
    ]
}

#[test]
fn every_action_finishes_or_continues() {
    let after_header = Action::AddHeader {
        name: "X-After".into(),
        value: "1".into(),
        replace_existing: false,
    };
    let next_rule_log = Action::AddLogEntry {
        text: "next rule".into(),
    };
    let actions = all_actions();
    assert_eq!(actions.len(), 15, "every Action variant has a row");
    for (action, after) in actions {
        assert_eq!(action.finishes(), after == After::Finishes, "{action:?}");
        assert_eq!(
            action.transfers(),
            matches!(after, After::GoesTo | After::Expands),
            "{action:?}"
        );
        let policy = Policy {
            chains: vec![
                Chain {
                    name: DEFAULT_CHAIN.into(),
                    applicability: Applicability::Server,
                    rules: vec![
                        rule(
                            "first",
                            ConditionGroup::always(),
                            vec![action.clone(), after_header.clone()],
                        ),
                        rule(
                            "second",
                            ConditionGroup::always(),
                            vec![next_rule_log.clone()],
                        ),
                        rule("last", ConditionGroup::always(), vec![Action::Bounce]),
                    ],
                    factory: false,
                },
                Chain {
                    name: "Target".into(),
                    applicability: Applicability::Server,
                    rules: vec![rule("t", ConditionGroup::always(), vec![Action::Deliver])],
                    factory: false,
                },
            ],
        };
        let w = World::new();
        let rcpts = vec![RCPT.to_string()];
        let input = default_input(
            &w.message,
            &w.session,
            &w.directory,
            &w.dictionaries,
            &rcpts,
        );
        let (plan, _) = evaluate(&policy, &input);
        let p = &plan.recipients[0];
        let collected: Vec<&Action> = p.actions.iter().map(|a| &a.action).collect();
        match after {
            After::Finishes => {
                assert!(
                    matches!(&p.disposition, Disposition::Finished(a) if a.action == action),
                    "{action:?}: {p:?}"
                );
                assert!(collected.is_empty(), "{action:?}: {collected:?}");
            }
            After::GoesTo => {
                assert!(
                    matches!(&p.disposition, Disposition::Finished(a)
                        if a.action == Action::Deliver && a.chain == "Target"),
                    "{action:?}: {p:?}"
                );
                assert!(collected.is_empty(), "{action:?}: {collected:?}");
            }
            After::Expands => {
                assert!(
                    matches!(&p.disposition, Disposition::ExpandMailingList(a) if a.action == action),
                    "{action:?}: {p:?}"
                );
                assert!(collected.is_empty(), "{action:?}: {collected:?}");
            }
            After::Continues => {
                assert!(
                    matches!(&p.disposition, Disposition::Finished(a)
                        if a.action == Action::Bounce && a.rule == "last"),
                    "{action:?}: {p:?}"
                );
                assert_eq!(
                    collected,
                    vec![&action, &after_header, &next_rule_log],
                    "{action:?}"
                );
            }
        }
    }
}
