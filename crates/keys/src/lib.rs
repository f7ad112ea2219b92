//! The key service: what the key routes (and the setup assistant, backups and the mail
//! path) do with the organization's keys and users' keys. It joins the crypto crate to the
//! store: keys are made or checked here, sealed under the cluster data key, and committed as
//! commands. Nothing secret leaves this module unsealed except on an explicit export.

use std::sync::Arc;

use signet_crypto::CryptoError;
use signet_crypto::openpgp::{self, Cert, KeyAlgorithm};
use signet_crypto::smime::{self, CaIdentity, CertificateFields, KeyKind, SmimeIdentity};
use signet_model::{
    Consumer, ConsumerKind, KeyMode, ManagedKey, OrganizationItem, OrganizationItemKind, Sealed,
    SmimeCertificate,
};
use signet_store::{Command, Node, StateView, StoreError, now_millis};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

pub type KeyResult<T> = Result<T, KeyError>;

/// Labels bind each sealed blob to its purpose (a sealed user key cannot pass for the
/// Organization Key).
pub fn label_for(kind: OrganizationItemKind) -> String {
    format!("organization item {}", kind.as_str())
}
pub const LABEL_USER_KEY: &str = "managed key secret";
pub const LABEL_SMIME_KEY: &str = "S/MIME private key";

pub fn seal(node: &Node, label: &str, plaintext: &[u8]) -> KeyResult<Sealed> {
    Ok(Sealed(node.data_key()?.seal(label, plaintext)))
}

pub fn open(node: &Node, label: &str, sealed: &Sealed) -> KeyResult<Vec<u8>> {
    Ok(node.data_key()?.open(label, &sealed.0)?)
}

/// The Organization Key with its secret, or a clear error.
pub fn organization_key(node: &Node, view: &StateView) -> KeyResult<Cert> {
    let item = view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .ok_or_else(|| KeyError::NotFound("there is no Organization Key yet; run setup".into()))?;
    let secret = item
        .secret
        .as_ref()
        .ok_or_else(|| KeyError::Invalid("the Organization Key has no private key".into()))?;
    Ok(openpgp::parse_cert(&open(
        node,
        &label_for(OrganizationItemKind::OrganizationKey),
        secret,
    )?)?)
}

/// The Organization Certificate with its key, if there is one.
pub fn organization_certificate(node: &Node, view: &StateView) -> KeyResult<Option<CaIdentity>> {
    let Some(item) = view.organization_item(OrganizationItemKind::OrganizationCertificate)? else {
        return Ok(None);
    };
    let Some(secret) = item.secret.as_ref() else {
        return Ok(None);
    };
    Ok(Some(CaIdentity {
        cert_der: item.public.clone(),
        key_pkcs8_der: open(
            node,
            &label_for(OrganizationItemKind::OrganizationCertificate),
            secret,
        )?,
    }))
}

fn domains(view: &StateView) -> KeyResult<Vec<String>> {
    let domains: Vec<String> = view
        .managed_domains()?
        .into_iter()
        .map(|d| d.name)
        .collect();
    if domains.is_empty() {
        return Err(KeyError::Invalid(
            "add a managed domain first: the Organization Key has one user ID per managed domain"
                .into(),
        ));
    }
    Ok(domains)
}

fn openpgp_item(
    node: &Node,
    kind: OrganizationItemKind,
    cert: &Cert,
    generated: bool,
) -> KeyResult<OrganizationItem> {
    let secret = if cert.is_tsk() && kind != OrganizationItemKind::Adk {
        Some(seal(
            node,
            &label_for(kind),
            &openpgp::binary_secret(cert)?,
        )?)
    } else {
        None
    };
    Ok(OrganizationItem {
        kind,
        public: openpgp::binary_public(cert)?,
        secret,
        fingerprint: cert.fingerprint().to_hex(),
        added_at: now_millis(),
        generated,
    })
}

