//! Key generation, the Organization Key's certifications, revocation and secret handling.

use super::{Cert, Fingerprint, POLICY, cert_name, pgp_error};
use crate::CryptoError;
use pgp::cert::prelude::*;
use pgp::crypto::{KeyPair, Password};
use pgp::packet::signature::SignatureBuilder;
use pgp::packet::signature::subpacket::SubpacketTag;
use pgp::packet::{Packet, UserID};
use pgp::types::{Features, KeyFlags, ReasonForRevocation, RevocationStatus, SignatureType};
use sequoia_openpgp as pgp;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The public-key algorithm of a generated key. Ed25519/Cv25519 by default; RSA where a
/// policy or a partner's software asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// Ed25519 primary and signing keys, Cv25519 (X25519) encryption key.
    #[default]
    Cv25519,
    /// RSA 2048 bits (older partners' software).
    Rsa2048,
    /// RSA 3072 bits (the RSA default where a policy asks for RSA).
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

impl KeyAlgorithm {
    fn suite(self) -> CipherSuite {
        match self {
            KeyAlgorithm::Cv25519 => CipherSuite::Cv25519,
            KeyAlgorithm::Rsa2048 => CipherSuite::RSA2k,
            KeyAlgorithm::Rsa3072 => CipherSuite::RSA3k,
            KeyAlgorithm::Rsa4096 => CipherSuite::RSA4k,
        }
    }

    /// The name used in configuration and the API ("cv25519", "rsa3072", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Cv25519 => "cv25519",
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        }
    }
}

impl FromStr for KeyAlgorithm {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cv25519" | "ed25519" | "curve25519" | "25519" => Ok(KeyAlgorithm::Cv25519),
            "rsa2048" | "rsa2k" => Ok(KeyAlgorithm::Rsa2048),
            "rsa3072" | "rsa3k" | "rsa" => Ok(KeyAlgorithm::Rsa3072),
            "rsa4096" | "rsa4k" => Ok(KeyAlgorithm::Rsa4096),
            other => Err(CryptoError::NotAllowed(format!(
                "unknown key algorithm {other:?} (cv25519, rsa2048, rsa3072, rsa4096)"
            ))),
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The builder every generated key starts from: certification-only primary, a signing and
/// an encryption subkey, no expiry, SEIPDv1 only (gpg interop, see the module docs).
fn builder(algo: KeyAlgorithm) -> Result<CertBuilder<'static>, CryptoError> {
    CertBuilder::new()
        .set_cipher_suite(algo.suite())
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .set_validity_period(None)
        .set_features(Features::empty().set_seipdv1())
        .map_err(pgp_error("cannot set key features"))
        .map(|b| {
            b.add_signing_subkey().add_subkey(
                KeyFlags::empty()
                    .set_transport_encryption()
                    .set_storage_encryption(),
                None,
                None,
            )
        })
}

fn normalize_domains(domains: &[String]) -> Result<Vec<String>, CryptoError> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty() || d.contains(['@', '<', '>', ' ']) {
            return Err(CryptoError::NotAllowed(format!("invalid domain {d:?}")));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(CryptoError::NotAllowed(
            "an organization key needs at least one managed domain".into(),
        ));
    }
    Ok(out)
}

/// The Organization Key's user ID for one managed domain, as the reference product names
/// it.
pub fn organization_user_id(domain: &str) -> String {
    format!("{domain} Organization Key <pgp-universal-admin@{domain}>")
}

/// Generates the Organization Key: one user ID per managed domain (the first is primary).
pub fn generate_organization_key(
    domains: &[String],
    algo: KeyAlgorithm,
) -> Result<Cert, CryptoError> {
    let domains = normalize_domains(domains)?;
    let mut b = builder(algo)?;
    for d in &domains {
        b = b.add_userid(organization_user_id(d));
    }
    let (cert, _rev) = b.generate().map_err(pgp_error("key generation failed"))?;
    Ok(cert)
}

/// A signer from the primary key's secret (certifications and revocations are made by the
/// primary key).
fn primary_signer(cert: &Cert) -> Result<KeyPair, CryptoError> {
    let key = cert.primary_key().key().clone();
    if !key.has_unencrypted_secret() {
        return Err(CryptoError::NoKey(format!(
            "the primary secret key of {} is not available (missing or passphrase-protected)",
            cert_name(cert)
        )));
    }
    key.parts_into_secret()
        .and_then(|k| k.into_keypair())
        .map_err(pgp_error("cannot use the primary key"))
}

fn org_domain(uid: &UserID) -> Option<String> {
    let email = uid.email().ok().flatten()?.to_ascii_lowercase();
    email
        .strip_prefix("pgp-universal-admin@")
        .map(str::to_string)
}

