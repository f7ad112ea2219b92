//! `signet bench policy`: mail-policy decisions per second on one core (`signet-policy`'s
//! `PreparedPolicy::evaluate`, and `eval::evaluate`, which prepares on every call), beside the cost of building
//! the facts it reads (parsing the message with mail-parser into a `SimpleMessage`), measured in
//! the same invocation.
//!
//! One decision is one evaluation of one recipient, per-message work included (the prepared
//! policy lower-cases and searches the message afresh on every call; only the policy and its
//! dictionaries are prepared once, as the mail path keeps them). Every case is timed three times:
//! prepared, with the trace the mail path asks for (`TraceDetail::Fired`: chains entered and
//! rules fired) and with the full trace of the dry-run API (`TraceDetail::Full`: every rule
//! tried), then through `eval::evaluate` with the mail path's trace: the policy prepared afresh
//! for every decision, what a one-off dry run pays. Cases:
//! - factory: `factory_policy(["example.com"])` with its factory dictionaries (Managed Domains =
//!   example.com); a 10 KiB outbound message from alice@example.com to bob@ext.test, once plain
//!   (Default > Outbound > Send Clear) and once sensitive (a `Sensitivity: Company-Confidential`
//!   header: Default > Outbound > Secure Message > Secure With Key Only > Encrypt to Key).
//! - generated: 200 rules in five chains (Default, Bench B, Bench C, Bench D, and the factory
//!   Exception chain) over 50 dictionaries of `--entries` literals (10,000) plus 3 patterns
//!   each. Conditions mix is, contains, matches pattern, is in dictionary and is a subdomain of;
//!   the first finishing rule to match is the 190th, so 186 rules are evaluated and miss.
//!
//! Baseline: building the facts (mail-parser's parse of the same message into a `SimpleMessage`),
//! which the mail path pays anyway: policy/parse says whether policy would show in its profile.

use std::time::Instant;

use anyhow::{Context, bail};
use mail_parser::{MessageParser, MimeHeaders};
use signet_policy::eval::{
    Disposition, Input, Plan, Step, Trace, TraceDetail, default_input, evaluate,
};
use signet_policy::factory::{FACTORY_DICTIONARIES, MANAGED_DOMAINS, factory_policy};
use signet_policy::facts::{
    Attachment, MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage, UserFacts,
};
use signet_policy::model::{
    Action, Applicability, Chain, Condition, ConditionGroup, ConditionSubject, DEFAULT_CHAIN,
    EXCEPTION_CHAIN, Modifier, Node, Policy, Rule, SendOptions, ServiceKind,
};
use signet_policy::prepared::PreparedPolicy;
use signet_policy::validate::validate_policy;

use super::{Rate, machine, pin, timed};

#[derive(Debug, Clone, clap::Args)]
pub struct PolicyBenchArgs {
    /// Seconds of decisions (and of parsing, for the baseline) per case.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Literal entries in each of the 50 dictionaries of the generated policy.
    #[arg(long, default_value_t = 10_000)]
    pub entries: usize,
    /// For CI: 0.3 s per case.
    #[arg(long)]
    pub quick: bool,
    /// The CPU to pin the benchmark thread to; default: the last CPU this process may run on.
    #[arg(long)]
    pub cpu: Option<usize>,
}

const SENDER: &str = "alice@example.com";
const RECIPIENT: &str = "bob@ext.test";
const MESSAGE_SIZE: usize = 10 * 1024;
const DICTIONARIES: usize = 50;
const GENERATED_RULES: usize = 200;
/// 1-based position (over all chains, in order) of the first finishing rule that matches.
const MATCHING_RULE: usize = 190;

/// The 10 KiB message of `bench crypto`, from alice@example.com to bob@ext.test; `sensitive`
/// adds the Sensitivity header Outlook writes for "confidential".
pub(crate) fn message(sensitive: bool) -> Vec<u8> {
    let raw = String::from_utf8(super::crypto::message(MESSAGE_SIZE)).expect("ASCII");
    let mut raw = raw
        .replace("alice@sender.example", SENDER)
        .replace("bob@recipient.example", RECIPIENT);
    if sensitive {
        let at = raw.find("Date: ").expect("Date header");
        raw.insert_str(at, "Sensitivity: Company-Confidential\r\n");
    }
    raw.into_bytes()
}

