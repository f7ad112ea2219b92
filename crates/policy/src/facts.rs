//! What the engine knows about the world, and nothing more.
//!
//! The policy crate never does IO: the SMTP/POP/IMAP side parses the message and answers
//! [`MessageFacts`]; the store answers [`DirectoryFacts`] and [`Dictionaries`]; the proxy fills
//! in [`SessionFacts`]. The traits are deliberately small and synchronous: the caller gathers
//! whatever it needs (directory lookups, key searches) before asking for a decision, so that a
//! decision is a pure function of its inputs and can be replayed from a log.
//!
//! [`SimpleMessage`], [`SimpleDirectory`] and [`MemoryDictionaries`] are plain in-memory
//! implementations for callers that already hold the facts, and for tests.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use regex::{Regex, RegexSet, RegexSetBuilder};
use signet_model::KeyMode;

use crate::key_filter::{KeyFilter, key_hash};
use crate::model::{ApplicationKind, DeliveryPreference, EncodingFormat, ServiceKind};
use crate::modifier::{MatchError, PATTERN_SIZE_LIMIT, compile_pattern};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    /// MIME type name, e.g. `application/pdf`.
    pub content_type: String,
}

/// Encryption and signature facts about the message as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptoFacts {
    pub any_part_encrypted: bool,
    pub all_encrypted: bool,
    pub any_part_signed: bool,
    /// Key IDs named by the PKESK packets, i.e. the keys really encrypted to (for v4 keys the
    /// encryption subkey), as hex.
    pub pkesk_key_ids: Vec<String>,
}

/// Facts about one message, shared by all its recipients.
pub trait MessageFacts {
    /// Envelope sender (MAIL FROM); empty for the null sender.
    fn envelope_sender(&self) -> &str;
    /// Every value of a header (name case-insensitive), in order; empty if absent.
    fn header_values(&self, name: &str) -> Vec<&str>;
    fn subject(&self) -> Option<&str> {
        self.header_values("Subject").into_iter().next()
    }
    /// Decoded text of the body parts.
    fn body_text(&self) -> &str;
    fn size_bytes(&self) -> u64;
    fn attachments(&self) -> &[Attachment];
    fn encoding(&self) -> EncodingFormat;
    fn crypto(&self) -> &CryptoFacts;
    /// `List-Id` or similar mailing-list markers were found.
    fn is_from_mailing_list(&self) -> bool;
    /// Too malformed to start processing: evaluation goes straight to the Exception chain.
    fn is_malformed(&self) -> bool;
}

/// Facts about users and keys, asked per address.
pub trait DirectoryFacts {
    /// The address belongs to a managed domain user.
    fn is_internal(&self, address: &str) -> bool;
    fn key_mode(&self, address: &str) -> Option<KeyMode>;
    /// A usable key or certificate is known for the address (after the caller's key search).
    fn key_available(&self, address: &str) -> bool;
    /// Name of the consumer policy the address's consumer falls under.
    fn consumer_policy(&self, address: &str) -> Option<String>;
    fn delivery_preference(&self, address: &str) -> Option<DeliveryPreference>;
    /// Member count when the address is a directory mailing list, `None` otherwise.
    fn mailing_list_size(&self, address: &str) -> Option<u64>;
    /// The key ID is an Additional Decryption Key (organization or consumer policy ADK).
    fn is_adk(&self, key_id: &str) -> bool;
}

/// Dictionary membership, case-insensitive, literals and patterns.
pub trait Dictionaries {
    /// `None` when no dictionary of that name exists (the rule is invalid).
    fn contains(&self, dictionary: &str, value: &str) -> Option<bool>;

    /// The named dictionary's terms as a snapshot that can be kept, for
    /// [`crate::prepared::PreparedPolicy`]: it resolves each "is in dictionary" condition once
    /// instead of looking the dictionary up by name on every condition. `None` (the default) when
    /// the implementation does not hold its terms in memory or has no such dictionary; the
    /// prepared policy then asks [`Dictionaries::contains`] by name.
    fn terms(&self, dictionary: &str) -> Option<Arc<DictionaryTerms>> {
        let _ = dictionary;
        None
    }
}

/// Facts about the connection the message came in on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub service: ServiceKind,
    pub application: ApplicationKind,
    pub authenticated: bool,
    pub connector_ip: String,
    pub connector_port: u16,
    pub client_version: Option<String>,
}

impl Default for SessionFacts {
    fn default() -> Self {
        SessionFacts {
            service: ServiceKind::SmtpOutbound,
            application: ApplicationKind::Server,
            authenticated: false,
            connector_ip: String::new(),
            connector_port: 25,
            client_version: None,
        }
    }
}

