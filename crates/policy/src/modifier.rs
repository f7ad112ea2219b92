//! Matching behind every condition modifier (guide §14.3).
//!
//! Choices the guide leaves open, decided here:
//! - **Case**: every text comparison is case-insensitive (Unicode lower-casing of both sides).
//! - **"matches pattern" is a search, not a full match**: the regular expression may match
//!   anywhere in the value, so `secret` matches the subject `Re: top SECRET plan`. An
//!   administrator who wants the whole value writes `^…$`. This is what a regex "matches" means in
//!   most mail tools (Postfix, procmail, Sieve's `:regex`), and unanchored patterns never silently
//!   fail to match because of a display-name or `Re:` prefix. Patterns are compiled
//!   case-insensitively with the Rust `regex` crate (linear time, no backreferences) and a
//!   compiled-size limit of [`PATTERN_SIZE_LIMIT`], so a hostile or careless pattern cannot take
//!   down the mail flow; a pattern that does not compile is an evaluation error (the message goes
//!   to the Exception chain) and a validation error.
//! - **Dictionary patterns are full matches** (see [`crate::facts::MemoryDictionaries`]): a
//!   dictionary term describes a whole address or domain, and an unanchored `.*@example.com`
//!   would otherwise also match `x@example.com.attacker.test`.
//! - **"is a subdomain of" is strict**: `mail.ext.test` is a subdomain of `ext.test`, `ext.test`
//!   itself is not (use "is" for that), and the match is on whole labels, so `examplexcom.org` or
//!   `badexample.com` are not subdomains of `example.com`.
//! - **Numbers**: sizes and ports compare as integers; client versions compare component by
//!   component (`9.10` > `9.9`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use regex::{Regex, RegexBuilder};

use crate::model::Modifier;

/// Compiled-size limit for "matches pattern" and dictionary patterns (bytes of compiled program).
pub const PATTERN_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("invalid pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("{0:?} is not a number")]
    Number(String),
    #[error("{0:?} is not a version number")]
    Version(String),
    #[error("no dictionary named {0:?}")]
    UnknownDictionary(String),
    #[error("modifier {0:?} does not apply to this condition")]
    Modifier(Modifier),
}

/// Compile a pattern the way conditions use it: case-insensitive, size-limited.
pub fn compile_pattern(pattern: &str) -> Result<Regex, MatchError> {
    shared_pattern(pattern).map(|re| Regex::clone(&re))
}

/// [`compile_pattern`], shared: the process-wide compiled `Regex` itself. Prefer this on hot
/// paths: a cloned `Regex` gets a fresh, empty match-cache pool, so its first search pays for
/// building a lazy-DFA cache again (microseconds), while a shared one keeps it warm.
pub fn shared_pattern(pattern: &str) -> Result<Arc<Regex>, MatchError> {
    if let Some(hit) = cached_pattern(pattern, Compiled::clone) {
        return hit;
    }
    let compiled = build_pattern(pattern).map(Arc::new);
    if let Ok(mut map) = pattern_cache().write() {
        if map.len() >= PATTERN_CACHE_CAP {
            map.clear();
        }
        map.insert(pattern.to_string(), compiled.clone());
    }
    compiled
}

/// Whether `pattern` (compiled as [`compile_pattern`] does) matches somewhere in `value`: the
/// hot path of "matches pattern", which borrows the shared `Regex` under the read lock instead
/// of taking a reference count on it (two atomic operations per condition saved).
pub(crate) fn pattern_is_match(pattern: &str, value: &str) -> Result<bool, MatchError> {
    let hit = cached_pattern(pattern, |c| match c {
        Ok(re) => Ok(re.is_match(value)),
        Err(e) => Err(e.clone()),
    });
    match hit {
        Some(result) => result,
        None => Ok(shared_pattern(pattern)?.is_match(value)),
    }
}

/// A pattern compiled once, or why it does not compile (which is as lasting).
type Compiled = Result<Arc<Regex>, MatchError>;