/// The facts the policy reads, as the mail path would build them: parse, then copy out the
/// header fields (raw values), the body text and the attachments.
pub(crate) fn parse_facts(raw: &[u8], envelope_sender: &str) -> anyhow::Result<SimpleMessage> {
    let msg = MessageParser::default()
        .parse(raw)
        .context("mail-parser could not parse the message")?;
    let headers = msg
        .headers()
        .iter()
        .map(|h| {
            let value = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(|v| String::from_utf8_lossy(v).trim().to_string())
                .unwrap_or_default();
            (h.name.as_str().to_string(), value)
        })
        .collect::<Vec<_>>();
    let attachments = msg
        .attachments()
        .map(|a| Attachment {
            name: a.attachment_name().unwrap_or_default().to_string(),
            content_type: a
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default(),
        })
        .collect();
    Ok(SimpleMessage {
        sender: envelope_sender.to_string(),
        headers,
        body: msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
        size_bytes: raw.len() as u64,
        attachments,
        encoding: None,
        crypto: Default::default(),
        from_mailing_list: msg.header("List-Id").is_some(),
        malformed: false,
    })
}

fn directory() -> SimpleDirectory {
    SimpleDirectory::default()
        .with(
            SENDER,
            UserFacts {
                internal: true,
                key_available: true,
                ..Default::default()
            },
        )
        .with(
            RECIPIENT,
            UserFacts {
                key_available: true,
                ..Default::default()
            },
        )
}

fn factory_dictionaries() -> MemoryDictionaries {
    let mut d = MemoryDictionaries::default();
    for (name, _) in FACTORY_DICTIONARIES {
        d.define(name);
    }
    d.add_literal(MANAGED_DOMAINS, "example.com");
    d
}

fn dictionary_name(d: usize) -> String {
    format!("Dictionary {d:02}")
}

/// 50 dictionaries of `entries` addresses that the message never matches, plus 3 patterns
/// each; Dictionary 00's last literal is the recipient (read by the matching rule).
pub(crate) fn generated_dictionaries(entries: usize) -> anyhow::Result<MemoryDictionaries> {
    let mut dicts = MemoryDictionaries::default();
    for d in 0..DICTIONARIES {
        let name = dictionary_name(d);
        dicts.define(&name);
        for j in 0..entries {
            if d == 0 && j + 1 == entries {
                dicts.add_literal(&name, RECIPIENT);
            } else {
                dicts.add_literal(
                    &name,
                    &format!("user{j}@dept{}.dict{d}.example.net", j % 97),
                );
            }
        }
        for p in 0..3 {
            dicts.add_pattern(
                &name,
                &format!(r"[a-z0-9.]+@(.+\.)?dict{d}-{p}\.example\.org"),
            )?;
        }
    }
    Ok(dicts)
}

fn cond(subject: ConditionSubject, modifier: Modifier, value: String) -> Node {
    Condition::new(subject, modifier, value).into()
}

/// Rule `i` (1-based over the whole policy) of the generated policy: a condition the message
/// never meets, cycling through the modifiers.
fn missing_rule(i: usize) -> Rule {
    use ConditionSubject as S;
    let outbound: Node = Condition::flag(S::ServiceType(ServiceKind::SmtpOutbound)).into();
    let dict = dictionary_name(i % DICTIONARIES);
    let conditions = match i % 6 {
        0 => ConditionGroup::all(vec![cond(
            S::RecipientAddress,
            Modifier::Is,
            format!("user{i}@partner{i}.test"),
        )]),
        1 => ConditionGroup::all(vec![
            outbound,
            cond(S::RecipientDomain, Modifier::IsInDictionary, dict),
        ]),
        2 if i % 12 == 2 => ConditionGroup::all(vec![cond(
            S::MessageBody,
            Modifier::Contains,
            format!("project-{i}"),
        )]),
        2 => ConditionGroup::all(vec![cond(
            S::MessageSubject,
            Modifier::Contains,
            format!("[project-{i}]"),
        )]),
        3 => ConditionGroup::all(vec![
            outbound,
            cond(
                S::SenderAddress,
                Modifier::MatchesPattern,
                format!(r"^ops-{i}-[a-z]+@"),
            ),
        ]),
        4 => ConditionGroup::all(vec![cond(
            S::RecipientDomain,
            Modifier::IsSubdomainOf,
            format!("partner{i}.test"),
        )]),
        _ => ConditionGroup::any(vec![
            cond(
                S::MessageHeader {
                    name: "X-Project".into(),
                },
                Modifier::Is,
                format!("p{i}"),
            ),
            cond(S::SenderAddress, Modifier::IsInDictionary, dict),
        ]),
    };
    Rule {
        name: format!("Rule {i}"),
        description: String::new(),
        enabled: true,
        conditions,
        actions: vec![Action::AddHeader {
            name: "X-Bench".into(),
            value: i.to_string(),
            replace_existing: false,
        }],
        key_search: Vec::new(),
    }
}