/// A message whose facts are already extracted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleMessage {
    pub sender: String,
    /// (name, value) in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub size_bytes: u64,
    pub attachments: Vec<Attachment>,
    pub encoding: Option<EncodingFormat>,
    pub crypto: CryptoFacts,
    pub from_mailing_list: bool,
    pub malformed: bool,
}

impl MessageFacts for SimpleMessage {
    fn envelope_sender(&self) -> &str {
        &self.sender
    }
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn body_text(&self) -> &str {
        &self.body
    }
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }
    fn encoding(&self) -> EncodingFormat {
        self.encoding.unwrap_or(EncodingFormat::NotEncoded)
    }
    fn crypto(&self) -> &CryptoFacts {
        &self.crypto
    }
    fn is_from_mailing_list(&self) -> bool {
        self.from_mailing_list
    }
    fn is_malformed(&self) -> bool {
        self.malformed
    }
}

/// What the directory knows about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFacts {
    pub internal: bool,
    pub key_mode: Option<KeyMode>,
    pub key_available: bool,
    pub consumer_policy: Option<String>,
    pub delivery_preference: Option<DeliveryPreference>,
    pub mailing_list_size: Option<u64>,
}

/// An in-memory directory keyed by lower-cased address. Unknown addresses are external with
/// no key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleDirectory {
    pub users: BTreeMap<String, UserFacts>,
    pub adk_key_ids: Vec<String>,
}

impl SimpleDirectory {
    pub fn with(mut self, address: &str, facts: UserFacts) -> Self {
        self.users.insert(address.to_lowercase(), facts);
        self
    }

    fn user(&self, address: &str) -> Option<&UserFacts> {
        // Lower-cased on the stack: a decision asks the directory several times per recipient.
        with_lowercase(address, |a| self.users.get(a))
    }
}

impl DirectoryFacts for SimpleDirectory {
    fn is_internal(&self, address: &str) -> bool {
        self.user(address).is_some_and(|u| u.internal)
    }
    fn key_mode(&self, address: &str) -> Option<KeyMode> {
        self.user(address).and_then(|u| u.key_mode)
    }
    fn key_available(&self, address: &str) -> bool {
        self.user(address).is_some_and(|u| u.key_available)
    }
    fn consumer_policy(&self, address: &str) -> Option<String> {
        self.user(address).and_then(|u| u.consumer_policy.clone())
    }
    fn delivery_preference(&self, address: &str) -> Option<DeliveryPreference> {
        self.user(address).and_then(|u| u.delivery_preference)
    }
    fn mailing_list_size(&self, address: &str) -> Option<u64> {
        self.user(address).and_then(|u| u.mailing_list_size)
    }
    fn is_adk(&self, key_id: &str) -> bool {
        self.adk_key_ids
            .iter()
            .any(|k| crate::modifier::key_id_matches(k, key_id))
    }
}

/// One dictionary's terms: literals in a hash set (a 10,000-entry dictionary is one lookup, not
/// 10,000 comparisons), patterns after it.
#[derive(Debug, Clone, Default)]
pub struct DictionaryTerms {
    literals: HashSet<String>,
    /// Each pattern exactly as compiled on its own (anchored, case-insensitive).
    sources: Vec<String>,
    patterns: Vec<Regex>,
    /// All the patterns in one set, built on first use: one search per look-up instead of one
    /// per pattern. `None` if the set exceeds the size limit; then they are tried one by one.
    set: OnceLock<Option<RegexSet>>,
    /// A filter in front of `literals` when there are many, built on first use (see
    /// [`KeyFilter`]: a large hash set does not stay in the CPU caches).
    filter: OnceLock<KeyFilter>,
}

/// Literals below this count are looked up in the hash set directly: a small set stays cached.
const FILTER_MIN_LITERALS: usize = 256;

impl DictionaryTerms {
    /// Whether `value` is in the dictionary: trimmed and lower-cased, like every look-up.
    pub fn contains(&self, value: &str) -> bool {
        with_lowercase(value.trim(), |v| self.contains_key(v))
    }