/// Compiling costs ~100 µs, matching ~100 ns: what was compiled is kept for the life of the
/// process (a policy has a bounded set of patterns; the cap only guards against a flood of
/// one-off patterns).
const PATTERN_CACHE_CAP: usize = 4096;

fn pattern_cache() -> &'static RwLock<HashMap<String, Compiled>> {
    // A read lock: many mail threads look patterns up at once, and all but the first only read.
    static CACHE: OnceLock<RwLock<HashMap<String, Compiled>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

/// `f` of the cached entry for `pattern`, if there is one, under the read lock.
fn cached_pattern<R>(pattern: &str, f: impl FnOnce(&Compiled) -> R) -> Option<R> {
    let map = pattern_cache().read().ok()?;
    map.get(pattern).map(f)
}

fn build_pattern(pattern: &str) -> Result<Regex, MatchError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| MatchError::Pattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

/// Exactly `s.to_lowercase()`, without allocating when that would change nothing (ASCII without
/// capitals: the usual address, domain or condition value) and without the Unicode tables for
/// other ASCII text.
pub fn lowercase(s: &str) -> Cow<'_, str> {
    if is_ascii_lowercase_only(s.as_bytes()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// No byte is non-ASCII or an ASCII capital. Checked 64 bytes at a time with a branch-free
/// loop the compiler turns into SIMD (the body is 10 KB, checked once per message).
pub(crate) fn is_ascii_lowercase_only(bytes: &[u8]) -> bool {
    let bad = |b: u8| (b & 0x80) | u8::from(b.wrapping_sub(b'A') < 26);
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(0u8, |acc, &b| acc | bad(b)) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| bad(b) == 0)
}

/// Text modifiers: is, contains, begins with, ends with, matches pattern, is a subdomain of.
/// Dictionary and numeric modifiers are handled by their own functions.
pub fn match_text(modifier: Modifier, actual: &str, expected: &str) -> Result<bool, MatchError> {
    match_text_lowered(modifier, actual, &lowercase(actual), expected)
}

/// [`match_text`] with `lowercase(actual)` already computed (`actual_lower`), so that a long
/// value such as the body is lower-cased once per evaluation, not once per condition.
pub(crate) fn match_text_lowered(
    modifier: Modifier,
    actual: &str,
    actual_lower: &str,
    expected: &str,
) -> Result<bool, MatchError> {
    let a = actual_lower;
    Ok(match modifier {
        Modifier::Is => a == lowercase(expected),
        // memmem's vectorised search: "body contains" scans 10 KB per condition.
        Modifier::Contains => {
            memchr::memmem::find(a.as_bytes(), lowercase(expected).as_bytes()).is_some()
        }
        Modifier::BeginsWith => a.starts_with(&*lowercase(expected)),
        Modifier::EndsWith => a.ends_with(&*lowercase(expected)),
        Modifier::MatchesPattern => pattern_is_match(expected, actual)?,
        Modifier::IsSubdomainOf => is_subdomain_of(actual, expected),
        other => return Err(MatchError::Modifier(other)),
    })
}

/// Whether `domain` is a proper subdomain of `parent`, on label boundaries, ignoring case and a
/// trailing root dot.
pub fn is_subdomain_of(domain: &str, parent: &str) -> bool {
    is_subdomain_of_parent(domain, &subdomain_parent(parent))
}

/// The parent domain as [`is_subdomain_of`] compares it: trimmed, without leading or trailing
/// dots, lower-cased. A prepared policy computes it once per condition.
pub(crate) fn subdomain_parent(parent: &str) -> Cow<'_, str> {
    lowercase(parent.trim().trim_end_matches('.').trim_start_matches('.'))
}

/// [`is_subdomain_of`] with the parent already in [`subdomain_parent`] form.
pub(crate) fn is_subdomain_of_parent(domain: &str, p: &str) -> bool {
    is_subdomain_of_lowered(&subdomain_child(domain), p)
}

