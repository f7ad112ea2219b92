//! Evaluation tests, modelled on the spec's acceptance scenarios 17, 18, 21 and 25.

use super::*;
use crate::facts::{CryptoFacts, MemoryDictionaries, SimpleDirectory, SimpleMessage, UserFacts};
use crate::model::{
    Applicability, Chain, Condition, ConditionGroup, ConditionSubject, EXCEPTION_CHAIN, Modifier,
    Rule, SendOptions, ServiceKind,
};

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

fn chain(name: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        applicability: Applicability::Server,
        rules,
        factory: false,
    }
}

fn header(name: &str) -> Action {
    Action::AddHeader {
        name: name.into(),
        value: "1".into(),
        replace_existing: false,
    }
}

fn cond(subject: ConditionSubject, modifier: Modifier, value: &str) -> Node {
    Condition::new(subject, modifier, value).into()
}

struct World {
    message: SimpleMessage,
    session: SessionFacts,
    directory: SimpleDirectory,
    dictionaries: MemoryDictionaries,
}

impl World {
    fn new(sender: &str) -> Self {
        World {
            message: SimpleMessage {
                sender: sender.into(),
                ..Default::default()
            },
            session: SessionFacts::default(),
            directory: SimpleDirectory::default(),
            dictionaries: MemoryDictionaries::default(),
        }
    }

    fn run(&self, policy: &Policy, recipients: &[&str], learn: bool) -> (Plan, Trace) {
        let rcpts: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
        let mut input = default_input(
            &self.message,
            &self.session,
            &self.directory,
            &self.dictionaries,
            &rcpts,
        );
        input.learn_mode = learn;
        evaluate(policy, &input)
    }
}

fn headers_of(p: &RecipientPlan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::AddHeader { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn finished(p: &RecipientPlan) -> Option<&Action> {
    match &p.disposition {
        Disposition::Finished(a) => Some(&a.action),
        _ => None,
    }
}

#[test]
fn scenario_17_case_insensitive_and_subdomain_per_recipient() {
    let policy = Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![
                rule(
                    "is",
                    ConditionGroup::all(vec![cond(
                        ConditionSubject::RecipientDomain,
                        Modifier::Is,
                        "EXT.TEST",
                    )]),
                    vec![header("X-T")],
                ),
                rule(
                    "sub",
                    ConditionGroup::all(vec![cond(
                        ConditionSubject::RecipientDomain,
                        Modifier::IsSubdomainOf,
                        "ext.test",
                    )]),
                    vec![header("X-S")],
                ),
                rule("send", ConditionGroup::always(), vec![Action::SendClear]),
            ],
        )],
    };
    let w = World::new("alice@example.com");
    let (plan, trace) = w.run(&policy, &["bob@ext.test", "x@mail.ext.test"], false);
    assert_eq!(headers_of(&plan.recipients[0]), vec!["X-T"]);
    assert_eq!(headers_of(&plan.recipients[1]), vec!["X-S"]);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::SendClear));
    assert_eq!(
        trace.recipients[1].fired(),
        vec![(DEFAULT_CHAIN, "sub"), (DEFAULT_CHAIN, "send")]
    );
}

fn scenario_18_policy() -> Policy {
    Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![
                rule(
                    "drop-excluded",
                    ConditionGroup::all(vec![
                        cond(
                            ConditionSubject::RecipientAddress,
                            Modifier::IsInDictionary,
                            "Excluded Addresses: Do Not Sign",
                        ),
                        ConditionGroup::none(vec![cond(
                            ConditionSubject::SenderDomain,
                            Modifier::Is,
                            "example.com",
                        )])
                        .into(),
                    ]),
                    vec![Action::Drop],
                ),
                rule("later", ConditionGroup::always(), vec![Action::SendClear]),
            ],
        )],
    }
}

