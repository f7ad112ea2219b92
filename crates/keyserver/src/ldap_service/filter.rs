//! LDAP filter evaluation over the published-key directory. Filters that name an indexed
//! attribute (mailbox, fingerprint, key ID) are answered from the directory's indexes; anything
//! else is a bounded scan. Limits on depth, size and wildcards are checked before any work.

use std::collections::HashSet;
use std::sync::Arc;

pub use ldap3_proto::parse_ldap_filter_str;
use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

use super::schema::key_values;
use crate::directory::{Directory, PublishedKey};

/// Why a filter is refused before evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("filter has more than {0} terms")]
    TooLarge(usize),
    #[error("substring filter needs at least {0} literal characters")]
    WildcardAbuse(usize),
}

/// Limits applied to every filter.
#[derive(Debug, Clone, Copy)]
pub struct FilterLimits {
    pub max_depth: usize,
    pub max_terms: usize,
    /// Literal characters a substring filter must carry (`*a*` would match everything).
    pub min_substring: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits {
            max_depth: 8,
            max_terms: 64,
            min_substring: 3,
        }
    }
}

/// How expensive a filter is, for the rate limiter: exact lookups by fingerprint are cheap,
/// by address dearer (address harvesting), scans dearest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    Fingerprint,
    Email,
    Scan,
}

pub fn check(filter: &LdapFilter, limits: &FilterLimits) -> Result<(), FilterError> {
    let mut terms = 0usize;
    walk(filter, 1, limits, &mut terms)
}

