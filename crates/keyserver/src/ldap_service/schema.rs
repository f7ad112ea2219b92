//! The OpenPGP keyserver schema as GnuPG's dirmngr and PGP clients read it: the root DSE,
//! `cn=PGPServerInfo`, and one `pgpKeyInfo` entry per published key (with `mail` and
//! `userCertificate;binary` for S/MIME clients).

use ldap3_proto::proto::{LdapPartialAttribute, LdapSearchResultEntry};

use crate::directory::{Directory, PublishedKey};

/// Where the entries live.
#[derive(Debug, Clone)]
pub struct Naming {
    /// The naming context, e.g. `o=Signet`.
    pub base_dn: String,
}

impl Naming {
    pub fn key_space(&self) -> String {
        format!("ou=PGP Keys,{}", self.base_dn)
    }

    pub fn server_info(&self) -> String {
        format!("cn=PGPServerInfo,{}", self.base_dn)
    }

    pub fn key_dn(&self, key: &PublishedKey) -> String {
        format!("pgpCertID={},{}", key.key_id(), self.key_space())
    }

    pub fn certificate_dn(&self, mail: &str) -> String {
        format!("mail={mail},ou=Certificates,{}", self.base_dn)
    }
}

/// `YYYYMMDDHHMMSSZ` (LDAP GeneralizedTime), as PGP keyservers write key times.
pub fn generalized_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The PGP schema's key type names.
fn key_type(algorithm: u8) -> &'static str {
    match algorithm {
        1..=3 => "RSA",
        16 | 17 | 20 => "DSS/DH",
        18 => "ECDH",
        19 => "ECDSA",
        22 | 27 => "EdDSA",
        _ => "unknown",
    }
}

/// The values of one attribute of a key entry (lower-case or any-case name), as strings for
/// matching. `certs` is how many S/MIME certificates the key's addresses have.
pub fn key_values(key: &PublishedKey, attr: &str, certs: usize) -> Vec<String> {
    match attr.to_ascii_lowercase().as_str() {
        "objectclass" => vec!["pgpKeyInfo".into(), "top".into()],
        "pgpcertid" => vec![key.key_id()],
        "pgpkeyid" => vec![format!("{:08X}", key.key_id_value() as u32)],
        "pgpuserid" => key.user_ids().map(str::to_string).collect(),
        "gpgmailbox" | "mail" => key.emails().map(str::to_string).collect(),
        "gpgfingerprint" => vec![key.fingerprint()],
        "gpgsubfingerprint" => key.subkey_fingerprints().collect(),
        "gpgsubcertid" => key.subkey_key_ids().collect(),
        "pgprevoked" => vec![if key.revoked() { "1" } else { "0" }.into()],
        "pgpdisabled" => vec!["0".into()],
        "pgpkeycreatetime" | "modifytimestamp" | "createtimestamp" => {
            vec![generalized_time(key.created())]
        }
        "pgpkeyexpiretime" => key.expires().map(generalized_time).into_iter().collect(),
        "pgpkeysize" => vec![format!("{:05}", key.bits())],
        "pgpkeytype" => vec![key_type(key.algorithm()).into()],
        "pgpkey" => vec!["(present)".into()],
        "usercertificate;binary" | "usercertificate" if certs > 0 => vec!["(present)".into()],
        _ => Vec::new(),
    }
}

/// Every attribute a key entry can carry, canonical spelling, in output order.
const KEY_ATTRIBUTES: &[&str] = &[
    "objectClass",
    "pgpCertID",
    "pgpKeyID",
    "pgpUserID",
    "gpgMailbox",
    "mail",
    "gpgFingerprint",
    "gpgSubFingerprint",
    "gpgSubCertID",
    "pgpRevoked",
    "pgpDisabled",
    "pgpKeyCreateTime",
    "modifyTimestamp",
    "pgpKeyExpireTime",
    "pgpKeySize",
    "pgpKeyType",
    "pgpKey",
    "userCertificate;binary",
];

/// What the client asked for: everything for an empty list, `*`, or names in any case.
pub struct Wanted {
    all: bool,
    names: Vec<String>,
    types_only: bool,
}

impl Wanted {
    pub fn new(attrs: &[String], types_only: bool) -> Wanted {
        let names: Vec<String> = attrs.iter().map(|a| a.to_ascii_lowercase()).collect();
        let all = names.is_empty() || names.iter().any(|n| n == "*");
        Wanted {
            all,
            names,
            types_only,
        }
    }

