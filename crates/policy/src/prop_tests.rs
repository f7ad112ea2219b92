//! Property tests without a property-testing crate: a seeded xorshift generator builds a few
//! thousand random policies (random chains, groups nested up to and past [`MAX_GROUP_DEPTH`],
//! every condition subject with any modifier, invalid patterns and numbers, Go to chain into
//! random, missing and cyclic targets) and random messages, sessions, directories, dictionaries
//! and recipients, and checks that validation and evaluation always return, never panic, and put
//! every recipient in a consistent disposition. Deterministic: a failure names its case number,
//! and `case(n)` rebuilds it.

use signet_model::KeyMode;

use crate::eval::{Disposition, EntryReason, Input, MAX_CHAIN_HOPS, Step, TraceDetail, evaluate};
use crate::facts::{
    Attachment, CryptoFacts, MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage,
    UserFacts,
};
use crate::model::{
    Action, AddressSource, Annotation, Applicability, ApplicationKind, ArchiveCopyOf,
    ArchiveOptions, Chain, Condition, ConditionGroup, ConditionSubject, DEFAULT_CHAIN,
    DeliveryPreference, EXCEPTION_CHAIN, EncodingFormat, EncryptedTo, KeyNotFound, MAX_GROUP_DEPTH,
    Modifier, Node, PdfOptions, Policy, PreferredEncoding, Rule, SendOptions, ServiceKind,
    Statement,
};
use crate::validate::validate_policy;

/// Cases per run; sized to keep the test well under 5 s in a debug build.
const CASES: u64 = 3000;

/// xorshift64* (Vigna): tiny, deterministic, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero; spread small seeds.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
    fn string(&mut self, pool: &[&str]) -> String {
        self.pick(pool).to_string()
    }
}

/// Chain names: real ones in odd case, and names no chain has.
const CHAIN_NAMES: &[&str] = &[
    DEFAULT_CHAIN,
    "default",
    EXCEPTION_CHAIN,
    "EXCEPTION",
    "A",
    "b",
    "Outbound: Secure Message",
    "Missing",
    "",
];
const DICTIONARIES: &[&str] = &["Managed Domains", "managed domains", "Keys", "Nope", ""];
const VALUES: &[&str] = &[
    "",
    "ext.test",
    "EXT.TEST",
    "example.com",
    ".",
    "@",
    "bob@ext.test",
    "secret",
    "(",
    "[unclosed",
    "a{1000}{1000}",
    "^$",
    ".*",
    "(?i)b.b",
    "\\",
    "30",
    "0",
    "18446744073709551615",
    "99999999999999999999999",
    "-1",
    "9.10",
    "1..2",
    "x",
    "İSTANBUL",
    "ß",
    "Managed Domains",
    "Keys",
    "Nope",
];
const ADDRESSES: &[&str] = &[
    "",
    "@",
    "bob@ext.test",
    "BOB@EXT.TEST",
    "alice@example.com",
    "list@example.com",
    "no-at-sign",
    "x@mail.ext.test.",
    "ü@exämple.com",
    "a@b@c",
];
const TEXT: &[&str] = &[
    "",
    "hello",
    "Re: top SECRET plan",
    "[PGP] x",
    "İ ß ﬃ",
    "\u{0}",
];
const KEY_IDS: &[&str] = &[
    "",
    "0x",
    "DEADBEEF",
    "89ABCDEFDEADBEEF",
    "0000000000000000",
    "zz",
    "0123456789ABCDEF0123456789ABCDEF89ABCDEF",
];

fn key_mode(r: &mut Rng) -> KeyMode {
    r.pick(&[KeyMode::Skm, KeyMode::Sckm, KeyMode::Ckm, KeyMode::Gkm])
}

fn service(r: &mut Rng) -> ServiceKind {
    r.pick(&[
        ServiceKind::SmtpInbound,
        ServiceKind::SmtpOutbound,
        ServiceKind::Pop,
        ServiceKind::Imap,
        ServiceKind::Mapi,
        ServiceKind::WebEmailProtection,
        ServiceKind::Blackberry,
    ])
}

fn delivery(r: &mut Rng) -> DeliveryPreference {
    r.pick(&[
        DeliveryPreference::WebEmailProtection,
        DeliveryPreference::SmartTrailer,
        DeliveryPreference::Desktop,
        DeliveryPreference::PdfEmailProtection,
    ])
}

