//! OpenPGP messages on plain bytes: encrypt, decrypt, sign, verify.

use super::{Cert, KeyHandle, POLICY, cert_name, emails, pgp_error};
use crate::{CryptoError, SignatureInfo, SignatureStatus};
use pgp::armor;
use pgp::crypto::{KeyPair, SessionKey};
use pgp::packet::{PKESK, SKESK, Signature};
use pgp::parse::Parse;
use pgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, DetachedVerifierBuilder, MessageLayer, MessageStructure,
    VerificationError, VerificationHelper, VerifierBuilder,
};
use pgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};
use pgp::types::{HashAlgorithm, RevocationStatus, SymmetricAlgorithm};
use sequoia_openpgp as pgp;
use std::io::{Read, Write};

/// Where opening a message finds keys. The mail path implements it over the key store; it is
/// asked only for the key IDs a message actually names, so a large directory is never
/// loaded whole.
pub trait KeyRing {
    /// Certificates holding secret keys for any of these recipients (the key IDs in the
    /// message's PKESK packets; a wildcard ID means "anyone": return every candidate).
    fn decryption_certs(&self, recipients: &[KeyHandle]) -> Vec<Cert>;
    /// Certificates that may have made signatures with these issuer key handles.
    fn verification_certs(&self, issuers: &[KeyHandle]) -> Vec<Cert>;
}

/// The simplest [`KeyRing`]: two lists held in memory.
#[derive(Debug, Clone, Default)]
pub struct CertList {
    /// Certificates with secret keys, tried for decryption.
    pub secret: Vec<Cert>,
    /// Certificates trusted to verify signatures.
    pub public: Vec<Cert>,
}

fn handle_matches(cert: &Cert, ids: &[KeyHandle]) -> bool {
    cert.keys()
        .any(|ka| ids.iter().any(|h| h.aliases(ka.key().key_handle())))
}

impl KeyRing for CertList {
    fn decryption_certs(&self, recipients: &[KeyHandle]) -> Vec<Cert> {
        let wildcard = recipients.iter().any(is_wildcard);
        self.secret
            .iter()
            .filter(|c| wildcard || handle_matches(c, recipients))
            .cloned()
            .collect()
    }
    fn verification_certs(&self, issuers: &[KeyHandle]) -> Vec<Cert> {
        self.public
            .iter()
            .filter(|c| handle_matches(c, issuers))
            .cloned()
            .collect()
    }
}

fn is_wildcard(h: &KeyHandle) -> bool {
    match h {
        KeyHandle::KeyID(id) => id.is_wildcard(),
        KeyHandle::Fingerprint(_) => false,
    }
}

/// The result of opening an OpenPGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The literal data: the decrypted (or signed) content.
    pub plaintext: Vec<u8>,
    /// The message was encrypted (false for a signed-only or cleartext-signed message).
    pub encrypted: bool,
    /// The recipient key IDs in the PKESK packets, upper-case hex, as the message names
    /// them (for v4 keys that is the encryption subkey's ID).
    pub encrypted_to: Vec<String>,
    pub signatures: Vec<SignatureInfo>,
}

/// The encryption-capable keys of one recipient: valid, alive, not revoked, for transport
/// or storage. A recipient without one is a [`CryptoError::NoKey`] naming it.
fn recipient_keys(cert: &Cert) -> Result<Vec<Recipient<'_>>, CryptoError> {
    let vc = cert.with_policy(&POLICY, None).map_err(|e| {
        CryptoError::NoKey(format!("{} is not a valid key: {e:#}", cert_name(cert)))
    })?;
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return Err(CryptoError::NoKey(format!(
            "{} is revoked",
            cert_name(cert)
        )));
    }
    if let Err(e) = vc.alive() {
        return Err(CryptoError::NoKey(format!(
            "{} has expired: {e:#}",
            cert_name(cert)
        )));
    }
    let keys: Vec<Recipient<'_>> = vc
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .for_storage_encryption()
        .map(Recipient::from)
        .collect();
    if keys.is_empty() {
        return Err(CryptoError::NoKey(format!(
            "{} has no valid encryption key",
            cert_name(cert)
        )));
    }
    Ok(keys)
}