    fn wants(&self, canonical: &str) -> bool {
        if self.all {
            // `+` (operational) attributes are not sent unless asked for by name.
            return canonical != "modifyTimestamp";
        }
        let lower = canonical.to_ascii_lowercase();
        self.names
            .iter()
            .any(|n| *n == lower || (lower == "usercertificate;binary" && n == "usercertificate"))
    }

    fn attribute(&self, name: &str, vals: Vec<Vec<u8>>) -> Option<LdapPartialAttribute> {
        if vals.is_empty() {
            return None;
        }
        Some(LdapPartialAttribute {
            atype: name.to_string(),
            vals: if self.types_only { Vec::new() } else { vals },
        })
    }
}

/// The search result entry for a key.
pub fn key_entry(
    naming: &Naming,
    dir: &Directory,
    key: &PublishedKey,
    wanted: &Wanted,
) -> LdapSearchResultEntry {
    let mut attributes = Vec::new();
    for name in KEY_ATTRIBUTES {
        if !wanted.wants(name) {
            continue;
        }
        let vals: Vec<Vec<u8>> = match *name {
            "pgpKey" => vec![key.armored().into_bytes()],
            "userCertificate;binary" => key
                .emails()
                .flat_map(|e| dir.certificates_for(e))
                .map(|der| der.to_vec())
                .collect(),
            other => key_values(key, other, 0)
                .into_iter()
                .map(String::into_bytes)
                .collect(),
        };
        attributes.extend(wanted.attribute(name, vals));
    }
    LdapSearchResultEntry {
        dn: naming.key_dn(key),
        attributes,
    }
}

/// The entry for an address that has S/MIME certificates but no OpenPGP key.
pub fn certificate_entry(
    naming: &Naming,
    dir: &Directory,
    mail: &str,
    wanted: &Wanted,
) -> LdapSearchResultEntry {
    let mut attributes = Vec::new();
    if wanted.wants("objectClass") {
        attributes.extend(wanted.attribute(
            "objectClass",
            vec![b"inetOrgPerson".to_vec(), b"top".to_vec()],
        ));
    }
    if wanted.wants("mail") {
        attributes.extend(wanted.attribute("mail", vec![mail.as_bytes().to_vec()]));
    }
    if wanted.wants("userCertificate;binary") {
        let certs = dir
            .certificates_for(mail)
            .iter()
            .map(|d| d.to_vec())
            .collect();
        attributes.extend(wanted.attribute("userCertificate;binary", certs));
    }
    LdapSearchResultEntry {
        dn: naming.certificate_dn(mail),
        attributes,
    }
}

fn simple_entry(
    dn: String,
    attrs: Vec<(&str, Vec<String>)>,
    wanted: &Wanted,
) -> LdapSearchResultEntry {
    LdapSearchResultEntry {
        dn,
        attributes: attrs
            .into_iter()
            .filter(|(n, _)| wanted.wants(n))
            .filter_map(|(n, v)| {
                wanted.attribute(n, v.into_iter().map(String::into_bytes).collect())
            })
            .collect(),
    }
}

/// The root DSE: where the keys are, so clients can find `cn=PGPServerInfo`.
pub fn root_dse(naming: &Naming, wanted: &Wanted) -> LdapSearchResultEntry {
    simple_entry(
        String::new(),
        vec![
            ("objectClass", vec!["top".into()]),
            ("namingContexts", vec![naming.base_dn.clone()]),
            ("supportedLDAPVersion", vec!["3".into()]),
            ("vendorName", vec!["Signet".into()]),
        ],
        wanted,
    )
}

/// `cn=PGPServerInfo`: the base of the key space, and "schema v2" (pgpSoftware GnuPG,
/// pgpVersion 2) so GnuPG searches by fingerprint and mailbox instead of user-ID substrings.
pub fn server_info(naming: &Naming, wanted: &Wanted) -> LdapSearchResultEntry {
    simple_entry(
        naming.server_info(),
        vec![
            ("objectClass", vec!["pgpServerInfo".into(), "top".into()]),
            ("cn", vec!["PGPServerInfo".into()]),
            ("pgpBaseKeySpaceDN", vec![naming.key_space()]),
            ("pgpSoftware", vec!["GnuPG".into()]),
            ("pgpVersion", vec!["2".into()]),
        ],
        wanted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(generalized_time(0), "19700101000000Z");
        assert_eq!(generalized_time(1_700_000_000), "20231114221320Z");
    }
}
