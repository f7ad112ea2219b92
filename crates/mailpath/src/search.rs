//! Keys from outside the state, for the mail path (guide §2.1, §4):
//!
//! - **Key search.** When Send finds no key for a recipient among the users and in the key
//!   cache, the keyservers its rule's Key Search lists are asked, in order
//!   ([`signet_keyserver::search_in_order`]); what they find goes into the key cache, and the
//!   message is processed again. A keyserver that does not answer for a recipient makes
//!   [`find_keys`] name that recipient: the service splits the message, delivers the others
//!   now and queues only the waiting recipients for a later try (guide §6). The failure of a
//!   `keys.<domain>` server counts as "no key" and never queues.
//! - **Harvest.** Keys attached to inbound mail (`application/pgp-keys` parts, armored public
//!   keys, Autocrypt headers) go into the key cache for the From address, unless the address
//!   is one of our users', and S/MIME signer certificates from signatures that hold (the
//!   next Send to that address can use S/MIME).

use signet_keyserver::{Keyserver, KeyserverKind, SearchOptions, harvest, search_in_order};
use signet_model::{LookupKeyserver, LookupKeyserverKind};
use signet_smtp::DeliveryError;
use signet_smtp::spool::Envelope;
use signet_store::{Command, Node, now_millis};

use crate::service::MailSettings;

/// The keyserver a rule names (by description, case-insensitive): the built-in
/// `keys.$ADDRESS_DOMAIN` entry, else the cluster's replicated list, else the node's own
/// `[[mail.keyserver]]` entries (a name in both: the replicated one wins).
fn keyserver(
    settings: &MailSettings,
    replicated: &[LookupKeyserver],
    name: &str,
) -> Option<Keyserver> {
    let builtin = Keyserver::address_domain();
    if name.eq_ignore_ascii_case(&builtin.description) {
        return Some(builtin);
    }
    if let Some(k) = replicated.iter().find(|k| k.is_named(name)) {
        return Some(from_replicated(k));
    }
    settings
        .keyservers
        .iter()
        .find(|k| k.description.eq_ignore_ascii_case(name))
        .cloned()
}

fn from_replicated(k: &LookupKeyserver) -> Keyserver {
    let kind = match k.kind {
        LookupKeyserverKind::PgpLdap => KeyserverKind::PgpLdap,
        LookupKeyserverKind::PgpLdaps => KeyserverKind::PgpLdaps,
        LookupKeyserverKind::X509Ldap => KeyserverKind::X509Ldap,
        LookupKeyserverKind::X509Ldaps => KeyserverKind::X509Ldaps,
        LookupKeyserverKind::Hkp => KeyserverKind::Hkp,
        LookupKeyserverKind::Hkps => KeyserverKind::Hkps,
        LookupKeyserverKind::Wkd => KeyserverKind::Wkd,
    };
    Keyserver {
        description: k.name.clone(),
        kind,
        host: k.host.clone(),
        port: k.port,
        base_dn: k.base_dn.clone(),
        trusted: k.trusted,
    }
}

fn options(settings: &MailSettings) -> SearchOptions {
    SearchOptions {
        timeout: std::time::Duration::from_secs(settings.keyserver_timeout_secs.max(1)),
        resolve: settings.keyserver_resolve.clone(),
        ..SearchOptions::default()
    }
}

/// A recipient whose keyserver did not answer, and why (for the queue's reason column).
pub type Waiting = (String, String);