/// 200 rules: Default, Bench B, Bench C (50 each, the last a go-to to the next chain), Bench D
/// (48, the 40th the first finishing rule to match: rule 190 overall) and the factory Exception
/// chain (2).
pub(crate) fn generated_policy() -> Policy {
    let factory = factory_policy(&["example.com".into()]);
    let exception = factory
        .chain(EXCEPTION_CHAIN)
        .expect("Exception chain")
        .clone();
    let names = [DEFAULT_CHAIN, "Bench B", "Bench C", "Bench D"];
    let sizes = [50, 50, 50, GENERATED_RULES - 150 - exception.rules.len()];
    let mut chains = Vec::new();
    let mut i = 0;
    for (c, (&name, &size)) in names.iter().zip(&sizes).enumerate() {
        let mut rules = Vec::new();
        for r in 0..size {
            i += 1;
            let mut rule = missing_rule(i);
            if c < 3 && r + 1 == size {
                rule.conditions = ConditionGroup::all(vec![
                    Condition::flag(ConditionSubject::ServiceType(ServiceKind::SmtpOutbound))
                        .into(),
                ]);
                rule.actions = vec![Action::GoToChain {
                    chain: names[c + 1].into(),
                }];
            } else if i == MATCHING_RULE {
                rule.conditions = ConditionGroup::all(vec![
                    cond(
                        ConditionSubject::SenderAddress,
                        Modifier::MatchesPattern,
                        r"^alice@".into(),
                    ),
                    cond(
                        ConditionSubject::RecipientAddress,
                        Modifier::IsInDictionary,
                        dictionary_name(0),
                    ),
                ]);
                rule.actions = vec![Action::Send(SendOptions::default())];
            }
            rules.push(rule);
        }
        chains.push(Chain {
            name: name.into(),
            applicability: Applicability::Server,
            rules,
            factory: false,
        });
    }
    chains.push(exception);
    Policy { chains }
}