#[test]
fn scenario_18_nested_groups() {
    let policy = scenario_18_policy();
    let mut w = World::new("carol@partner.test");
    w.dictionaries
        .add_pattern("Excluded Addresses: Do Not Sign", r".*-request@.*")
        .unwrap();
    let (plan, trace) = w.run(&policy, &["list-request@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Drop));
    let Step::RuleFired { why, .. } = &trace.recipients[0].steps[1] else {
        panic!("{:?}", trace.recipients[0].steps);
    };
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[1].starts_with("not ("), "{why:?}");

    w.message.sender = "dave@EXAMPLE.com".into();
    let (plan, trace) = w.run(&policy, &["list-request@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::SendClear));
    assert_eq!(trace.recipients[0].fired(), vec![(DEFAULT_CHAIN, "later")]);
}

fn exception_chain(action: Action) -> Chain {
    chain(
        EXCEPTION_CHAIN,
        vec![rule(
            "exception",
            ConditionGroup::any(vec![
                Condition::flag(ConditionSubject::ServiceType(ServiceKind::SmtpInbound)).into(),
                Condition::flag(ConditionSubject::ServiceType(ServiceKind::SmtpOutbound)).into(),
            ]),
            vec![action],
        )],
    )
}

#[test]
fn scenario_21_malformed_goes_to_exception_chain() {
    let send = rule("send", ConditionGroup::always(), vec![Action::SendClear]);
    let mut policy = Policy {
        chains: vec![
            chain(DEFAULT_CHAIN, vec![send]),
            exception_chain(Action::PassThrough),
        ],
    };
    let mut w = World::new("alice@example.com");
    w.message.malformed = true;
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::PassThrough));
    assert_eq!(
        trace.recipients[0].steps[0],
        Step::EnterChain {
            chain: EXCEPTION_CHAIN.into(),
            reason: EntryReason::Malformed
        }
    );

    policy.chains[1] = exception_chain(Action::Bounce);
    let (plan, _) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Bounce));

    // Without an Exception chain at all, the default is to pass through.
    policy.chains.truncate(1);
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(plan.recipients[0].disposition, Disposition::PassThrough);
    assert_eq!(trace.recipients[0].steps, vec![Step::ExceptionDefault]);
}

fn key_id_policy(key_id: &str) -> Policy {
    Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![
                rule(
                    "log",
                    ConditionGroup::all(vec![
                        Condition::flag(ConditionSubject::AnyPartEncrypted(EncryptedTo::KeyId(
                            key_id.into(),
                        )))
                        .into(),
                    ]),
                    vec![Action::AddLogEntry {
                        text: "to alice".into(),
                    }],
                ),
                rule("deliver", ConditionGroup::always(), vec![Action::Deliver]),
            ],
        )],
    }
}

#[test]
fn scenario_25_key_id_matches_the_subkey_in_the_pkesk() {
    let primary = "0x1111222233334444";
    let subkey = "AAAABBBBCCCCDDDD";
    let mut w = World::new("ext@ext.test");
    w.message.crypto = CryptoFacts {
        any_part_encrypted: true,
        all_encrypted: true,
        any_part_signed: false,
        pkesk_key_ids: vec![subkey.into()],
    };
    let (plan, _) = w.run(&key_id_policy(primary), &["alice@example.com"], false);
    assert!(plan.recipients[0].actions.is_empty());
    let (plan, _) = w.run(&key_id_policy("ccccdddd"), &["alice@example.com"], false);
    assert_eq!(plan.recipients[0].actions.len(), 1);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Deliver));
}

