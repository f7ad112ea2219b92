//! A policy prepared for evaluation: [`PreparedPolicy`] is the evaluator ([`crate::eval::evaluate`]
//! prepares one for a single call; the property tests compare it with the frozen reference
//! evaluator). The semantics are written down in [`crate::eval`].
//!
//! What [`PreparedPolicy::new`] does once, instead of on every rule of every decision:
//! - chain names of Go to chain actions (and the Exception chain) are resolved to positions, so
//!   entering a chain is no search by name;
//! - every text condition's value is lower-cased, its "matches pattern" regex compiled (or its
//!   error kept, to be reported when the condition is evaluated, as [`crate::eval`] does), its
//!   number parsed;
//! - every "is in dictionary" condition holds the dictionary's terms
//!   ([`Dictionaries::terms`]) instead of naming the dictionary, and the patterns of all those
//!   dictionaries are compiled into one set, searched once per value;
//! - the "matches pattern" values of each address, domain, subject or connector condition are
//!   compiled into one set per value read, searched once per value;
//! - the text of the trace ("why" a rule fired) is formatted up to the value seen.
//!
//! What it does once per message, on first use, shared by every rule and recipient
//! ([`crate::prepared_match`]): the lower-cased sender, subject and body, the values of each
//! header the policy names, and one search of the body for every "message body contains" value
//! of the policy at once.
//!
//! A prepared policy is a snapshot: rebuild it when the policy or a dictionary changes. The
//! [`Input`] given to [`PreparedPolicy::evaluate`] must carry the dictionaries it was prepared
//! from (they answer the look-ups of dictionaries whose terms were not available).

use crate::eval::{
    Disposition, EntryReason, Input, MAX_CHAIN_HOPS, Plan, PlannedAction, RecipientPlan,
    RecipientTrace, Step, Trace, TraceDetail, describe_node,
};
use crate::facts::Dictionaries;
use crate::model::{
    Action, ConditionGroup, EXCEPTION_CHAIN, KeySearchEntry, Node, Policy, Statement,
};
use crate::modifier::MatchError;
use crate::prepared_match::{
    DictionaryPatterns, Message, Needles, PreparedCondition, Recipient, SOURCES, TextPatterns, Why,
};

/// A policy compiled for evaluation; see the module documentation. Cheap to share between
/// threads (`Send + Sync`): build it once per policy and dictionaries version and keep it in an
/// `Arc`.
pub struct PreparedPolicy {
    chains: Vec<PreparedChain>,
    /// The first chain named Exception (names compare case-insensitively), as
    /// [`Policy::chain`] finds it.
    exception: Option<usize>,
    /// Every "contains" value, per value it reads (a [`crate::prepared_match::Source`]'s
    /// position), each value's searched for all at once.
    pub(crate) needles: [Needles; SOURCES],
    /// Every header name a condition reads, in first-use order; conditions refer to them by
    /// position.
    pub(crate) header_names: Vec<String>,
    /// The patterns of every dictionary an "is in dictionary" condition holds.
    pub(crate) dictionary_patterns: DictionaryPatterns,
    /// Every "matches pattern" value, per value it reads.
    pub(crate) text_patterns: TextPatterns,
}

struct PreparedChain {
    name: String,
    rules: Vec<PreparedRule>,
}

struct PreparedRule {
    name: String,
    enabled: bool,
    conditions: PreparedGroup,
    actions: Vec<PreparedAction>,
    key_search: Vec<KeySearchEntry>,
}

struct PreparedAction {
    action: Action,
    /// Where a Go to chain action goes (its name is the action's).
    target: Option<Target<'static>>,
}

/// A chain to enter, by the name that led there.
#[derive(Clone, Copy)]
struct Target<'p> {
    name: &'p str,
    /// `None` if no chain has that name.
    chain: Option<usize>,
    /// The name is the Exception chain's (what decides whether errors still escalate).
    exception: bool,
}

pub(crate) struct PreparedGroup {
    statement: Statement,
    children: Vec<PreparedNode>,
    /// For a None group: "not (...)" for each child, the trace's reason when none matched.
    not_why: Vec<String>,
}

enum PreparedNode {
    Group(PreparedGroup),
    Condition(PreparedCondition),
}

impl PreparedPolicy {
    /// Compile `policy`, resolving its dictionary conditions against `dictionaries`. Never
    /// fails: what cannot be evaluated (a pattern that does not compile, a dictionary that does
    /// not exist) fails when evaluation reaches it.
    pub fn new(policy: &Policy, dictionaries: &dyn Dictionaries) -> PreparedPolicy {
        PreparedPolicy::build(policy, dictionaries, true)
    }

