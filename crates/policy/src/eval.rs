//! Per-recipient chain evaluation (guide §14.2, §14.5, §14.11).
//!
//! Semantics, including the gaps the guide leaves:
//! - Each recipient is evaluated on its own (the product bounces only the failing recipients),
//!   starting at the start chain, normally [`DEFAULT_CHAIN`].
//! - In a chain, disabled rules are skipped; rules are tried in order. A rule whose conditions
//!   match **fires**: its actions run in order. Continuing actions are collected into the plan
//!   and evaluation goes on with the next rule; a finishing action ends evaluation (the actions
//!   after it never run); Go to chain continues in the target chain from its first rule; Expand
//!   mailing list ends this pass with a disposition telling the caller to expand the list and
//!   evaluate every member from the Default chain.
//! - A message that reaches the end of a chain without a finishing action, names a chain that
//!   does not exist, loops through more than [`MAX_CHAIN_HOPS`] chain entries, or hits an
//!   evaluation error (a pattern that does not compile, a dictionary that does not exist) goes to
//!   the [`EXCEPTION_CHAIN`]; a malformed message starts there. If the Exception chain itself
//!   has no finishing answer (or does not exist), the message passes through unprocessed, the
//!   factory default.
//! - Learn Mode: the trace records what would have happened; the plan delivers unchanged.
//! - "Matches pattern" regexes are compiled once per [`evaluate`] call (shared by all
//!   recipients and rules) and reused; a pattern that fails to compile fails every time.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;
use signet_model::KeyMode;

use crate::facts::{Dictionaries, DirectoryFacts, MessageFacts, SessionFacts};
use crate::model::{
    Action, ConditionGroup, ConditionSubject, DEFAULT_CHAIN, EXCEPTION_CHAIN, EncryptedTo,
    KeySearchEntry, Modifier, Node, Policy, Statement,
};
use crate::modifier::{self, MatchError};

/// Chain entries per recipient before evaluation is assumed to loop.
pub const MAX_CHAIN_HOPS: usize = 32;

/// Everything one evaluation reads.
pub struct Input<'a> {
    pub message: &'a dyn MessageFacts,
    pub session: &'a SessionFacts,
    pub directory: &'a dyn DirectoryFacts,
    pub dictionaries: &'a dyn Dictionaries,
    /// Envelope recipients (RCPT TO), each evaluated separately.
    pub recipients: &'a [String],
    /// Usually [`DEFAULT_CHAIN`].
    pub start_chain: &'a str,
    pub learn_mode: bool,
}

/// An action together with the rule that produced it (Send needs the rule's key search list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAction {
    pub chain: String,
    pub rule: String,
    pub action: Action,
    pub key_search: Vec<KeySearchEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// A finishing action decided the message's fate.
    Finished(PlannedAction),
    /// Expand this mailing-list recipient and evaluate each member from the Default chain.
    ExpandMailingList(PlannedAction),
    /// No finishing action anywhere, not even in the Exception chain: pass through
    /// unprocessed (the Exception chain's factory default).
    PassThrough,
    /// Learn Mode: deliver the message unchanged.
    DeliverUnchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientPlan {
    pub recipient: String,
    /// Continuing actions in execution order (headers, log entries, archive copies, ...).
    pub actions: Vec<PlannedAction>,
    pub disposition: Disposition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub learn_mode: bool,
    pub recipients: Vec<RecipientPlan>,
}

/// Why evaluation entered a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryReason {
    Start,
    GoTo {
        from_chain: String,
        rule: String,
    },
    Malformed,
    FellOffEnd {
        chain: String,
    },
    UnknownChain {
        name: String,
    },
    Error {
        chain: String,
        rule: String,
        error: String,
    },
    LoopGuard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    EnterChain {
        chain: String,
        reason: EntryReason,
    },
    RuleDisabled {
        chain: String,
        rule: String,
    },
    RuleNotMatched {
        chain: String,
        rule: String,
    },
    /// `why`: the conditions that made the rule match, in tree order.
    RuleFired {
        chain: String,
        rule: String,
        why: Vec<String>,
    },
    /// Reached no finishing action, even in the Exception chain.
    ExceptionDefault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientTrace {
    pub recipient: String,
    pub steps: Vec<Step>,
    /// What the plan would have been; equal to the plan outside Learn Mode.
    pub outcome: RecipientPlan,
}

impl RecipientTrace {
    /// The rules that fired, as (chain, rule).
    pub fn fired(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::RuleFired { chain, rule, .. } => Some((chain.as_str(), rule.as_str())),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub learn_mode: bool,
    pub recipients: Vec<RecipientTrace>,
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
pub fn evaluate(policy: &Policy, input: &Input<'_>) -> (Plan, Trace) {
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
                modifier::match_text(modifier, v, expected)?
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

/// Evaluate from the Default chain, outside Learn Mode: a convenience for the common case.
pub fn default_input<'a>(
    message: &'a dyn MessageFacts,
    session: &'a SessionFacts,
    directory: &'a dyn DirectoryFacts,
    dictionaries: &'a dyn Dictionaries,
    recipients: &'a [String],
) -> Input<'a> {
    Input {
        message,
        session,
        directory,
        dictionaries,
        recipients,
        start_chain: DEFAULT_CHAIN,
        learn_mode: false,
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