#[test]
fn go_to_chain_finishing_and_disabled_rules() {
    let mut disabled = rule("disabled", ConditionGroup::always(), vec![Action::Drop]);
    disabled.enabled = false;
    let policy = Policy {
        chains: vec![
            chain(
                DEFAULT_CHAIN,
                vec![
                    disabled,
                    rule(
                        "outbound",
                        ConditionGroup::all(vec![
                            Condition::flag(ConditionSubject::RecipientIsInternal)
                                .negated()
                                .into(),
                        ]),
                        vec![
                            header("X-Before"),
                            Action::GoToChain {
                                chain: "outbound".into(),
                            },
                        ],
                    ),
                    rule("inbound", ConditionGroup::always(), vec![Action::Deliver]),
                ],
            ),
            chain(
                "Outbound",
                vec![rule(
                    "send",
                    ConditionGroup::always(),
                    vec![Action::Send(SendOptions::default()), header("X-Never")],
                )],
            ),
        ],
    };
    let mut w = World::new("alice@example.com");
    w.directory = SimpleDirectory::default().with(
        "carl@example.com",
        UserFacts {
            internal: true,
            ..Default::default()
        },
    );
    let (plan, trace) = w.run(&policy, &["bob@ext.test", "carl@example.com"], false);
    assert_eq!(headers_of(&plan.recipients[0]), vec!["X-Before"]);
    assert!(matches!(
        finished(&plan.recipients[0]),
        Some(Action::Send(_))
    ));
    assert_eq!(finished(&plan.recipients[1]), Some(&Action::Deliver));
    let steps = &trace.recipients[0].steps;
    assert!(matches!(steps[1], Step::RuleDisabled { .. }));
    assert!(steps.contains(&Step::EnterChain {
        chain: "Outbound".into(),
        reason: EntryReason::GoTo {
            from_chain: DEFAULT_CHAIN.into(),
            rule: "outbound".into()
        }
    }));
}

#[test]
fn falling_off_loops_and_errors_go_to_exception() {
    let goto = |c: &str| Action::GoToChain { chain: c.into() };
    let mut policy = Policy {
        chains: vec![
            chain(
                DEFAULT_CHAIN,
                vec![rule(
                    "log",
                    ConditionGroup::always(),
                    vec![Action::AddLogEntry { text: "x".into() }],
                )],
            ),
            chain(
                "A",
                vec![rule("a", ConditionGroup::always(), vec![goto("B")])],
            ),
            chain(
                "B",
                vec![rule("b", ConditionGroup::always(), vec![goto("a")])],
            ),
            exception_chain(Action::Bounce),
        ],
    };
    let w = World::new("alice@example.com");
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Bounce));
    assert_eq!(
        plan.recipients[0].actions.len(),
        1,
        "continuing actions are kept"
    );
    assert!(trace.recipients[0].steps.contains(&Step::EnterChain {
        chain: EXCEPTION_CHAIN.into(),
        reason: EntryReason::FellOffEnd {
            chain: DEFAULT_CHAIN.into()
        }
    }));

    policy.chains[0].rules = vec![rule("loop", ConditionGroup::always(), vec![goto("A")])];
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Bounce));
    assert!(trace.recipients[0].steps.iter().any(|s| matches!(
        s,
        Step::EnterChain {
            reason: EntryReason::LoopGuard,
            ..
        }
    )));

    policy.chains[0].rules = vec![rule(
        "bad",
        ConditionGroup::all(vec![cond(
            ConditionSubject::RecipientAddress,
            Modifier::IsInDictionary,
            "missing",
        )]),
        vec![Action::Drop],
    )];
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(finished(&plan.recipients[0]), Some(&Action::Bounce));
    assert!(trace.recipients[0].steps.iter().any(|s| matches!(
        s,
        Step::EnterChain {
            reason: EntryReason::Error { .. },
            ..
        }
    )));

    policy.chains[0].rules = vec![rule(
        "gone",
        ConditionGroup::always(),
        vec![goto("nowhere")],
    )];
    let (_, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert!(trace.recipients[0].steps.iter().any(|s| matches!(
        s,
        Step::EnterChain {
            reason: EntryReason::UnknownChain { .. },
            ..
        }
    )));
}

