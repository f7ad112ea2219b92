//! Round trips of the rule editor's form: rule → form fields → rule gives the rule back, for
//! every factory rule and for rules that use every condition subject and every action.

use signet_model::KeyMode;
use signet_policy::model::*;

use super::*;

fn round_trip(rule: &Rule) -> Rule {
    let fields = Draft::from_rule(rule).to_fields();
    let (draft, changed) = Draft::from_fields(&fields);
    assert!(!changed, "no action changed type");
    draft
        .to_rule()
        .unwrap_or_else(|e| panic!("rule {:?} did not parse back: {e:?}", rule.name))
}

/// One of each subject. The match below fails to compile when the policy crate gains a subject,
/// so the editor's list cannot silently fall behind.
fn every_subject() -> Vec<ConditionSubject> {
    use ConditionSubject as S;
    let all = vec![
        S::RecipientAddress,
        S::RecipientDomain,
        S::RecipientConsumerPolicy,
        S::RecipientIsMailingList,
        S::RecipientKeyMode(KeyMode::Skm),
        S::RecipientKeyMode(KeyMode::Sckm),
        S::RecipientKeyMode(KeyMode::Ckm),
        S::RecipientKeyMode(KeyMode::Gkm),
        S::RecipientDeliveryPreference(DeliveryPreference::WebEmailProtection),
        S::RecipientDeliveryPreference(DeliveryPreference::SmartTrailer),
        S::RecipientDeliveryPreference(DeliveryPreference::Desktop),
        S::RecipientDeliveryPreference(DeliveryPreference::PdfEmailProtection),
        S::RecipientIsInternal,
        S::RecipientKeyFound,
        S::SenderAddress,
        S::SenderDomain,
        S::SenderConsumerPolicy,
        S::SenderKeyMode(KeyMode::Gkm),
        S::SenderIsInternal,
        S::MessageEncodingFormat(EncodingFormat::NotEncoded),
        S::MessageEncodingFormat(EncodingFormat::OpenPgp),
        S::MessageEncodingFormat(EncodingFormat::Smime),
        S::MessageEncodingFormat(EncodingFormat::Partitioned),
        S::MessageHeader {
            name: "X-Classification".into(),
        },
        S::MessageSubject,
        S::MessageBody,
        S::MessageSize,
        S::AnyPartEncrypted(EncryptedTo::AnyKey),
        S::AnyPartEncrypted(EncryptedTo::KeyId("0123456789ABCDEF".into())),
        S::AllEncrypted(EncryptedTo::Adk),
        S::AllEncrypted(EncryptedTo::KeyInDictionary("Excluded Senders".into())),
        S::AnyPartSigned,
        S::AttachmentName,
        S::AttachmentType,
        S::MessageIsFromMailingList,
        S::MailingListUserCount,
        S::Application(ApplicationKind::InternalDesktop),
        S::Application(ApplicationKind::ExternalDesktop),
        S::Application(ApplicationKind::Server),
        S::ServiceType(ServiceKind::SmtpInbound),
        S::ServiceType(ServiceKind::SmtpOutbound),
        S::ServiceType(ServiceKind::Pop),
        S::ServiceType(ServiceKind::Imap),
        S::ServiceType(ServiceKind::Mapi),
        S::ServiceType(ServiceKind::WebEmailProtection),
        S::ServiceType(ServiceKind::Blackberry),
        S::ClientVersion,
        S::ConnectedUserAuthenticated,
        S::LocalConnectorIp,
        S::LocalConnectorPort,
    ];
    for s in &all {
        match s {
            S::RecipientAddress
            | S::RecipientDomain
            | S::RecipientConsumerPolicy
            | S::RecipientIsMailingList
            | S::RecipientKeyMode(_)
            | S::RecipientDeliveryPreference(_)
            | S::RecipientIsInternal
            | S::RecipientKeyFound
            | S::SenderAddress
            | S::SenderDomain
            | S::SenderConsumerPolicy
            | S::SenderKeyMode(_)
            | S::SenderIsInternal
            | S::MessageEncodingFormat(_)
            | S::MessageHeader { .. }
            | S::MessageSubject
            | S::MessageBody
            | S::MessageSize
            | S::AnyPartEncrypted(_)
            | S::AllEncrypted(_)
            | S::AnyPartSigned
            | S::AttachmentName
            | S::AttachmentType
            | S::MessageIsFromMailingList
            | S::MailingListUserCount
            | S::Application(_)
            | S::ServiceType(_)
            | S::ClientVersion
            | S::ConnectedUserAuthenticated
            | S::LocalConnectorIp
            | S::LocalConnectorPort => {}
        }
    }
    all
}

