//! Conditions of a [`PreparedPolicy`] and the per-message facts they read.
//!
//! Each text condition carries a [`Matcher`]: the modifier with its value already lower-cased,
//! compiled or resolved. The values it compares are [`Text`]s that lower-case themselves (and
//! form their dictionary key) on first use: the sender, subject and body once per message, the
//! recipient once per recipient. Conditions whose subject is not text, or is not on the hot path
//! (directory facts, sizes, encryption, versions), are evaluated by [`crate::eval`]'s own code,
//! so there is one definition of what they mean.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;

use memchr::memmem::Finder;
use regex::Regex;

use crate::eval::{Ctx, Input, Seen, Shared, domain_of};
use crate::facts::{Dictionaries, DictionaryTerms};
use crate::key_filter::key_hash;
use crate::model::{Condition, ConditionSubject, Modifier, ServiceKind};
use crate::modifier::{
    MatchError, is_subdomain_of_parent, lowercase, shared_pattern, subdomain_parent,
};
use crate::prepared::PreparedPolicy;

/// Start positions the one-pass body search visits before it finishes value by value instead
/// (a body full of overlapping matches would otherwise cost one regex search per byte).
const MAX_SCAN_STEPS: usize = 256;

/// One reason a rule matched, rendered into the trace's `why` only if the rule fires.
pub(crate) enum Why<'p, 'v> {
    AlwaysTrue,
    Condition {
        /// The condition as [`crate::eval`] prints it, up to the value seen.
        label: &'p str,
        seen: Seen<'v>,
    },
    /// A child of a None group that did not match: "not (...)", formatted when prepared.
    Not(&'p str),
}

impl Why<'_, '_> {
    pub(crate) fn render(&self) -> String {
        match self {
            Why::AlwaysTrue => "always true".to_string(),
            Why::Condition { label, seen } => format!("{label} (saw {:?})", seen.render()),
            Why::Not(text) => (*text).to_string(),
        }
    }
}

pub(crate) struct PreparedCondition {
    pub(crate) negate: bool,
    /// `[not ]<subject> <modifier> <value>`, Debug-formatted as [`crate::eval`] writes it.
    pub(crate) label: String,
    kind: Kind,
}

enum Kind {
    /// A text condition over one value.
    Text {
        source: Source,
        matcher: Matcher,
    },
    /// A header's values (the header by its position in [`PreparedPolicy::header_names`]).
    Header {
        index: usize,
        matcher: Matcher,
    },
    AttachmentName(Matcher),
    AttachmentType(Matcher),
    /// Service type: read by most rules that send outbound.
    Service(ServiceKind),
    /// Everything else, evaluated by [`crate::eval`] (boxed: rare, and large).
    Other(Box<Condition>),
}

#[derive(Clone, Copy)]
enum Source {
    RecipientAddress,
    RecipientDomain,
    SenderAddress,
    SenderDomain,
    Subject,
    Body,
    ConnectorIp,
}

/// A modifier and its value, ready to compare.
enum Matcher {
    /// Lower-cased value.
    Is(String),
    /// Boxed: a searcher is ~300 bytes, and every condition of a policy walk would pay for it in
    /// cache lines.
    Contains(Box<Finder<'static>>),
    /// "Message body contains": the value's position in [`PreparedPolicy::body_needles`].
    BodyContains(usize),
    BeginsWith(String),
    EndsWith(String),
    Pattern(Arc<Regex>),
    /// The parent domain as [`crate::modifier::is_subdomain_of`] compares it.
    SubdomainOf(String),
    Dictionary(Arc<DictionaryTerms>),
    /// A dictionary whose terms the dictionaries did not hand out (or that does not exist):
    /// asked by name.
    DictionaryByName(String),
    /// Fails whenever it is evaluated: a pattern that does not compile, or a modifier that does
    /// not apply to text.
    Fails(MatchError),
}

impl PreparedCondition {
    pub(crate) fn new(
        c: &Condition,
        dictionaries: &dyn Dictionaries,
        policy: &mut PreparedPolicy,
    ) -> PreparedCondition {
        use ConditionSubject as S;
        let label = format!(
            "{}{:?} {:?} {:?}",
            if c.negate { "not " } else { "" },
            c.subject,
            c.modifier,
            c.value
        );
        let matcher = |policy: &mut PreparedPolicy, body: bool| {
            Matcher::new(c.modifier, &c.value, body, dictionaries, policy)
        };
        let text = |source, policy: &mut PreparedPolicy| Kind::Text {
            source,
            matcher: matcher(policy, matches!(source, Source::Body)),
        };
        let kind = match &c.subject {
            S::RecipientAddress => text(Source::RecipientAddress, policy),
            S::RecipientDomain => text(Source::RecipientDomain, policy),
            S::SenderAddress => text(Source::SenderAddress, policy),
            S::SenderDomain => text(Source::SenderDomain, policy),
            S::MessageSubject => text(Source::Subject, policy),
            S::MessageBody => text(Source::Body, policy),
            S::LocalConnectorIp => text(Source::ConnectorIp, policy),
            S::MessageHeader { name } => {
                let index = match policy.header_names.iter().position(|n| n == name) {
                    Some(i) => i,
                    None => {
                        policy.header_names.push(name.clone());
                        policy.header_names.len() - 1
                    }
                };
                Kind::Header {
                    index,
                    matcher: matcher(policy, false),
                }
            }
            S::AttachmentName => Kind::AttachmentName(matcher(policy, false)),
            S::AttachmentType => Kind::AttachmentType(matcher(policy, false)),
            S::ServiceType(service) => Kind::Service(*service),
            _ => Kind::Other(Box::new(c.clone())),
        };
        PreparedCondition {
            negate: c.negate,
            label,
            kind,
        }
    }
}

impl Matcher {
    fn new(
        modifier: Modifier,
        value: &str,
        body: bool,
        dictionaries: &dyn Dictionaries,
        policy: &mut PreparedPolicy,
    ) -> Matcher {
        let lower = || lowercase(value).into_owned();
        match modifier {
            Modifier::IsInDictionary => match dictionaries.terms(value) {
                Some(terms) => {
                    terms.warm_up();
                    Matcher::Dictionary(terms)
                }
                None => Matcher::DictionaryByName(value.to_string()),
            },
            Modifier::MatchesPattern => match shared_pattern(value) {
                Ok(re) => Matcher::Pattern(re),
                Err(e) => Matcher::Fails(e),
            },
            Modifier::Is => Matcher::Is(lower()),
            Modifier::Contains if body => Matcher::BodyContains(policy.body_needles.add(lower())),
            Modifier::Contains => Matcher::Contains(Box::new(Finder::new(&lower()).into_owned())),
            Modifier::BeginsWith => Matcher::BeginsWith(lower()),
            Modifier::EndsWith => Matcher::EndsWith(lower()),
            Modifier::IsSubdomainOf => Matcher::SubdomainOf(subdomain_parent(value).into_owned()),
            other => Matcher::Fails(MatchError::Modifier(other)),
        }
    }
}

/// A value a condition compares, lower-cased (and trimmed, for dictionaries) on first use.
pub(crate) struct Text<'v> {
    value: &'v str,
    lower: OnceCell<Cow<'v, str>>,
    /// `value.trim()` lower-cased: what dictionaries look up.
    key: OnceCell<Cow<'v, str>>,
    /// [`key_hash`] of the key, the same for every dictionary.
    key_hash: OnceCell<u64>,
}

impl<'v> Text<'v> {
    fn new(value: &'v str) -> Self {
        Text {
            value,
            lower: OnceCell::new(),
            key: OnceCell::new(),
            key_hash: OnceCell::new(),
        }
    }