#[test]
fn mailing_list_expansion_and_attachments() {
    let policy = Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![
                rule(
                    "expand",
                    ConditionGroup::all(vec![
                        Condition::flag(ConditionSubject::RecipientIsMailingList).into(),
                        cond(
                            ConditionSubject::MailingListUserCount,
                            Modifier::FewerThan,
                            "30",
                        ),
                    ]),
                    vec![Action::ExpandMailingList],
                ),
                rule(
                    "exe",
                    ConditionGroup::all(vec![cond(
                        ConditionSubject::AttachmentName,
                        Modifier::EndsWith,
                        ".exe",
                    )]),
                    vec![Action::Bounce],
                ),
                rule("send", ConditionGroup::always(), vec![Action::SendClear]),
            ],
        )],
    };
    let mut w = World::new("alice@example.com");
    w.directory = SimpleDirectory::default()
        .with(
            "execs@example.com",
            UserFacts {
                mailing_list_size: Some(3),
                ..Default::default()
            },
        )
        .with(
            "all@example.com",
            UserFacts {
                mailing_list_size: Some(300),
                ..Default::default()
            },
        );
    w.message.attachments = vec![crate::facts::Attachment {
        name: "EVIL.EXE".into(),
        content_type: "application/octet-stream".into(),
    }];
    let (plan, _) = w.run(&policy, &["execs@example.com", "all@example.com"], false);
    assert!(matches!(
        plan.recipients[0].disposition,
        Disposition::ExpandMailingList(_)
    ));
    assert_eq!(finished(&plan.recipients[1]), Some(&Action::Bounce));
}

#[test]
fn learn_mode_delivers_unchanged_but_traces() {
    let policy = scenario_18_policy();
    let mut w = World::new("carol@partner.test");
    w.dictionaries
        .add_literal("Excluded Addresses: Do Not Sign", "list-request@ext.test");
    let (plan, trace) = w.run(&policy, &["list-request@ext.test"], true);
    assert!(plan.learn_mode && trace.learn_mode);
    assert_eq!(
        plan.recipients[0].disposition,
        Disposition::DeliverUnchanged
    );
    assert!(plan.recipients[0].actions.is_empty());
    assert_eq!(finished(&trace.recipients[0].outcome), Some(&Action::Drop));
    assert_eq!(
        trace.recipients[0].fired(),
        vec![(DEFAULT_CHAIN, "drop-excluded")]
    );
}

#[test]
fn header_size_and_session_conditions() {
    let policy = Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![
                rule(
                    "sensitive",
                    ConditionGroup::any(vec![
                        cond(
                            ConditionSubject::MessageHeader {
                                name: "Sensitivity".into(),
                            },
                            Modifier::MatchesPattern,
                            "^(company-)?confidential|private",
                        ),
                        cond(
                            ConditionSubject::MessageSubject,
                            Modifier::Contains,
                            "[pgp]",
                        ),
                    ]),
                    vec![header("X-Sensitive")],
                ),
                rule(
                    "big-on-587",
                    ConditionGroup::all(vec![
                        cond(ConditionSubject::MessageSize, Modifier::GreaterThan, "1"),
                        cond(ConditionSubject::LocalConnectorPort, Modifier::Is, "587"),
                    ]),
                    vec![header("X-Big")],
                ),
                rule("send", ConditionGroup::always(), vec![Action::SendClear]),
            ],
        )],
    };
    let mut w = World::new("alice@example.com");
    w.message.headers = vec![("Subject".into(), "Hello [PGP] world".into())];
    w.message.size_bytes = 1025;
    w.session.connector_port = 587;
    let (plan, _) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(
        headers_of(&plan.recipients[0]),
        vec!["X-Sensitive", "X-Big"]
    );

    w.message.headers = vec![("sensitivity".into(), "Company-Confidential".into())];
    w.message.size_bytes = 1024;
    let (plan, _) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(headers_of(&plan.recipients[0]), vec!["X-Sensitive"]);
}

#[test]
fn an_exception_chain_that_jumps_away_still_terminates() {
    let goto = |c: &str| Action::GoToChain { chain: c.into() };
    let policy = Policy {
        chains: vec![
            chain(
                DEFAULT_CHAIN,
                vec![rule("a", ConditionGroup::always(), vec![goto("B")])],
            ),
            chain(
                "B",
                vec![rule(
                    "b",
                    ConditionGroup::always(),
                    vec![goto(DEFAULT_CHAIN)],
                )],
            ),
            chain(
                EXCEPTION_CHAIN,
                vec![rule("e", ConditionGroup::always(), vec![goto("B")])],
            ),
        ],
    };
    let w = World::new("alice@example.com");
    let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
    assert_eq!(plan.recipients[0].disposition, Disposition::PassThrough);
    assert_eq!(
        trace.recipients[0].steps.last(),
        Some(&Step::ExceptionDefault)
    );
}

