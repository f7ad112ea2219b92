//! LDAP / LDAPS keyservers: the OpenPGP keyserver schema PGP Universal and GnuPG's dirmngr
//! speak (`cn=PGPServerInfo` gives `pgpBaseKeySpaceDN`; keys are `pgpKey` values found by
//! `pgpUserID`), and X.509 directories (`userCertificate;binary` found by `mail`).
//!
//! The bind is anonymous, as dirmngr's and the reference's lookups are.

use std::collections::HashMap;
use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use super::http::tls_config;
use super::{Failure, Keyserver, KeyserverKind, SearchOptions, Target};
use crate::material::{KeyMaterial, certificates_for, merge, openpgp_keys_for};

/// Attributes that may hold an OpenPGP key: `pgpKey` (armored text, dirmngr and PGP Universal)
/// and `pgpKeyV2` (binary, some newer directories).
const KEY_ATTRIBUTES: [&str; 2] = ["pgpKey", "pgpKeyV2"];
const CERT_ATTRIBUTES: [&str; 2] = ["userCertificate;binary", "userCertificate"];

pub(crate) async fn search(
    target: &Target,
    server: &Keyserver,
    options: &SearchOptions,
) -> Result<Vec<KeyMaterial>, Failure> {
    let host = server.host_for(&target.domain);
    let tls = matches!(
        server.kind,
        KeyserverKind::PgpLdaps | KeyserverKind::X509Ldaps
    );
    let (scheme, port) = (if tls { "ldaps" } else { "ldap" }, server.port());
    // With a resolve override the URL names the address: ldap3 resolves the URL's host itself.
    let url = match options.resolve.get(&host.to_ascii_lowercase()) {
        Some(addr) => format!("{scheme}://{addr}"),
        None => format!("{scheme}://{host}:{port}"),
    };
    let mut settings = LdapConnSettings::new().set_conn_timeout(options.timeout);
    if tls {
        settings = settings.set_config(Arc::new(tls_config(options)?));
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url).await?;
    ldap3::drive!(conn);
    let x509 = matches!(
        server.kind,
        KeyserverKind::X509Ldap | KeyserverKind::X509Ldaps
    );
    let result = if x509 {
        search_certificates(&mut ldap, target, server, options).await
    } else {
        search_keys(&mut ldap, target, server, options).await
    };
    let _ = ldap.unbind().await;
    result
}

/// Where OpenPGP keys live: `pgpBaseKeySpaceDN` from `cn=PGPServerInfo` under the configured
/// base DN or under each naming context; else the base DN or the first naming context.
async fn key_space(ldap: &mut ldap3::Ldap, server: &Keyserver) -> Result<String, Failure> {
    let contexts = match &server.base_dn {
        Some(dn) => vec![dn.clone()],
        None => naming_contexts(ldap).await?,
    };
    let mut candidates: Vec<String> = contexts
        .iter()
        .map(|c| format!("cn=PGPServerInfo,{c}"))
        .collect();
    // PGP Universal answers for the bare entry too.
    candidates.push("cn=PGPServerInfo".into());
    for dn in candidates {
        let Ok(found) = ldap
            .search(
                &dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["pgpBaseKeySpaceDN"],
            )
            .await
        else {
            continue;
        };
        let Ok((entries, _)) = found.success() else {
            continue;
        };
        for entry in entries {
            let entry = SearchEntry::construct(entry);
            if let Some(base) = first_value(&entry.attrs, "pgpBaseKeySpaceDN") {
                return Ok(base);
            }
        }
    }
    contexts
        .into_iter()
        .next()
        .ok_or_else(|| Failure("the server names no base DN and no naming context".into()))
}

async fn naming_contexts(ldap: &mut ldap3::Ldap) -> Result<Vec<String>, Failure> {
    let (entries, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
        .await?
        .success()?;
    Ok(entries
        .into_iter()
        .flat_map(|e| {
            let entry = SearchEntry::construct(e);
            entry
                .attrs
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("namingContexts"))
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
        .collect())
}

/// The server stops after this many entries: a pattern search on a big directory must not
/// stream it all to us.
fn limits() -> ldap3::SearchOptions {
    ldap3::SearchOptions::new().sizelimit(MAX_ENTRIES)
}

const MAX_ENTRIES: i32 = 64;

/// The entries of a search: a size-limited answer keeps what came, an absent base is an
/// empty answer, any other error code is a failure.
fn entries_of(result: ldap3::SearchResult) -> Result<Vec<ldap3::ResultEntry>, Failure> {
    match result.1.rc {
        0 | 4 => Ok(result.0),
        32 => Ok(Vec::new()),
        rc => Err(Failure(format!("LDAP error {rc}: {}", result.1.text))),
    }
}

fn first_value(attrs: &HashMap<String, Vec<String>>, name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
}

/// Values of an attribute, text or binary, matched without regard to case.
fn values(entry: &SearchEntry, name: &str) -> Vec<Vec<u8>> {
    let text = entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(|s| s.as_bytes().to_vec()));
    let binary = entry
        .bin_attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().cloned());
    text.chain(binary).collect()
}

async fn search_keys(
    ldap: &mut ldap3::Ldap,
    target: &Target,
    server: &Keyserver,
    options: &SearchOptions,
) -> Result<Vec<KeyMaterial>, Failure> {
    let base = key_space(ldap, server).await?;
    let filter = format!("(pgpUserID=*{}*)", ldap_escape(target.email.as_str()));
    let entries = entries_of(
        ldap.with_search_options(limits())
            .search(&base, Scope::Subtree, &filter, KEY_ATTRIBUTES.to_vec())
            .await?,
    )?;
    let mut out = Vec::new();
    let mut read = 0usize;
    for entry in entries {
        let entry = SearchEntry::construct(entry);
        for name in KEY_ATTRIBUTES {
            for value in values(&entry, name) {
                read += value.len();
                if read > options.max_bytes {
                    return Ok(out);
                }
                merge(
                    &mut out,
                    openpgp_keys_for(&value, &target.email),
                    options.max_keys,
                );
            }
        }
    }
    Ok(out)
}

async fn search_certificates(
    ldap: &mut ldap3::Ldap,
    target: &Target,
    server: &Keyserver,
    options: &SearchOptions,
) -> Result<Vec<KeyMaterial>, Failure> {
    let bases = match &server.base_dn {
        Some(dn) => vec![dn.clone()],
        None => naming_contexts(ldap).await?,
    };
    let filter = format!("(mail={})", ldap_escape(target.email.as_str()));
    let mut out = Vec::new();
    let mut read = 0usize;
    for base in bases {
        let entries = entries_of(
            ldap.with_search_options(limits())
                .search(&base, Scope::Subtree, &filter, CERT_ATTRIBUTES.to_vec())
                .await?,
        )?;
        for entry in entries {
            let entry = SearchEntry::construct(entry);
            for name in CERT_ATTRIBUTES {
                for value in values(&entry, name) {
                    read += value.len();
                    if read > options.max_bytes {
                        return Ok(out);
                    }
                    merge(
                        &mut out,
                        certificates_for(&value, &target.email),
                        options.max_keys,
                    );
                }
            }
        }
    }
    Ok(out)
}