    fn lower(&self) -> &str {
        self.lower.get_or_init(|| lowercase(self.value))
    }

    fn key(&self) -> &str {
        self.key.get_or_init(|| lowercase(self.value.trim()))
    }

    fn in_dictionary(&self, terms: &DictionaryTerms) -> bool {
        let key = self.key();
        terms.contains_hashed(key, || *self.key_hash.get_or_init(|| key_hash(key)))
    }
}

/// Facts of one message, shared by every recipient of one evaluation.
pub(crate) struct Message<'s, 'v> {
    policy: &'s PreparedPolicy,
    input: &'s Input<'v>,
    sender: Text<'v>,
    sender_domain: Text<'v>,
    connector_ip: Text<'v>,
    subject: OnceCell<Text<'v>>,
    body: Text<'v>,
    /// Values of each header in [`PreparedPolicy::header_names`], read on first use.
    headers: Vec<OnceCell<Vec<&'v str>>>,
    /// Which of [`PreparedPolicy::body_needles`] the lower-cased body contains.
    body_contains: OnceCell<Vec<bool>>,
    /// For the conditions [`crate::eval`] evaluates.
    shared: Shared<'v>,
}

impl<'s, 'v> Message<'s, 'v> {
    pub(crate) fn new(policy: &'s PreparedPolicy, input: &'s Input<'v>) -> Self {
        let sender = input.message.envelope_sender();
        Message {
            policy,
            input,
            sender: Text::new(sender),
            sender_domain: Text::new(domain_of(sender)),
            connector_ip: Text::new(&input.session.connector_ip),
            subject: OnceCell::new(),
            body: Text::new(input.message.body_text()),
            headers: policy
                .header_names
                .iter()
                .map(|_| OnceCell::new())
                .collect(),
            body_contains: OnceCell::new(),
            shared: Shared::default(),
        }
    }