/// Searches each recipient's keyservers and caches what is found. Returns the recipients
/// whose keyservers did not answer: they must wait for a later try.
pub async fn find_keys(
    node: &Node,
    settings: &MailSettings,
    replicated: &[LookupKeyserver],
    wanted: &[(String, Vec<String>)],
) -> Result<Vec<Waiting>, DeliveryError> {
    let mut waiting = Vec::new();
    let options = options(settings);
    let timeout = node
        .local()
        .key_cache_timeout()
        .map_err(|e| DeliveryError::Temporary(e.to_string()))?;
    for (recipient, names) in wanted {
        let servers: Vec<Keyserver> = names
            .iter()
            .filter_map(|n| {
                let k = keyserver(settings, replicated, n);
                if k.is_none() {
                    tracing::warn!(keyserver = %n, "a rule names a keyserver that is not configured");
                }
                k
            })
            .collect();
        match search_in_order(recipient, &servers, &options).await {
            Ok(found) => {
                for key in found {
                    let entry = key.key.cache_entry(key.source(), now_millis(), timeout);
                    tracing::info!(recipient, server = %key.server, key = %entry.id, "key found on a keyserver; cached");
                    if let Err(e) = node.execute(Command::CacheKey { key: entry }).await {
                        return Err(DeliveryError::Temporary(format!(
                            "cannot cache the key found for {recipient}: {e}"
                        )));
                    }
                }
            }
            Err(e) if e.is_unavailable() => {
                waiting.push((
                    recipient.clone(),
                    format!("keyserver did not answer for {recipient}: {e}"),
                ));
            }
            Err(e) => tracing::info!(recipient, "no key on the keyservers: {e}"),
        }
    }
    Ok(waiting)
}

/// Caches the keys an inbound message carries for its sender.
pub async fn harvest_keys(node: &Node, envelope: &Envelope, message: &[u8]) {
    let view = node.local();
    let timeout = match view.key_cache_timeout() {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the key cache timeout; nothing harvested");
            return;
        }
    };
    let managed: Vec<String> = view
        .managed_domains()
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.name.to_lowercase())
        .collect();
    for h in harvest(message) {
        let domain = h.address.rsplit_once('@').map(|(_, d)| d.to_lowercase());
        if domain.is_some_and(|d| {
            managed
                .iter()
                .any(|m| d == *m || d.ends_with(&format!(".{m}")))
        }) {
            continue;
        }
        let entry = h.key.cache_entry(h.source(), now_millis(), timeout);
        tracing::info!(
            queue_id = %envelope.id,
            address = %h.address,
            key = %entry.id,
            how = h.how.label(),
            "key harvested from the mail flow; cached"
        );
        if let Err(e) = node.execute(Command::CacheKey { key: entry }).await {
            tracing::warn!(error = %e, "cannot cache a harvested key");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_entry(description: &str, host: &str) -> Keyserver {
        Keyserver {
            description: description.into(),
            kind: KeyserverKind::Hkp,
            host: host.into(),
            port: None,
            base_dn: None,
            trusted: false,
        }
    }

    #[test]
    fn the_replicated_list_wins_over_the_nodes_own_entries() {
        let settings = MailSettings {
            keyservers: vec![
                toml_entry("Partner", "toml.example.net"),
                toml_entry("Local only", "local.example.net"),
            ],
            ..MailSettings::default()
        };
        let replicated = [LookupKeyserver {
            name: "partner".into(),
            kind: LookupKeyserverKind::PgpLdap,
            host: "replicated.example.net".into(),
            port: Some(3389),
            base_dn: Some("o=Partner".into()),
            trusted: true,
        }];
        let found = keyserver(&settings, &replicated, "PARTNER");
        let found = found.as_ref();
        assert_eq!(
            found.map(|k| k.host.as_str()),
            Some("replicated.example.net")
        );
        assert_eq!(found.map(|k| k.kind), Some(KeyserverKind::PgpLdap));
        assert_eq!(found.map(Keyserver::port), Some(3389));
        assert!(found.is_some_and(Keyserver::keys_trusted));
        let local = keyserver(&settings, &replicated, "local only");
        assert_eq!(local.map(|k| k.host), Some("local.example.net".to_string()));
        assert!(keyserver(&settings, &replicated, "keys.$ADDRESS_DOMAIN").is_some());
        assert!(keyserver(&settings, &replicated, "unknown").is_none());
    }
}
