//! The evaluator as it was before the speed work of issue 4 (lower-casing per condition, trace
//! text built eagerly), frozen as a test oracle: `prop_tests` checks that [`crate::eval`]
//! returns exactly the same plan and trace (including every "why" string) on thousands of random
//! policies and messages. Test-only; do not optimise.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use signet_model::KeyMode;

use crate::eval::{
    Disposition, EntryReason, Input, MAX_CHAIN_HOPS, Plan, PlannedAction, RecipientPlan,
    RecipientTrace, Step, Trace,
};
use crate::model::{
    Action, ConditionGroup, ConditionSubject, EXCEPTION_CHAIN, EncryptedTo, Modifier, Node, Policy,
    Statement,
};
use crate::modifier::{self, MatchError};

/// `modifier::match_text` as it was: both sides lower-cased with `to_lowercase` every time.
fn old_match_text(modifier: Modifier, actual: &str, expected: &str) -> Result<bool, MatchError> {
    let a = actual.to_lowercase();
    let e = expected.to_lowercase();
    Ok(match modifier {
        Modifier::Is => a == e,
        Modifier::Contains => a.contains(&e),
        Modifier::BeginsWith => a.starts_with(&e),
        Modifier::EndsWith => a.ends_with(&e),
        Modifier::MatchesPattern => modifier::compile_pattern(expected)?.is_match(actual),
        Modifier::IsSubdomainOf => old_is_subdomain_of(actual, expected),
        other => return Err(MatchError::Modifier(other)),
    })
}

fn old_is_subdomain_of(domain: &str, parent: &str) -> bool {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let p = parent
        .trim()
        .trim_end_matches('.')
        .trim_start_matches('.')
        .to_lowercase();
    if p.is_empty() || d.len() <= p.len() + 1 {
        return false;
    }
    match d.strip_suffix(&p) {
        Some(head) => head.ends_with('.') && head.len() > 1,
        None => false,
    }
}

/// "Matches pattern" regexes compiled so far, by pattern text.
#[derive(Default)]
struct PatternCache {
    compiled: RefCell<HashMap<String, Result<Regex, MatchError>>>,
}

