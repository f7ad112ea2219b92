//! Conditions of a [`PreparedPolicy`] and the per-message facts they read.
//!
//! Each text condition carries a [`Matcher`]: the modifier with its value already lower-cased,
//! compiled or resolved. The values it compares are [`Text`]s that lower-case themselves (and
//! form their dictionary key) on first use: the sender, subject and body once per message, the
//! recipient once per recipient. Conditions on directory, session and crypto facts (sizes,
//! key modes, encryption, versions) are evaluated by [`crate::eval::Ctx::condition`].

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use memchr::memmem::Finder;
use regex::{Regex, RegexSet, RegexSetBuilder, SetMatches};

use crate::eval::{Ctx, Input, Seen, domain_of};
use crate::facts::{Dictionaries, DictionaryTerms};
use crate::key_filter::{KeyFilter, key_hash};
use crate::model::{Condition, ConditionSubject, Modifier, ServiceKind};
use crate::modifier::{
    MatchError, PATTERN_SIZE_LIMIT, is_subdomain_of_lowered, lowercase, shared_pattern,
    subdomain_child, subdomain_parent,
};
use crate::prepared::PreparedPolicy;

/// Start positions the one-pass body search visits before it finishes value by value instead
/// (a body full of overlapping matches would otherwise cost one regex search per byte).
const MAX_SCAN_STEPS: usize = 256;

/// One reason a rule matched, rendered into the trace's `why` only if the rule fires.
pub(crate) enum Why<'p, 'v> {
    AlwaysTrue,
    Condition {
        /// The condition as the trace prints it, up to the value seen.
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
            Why::Condition { label, seen } => {
                // `format!("{label} (saw {:?})", seen.render())`, without the formatter for
                // the usual value: the rules that fire were a tenth of a large policy's time.
                let mut out = String::with_capacity(label.len() + 32);
                out.push_str(label);
                out.push_str(" (saw ");
                match seen {
                    Seen::Str(value) => push_debug(&mut out, value),
                    other => push_debug(&mut out, &other.render()),
                }
                out.push(')');
                out
            }
            Why::Not(text) => (*text).to_string(),
        }
    }
}

/// `write!(out, "{value:?}")`: the value quoted as it is when it is printable ASCII without a
/// quote or backslash (which `Debug` leaves unescaped), through `Debug` otherwise.
fn push_debug(out: &mut String, value: &str) {
    let plain = value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        let _ = write!(out, "{value:?}");
    }
}