fn encoding(r: &mut Rng) -> EncodingFormat {
    r.pick(&[
        EncodingFormat::NotEncoded,
        EncodingFormat::OpenPgp,
        EncodingFormat::Smime,
        EncodingFormat::Partitioned,
    ])
}

fn application(r: &mut Rng) -> ApplicationKind {
    r.pick(&[
        ApplicationKind::InternalDesktop,
        ApplicationKind::ExternalDesktop,
        ApplicationKind::Server,
    ])
}

fn encrypted_to(r: &mut Rng) -> EncryptedTo {
    match r.below(4) {
        0 => EncryptedTo::AnyKey,
        1 => EncryptedTo::KeyId(r.string(KEY_IDS)),
        2 => EncryptedTo::Adk,
        _ => EncryptedTo::KeyInDictionary(r.string(DICTIONARIES)),
    }
}

fn subject(r: &mut Rng) -> ConditionSubject {
    use ConditionSubject as S;
    match r.below(31) {
        0 => S::RecipientAddress,
        1 => S::RecipientDomain,
        2 => S::RecipientConsumerPolicy,
        3 => S::RecipientIsMailingList,
        4 => S::RecipientKeyMode(key_mode(r)),
        5 => S::RecipientDeliveryPreference(delivery(r)),
        6 => S::RecipientIsInternal,
        7 => S::RecipientKeyFound,
        8 => S::SenderAddress,
        9 => S::SenderDomain,
        10 => S::SenderConsumerPolicy,
        11 => S::SenderKeyMode(key_mode(r)),
        12 => S::SenderIsInternal,
        13 => S::MessageEncodingFormat(encoding(r)),
        14 => S::MessageHeader {
            name: r.string(&["Subject", "X-A", "sensitivity", ""]),
        },
        15 => S::MessageSubject,
        16 => S::MessageBody,
        17 => S::MessageSize,
        18 => S::AnyPartEncrypted(encrypted_to(r)),
        19 => S::AllEncrypted(encrypted_to(r)),
        20 => S::AnyPartSigned,
        21 => S::AttachmentName,
        22 => S::AttachmentType,
        23 => S::MessageIsFromMailingList,
        24 => S::MailingListUserCount,
        25 => S::Application(application(r)),
        26 => S::ServiceType(service(r)),
        27 => S::ClientVersion,
        28 => S::ConnectedUserAuthenticated,
        29 => S::LocalConnectorIp,
        _ => S::LocalConnectorPort,
    }
}

fn modifier(r: &mut Rng) -> Modifier {
    use Modifier::*;
    r.pick(&[
        Is,
        Contains,
        BeginsWith,
        EndsWith,
        MatchesPattern,
        IsInDictionary,
        IsSubdomainOf,
        GreaterThan,
        LessThan,
        GreaterOrEqual,
        LessOrEqual,
        FewerThan,
    ])
}

fn condition(r: &mut Rng) -> Condition {
    let m = modifier(r);
    let value = if m == Modifier::IsInDictionary && r.chance(70) {
        r.string(DICTIONARIES)
    } else {
        r.string(VALUES)
    };
    Condition {
        subject: subject(r),
        modifier: m,
        value,
        negate: r.chance(30),
    }
}

/// A group at `depth` (the rule's top group is 1); occasionally one level too deep.
fn group(r: &mut Rng, depth: usize) -> ConditionGroup {
    let statement = r.pick(&[
        Statement::All,
        Statement::Any,
        Statement::None,
        Statement::AlwaysTrue,
    ]);
    let mut children = Vec::new();
    // AlwaysTrue usually has no children, but not always (a validation error, still evaluable).
    let n = if statement == Statement::AlwaysTrue && r.chance(80) {
        0
    } else {
        r.below(4)
    };
    for _ in 0..n {
        let deeper = depth < MAX_GROUP_DEPTH || (depth == MAX_GROUP_DEPTH && r.chance(10));
        if deeper && r.chance(35) {
            children.push(Node::Group(group(r, depth + 1)));
        } else {
            children.push(Node::Condition(condition(r)));
        }
    }
    ConditionGroup {
        statement,
        children,
    }
}