/// A signer from the signer's secret signing key: valid, alive, not revoked, unprotected.
/// SCKM keys on the server have none, which is a [`CryptoError::NoKey`].
pub(crate) fn signing_keypair(cert: &Cert) -> Result<KeyPair, CryptoError> {
    let vc = cert.with_policy(&POLICY, None).map_err(|e| {
        CryptoError::NoKey(format!("{} is not a valid key: {e:#}", cert_name(cert)))
    })?;
    let ka = vc
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .for_signing()
        .secret()
        .find(|ka| ka.key().has_unencrypted_secret())
        .ok_or_else(|| {
            CryptoError::NoKey(format!(
                "no usable secret signing key for {}",
                cert_name(cert)
            ))
        })?;
    ka.key()
        .clone()
        .into_keypair()
        .map_err(pgp_error("cannot use the signing key"))
}

/// Encrypts to every recipient (all their encryption-capable keys), signed first when a
/// signer is given (one OpenPGP message, signature inside the encryption, RFC 3156 §6.2).
pub fn encrypt_bytes(
    recipients: &[&Cert],
    plaintext: &[u8],
    signer: Option<&Cert>,
    armor: bool,
) -> Result<Vec<u8>, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoKey("no recipients".into()));
    }
    let mut keys = Vec::new();
    for cert in recipients {
        keys.extend(recipient_keys(cert)?);
    }
    let keypair = signer.map(signing_keypair).transpose()?;
    let mut out = Vec::new();
    write_message(&mut out, false, armor::Kind::Message, |m| {
        let m = Encryptor::for_recipients(m, keys).build()?;
        let m = match keypair {
            Some(kp) => Signer::new(m, kp)?
                .hash_algo(HashAlgorithm::SHA256)?
                .build()?,
            None => m,
        };
        let mut w = LiteralWriter::new(m).build()?;
        w.write_all(plaintext)?;
        w.finalize()
    })
    .map_err(pgp_error("encryption failed"))?;
    Ok(if armor {
        super::armor::armor(super::armor::Kind::Message, &out)
    } else {
        out
    })
}

/// Runs a streaming serializer into `out`, armored or not.
fn write_message<'a>(
    out: &'a mut Vec<u8>,
    armor: bool,
    kind: armor::Kind,
    f: impl FnOnce(Message<'a>) -> pgp::Result<()>,
) -> pgp::Result<()> {
    let m = Message::new(out);
    let m = if armor {
        Armorer::new(m).kind(kind).build()?
    } else {
        m
    };
    f(m)
}

/// A detached signature over `data` (binary mode, SHA-256, as RFC 3156 multipart/signed
/// announces with `micalg=pgp-sha256`).
pub fn sign_detached(signer: &Cert, data: &[u8], armor: bool) -> Result<Vec<u8>, CryptoError> {
    let keypair = signing_keypair(signer)?;
    let mut out = Vec::new();
    write_message(&mut out, armor, armor::Kind::Signature, |m| {
        let mut s = Signer::new(m, keypair)?
            .detached()
            .hash_algo(HashAlgorithm::SHA256)?
            .build()?;
        s.write_all(data)?;
        s.finalize()
    })
    .map_err(pgp_error("signing failed"))?;
    Ok(out)
}

/// A cleartext-signed text (`-----BEGIN PGP SIGNED MESSAGE-----`), for inline signing.
pub fn clearsign(signer: &Cert, text: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let keypair = signing_keypair(signer)?;
    let mut out = Vec::new();
    {
        let m = Message::new(&mut out);
        let mut s = Signer::new(m, keypair)
            .and_then(|s| s.cleartext().hash_algo(HashAlgorithm::SHA256))
            .and_then(|s| s.build())
            .map_err(pgp_error("signing failed"))?;
        s.write_all(text)
            .map_err(|e| CryptoError::OpenPgp(format!("signing failed: {e}")))?;
        s.finalize().map_err(pgp_error("signing failed"))?;
    }
    Ok(out)
}

/// What the stream helpers found, kept outside the helper so it survives an error.
#[derive(Default)]
struct Found {
    encrypted_to: Vec<String>,
    signatures: Vec<SignatureInfo>,
    decrypted: bool,
    why_not: Option<String>,
}

struct Helper<'a> {
    keys: &'a dyn KeyRing,
    found: &'a mut Found,
}

fn info_from_cert(
    status: SignatureStatus,
    sig: &Signature,
    cert: &Cert,
    key_id: String,
) -> SignatureInfo {
    SignatureInfo {
        status,
        signer: emails(cert),
        fingerprint: Some(cert.fingerprint().to_hex()),
        key_id: Some(key_id),
        created: sig.signature_creation_time().map(super::unix),
    }
}

fn issuer_id(sig: &Signature) -> Option<String> {
    sig.get_issuers().first().map(|h| match h {
        KeyHandle::KeyID(id) => id.to_hex(),
        KeyHandle::Fingerprint(f) => pgp::KeyID::from(f).to_hex(),
    })
}