pub(crate) struct PreparedCondition {
    pub(crate) negate: bool,
    /// `[not ]<subject> <modifier> <value>`, Debug-formatted, as the trace shows it.
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
    /// The name of the consumer policy of the sender (or else the recipient).
    ConsumerPolicy {
        sender: bool,
        matcher: Matcher,
    },
    /// Service type: read by most rules that send outbound.
    Service(ServiceKind),
    /// Everything else, evaluated by [`crate::eval`] (boxed: rare, and large).
    Other(Box<Condition>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    RecipientAddress,
    RecipientDomain,
    SenderAddress,
    SenderDomain,
    Subject,
    Body,
    ConnectorIp,
}

/// How many [`Source`]s there are.
pub(crate) const SOURCES: usize = 7;

/// A modifier and its value, ready to compare.
enum Matcher {
    /// Lower-cased value.
    Is(String),
    /// Boxed: a searcher is ~300 bytes, and every condition of a policy walk would pay for it in
    /// cache lines.
    Contains(Box<Finder<'static>>),
    /// "Contains" on a [`Source`]: the value's position in that source's
    /// [`PreparedPolicy::needles`], all searched for in one pass over the value.
    SourceContains {
        source: Source,
        index: usize,
    },
    BeginsWith(String),
    EndsWith(String),
    Pattern(Arc<Regex>),
    /// "Matches pattern" on a [`Source`]: the regex's position in that source's set of
    /// [`PreparedPolicy::text_patterns`], searched once per value for all its conditions.
    SetPattern {
        regex: Arc<Regex>,
        source: Source,
        index: usize,
    },
    /// The parent domain as [`crate::modifier::is_subdomain_of`] compares it.
    SubdomainOf(String),
    /// The dictionary's terms, and where its patterns are in [`PreparedPolicy::dictionary_patterns`].
    Dictionary(Arc<DictionaryTerms>, Range<usize>),
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
        let matcher = |policy: &mut PreparedPolicy, source: Option<Source>| {
            Matcher::new(c.modifier, &c.value, source, dictionaries, policy)
        };
        let text = |source, policy: &mut PreparedPolicy| Kind::Text {
            source,
            matcher: matcher(policy, Some(source)),
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
                    matcher: matcher(policy, None),
                }
            }
            S::AttachmentName => Kind::AttachmentName(matcher(policy, None)),
            S::AttachmentType => Kind::AttachmentType(matcher(policy, None)),
            S::ServiceType(service) => Kind::Service(*service),
            S::SenderConsumerPolicy | S::RecipientConsumerPolicy => Kind::ConsumerPolicy {
                sender: c.subject == S::SenderConsumerPolicy,
                matcher: matcher(policy, None),
            },
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
        source: Option<Source>,
        dictionaries: &dyn Dictionaries,
        policy: &mut PreparedPolicy,
    ) -> Matcher {
        let lower = || lowercase(value).into_owned();
        match modifier {
            Modifier::IsInDictionary => match dictionaries.terms(value) {
                Some(terms) => {
                    terms.warm_up();
                    let patterns = policy.dictionary_patterns.add(&terms);
                    Matcher::Dictionary(terms, patterns)
                }
                None => Matcher::DictionaryByName(value.to_string()),
            },
            Modifier::MatchesPattern => match (shared_pattern(value), source) {
                // The body's patterns stay apart: one regex each keeps its own literal
                // prefilter over 10 KB, which a set of them loses.
                (Ok(regex), Some(source)) if source != Source::Body => Matcher::SetPattern {
                    regex,
                    source,
                    index: policy.text_patterns.add(source, value),
                },
                (Ok(re), _) => Matcher::Pattern(re),
                (Err(e), _) => Matcher::Fails(e),
            },
            Modifier::Is => Matcher::Is(lower()),
            Modifier::Contains => {
                match source.and_then(|s| Some((s, policy.needles.get_mut(s as usize)?))) {
                    Some((source, needles)) => Matcher::SourceContains {
                        source,
                        index: needles.add(lower()),
                    },
                    None => Matcher::Contains(Box::new(Finder::new(&lower()).into_owned())),
                }
            }
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
    /// Which of [`PreparedPolicy::dictionary_patterns`] the key matches.
    pattern_hits: OnceCell<SetMatches>,
    /// The value as "is a subdomain of" compares it ([`subdomain_child`]).
    child: OnceCell<Cow<'v, str>>,
    /// Which patterns of the value's source ([`TextPatterns`]) match the value.
    set_hits: OnceCell<SetMatches>,
    /// Which "contains" values of the value's source ([`PreparedPolicy::needles`]) it contains.
    contains_hits: OnceCell<Vec<bool>>,
}

impl<'v> Text<'v> {
    fn new(value: &'v str) -> Self {
        Text {
            value,
            lower: OnceCell::new(),
            key: OnceCell::new(),
            key_hash: OnceCell::new(),
            pattern_hits: OnceCell::new(),
            child: OnceCell::new(),
            set_hits: OnceCell::new(),
            contains_hits: OnceCell::new(),
        }
    }

    fn lower(&self) -> &str {
        self.lower.get_or_init(|| lowercase(self.value))
    }

    fn key(&self) -> &str {
        self.key.get_or_init(|| lowercase(self.value.trim()))
    }

    fn subdomain_child(&self) -> &str {
        self.child.get_or_init(|| subdomain_child(self.value))
    }

    /// [`DictionaryTerms::contains`]: the patterns through the policy's one search of them all
    /// (on first use for this value) when it has one.
    fn in_dictionary(
        &self,
        terms: &DictionaryTerms,
        patterns: &Range<usize>,
        all: &DictionaryPatterns,
    ) -> bool {
        let key = self.key();
        let hash = || *self.key_hash.get_or_init(|| key_hash(key));
        // No dictionary of the policy has the literal: skip this one's filter (a cache miss
        // each, where the policy's filter stays cached for every look-up of the value).
        let maybe = all.literals.as_ref().is_none_or(|f| f.may_contain(hash()));
        if maybe && terms.literal_hashed(key, hash) {
            return true;
        }
        if patterns.is_empty() {
            return false;
        }
        match &all.set {
            Some(set) => {
                let hits = self.pattern_hits.get_or_init(|| set.matches(key));
                patterns.clone().any(|i| hits.matched(i))
            }
            None => terms.pattern_matches(key),
        }
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
            Kind::ConsumerPolicy { sender, matcher } => {
                let who = if *sender {
                    m.input.message.envelope_sender()
                } else {
                    self.recipient
                };
                match m.input.directory.consumer_policy(who) {
                    Some(name) => {
                        Ok((self.matches(matcher, &Text::new(&name))?, Seen::Owned(name)))
                    }
                    None => Ok((false, Seen::Static("no consumer policy"))),
                }
            }
            Kind::Other(condition) => Ctx {
                input: m.input,
                recipient: self.recipient,
            }
            .condition(condition),
        }
    }

    /// A text condition over several values: true if any matches, every value tried (an error
    /// surfaces whichever value matched).
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

    fn matches(&self, matcher: &Matcher, text: &Text<'_>) -> Result<bool, MatchError> {
        Ok(match matcher {
            Matcher::Is(expected) => text.lower() == expected,
            Matcher::Contains(finder) => finder.find(text.lower().as_bytes()).is_some(),
            Matcher::SourceContains { source, index } => {
                let needles = self.message.policy.needles.get(*source as usize);
                let found = text.contains_hits.get_or_init(|| match needles {
                    Some(n) => n.find_all(text.lower().as_bytes()),
                    None => Vec::new(),
                });
                found.get(*index).copied().unwrap_or(false)
            }
            Matcher::BeginsWith(expected) => text.lower().starts_with(expected.as_str()),
            Matcher::EndsWith(expected) => text.lower().ends_with(expected.as_str()),
            Matcher::Pattern(re) => re.is_match(text.value),
            Matcher::SetPattern {
                regex,
                source,
                index,
            } => match self.message.policy.text_patterns.set(*source) {
                Some(set) => text
                    .set_hits
                    .get_or_init(|| set.matches(text.value))
                    .matched(*index),
                None => regex.is_match(text.value),
            },
            Matcher::SubdomainOf(parent) => is_subdomain_of_lowered(text.subdomain_child(), parent),
            Matcher::Dictionary(terms, patterns) => {
                text.in_dictionary(terms, patterns, &self.message.policy.dictionary_patterns)
            }
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

/// The "contains" values of a policy on one value (the body, the subject, ...), lower-cased,
/// searched for together: one regex of them all (a literal alternation, which the regex crate
/// searches with its multi-literal SIMD prefilter) finds each position where one of them
/// starts, instead of one scan of the value (10 KB for the body) per condition.
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
        self.build_alone();
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

    /// Compiles only the value-by-value search (no regex to compile: for one evaluation).
    pub(crate) fn build_alone(&mut self) {
        self.finders = self
            .list
            .iter()
            .map(|n| Finder::new(n.as_bytes()).into_owned())
            .collect();
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

/// The patterns of every dictionary a policy looks values up in, searched together: a value
/// looked up in 30 dictionaries is matched against their patterns once, not once per
/// dictionary (each set's search was mostly the cost of reaching it).
#[derive(Default)]
pub(crate) struct DictionaryPatterns {
    /// Each dictionary added, and where its patterns start in `sources`.
    dictionaries: Vec<(Arc<DictionaryTerms>, usize)>,
    sources: Vec<String>,
    /// `None` when there are no patterns, or too many to compile as one set (each dictionary
    /// then searches its own).
    set: Option<RegexSet>,
    /// A filter over the literals of every dictionary added: a "no" from it spares looking the
    /// value up in each dictionary's own filter.
    literals: Option<KeyFilter>,
}

impl DictionaryPatterns {
    /// Where the dictionary's patterns are, added if new.
    fn add(&mut self, terms: &Arc<DictionaryTerms>) -> Range<usize> {
        let count = terms.pattern_sources().len();
        if let Some((_, start)) = self
            .dictionaries
            .iter()
            .find(|(t, _)| Arc::ptr_eq(t, terms))
        {
            return *start..*start + count;
        }
        let start = self.sources.len();
        self.sources.extend_from_slice(terms.pattern_sources());
        self.dictionaries.push((terms.clone(), start));
        start..start + count
    }

    /// Compiles the set once every dictionary is added, as each dictionary compiles its own.
    pub(crate) fn build(&mut self) {
        self.set = pattern_set(&self.sources, 1);
        let literals: Vec<&str> = self
            .dictionaries
            .iter()
            .flat_map(|(terms, _)| terms.literals())
            .collect();
        self.literals = (!literals.is_empty()).then(|| KeyFilter::build(literals.into_iter()));
        self.dictionaries = Vec::new();
    }
}

/// The "matches pattern" values of a policy, per [`Source`], each source's searched together
/// ([`Matcher::SetPattern`]): a sender read by 30 pattern rules is searched once, not 30 times.
#[derive(Default)]
pub(crate) struct TextPatterns {
    sources: [Vec<String>; SOURCES],
    /// `None` for a source with fewer than two patterns (its one regex is as fast), or too many
    /// to compile as one set (each regex is then tried on its own).
    sets: [Option<RegexSet>; SOURCES],
}

impl TextPatterns {
    /// Position of the pattern in its source's set, added if new.
    fn add(&mut self, source: Source, pattern: &str) -> usize {
        let Some(list) = self.sources.get_mut(source as usize) else {
            return 0;
        };
        match list.iter().position(|p| p == pattern) {
            Some(i) => i,
            None => {
                list.push(pattern.to_string());
                list.len() - 1
            }
        }
    }

    /// Compiles each source's set once every pattern is added, as each pattern compiles alone
    /// ([`crate::modifier::compile_pattern`]).
    pub(crate) fn build(&mut self) {
        for (set, list) in self.sets.iter_mut().zip(&self.sources) {
            *set = pattern_set(list, 2);
        }
    }

    fn set(&self, source: Source) -> Option<&RegexSet> {
        self.sets.get(source as usize).and_then(Option::as_ref)
    }
}

/// The patterns compiled together as each compiles alone (case-insensitive; the size limit
/// allows for many), if there are at least `min` of them and the set compiles.
fn pattern_set(patterns: &[String], min: usize) -> Option<RegexSet> {
    if patterns.len() < min {
        return None;
    }
    RegexSetBuilder::new(patterns)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT * 4)
        .dfa_size_limit(PATTERN_SIZE_LIMIT * 4)
        .build()
        .ok()
}