fn action(r: &mut Rng) -> Action {
    match r.below(15) {
        0 => Action::Send(SendOptions {
            if_key_not_found: r.pick(&[
                KeyNotFound::Bounce,
                KeyNotFound::SendClearSigned,
                KeyNotFound::Pdf(PdfOptions::default()),
                KeyNotFound::WebEmailProtection,
            ]),
            encoding: r.pick(&[PreferredEncoding::Automatic, PreferredEncoding::Smime]),
            ..SendOptions::default()
        }),
        1 => Action::SendViaWep,
        2 => Action::SendClear,
        3 => Action::SendViaPdf(PdfOptions::default()),
        4 => Action::SendArchiveCopy(ArchiveOptions {
            archive_server: r.string(VALUES),
            envelope_recipient: None,
            preserve_envelope_headers: r.chance(50),
            copy_of: ArchiveCopyOf::Original,
            attempt_decrypt: false,
            encrypt_to: vec![],
            encoding: PreferredEncoding::Automatic,
            sign_with_organization_key: false,
        }),
        5 => Action::Deliver,
        6 => Action::DecryptAndVerify {
            annotation: Annotation::Smart,
        },
        7 => Action::Bounce,
        8 => Action::Drop,
        9 => Action::PassThrough,
        10 => Action::AddToDictionary {
            address: AddressSource::Recipient,
            dictionary: r.string(DICTIONARIES),
        },
        11 => Action::ExpandMailingList,
        12 => Action::AddLogEntry {
            text: r.string(TEXT),
        },
        13 => Action::AddHeader {
            name: "X-Prop".into(),
            value: r.string(TEXT),
            replace_existing: r.chance(50),
        },
        // Go to is weighted up so cycles are common.
        _ => Action::GoToChain {
            chain: r.string(CHAIN_NAMES),
        },
    }
}

fn policy(r: &mut Rng) -> Policy {
    let mut chains = Vec::new();
    for _ in 0..r.below(7) {
        let mut rules = Vec::new();
        for i in 0..r.below(6) {
            let mut actions = Vec::new();
            for _ in 0..r.below(4) {
                actions.push(action(r));
            }
            if r.chance(40) {
                actions.push(Action::GoToChain {
                    chain: r.string(CHAIN_NAMES),
                });
            }
            rules.push(Rule {
                name: format!("r{i}"),
                description: String::new(),
                enabled: r.chance(85),
                conditions: group(r, 1),
                actions,
                key_search: vec![],
            });
        }
        chains.push(Chain {
            name: r.string(&CHAIN_NAMES[..CHAIN_NAMES.len() - 2]),
            applicability: r.pick(&[
                Applicability::ServerAndClient,
                Applicability::Server,
                Applicability::Client,
                Applicability::Standalone,
                Applicability::Mobile,
            ]),
            rules,
            factory: r.chance(20),
        });
    }
    Policy { chains }
}

struct World {
    message: SimpleMessage,
    session: SessionFacts,
    directory: SimpleDirectory,
    dictionaries: MemoryDictionaries,
    recipients: Vec<String>,
    start_chain: String,
    learn_mode: bool,
}