/// Puts a new Organization Key in place (generated or imported). The data key is also
/// encrypted to it, so it can unlock a member (guide §16).
pub async fn set_organization_key(
    node: &Arc<Node>,
    cert: Cert,
    generated: bool,
    confirmed: bool,
) -> KeyResult<Cert> {
    if !cert.is_tsk() {
        return Err(KeyError::Invalid(
            "the Organization Key must include its private key".into(),
        ));
    }
    let item = openpgp_item(
        node,
        OrganizationItemKind::OrganizationKey,
        &cert,
        generated,
    )?;
    let wrapped = openpgp::encrypt_bytes(&[&cert], node.data_key()?.expose(), None, false)?;
    node.execute(Command::SetOrganizationItem {
        item,
        confirmed,
        data_key_for_organization_key: Some(wrapped),
    })
    .await?;
    // A confirmed replacement deletes the Ignition Keys: keep the data key on disk again now.
    node.reconcile_data_key_custody()?;
    Ok(cert)
}

pub async fn generate_organization_key(
    node: &Arc<Node>,
    algorithm: KeyAlgorithm,
    confirmed: bool,
) -> KeyResult<Cert> {
    let view = node.read().await?;
    check_replace_confirmed(view, confirmed)?;
    let cert = openpgp::generate_organization_key(&domains(view)?, algorithm)?;
    set_organization_key(node, cert, true, confirmed).await
}

pub async fn import_organization_key(
    node: &Arc<Node>,
    armored: &[u8],
    passphrase: Option<&str>,
    confirmed: bool,
) -> KeyResult<Cert> {
    let view = node.read().await?;
    check_replace_confirmed(view, confirmed)?;
    let mut cert = openpgp::parse_cert(armored)?;
    if let Some(p) = passphrase {
        cert = openpgp::unlock_secret(&cert, p)?;
    }
    set_organization_key(node, cert, false, confirmed).await
}

/// Says what replacing the Organization Key does before anything is generated.
fn check_replace_confirmed(view: &StateView, confirmed: bool) -> KeyResult<()> {
    if !confirmed
        && view
            .organization_item(OrganizationItemKind::OrganizationKey)?
            .is_some()
    {
        return Err(KeyError::Conflict(
            signet_store::state::REPLACE_ORGANIZATION_KEY_WARNING.to_string(),
        ));
    }
    Ok(())
}

/// Keeps the Organization Key's user IDs equal to the managed domains.
pub async fn sync_organization_domains(node: &Arc<Node>) -> KeyResult<()> {
    let view = node.read().await?;
    if view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .is_none()
        || node.is_locked()
    {
        return Ok(());
    }
    let domains: Vec<String> = view
        .managed_domains()?
        .into_iter()
        .map(|d| d.name)
        .collect();
    if domains.is_empty() {
        return Ok(());
    }
    let org = organization_key(node, view)?;
    let updated = openpgp::set_organization_domains(&org, &domains)?;
    let mut item = openpgp_item(node, OrganizationItemKind::OrganizationKey, &updated, true)?;
    if let Some(old) = view.organization_item(OrganizationItemKind::OrganizationKey)? {
        item.generated = old.generated;
        item.added_at = old.added_at;
    }
    // Same key, new user IDs: the data-key wrap stays valid, no confirmation needed.
    node.execute(Command::SetOrganizationItem {
        item,
        confirmed: true,
        data_key_for_organization_key: view.data_key_for_organization_key()?,
    })
    .await?;
    Ok(())
}

/// The default subject of a self-signed Organization Certificate.
pub fn default_certificate_fields(view: &StateView) -> KeyResult<CertificateFields> {
    let domain = domains(view)?.remove(0);
    Ok(CertificateFields {
        common_name: format!("{domain} Organization Certificate"),
        contact_email: Some(format!("pgp-universal-admin@{domain}")),
        organization: domain,
        organizational_unit: None,
        locality: None,
        state: None,
        country: None,
    })
}

