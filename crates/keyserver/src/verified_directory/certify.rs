//! OpenPGP for the Verified Directory (sequoia): reading a submitted key, and building what is
//! published: the key with only its served user IDs (no photos), each certified by the
//! Verified Directory Key with a certification that expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgp::cert::amalgamation::ValidAmalgamation as _;
use pgp::packet::signature::SignatureBuilder;
use pgp::parse::Parse as _;
use pgp::policy::StandardPolicy;
use pgp::serialize::Serialize as _;
use pgp::types::{RevocationStatus, SignatureType};
use pgp::{Cert, Packet};
use sequoia_openpgp as pgp;
use signet_model::UnixMillis;

use super::entry::Submission;

/// The largest key accepted, in bytes (armored or binary).
pub const MAX_KEY_BYTES: usize = 256 * 1024;

/// Why a submitted key is refused (shown on the 400 page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("The key is larger than {} KiB.", MAX_KEY_BYTES / 1024)]
    TooLarge,
    #[error("No key was given.")]
    Empty,
    #[error("This is not one OpenPGP public key: {0}")]
    Malformed(String),
    #[error(
        "This is a private key. Submit only your public key (gpg --export --armor), and keep the private key to yourself."
    )]
    Secret,
    #[error("The key is not usable: {0}")]
    Invalid(String),
}

/// Why publishing failed (a server-side problem, not the user's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("the Verified Directory Key cannot sign: {0}")]
    SigningKey(String),
    #[error("cannot build the published key: {0}")]
    Build(String),
}

fn err<E: std::fmt::Display>(f: fn(String) -> SubmitError) -> impl Fn(E) -> SubmitError {
    move |e| f(e.to_string())
}

/// Reads a submission: exactly one valid public key. `stored` (the key submitted before, if
/// any) is merged in, so a re-submission can add subkeys and signatures but not lose them.
pub fn parse_submission(bytes: &[u8], stored: Option<&[u8]>) -> Result<Submission, SubmitError> {
    if bytes.len() > MAX_KEY_BYTES {
        return Err(SubmitError::TooLarge);
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(SubmitError::Empty);
    }
    let certs = signet_crypto::openpgp::parse_certs(bytes).map_err(err(SubmitError::Malformed))?;
    let mut cert = match <[Cert; 1]>::try_from(certs) {
        Ok([c]) => c,
        Err(v) => {
            return Err(SubmitError::Malformed(format!(
                "expected one key, found {}",
                v.len()
            )));
        }
    };
    if cert.is_tsk() {
        return Err(SubmitError::Secret);
    }
    if let Some(old) = stored
        && let Ok(old) = Cert::from_bytes(old)
        && old.fingerprint() == cert.fingerprint()
    {
        cert = old.merge_public(cert).map_err(err(SubmitError::Invalid))?;
    }
    let policy = StandardPolicy::new();
    let valid = cert
        .with_policy(&policy, None)
        .map_err(err(SubmitError::Invalid))?;
    if let RevocationStatus::Revoked(_) = valid.revocation_status() {
        return Err(SubmitError::Invalid("the key is revoked".into()));
    }
    let mut user_ids = Vec::new();
    for ua in valid.userids() {
        if let RevocationStatus::Revoked(_) = ua.revocation_status() {
            continue;
        }
        let text = String::from_utf8_lossy(ua.userid().value()).into_owned();
        let email = ua
            .userid()
            .email()
            .ok()
            .flatten()
            .map(|e| e.to_ascii_lowercase());
        user_ids.push((text, email));
    }
    let mut certificate = Vec::new();
    cert.serialize(&mut certificate)
        .map_err(err(SubmitError::Invalid))?;
    Ok(Submission {
        fingerprint: cert.fingerprint().to_hex(),
        certificate,
        user_ids,
    })
}