fn signature_info(
    result: &Result<pgp::parse::stream::GoodChecksum<'_>, VerificationError<'_>>,
) -> SignatureInfo {
    match result {
        Ok(good) => info_from_cert(
            SignatureStatus::Good,
            good.sig,
            good.ka.cert(),
            good.ka.key().keyid().to_hex(),
        ),
        Err(VerificationError::MissingKey { sig }) => SignatureInfo {
            status: SignatureStatus::UnknownSigner,
            signer: Vec::new(),
            fingerprint: sig.issuer_fingerprints().next().map(|f| f.to_hex()),
            key_id: issuer_id(sig),
            created: sig.signature_creation_time().map(super::unix),
        },
        Err(VerificationError::UnboundKey { sig, cert, error }) => info_from_cert(
            SignatureStatus::KeyNotValid(format!("{error:#}")),
            sig,
            cert,
            issuer_id(sig).unwrap_or_default(),
        ),
        Err(VerificationError::BadKey { sig, ka, error }) => info_from_cert(
            SignatureStatus::KeyNotValid(format!("{error:#}")),
            sig,
            ka.cert(),
            ka.key().keyid().to_hex(),
        ),
        Err(VerificationError::BadSignature { sig, ka, .. }) => info_from_cert(
            SignatureStatus::Bad,
            sig,
            ka.cert(),
            ka.key().keyid().to_hex(),
        ),
        Err(VerificationError::MalformedSignature { sig, .. }) => SignatureInfo {
            status: SignatureStatus::Bad,
            signer: Vec::new(),
            fingerprint: None,
            key_id: issuer_id(sig),
            created: None,
        },
        Err(_) => SignatureInfo {
            status: SignatureStatus::Bad,
            signer: Vec::new(),
            fingerprint: None,
            key_id: None,
            created: None,
        },
    }
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> pgp::Result<Vec<Cert>> {
        Ok(self.keys.verification_certs(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> pgp::Result<()> {
        // Signatures can sit under the encryption and compression layers: walk them all.
        for layer in structure {
            if let MessageLayer::SignatureGroup { results } = layer {
                self.found
                    .signatures
                    .extend(results.iter().map(signature_info));
            }
        }
        // Never fail here: a bad signature is reported, not turned into an unreadable
        // message.
        Ok(())
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> pgp::Result<Option<Cert>> {
        let handles: Vec<KeyHandle> = pkesks
            .iter()
            .map(|p| {
                p.recipient()
                    .unwrap_or_else(|| KeyHandle::KeyID(pgp::KeyID::wildcard()))
            })
            .collect();
        self.found.encrypted_to = handles
            .iter()
            .map(|h| match h {
                KeyHandle::KeyID(id) => id.to_hex(),
                KeyHandle::Fingerprint(f) => pgp::KeyID::from(f).to_hex(),
            })
            .collect();
        let certs = self.keys.decryption_certs(&handles);
        let mut locked = false;
        for pkesk in pkesks {
            let wanted = pkesk.recipient();
            for cert in &certs {
                for ka in cert.keys().secret() {
                    let key = ka.key();
                    if let Some(h) = &wanted
                        && !is_wildcard(h)
                        && !h.aliases(key.key_handle())
                    {
                        continue;
                    }
                    if !key.has_unencrypted_secret() {
                        locked = true;
                        continue;
                    }
                    let Ok(mut pair) = key.clone().into_keypair() else {
                        continue;
                    };
                    if let Some((algo, sk)) = pkesk.decrypt(&mut pair, sym_algo)
                        && decrypt(algo, &sk)
                    {
                        self.found.decrypted = true;
                        return Ok(Some(cert.clone()));
                    }
                }
            }
        }
        let why = if locked {
            "the matching secret key is passphrase-protected".to_string()
        } else {
            format!(
                "no secret key for the recipients ({})",
                self.found.encrypted_to.join(", ")
            )
        };
        self.found.why_not = Some(why.clone());
        Err(anyhow::anyhow!(why))
    }
}

/// Opens an OpenPGP message (encrypted, signed, cleartext-signed, or any mix), taking
/// keys from a [`KeyRing`]. Bad signatures are reported in the result; only a message that
/// cannot be read (malformed, no key, modified ciphertext) is an error.
pub fn open_bytes(keys: &dyn KeyRing, data: &[u8]) -> Result<Decrypted, CryptoError> {
    let mut found = Found::default();
    let result = (|| -> pgp::Result<Vec<u8>> {
        let helper = Helper {
            keys,
            found: &mut found,
        };
        let mut plaintext = Vec::new();
        // The decryptor does not take the cleartext signature framework; the verifier does.
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        if data[start..].starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----") {
            let mut v = VerifierBuilder::from_bytes(data)?.with_policy(&POLICY, None, helper)?;
            v.read_to_end(&mut plaintext)?;
        } else {
            // Plain armor is decoded here (fast); anything else goes to sequoia as it is.
            let binary = super::armor::dearmor(data);
            let input = binary.as_deref().unwrap_or(data);
            let mut d = DecryptorBuilder::from_bytes(input)?.with_policy(&POLICY, None, helper)?;
            d.read_to_end(&mut plaintext)?;
        }
        Ok(plaintext)
    })();
    match result {
        Ok(plaintext) => Ok(Decrypted {
            plaintext,
            encrypted: found.decrypted,
            encrypted_to: found.encrypted_to,
            signatures: found.signatures,
        }),
        Err(e) => match found.why_not {
            Some(why) => Err(CryptoError::Decrypt(why)),
            None if found.decrypted => Err(CryptoError::Decrypt(format!(
                "the decrypted data is damaged or was modified: {e:#}"
            ))),
            None => Err(CryptoError::OpenPgp(format!("{e:#}"))),
        },
    }
}

/// [`open_bytes`] with plain lists: secret keys to decrypt with, certificates to verify
/// signatures with.
pub fn decrypt_bytes(
    secret_keys: &[&Cert],
    verifiers: &[&Cert],
    data: &[u8],
) -> Result<Decrypted, CryptoError> {
    let ring = CertList {
        secret: secret_keys.iter().map(|c| (*c).clone()).collect(),
        public: verifiers.iter().map(|c| (*c).clone()).collect(),
    };
    open_bytes(&ring, data)
}

/// Verifies a detached signature (armored or binary) over `data`, bytes exactly as signed.
/// Returns one entry per signature; a signature that does not match is
/// [`SignatureStatus::Bad`], not an error. Unreadable signature data is an error.
pub fn verify_detached_with(
    keys: &dyn KeyRing,
    data: &[u8],
    signature: &[u8],
) -> Result<Vec<SignatureInfo>, CryptoError> {
    let mut found = Found::default();
    (|| -> pgp::Result<()> {
        let helper = Helper {
            keys,
            found: &mut found,
        };
        let mut v =
            DetachedVerifierBuilder::from_bytes(signature)?.with_policy(&POLICY, None, helper)?;
        v.verify_bytes(data)
    })()
    .map_err(pgp_error("cannot verify the signature"))?;
    if found.signatures.is_empty() {
        return Err(CryptoError::OpenPgp("no signature found".into()));
    }
    Ok(found.signatures)
}

/// [`verify_detached_with`] over a plain list of certificates.
pub fn verify_detached(
    certs: &[&Cert],
    data: &[u8],
    signature: &[u8],
) -> Result<Vec<SignatureInfo>, CryptoError> {
    let ring = CertList {
        secret: Vec::new(),
        public: certs.iter().map(|c| (*c).clone()).collect(),
    };
    verify_detached_with(&ring, data, signature)
}

/// The key IDs an encrypted OpenPGP message names in its PKESK packets (for v4 keys, the
/// encryption subkeys' IDs), upper-case hex, without decrypting anything: policy's key-ID
/// conditions match the key really in the message. Armored or binary input; anything that
/// is not an encrypted message gives an empty list.
pub fn recipient_key_ids(data: &[u8]) -> Vec<String> {
    use pgp::Packet;
    use pgp::parse::{PacketParser, PacketParserResult};
    let binary = super::armor::dearmor(data).unwrap_or_else(|| data.to_vec());
    let mut out = Vec::new();
    let Ok(mut ppr) = PacketParser::from_bytes(&binary) else {
        return out;
    };
    // PKESKs come first; stop at the first packet that is not one (the encrypted data).
    while let PacketParserResult::Some(pp) = ppr {
        match &pp.packet {
            Packet::PKESK(p) => {
                if let Some(h) = p.recipient() {
                    out.push(match h {
                        KeyHandle::KeyID(id) => id.to_hex(),
                        KeyHandle::Fingerprint(f) => pgp::KeyID::from(f).to_hex(),
                    });
                }
            }
            Packet::SKESK(_) => {}
            _ => break,
        }
        match pp.next() {
            Ok((_, next)) => ppr = next,
            Err(_) => break,
        }
        if out.len() > 1000 {
            break;
        }
    }
    out
}