    fn subject(&self) -> &Text<'v> {
        self.subject
            .get_or_init(|| Text::new(self.input.message.subject().unwrap_or("")))
    }

    fn header(&self, index: usize) -> &[&'v str] {
        match (self.headers.get(index), self.policy.header_names.get(index)) {
            (Some(cell), Some(name)) => cell.get_or_init(|| self.input.message.header_values(name)),
            _ => &[],
        }
    }

    fn body_contains(&self, needle: usize) -> bool {
        let found = self.body_contains.get_or_init(|| {
            self.policy
                .body_needles
                .find_all(self.body.lower().as_bytes())
        });
        found.get(needle).copied().unwrap_or(false)
    }
}

/// One recipient's view: the message's facts plus the recipient's own.
pub(crate) struct Recipient<'r, 's, 'v> {
    message: &'r Message<'s, 'v>,
    recipient: &'v str,
    address: Text<'v>,
    domain: Text<'v>,
}

impl<'r, 's, 'v> Recipient<'r, 's, 'v> {
    pub(crate) fn new(message: &'r Message<'s, 'v>, recipient: &'v str) -> Self {
        Recipient {
            message,
            recipient,
            address: Text::new(recipient),
            domain: Text::new(domain_of(recipient)),
        }
    }

    /// Whether the condition (negated or not) holds; if it does, the reason goes to `why`.
    ///
    /// The text and service conditions, nearly all of a large policy, return a plain `bool`
    /// and name the value they saw only when they hold: passing `(bool, Seen)` back from every
    /// condition cost more than most conditions (store-forwarding stalls on the moved enum).
    pub(crate) fn test<'p>(
        &self,
        c: &'p PreparedCondition,
        why: &mut Vec<Why<'p, 'v>>,
    ) -> Result<bool, MatchError> {
        let seen = match &c.kind {
            Kind::Text { source, matcher } => {
                let text = self.text(*source);
                if self.matches(matcher, text)? == c.negate {
                    return Ok(false);
                }
                Seen::Str(text.value)
            }
            Kind::Service(service) => {
                let session = self.message.input.session;
                if (session.service == *service) == c.negate {
                    return Ok(false);
                }
                Seen::Service(session.service)
            }
            _ => {
                let (hit, seen) = self.condition(c)?;
                if hit == c.negate {
                    return Ok(false);
                }
                seen
            }
        };
        why.push(Why::Condition {
            label: &c.label,
            seen,
        });
        Ok(true)
    }

    fn text(&self, source: Source) -> &Text<'v> {
        let m = self.message;
        match source {
            Source::RecipientAddress => &self.address,
            Source::RecipientDomain => &self.domain,
            Source::SenderAddress => &m.sender,
            Source::SenderDomain => &m.sender_domain,
            Source::Subject => m.subject(),
            Source::Body => &m.body,
            Source::ConnectorIp => &m.connector_ip,
        }
    }

    /// Whether the (un-negated) condition holds, and the value looked at, for the trace: the
    /// conditions [`Recipient::test`] has no fast path for.
    #[inline(never)]
    fn condition(&self, c: &PreparedCondition) -> Result<(bool, Seen<'v>), MatchError> {
        let m = self.message;
        match &c.kind {
            Kind::Text { source, matcher } => {
                let text = self.text(*source);
                Ok((self.matches(matcher, text)?, Seen::Str(text.value)))
            }
            Kind::Service(service) => {
                let service_seen = m.input.session.service;
                Ok((service_seen == *service, Seen::Service(service_seen)))
            }
            Kind::Header { index, matcher } => self.many(matcher, m.header(*index), c.negate),
            Kind::AttachmentName(matcher) => {
                let attachments = m.input.message.attachments();
                let names: Vec<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
                self.many(matcher, &names, c.negate)
            }
            Kind::AttachmentType(matcher) => {
                let attachments = m.input.message.attachments();
                let types: Vec<&str> = attachments
                    .iter()
                    .map(|a| a.content_type.as_str())
                    .collect();
                self.many(matcher, &types, c.negate)
            }
            Kind::Other(condition) => Ctx {
                input: m.input,
                recipient: self.recipient,
                shared: &m.shared,
            }
            .condition(condition),
        }
    }

    /// A text condition over several values, as [`crate::eval`] does it: true if any matches,
    /// every value tried (an error surfaces whichever value matched).
    fn many(
        &self,
        matcher: &Matcher,
        values: &[&'v str],
        negate: bool,
    ) -> Result<(bool, Seen<'v>), MatchError> {
        let mut hit = None;
        for v in values {
            if self.matches(matcher, &Text::new(v))? && hit.is_none() {
                hit = Some(*v);
            }
        }
        Ok(match hit {
            Some(v) => (true, Seen::Str(v)),
            None if negate => (false, Seen::Owned(values.join(", "))),
            None => (false, Seen::Nothing),
        })
    }

    fn matches(&self, matcher: &Matcher, text: &Text<'v>) -> Result<bool, MatchError> {
        Ok(match matcher {
            Matcher::Is(expected) => text.lower() == expected,
            Matcher::Contains(finder) => finder.find(text.lower().as_bytes()).is_some(),
            Matcher::BodyContains(needle) => self.message.body_contains(*needle),
            Matcher::BeginsWith(expected) => text.lower().starts_with(expected.as_str()),
            Matcher::EndsWith(expected) => text.lower().ends_with(expected.as_str()),
            Matcher::Pattern(re) => re.is_match(text.value),
            Matcher::SubdomainOf(parent) => is_subdomain_of_parent(text.value, parent),
            Matcher::Dictionary(terms) => text.in_dictionary(terms),
            Matcher::DictionaryByName(name) => self
                .message
                .input
                .dictionaries
                .contains(name, text.value)
                .ok_or_else(|| MatchError::UnknownDictionary(name.clone()))?,
            Matcher::Fails(e) => return Err(e.clone()),
        })
    }
}