/// Puts an X.509 CA (the Organization Certificate or the External User Root Certificate) with
/// its sealed key in its slot.
pub async fn set_certificate_item(
    node: &Arc<Node>,
    kind: OrganizationItemKind,
    ca: CaIdentity,
    generated: bool,
) -> KeyResult<()> {
    let info = smime::CertificateInfo::of(&ca.cert_der)?;
    let item = OrganizationItem {
        kind,
        public: ca.cert_der.clone(),
        secret: Some(seal(node, &label_for(kind), &ca.key_pkcs8_der)?),
        fingerprint: info.sha256_fingerprint.to_uppercase(),
        added_at: now_millis(),
        generated,
    };
    node.execute(Command::SetOrganizationItem {
        item,
        confirmed: false,
        data_key_for_organization_key: None,
    })
    .await?;
    Ok(())
}

/// Imports one of the other organization items (ADK, External User Root Key, Verified
/// Directory Key) with the guide's rules for each.
pub async fn import_openpgp_item(
    node: &Arc<Node>,
    kind: OrganizationItemKind,
    data: &[u8],
    passphrase: Option<&str>,
) -> KeyResult<Cert> {
    if smime::is_x509(data) {
        return Err(KeyError::Invalid(format!(
            "the {} must be an OpenPGP key; an X.509 certificate or PKCS#12 file is not accepted",
            kind.title()
        )));
    }
    let mut cert = openpgp::parse_cert(data)?;
    if let Some(p) = passphrase {
        cert = openpgp::unlock_secret(&cert, p)?;
    }
    match kind {
        OrganizationItemKind::Adk => cert = openpgp::public_only(&cert),
        OrganizationItemKind::VerifiedDirectoryKey | OrganizationItemKind::ExternalUserRootKey
            if !cert.is_tsk() =>
        {
            return Err(KeyError::Invalid(format!(
                "the {} must include its private key",
                kind.title()
            )));
        }
        _ => {}
    }
    let item = openpgp_item(node, kind, &cert, false)?;
    node.execute(Command::SetOrganizationItem {
        item,
        confirmed: false,
        data_key_for_organization_key: None,
    })
    .await?;
    Ok(cert)
}

/// Makes a key for a user in the given key mode (SKM: generated here; the other modes need the
/// user's key).
pub struct NewKey<'a> {
    pub mode: KeyMode,
    pub algorithm: KeyAlgorithm,
    /// The user's key (CKM, GKM: public or passphrase-protected; SCKM: with the encryption
    /// subkey's secret).
    pub provided: Option<&'a [u8]>,
}

