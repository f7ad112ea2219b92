//! [`PreparedPolicy`] against the frozen reference evaluator. The property tests of
//! [`crate::prop_tests`] call [`same_as_reference`] on every generated case; the tests here add
//! what random small policies rarely reach: the one-pass body search with many and overlapping
//! values, large dictionaries, many recipients, and a prepared policy reused across messages.

use std::time::Instant;

use crate::eval::{Input, Plan, Trace, TraceDetail, default_input, evaluate};
use crate::facts::{MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage, UserFacts};
use crate::model::{
    Action, Applicability, Chain, Condition, ConditionGroup, ConditionSubject, DEFAULT_CHAIN,
    Modifier, Node, Policy, Rule, SendOptions, ServiceKind,
};
use crate::prepared::PreparedPolicy;
use crate::prepared_match::Needles;

/// The prepared policy gives the reference's plan and trace, with either trace detail, and
/// again when it is reused.
pub(crate) fn same_as_reference(
    policy: &Policy,
    input: &Input<'_>,
    plan: &Plan,
    trace: &Trace,
    context: &str,
) {
    let prepared = PreparedPolicy::new(policy, input.dictionaries);
    let full = Input {
        trace: TraceDetail::Full,
        ..*input
    };
    let expected = (plan.clone(), trace.clone());
    assert_eq!(prepared.evaluate(&full), expected, "prepared: {context}");
    let fired = Input {
        trace: TraceDetail::Fired,
        ..*input
    };
    assert_eq!(
        prepared.evaluate(&fired),
        evaluate(policy, &fired),
        "prepared, fired only: {context}"
    );
    assert_eq!(
        prepared.evaluate(&full),
        expected,
        "prepared, reused: {context}"
    );
}

fn memmem(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

#[test]
fn body_search_finds_what_memmem_finds() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let alphabet = ["a", "b", "-", "ß", "i̇"];
    for round in 0..2000 {
        let mut needles = Needles::default();
        let mut list = Vec::new();
        for _ in 0..next(6) {
            let needle: String = (0..next(4))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let i = needles.add(needle.clone());
            if i == list.len() {
                list.push(needle);
            }
        }
        needles.build();
        let len = [0, 1, 5, 40, 600][next(5)];
        let haystack: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
        let found = needles.find_all(haystack.as_bytes());
        let expected: Vec<bool> = list
            .iter()
            .map(|n| memmem(haystack.as_bytes(), n))
            .collect();
        assert_eq!(found, expected, "round {round}: {list:?} in {haystack:?}");
    }
    // More overlapping starts than one pass visits: the rest is searched value by value.
    let mut needles = Needles::default();
    for n in ["aa", "zz", "aab"] {
        needles.add(n.to_string());
    }
    needles.build();
    let haystack = format!("{}b", "a".repeat(2000));
    assert_eq!(
        needles.find_all(haystack.as_bytes()),
        vec![true, false, true]
    );
}