/// The domain as [`is_subdomain_of`] compares it: trimmed, without a trailing dot, lower-cased.
/// A prepared policy computes it once per message for every condition that reads it.
pub(crate) fn subdomain_child(domain: &str) -> Cow<'_, str> {
    lowercase(domain.trim().trim_end_matches('.'))
}

/// [`is_subdomain_of`] with both sides already in form ([`subdomain_child`],
/// [`subdomain_parent`]).
pub(crate) fn is_subdomain_of_lowered(d: &str, p: &str) -> bool {
    if p.is_empty() || d.len() <= p.len() + 1 {
        return false;
    }
    match d.strip_suffix(p) {
        Some(head) => head.ends_with('.') && head.len() > 1,
        None => false,
    }
}

/// Numeric modifiers (is, greater/less than, or equal, fewer than) on integers.
pub fn match_number(modifier: Modifier, actual: u64, expected: &str) -> Result<bool, MatchError> {
    let e: u64 = expected
        .trim()
        .parse()
        .map_err(|_| MatchError::Number(expected.to_string()))?;
    ordering_matches(modifier, actual.cmp(&e))
}

/// Version modifiers: dotted numbers compared component by component, missing components are 0.
pub fn match_version(modifier: Modifier, actual: &str, expected: &str) -> Result<bool, MatchError> {
    let a = parse_version(actual).ok_or_else(|| MatchError::Version(actual.to_string()))?;
    let e = parse_version(expected).ok_or_else(|| MatchError::Version(expected.to_string()))?;
    let len = a.len().max(e.len());
    let mut ord = Ordering::Equal;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = e.get(i).copied().unwrap_or(0);
        ord = x.cmp(&y);
        if ord != Ordering::Equal {
            break;
        }
    }
    ordering_matches(modifier, ord)
}

fn parse_version(raw: &str) -> Option<Vec<u64>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    raw.split('.').map(|c| c.trim().parse().ok()).collect()
}

fn ordering_matches(modifier: Modifier, ord: Ordering) -> Result<bool, MatchError> {
    Ok(match modifier {
        Modifier::Is => ord == Ordering::Equal,
        Modifier::GreaterThan => ord == Ordering::Greater,
        Modifier::LessThan | Modifier::FewerThan => ord == Ordering::Less,
        Modifier::GreaterOrEqual => ord != Ordering::Less,
        Modifier::LessOrEqual => ord != Ordering::Greater,
        other => return Err(MatchError::Modifier(other)),
    })
}