    /// [`DictionaryTerms::contains`] of a value already trimmed and lower-cased (`key` is
    /// `value.trim().to_lowercase()`), so that a value looked up in many dictionaries is
    /// lower-cased once.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.contains_hashed(key, || key_hash(key))
    }

    /// [`DictionaryTerms::contains_key`] with the key's [`key_hash`] given (computed only if
    /// needed): a prepared policy hashes a value once for all the dictionaries it is looked up in.
    pub(crate) fn contains_hashed(&self, key: &str, hash: impl FnOnce() -> u64) -> bool {
        self.literal_hashed(key, hash) || self.pattern_matches(key)
    }

    /// Whether `key` (as for [`DictionaryTerms::contains_hashed`]) is one of the literals; the
    /// patterns are not tried.
    pub(crate) fn literal_hashed(&self, key: &str, hash: impl FnOnce() -> u64) -> bool {
        match self.filter() {
            Some(filter) => filter.may_contain(hash()) && self.literals.contains(key),
            None => self.literals.contains(key),
        }
    }

    /// The literals (trimmed, lower-cased): a prepared policy filters those of all its
    /// dictionaries at once.
    pub(crate) fn literals(&self) -> impl Iterator<Item = &str> {
        self.literals.iter().map(String::as_str)
    }

    /// The patterns, each as compiled (anchored, case-insensitive): a prepared policy searches
    /// those of all its dictionaries at once.
    pub(crate) fn pattern_sources(&self) -> &[String] {
        &self.sources
    }

    /// Builds what is otherwise built on first look-up (the literal filter, the pattern set), so
    /// that the first message after a policy is prepared does not pay for it.
    pub(crate) fn warm_up(&self) {
        self.filter();
        self.pattern_set();
    }

    fn filter(&self) -> Option<&KeyFilter> {
        (self.literals.len() >= FILTER_MIN_LITERALS).then(|| {
            self.filter
                .get_or_init(|| KeyFilter::build(self.literals.iter().map(String::as_str)))
        })
    }

    fn pattern_set(&self) -> &Option<RegexSet> {
        self.set.get_or_init(|| {
            RegexSetBuilder::new(&self.sources)
                .case_insensitive(true)
                .size_limit(PATTERN_SIZE_LIMIT)
                .dfa_size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .ok()
        })
    }

    pub(crate) fn pattern_matches(&self, value: &str) -> bool {
        if self.patterns.len() < 2 {
            return self.patterns.iter().any(|re| re.is_match(value));
        }
        match self.pattern_set() {
            Some(set) => set.is_match(value),
            None => self.patterns.iter().any(|re| re.is_match(value)),
        }
    }
}

/// Dictionaries held in memory; names are case-insensitive. Each dictionary's terms sit behind
/// an `Arc` so that a prepared policy can keep a snapshot of them without copying 10,000 entries;
/// a change after that copies the changed dictionary (copy on write).
#[derive(Debug, Clone, Default)]
pub struct MemoryDictionaries {
    dictionaries: BTreeMap<String, Arc<DictionaryTerms>>,
}

impl MemoryDictionaries {
    /// Create (or empty) a dictionary.
    pub fn define(&mut self, name: &str) {
        self.dictionaries
            .insert(name.to_lowercase(), Arc::default());
    }

    /// Add a literal term; stored lower-cased, as the model stores literals.
    pub fn add_literal(&mut self, name: &str, literal: &str) {
        let terms = Arc::make_mut(self.dictionaries.entry(name.to_lowercase()).or_default());
        terms.literals.insert(literal.trim().to_lowercase());
        terms.filter = OnceLock::new();
    }

    /// Add a pattern term, as typed (the model no longer lower-cases patterns: `\D` must stay
    /// "non-digit"). It is anchored at both ends and compiled case-insensitively, so
    /// `J.*@Example\.com` matches `jgreen@example.com`.
    pub fn add_pattern(&mut self, name: &str, pattern: &str) -> Result<(), MatchError> {
        // compile_pattern is case-insensitive; the `(?i)` says so where the pattern is read too,
        // and keeps it so should that ever change.
        let source = format!("(?i)^(?:{pattern})$");
        let re = compile_pattern(&source)?;
        let terms = Arc::make_mut(self.dictionaries.entry(name.to_lowercase()).or_default());
        terms.sources.push(source);
        terms.patterns.push(re);
        terms.set = OnceLock::new();
        Ok(())
    }

    pub fn names(&self) -> Vec<String> {
        self.dictionaries.keys().cloned().collect()
    }
}

/// Calls `f` with exactly `s.to_lowercase()`; short ASCII text is lower-cased on the stack, so a
/// dictionary look-up does not allocate.
fn with_lowercase<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    // The usual address or domain is already lower-case: no copy, no UTF-8 check.
    if crate::modifier::is_ascii_lowercase_only(s.as_bytes()) {
        return f(s);
    }
    let mut buf = [0u8; 256];
    if s.is_ascii()
        && let Some(b) = buf.get_mut(..s.len())
    {
        b.copy_from_slice(s.as_bytes());
        b.make_ascii_lowercase();
        if let Ok(lower) = std::str::from_utf8(b) {
            return f(lower);
        }
    }
    f(&s.to_lowercase())
}