/// A large policy in the shape of `signet bench policy`'s generated case, for several
/// recipients and messages.
fn large_case(entries: usize) -> (Policy, MemoryDictionaries) {
    use ConditionSubject as S;
    let cond = |s: S, m: Modifier, v: String| -> Node { Condition::new(s, m, v).into() };
    let outbound = || -> Node { Condition::flag(S::ServiceType(ServiceKind::SmtpOutbound)).into() };
    let mut dicts = MemoryDictionaries::default();
    for d in 0..20 {
        let name = format!("Dictionary {d:02}");
        dicts.define(&name);
        for j in 0..entries {
            dicts.add_literal(
                &name,
                &format!("user{j}@dept{}.dict{d}.example.net", j % 97),
            );
        }
        dicts.add_literal(&name, if d == 0 { "bob@ext.test" } else { "x@y.test" });
        for p in 0..3 {
            let _ = dicts.add_pattern(&name, &format!(r"[a-z0-9.]+@(.+\.)?dict{d}-{p}\.org"));
        }
    }
    let mut rules = Vec::new();
    for i in 1..=120usize {
        let dict = format!("Dictionary {:02}", i % 20);
        let conditions = match i % 7 {
            0 => ConditionGroup::all(vec![cond(
                S::RecipientAddress,
                Modifier::Is,
                format!("u{i}@p.test"),
            )]),
            1 => ConditionGroup::all(vec![
                outbound(),
                cond(S::RecipientDomain, Modifier::IsInDictionary, dict),
            ]),
            2 => ConditionGroup::any(vec![
                cond(S::MessageBody, Modifier::Contains, format!("project-{i}")),
                cond(
                    S::MessageSubject,
                    Modifier::Contains,
                    format!("[project-{i}]"),
                ),
            ]),
            3 => ConditionGroup::all(vec![
                outbound(),
                cond(
                    S::SenderAddress,
                    Modifier::MatchesPattern,
                    format!("^ops-{i}-[a-z]+@"),
                ),
            ]),
            4 => ConditionGroup::none(vec![cond(
                S::RecipientDomain,
                Modifier::IsSubdomainOf,
                format!("partner{i}.test"),
            )]),
            5 => ConditionGroup::any(vec![
                cond(
                    S::MessageHeader {
                        name: "X-Project".into(),
                    },
                    Modifier::Is,
                    format!("p{i}"),
                ),
                cond(S::SenderAddress, Modifier::IsInDictionary, dict),
            ]),
            _ => ConditionGroup::all(vec![cond(
                S::MessageBody,
                Modifier::Contains,
                ["report", "port", "figures", "zz-none"][i % 4].into(),
            )]),
        };
        let finishing = i % 40 == 39;
        rules.push(Rule {
            name: format!("Rule {i}"),
            description: String::new(),
            enabled: i % 11 != 0,
            conditions,
            actions: vec![if finishing {
                Action::Send(SendOptions::default())
            } else {
                Action::AddHeader {
                    name: "X-Bench".into(),
                    value: i.to_string(),
                    replace_existing: false,
                }
            }],
            key_search: Vec::new(),
        });
    }
    let policy = Policy {
        chains: vec![Chain {
            name: DEFAULT_CHAIN.into(),
            applicability: Applicability::Server,
            rules,
            factory: false,
        }],
    };
    (policy, dicts)
}

fn body(words: &[&str], len: usize) -> String {
    let mut body = String::new();
    let mut i = 0;
    while body.len() < len {
        body.push_str(words[(i * 7 + 3) % words.len()]);
        body.push(if i % 11 == 10 { '\n' } else { ' ' });
        i += 1;
    }
    body
}

#[test]
fn large_policy_matches_the_reference() {
    let (policy, dicts) = large_case(500);
    let prepared = PreparedPolicy::new(&policy, &dicts);
    let directory = SimpleDirectory::default().with(
        "alice@example.com",
        UserFacts {
            internal: true,
            key_available: true,
            ..Default::default()
        },
    );
    let session = SessionFacts::default();
    let recipients: Vec<String> = [
        "bob@ext.test",
        "BOB@EXT.TEST",
        "u14@p.test",
        "x@partner4.test",
        "x@y.test",
        "",
    ]
    .map(String::from)
    .to_vec();
    let bodies = [
        body(
            &[
                "the",
                "quarterly",
                "report",
                "Figures",
                "project-9",
                "PROJECT-2",
            ],
            10_000,
        ),
        body(&["nothing", "here"], 3_000),
        String::new(),
        "project-16 project-23 zz-none".to_string(),
    ];
    for (b, text) in bodies.iter().enumerate() {
        for sender in [
            "alice@example.com",
            "ops-3-x@example.com",
            "user3@dept3.dict5.example.net",
        ] {
            let message = SimpleMessage {
                sender: sender.into(),
                headers: vec![
                    (
                        "Subject".into(),
                        format!("Quarterly [PROJECT-{}]", 2 + 7 * b),
                    ),
                    ("X-Project".into(), "P5".into()),
                ],
                body: text.clone(),
                size_bytes: text.len() as u64,
                ..Default::default()
            };
            let input = default_input(&message, &session, &directory, &dicts, &recipients);
            let (plan, trace) = crate::eval_reference::evaluate(&policy, &input);
            same_as_reference(
                &policy,
                &input,
                &plan,
                &trace,
                &format!("body {b}, {sender}"),
            );
            assert_eq!(
                prepared.evaluate(&input),
                (plan, trace),
                "body {b}, {sender}"
            );
        }
    }
}