    /// [`PreparedPolicy::new`] for a policy evaluated once ([`crate::eval::evaluate`]): without
    /// the searches that combine many conditions (compiling them costs milliseconds, many
    /// decisions' worth); each condition then searches alone, with the same answers.
    pub(crate) fn for_one_call(policy: &Policy, dictionaries: &dyn Dictionaries) -> PreparedPolicy {
        PreparedPolicy::build(policy, dictionaries, false)
    }

    fn build(policy: &Policy, dictionaries: &dyn Dictionaries, combine: bool) -> PreparedPolicy {
        let mut prepared = PreparedPolicy {
            chains: Vec::with_capacity(policy.chains.len()),
            exception: position(policy, EXCEPTION_CHAIN),
            needles: Default::default(),
            header_names: Vec::new(),
            dictionary_patterns: DictionaryPatterns::default(),
            text_patterns: TextPatterns::default(),
        };
        for chain in &policy.chains {
            let mut rules = Vec::with_capacity(chain.rules.len());
            for rule in &chain.rules {
                let conditions = prepared.group(&rule.conditions, dictionaries);
                let actions = rule
                    .actions
                    .iter()
                    .map(|action| PreparedAction {
                        action: action.clone(),
                        target: match action {
                            Action::GoToChain { chain } => Some(Target {
                                name: "",
                                chain: position(policy, chain),
                                exception: chain.eq_ignore_ascii_case(EXCEPTION_CHAIN),
                            }),
                            _ => None,
                        },
                    })
                    .collect();
                rules.push(PreparedRule {
                    name: rule.name.clone(),
                    enabled: rule.enabled,
                    conditions,
                    actions,
                    key_search: rule.key_search.clone(),
                });
            }
            prepared.chains.push(PreparedChain {
                name: chain.name.clone(),
                rules,
            });
        }
        if combine {
            for needles in &mut prepared.needles {
                needles.build();
            }
            prepared.dictionary_patterns.build();
            prepared.text_patterns.build();
        } else {
            for needles in &mut prepared.needles {
                needles.build_alone();
            }
        }
        prepared
    }

    fn group(&mut self, group: &ConditionGroup, dictionaries: &dyn Dictionaries) -> PreparedGroup {
        let children = group
            .children
            .iter()
            .map(|node| match node {
                Node::Group(g) => PreparedNode::Group(self.group(g, dictionaries)),
                Node::Condition(c) => {
                    PreparedNode::Condition(PreparedCondition::new(c, dictionaries, self))
                }
            })
            .collect();
        let not_why = if group.statement == Statement::None {
            group
                .children
                .iter()
                .map(|n| format!("not ({})", describe_node(n)))
                .collect()
        } else {
            Vec::new()
        };
        PreparedGroup {
            statement: group.statement,
            children,
            not_why,
        }
    }