/// Brings the Organization Key's user IDs in line with the managed domains: binds a user ID
/// for each new domain (self-signature copied from the primary user ID's, so preferences and
/// features stay the same) and revokes the user IDs of domains no longer managed.
pub fn set_organization_domains(org: &Cert, domains: &[String]) -> Result<Cert, CryptoError> {
    let domains = normalize_domains(domains)?;
    let mut signer = primary_signer(org)?;
    let vc = org
        .with_policy(&POLICY, None)
        .map_err(pgp_error("the organization key is not valid"))?;
    let template = vc
        .primary_userid()
        .map_err(pgp_error("the organization key has no valid user ID"))?
        .binding_signature()
        .clone();
    let mut current = Vec::new();
    let mut packets: Vec<Packet> = Vec::new();
    for ua in org.userids() {
        let revoked = matches!(
            ua.revocation_status(&POLICY, None),
            RevocationStatus::Revoked(_)
        );
        let Some(domain) = org_domain(ua.userid()) else {
            continue;
        };
        if revoked {
            continue;
        }
        if domains.contains(&domain) {
            current.push(domain);
        } else {
            let sig = UserIDRevocationBuilder::new()
                .set_reason_for_revocation(
                    ReasonForRevocation::UIDRetired,
                    b"the domain is no longer managed",
                )
                .and_then(|b| b.build(&mut signer, org, ua.userid(), None))
                .map_err(pgp_error("cannot revoke a user ID"))?;
            packets.push(sig.into());
        }
    }
    for d in domains.iter().filter(|d| !current.contains(d)) {
        let uid = UserID::from(organization_user_id(d));
        let mut b = SignatureBuilder::from(template.clone());
        b.hashed_area_mut().remove_all(SubpacketTag::PrimaryUserID);
        let sig = b
            .set_signature_creation_time(std::time::SystemTime::now())
            .and_then(|b| uid.bind(&mut signer, org, b))
            .map_err(pgp_error("cannot bind a user ID"))?;
        packets.push(uid.into());
        packets.push(sig.into());
    }
    if packets.is_empty() {
        return Ok(org.clone());
    }
    org.clone()
        .insert_packets(packets)
        .map(|(c, _)| c)
        .map_err(pgp_error("cannot update the organization key"))
}

/// Generates a user's key: UID `Name <email>` (or `<email>`), certified by the Organization
/// Key when one is given.
pub fn generate_user_key(
    email: &str,
    display_name: Option<&str>,
    algo: KeyAlgorithm,
    organization_key: Option<&Cert>,
) -> Result<Cert, CryptoError> {
    let email = email.trim();
    if email.is_empty() || !email.contains('@') || email.contains(['<', '>', ' ']) {
        return Err(CryptoError::NotAllowed(format!(
            "invalid email address {email:?}"
        )));
    }
    let uid = match display_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} <{email}>"),
        None => format!("<{email}>"),
    };
    let (cert, _rev) = builder(algo)?
        .add_userid(uid)
        .generate()
        .map_err(pgp_error("key generation failed"))?;
    match organization_key {
        Some(org) => certify(org, cert),
        None => Ok(cert),
    }
}

/// Certifies every valid, non-revoked user ID of `cert` with the Organization Key (a
/// GenericCertification, what the reference product's "signed by the Organization Key"
/// means). User IDs the Organization Key already validly certified are left alone.
pub fn certify(org: &Cert, cert: Cert) -> Result<Cert, CryptoError> {
    let mut signer = primary_signer(org)?;
    let vc = cert
        .with_policy(&POLICY, None)
        .map_err(pgp_error("the certificate is not valid"))?;
    let mut sigs: Vec<Packet> = Vec::new();
    for ua in vc.userids() {
        if matches!(ua.revocation_status(), RevocationStatus::Revoked(_)) {
            continue;
        }
        if valid_certifications(org, &cert, ua.bundle()) > 0 {
            continue;
        }
        let sig = ua
            .userid()
            .certify(
                &mut signer,
                &cert,
                SignatureType::GenericCertification,
                None,
                None,
            )
            .map_err(pgp_error("certification failed"))?;
        sigs.push(sig.into());
    }
    if sigs.is_empty() {
        return Ok(cert);
    }
    cert.insert_packets(sigs)
        .map(|(c, _)| c)
        .map_err(pgp_error("cannot add the certification"))
}

fn valid_certifications(org: &Cert, cert: &Cert, ua: &UserIDBundle) -> usize {
    let org_handle = org.key_handle();
    ua.certifications()
        .filter(|sig| sig.get_issuers().iter().any(|h| h.aliases(&org_handle)))
        .filter(|sig| {
            (*sig)
                .clone()
                .verify_userid_binding(
                    org.primary_key().key(),
                    cert.primary_key().key(),
                    ua.userid(),
                )
                .is_ok()
        })
        .count()
}

