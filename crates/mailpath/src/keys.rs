//! The keys one message needs, found in the replicated state: recipients' public keys and
//! certificates for Send, the signer's key, and our users' private keys for Decrypt and
//! verify. Private keys are opened with the cluster data key only here and never written
//! anywhere; with a [`MailCache`] the signing keys (the sender's SKM key, the Organization
//! Key) stay open in memory between messages, and certificates stay parsed.
//!
//! Order (guide §2.1): the user's own key (internal and external users), then the key cache.
//! Keyservers are searched by the service before processing (see `search.rs`); what they find
//! is cached, so processing finds it here.

use signet_crypto::openpgp::{self, Cert, CertList};
use signet_crypto::smime::SmimeIdentity;
use signet_model::{
    CachedKeyKind, Consumer, EmailAddress, KeyMode, KeySource, ManagedKey, OrganizationItemKind,
};
use signet_store::{Node, StateView};

use crate::cache::MailCache;
use crate::error::MailError;

/// A recipient's key as Send sees it.
pub struct RecipientKey {
    /// The OpenPGP key, when there is one (a cached S/MIME certificate may come alone).
    pub cert: Option<Cert>,
    pub mode: KeyMode,
    /// The S/MIME certificate (DER) when the user has one.
    pub smime: Option<Vec<u8>>,
    /// "Require verified key" accepts the OpenPGP key: a user's own key, or a cached key
    /// from a trusted source or certified by a trusted key (see [`MailKeys::recipient`]).
    pub verified: bool,
    /// The same for the S/MIME certificate: a user's own, or its chain reaches a Trusted
    /// certificate (or the Organization Certificate).
    pub smime_verified: bool,
}

/// An S/MIME signer: the identity and the CA certificates (DER) sent along with it.
pub type SmimeSigner = (SmimeIdentity, Vec<Vec<u8>>);

pub struct MailKeys<'a> {
    node: &'a Node,
    view: &'a StateView,
    cache: Option<&'a MailCache>,
    /// Descriptions (lower case) of the keyservers marked "Trust keys from this keyserver
    /// implicitly": keys cached from them count as verified.
    trusted_keyservers: Vec<String>,
}

impl<'a> MailKeys<'a> {
    pub fn new(node: &'a Node, view: &'a StateView) -> Self {
        MailKeys {
            node,
            view,
            cache: None,
            trusted_keyservers: Vec::new(),
        }
    }

    /// Keys found through `cache`: parsed and opened once, not once per message.
    pub fn with_cache(node: &'a Node, view: &'a StateView, cache: &'a MailCache) -> Self {
        MailKeys {
            node,
            view,
            cache: Some(cache),
            trusted_keyservers: Vec::new(),
        }
    }

    /// Keys cached from these keyservers (by description) count as verified.
    pub fn trusting(mut self, keyservers: impl IntoIterator<Item = String>) -> Self {
        self.trusted_keyservers = keyservers.into_iter().map(|k| k.to_lowercase()).collect();
        self
    }

    fn parse(&self, bytes: &[u8]) -> Result<Cert, MailError> {
        match self.cache {
            Some(c) => c.cert(bytes),
            None => Ok(openpgp::parse_cert(bytes)?),
        }
    }

    fn consumer(&self, address: &str) -> Result<Option<Consumer>, MailError> {
        let Ok(email) = EmailAddress::parse(address) else {
            return Ok(None);
        };
        Ok(self.view.consumer(&email)?)
    }

    /// The key mail to this address is encrypted to: the consumer's first key that is not
    /// revoked (the same key policy's "key available" saw).
    fn current_key(&self, address: &str) -> Result<Option<ManagedKey>, MailError> {
        Ok(self
            .consumer(address)?
            .and_then(|c| c.keys.into_iter().find(|k| k.revoked_at.is_none())))
    }

    /// The recipient's key: a user's own key first, then the key cache (keys harvested from
    /// mail and found on keyservers; a cached OpenPGP key counts as the recipient's own, CKM).
    /// A user's own keys are verified. Among cached keys, verified ones are preferred, so that
    /// what policy saw is what encryption uses.
    pub fn recipient(&self, address: &str) -> Result<Option<RecipientKey>, MailError> {
        let Some(key) = self.current_key(address)? else {
            return self.cached(address);
        };
        let cert = self.parse(&key.public)?;
        let smime = key
            .smime
            .filter(|s| s.revoked_at.is_none())
            .map(|s| s.cert_der);
        Ok(Some(RecipientKey {
            cert: Some(cert),
            mode: key.mode,
            smime_verified: smime.is_some(),
            smime,
            verified: true,
        }))
    }

    fn cached(&self, address: &str) -> Result<Option<RecipientKey>, MailError> {
        let now = signet_store::now_millis();
        let cached = self.view.cached_keys_for(&address.to_lowercase(), now)?;
        if cached.is_empty() {
            return Ok(None);
        }
        let trust = Trust::read(self.view)?;
        let mut smime: Option<(Vec<u8>, bool)> = None;
        for k in cached.iter().filter(|k| k.kind == CachedKeyKind::X509) {
            let verified = self.source_trusted(&k.source, address)
                || signet_crypto::smime::chain_is_trusted(&k.data, &[], &trust.certificates);
            if smime.as_ref().is_none_or(|(_, v)| !v && verified) {
                smime = Some((k.data.clone(), verified));
            }
        }
        let mut openpgp: Option<(Cert, bool)> = None;
        for k in cached.iter().filter(|k| k.kind == CachedKeyKind::OpenPgp) {
            let Ok(cert) = self.parse(&k.data) else {
                continue;
            };
            let verified = self.source_trusted(&k.source, address)
                || trust
                    .keys
                    .iter()
                    .any(|t| openpgp::organization_certifications(&cert, t) > 0);
            if openpgp.as_ref().is_none_or(|(_, v)| !v && verified) {
                openpgp = Some((cert, verified));
            }
        }
        if openpgp.is_none() && smime.is_none() {
            return Ok(None);
        }
        let (cert, verified) = match openpgp {
            Some((c, v)) => (Some(c), v),
            None => (None, false),
        };
        let (smime, smime_verified) = match smime {
            Some((d, v)) => (Some(d), v),
            None => (None, false),
        };
        Ok(Some(RecipientKey {
            cert,
            mode: KeyMode::Ckm,
            smime,
            verified,
            smime_verified,
        }))
    }