    /// Evaluate the policy for every recipient (see [`crate::eval`] for the semantics).
    pub fn evaluate(&self, input: &Input<'_>) -> (Plan, Trace) {
        let mut plans = Vec::with_capacity(input.recipients.len());
        let mut traces = Vec::with_capacity(input.recipients.len());
        let message = Message::new(self, input);
        for recipient in input.recipients {
            let (outcome, steps) = self.evaluate_recipient(input, recipient, &message);
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

    /// One recipient's chain walk; see [`crate::eval`] for the semantics.
    fn evaluate_recipient<'v>(
        &self,
        input: &Input<'v>,
        recipient: &'v str,
        message: &Message<'_, 'v>,
    ) -> (RecipientPlan, Vec<Step>) {
        let mut steps = Vec::new();
        let mut actions = Vec::new();
        let exception = Target {
            name: EXCEPTION_CHAIN,
            chain: self.exception,
            exception: true,
        };
        let (mut target, mut reason) = if input.message.is_malformed() {
            (exception, EntryReason::Malformed)
        } else {
            let start = self.start(input.start_chain);
            (start, EntryReason::Start)
        };
        let mut hops = 0;
        let full = input.trace == TraceDetail::Full;
        let rcpt = Recipient::new(message, recipient);
        let mut why: Vec<Why<'_, 'v>> = Vec::new();
        let disposition = 'chains: loop {
            hops += 1;
            let in_exception = target.exception;
            if hops > 2 * MAX_CHAIN_HOPS {
                break Disposition::PassThrough;
            }
            if hops > MAX_CHAIN_HOPS && !in_exception {
                target = exception;
                reason = EntryReason::LoopGuard;
                continue;
            }
            let Some(chain) = target.chain.and_then(|i| self.chains.get(i)) else {
                if in_exception {
                    break Disposition::PassThrough;
                }
                reason = EntryReason::UnknownChain {
                    name: target.name.to_string(),
                };
                target = exception;
                continue;
            };
            // Every path back to the top of the loop sets a new reason: move this one.
            steps.push(Step::EnterChain {
                chain: chain.name.clone(),
                reason: std::mem::replace(&mut reason, EntryReason::Start),
            });
            if full {
                // One step per rule: grown once here rather than doubling through the chain.
                steps.reserve(chain.rules.len());
            }
            let escalate = |r: EntryReason| if in_exception { None } else { Some(r) };
            for rule in &chain.rules {
                if !rule.enabled {
                    if full {
                        steps.push(Step::RuleDisabled {
                            chain: chain.name.clone(),
                            rule: rule.name.clone(),
                        });
                    }
                    continue;
                }
                why.clear();
                match rcpt.group(&rule.conditions, &mut why) {
                    Ok(false) => {
                        if full {
                            steps.push(Step::RuleNotMatched {
                                chain: chain.name.clone(),
                                rule: rule.name.clone(),
                            });
                        }
                        continue;
                    }
                    Ok(true) => {}
                    Err(e) => match escalate(error_reason(chain, rule, &e)) {
                        Some(r) => {
                            reason = r;
                            target = exception;
                            continue 'chains;
                        }
                        None => break 'chains Disposition::PassThrough,
                    },
                }
                steps.push(Step::RuleFired {
                    chain: chain.name.clone(),
                    rule: rule.name.clone(),
                    why: why.iter().map(Why::render).collect(),
                });
                for prepared in &rule.actions {
                    let action = &prepared.action;
                    let planned = || PlannedAction {
                        chain: chain.name.clone(),
                        rule: rule.name.clone(),
                        action: action.clone(),
                        key_search: rule.key_search.clone(),
                    };
                    match (action, prepared.target) {
                        (a, _) if a.finishes() => break 'chains Disposition::Finished(planned()),
                        (Action::ExpandMailingList, _) => {
                            break 'chains Disposition::ExpandMailingList(planned());
                        }
                        (Action::GoToChain { chain: name }, Some(to)) => {
                            reason = EntryReason::GoTo {
                                from_chain: chain.name.clone(),
                                rule: rule.name.clone(),
                            };
                            target = Target { name, ..to };
                            continue 'chains;
                        }
                        _ => actions.push(planned()),
                    }
                }
            }
            match escalate(EntryReason::FellOffEnd {
                chain: chain.name.clone(),
            }) {
                Some(r) => {
                    reason = r;
                    target = exception;
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

    /// The chain evaluation starts in, looked up by name as [`Policy::chain`] does.
    fn start<'a>(&self, name: &'a str) -> Target<'a> {
        Target {
            name,
            chain: self
                .chains
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name)),
            exception: name.eq_ignore_ascii_case(EXCEPTION_CHAIN),
        }
    }
}

fn error_reason(chain: &PreparedChain, rule: &PreparedRule, e: &MatchError) -> EntryReason {
    EntryReason::Error {
        chain: chain.name.clone(),
        rule: rule.name.clone(),
        error: e.to_string(),
    }
}

/// Position of the chain [`Policy::chain`] finds by this name.
fn position(policy: &Policy, name: &str) -> Option<usize> {
    policy
        .chains
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
}

impl<'v> Recipient<'_, '_, 'v> {
    /// Whether a prepared group matches (All, Any, None, always true); what matched goes to
    /// `why`, and a group that fails leaves `why` as it found it.
    pub(crate) fn group<'p>(
        &self,
        group: &'p PreparedGroup,
        why: &mut Vec<Why<'p, 'v>>,
    ) -> Result<bool, MatchError> {
        let mark = why.len();
        match group.statement {
            Statement::AlwaysTrue => {
                why.push(Why::AlwaysTrue);
                Ok(true)
            }
            Statement::All => {
                for child in &group.children {
                    if !self.node(child, why)? {
                        why.truncate(mark);
                        return Ok(false);
                    }
                }
                Ok(!group.children.is_empty())
            }
            Statement::Any => {
                for child in &group.children {
                    if self.node(child, why)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Statement::None => {
                for child in &group.children {
                    if self.node(child, why)? {
                        why.truncate(mark);
                        return Ok(false);
                    }
                }
                why.extend(group.not_why.iter().map(|s| Why::Not(s)));
                Ok(true)
            }
        }
    }

    fn node<'p>(
        &self,
        node: &'p PreparedNode,
        why: &mut Vec<Why<'p, 'v>>,
    ) -> Result<bool, MatchError> {
        match node {
            PreparedNode::Group(g) => self.group(g, why),
            PreparedNode::Condition(c) => self.test(c, why),
        }
    }
}