/// How many of `cert`'s user IDs carry a certification by `org` that verifies.
pub fn organization_certifications(cert: &Cert, org: &Cert) -> usize {
    cert.userids()
        .filter(|ua| valid_certifications(org, cert, ua.bundle()) > 0)
        .count()
}

/// Revokes a key with its own primary key (a hard revocation: reason "unspecified") and, as
/// the reference guide says, removes the Organization Key's certifications from it so the
/// organization no longer vouches for it.
pub fn revoke(cert: &Cert, org_fingerprint: Option<&Fingerprint>) -> Result<Cert, CryptoError> {
    let mut signer = primary_signer(cert)?;
    let sig = CertRevocationBuilder::new()
        .set_reason_for_revocation(
            ReasonForRevocation::Unspecified,
            b"revoked by the administrator",
        )
        .and_then(|b| b.build(&mut signer, cert, None))
        .map_err(pgp_error("cannot make the revocation"))?;
    let (cert, _) = cert
        .clone()
        .insert_packets(sig)
        .map_err(pgp_error("cannot add the revocation"))?;
    match org_fingerprint {
        Some(fpr) => remove_certifications_by(cert, fpr),
        None => Ok(cert),
    }
}

fn remove_certifications_by(cert: Cert, fpr: &Fingerprint) -> Result<Cert, CryptoError> {
    let handle = pgp::KeyHandle::from(fpr.clone());
    let packets = cert.as_tsk().into_packets().filter(|p| match p {
        Packet::Signature(sig) => {
            let certification = matches!(
                sig.typ(),
                SignatureType::GenericCertification
                    | SignatureType::PersonaCertification
                    | SignatureType::CasualCertification
                    | SignatureType::PositiveCertification
            );
            !(certification && sig.get_issuers().iter().any(|h| h.aliases(&handle)))
        }
        _ => true,
    });
    Cert::from_packets(packets).map_err(pgp_error("cannot rebuild the certificate"))
}

/// The certificate without any secret key material.
pub fn public_only(cert: &Cert) -> Cert {
    cert.clone().strip_secret_key_material()
}

/// Key IDs of the keys whose latest binding allows encryption (policy-free, so an expired
/// or SHA-1-bound subkey still counts: this only decides which secrets to keep).
fn encryption_key_ids(cert: &Cert) -> Vec<pgp::KeyID> {
    let mut out = Vec::new();
    if let Ok(vc) = cert.with_policy(&POLICY, None) {
        for ka in vc.keys() {
            if ka
                .key_flags()
                .is_some_and(|f| f.for_transport_encryption() || f.for_storage_encryption())
            {
                out.push(ka.key().keyid());
            }
        }
    }
    out
}

/// Server-Client Key Mode: the server keeps only the encryption secret; the primary and
/// signing secrets are dropped (the user holds them).
pub fn without_signing_secret(cert: &Cert) -> Cert {
    let keep = encryption_key_ids(cert);
    let packets = cert.as_tsk().into_packets().map(|p| match p {
        Packet::SecretKey(k) if !keep.contains(&k.keyid()) => Packet::PublicKey(k.take_secret().0),
        Packet::SecretSubkey(k) if !keep.contains(&k.keyid()) => {
            Packet::PublicSubkey(k.take_secret().0)
        }
        other => other,
    });
    // Rebuilding from a valid certificate's own packets cannot fail; if it ever did, the
    // safe answer is no secrets at all.
    Cert::from_packets(packets).unwrap_or_else(|_| public_only(cert))
}

/// Applies `f` to every secret key packet.
fn map_secrets(
    cert: Cert,
    f: &dyn Fn(
        pgp::packet::Key<pgp::packet::key::SecretParts, pgp::packet::key::UnspecifiedRole>,
    ) -> Result<
        pgp::packet::Key<pgp::packet::key::SecretParts, pgp::packet::key::UnspecifiedRole>,
        CryptoError,
    >,
) -> Result<Cert, CryptoError> {
    let mut packets = Vec::new();
    for p in cert.as_tsk().into_packets() {
        packets.push(match p {
            Packet::SecretKey(k) => {
                Packet::SecretKey(f(k.role_into_unspecified())?.role_into_primary())
            }
            Packet::SecretSubkey(k) => {
                Packet::SecretSubkey(f(k.role_into_unspecified())?.role_into_subordinate())
            }
            other => other,
        });
    }
    Cert::from_packets(packets.into_iter()).map_err(pgp_error("cannot rebuild the certificate"))
}