pub async fn make_managed_key(
    node: &Arc<Node>,
    view: &StateView,
    consumer: &Consumer,
    new: NewKey<'_>,
) -> KeyResult<ManagedKey> {
    let email = consumer.email.to_string();
    let org = match view.organization_item(OrganizationItemKind::OrganizationKey)? {
        Some(_) => Some(organization_key(node, view)?),
        None => None,
    };
    let adk = view
        .organization_item(OrganizationItemKind::Adk)?
        .map(|a| a.fingerprint);
    let (cert, secret) = match (new.mode, new.provided) {
        (KeyMode::Skm, None) => {
            let algorithm = new.algorithm;
            let display = consumer.display_name.clone();
            let org2 = org.clone();
            let email2 = email.clone();
            // Key generation (RSA especially) is CPU work: off the async threads.
            let cert = tokio::task::spawn_blocking(move || {
                openpgp::generate_user_key(&email2, display.as_deref(), algorithm, org2.as_ref())
            })
            .await
            .map_err(|e| KeyError::Invalid(format!("key generation failed: {e}")))??;
            let secret = openpgp::binary_secret(&cert)?;
            (cert, Some(secret))
        }
        (KeyMode::Skm, Some(data)) => {
            let cert = openpgp::parse_cert(data)?;
            if !cert.is_tsk() {
                return Err(KeyError::Invalid(
                    "an imported SKM key must include its private key".into(),
                ));
            }
            let cert = certify_if(&org, cert)?;
            let secret = openpgp::binary_secret(&cert)?;
            (cert, Some(secret))
        }
        (KeyMode::Sckm, Some(data)) => {
            let cert = certify_if(&org, openpgp::parse_cert(data)?)?;
            let kept = openpgp::without_signing_secret(&cert);
            if !kept.is_tsk() {
                return Err(KeyError::Invalid(
                    "an SCKM key must include the encryption subkey's private key".into(),
                ));
            }
            let secret = openpgp::binary_secret(&kept)?;
            (cert, Some(secret))
        }
        (KeyMode::Gkm, Some(data)) => {
            // Kept as the user protected it; the server cannot use it.
            let cert = certify_if(&org, openpgp::parse_cert(data)?)?;
            let secret = cert
                .is_tsk()
                .then(|| openpgp::binary_secret(&cert))
                .transpose()?;
            (cert, secret)
        }
        (KeyMode::Ckm, Some(data)) => {
            let cert = certify_if(&org, openpgp::public_only(&openpgp::parse_cert(data)?))?;
            (cert, None)
        }
        (mode, None) => {
            return Err(KeyError::Invalid(format!(
                "{} keys are made by the user: give the user's key",
                mode.as_str()
            )));
        }
    };
    if !openpgp::emails(&cert)
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&email))
    {
        return Err(KeyError::Invalid(format!(
            "the key has no user ID for {email}"
        )));
    }
    let smime = match (
        new.mode,
        consumer.kind,
        organization_certificate(node, view)?,
    ) {
        (KeyMode::Skm, ConsumerKind::Internal, Some(ca)) => {
            let display = consumer.display_name.clone();
            let email2 = email.clone();
            let issued: SmimeIdentity = tokio::task::spawn_blocking(move || {
                smime::issue_user_certificate(
                    &ca,
                    &email2,
                    display.as_deref(),
                    KeyKind::Rsa2048,
                    None,
                    None,
                )
            })
            .await
            .map_err(|e| KeyError::Invalid(format!("certificate issue failed: {e}")))??;
            let info = smime::CertificateInfo::of(&issued.cert_der)?;
            Some(SmimeCertificate {
                key: Some(seal(node, LABEL_SMIME_KEY, &issued.key_pkcs8_der)?),
                cert_der: issued.cert_der,
                serial_hex: info.serial_hex,
                issued_here: true,
                revoked_at: None,
            })
        }
        _ => None,
    };
    Ok(ManagedKey {
        fingerprint: cert.fingerprint().to_hex(),
        mode: new.mode,
        public: openpgp::binary_public(&cert)?,
        secret: secret.map(|s| seal(node, LABEL_USER_KEY, &s)).transpose()?,
        smime,
        created_at: now_millis(),
        revoked_at: None,
        adk_fingerprint: if new.provided.is_none() { adk } else { None },
    })
}

fn certify_if(org: &Option<Cert>, cert: Cert) -> KeyResult<Cert> {
    Ok(match org {
        Some(org) => openpgp::certify(org, cert)?,
        None => cert,
    })
}

/// A user's key with its secret opened (for export, revocation, decryption).
pub fn open_managed_key(node: &Node, key: &ManagedKey) -> KeyResult<Cert> {
    match &key.secret {
        Some(secret) => Ok(openpgp::parse_cert(&open(node, LABEL_USER_KEY, secret)?)?),
        None => Ok(openpgp::parse_cert(&key.public)?),
    }
}

