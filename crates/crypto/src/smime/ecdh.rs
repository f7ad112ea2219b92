//! EC recipients (RFC 5753 §3.1, as RFC 8551 requires of S/MIME agents that support EC):
//! ephemeral-static ECDH, the ANSI X9.63 KDF over ECC-CMS-SharedInfo, and AES key wrap
//! (RFC 3394) of the content-encryption key, in a KeyAgreeRecipientInfo.
//!
//! cms 0.2.3 has no KeyAgreeRecipientInfo builder (toolchain pitfall 7), so [`KariBuilder`]
//! plugs into its `EnvelopedDataBuilder` through the public `RecipientInfoBuilder` trait.
//! ECDH, key wrap and hashing are OpenSSL's.

use super::oids;
use crate::CryptoError;
use cms::builder::{RecipientInfoBuilder, RecipientInfoType};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo, OriginatorIdentifierOrKey,
    OriginatorPublicKey, RecipientEncryptedKey, RecipientInfo,
};
use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, OctetString};
use der::{Any, Encode, Sequence};
use openssl::bn::BigNumContext;
use openssl::ec::{EcKey, EcPoint, PointConversionForm};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use spki::AlgorithmIdentifierOwned;

/// dhSinglePass-stdDH-sha256kdf-scheme: what Signet writes.
const STD_DH_SHA256: Oid = Oid::new_unwrap("1.3.132.1.11.1");
const AES256_WRAP: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.45");

/// ECC-CMS-SharedInfo (RFC 5753 §7.2), the KDF's SharedInfo.
#[derive(Sequence)]
struct EccCmsSharedInfo {
    key_info: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    entity_u_info: Option<OctetString>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: OctetString,
}

/// Builds the KeyAgreeRecipientInfo for one EC recipient certificate.
pub(crate) struct KariBuilder {
    pub rid: IssuerAndSerialNumber,
    pub recipient: PKey<Public>,
}

impl RecipientInfoBuilder for KariBuilder {
    fn recipient_info_type(&self) -> RecipientInfoType {
        RecipientInfoType::Kari
    }

    fn recipient_info_version(&self) -> CmsVersion {
        CmsVersion::V3
    }

    fn build(
        &mut self,
        content_encryption_key: &[u8],
    ) -> Result<RecipientInfo, cms::builder::Error> {
        self.wrap(content_encryption_key)
            .map_err(|e| cms::builder::Error::Builder(e.to_string()))
    }
}

impl KariBuilder {
    fn wrap(&self, cek: &[u8]) -> Result<RecipientInfo, CryptoError> {
        let fail = |e: openssl::error::ErrorStack| CryptoError::NoKey(format!("ECDH failed: {e}"));
        let recipient_ec = self.recipient.ec_key().map_err(fail)?;
        let group = recipient_ec.group();
        let ephemeral = EcKey::generate(group).map_err(fail)?;
        let mut ctx = BigNumContext::new().map_err(fail)?;
        let point = ephemeral
            .public_key()
            .to_bytes(group, PointConversionForm::UNCOMPRESSED, &mut ctx)
            .map_err(fail)?;
        let ephemeral = PKey::from_ec_key(ephemeral).map_err(fail)?;
        let z = derive(&ephemeral, &self.recipient)?;
        let wrap_alg = AlgorithmIdentifierOwned {
            oid: AES256_WRAP,
            parameters: None,
        };
        let kek = kdf(MessageDigest::sha256(), &z, &wrap_alg, 32, None)?;
        let wrapped = aes_wrap(&kek, cek)?;
        let der_err =
            |e: der::Error| CryptoError::Smime(format!("cannot encode the recipient: {e}"));
        Ok(RecipientInfo::Kari(KeyAgreeRecipientInfo {
            version: CmsVersion::V3,
            originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
                algorithm: AlgorithmIdentifierOwned {
                    oid: oids::EC_PUBLIC_KEY,
                    parameters: None,
                },
                public_key: BitString::from_bytes(&point).map_err(der_err)?,
            }),
            ukm: None,
            key_enc_alg: AlgorithmIdentifierOwned {
                oid: STD_DH_SHA256,
                parameters: Some(Any::encode_from(&wrap_alg).map_err(der_err)?),
            },
            recipient_enc_keys: vec![RecipientEncryptedKey {
                rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(self.rid.clone()),
                enc_key: OctetString::new(wrapped).map_err(der_err)?,
            }],
        }))
    }
}

