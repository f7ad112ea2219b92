//! Private keys, held as OpenSSL `PKey`s so that every private-key operation is OpenSSL's
//! (constant-time RSA), and public-key checks against any algorithm a peer may use.

use super::{KeyKind, oids};
use crate::CryptoError;
use der::asn1::Null;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private, Public};
use spki::AlgorithmIdentifierOwned;

pub(crate) struct PrivateKey {
    pkey: PKey<Private>,
}

impl PrivateKey {
    /// A fresh key pair.
    pub(crate) fn generate(kind: KeyKind) -> Result<Self, CryptoError> {
        let fail = |e: openssl::error::ErrorStack| {
            CryptoError::NoKey(format!("key generation failed: {e}"))
        };
        let pkey = match kind {
            KeyKind::Rsa2048 | KeyKind::Rsa3072 => {
                let bits = if kind == KeyKind::Rsa2048 { 2048 } else { 3072 };
                PKey::from_rsa(openssl::rsa::Rsa::generate(bits).map_err(fail)?).map_err(fail)?
            }
            KeyKind::P256 => {
                let group =
                    openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                        .map_err(fail)?;
                PKey::from_ec_key(openssl::ec::EcKey::generate(&group).map_err(fail)?)
                    .map_err(fail)?
            }
        };
        Ok(Self { pkey })
    }

    /// Reads a private key: PKCS#8 or traditional (PKCS#1, SEC1), PEM or DER. Encrypted
    /// keys are refused (there is no passphrase to give).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, CryptoError> {
        let trimmed = bytes.trim_ascii_start();
        let parsed = if trimmed.starts_with(b"-----BEGIN") {
            if trimmed.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY") {
                return Err(CryptoError::NoKey(
                    "the private key is passphrase-protected; export it unencrypted".into(),
                ));
            }
            PKey::private_key_from_pem(trimmed)
        } else {
            PKey::private_key_from_der(bytes)
        };
        let pkey = parsed.map_err(|_| {
            CryptoError::NoKey(
                "the private key is not a readable PKCS#8, PKCS#1 or SEC1 key".into(),
            )
        })?;
        match pkey.id() {
            Id::RSA | Id::EC => Ok(Self { pkey }),
            other => Err(CryptoError::NoKey(format!(
                "unsupported private key type {other:?}: only RSA and EC keys"
            ))),
        }
    }

    pub(crate) fn to_pkcs8_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pkey
            .private_key_to_pkcs8()
            .map_err(|e| CryptoError::NoKey(format!("cannot serialize the private key: {e}")))
    }

    /// The SubjectPublicKeyInfo, DER.
    pub(crate) fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pkey
            .public_key_to_der()
            .map_err(|e| CryptoError::NoKey(format!("cannot serialize the public key: {e}")))
    }

    /// The OpenSSL key, for ECDH.
    pub(crate) fn pkey(&self) -> &PKey<Private> {
        &self.pkey
    }

    pub(crate) fn is_rsa(&self) -> bool {
        self.pkey.id() == Id::RSA
    }

    /// True when this key is the private half of `public`.
    pub(crate) fn matches(&self, public: &PKey<Public>) -> bool {
        self.pkey.public_eq(public)
    }

    /// The algorithm identifier of [`Self::sign_sha256`] signatures in certificates and CRLs.
    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        if self.is_rsa() {
            AlgorithmIdentifierOwned {
                oid: oids::SHA256_WITH_RSA,
                // RFC 4055: the parameters of the RSA PKCS#1 v1.5 identifiers are NULL.
                parameters: Some(Null.into()),
            }
        } else {
            AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA256,
                parameters: None,
            }
        }
    }

    /// The signatureAlgorithm of a CMS SignerInfo: `rsaEncryption` for RSA (what OpenSSL and
    /// most clients write; the digest is the SignerInfo's digestAlgorithm), ecdsa-with-SHA256.
    pub(crate) fn cms_signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        if self.is_rsa() {
            AlgorithmIdentifierOwned {
                oid: oids::RSA_ENCRYPTION,
                parameters: Some(Null.into()),
            }
        } else {
            AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA256,
                parameters: None,
            }
        }
    }

    /// Signs `data` with SHA-256: RSA PKCS#1 v1.5 or ECDSA (DER `Ecdsa-Sig-Value`).
    pub(crate) fn sign_sha256(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let fail =
            |e: openssl::error::ErrorStack| CryptoError::NoKey(format!("signing failed: {e}"));
        let mut signer =
            openssl::sign::Signer::new(MessageDigest::sha256(), &self.pkey).map_err(fail)?;
        signer.update(data).map_err(fail)?;
        signer.sign_to_vec().map_err(fail)
    }

    /// RSA key-transport decryption of a content-encryption key. Any failure gives the same
    /// error, so a caller cannot be turned into a padding oracle by the error text.
    pub(crate) fn rsa_decrypt(&self, data: &[u8], oaep: bool) -> Result<Vec<u8>, CryptoError> {
        let fail =
            |_| CryptoError::Decrypt("the content could not be decrypted with our key".into());
        let rsa = self.pkey.rsa().map_err(fail)?;
        let mut out = vec![0u8; rsa.size() as usize];
        let padding = if oaep {
            openssl::rsa::Padding::PKCS1_OAEP
        } else {
            openssl::rsa::Padding::PKCS1
        };
        let n = rsa.private_decrypt(data, &mut out, padding).map_err(fail)?;
        out.truncate(n);
        Ok(out)
    }
}

/// The OpenSSL digest for a digest-algorithm or signature-algorithm OID.
pub(crate) fn digest_for(oid: &const_oid::ObjectIdentifier) -> Option<MessageDigest> {
    Some(match *oid {
        oids::SHA1 | oids::SHA1_WITH_RSA | oids::ECDSA_WITH_SHA1 => MessageDigest::sha1(),
        oids::SHA256 | oids::SHA256_WITH_RSA | oids::ECDSA_WITH_SHA256 => MessageDigest::sha256(),
        oids::SHA384 | oids::SHA384_WITH_RSA | oids::ECDSA_WITH_SHA384 => MessageDigest::sha384(),
        oids::SHA512 | oids::SHA512_WITH_RSA | oids::ECDSA_WITH_SHA512 => MessageDigest::sha512(),
        _ => return None,
    })
}

/// Checks a signature made with `digest` by the key in `spki_der`, RSA PKCS#1 v1.5 or ECDSA.
/// `Ok(false)` means the signature does not match; `Err` that the key cannot be used at all.
pub(crate) fn verify_signature(
    spki_der: &[u8],
    digest: MessageDigest,
    data: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let fail = |e: openssl::error::ErrorStack| {
        CryptoError::Certificate(format!("unusable public key: {e}"))
    };
    let pkey = PKey::public_key_from_der(spki_der).map_err(fail)?;
    let mut verifier = openssl::sign::Verifier::new(digest, &pkey).map_err(fail)?;
    verifier.update(data).map_err(fail)?;
    // A malformed signature is an error in OpenSSL; for us it is simply a bad signature.
    Ok(verifier.verify(signature).unwrap_or(false))
}
