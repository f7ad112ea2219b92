//! Web Key Directory (draft-koch-openpgp-webkey-service) for every managed domain, on the same
//! listener as HKP: the advanced method (`https://openpgpkey.<domain>/.well-known/openpgpkey/
//! <domain>/hu/<hash>`) and the direct method (`https://<domain>/.well-known/openpgpkey/hu/
//! <hash>`, where the domain is the `Host`), plus the `policy` files both methods need.
//!
//! The answer is the binary transferable public key of every published, non-revoked key with
//! that address, whole: the keys are served as the directory holds them (user IDs for other
//! addresses included) rather than re-cut per request; clients import what matches (GnuPG
//! keeps only the matching user ID when it locates a key through WKD).

use std::sync::Arc;

use crate::directory::{Directory, PublishedKey};
use crate::search::wkd_hash;

/// Where WKD lives.
pub const PREFIX: &str = "/.well-known/openpgpkey/";
/// At most this many keys per address.
const MAX_KEYS: usize = 16;

/// A WKD request, parsed from the path, the `l=` parameter and the Host header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WkdRequest {
    /// `hu/<hash>` for `domain`; `local` is the `l=` hint when given.
    Key {
        domain: String,
        hash: String,
        local: Option<String>,
    },
    /// The policy file of `domain`.
    Policy { domain: String },
}

/// Parses a path under [`PREFIX`]; `None` when it is not a WKD URL this server knows.
pub fn parse(path: &str, query: Option<&str>, host: Option<&str>) -> Option<WkdRequest> {
    let rest = path.strip_prefix(PREFIX)?;
    let host_domain = || host.map(host_without_port).filter(|h| valid_domain(h));
    let parts: Vec<&str> = rest.split('/').collect();
    let (domain, tail) = match parts.as_slice() {
        ["policy"] => return host_domain().map(|domain| WkdRequest::Policy { domain }),
        ["hu", hash] => (host_domain()?, *hash),
        [domain, "policy"] => {
            let domain = domain.to_ascii_lowercase();
            return valid_domain(&domain).then_some(WkdRequest::Policy { domain });
        }
        [domain, "hu", hash] => (domain.to_ascii_lowercase(), *hash),
        _ => return None,
    };
    if !valid_domain(&domain) || !valid_hash(tail) {
        return None;
    }
    let local = query.and_then(local_hint);
    Some(WkdRequest::Key {
        domain,
        hash: tail.to_string(),
        local,
    })
}

/// The keys a `Key` request names.
pub fn keys_for(
    directory: &Directory,
    domain: &str,
    hash: &str,
    local: Option<&str>,
) -> Vec<Arc<PublishedKey>> {
    // The hint is only trusted when it hashes to the requested value.
    if let Some(local) = local.filter(|l| wkd_hash(l) == hash) {
        let mut keys = directory.by_email(&format!("{local}@{domain}"));
        keys.truncate(MAX_KEYS);
        return keys;
    }
    // No usable hint: find the address by hashing the local parts of this domain's addresses.
    // A linear scan, so these requests draw from the slow rate-limit bucket and run off the
    // I/O threads; GnuPG always sends the hint.
    let suffix = format!("@{domain}");
    directory.scan(MAX_KEYS, |k| {
        !k.revoked()
            && k.emails().any(|e| {
                e.strip_suffix(suffix.as_str())
                    .is_some_and(|local| wkd_hash(local) == hash)
            })
    })
}

fn local_hint(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("l=")?;
        let local = super::query::decode(value).ok()?;
        (!local.is_empty() && local.len() <= 64 && !local.contains(['@', '/'])).then_some(local)
    })
}

fn host_without_port(host: &str) -> String {
    let host = host.trim();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// 32 characters of the z-base-32 alphabet (160 bits of SHA-1).
fn valid_hash(hash: &str) -> bool {
    hash.len() == 32
        && hash
            .bytes()
            .all(|b| b"ybndrfg8ejkmcpqxot1uwisza345h769".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "iy9q119eutrkn8s1mk4r39qejnbu3n5q"; // "Joe.Doe" in the draft

    #[test]
    fn advanced_and_direct_urls() {
        assert_eq!(
            parse(
                &format!("/.well-known/openpgpkey/Example.ORG/hu/{HASH}"),
                Some("l=Joe.Doe"),
                Some("openpgpkey.example.org")
            ),
            Some(WkdRequest::Key {
                domain: "example.org".into(),
                hash: HASH.into(),
                local: Some("Joe.Doe".into())
            })
        );
        assert_eq!(
            parse(
                &format!("/.well-known/openpgpkey/hu/{HASH}"),
                None,
                Some("Example.org:10443")
            ),
            Some(WkdRequest::Key {
                domain: "example.org".into(),
                hash: HASH.into(),
                local: None
            })
        );
        assert_eq!(
            parse("/.well-known/openpgpkey/policy", None, Some("example.org")),
            Some(WkdRequest::Policy {
                domain: "example.org".into()
            })
        );
        assert_eq!(
            parse("/.well-known/openpgpkey/example.org/policy", None, None),
            Some(WkdRequest::Policy {
                domain: "example.org".into()
            })
        );
    }

    #[test]
    fn refuses_odd_paths() {
        for (path, host) in [
            ("/.well-known/openpgpkey/hu/short", Some("example.org")),
            (&format!("/.well-known/openpgpkey/hu/{HASH}") as &str, None),
            ("/.well-known/openpgpkey/../etc/hu/x", None),
            ("/.well-known/openpgpkey/a b/policy", None),
            ("/.well-known/openpgpkey/example.org/hu/", None),
            ("/.well-known/openpgpkey/", Some("example.org")),
        ] {
            assert_eq!(parse(path, None, host), None, "{path}");
        }
    }

    #[test]
    fn the_draft_hash() {
        assert_eq!(wkd_hash("Joe.Doe"), HASH);
    }
}