fn every_action() -> Vec<Action> {
    let actions = vec![
        Action::Send(SendOptions {
            recipient_key: true,
            require_verified_key: true,
            require_end_to_end_key: false,
            if_key_not_found: KeyNotFound::Pdf(PdfOptions {
                encrypt_all: true,
                certified_delivery: false,
                secure_reply: true,
            }),
            senders_key: true,
            other_keys: vec!["0123456789ABCDEF".into(), "FEDCBA9876543210".into()],
            sign: false,
            encoding: PreferredEncoding::PgpMime,
        }),
        Action::Send(SendOptions::default()),
        Action::Send(SendOptions {
            if_key_not_found: KeyNotFound::SendClearSigned,
            ..SendOptions::default()
        }),
        Action::SendViaWep,
        Action::SendClear,
        Action::SendViaPdf(PdfOptions {
            encrypt_all: false,
            certified_delivery: true,
            secure_reply: false,
        }),
        Action::SendArchiveCopy(ArchiveOptions {
            archive_server: "archive.example.com".into(),
            envelope_recipient: Some("vault@example.com".into()),
            preserve_envelope_headers: true,
            copy_of: ArchiveCopyOf::PolicyProcessed,
            attempt_decrypt: false,
            encrypt_to: vec!["0123456789ABCDEF".into()],
            encoding: PreferredEncoding::Smime,
            sign_with_organization_key: true,
        }),
        Action::Deliver,
        Action::DecryptAndVerify {
            annotation: Annotation::FailuresOnly,
        },
        Action::Bounce,
        Action::Drop,
        Action::PassThrough,
        Action::AddToDictionary {
            address: AddressSource::Sender,
            dictionary: "Excluded Senders".into(),
        },
        Action::ExpandMailingList,
        Action::AddLogEntry {
            text: "seen by <the> rule & logged".into(),
        },
        Action::AddHeader {
            name: "X-Signet-UI".into(),
            value: "applied".into(),
            replace_existing: true,
        },
        Action::GoToChain {
            chain: "Outbound Client".into(),
        },
    ];
    // Every action type has a token in the editor's list.
    for a in &actions {
        let kind = action_draft(a).kind;
        assert!(ACTIONS.iter().any(|(t, _)| *t == kind), "{kind} not listed");
    }
    actions
}

#[test]
fn every_subject_is_listed_and_round_trips() {
    for subject in every_subject() {
        let (token, arg) = subject_token(&subject);
        assert!(
            SUBJECTS.iter().any(|(t, _, _)| *t == token),
            "{token} is not in the editor's list"
        );
        assert_eq!(subject_from(&token, &arg), Some(subject));
    }
    // And every listed token names a subject.
    for (token, _, takes_text) in SUBJECTS {
        let arg = if *takes_text { "x" } else { "" };
        assert!(subject_from(token, arg).is_some(), "{token}");
    }
    for (token, _) in MODIFIERS {
        assert!(from_token::<Modifier>(token).is_some(), "{token}");
    }
}

