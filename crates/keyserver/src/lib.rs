//! Signet's keyserver crate: keys for the world and from the world.
//!
//! - For the world: [`directory`] is the in-memory index of every key the organization
//!   publishes; [`ldap_service`] answers LDAP/LDAPS (the OpenPGP keyserver schema GnuPG reads,
//!   and `userCertificate;binary` for S/MIME clients) and [`http_service`] answers HKP, Web Key
//!   Directory and the CRL, both from that index. The Verified Directory joins them later.
//! - From the world: the key-search client ([`search`]) that finds recipients' keys on
//!   LDAP/LDAPS keyservers, HKP/HKPS servers and Web Key Directories, and the harvesting of
//!   keys from received mail ([`harvest`]) that fills the key cache.

pub mod directory;
pub mod harvest;
pub mod http_service;
pub mod ldap_service;
pub mod material;
pub mod search;
pub mod verified_directory;

pub use harvest::{HarvestedKey, harvest};
pub use material::KeyMaterial;
pub use search::{
    FoundKey, Keyserver, KeyserverKind, SearchError, SearchOptions, search, search_in_order,
};
