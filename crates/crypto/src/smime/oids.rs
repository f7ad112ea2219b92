//! The object identifiers S/MIME needs, spelled out so the code does not depend on which RFC
//! module of `const_oid::db` happens to hold each one.

use const_oid::ObjectIdentifier as Oid;

pub const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
pub const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
pub const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");

pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");

pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");

pub const CN: Oid = Oid::new_unwrap("2.5.4.3");
pub const C: Oid = Oid::new_unwrap("2.5.4.6");
pub const L: Oid = Oid::new_unwrap("2.5.4.7");
pub const ST: Oid = Oid::new_unwrap("2.5.4.8");
pub const O: Oid = Oid::new_unwrap("2.5.4.10");
pub const OU: Oid = Oid::new_unwrap("2.5.4.11");

pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub const KP_EMAIL_PROTECTION: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.4");