fn system_time(ms: UnixMillis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The key as served: `certificate` with only the `served` user IDs (no user attributes), each
/// certified by `vd_key` at `now` for `validity`. Returns the binary key and when the
/// certifications expire.
pub fn publish(
    certificate: &[u8],
    served: &[&str],
    vd_key: &Cert,
    now: UnixMillis,
    validity: Duration,
) -> Result<(Vec<u8>, UnixMillis), PublishError> {
    let build = |e: pgp::anyhow::Error| PublishError::Build(e.to_string());
    let cert = Cert::from_bytes(certificate).map_err(build)?;
    let cert = cert
        .strip_secret_key_material()
        .retain_user_attributes(|_| false)
        .retain_userids(|ua| served.iter().any(|s| s.as_bytes() == ua.userid().value()));
    let key = vd_key.primary_key().key().clone();
    let mut signer = key
        .parts_into_secret()
        .and_then(|k| k.into_keypair())
        .map_err(|e| PublishError::SigningKey(e.to_string()))?;
    let mut sigs: Vec<Packet> = Vec::new();
    for ua in cert.userids() {
        let sig = SignatureBuilder::new(SignatureType::GenericCertification)
            .set_signature_creation_time(system_time(now))
            .and_then(|b| b.set_signature_validity_period(validity))
            .and_then(|b| b.sign_userid_binding(&mut signer, cert.primary_key().key(), ua.userid()))
            .map_err(build)?;
        sigs.push(sig.into());
    }
    let cert = cert.insert_packets(sigs).map(|(c, _)| c).map_err(build)?;
    let mut out = Vec::new();
    cert.serialize(&mut out).map_err(build)?;
    let until = now.saturating_add(u64::try_from(validity.as_millis()).unwrap_or(u64::MAX));
    Ok((out, until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_crypto::openpgp::{self as sopgp, KeyAlgorithm};

    fn two_uid_key() -> Cert {
        let (cert, _) = pgp::cert::CertBuilder::new()
            .add_userid("Dee <d@ext.test>")
            .add_userid("Dee <dee@other.test>")
            .add_signing_subkey()
            .generate()
            .unwrap_or_else(|e| panic!("{e}"));
        cert
    }

    #[test]
    fn a_published_key_has_only_served_user_ids_certified_by_the_vd_key() {
        let key = two_uid_key();
        let public = sopgp::binary_public(&key).unwrap_or_else(|e| panic!("{e}"));
        let sub = parse_submission(&public, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sub.user_ids.len(), 2);
        assert_eq!(sub.fingerprint, key.fingerprint().to_hex());
        let vd = sopgp::generate_user_key("vd@example.com", None, KeyAlgorithm::default(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        // After the VD Key was made: a certification older than its issuer does not verify.
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
            + 1000;
        let (published, until) = publish(
            &sub.certificate,
            &["Dee <d@ext.test>"],
            &vd,
            now,
            Duration::from_secs(183 * 86_400),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(until, now + 183 * 86_400_000);
        let cert = Cert::from_bytes(&published).unwrap_or_else(|e| panic!("{e}"));
        let uids: Vec<String> = cert
            .userids()
            .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned())
            .collect();
        assert_eq!(uids, vec!["Dee <d@ext.test>".to_string()]);
        assert_eq!(sopgp::keys::organization_certifications(&cert, &vd), 1);
        assert!(!cert.is_tsk());
    }

    #[test]
    fn bad_submissions_are_refused() {
        assert_eq!(parse_submission(b"  \n", None), Err(SubmitError::Empty));
        assert!(matches!(
            parse_submission(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n", None),
            Err(SubmitError::Malformed(_))
        ));
        assert_eq!(
            parse_submission(&vec![b'a'; MAX_KEY_BYTES + 1], None),
            Err(SubmitError::TooLarge)
        );
        let key = two_uid_key();
        let secret = sopgp::binary_secret(&key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse_submission(&secret, None), Err(SubmitError::Secret));
    }
}
