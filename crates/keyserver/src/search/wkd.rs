//! Web Key Directory (draft-koch-openpgp-webkey-service): the recipient's own domain publishes
//! its users' keys over HTTPS. The advanced method (`openpgpkey.<domain>`) is tried first, then
//! the direct method (`<domain>`), as the draft says.

use sha1::{Digest, Sha1};

use super::http::{encode_query, get};
use super::{Failure, SearchOptions, Target};
use crate::material::{KeyMaterial, merge, openpgp_keys_for};

/// z-base-32 (the draft's encoding of the hashed local part).
pub fn zbase32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The hashed local part: z-base-32 of SHA-1 of the local part in lower case (ASCII).
pub fn wkd_hash(local: &str) -> String {
    zbase32(&Sha1::digest(local.to_ascii_lowercase().as_bytes()))
}

/// The advanced and direct URLs for an address, in the order they are tried, as
/// (host, path-and-query).
pub fn wkd_urls(local: &str, domain: &str) -> [(String, String); 2] {
    let domain = domain.to_ascii_lowercase();
    let hash = wkd_hash(local);
    let l = encode_query(local);
    [
        (
            format!("openpgpkey.{domain}"),
            format!("/.well-known/openpgpkey/{domain}/hu/{hash}?l={l}"),
        ),
        (
            domain.clone(),
            format!("/.well-known/openpgpkey/hu/{hash}?l={l}"),
        ),
    ]
}

pub(crate) async fn search(
    target: &Target,
    options: &SearchOptions,
) -> Result<Vec<KeyMaterial>, Failure> {
    let mut first_failure = None;
    let mut answered = false;
    for (host, path) in wkd_urls(&target.local, &target.domain) {
        match get(true, &host, 443, &path, options).await {
            Ok(answer) if answer.status == 200 => {
                let mut out = Vec::new();
                merge(
                    &mut out,
                    openpgp_keys_for(&answer.body, &target.email),
                    options.max_keys,
                );
                return Ok(out);
            }
            // Not published by this method: try the next one.
            Ok(answer) if matches!(answer.status, 404 | 410) => answered = true,
            Ok(answer) => {
                first_failure
                    .get_or_insert(Failure(format!("{host}: HTTP status {}", answer.status)));
            }
            // No openpgpkey.<domain> host is the usual case for the advanced method.
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    // Both methods answered "not here", or one did and the other could not be reached: the
    // domain publishes no key. Only when nothing answered is it a failure.
    match first_failure {
        Some(f) if !answered => Err(f),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_example_hash() {
        // The draft's example: "Joe.Doe" -> iy9q119eutrkn8s1mk4r39qejnbu3n5q.
        assert_eq!(wkd_hash("Joe.Doe"), "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
        let [advanced, direct] = wkd_urls("Joe.Doe", "Example.ORG");
        assert_eq!(advanced.0, "openpgpkey.example.org");
        assert_eq!(
            advanced.1,
            "/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
        );
        assert_eq!(direct.0, "example.org");
        assert_eq!(
            direct.1,
            "/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
        );
    }
}