impl PatternCache {
    fn is_match(&self, pattern: &str, value: &str) -> Result<bool, MatchError> {
        let mut compiled = self.compiled.borrow_mut();
        let entry = compiled
            .entry(pattern.to_string())
            .or_insert_with(|| modifier::compile_pattern(pattern));
        match entry {
            Ok(re) => Ok(re.is_match(value)),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Evaluate the policy for every recipient.
pub(crate) fn evaluate(policy: &Policy, input: &Input<'_>) -> (Plan, Trace) {
    let mut plans = Vec::new();
    let mut traces = Vec::new();
    let patterns = PatternCache::default();
    for recipient in input.recipients {
        let (outcome, steps) = evaluate_recipient(policy, input, recipient, &patterns);
        let planned = if input.learn_mode {
            RecipientPlan {
                recipient: recipient.clone(),
                actions: Vec::new(),
                disposition: Disposition::DeliverUnchanged,
            }
        } else {
            outcome.clone()
        };
        plans.push(planned);
        traces.push(RecipientTrace {
            recipient: recipient.clone(),
            steps,
            outcome,
        });
    }
    (
        Plan {
            learn_mode: input.learn_mode,
            recipients: plans,
        },
        Trace {
            learn_mode: input.learn_mode,
            recipients: traces,
        },
    )
}

fn evaluate_recipient(
    policy: &Policy,
    input: &Input<'_>,
    recipient: &str,
    patterns: &PatternCache,
) -> (RecipientPlan, Vec<Step>) {
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    let (mut chain_name, mut reason) = if input.message.is_malformed() {
        (EXCEPTION_CHAIN.to_string(), EntryReason::Malformed)
    } else {
        (input.start_chain.to_string(), EntryReason::Start)
    };
    let mut hops = 0;
    let ctx = Ctx {
        input,
        recipient,
        patterns,
    };
    let disposition = 'chains: loop {
        hops += 1;
        let in_exception = chain_name.eq_ignore_ascii_case(EXCEPTION_CHAIN);
        if hops > 2 * MAX_CHAIN_HOPS {
            // Even the Exception chain keeps jumping away: give up and pass through.
            break Disposition::PassThrough;
        }
        if hops > MAX_CHAIN_HOPS && !in_exception {
            chain_name = EXCEPTION_CHAIN.to_string();
            reason = EntryReason::LoopGuard;
            continue;
        }
        let Some(chain) = policy.chain(&chain_name) else {
            if in_exception {
                break Disposition::PassThrough;
            }
            reason = EntryReason::UnknownChain { name: chain_name };
            chain_name = EXCEPTION_CHAIN.to_string();
            continue;
        };
        steps.push(Step::EnterChain {
            chain: chain.name.clone(),
            reason: reason.clone(),
        });
        // In the Exception chain, one more error or loop just passes the message through.
        let escalate = |r: EntryReason| if in_exception { None } else { Some(r) };
        for rule in &chain.rules {
            if !rule.enabled {
                steps.push(Step::RuleDisabled {
                    chain: chain.name.clone(),
                    rule: rule.name.clone(),
                });
                continue;
            }
            let mut why = Vec::new();
            match ctx.group(&rule.conditions, &mut why) {
                Ok(false) => {
                    steps.push(Step::RuleNotMatched {
                        chain: chain.name.clone(),
                        rule: rule.name.clone(),
                    });
                    continue;
                }
                Ok(true) => {}
                Err(e) => {
                    let r = EntryReason::Error {
                        chain: chain.name.clone(),
                        rule: rule.name.clone(),
                        error: e.to_string(),
                    };
                    match escalate(r) {
                        Some(r) => {
                            reason = r;
                            chain_name = EXCEPTION_CHAIN.to_string();
                            continue 'chains;
                        }
                        None => break 'chains Disposition::PassThrough,
                    }
                }
            }
            steps.push(Step::RuleFired {
                chain: chain.name.clone(),
                rule: rule.name.clone(),
                why,
            });
            for action in &rule.actions {
                let planned = PlannedAction {
                    chain: chain.name.clone(),
                    rule: rule.name.clone(),
                    action: action.clone(),
                    key_search: rule.key_search.clone(),
                };
                match action {
                    a if a.finishes() => break 'chains Disposition::Finished(planned),
                    Action::ExpandMailingList => {
                        break 'chains Disposition::ExpandMailingList(planned);
                    }
                    Action::GoToChain { chain: target } => {
                        reason = EntryReason::GoTo {
                            from_chain: chain.name.clone(),
                            rule: rule.name.clone(),
                        };
                        chain_name = target.clone();
                        continue 'chains;
                    }
                    _ => actions.push(planned),
                }
            }
        }
        match escalate(EntryReason::FellOffEnd {
            chain: chain.name.clone(),
        }) {
            Some(r) => {
                reason = r;
                chain_name = EXCEPTION_CHAIN.to_string();
            }
            None => break Disposition::PassThrough,
        }
    };
    if disposition == Disposition::PassThrough {
        steps.push(Step::ExceptionDefault);
    }
    (
        RecipientPlan {
            recipient: recipient.to_string(),
            actions,
            disposition,
        },
        steps,
    )
}

/// The facts for one recipient.
struct Ctx<'a, 'b> {
    input: &'a Input<'b>,
    recipient: &'a str,
    patterns: &'a PatternCache,
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

fn key_mode_name(mode: KeyMode) -> &'static str {
    mode.as_str()
}

impl Ctx<'_, '_> {
    fn group(&self, group: &ConditionGroup, why: &mut Vec<String>) -> Result<bool, MatchError> {
        match group.statement {
            Statement::AlwaysTrue => {
                why.push("always true".to_string());
                Ok(true)
            }
            Statement::All => {
                let mut local = Vec::new();
                for child in &group.children {
                    if !self.node(child, &mut local)? {
                        return Ok(false);
                    }
                }
                why.extend(local);
                Ok(!group.children.is_empty())
            }
            Statement::Any => {
                for child in &group.children {
                    let mut local = Vec::new();
                    if self.node(child, &mut local)? {
                        why.extend(local);
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Statement::None => {
                let mut local = Vec::new();
                for child in &group.children {
                    let mut ignored = Vec::new();
                    if self.node(child, &mut ignored)? {
                        return Ok(false);
                    }
                    local.push(format!("not ({})", describe_node(child)));
                }
                why.extend(local);
                Ok(true)
            }
        }
    }

    fn node(&self, node: &Node, why: &mut Vec<String>) -> Result<bool, MatchError> {
        match node {
            Node::Group(g) => self.group(g, why),
            Node::Condition(c) => {
                let (hit, seen) = self.condition(&c.subject, c.modifier, &c.value)?;
                let result = hit != c.negate;
                if result {
                    why.push(format!(
                        "{}{:?} {:?} {:?} (saw {seen:?})",
                        if c.negate { "not " } else { "" },
                        c.subject,
                        c.modifier,
                        c.value
                    ));
                }
                Ok(result)
            }
        }
    }

    /// Whether the (un-negated) condition holds, and the fact value looked at, for the trace.
    fn condition(
        &self,
        subject: &ConditionSubject,
        modifier: Modifier,
        value: &str,
    ) -> Result<(bool, String), MatchError> {
        let msg = self.input.message;
        let dir = self.input.directory;
        let session = self.input.session;
        let rcpt = self.recipient;
        let sender = msg.envelope_sender();
        let flag = |b: bool| Ok((b, b.to_string()));
        match subject {
            ConditionSubject::RecipientAddress => self.text(modifier, &[rcpt], value),
            ConditionSubject::RecipientDomain => self.text(modifier, &[domain_of(rcpt)], value),
            ConditionSubject::SenderAddress => self.text(modifier, &[sender], value),
            ConditionSubject::SenderDomain => self.text(modifier, &[domain_of(sender)], value),
            ConditionSubject::RecipientConsumerPolicy | ConditionSubject::SenderConsumerPolicy => {
                let who = if *subject == ConditionSubject::SenderConsumerPolicy {
                    sender
                } else {
                    rcpt
                };
                match dir.consumer_policy(who) {
                    Some(p) => self.text(modifier, &[p.as_str()], value),
                    None => Ok((false, "no consumer policy".into())),
                }
            }
            ConditionSubject::RecipientIsMailingList => flag(dir.mailing_list_size(rcpt).is_some()),
            ConditionSubject::RecipientKeyMode(m) => {
                let seen = dir.key_mode(rcpt);
                Ok((seen == Some(*m), format!("{:?}", seen.map(key_mode_name))))
            }
            ConditionSubject::SenderKeyMode(m) => {
                let seen = dir.key_mode(sender);
                Ok((seen == Some(*m), format!("{:?}", seen.map(key_mode_name))))
            }
            ConditionSubject::RecipientDeliveryPreference(p) => {
                let seen = dir.delivery_preference(rcpt);
                Ok((
                    !dir.is_internal(rcpt) && seen == Some(*p),
                    format!("{seen:?}"),
                ))
            }
            ConditionSubject::RecipientIsInternal => flag(dir.is_internal(rcpt)),
            ConditionSubject::SenderIsInternal => flag(dir.is_internal(sender)),
            ConditionSubject::RecipientKeyFound => flag(dir.key_available(rcpt)),
            ConditionSubject::MessageEncodingFormat(f) => {
                let seen = msg.encoding();
                Ok((seen == *f, format!("{seen:?}")))
            }
            ConditionSubject::MessageHeader { name } => {
                self.text(modifier, &msg.header_values(name), value)
            }
            ConditionSubject::MessageSubject => {
                self.text(modifier, &[msg.subject().unwrap_or("")], value)
            }
            ConditionSubject::MessageBody => self.text(modifier, &[msg.body_text()], value),
            ConditionSubject::MessageSize => {
                let kb = msg.size_bytes().div_ceil(1024);
                Ok((
                    modifier::match_number(modifier, kb, value)?,
                    format!("{kb} KB"),
                ))
            }
            ConditionSubject::AnyPartEncrypted(to) => {
                self.encrypted(msg.crypto().any_part_encrypted, to)
            }
            ConditionSubject::AllEncrypted(to) => self.encrypted(msg.crypto().all_encrypted, to),
            ConditionSubject::AnyPartSigned => flag(msg.crypto().any_part_signed),
            ConditionSubject::AttachmentName => {
                let names: Vec<&str> = msg.attachments().iter().map(|a| a.name.as_str()).collect();
                self.text(modifier, &names, value)
            }
            ConditionSubject::AttachmentType => {
                let types: Vec<&str> = msg
                    .attachments()
                    .iter()
                    .map(|a| a.content_type.as_str())
                    .collect();
                self.text(modifier, &types, value)
            }
            ConditionSubject::MessageIsFromMailingList => flag(msg.is_from_mailing_list()),
            ConditionSubject::MailingListUserCount => match dir.mailing_list_size(rcpt) {
                Some(n) => Ok((modifier::match_number(modifier, n, value)?, n.to_string())),
                None => Ok((false, "not a mailing list".into())),
            },
            ConditionSubject::Application(a) => Ok((
                session.application == *a,
                format!("{:?}", session.application),
            )),
            ConditionSubject::ServiceType(s) => {
                Ok((session.service == *s, format!("{:?}", session.service)))
            }
            ConditionSubject::ClientVersion => match &session.client_version {
                Some(v) => Ok((modifier::match_version(modifier, v, value)?, v.clone())),
                None => Ok((false, "no client".into())),
            },
            ConditionSubject::ConnectedUserAuthenticated => flag(session.authenticated),
            ConditionSubject::LocalConnectorIp => {
                self.text(modifier, &[session.connector_ip.as_str()], value)
            }
            ConditionSubject::LocalConnectorPort => {
                let port = u64::from(session.connector_port);
                Ok((
                    modifier::match_number(modifier, port, value)?,
                    port.to_string(),
                ))
            }
        }
    }

    /// A text condition over one or more values: true if any value matches.
    fn text(
        &self,
        modifier: Modifier,
        values: &[&str],
        expected: &str,
    ) -> Result<(bool, String), MatchError> {
        let mut hit = None;
        for v in values {
            let m = if modifier == Modifier::IsInDictionary {
                self.input
                    .dictionaries
                    .contains(expected, v)
                    .ok_or_else(|| MatchError::UnknownDictionary(expected.to_string()))?
            } else if modifier == Modifier::MatchesPattern {
                self.patterns.is_match(expected, v)?
            } else {
                old_match_text(modifier, v, expected)?
            };
            if m && hit.is_none() {
                hit = Some(*v);
            }
        }
        Ok(match hit {
            Some(v) => (true, v.to_string()),
            None => (false, values.join(", ")),
        })
    }

    fn encrypted(&self, encrypted: bool, to: &EncryptedTo) -> Result<(bool, String), MatchError> {
        let ids = &self.input.message.crypto().pkesk_key_ids;
        let seen = format!("encrypted={encrypted} to {ids:?}");
        let hit = encrypted
            && match to {
                EncryptedTo::AnyKey => true,
                EncryptedTo::KeyId(want) => ids.iter().any(|id| modifier::key_id_matches(want, id)),
                EncryptedTo::Adk => ids.iter().any(|id| self.input.directory.is_adk(id)),
                EncryptedTo::KeyInDictionary(d) => {
                    let mut any = false;
                    for id in ids {
                        let id = modifier::normalize_key_id(id);
                        let short = id.get(id.len().saturating_sub(8)..).unwrap_or("");
                        let found = |v: &str| self.input.dictionaries.contains(d, v);
                        match (found(&id), found(short)) {
                            (None, _) | (_, None) => {
                                return Err(MatchError::UnknownDictionary(d.clone()));
                            }
                            (Some(a), Some(b)) => any |= a || b,
                        }
                    }
                    any
                }
            };
        Ok((hit, seen))
    }
}

fn describe_node(node: &Node) -> String {
    match node {
        Node::Condition(c) => format!("{:?} {:?} {:?}", c.subject, c.modifier, c.value),
        Node::Group(g) => format!("{:?} group of {}", g.statement, g.children.len()),
    }
}