fn world(r: &mut Rng) -> World {
    let mut headers = Vec::new();
    for _ in 0..r.below(4) {
        headers.push((
            r.string(&["Subject", "subject", "X-A", "Sensitivity"]),
            r.string(TEXT),
        ));
    }
    let mut attachments = Vec::new();
    for _ in 0..r.below(3) {
        attachments.push(Attachment {
            name: r.string(&["a.exe", "B.PDF", ""]),
            content_type: r.string(&["application/pdf", ""]),
        });
    }
    let mut pkesk_key_ids = Vec::new();
    for _ in 0..r.below(3) {
        pkesk_key_ids.push(r.string(KEY_IDS));
    }
    let message = SimpleMessage {
        sender: r.string(ADDRESSES),
        headers,
        body: r.string(TEXT),
        size_bytes: r.pick(&[0, 1, 1024, 1025, 40_000, u64::MAX]),
        attachments,
        encoding: if r.chance(50) {
            Some(encoding(r))
        } else {
            None
        },
        crypto: CryptoFacts {
            any_part_encrypted: r.chance(50),
            all_encrypted: r.chance(30),
            any_part_signed: r.chance(30),
            pkesk_key_ids,
        },
        from_mailing_list: r.chance(20),
        malformed: r.chance(10),
    };
    let session = SessionFacts {
        service: service(r),
        application: application(r),
        authenticated: r.chance(50),
        connector_ip: r.string(&["", "10.0.0.1", "::1"]),
        connector_port: r.pick(&[0, 25, 465, u16::MAX]),
        client_version: r.pick(&[None, Some("9.10".to_string()), Some("x".to_string())]),
    };
    let mut directory = SimpleDirectory::default();
    for _ in 0..r.below(4) {
        directory = directory.with(
            &r.string(ADDRESSES),
            UserFacts {
                internal: r.chance(50),
                key_mode: if r.chance(50) {
                    Some(key_mode(r))
                } else {
                    None
                },
                key_available: r.chance(50),
                consumer_policy: r.pick(&[None, Some("Default".to_string())]),
                delivery_preference: if r.chance(50) {
                    Some(delivery(r))
                } else {
                    None
                },
                mailing_list_size: r.pick(&[None, Some(0), Some(29), Some(u64::MAX)]),
            },
        );
    }
    if r.chance(30) {
        directory.adk_key_ids.push(r.string(KEY_IDS));
    }
    let mut dictionaries = MemoryDictionaries::default();
    for name in DICTIONARIES {
        if r.chance(50) {
            dictionaries.define(name);
            for _ in 0..r.below(3) {
                if r.chance(50) {
                    dictionaries.add_literal(name, &r.string(VALUES));
                } else {
                    // Invalid patterns are refused here; that is fine.
                    let _ = dictionaries.add_pattern(name, &r.string(VALUES));
                }
            }
        }
    }
    let mut recipients = Vec::new();
    for _ in 0..r.below(5) {
        recipients.push(r.string(ADDRESSES));
    }
    World {
        message,
        session,
        directory,
        dictionaries,
        recipients,
        start_chain: if r.chance(85) {
            DEFAULT_CHAIN.to_string()
        } else {
            r.string(CHAIN_NAMES)
        },
        learn_mode: r.chance(15),
    }
}

fn case(n: u64) -> (Policy, World) {
    let mut r = Rng::new(n);
    let p = policy(&mut r);
    let w = world(&mut r);
    (p, w)
}

fn is_exception(name: &str) -> bool {
    name.eq_ignore_ascii_case(EXCEPTION_CHAIN)
}