#[test]
fn shared_patterns_compile_once_and_keep_errors() {
    let a = modifier::shared_pattern("secret").unwrap();
    assert!(a.is_match("Re: top SECRET plan"));
    assert!(!a.is_match("lunch"));
    // The same compiled regex (and its warm match caches) comes back, not a copy.
    assert!(std::sync::Arc::ptr_eq(
        &a,
        &modifier::shared_pattern("secret").unwrap()
    ));
    assert!(modifier::shared_pattern("(").is_err());
    assert!(modifier::shared_pattern("(").is_err());

    // A bad pattern sends every recipient to the Exception chain, not just the first.
    let policy = Policy {
        chains: vec![chain(
            DEFAULT_CHAIN,
            vec![rule(
                "bad",
                ConditionGroup::all(vec![cond(
                    ConditionSubject::RecipientAddress,
                    Modifier::MatchesPattern,
                    "(",
                )]),
                vec![Action::Drop],
            )],
        )],
    };
    let w = World::new("alice@example.com");
    let (plan, _) = w.run(&policy, &["a@ext.test", "b@ext.test"], false);
    for r in &plan.recipients {
        assert_eq!(r.disposition, Disposition::PassThrough);
    }
}

/// Issue 4 item 7: a missing dictionary or chain is only a validation warning; at run time the
/// recipient goes to the Exception chain (and passes through with the factory Exception rule).
#[test]
fn missing_dictionary_or_chain_is_a_warning_and_goes_to_exception() {
    let dict_rule = |subject: ConditionSubject| {
        rule(
            "uses-missing",
            ConditionGroup::all(vec![
                Condition::new(subject, Modifier::IsInDictionary, "No Such Dictionary").into(),
            ]),
            vec![Action::SendClear],
        )
    };
    let key_dict_rule = rule(
        "uses-missing-keys",
        ConditionGroup::all(vec![
            Condition::flag(ConditionSubject::AnyPartEncrypted(
                EncryptedTo::KeyInDictionary("No Such Keys".into()),
            ))
            .into(),
        ]),
        vec![Action::SendClear],
    );
    let goto_rule = rule(
        "jumps-nowhere",
        ConditionGroup::always(),
        vec![
            header("X-Before"),
            Action::GoToChain {
                chain: "No Such Chain".into(),
            },
        ],
    );
    let mut w = World::new("alice@example.com");
    w.message.crypto = CryptoFacts {
        any_part_encrypted: true,
        pkesk_key_ids: vec!["89ABCDEFDEADBEEF".into()],
        ..Default::default()
    };
    for r in [
        dict_rule(ConditionSubject::RecipientAddress),
        dict_rule(ConditionSubject::SenderDomain),
        key_dict_rule,
        goto_rule,
    ] {
        let policy = Policy {
            chains: vec![
                chain(DEFAULT_CHAIN, vec![r.clone()]),
                exception_chain(Action::PassThrough),
            ],
        };
        let report = crate::validate::validate_policy(&policy, &[]);
        assert!(report.is_ok(), "{}: {:?}", r.name, report.errors);
        assert!(
            report.warnings.iter().any(|f| matches!(
                f.issue,
                crate::validate::Issue::UnknownDictionary(_)
                    | crate::validate::Issue::UnknownChain(_)
            )),
            "{}: {:?}",
            r.name,
            report.warnings
        );
        let (plan, trace) = w.run(&policy, &["bob@ext.test"], false);
        assert_eq!(
            finished(&plan.recipients[0]),
            Some(&Action::PassThrough),
            "{}",
            r.name
        );
        let entered_exception = trace.recipients[0].steps.iter().any(|s| {
            matches!(
                s,
                Step::EnterChain {
                    chain,
                    reason: EntryReason::Error { .. } | EntryReason::UnknownChain { .. },
                } if chain == EXCEPTION_CHAIN
            )
        });
        assert!(
            entered_exception,
            "{}: {:?}",
            r.name, trace.recipients[0].steps
        );
    }
}