/// The "message body contains" values of a policy, lower-cased, searched for together: one
/// regex of them all (a literal alternation, which the regex crate searches with its
/// multi-literal SIMD prefilter) finds each position where one of them starts, instead of one
/// 10 KB scan per value.
#[derive(Default)]
pub(crate) struct Needles {
    list: Vec<String>,
    finders: Vec<Finder<'static>>,
    any: Option<regex::bytes::Regex>,
}

impl Needles {
    /// Position of a lower-cased value, added if new.
    pub(crate) fn add(&mut self, needle: String) -> usize {
        match self.list.iter().position(|n| *n == needle) {
            Some(i) => i,
            None => {
                self.list.push(needle);
                self.list.len() - 1
            }
        }
    }

    /// Compiles the search once every value is added.
    pub(crate) fn build(&mut self) {
        self.finders = self
            .list
            .iter()
            .map(|n| Finder::new(n.as_bytes()).into_owned())
            .collect();
        let alternatives: Vec<String> = self
            .list
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| regex::escape(n))
            .collect();
        // One value: memmem alone is as fast. A set too large to compile: value by value.
        self.any = (alternatives.len() >= 2)
            .then(|| regex::bytes::Regex::new(&alternatives.join("|")).ok())
            .flatten();
    }

    /// For each value, whether `haystack` contains it: exactly `memmem::find(haystack, value)`
    /// for each, in one pass when it can. Every position where some value starts is visited
    /// (the search resumes one byte after the last start, so overlapping values are not
    /// skipped) and every value is compared there.
    pub(crate) fn find_all(&self, haystack: &[u8]) -> Vec<bool> {
        let mut found: Vec<bool> = self.list.iter().map(|n| n.is_empty()).collect();
        let mut left = found.iter().filter(|f| !**f).count();
        if left == 0 {
            return found;
        }
        if let Some(any) = &self.any {
            let mut at = 0;
            for _ in 0..MAX_SCAN_STEPS {
                let Some(start) = any.find_at(haystack, at).map(|m| m.start()) else {
                    // No value starts at or after `at`; every earlier start was visited.
                    return found;
                };
                let rest = haystack.get(start..).unwrap_or_default();
                for (f, n) in found.iter_mut().zip(&self.list) {
                    if !*f && rest.starts_with(n.as_bytes()) {
                        *f = true;
                        left -= 1;
                    }
                }
                if left == 0 {
                    return found;
                }
                at = start + 1;
            }
        }
        for (f, finder) in found.iter_mut().zip(&self.finders) {
            if !*f {
                *f = finder.find(haystack).is_some();
            }
        }
        found
    }
}