fn check(n: u64, policy: &Policy, w: &World) {
    // Validation never panics, whatever the policy.
    let _ = validate_policy(policy, &["Managed Domains".to_string(), "Keys".to_string()]);

    let input = Input {
        message: &w.message,
        session: &w.session,
        directory: &w.directory,
        dictionaries: &w.dictionaries,
        recipients: &w.recipients,
        start_chain: &w.start_chain,
        learn_mode: w.learn_mode,
        trace: TraceDetail::Full,
    };
    let (plan, trace) = evaluate(policy, &input);
    assert_eq!(plan.recipients.len(), w.recipients.len(), "case {n}");
    assert_eq!(trace.recipients.len(), w.recipients.len(), "case {n}");
    for (p, t) in plan.recipients.iter().zip(&trace.recipients) {
        let outcome = &t.outcome;
        assert_eq!(p.recipient, t.recipient, "case {n}");
        if w.learn_mode {
            assert_eq!(p.disposition, Disposition::DeliverUnchanged, "case {n}");
            assert!(p.actions.is_empty(), "case {n}");
        } else {
            assert_eq!(p, outcome, "case {n}");
        }
        // Continuing actions only; whatever ends a pass is the disposition.
        for a in &outcome.actions {
            assert!(
                !a.action.finishes() && !a.action.transfers(),
                "case {n}: {a:?}"
            );
        }
        let fired = t.fired();
        match &outcome.disposition {
            Disposition::Finished(a) => {
                assert!(a.action.finishes(), "case {n}: {a:?}");
                assert_eq!(
                    fired.last(),
                    Some(&(a.chain.as_str(), a.rule.as_str())),
                    "case {n}"
                );
            }
            Disposition::ExpandMailingList(a) => {
                assert_eq!(a.action, Action::ExpandMailingList, "case {n}");
                assert_eq!(
                    fired.last(),
                    Some(&(a.chain.as_str(), a.rule.as_str())),
                    "case {n}"
                );
            }
            Disposition::PassThrough => {
                assert_eq!(t.steps.last(), Some(&Step::ExceptionDefault), "case {n}");
            }
            Disposition::DeliverUnchanged => panic!("case {n}: outcome is never Learn Mode's"),
        }
        // Bounded: the loop guard caps chain entries.
        let entries: Vec<(&String, &EntryReason)> = t
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::EnterChain { chain, reason } => Some((chain, reason)),
                _ => None,
            })
            .collect();
        assert!(entries.len() <= 2 * MAX_CHAIN_HOPS, "case {n}: {entries:?}");
        // Everything that goes wrong lands in the Exception chain.
        for (chain, reason) in &entries {
            match reason {
                EntryReason::Start | EntryReason::GoTo { .. } => {}
                _ => assert!(is_exception(chain), "case {n}: {chain} {reason:?}"),
            }
        }
        if let (true, Some((chain, reason))) = (w.message.malformed, entries.first()) {
            assert!(is_exception(chain), "case {n}");
            assert_eq!(**reason, EntryReason::Malformed, "case {n}");
        }
    }
    // Same input, same answer (the pattern cache is per call).
    let again = evaluate(policy, &input);
    assert_eq!(again, (plan.clone(), trace.clone()), "case {n}");
    // And the answer of the evaluator before its speed work, "why" text included.
    assert_eq!(
        crate::eval_reference::evaluate(policy, &input),
        (plan.clone(), trace.clone()),
        "case {n}"
    );
    crate::prepared_tests::same_as_reference(policy, &input, &plan, &trace, &format!("case {n}"));
    // The mail path's trace: the same plan, and the full trace without the rules that were
    // only tried (missed or disabled).
    let fired_only = Input {
        trace: TraceDetail::Fired,
        ..input
    };
    let (fired_plan, fired_trace) = evaluate(policy, &fired_only);
    assert_eq!(fired_plan, plan, "case {n}");
    let mut expected = trace;
    for t in &mut expected.recipients {
        t.steps
            .retain(|s| !matches!(s, Step::RuleNotMatched { .. } | Step::RuleDisabled { .. }));
    }
    assert_eq!(fired_trace, expected, "case {n}");
}

