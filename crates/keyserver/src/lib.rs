//! Signet's keyserver crate. Today: the outbound key-search client ([`search`]) that finds
//! recipients' keys on LDAP/LDAPS keyservers, HKP/HKPS servers and Web Key Directories, and
//! the harvesting of keys from received mail ([`harvest`]) that fills the key cache. The
//! keyserver service (LDAP, HKP, WKD and the Verified Directory for the world) joins later as
//! its own module.

pub mod harvest;
pub mod material;
pub mod search;

pub use harvest::{HarvestedKey, harvest};
pub use material::KeyMaterial;
pub use search::{
    FoundKey, Keyserver, KeyserverKind, SearchError, SearchOptions, search, search_in_order,
};