#[test]
fn prepared_policy_keeps_its_dictionary_snapshot() {
    let rule = Rule {
        name: "r".into(),
        description: String::new(),
        enabled: true,
        conditions: ConditionGroup::all(vec![
            Condition::new(
                ConditionSubject::RecipientAddress,
                Modifier::IsInDictionary,
                "D",
            )
            .into(),
        ]),
        actions: vec![Action::Drop],
        key_search: Vec::new(),
    };
    let policy = Policy {
        chains: vec![Chain {
            name: DEFAULT_CHAIN.into(),
            applicability: Applicability::Server,
            rules: vec![rule],
            factory: false,
        }],
    };
    let mut dicts = MemoryDictionaries::default();
    dicts.add_literal("d", "bob@ext.test");
    let prepared = PreparedPolicy::new(&policy, &dicts);
    // A change after preparing copies the dictionary; the prepared policy keeps what it saw.
    dicts.add_literal("d", "carol@ext.test");
    let message = SimpleMessage::default();
    let session = SessionFacts::default();
    let directory = SimpleDirectory::default();
    let recipients = vec!["Carol@ext.test".to_string(), "bob@ext.test".to_string()];
    let input = default_input(&message, &session, &directory, &dicts, &recipients);
    let (plan, _) = prepared.evaluate(&input);
    let dropped: Vec<bool> = plan
        .recipients
        .iter()
        .map(|r| matches!(r.disposition, crate::eval::Disposition::Finished(_)))
        .collect();
    assert_eq!(dropped, vec![false, true]);
    let rebuilt = PreparedPolicy::new(&policy, &dicts);
    assert_eq!(rebuilt.evaluate(&input), evaluate(&policy, &input));
}

/// Decisions per second of both evaluators on the large policy; run by hand:
/// `cargo test -p signet-policy --release -- --ignored --nocapture prepared_speed`.
#[test]
#[ignore]
fn prepared_speed() {
    let (policy, dicts) = large_case(10_000);
    let prepared = PreparedPolicy::new(&policy, &dicts);
    let directory = SimpleDirectory::default();
    let session = SessionFacts::default();
    let recipients = vec!["bob@ext.test".to_string()];
    let message = SimpleMessage {
        sender: "alice@example.com".into(),
        headers: vec![("Subject".into(), "Quarterly figures (10 KiB)".into())],
        // Words none of the "body contains" values of the policy finds, as in the bench:
        // otherwise the rules that fire print the whole body into the trace.
        body: body(
            &["the", "quarterly", "budget", "please", "review", "invoice"],
            10_240,
        ),
        ..Default::default()
    };
    // PREPARED_ONLY=1 also leaves out the full trace.
    let traces = match std::env::var_os("PREPARED_ONLY") {
        Some(_) => &[TraceDetail::Fired][..],
        None => &[TraceDetail::Fired, TraceDetail::Full][..],
    };
    for &trace in traces {
        let input = Input {
            trace,
            ..default_input(&message, &session, &directory, &dicts, &recipients)
        };
        let rate = |f: &dyn Fn()| {
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed().as_secs_f64() < 1.0 {
                f();
                n += 1;
            }
            n as f64 / t.elapsed().as_secs_f64()
        };
        // PREPARED_ONLY=1: time only the prepared policy (for a profile of it alone).
        let plain = match std::env::var_os("PREPARED_ONLY") {
            Some(_) => 0.0,
            None => rate(&|| drop(std::hint::black_box(evaluate(&policy, &input)))),
        };
        let fast = rate(&|| drop(std::hint::black_box(prepared.evaluate(&input))));
        println!("{trace:?}: evaluate {plain:.0}/s, prepared {fast:.0}/s");
    }
}