/// Text conditions against the frozen reference evaluator, on text where a fast
/// case-insensitive path could go wrong: non-ASCII capitals, characters whose lower case is
/// longer (`İ`), final sigma, the Kelvin sign, ASCII look-alikes; every modifier, negated or not,
/// over the subject, the body (lower-cased once per call), headers, addresses and attachments.
#[test]
fn text_conditions_match_the_reference_on_unicode() {
    const TEXTS: &[&str] = &[
        "",
        "Top SECRET plan",
        "top secret plan",
        "İSTANBUL office",
        "i̇stanbul office",
        "ΟΔΥΣΣΕΥΣ",
        "οδυσσευς",
        "\u{212A}elvin",
        "kelvin",
        "Straße STRASSE",
        "ﬃ ǅ",
        "bob@EXT.test",
    ];
    let subjects = [
        ConditionSubject::MessageSubject,
        ConditionSubject::MessageBody,
        ConditionSubject::MessageHeader { name: "X-A".into() },
        ConditionSubject::SenderAddress,
        ConditionSubject::SenderDomain,
        ConditionSubject::RecipientAddress,
        ConditionSubject::AttachmentName,
    ];
    let modifiers = [
        Modifier::Is,
        Modifier::Contains,
        Modifier::BeginsWith,
        Modifier::EndsWith,
        Modifier::MatchesPattern,
        Modifier::IsSubdomainOf,
        Modifier::IsInDictionary,
        Modifier::GreaterThan,
    ];
    let mut dictionaries = MemoryDictionaries::default();
    dictionaries.define("Keys");
    dictionaries.add_literal("Keys", "İSTANBUL office");
    dictionaries.add_literal("Keys", "Bob@ext.test");
    let mut r = Rng::new(77);
    for round in 0..400 {
        let text = |r: &mut Rng| r.string(TEXTS);
        let message = SimpleMessage {
            sender: text(&mut r),
            headers: vec![
                ("Subject".into(), text(&mut r)),
                ("X-A".into(), text(&mut r)),
                ("x-a".into(), text(&mut r)),
            ],
            body: text(&mut r),
            attachments: vec![Attachment {
                name: text(&mut r),
                content_type: String::new(),
            }],
            ..Default::default()
        };
        let recipients = vec![text(&mut r), text(&mut r)];
        let mut children = Vec::new();
        for _ in 0..3 {
            let mut c = Condition::new(r.pick(&subjects), r.pick(&modifiers), text(&mut r));
            if c.modifier == Modifier::IsInDictionary {
                c.value = r.string(&["Keys", "keys", "Nope"]);
            }
            c.negate = r.chance(50);
            children.push(Node::Condition(c));
        }
        let conditions = match r.below(3) {
            0 => ConditionGroup::all(children),
            1 => ConditionGroup::any(children),
            _ => ConditionGroup {
                statement: Statement::None,
                children,
            },
        };
        let policy = Policy {
            chains: vec![Chain {
                name: DEFAULT_CHAIN.into(),
                applicability: Applicability::Server,
                rules: vec![Rule {
                    name: "r".into(),
                    description: String::new(),
                    enabled: true,
                    conditions,
                    actions: vec![Action::Drop],
                    key_search: Vec::new(),
                }],
                factory: false,
            }],
        };
        let session = SessionFacts::default();
        let directory = SimpleDirectory::default();
        let input = Input {
            message: &message,
            session: &session,
            directory: &directory,
            dictionaries: &dictionaries,
            recipients: &recipients,
            start_chain: DEFAULT_CHAIN,
            learn_mode: false,
            trace: TraceDetail::Full,
        };
        let (plan, trace) = crate::eval_reference::evaluate(&policy, &input);
        let context = format!("round {round}: {policy:?} {message:?}");
        assert_eq!(
            evaluate(&policy, &input),
            (plan.clone(), trace.clone()),
            "{context}"
        );
        crate::prepared_tests::same_as_reference(&policy, &input, &plan, &trace, &context);
    }
}

#[test]
fn random_policies_always_reach_a_disposition() {
    let mut go_tos = 0;
    let mut deep = 0;
    for n in 0..CASES {
        let (policy, w) = case(n);
        go_tos += policy
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.actions)
            .filter(|a| matches!(a, Action::GoToChain { .. }))
            .count();
        deep += usize::from(policy.chains.iter().flat_map(|c| &c.rules).any(|r| {
            fn depth(g: &ConditionGroup) -> usize {
                1 + g
                    .children
                    .iter()
                    .map(|c| match c {
                        Node::Group(g) => depth(g),
                        Node::Condition(_) => 0,
                    })
                    .max()
                    .unwrap_or(0)
            }
            depth(&r.conditions) >= 4
        }));
        check(n, &policy, &w);
    }
    // The generator really produces what the test is about.
    assert!(go_tos > 1000, "{go_tos}");
    assert!(deep > 50, "{deep}");
}

#[test]
fn random_policies_survive_a_serde_round_trip() {
    for n in 0..300 {
        let (policy, _) = case(n);
        let json = serde_json::to_string(&policy).unwrap();
        let back: Policy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, policy, "case {n}");
    }
}

/// Random policies over the factory chains: the factory policy with random extra chains and
/// rules still terminates for random mail (the loops go through real chain names).
#[test]
fn factory_policy_with_random_additions_terminates() {
    for n in 0..300 {
        let mut r = Rng::new(10_000 + n);
        let mut p = crate::factory::factory_policy(&[]);
        let extra = policy(&mut r);
        for (i, c) in extra.chains.into_iter().enumerate() {
            if r.chance(50) && !p.chains.is_empty() {
                let at = r.below(p.chains.len());
                let target = &mut p.chains[at].rules;
                let pos = r.below(target.len() + 1);
                target.splice(pos..pos, c.rules);
            } else {
                p.chains.push(Chain {
                    name: format!("{}{i}", c.name),
                    ..c
                });
            }
        }
        let w = world(&mut r);
        check(10_000 + n, &p, &w);
    }
}
