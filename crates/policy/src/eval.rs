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
//! - Every text comparison is `to_lowercase` of both sides ([`modifier::lowercase`]).
//!
//! There is one evaluator: [`evaluate`] prepares the policy ([`PreparedPolicy`]) and evaluates
//! that; a caller that evaluates the same policy many times (the mail path) keeps the prepared
//! policy instead. This module holds what both share: the input, plan and trace types, and the
//! conditions on directory, session and crypto facts ([`Ctx::condition`]).
//! - [`TraceDetail`]: the mail path asks only for the rules that fired ([`TraceDetail::Fired`]),
//!   so the rules that are tried and miss cost no allocation; the dry-run API asks for every
//!   step ([`TraceDetail::Full`]). The plan is the same either way.

use signet_model::KeyMode;

use crate::facts::{Dictionaries, DirectoryFacts, MessageFacts, SessionFacts};
use crate::model::{
    Action, ApplicationKind, Condition, ConditionSubject, DEFAULT_CHAIN, DeliveryPreference,
    EncodingFormat, EncryptedTo, KeySearchEntry, Node, Policy, ServiceKind,
};
use crate::modifier::{self, MatchError};
use crate::prepared::PreparedPolicy;

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

/// Evaluate the policy for every recipient: prepared for this one call. A caller that
/// evaluates the same policy again keeps a [`PreparedPolicy`] instead.
pub fn evaluate(policy: &Policy, input: &Input<'_>) -> (Plan, Trace) {
    PreparedPolicy::for_one_call(policy, input.dictionaries).evaluate(input)
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
}

pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

fn key_mode_name(mode: KeyMode) -> &'static str {
    mode.as_str()
}

impl<'v> Ctx<'_, 'v> {
    /// Whether the (un-negated) condition on directory, session or crypto facts holds, and the
    /// fact value looked at, for the trace. Conditions on text (addresses, subject, body,
    /// headers, attachments, consumer policies) and the service type are prepared matchers
    /// ([`crate::prepared_match`]) and never come here.
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
            ConditionSubject::MessageSize => {
                let kb = msg.size_bytes().div_ceil(1024);
                Ok((modifier::match_number(modifier, kb, value)?, Seen::Kb(kb)))
            }
            ConditionSubject::AnyPartEncrypted(to) => {
                self.encrypted(msg.crypto().any_part_encrypted, to)
            }
            ConditionSubject::AllEncrypted(to) => self.encrypted(msg.crypto().all_encrypted, to),
            ConditionSubject::AnyPartSigned => flag(msg.crypto().any_part_signed),
            ConditionSubject::MessageIsFromMailingList => flag(msg.is_from_mailing_list()),
            ConditionSubject::MailingListUserCount => match dir.mailing_list_size(rcpt) {
                Some(n) => Ok((modifier::match_number(modifier, n, value)?, Seen::Number(n))),
                None => Ok((false, Seen::Static("not a mailing list"))),
            },
            ConditionSubject::Application(a) => Ok((
                session.application == *a,
                Seen::Application(session.application),
            )),
            ConditionSubject::ClientVersion => match &session.client_version {
                Some(v) => Ok((modifier::match_version(modifier, v, value)?, Seen::Str(v))),
                None => Ok((false, Seen::Static("no client"))),
            },
            ConditionSubject::ConnectedUserAuthenticated => flag(session.authenticated),
            ConditionSubject::LocalConnectorPort => {
                let port = u64::from(session.connector_port);
                Ok((
                    modifier::match_number(modifier, port, value)?,
                    Seen::Number(port),
                ))
            }
            // Prepared as matchers (see above): never asked here.
            ConditionSubject::RecipientAddress
            | ConditionSubject::RecipientDomain
            | ConditionSubject::SenderAddress
            | ConditionSubject::SenderDomain
            | ConditionSubject::RecipientConsumerPolicy
            | ConditionSubject::SenderConsumerPolicy
            | ConditionSubject::MessageHeader { .. }
            | ConditionSubject::MessageSubject
            | ConditionSubject::MessageBody
            | ConditionSubject::AttachmentName
            | ConditionSubject::AttachmentType
            | ConditionSubject::ServiceType(_)
            | ConditionSubject::LocalConnectorIp => Ok((false, Seen::Nothing)),
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
