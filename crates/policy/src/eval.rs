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
//! - "Matches pattern" regexes are compiled once per process ([`modifier::shared_pattern`]) and
//!   reused; a pattern that fails to compile fails every time.
//! - Every text comparison is `to_lowercase` of both sides ([`modifier::lowercase`] computes
//!   exactly that, without allocating for text that is already lower-case); the subject and
//!   body are lower-cased once per [`evaluate`] call, on first use, and shared by all
//!   recipients and rules. The trace's "why" text is built only for rules that fire.
//! - [`TraceDetail`]: the mail path asks only for the rules that fired ([`TraceDetail::Fired`]),
//!   so the rules that are tried and miss cost no allocation; the dry-run API asks for every
//!   step ([`TraceDetail::Full`]). The plan is the same either way.

use std::borrow::Cow;
use std::cell::OnceCell;

use signet_model::KeyMode;

use crate::facts::{Dictionaries, DirectoryFacts, MessageFacts, SessionFacts};
use crate::model::{
    Action, ApplicationKind, Condition, ConditionGroup, ConditionSubject, DEFAULT_CHAIN,
    DeliveryPreference, EXCEPTION_CHAIN, EncodingFormat, EncryptedTo, KeySearchEntry, Modifier,
    Node, Policy, ServiceKind, Statement,
};
use crate::modifier::{self, MatchError, lowercase};

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
    /// How much of the evaluation the trace records.
    pub trace: TraceDetail,
}

/// How much of the evaluation [`Trace`] records. The plan never depends on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TraceDetail {
    /// Every chain entered and every rule tried, matched or not: what the dry-run API shows.
    #[default]
    Full,
    /// Only [`Step::EnterChain`], [`Step::RuleFired`] and [`Step::ExceptionDefault`]: what the
    /// mail path logs. A rule that is tried and misses then costs no allocation; with 190 rules
    /// tried per decision, their owned chain and rule names were a third of the time.
    Fired,
}

/// An action together with the rule that produced it (Send needs the rule's key search list).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedAction {
    pub chain: String,
    pub rule: String,
    pub action: Action,
    pub key_search: Vec<KeySearchEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecipientPlan {
    pub recipient: String,
    /// Continuing actions in execution order (headers, log entries, archive copies, ...).
    pub actions: Vec<PlannedAction>,
    pub disposition: Disposition,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    pub learn_mode: bool,
    pub recipients: Vec<RecipientPlan>,
}

/// Why evaluation entered a chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trace {
    pub learn_mode: bool,
    pub recipients: Vec<RecipientTrace>,
}

/// State shared by every recipient of one [`evaluate`] call: message fields lower-cased on first
/// use, so that the 10 KB body is lower-cased once per message rather than once per condition.
#[derive(Default)]
pub(crate) struct Shared<'v> {
    subject: OnceCell<&'v str>,
    subject_lower: OnceCell<Cow<'v, str>>,
    body_lower: OnceCell<Cow<'v, str>>,
}