    /// Keys found on `keys.<recipient's domain>` or on a keyserver trusted implicitly.
    fn source_trusted(&self, source: &KeySource, address: &str) -> bool {
        let KeySource::Keyserver { description } = source else {
            return false;
        };
        let d = description.to_lowercase();
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_lowercase());
        d == signet_keyserver::Keyserver::address_domain()
            .description
            .to_lowercase()
            || domain.is_some_and(|dom| d == format!("keys.{dom}"))
            || self.trusted_keyservers.contains(&d)
    }

    /// The OpenPGP key that signs mail from `sender`: the sender's own key when the server
    /// holds its signing secret (SKM), otherwise the Organization Key.
    pub fn openpgp_signer(&self, sender: &str) -> Result<Cert, MailError> {
        if let Some(key) = self.current_key(sender)?
            && key.mode == KeyMode::Skm
            && let Some(sealed) = &key.secret
        {
            let open = || Ok(signet_keys::open_managed_key(self.node, &key)?);
            return match self.cache {
                Some(c) => c.secret(self.node, signet_keys::LABEL_USER_KEY, &sealed.0, open),
                None => open(),
            };
        }
        let open = || Ok(signet_keys::organization_key(self.node, self.view)?);
        let Some(cache) = self.cache else {
            return open();
        };
        match self
            .view
            .organization_item(OrganizationItemKind::OrganizationKey)?
            .and_then(|item| item.secret)
        {
            Some(sealed) => cache.secret(self.node, "organization key", &sealed.0, open),
            // No Organization Key (or no secret): the uncached path says which.
            None => open(),
        }
    }

    /// The sender's S/MIME identity and the chain to send with it, when the server holds one.
    pub fn smime_signer(&self, sender: &str) -> Result<Option<SmimeSigner>, MailError> {
        let Some(key) = self.current_key(sender)? else {
            return Ok(None);
        };
        let Some(smime) = key.smime.filter(|s| s.revoked_at.is_none()) else {
            return Ok(None);
        };
        let Some(sealed) = &smime.key else {
            return Ok(None);
        };
        let key_pkcs8_der = signet_keys::open(self.node, signet_keys::LABEL_SMIME_KEY, sealed)?;
        let chain = self
            .view
            .organization_item(OrganizationItemKind::OrganizationCertificate)?
            .map(|item| vec![item.public])
            .unwrap_or_default();
        Ok(Some((
            SmimeIdentity {
                cert_der: smime.cert_der,
                key_pkcs8_der,
            },
            chain,
        )))
    }

    /// What decrypting mail to these (internal) recipients needs: their OpenPGP keys with
    /// secrets, and every key we know for checking signatures.
    pub fn openpgp_ring(&self, recipients: &[String]) -> Result<CertList, MailError> {
        let mut ring = CertList::default();
        for r in recipients {
            if let Some(key) = self.current_key(r)?
                && let Some(sealed) = &key.secret
            {
                let open = || Ok(signet_keys::open_managed_key(self.node, &key)?);
                ring.secret.push(match self.cache {
                    Some(c) => c.secret(self.node, signet_keys::LABEL_USER_KEY, &sealed.0, open)?,
                    None => open()?,
                });
            }
        }
        for c in self.view.consumers()? {
            for k in c.keys.iter().filter(|k| k.revoked_at.is_none()) {
                if let Ok(cert) = self.parse(&k.public) {
                    ring.public.push(cert);
                }
            }
        }
        Ok(ring)
    }

    /// The recipients' S/MIME identities (for decryption) and the CA certificates trusted for
    /// signatures (the Organization Certificate).
    pub fn smime_ring(
        &self,
        recipients: &[String],
    ) -> Result<(Vec<SmimeIdentity>, Vec<Vec<u8>>), MailError> {
        let mut identities = Vec::new();
        for r in recipients {
            if let Some((identity, _)) = self.smime_signer(r)? {
                identities.push(identity);
            }
        }
        let trusted = self
            .view
            .organization_item(OrganizationItemKind::OrganizationCertificate)?
            .map(|item| vec![item.public])
            .unwrap_or_default();
        Ok((identities, trusted))
    }
}

/// What vouches for keys from outside (guide §12): the Trusted Keys with "Trust key for
/// verifying mail encryption keys", and the Trusted certificates with the Organization
/// Certificate as the roots S/MIME chains must reach.
struct Trust {
    keys: Vec<Cert>,
    certificates: Vec<Vec<u8>>,
}

impl Trust {
    fn read(view: &StateView) -> Result<Trust, MailError> {
        let mut keys = Vec::new();
        let mut certificates = Vec::new();
        for item in view.trusted_items()? {
            if item.x509 {
                certificates.push(item.data);
            } else if item.flags.mail_encryption_keys
                && let Ok(cert) = openpgp::parse_cert(&item.data)
            {
                keys.push(cert);
            }
        }
        if let Some(org) = view.organization_item(OrganizationItemKind::OrganizationCertificate)? {
            certificates.push(org.public);
        }
        Ok(Trust { keys, certificates })
    }
}