/// Normalise an OpenPGP key ID as typed or as read from a PKESK: no `0x`, no spaces,
/// upper-case hex.
pub fn normalize_key_id(raw: &str) -> String {
    let t = raw.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    t.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Whether a key ID named in a condition (short 8-hex, long 16-hex or a fingerprint) names the
/// key ID found in a PKESK (16 hex digits). A short ID matches the low 32 bits; a fingerprint
/// matches by its last 16 digits (v4). The wildcard ID (all zeros) never matches.
pub fn key_id_matches(condition_id: &str, pkesk_id: &str) -> bool {
    let c = normalize_key_id(condition_id);
    let p = normalize_key_id(pkesk_id);
    if c.len() < 8 || p.is_empty() || p.chars().all(|ch| ch == '0') {
        return false;
    }
    if c.len() > p.len() {
        c.ends_with(&p)
    } else {
        p.ends_with(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_modifiers_are_case_insensitive() {
        assert!(match_text(Modifier::Is, "ext.test", "EXT.TEST").unwrap());
        assert!(!match_text(Modifier::Is, "mail.ext.test", "EXT.TEST").unwrap());
        assert!(match_text(Modifier::Contains, "Top SECRET", "secret").unwrap());
        assert!(match_text(Modifier::BeginsWith, "[Confidential] x", "[CONFIDENTIAL]").unwrap());
        assert!(match_text(Modifier::EndsWith, "EVIL.EXE", ".exe").unwrap());
        assert!(!match_text(Modifier::EndsWith, "evil.exe.txt", ".exe").unwrap());
    }

    #[test]
    fn pattern_is_unanchored_and_case_insensitive() {
        assert!(match_text(Modifier::MatchesPattern, "Re: top SECRET plan", "secret").unwrap());
        assert!(!match_text(Modifier::MatchesPattern, "x secret", "^secret$").unwrap());
        assert!(
            match_text(
                Modifier::MatchesPattern,
                "Bob@Ext.Test",
                r"^[a-z]+@ext\.test$"
            )
            .unwrap()
        );
        assert!(matches!(
            match_text(Modifier::MatchesPattern, "x", "(unclosed"),
            Err(MatchError::Pattern { .. })
        ));
    }

    #[test]
    fn lowercase_equals_to_lowercase() {
        for s in [
            "",
            "abc",
            "ABC",
            "Mixed Case@Example.COM",
            "straße",
            "ÀÉÎ",
            "ΣΑΣ",
            "İstanbul",
            "ǅ",
            "a\u{130}b",
            "KELVIN \u{212A}",
            "[project-1]",
        ] {
            assert_eq!(lowercase(s), s.to_lowercase(), "{s:?}");
        }
        assert!(matches!(lowercase("already lower"), Cow::Borrowed(_)));
        // Every byte value at every position of a 64-byte block, against the plain test.
        for b in 0..=255u8 {
            for at in [0, 7, 8, 63, 64, 70] {
                let mut v = vec![b'x'; 72];
                v[at] = b;
                let plain = v.iter().all(|&c| c.is_ascii() && !c.is_ascii_uppercase());
                assert_eq!(is_ascii_lowercase_only(&v), plain, "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn pattern_size_is_limited() {
        assert!(compile_pattern("a{1000}{1000}").is_err());
    }

    #[test]
    fn subdomains_on_label_boundaries() {
        assert!(is_subdomain_of("mail.ext.test", "ext.test"));
        assert!(is_subdomain_of("A.B.EXT.TEST.", "ext.test"));
        assert!(match_text(Modifier::IsSubdomainOf, "x.Example.COM", "example.com").unwrap());
        assert!(!is_subdomain_of("ext.test", "ext.test"));
        assert!(!is_subdomain_of("examplexcom.org", "example.com"));
        assert!(!is_subdomain_of("badexample.com", "example.com"));
        assert!(!is_subdomain_of(".example.com", "example.com"));
        assert!(!is_subdomain_of("example.com", ""));
    }

    #[test]
    fn numbers_and_versions() {
        assert!(match_number(Modifier::GreaterThan, 31, "30").unwrap());
        assert!(match_number(Modifier::FewerThan, 3, "30").unwrap());
        assert!(match_number(Modifier::LessOrEqual, 30, "30").unwrap());
        assert!(match_number(Modifier::Is, 25, " 25 ").unwrap());
        assert!(match_number(Modifier::Is, 1, "x").is_err());
        assert!(match_version(Modifier::GreaterThan, "9.10", "9.9").unwrap());
        assert!(match_version(Modifier::Is, "2.7", "2.7.0").unwrap());
        assert!(match_version(Modifier::LessThan, "2.7", "10").unwrap());
        assert!(match_version(Modifier::Is, "a.b", "1").is_err());
        assert!(match_number(Modifier::Contains, 1, "1").is_err());
    }

    #[test]
    fn key_ids() {
        assert!(key_id_matches(
            "0xDEADBEEF",
            "0123456789abcdefDEADBEEF"[8..].as_ref()
        ));
        assert!(key_id_matches("89abcdefdeadbeef", "89ABCDEFDEADBEEF"));
        assert!(!key_id_matches("1111111111111111", "89ABCDEFDEADBEEF"));
        assert!(!key_id_matches("00000000", "0000000000000000"));
        assert!(!key_id_matches("BEEF", "89ABCDEFDEADBEEF"));
        assert!(key_id_matches(
            "0000 1111 2222 3333 4444 5555 89AB CDEF DEAD BEEF",
            "89ABCDEFDEADBEEF"
        ));
    }
}