/// Evaluate the policy for every recipient.
pub fn evaluate(policy: &Policy, input: &Input<'_>) -> (Plan, Trace) {
    let mut plans = Vec::with_capacity(input.recipients.len());
    let mut traces = Vec::with_capacity(input.recipients.len());
    let shared = Shared::default();
    for recipient in input.recipients {
        let (outcome, steps) = evaluate_recipient(policy, input, recipient, &shared);
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

fn evaluate_recipient<'p, 'v>(
    policy: &'p Policy,
    input: &Input<'v>,
    recipient: &'v str,
    shared: &Shared<'v>,
) -> (RecipientPlan, Vec<Step>) {
    // Grown as needed: sizing it for every rule of the policy made the factory case slower
    // (a large allocation where a few rules are tried).
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    // Borrowed from the input or the policy: naming the next chain allocates nothing.
    let (mut chain_name, mut reason): (&str, _) = if input.message.is_malformed() {
        (EXCEPTION_CHAIN, EntryReason::Malformed)
    } else {
        (input.start_chain, EntryReason::Start)
    };
    let mut hops = 0;
    let full = input.trace == TraceDetail::Full;
    let ctx = Ctx {
        input,
        recipient,
        shared,
    };
    // Why the current rule matched, kept as references and rendered only when it fires: most
    // rules do not, and formatting their conditions was a large share of a decision.
    let mut why: Vec<Why<'p, 'v>> = Vec::new();
    let disposition = 'chains: loop {
        hops += 1;
        let in_exception = chain_name.eq_ignore_ascii_case(EXCEPTION_CHAIN);
        if hops > 2 * MAX_CHAIN_HOPS {
            // Even the Exception chain keeps jumping away: give up and pass through.
            break Disposition::PassThrough;
        }
        if hops > MAX_CHAIN_HOPS && !in_exception {
            chain_name = EXCEPTION_CHAIN;
            reason = EntryReason::LoopGuard;
            continue;
        }
        let Some(chain) = policy.chain(chain_name) else {
            if in_exception {
                break Disposition::PassThrough;
            }
            reason = EntryReason::UnknownChain {
                name: chain_name.to_string(),
            };
            chain_name = EXCEPTION_CHAIN;
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
                if full {
                    steps.push(Step::RuleDisabled {
                        chain: chain.name.clone(),
                        rule: rule.name.clone(),
                    });
                }
                continue;
            }
            why.clear();
            match ctx.group(&rule.conditions, &mut why) {
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
                Err(e) => {
                    let r = EntryReason::Error {
                        chain: chain.name.clone(),
                        rule: rule.name.clone(),
                        error: e.to_string(),
                    };
                    match escalate(r) {
                        Some(r) => {
                            reason = r;
                            chain_name = EXCEPTION_CHAIN;
                            continue 'chains;
                        }
                        None => break 'chains Disposition::PassThrough,
                    }
                }
            }
            steps.push(Step::RuleFired {
                chain: chain.name.clone(),
                rule: rule.name.clone(),
                why: why.iter().map(Why::render).collect(),
            });
            for action in &rule.actions {
                // Built only for the actions that land in the plan (not for Go to chain).
                let planned = || PlannedAction {
                    chain: chain.name.clone(),
                    rule: rule.name.clone(),
                    action: action.clone(),
                    key_search: rule.key_search.clone(),
                };
                match action {
                    a if a.finishes() => break 'chains Disposition::Finished(planned()),
                    Action::ExpandMailingList => {
                        break 'chains Disposition::ExpandMailingList(planned());
                    }
                    Action::GoToChain { chain: target } => {
                        reason = EntryReason::GoTo {
                            from_chain: chain.name.clone(),
                            rule: rule.name.clone(),
                        };
                        chain_name = target;
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
                chain_name = EXCEPTION_CHAIN;
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

/// One reason a rule matched, rendered into [`Step::RuleFired`]'s `why` only if it fires.
enum Why<'p, 'v> {
    AlwaysTrue,
    Condition {
        condition: &'p Condition,
        seen: Seen<'v>,
    },
    /// A child of a None group that did not match.
    Not(&'p Node),
}

impl Why<'_, '_> {
    fn render(&self) -> String {
        match self {
            Why::AlwaysTrue => "always true".to_string(),
            Why::Condition { condition: c, seen } => format!(
                "{}{:?} {:?} {:?} (saw {:?})",
                if c.negate { "not " } else { "" },
                c.subject,
                c.modifier,
                c.value,
                seen.render()
            ),
            Why::Not(node) => format!("not ({})", describe_node(node)),
        }
    }
}

/// The fact value a condition looked at, for the trace; turned into text only when shown.
pub(crate) enum Seen<'v> {
    /// Never shown: a missed, un-negated condition adds nothing to the trace.
    Nothing,
    Str(&'v str),
    Owned(String),
    Static(&'static str),
    Flag(bool),
    KeyMode(Option<KeyMode>),
    Delivery(Option<DeliveryPreference>),
    Encoding(EncodingFormat),
    Kb(u64),
    Number(u64),
    Application(ApplicationKind),
    Service(ServiceKind),
    Encrypted(bool, &'v [String]),
}

impl Seen<'_> {
    pub(crate) fn render(&self) -> String {
        match self {
            Seen::Nothing => String::new(),
            Seen::Str(s) => (*s).to_string(),
            Seen::Owned(s) => s.clone(),
            Seen::Static(s) => (*s).to_string(),
            Seen::Flag(b) => b.to_string(),
            Seen::KeyMode(m) => format!("{:?}", m.map(key_mode_name)),
            Seen::Delivery(p) => format!("{p:?}"),
            Seen::Encoding(e) => format!("{e:?}"),
            Seen::Kb(kb) => format!("{kb} KB"),
            Seen::Number(n) => n.to_string(),
            Seen::Application(a) => format!("{a:?}"),
            Seen::Service(s) => format!("{s:?}"),
            Seen::Encrypted(encrypted, ids) => format!("encrypted={encrypted} to {ids:?}"),
        }
    }
}

/// The facts for one recipient.
pub(crate) struct Ctx<'s, 'v> {
    pub(crate) input: &'s Input<'v>,
    pub(crate) recipient: &'v str,
    pub(crate) shared: &'s Shared<'v>,
}

pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

fn key_mode_name(mode: KeyMode) -> &'static str {
    mode.as_str()
}

/// The modifiers that compare lower-cased text (the others never read the lower-cased value).
pub(crate) fn compares_lowered(modifier: Modifier) -> bool {
    matches!(
        modifier,
        Modifier::Is | Modifier::Contains | Modifier::BeginsWith | Modifier::EndsWith
    )
}

impl<'v> Ctx<'_, 'v> {
    fn group<'p>(
        &self,
        group: &'p ConditionGroup,
        why: &mut Vec<Why<'p, 'v>>,
    ) -> Result<bool, MatchError> {
        // A node that does not match leaves `why` as it found it; a group that fails after some
        // children matched drops what they added.
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
                why.extend(group.children.iter().map(Why::Not));
                Ok(true)
            }
        }
    }

    fn node<'p>(&self, node: &'p Node, why: &mut Vec<Why<'p, 'v>>) -> Result<bool, MatchError> {
        match node {
            Node::Group(g) => self.group(g, why),
            Node::Condition(c) => {
                let (hit, seen) = self.condition(c)?;
                let result = hit != c.negate;
                if result {
                    why.push(Why::Condition { condition: c, seen });
                }
                Ok(result)
            }
        }
    }

    /// Whether the (un-negated) condition holds, and the fact value looked at, for the trace.
    pub(crate) fn condition(&self, c: &Condition) -> Result<(bool, Seen<'v>), MatchError> {
        let (subject, modifier, value) = (&c.subject, c.modifier, c.value.as_str());
        let input: &Input<'v> = self.input;
        let msg = input.message;
        let dir = input.directory;
        let session: &'v SessionFacts = input.session;
        let rcpt = self.recipient;
        let sender = msg.envelope_sender();
        let flag = |b: bool| Ok((b, Seen::Flag(b)));
        match subject {
            ConditionSubject::RecipientAddress => self.text_one(modifier, rcpt, None, value),
            ConditionSubject::RecipientDomain => {
                self.text_one(modifier, domain_of(rcpt), None, value)
            }
            ConditionSubject::SenderAddress => self.text_one(modifier, sender, None, value),
            ConditionSubject::SenderDomain => {
                self.text_one(modifier, domain_of(sender), None, value)
            }
            ConditionSubject::RecipientConsumerPolicy | ConditionSubject::SenderConsumerPolicy => {
                let who = if *subject == ConditionSubject::SenderConsumerPolicy {
                    sender
                } else {
                    rcpt
                };
                match dir.consumer_policy(who) {
                    Some(p) => {
                        let hit = self.matches(modifier, &p, None, value)?;
                        Ok((hit, Seen::Owned(p)))
                    }
                    None => Ok((false, Seen::Static("no consumer policy"))),
                }
            }
            ConditionSubject::RecipientIsMailingList => flag(dir.mailing_list_size(rcpt).is_some()),
            ConditionSubject::RecipientKeyMode(m) => {
                let seen = dir.key_mode(rcpt);
                Ok((seen == Some(*m), Seen::KeyMode(seen)))
            }
            ConditionSubject::SenderKeyMode(m) => {
                let seen = dir.key_mode(sender);
                Ok((seen == Some(*m), Seen::KeyMode(seen)))
            }
            ConditionSubject::RecipientDeliveryPreference(p) => {
                let seen = dir.delivery_preference(rcpt);
                Ok((
                    !dir.is_internal(rcpt) && seen == Some(*p),
                    Seen::Delivery(seen),
                ))
            }
            ConditionSubject::RecipientIsInternal => flag(dir.is_internal(rcpt)),
            ConditionSubject::SenderIsInternal => flag(dir.is_internal(sender)),
            ConditionSubject::RecipientKeyFound => flag(dir.key_available(rcpt)),
            ConditionSubject::MessageEncodingFormat(f) => {
                let seen = msg.encoding();
                Ok((seen == *f, Seen::Encoding(seen)))
            }
            ConditionSubject::MessageHeader { name } => {
                self.text_many(modifier, &msg.header_values(name), value, c.negate)
            }
            ConditionSubject::MessageSubject => {
                let subject = *self
                    .shared
                    .subject
                    .get_or_init(|| msg.subject().unwrap_or(""));
                let lower = compares_lowered(modifier)
                    .then(|| &**self.shared.subject_lower.get_or_init(|| lowercase(subject)));
                self.text_one(modifier, subject, lower, value)
            }
            ConditionSubject::MessageBody => {
                let body = msg.body_text();
                let lower = compares_lowered(modifier)
                    .then(|| &**self.shared.body_lower.get_or_init(|| lowercase(body)));
                self.text_one(modifier, body, lower, value)
            }
            ConditionSubject::MessageSize => {
                let kb = msg.size_bytes().div_ceil(1024);
                Ok((modifier::match_number(modifier, kb, value)?, Seen::Kb(kb)))
            }
            ConditionSubject::AnyPartEncrypted(to) => {
                self.encrypted(msg.crypto().any_part_encrypted, to)
            }
            ConditionSubject::AllEncrypted(to) => self.encrypted(msg.crypto().all_encrypted, to),
            ConditionSubject::AnyPartSigned => flag(msg.crypto().any_part_signed),
            ConditionSubject::AttachmentName => {
                let names: Vec<&str> = msg.attachments().iter().map(|a| a.name.as_str()).collect();
                self.text_many(modifier, &names, value, c.negate)
            }
            ConditionSubject::AttachmentType => {
                let types: Vec<&str> = msg
                    .attachments()
                    .iter()
                    .map(|a| a.content_type.as_str())
                    .collect();
                self.text_many(modifier, &types, value, c.negate)
            }
            ConditionSubject::MessageIsFromMailingList => flag(msg.is_from_mailing_list()),
            ConditionSubject::MailingListUserCount => match dir.mailing_list_size(rcpt) {
                Some(n) => Ok((modifier::match_number(modifier, n, value)?, Seen::Number(n))),
                None => Ok((false, Seen::Static("not a mailing list"))),
            },
            ConditionSubject::Application(a) => Ok((
                session.application == *a,
                Seen::Application(session.application),
            )),
            ConditionSubject::ServiceType(s) => {
                Ok((session.service == *s, Seen::Service(session.service)))
            }
            ConditionSubject::ClientVersion => match &session.client_version {
                Some(v) => Ok((modifier::match_version(modifier, v, value)?, Seen::Str(v))),
                None => Ok((false, Seen::Static("no client"))),
            },
            ConditionSubject::ConnectedUserAuthenticated => flag(session.authenticated),
            ConditionSubject::LocalConnectorIp => {
                self.text_one(modifier, &session.connector_ip, None, value)
            }
            ConditionSubject::LocalConnectorPort => {
                let port = u64::from(session.connector_port);
                Ok((
                    modifier::match_number(modifier, port, value)?,
                    Seen::Number(port),
                ))
            }
        }
    }

    /// A text condition over one value (`lower`: its lower-cased form, when cached). The value
    /// seen is the value itself, matched or not.
    fn text_one(
        &self,
        modifier: Modifier,
        value: &'v str,
        lower: Option<&str>,
        expected: &str,
    ) -> Result<(bool, Seen<'v>), MatchError> {
        Ok((
            self.matches(modifier, value, lower, expected)?,
            Seen::Str(value),
        ))
    }

    /// A text condition over several values: true if any value matches. Every value is tried,
    /// as an error (unknown dictionary, bad pattern) must surface whichever value matched.
    fn text_many(
        &self,
        modifier: Modifier,
        values: &[&'v str],
        expected: &str,
        negate: bool,
    ) -> Result<(bool, Seen<'v>), MatchError> {
        let mut hit = None;
        for v in values {
            if self.matches(modifier, v, None, expected)? && hit.is_none() {
                hit = Some(*v);
            }
        }
        Ok(match hit {
            Some(v) => (true, Seen::Str(v)),
            // Only a negated condition shows the values it missed: join them only then.
            None if negate => (false, Seen::Owned(values.join(", "))),
            None => (false, Seen::Nothing),
        })
    }

    fn matches(
        &self,
        modifier: Modifier,
        value: &str,
        lower: Option<&str>,
        expected: &str,
    ) -> Result<bool, MatchError> {
        match modifier {
            Modifier::IsInDictionary => self
                .input
                .dictionaries
                .contains(expected, value)
                .ok_or_else(|| MatchError::UnknownDictionary(expected.to_string())),
            Modifier::MatchesPattern => modifier::pattern_is_match(expected, value),
            _ => match lower {
                Some(lower) => modifier::match_text_lowered(modifier, value, lower, expected),
                None if compares_lowered(modifier) => {
                    modifier::match_text_lowered(modifier, value, &lowercase(value), expected)
                }
                // Is a subdomain of lower-cases what it compares itself; others are errors.
                None => modifier::match_text_lowered(modifier, value, value, expected),
            },
        }
    }

    fn encrypted(&self, encrypted: bool, to: &EncryptedTo) -> Result<(bool, Seen<'v>), MatchError> {
        let input: &Input<'v> = self.input;
        let ids: &'v [String] = &input.message.crypto().pkesk_key_ids;
        let hit = encrypted
            && match to {
                EncryptedTo::AnyKey => true,
                EncryptedTo::KeyId(want) => ids.iter().any(|id| modifier::key_id_matches(want, id)),
                EncryptedTo::Adk => ids.iter().any(|id| input.directory.is_adk(id)),
                EncryptedTo::KeyInDictionary(d) => {
                    let mut any = false;
                    for id in ids {
                        let id = modifier::normalize_key_id(id);
                        let short = id.get(id.len().saturating_sub(8)..).unwrap_or("");
                        let found = |v: &str| input.dictionaries.contains(d, v);
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
        Ok((hit, Seen::Encrypted(encrypted, ids)))
    }
}

pub(crate) fn describe_node(node: &Node) -> String {
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
        trace: TraceDetail::Full,
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