/// Recovers the content-encryption key from a KeyAgreeRecipientInfo with our EC key.
/// Accepts the standard and cofactor schemes with SHA-1/224/256/384/512 KDFs (OpenSSL writes
/// SHA-1 by default) and AES-128/192/256 key wrap.
pub(crate) fn unwrap(
    kari: &KeyAgreeRecipientInfo,
    wrapped: &[u8],
    ours: &PKey<Private>,
) -> Result<Vec<u8>, CryptoError> {
    let fail = || CryptoError::Decrypt("the content could not be decrypted with our key".into());
    let digest = match kari.key_enc_alg.oid.to_string().as_str() {
        "1.3.133.16.840.63.0.2" | "1.3.133.16.840.63.0.3" => MessageDigest::sha1(),
        "1.3.132.1.11.0" | "1.3.132.1.14.0" => MessageDigest::sha224(),
        "1.3.132.1.11.1" | "1.3.132.1.14.1" => MessageDigest::sha256(),
        "1.3.132.1.11.2" | "1.3.132.1.14.2" => MessageDigest::sha384(),
        "1.3.132.1.11.3" | "1.3.132.1.14.3" => MessageDigest::sha512(),
        other => {
            return Err(CryptoError::Decrypt(format!(
                "unsupported key agreement algorithm {other}"
            )));
        }
    };
    let wrap_alg: AlgorithmIdentifierOwned = kari
        .key_enc_alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as().ok())
        .ok_or_else(|| {
            CryptoError::Smime("the key agreement names no key-wrap algorithm".into())
        })?;
    let kek_len = match wrap_alg.oid.to_string().as_str() {
        "2.16.840.1.101.3.4.1.5" => 16,
        "2.16.840.1.101.3.4.1.25" => 24,
        "2.16.840.1.101.3.4.1.45" => 32,
        other => {
            return Err(CryptoError::Decrypt(format!(
                "unsupported key wrap {other}"
            )));
        }
    };
    let OriginatorIdentifierOrKey::OriginatorKey(originator) = &kari.originator else {
        return Err(CryptoError::Decrypt(
            "only ephemeral-static ECDH (an originator key) is supported".into(),
        ));
    };
    let our_ec = ours.ec_key().map_err(|_| fail())?;
    let group = our_ec.group();
    let mut ctx = BigNumContext::new().map_err(|_| fail())?;
    let point = EcPoint::from_bytes(group, originator.public_key.raw_bytes(), &mut ctx)
        .map_err(|_| CryptoError::Smime("the sender's ephemeral key is not on our curve".into()))?;
    let peer = EcKey::from_public_key(group, &point)
        .and_then(PKey::from_ec_key)
        .map_err(|_| CryptoError::Smime("the sender's ephemeral key is unusable".into()))?;
    let z = derive(ours, &peer)?;
    let kek = kdf(
        digest,
        &z,
        &wrap_alg,
        kek_len,
        kari.ukm.as_ref().map(|u| u.as_bytes()),
    )?;
    aes_unwrap(&kek, wrapped).ok_or_else(fail)
}

fn derive<T: openssl::pkey::HasPrivate>(
    ours: &PKey<T>,
    peer: &PKey<Public>,
) -> Result<Vec<u8>, CryptoError> {
    let fail = |e: openssl::error::ErrorStack| CryptoError::Decrypt(format!("ECDH failed: {e}"));
    let mut deriver = openssl::derive::Deriver::new(ours).map_err(fail)?;
    deriver.set_peer(peer).map_err(fail)?;
    deriver.derive_to_vec().map_err(fail)
}

/// ANSI X9.63 KDF: Hash(Z || counter || SharedInfo) for counter = 1, 2, ... (RFC 5753 §7.2).
fn kdf(
    digest: MessageDigest,
    z: &[u8],
    wrap_alg: &AlgorithmIdentifierOwned,
    key_len: usize,
    ukm: Option<&[u8]>,
) -> Result<Vec<u8>, CryptoError> {
    let der_err = |e: der::Error| CryptoError::Smime(format!("KDF input: {e}"));
    let shared = EccCmsSharedInfo {
        key_info: wrap_alg.clone(),
        entity_u_info: ukm.map(OctetString::new).transpose().map_err(der_err)?,
        supp_pub_info: OctetString::new(((key_len * 8) as u32).to_be_bytes().to_vec())
            .map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)?;
    let mut out = Vec::with_capacity(key_len + 64);
    let mut counter: u32 = 1;
    while out.len() < key_len {
        let block = [z, &counter.to_be_bytes(), &shared].concat();
        let hash = openssl::hash::hash(digest, &block)
            .map_err(|e| CryptoError::Smime(format!("KDF: {e}")))?;
        out.extend_from_slice(&hash);
        counter += 1;
    }
    out.truncate(key_len);
    Ok(out)
}

fn aes_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let fail = || CryptoError::Smime("AES key wrap failed".into());
    let aes = openssl::aes::AesKey::new_encrypt(kek).map_err(|_| fail())?;
    let mut out = vec![0u8; key.len() + 8];
    let n = openssl::aes::wrap_key(&aes, None, &mut out, key).map_err(|_| fail())?;
    out.truncate(n);
    Ok(out)
}

fn aes_unwrap(kek: &[u8], wrapped: &[u8]) -> Option<Vec<u8>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return None;
    }
    let aes = openssl::aes::AesKey::new_decrypt(kek).ok()?;
    let mut out = vec![0u8; wrapped.len() - 8];
    let n = openssl::aes::unwrap_key(&aes, None, &mut out, wrapped).ok()?;
    out.truncate(n);
    Some(out)
}