/// Revokes a user's key: only SKM keys (the server holds the private key), irreversibly. The
/// Organization Key's certification is removed and the S/MIME certificate goes on the CRL.
pub async fn revoke_managed_key(
    node: &Arc<Node>,
    email: &signet_model::EmailAddress,
    fingerprint: &str,
) -> KeyResult<ManagedKey> {
    let view = node.read().await?;
    let mut consumer = view
        .consumer(email)?
        .ok_or_else(|| KeyError::NotFound(format!("user {email} not found")))?;
    let Some(index) = consumer
        .keys
        .iter()
        .position(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    else {
        return Err(KeyError::NotFound(format!(
            "{email} has no key {fingerprint}"
        )));
    };
    let key = consumer.keys[index].clone();
    if key.mode != KeyMode::Skm {
        return Err(KeyError::Conflict(format!(
            "only SKM keys can be revoked by the server; this key is {}",
            key.mode.as_str()
        )));
    }
    if key.revoked_at.is_some() {
        return Err(KeyError::Conflict(
            "the key is already revoked; revocation cannot be undone".into(),
        ));
    }
    let cert = open_managed_key(node, &key)?;
    let org_fpr = view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .and_then(|o| o.fingerprint.parse::<openpgp::Fingerprint>().ok());
    let revoked = openpgp::revoke(&cert, org_fpr.as_ref())?;
    let now = now_millis();
    let mut updated = key.clone();
    updated.public = openpgp::binary_public(&revoked)?;
    updated.secret = Some(seal(
        node,
        LABEL_USER_KEY,
        &openpgp::binary_secret(&revoked)?,
    )?);
    updated.revoked_at = Some(now);
    if let Some(smime) = updated.smime.as_mut()
        && smime.revoked_at.is_none()
    {
        smime.revoked_at = Some(now);
        if smime.issued_here {
            node.execute(Command::RecordRevokedCertificate {
                certificate: signet_model::RevokedCertificate {
                    serial_hex: smime.serial_hex.clone(),
                    revoked_at: now,
                    email: email.to_string(),
                },
            })
            .await?;
        }
    }
    consumer.keys[index] = updated.clone();
    node.execute(Command::UpdateConsumer { consumer }).await?;
    Ok(updated)
}

/// The CRL of certificates this server issued and revoked, signed by the Organization
/// Certificate, valid 7 days.
pub fn current_crl(node: &Node, view: &StateView) -> KeyResult<Vec<u8>> {
    let ca = organization_certificate(node, view)?
        .ok_or_else(|| KeyError::NotFound("there is no Organization Certificate".into()))?;
    let revoked: Vec<smime::RevokedCertificate> = view
        .revoked_certificates()?
        .into_iter()
        .map(|r| smime::RevokedCertificate {
            serial_hex: r.serial_hex,
            revoked_at: r.revoked_at / 1000,
        })
        .collect();
    let now = now_millis() / 1000;
    Ok(smime::crl(&ca, &revoked, now, now + 7 * 24 * 3600)?)
}

/// Renews the Organization Key one day before it expires (guide §10.1). A generated key never
/// expires; an imported one may. Run by one member (the leader) from its housekeeping.
pub async fn renew_organization_key_if_due(node: &Arc<Node>) -> KeyResult<bool> {
    let view = node.read().await?;
    let Some(item) = view.organization_item(OrganizationItemKind::OrganizationKey)? else {
        return Ok(false);
    };
    let org = organization_key(node, view)?;
    let Some(renewed) =
        openpgp::renew_if_expiring(&org, std::time::Duration::from_secs(24 * 3600))?
    else {
        return Ok(false);
    };
    let mut updated = openpgp_item(
        node,
        OrganizationItemKind::OrganizationKey,
        &renewed,
        item.generated,
    )?;
    updated.added_at = item.added_at;
    node.execute(Command::SetOrganizationItem {
        item: updated,
        confirmed: true,
        data_key_for_organization_key: view.data_key_for_organization_key()?,
    })
    .await?;
    tracing::info!(fingerprint = %item.fingerprint, "the Organization Key was renewed");
    Ok(true)
}