/// Encrypts every unprotected secret key with a passphrase (for exports).
pub(crate) fn protect_secret(cert: Cert, passphrase: &str) -> Result<Cert, CryptoError> {
    let password = Password::from(passphrase);
    map_secrets(cert, &|k| {
        if k.has_unencrypted_secret() {
            k.encrypt_secret(&password)
                .map_err(pgp_error("cannot protect a secret key"))
        } else {
            Ok(k)
        }
    })
}

/// Removes passphrase protection from every secret key (for imports). A wrong passphrase is
/// [`CryptoError::WrongPassphrase`].
pub fn unlock_secret(cert: &Cert, passphrase: &str) -> Result<Cert, CryptoError> {
    let password = Password::from(passphrase);
    map_secrets(cert.clone(), &|k| {
        if k.has_unencrypted_secret() {
            Ok(k)
        } else {
            k.decrypt_secret(&password)
                .map_err(|_| CryptoError::WrongPassphrase)
        }
    })
}

/// Renews a key that expires within `margin` (guide §10.1: the Organization Key renews itself
/// one day before expiry, with the same settings): the primary key and every subkey with an
/// expiry get a new one, as far past now as their validity period was long. `Ok(None)`: the key
/// does not expire, or not that soon.
pub fn renew_if_expiring(
    cert: &Cert,
    margin: std::time::Duration,
) -> Result<Option<Cert>, CryptoError> {
    let now = std::time::SystemTime::now();
    let vc = cert
        .with_policy(&POLICY, None)
        .map_err(pgp_error("the key is not valid"))?;
    let primary = vc.primary_key();
    let Some(expires) = primary.key_expiration_time() else {
        return Ok(None);
    };
    if expires > now + margin {
        return Ok(None);
    }
    let period = expires
        .duration_since(primary.key().creation_time())
        .unwrap_or(std::time::Duration::from_secs(365 * 24 * 3600));
    let new_expiry = now + period;
    let mut signer = primary_signer(cert)?;
    let mut sigs = primary
        .set_expiration_time(&mut signer, Some(new_expiry))
        .map_err(pgp_error("cannot renew the primary key"))?;
    for sub in vc.keys().subkeys() {
        if sub.key_expiration_time().is_none() {
            continue;
        }
        // A signing subkey's binding carries a back signature made by the subkey itself.
        let mut sub_signer = if sub.for_signing() {
            Some(
                sub.key()
                    .clone()
                    .parts_into_secret()
                    .and_then(|k| k.into_keypair())
                    .map_err(pgp_error("cannot use a signing subkey to renew it"))?,
            )
        } else {
            None
        };
        let sub_sigs = sub
            .set_expiration_time(
                &mut signer,
                sub_signer
                    .as_mut()
                    .map(|s| s as &mut dyn sequoia_openpgp::crypto::Signer),
                Some(new_expiry),
            )
            .map_err(pgp_error("cannot renew a subkey"))?;
        sigs.extend(sub_sigs);
    }
    let (renewed, _) = cert
        .clone()
        .insert_packets(sigs)
        .map_err(pgp_error("cannot attach the renewal"))?;
    Ok(Some(renewed))
}

#[cfg(test)]
mod renewal_tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_key_near_expiry_is_renewed_for_its_validity_period_and_others_are_left_alone() {
        let (short, _) = CertBuilder::general_purpose(Some("Org <org@example.com>"))
            .set_validity_period(Duration::from_secs(3600))
            .generate()
            .unwrap();
        let before = short
            .with_policy(&POLICY, None)
            .unwrap()
            .primary_key()
            .key_expiration_time()
            .unwrap();
        // Not due with a margin shorter than the remaining hour.
        assert!(
            renew_if_expiring(&short, Duration::from_secs(60))
                .unwrap()
                .is_none()
        );
        let renewed = renew_if_expiring(&short, Duration::from_secs(24 * 3600))
            .unwrap()
            .expect("due within a day");
        let vc = renewed.with_policy(&POLICY, None).unwrap();
        let after = vc.primary_key().key_expiration_time().unwrap();
        assert!(after > before, "the expiry moved forward");
        assert!(after > SystemTime::now() + Duration::from_secs(3000));
        for sub in vc.keys().subkeys() {
            if let Some(t) = sub.key_expiration_time() {
                assert!(t >= after - Duration::from_secs(2));
            }
        }
        let never =
            generate_organization_key(&["example.com".into()], KeyAlgorithm::Cv25519).unwrap();
        assert!(
            renew_if_expiring(&never, Duration::from_secs(24 * 3600))
                .unwrap()
                .is_none()
        );
    }
}