#[test]
fn rule_with_every_subject_and_action_round_trips() {
    let subjects = every_subject();
    let half = subjects.len() / 2;
    let rule = Rule {
        name: "Everything".into(),
        description: "uses every subject & action".into(),
        enabled: false,
        conditions: ConditionGroup::any(vec![
            ConditionGroup::all(
                subjects[..half]
                    .iter()
                    .cloned()
                    .map(|s| Condition::new(s, Modifier::Contains, "a, b").into())
                    .collect(),
            )
            .into(),
            Condition::new(ConditionSubject::MessageSize, Modifier::GreaterThan, "10")
                .negated()
                .into(),
            ConditionGroup::none(vec![
                ConditionGroup::always().into(),
                ConditionGroup::all(
                    subjects[half..]
                        .iter()
                        .cloned()
                        .map(|s| {
                            Condition::new(s, Modifier::IsInDictionary, "d")
                                .negated()
                                .into()
                        })
                        .collect(),
                )
                .into(),
            ])
            .into(),
        ]),
        actions: every_action(),
        key_search: vec![
            KeySearchEntry {
                keyserver: "keys.example.net".into(),
            },
            KeySearchEntry {
                keyserver: "ldap://directory".into(),
            },
        ],
    };
    assert_eq!(round_trip(&rule), rule);
}

#[test]
fn every_factory_rule_round_trips() {
    let policy = signet_policy::factory::factory_policy(&["example.com".to_string()]);
    let mut count = 0;
    for chain in &policy.chains {
        for rule in &chain.rules {
            assert_eq!(&round_trip(rule), rule, "chain {}", chain.name);
            count += 1;
        }
    }
    assert!(count > 10, "the factory policy has its rules ({count})");
}

#[test]
fn any_action_can_be_edited_as_json() {
    let action = Action::SendArchiveCopy(ArchiveOptions {
        archive_server: "a".into(),
        envelope_recipient: None,
        preserve_envelope_headers: false,
        copy_of: ArchiveCopyOf::Original,
        attempt_decrypt: true,
        encrypt_to: vec![],
        encoding: PreferredEncoding::Automatic,
        sign_with_organization_key: false,
    });
    let mut draft = Draft::new_rule();
    draft.name = "json".into();
    draft.actions = vec![DraftAction {
        kind: "Json".into(),
        fields: [("json".to_string(), serde_json::to_string(&action).unwrap())].into(),
    }];
    assert_eq!(draft.to_rule().unwrap().actions, vec![action]);
}

#[test]
fn editing_buttons_change_the_draft() {
    let mut draft = Draft::new_rule();
    draft.apply(&Op::parse("add-condition:0"));
    assert_eq!(draft.conditions.statement, "All");
    draft.apply(&Op::parse("add-group:0"));
    draft.apply(&Op::parse("add-condition:0.1"));
    assert!(matches!(&draft.conditions.children[1], DraftNode::Group(g) if g.children.len() == 1));
    draft.apply(&Op::parse("remove:0.0"));
    assert_eq!(draft.conditions.children.len(), 1);
    draft.apply(&Op::AddAction);
    draft.actions[1] = default_action("Deliver");
    draft.apply(&Op::parse("up-action:1"));
    assert_eq!(draft.actions[0].kind, "Deliver");
    draft.apply(&Op::parse("remove-action:1"));
    assert_eq!(draft.actions.len(), 1);
}

#[test]
fn wrong_values_are_reported_by_field() {
    let mut draft = Draft::new_rule();
    draft.actions = vec![default_action("AddHeader"), default_action("Json")];
    draft.actions[1]
        .fields
        .insert("json".into(), "{not json".into());
    draft.conditions = DraftGroup {
        statement: "All".into(),
        children: vec![DraftNode::Condition(DraftCondition {
            subject: "MessageHeader".into(),
            modifier: "Is".into(),
            ..DraftCondition::default()
        })],
    };
    let errors = draft.to_rule().unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"name"), "{fields:?}");
    assert!(fields.contains(&"c.0.0.arg"), "{fields:?}");
    assert!(fields.contains(&"a.0.header_name"), "{fields:?}");
    assert!(fields.contains(&"a.1.json"), "{fields:?}");
}

#[test]
fn a_changed_action_type_starts_from_its_defaults() {
    let mut fields = Draft::new_rule().to_fields();
    for (k, v) in fields.iter_mut() {
        if k == "a.0.kind" {
            *v = "Send".into();
        }
    }
    let (draft, changed) = Draft::from_fields(&fields);
    assert!(changed);
    assert_eq!(draft.actions[0], default_action("Send"));
    assert!(draft.actions[0].fields.contains_key("sign"));
}
