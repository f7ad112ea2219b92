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
    CachedKeyKind, Consumer, EmailAddress, KeyMode, ManagedKey, OrganizationItemKind,
};
use signet_store::{Node, StateView};

use crate::cache::MailCache;
use crate::error::MailError;

/// A recipient's key as Send sees it.
pub struct RecipientKey {
    pub cert: Cert,
    pub mode: KeyMode,
    /// The S/MIME certificate (DER) when the user has one.
    pub smime: Option<Vec<u8>>,
}

/// An S/MIME signer: the identity and the CA certificates (DER) sent along with it.
pub type SmimeSigner = (SmimeIdentity, Vec<Vec<u8>>);

pub struct MailKeys<'a> {
    node: &'a Node,
    view: &'a StateView,
    cache: Option<&'a MailCache>,
}

impl<'a> MailKeys<'a> {
    pub fn new(node: &'a Node, view: &'a StateView) -> Self {
        MailKeys {
            node,
            view,
            cache: None,
        }
    }

    /// Keys found through `cache`: parsed and opened once, not once per message.
    pub fn with_cache(node: &'a Node, view: &'a StateView, cache: &'a MailCache) -> Self {
        MailKeys {
            node,
            view,
            cache: Some(cache),
        }
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
    pub fn recipient(&self, address: &str) -> Result<Option<RecipientKey>, MailError> {
        let Some(key) = self.current_key(address)? else {
            return self.cached(address);
        };
        let cert = self.parse(&key.public)?;
        Ok(Some(RecipientKey {
            cert,
            mode: key.mode,
            smime: key
                .smime
                .filter(|s| s.revoked_at.is_none())
                .map(|s| s.cert_der),
        }))
    }

    fn cached(&self, address: &str) -> Result<Option<RecipientKey>, MailError> {
        let now = signet_store::now_millis();
        let cached = self.view.cached_keys_for(&address.to_lowercase(), now)?;
        let smime = cached
            .iter()
            .find(|k| k.kind == CachedKeyKind::X509)
            .map(|k| k.data.clone());
        for k in cached.iter().filter(|k| k.kind == CachedKeyKind::OpenPgp) {
            if let Ok(cert) = self.parse(&k.data) {
                return Ok(Some(RecipientKey {
                    cert,
                    mode: KeyMode::Ckm,
                    smime,
                }));
            }
        }
        Ok(None)
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