/// One timed case: a policy, its dictionaries, the message's facts.
struct Case {
    label: &'static str,
    policy: Policy,
    dictionaries: MemoryDictionaries,
    facts: SimpleMessage,
    /// (chain, rule) of the finishing rule the decision must end in.
    expect: (&'static str, String),
}

struct Row {
    label: &'static str,
    trace: TraceDetail,
    /// Timed with the prepared policy (`PreparedPolicy::evaluate`), else with `eval::evaluate`
    /// (prepare and evaluate).
    prepared: bool,
    rate: Rate,
    /// Rules tried (matched or not) per decision.
    rules: usize,
}

/// One decision, checked to end in the expected rule and to be the same prepared or not; the
/// number of rules tried.
fn check(case: &Case, prepared: &PreparedPolicy, input: &Input<'_>) -> anyhow::Result<usize> {
    let (plan, trace): (Plan, Trace) = evaluate(&case.policy, input);
    if prepared.evaluate(input) != (plan.clone(), trace.clone()) {
        bail!("{}: the prepared policy decided differently", case.label);
    }
    let finished = match &plan.recipients[0].disposition {
        Disposition::Finished(p) => (p.chain.as_str(), p.rule.as_str()),
        other => bail!("{}: expected a finishing rule, got {other:?}", case.label),
    };
    if finished != (case.expect.0, case.expect.1.as_str()) {
        bail!(
            "{}: finished in {finished:?}, expected {:?}",
            case.label,
            case.expect
        );
    }
    Ok(trace.recipients[0]
        .steps
        .iter()
        .filter(|s| matches!(s, Step::RuleFired { .. } | Step::RuleNotMatched { .. }))
        .count())
}

fn cases(entries: usize) -> anyhow::Result<Vec<Case>> {
    let plain = parse_facts(&message(false), SENDER)?;
    let sensitive = parse_facts(&message(true), SENDER)?;
    let factory = factory_policy(&["example.com".into()]);
    eprintln!("  building {DICTIONARIES} dictionaries of {entries} entries ...");
    let t = Instant::now();
    let generated = generated_policy();
    let dicts = generated_dictionaries(entries)?;
    let names: Vec<String> = (0..DICTIONARIES).map(dictionary_name).collect();
    let report = validate_policy(&generated, &names);
    if !report.is_ok() {
        bail!(
            "the generated policy does not validate: {:?}",
            report.errors
        );
    }
    eprintln!("  built in {:.2} s", t.elapsed().as_secs_f64());
    Ok(vec![
        Case {
            label: "factory, plain",
            policy: factory.clone(),
            dictionaries: factory_dictionaries(),
            facts: plain.clone(),
            expect: ("Outbound", "Send Clear".into()),
        },
        Case {
            label: "factory, sensitive",
            policy: factory,
            dictionaries: factory_dictionaries(),
            facts: sensitive,
            expect: ("Outbound: Secure With Key Only", "Encrypt to Key".into()),
        },
        Case {
            label: "200 rules, 50 x dictionaries",
            policy: generated,
            dictionaries: dicts,
            facts: plain,
            expect: ("Bench D", format!("Rule {MATCHING_RULE}")),
        },
    ])
}

/// Pins this thread and measures the parse baseline and every case.
fn measure(args: &PolicyBenchArgs) -> anyhow::Result<(Rate, Vec<Row>, usize)> {
    let cpu = pin(args.cpu)?;
    eprintln!(
        "signet bench policy: {} s per case, pinned to CPU {cpu}",
        args.seconds
    );
    let raw = message(false);
    eprintln!(
        "  baseline: parse {} B into facts for {} s ...",
        raw.len(),
        args.seconds
    );
    let parse = timed(args.seconds, || parse_facts(&raw, SENDER).map(drop))?;
    eprintln!("  baseline: {:.0} parses/s", parse.per_sec());
    let directory = directory();
    let session = SessionFacts::default();
    let rcpts = vec![RECIPIENT.to_string()];
    let mut rows = Vec::new();
    for case in cases(args.entries)? {
        let dicts = &case.dictionaries;
        let t = Instant::now();
        let prepared = PreparedPolicy::new(&case.policy, dicts);
        let label = case.label;
        eprintln!(
            "  {label}: policy prepared in {:.3} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let full = default_input(&case.facts, &session, &directory, dicts, &rcpts);
        // Counted on the full trace: the mail path's trace leaves out the rules that missed.
        let rules = check(&case, &prepared, &full)?;
        // The mail path's trace first (what it pays per message), then the dry-run API's, then
        // the mail path's with the policy prepared on every call (a one-off dry run).
        for (trace, is_prepared) in [
            (TraceDetail::Fired, true),
            (TraceDetail::Full, true),
            (TraceDetail::Fired, false),
        ] {
            let input = Input { trace, ..full };
            check(&case, &prepared, &input)?;
            let (secs, mode) = (args.seconds, row_label(trace, is_prepared));
            eprintln!("  {label}, {mode}: {rules} rules per decision, {secs} s ...");
            let rate = timed(args.seconds, || {
                if is_prepared {
                    std::hint::black_box(prepared.evaluate(&input));
                } else {
                    std::hint::black_box(evaluate(&case.policy, &input));
                }
                Ok(())
            })?;
            eprintln!("  {label}, {mode}: {:.0} decisions/s", rate.per_sec());
            rows.push(Row {
                label,
                trace,
                prepared: is_prepared,
                rate,
                rules,
            });
        }
    }
    Ok((parse, rows, cpu))
}

/// How a row names its evaluator and trace detail.
fn row_label(trace: TraceDetail, prepared: bool) -> &'static str {
    match (prepared, trace) {
        (true, TraceDetail::Fired) => "prepared; trace: fired rules (mail path)",
        (true, TraceDetail::Full) => "prepared; trace: full (dry-run API)",
        (false, TraceDetail::Fired) => "evaluate(): prepared per call; trace: fired rules",
        (false, TraceDetail::Full) => "evaluate(): prepared per call; trace: full",
    }
}

fn print_report(parse: &Rate, rows: &[Row], cpu: usize, args: &PolicyBenchArgs) {
    let command: Vec<String> = std::env::args().collect();
    println!();
    println!("machine: {}; measured on CPU {cpu} only", machine());
    println!("command: {}", command.join(" "));
    println!(
        "one thread, {} s per case; one decision = one evaluation of one recipient; message {} B",
        args.seconds,
        message(false).len()
    );
    println!();
    println!(
        "| case | evaluator; trace | rules tried | decisions/s | µs/decision | policy/parse | mail path >= 100,000/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    let parse_us = 1e6 / parse.per_sec();
    println!(
        "| baseline: parse 10 KiB into facts (mail-parser) | - | - | {:.0} parses/s | {parse_us:.2} | 1 | - |",
        parse.per_sec()
    );
    for r in rows {
        let (v, us) = (r.rate.per_sec(), 1e6 / r.rate.per_sec());
        // The target is for the mail path's decisions; the other rows are for comparison.
        let met = match (r.prepared, r.trace, v >= 100_000.0) {
            (true, TraceDetail::Fired, true) => "met",
            (true, TraceDetail::Fired, false) => "NOT met",
            _ => "(not the mail path)",
        };
        let (label, rules, ratio) = (r.label, r.rules, us / parse_us);
        let mode = row_label(r.trace, r.prepared);
        println!("| {label} | {mode} | {rules} | {v:.0} | {us:.2} | {ratio:.2} | {met} |");
    }
}

/// `signet bench policy`.
pub async fn run(args: PolicyBenchArgs) -> anyhow::Result<()> {
    let mut args = args;
    if args.quick {
        args.seconds = args.seconds.min(0.3);
    }
    let worker = std::thread::Builder::new()
        .name("bench-policy".into())
        .spawn(move || -> anyhow::Result<()> {
            let (parse, rows, cpu) = measure(&args)?;
            print_report(&parse, &rows, cpu, &args);
            Ok(())
        })?;
    tokio::task::spawn_blocking(move || worker.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the benchmark thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_policy::facts::MessageFacts;

    #[test]
    fn message_and_policy_shape() {
        let rules: usize = generated_policy()
            .chains
            .iter()
            .map(|c| c.rules.len())
            .sum();
        assert_eq!(rules, GENERATED_RULES);
        let facts = parse_facts(&message(true), SENDER).unwrap();
        assert!(facts.body.len() >= MESSAGE_SIZE);
        assert_eq!(
            facts.header_values("sensitivity"),
            vec!["Company-Confidential"]
        );
    }

    /// Every case, with small dictionaries, very briefly. No speed is asserted.
    #[test]
    fn smallest_case_runs() {
        let args = PolicyBenchArgs {
            seconds: 0.01,
            entries: 20,
            quick: false,
            cpu: None,
        };
        // Run on its own thread: measure() pins the thread it runs on.
        let (parse, rows, _) = std::thread::spawn(move || measure(&args))
            .join()
            .expect("no panic")
            .expect("bench runs");
        assert!(parse.count >= 1);
        // Each case prepared with the mail path's trace, with the full one, then unprepared.
        assert_eq!(rows.len(), 9);
        assert!(rows.iter().all(|r| r.rate.count >= 1));
        assert_eq!(
            (rows[0].trace, rows[0].prepared),
            (TraceDetail::Fired, true)
        );
        assert_eq!((rows[1].trace, rows[1].prepared), (TraceDetail::Full, true));
        assert_eq!(
            (rows[2].trace, rows[2].prepared),
            (TraceDetail::Fired, false)
        );
        assert!(rows[6..].iter().all(|r| r.rules == MATCHING_RULE));
    }
}