fn walk(
    f: &LdapFilter,
    depth: usize,
    limits: &FilterLimits,
    terms: &mut usize,
) -> Result<(), FilterError> {
    if depth > limits.max_depth {
        return Err(FilterError::TooDeep(limits.max_depth));
    }
    *terms += 1;
    if *terms > limits.max_terms {
        return Err(FilterError::TooLarge(limits.max_terms));
    }
    match f {
        LdapFilter::And(v) | LdapFilter::Or(v) => {
            for c in v {
                walk(c, depth + 1, limits, terms)?;
            }
            Ok(())
        }
        LdapFilter::Not(c) => walk(c, depth + 1, limits, terms),
        LdapFilter::Substring(_, s) => {
            let literal = s.initial.as_deref().map_or(0, str::len)
                + s.any.iter().map(String::len).sum::<usize>()
                + s.final_.as_deref().map_or(0, str::len);
            if literal < limits.min_substring {
                Err(FilterError::WildcardAbuse(limits.min_substring))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn substring_matches(value: &str, s: &LdapSubstringFilter) -> bool {
    let v = value.to_lowercase();
    let mut rest = v.as_str();
    if let Some(init) = &s.initial {
        let init = init.to_lowercase();
        match rest.strip_prefix(init.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for any in &s.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(pos) => rest = &rest[pos + any.len()..],
            None => return false,
        }
    }
    match &s.final_ {
        Some(fin) => rest.ends_with(fin.to_lowercase().as_str()),
        None => true,
    }
}

/// Whether a key entry matches the filter.
pub fn matches(f: &LdapFilter, key: &PublishedKey, certs: usize) -> bool {
    match f {
        LdapFilter::And(v) => v.iter().all(|c| matches(c, key, certs)),
        LdapFilter::Or(v) => v.iter().any(|c| matches(c, key, certs)),
        LdapFilter::Not(c) => !matches(c, key, certs),
        LdapFilter::Equality(a, val) | LdapFilter::Approx(a, val) => key_values(key, a, certs)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(val)),
        LdapFilter::Substring(a, s) => key_values(key, a, certs)
            .iter()
            .any(|v| substring_matches(v, s)),
        LdapFilter::GreaterOrEqual(a, val) => key_values(key, a, certs)
            .iter()
            .any(|v| v.as_str() >= val.as_str()),
        LdapFilter::LessOrEqual(a, val) => key_values(key, a, certs)
            .iter()
            .any(|v| v.as_str() <= val.as_str()),
        LdapFilter::Present(a) => !key_values(key, a, certs).is_empty(),
        // Extensible matching rules are not supported: they match nothing.
        LdapFilter::Extensible(_) => false,
    }
}

/// Candidate keys from the indexes, or `None` when the filter names no indexed attribute and a
/// scan is needed. Candidates include revoked keys: the filter decides (`pgpRevoked=1`).
fn candidates(f: &LdapFilter, dir: &Directory) -> Option<Vec<Arc<PublishedKey>>> {
    match f {
        LdapFilter::Equality(a, v) => match a.to_ascii_lowercase().as_str() {
            "gpgmailbox" | "mail" => Some(dir.by_email_any(v)),
            "gpgfingerprint" | "gpgsubfingerprint" => {
                Some(dir.by_fingerprint_any(v).into_iter().collect())
            }
            "pgpcertid" | "pgpkeyid" | "gpgsubcertid" => Some(dir.by_key_id_any(v)),
            _ => None,
        },
        LdapFilter::And(v) => v.iter().find_map(|c| candidates(c, dir)),
        LdapFilter::Or(v) => {
            let mut out: Vec<Arc<PublishedKey>> = Vec::new();
            let mut seen = HashSet::new();
            for c in v {
                for k in candidates(c, dir)? {
                    if seen.insert(k.fingerprint_bytes().to_vec()) {
                        out.push(k);
                    }
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// The cost class of a filter, for rate limiting.
pub fn cost(f: &LdapFilter, dir: &Directory) -> Cost {
    fn indexed_by(f: &LdapFilter) -> Option<Cost> {
        match f {
            LdapFilter::Equality(a, _) => match a.to_ascii_lowercase().as_str() {
                "gpgmailbox" | "mail" => Some(Cost::Email),
                "gpgfingerprint" | "gpgsubfingerprint" | "pgpcertid" | "pgpkeyid"
                | "gpgsubcertid" => Some(Cost::Fingerprint),
                _ => None,
            },
            LdapFilter::And(v) => v.iter().find_map(indexed_by),
            LdapFilter::Or(v) => {
                let costs: Option<Vec<Cost>> = v.iter().map(indexed_by).collect();
                costs.map(|c| {
                    if c.contains(&Cost::Email) {
                        Cost::Email
                    } else {
                        Cost::Fingerprint
                    }
                })
            }
            _ => None,
        }
    }
    let _ = dir;
    indexed_by(f).unwrap_or(Cost::Scan)
}

/// Keys matching the filter, at most `limit + 1` (so the caller can tell the limit was hit).
pub fn evaluate(f: &LdapFilter, dir: &Directory, limit: usize) -> Vec<Arc<PublishedKey>> {
    let certs_of = |k: &PublishedKey| {
        k.emails()
            .map(|e| dir.certificates_for(e).len())
            .sum::<usize>()
    };
    match candidates(f, dir) {
        Some(keys) => keys
            .into_iter()
            .filter(|k| matches(f, k, certs_of(k)))
            .take(limit.saturating_add(1))
            .collect(),
        None => dir.scan(limit.saturating_add(1), |k| matches(f, k, certs_of(k))),
    }
}

/// Addresses whose S/MIME certificates answer a `mail=` lookup when no OpenPGP key carries the
/// address (certificate-only users).
pub fn certificate_only_addresses(f: &LdapFilter, dir: &Directory) -> Vec<String> {
    fn mails(f: &LdapFilter, out: &mut Vec<String>) {
        match f {
            LdapFilter::Equality(a, v) if a.eq_ignore_ascii_case("mail") => {
                out.push(v.to_ascii_lowercase())
            }
            LdapFilter::And(v) | LdapFilter::Or(v) => v.iter().for_each(|c| mails(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    mails(f, &mut out);
    out.retain(|m| dir.by_email_any(m).is_empty() && !dir.certificates_for(m).is_empty());
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::parse_ldap_filter_str;

    #[test]
    fn limits() {
        let l = FilterLimits::default();
        let deep = "(!".repeat(12) + "(mail=a@b.c)" + &")".repeat(12);
        let f = parse_ldap_filter_str(&deep).unwrap();
        assert_eq!(check(&f, &l), Err(FilterError::TooDeep(8)));
        let wide = format!("(|{})", "(mail=a@b.c)".repeat(100));
        let f = parse_ldap_filter_str(&wide).unwrap();
        assert_eq!(check(&f, &l), Err(FilterError::TooLarge(64)));
        let f = parse_ldap_filter_str("(pgpUserID=*a*)").unwrap();
        assert_eq!(check(&f, &l), Err(FilterError::WildcardAbuse(3)));
        let f = parse_ldap_filter_str("(pgpUserID=*alice*)").unwrap();
        assert!(check(&f, &l).is_ok());
    }

    #[test]
    fn substrings() {
        let s = LdapSubstringFilter {
            initial: Some("Al".into()),
            any: vec!["ce <".into()],
            final_: Some(".ORG>".into()),
        };
        assert!(substring_matches("Alice <alice@example.org>", &s));
        assert!(!substring_matches("Bob <bob@example.org>", &s));
    }
}