impl Dictionaries for MemoryDictionaries {
    fn contains(&self, dictionary: &str, value: &str) -> Option<bool> {
        let terms = with_lowercase(dictionary, |name| self.dictionaries.get(name))?;
        Some(terms.contains(value))
    }

    fn terms(&self, dictionary: &str) -> Option<Arc<DictionaryTerms>> {
        with_lowercase(dictionary, |name| self.dictionaries.get(name)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_literals_and_anchored_patterns() {
        // Scenario 24 of the directory spec: literal jsmith@example.com, pattern j.*@example.com.
        let mut d = MemoryDictionaries::default();
        d.add_literal("D", "jsmith@example.com");
        d.add_pattern("D", r"j.*@example\.com").unwrap();
        assert_eq!(d.contains("d", "jsmith"), Some(false));
        assert_eq!(d.contains("D", "JSmith@Example.com"), Some(true));
        assert_eq!(d.contains("D", "jgreen@example.com"), Some(true));
        assert_eq!(d.contains("D", "jgreen@example.com.evil.test"), Some(false));
        assert_eq!(d.contains("missing", "x"), None);
        assert!(d.add_pattern("D", "(").is_err());
    }

    #[test]
    fn dictionary_patterns_keep_their_case_and_match_any_case() {
        // Patterns arrive as typed (the model no longer lower-cases them).
        let mut d = MemoryDictionaries::default();
        d.add_pattern("D", r"J.*@Example\.com").unwrap();
        assert_eq!(d.contains("D", "jgreen@example.com"), Some(true));
        assert_eq!(d.contains("D", "JGreen@EXAMPLE.com"), Some(true));
        assert_eq!(d.contains("D", "bob@example.com"), Some(false));
        // `\D` is "not a digit"; lower-cased it would have become `\d`.
        d.add_pattern("Codes", r"code-\D+").unwrap();
        assert_eq!(d.contains("codes", "code-abc"), Some(true));
        assert_eq!(d.contains("codes", "CODE-ABC"), Some(true));
        assert_eq!(d.contains("codes", "code-123"), Some(false));
        // Literals are still lower-cased.
        d.add_literal("Lit", "  Alice@Example.COM ");
        assert_eq!(d.contains("LIT", "alice@example.com"), Some(true));
    }

    #[test]
    fn pattern_set_agrees_with_each_pattern() {
        let mut d = MemoryDictionaries::default();
        let patterns = [
            r"j.*@example\.com",
            r"x)|(?:.*\.evil",
            r"\d+",
            r"(?-i)ABC",
            r"ǅ",
        ];
        for p in patterns {
            d.add_pattern("D", p).unwrap();
        }
        let terms = d.dictionaries.get("d").unwrap();
        for v in [
            "jgreen@example.com",
            "x",
            "a.evil",
            "123",
            "abc",
            "ABC",
            "ǆ",
            "Ǆ",
            "",
            "x.evil.y",
        ] {
            let one_by_one = terms.patterns.iter().any(|re| re.is_match(v));
            assert_eq!(terms.pattern_matches(v), one_by_one, "{v:?}");
        }
        assert!(terms.set.get().is_some_and(Option::is_some));
    }

    #[test]
    fn stack_lowercase_equals_to_lowercase() {
        let long = "A".repeat(300);
        for s in ["", "Dictionary 00", "ÀB", "İx", long.as_str()] {
            assert_eq!(with_lowercase(s, str::to_string), s.to_lowercase(), "{s:?}");
        }
    }

    #[test]
    fn simple_message_headers_are_case_insensitive() {
        let m = SimpleMessage {
            headers: vec![
                ("Subject".into(), "hi".into()),
                ("X-A".into(), "1".into()),
                ("x-a".into(), "2".into()),
            ],
            ..Default::default()
        };
        assert_eq!(m.subject(), Some("hi"));
        assert_eq!(m.header_values("X-a"), vec!["1", "2"]);
        assert_eq!(m.encoding(), EncodingFormat::NotEncoded);
    }

    #[test]
    fn directory_defaults_to_external_without_key() {
        let d = SimpleDirectory::default().with(
            "Alice@Example.com",
            UserFacts {
                internal: true,
                key_mode: Some(KeyMode::Skm),
                ..Default::default()
            },
        );
        assert!(d.is_internal("alice@example.com"));
        assert_eq!(d.key_mode("ALICE@example.com"), Some(KeyMode::Skm));
        assert!(!d.is_internal("bob@ext.test"));
        assert!(!d.key_available("bob@ext.test"));
    }
}
