//! Every `/api/v1` route with what it needs: the single list the authorization middleware
//! ([`crate::guard`]) and the OpenAPI document ([`crate::openapi`]) are made from.
//!
//! A route that is registered in a router but missing here is refused by the middleware (fail
//! closed), and the unit test below fails: it reads the routers' source and compares.

use axum::http::Method;
use signet_model::Permission;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (login, the OpenAPI document); the handler decides the rest.
    Open,
    /// Administrators whose role allows the permission.
    Role(Permission),
    /// The administrator named by the `{login}` path parameter, or a role with the permission
    /// (changing one's own passphrase).
    SelfOr(Permission),
}

/// One route: method, the path exactly as registered in axum, access and a summary.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
}

use Access::{Open, Role, SelfOr};
use Permission::*;

macro_rules! routes {
    ($(($method:literal, $path:literal, $access:expr, $summary:literal)),* $(,)?) => {
        &[$(RouteSpec { method: $method, path: $path, access: $access, summary: $summary }),*]
    };
}

/// The table. Permissions are the ones each handler checks itself (spec ADM-2).
#[rustfmt::skip]
pub static ROUTES: &[RouteSpec] = routes![
    ("POST", "/api/v1/session", Open, "Log in with login name and passphrase (sets the session cookie)"),
    ("GET", "/api/v1/session", Open, "The current session (401 without one)"),
    ("DELETE", "/api/v1/session", Open, "Log out"),
    ("GET", "/api/v1/openapi.json", Open, "This OpenAPI document"),
    ("GET", "/api/v1/administrators", Role(ManageAdministrators), "List administrators"),
    ("POST", "/api/v1/administrators", Role(ManageAdministrators), "Add an administrator"),
    ("GET", "/api/v1/administrators/{login}", Role(ManageAdministrators), "Show an administrator"),
    ("PUT", "/api/v1/administrators/{login}", Role(ManageAdministrators), "Change an administrator's role or email"),
    ("DELETE", "/api/v1/administrators/{login}", Role(ManageAdministrators), "Delete an administrator"),
    ("PUT", "/api/v1/administrators/{login}/passphrase", SelfOr(ManageAdministrators), "Change your own passphrase, or reset another's to a temporary one"),
    ("POST", "/api/v1/administrators/{login}/unlock", Role(ManageAdministrators), "Unlock a locked-out administrator"),
    ("POST", "/api/v1/administrators/{login}/tokens", Role(ManageAdministrators), "Issue an API token for an administrator (shown once)"),
    ("GET", "/api/v1/settings/administration", Role(ViewSettings), "Passphrase policy, lockout, CAPTCHA and idle timeout"),
    ("PUT", "/api/v1/settings/administration", Role(ManageAdministrators), "Change the administration settings"),
    ("GET", "/api/v1/audit", Role(ViewSettings), "The audit log of administrative changes, newest first"),
    ("GET", "/api/v1/cluster", Role(ViewSettings), "Cluster status"),
    ("POST", "/api/v1/cluster/tokens", Role(ConfigureClustering), "Issue a join token"),
    ("POST", "/api/v1/cluster/join", Role(ConfigureClustering), "Join a cluster"),
    ("POST", "/api/v1/cluster/contact", Role(ConfigureClustering), "Contact a server waiting to join and hand it a sealed join token"),
    ("DELETE", "/api/v1/cluster/members/{id}", Role(ConfigureClustering), "Remove a cluster member"),
    ("GET", "/api/v1/domains", Role(ViewSettings), "List managed domains"),
    ("POST", "/api/v1/domains", Role(ConfigureSystem), "Add a managed domain"),
    ("DELETE", "/api/v1/domains/{name}", Role(ConfigureSystem), "Remove a managed domain"),
    ("GET", "/api/v1/users", Role(ViewSettings), "List users"),
    ("POST", "/api/v1/users", Role(AddUsers), "Add a user"),
    ("GET", "/api/v1/users/{email}", Role(ViewSettings), "Show a user"),
    ("DELETE", "/api/v1/users/{email}", Role(AddUsers), "Delete a user"),
    ("GET", "/api/v1/settings/learn-mode", Role(ViewSettings), "Learn Mode"),
    ("PUT", "/api/v1/settings/learn-mode", Role(ConfigureSystem), "Turn Learn Mode on or off"),
    ("GET", "/api/v1/dictionaries", Role(ViewSettings), "List dictionaries"),
    ("POST", "/api/v1/dictionaries", Role(ConfigureSystem), "Create a dictionary"),
    ("GET", "/api/v1/dictionaries/{name}", Role(ViewSettings), "Show a dictionary"),
    ("PATCH", "/api/v1/dictionaries/{name}", Role(ConfigureSystem), "Rename or describe a dictionary"),
    ("DELETE", "/api/v1/dictionaries/{name}", Role(ConfigureSystem), "Delete a dictionary"),
    ("GET", "/api/v1/dictionaries/{name}/entries", Role(ViewSettings), "List a dictionary's entries"),
    ("POST", "/api/v1/dictionaries/{name}/entries", Role(ConfigureSystem), "Add entries"),
    ("DELETE", "/api/v1/dictionaries/{name}/entries", Role(ConfigureSystem), "Remove entries"),
    ("POST", "/api/v1/dictionaries/{name}/approve", Role(ConfigureSystem), "Approve pending entries"),
    ("POST", "/api/v1/dictionaries/{name}/evaluate", Role(ViewSettings), "Test a value against a dictionary"),
    ("GET", "/api/v1/dictionaries/{name}/export", Role(ViewSettings), "Export a dictionary"),
    ("GET", "/api/v1/dictionary-export", Role(ViewSettings), "Export several dictionaries"),
    ("POST", "/api/v1/dictionary-export", Role(ViewSettings), "Export several dictionaries (names in the body)"),
    ("GET", "/api/v1/dictionary-search", Role(ViewSettings), "Search dictionaries"),
    ("GET", "/api/v1/organization", Role(ViewSettings), "The organization's keys and certificates"),
    ("GET", "/api/v1/organization/{kind}", Role(ViewSettings), "Show an organization key or certificate"),
    ("POST", "/api/v1/organization/{kind}", Role(ConfigureSystem), "Generate or import an organization key or certificate"),
    ("DELETE", "/api/v1/organization/{kind}", Role(ConfigureSystem), "Delete an organization key or certificate"),
    ("POST", "/api/v1/organization/{kind}/export", Role(ViewSettings), "Export an organization key (private parts need export-private-keys)"),
    ("GET", "/api/v1/crl", Role(ViewSettings), "The certificate revocation list"),
    ("GET", "/api/v1/users/{email}/keys", Role(ViewSettings), "List a user's keys"),
    ("POST", "/api/v1/users/{email}/keys", Role(ManageUsers), "Add a key to a user"),
    ("DELETE", "/api/v1/users/{email}/keys/{fingerprint}", Role(ManageUsers), "Delete a user's key"),
    ("POST", "/api/v1/users/{email}/keys/{fingerprint}/revoke", Role(ManageUsers), "Revoke a user's key"),
    ("POST", "/api/v1/users/{email}/keys/{fingerprint}/export", Role(ViewSettings), "Export a user's key (private parts need export-private-keys)"),
    ("GET", "/api/v1/keys", Role(ViewSettings), "Search keys"),
    ("GET", "/api/v1/ignition-keys", Role(ViewSettings), "List Ignition Keys"),
    ("POST", "/api/v1/ignition-keys", Role(ConfigureSystem), "Add an Ignition Key"),
    ("DELETE", "/api/v1/ignition-keys/{name}", Role(ConfigureSystem), "Delete an Ignition Key"),
    ("POST", "/api/v1/unlock", Role(ViewSettings), "Unlock this member with an Ignition Key passphrase"),
    ("GET", "/api/v1/trusted", Role(ViewSettings), "List trusted keys and certificates"),
    ("POST", "/api/v1/trusted", Role(ConfigureSystem), "Add a trusted key or certificate"),
    ("GET", "/api/v1/trusted/{id}", Role(ViewSettings), "Show a trusted key or certificate"),
    ("PUT", "/api/v1/trusted/{id}", Role(ConfigureSystem), "Change trust flags"),
    ("DELETE", "/api/v1/trusted/{id}", Role(ConfigureSystem), "Delete a trusted key or certificate"),
    ("GET", "/api/v1/keyservers", Role(ViewSettings), "List the keyservers for key lookup, in search order"),
    ("POST", "/api/v1/keyservers", Role(ConfigureSystem), "Add a keyserver for key lookup"),
    ("PUT", "/api/v1/keyservers/order", Role(ConfigureSystem), "Put the keyservers in a new order"),
    ("PUT", "/api/v1/keyservers/{name}", Role(ConfigureSystem), "Change a keyserver"),
    ("DELETE", "/api/v1/keyservers/{name}", Role(ConfigureSystem), "Delete a keyserver"),
    ("GET", "/api/v1/mail/routes", Role(ViewSettings), "List this node's static mail routes"),
    ("POST", "/api/v1/mail/routes", Role(ConfigureSystem), "Add or replace a static mail route on this node"),
    ("DELETE", "/api/v1/mail/routes/{domain}", Role(ConfigureSystem), "Delete a static mail route added on this node"),
    ("GET", "/api/v1/mail/settings", Role(ViewSettings), "This node's mail settings (host name, placement, mail server, delivery) and where each came from"),
    ("PUT", "/api/v1/mail/settings", Role(ConfigureSystem), "Change this node's mail settings (applied without a restart)"),
    ("GET", "/api/v1/mail/proxies", Role(ViewSettings), "List this node's SMTP proxies with their state"),
    ("POST", "/api/v1/mail/proxies", Role(ConfigureSystem), "Add an SMTP proxy on this node"),
    ("GET", "/api/v1/mail/proxies/{id}", Role(ViewSettings), "Show an SMTP proxy"),
    ("PUT", "/api/v1/mail/proxies/{id}", Role(ConfigureSystem), "Change an SMTP proxy"),
    ("DELETE", "/api/v1/mail/proxies/{id}", Role(ConfigureSystem), "Delete an SMTP proxy"),
    ("GET", "/api/v1/mail/archive-servers", Role(ViewSettings), "List this node's archive servers"),
    ("POST", "/api/v1/mail/archive-servers", Role(ConfigureSystem), "Add an archive server on this node"),
    ("DELETE", "/api/v1/mail/archive-servers/{name}", Role(ConfigureSystem), "Delete an archive server (refused while a rule names it)"),
    ("GET", "/api/v1/keycache", Role(ViewSettings), "List the key cache"),
    ("DELETE", "/api/v1/keycache", Role(ConfigureSystem), "Purge the key cache"),
    ("GET", "/api/v1/keycache/settings", Role(ViewSettings), "Key cache settings"),
    ("PUT", "/api/v1/keycache/settings", Role(ConfigureSystem), "Change key cache settings"),
    ("POST", "/api/v1/keycache/lookup", Role(ConfigureSystem), "Look a key up on keyservers"),
    ("GET", "/api/v1/keycache/{id}", Role(ViewSettings), "Show a cached key"),
    ("DELETE", "/api/v1/keycache/{id}", Role(ConfigureSystem), "Purge a cached key"),
    ("POST", "/api/v1/keycache/{id}/trust", Role(ConfigureSystem), "Trust a cached key"),
    ("GET", "/api/v1/policy/chains", Role(ViewSettings), "List policy chains"),
    ("GET", "/api/v1/policy/chains/{name}", Role(ViewSettings), "Show a policy chain"),
    ("PUT", "/api/v1/policy/chains/{name}", Role(ConfigureSystem), "Create or replace a policy chain"),
    ("DELETE", "/api/v1/policy/chains/{name}", Role(ConfigureSystem), "Delete a policy chain"),
    ("PATCH", "/api/v1/policy/chains/{name}", Role(ConfigureSystem), "Change a policy chain's settings"),
    ("GET", "/api/v1/policy/validate", Role(ViewSettings), "Validate the mail policy"),
    ("POST", "/api/v1/policy/restore-factory-defaults", Role(ConfigureSystem), "Restore the factory policy"),
    ("GET", "/api/v1/policy/chains/{chain}/rules", Role(ViewSettings), "List a chain's rules"),
    ("POST", "/api/v1/policy/chains/{chain}/rules", Role(ConfigureSystem), "Add a rule"),
    ("GET", "/api/v1/policy/chains/{chain}/rules/{rule}", Role(ViewSettings), "Show a rule"),
    ("PUT", "/api/v1/policy/chains/{chain}/rules/{rule}", Role(ConfigureSystem), "Replace a rule"),
    ("DELETE", "/api/v1/policy/chains/{chain}/rules/{rule}", Role(ConfigureSystem), "Delete a rule"),
    ("POST", "/api/v1/policy/chains/{chain}/rules/{rule}/move", Role(ConfigureSystem), "Move a rule"),
    ("POST", "/api/v1/policy/chains/{chain}/rules/{rule}/enable", Role(ConfigureSystem), "Enable a rule"),
    ("POST", "/api/v1/policy/chains/{chain}/rules/{rule}/disable", Role(ConfigureSystem), "Disable a rule"),
    ("GET", "/api/v1/policy/export", Role(ViewSettings), "Export the mail policy"),
    ("POST", "/api/v1/policy/import", Role(ConfigureSystem), "Import a mail policy"),
    ("POST", "/api/v1/policy/evaluate", Role(ViewSettings), "Dry-run the policy on a message"),
    ("GET", "/api/v1/queue", Role(ViewSettings), "List the mail queue"),
    ("DELETE", "/api/v1/queue", Role(ConfigureSystem), "Delete every queued message"),
    ("DELETE", "/api/v1/queue/{id}", Role(ConfigureSystem), "Delete a queued message"),
    ("POST", "/api/v1/queue/{id}/retry", Role(ControlServices), "Retry a queued message now"),
    ("GET", "/api/v1/templates", Role(ViewSettings), "List message templates"),
    ("GET", "/api/v1/templates/{id}", Role(ViewSettings), "Show a message template"),
    ("PUT", "/api/v1/templates/{id}", Role(ConfigureSystem), "Edit a message template"),
    ("POST", "/api/v1/templates/{id}/revert", Role(ConfigureSystem), "Revert a template to its default"),
    ("GET", "/api/v1/verified-directory/settings", Role(ViewSettings), "The Verified Directory's settings"),
    ("PUT", "/api/v1/verified-directory/settings", Role(ConfigureSystem), "Change the Verified Directory's settings (enabling makes its key)"),
    ("GET", "/api/v1/verified-directory/keys", Role(ViewSettings), "Keys submitted to the Verified Directory, by state"),
    ("GET", "/api/v1/verified-directory/keys/{fingerprint}", Role(ViewSettings), "One Verified Directory key"),
    ("DELETE", "/api/v1/verified-directory/keys/{fingerprint}", Role(ConfigureSystem), "Delete a Verified Directory key"),
    ("POST", "/api/v1/verified-directory/keys/{fingerprint}/approve", Role(ConfigureSystem), "Approve a key's confirmed user IDs (publish them)"),
    ("POST", "/api/v1/verified-directory/keys/{fingerprint}/reject", Role(ConfigureSystem), "Deny a key's pending user IDs"),
    ("GET", "/api/v1/setup", Role(ViewSettings), "Setup state"),
    ("POST", "/api/v1/setup", Role(ManageAdministrators), "Set the gateway up (domains, Organization Key)"),
    ("GET", "/api/v1/backups", Role(ViewSettings), "List backups"),
    ("POST", "/api/v1/backups", Role(ConfigureSystem), "Make a backup now"),
    ("GET", "/api/v1/backups/{name}", Role(ExportPrivateKeys), "Download a backup file (it holds private keys, encrypted to the Organization Key)"),
    ("GET", "/api/v1/backups/schedule", Role(ViewSettings), "The backup schedule"),
    ("PUT", "/api/v1/backups/schedule", Role(ConfigureSystem), "Change the backup schedule"),
    ("POST", "/api/v1/backups/restore", Role(ManageAdministrators), "Restore a backup"),
    ("GET", "/api/v1/logs", Role(ViewSettings), "This member's log, filtered"),
    ("GET", "/api/v1/logs/export", Role(ViewSettings), "Export this member's log"),
    ("GET", "/api/v1/activity", Role(ViewSettings), "Message and CPU activity samples"),
    ("GET", "/api/v1/certificates/admin", Role(ViewSettings), "The admin port's certificate"),
    ("PUT", "/api/v1/certificates/admin", Role(ConfigureSystem), "Replace the admin port's certificate"),
];

/// The entry for a request's method and matched path (HEAD is answered by GET routes).
pub fn find(method: &Method, path: &str) -> Option<&'static RouteSpec> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// The value of path parameter `{name}` in `actual`, matched against `pattern`.
pub fn path_param<'a>(pattern: &str, actual: &'a str, name: &str) -> Option<&'a str> {
    let wanted = format!("{{{name}}}");
    pattern
        .split('/')
        .zip(actual.split('/'))
        .find(|(p, _)| *p == wanted)
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// `(METHOD, path)` for every API route registered in the crate's source.
    fn registered() -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        let mut files = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
                let p = entry.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    files.push(p);
                }
            }
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source is readable");
            for chunk in text.split(".route(").skip(1) {
                let chunk = chunk.trim_start();
                let Some(rest) = chunk.strip_prefix('"') else {
                    continue;
                };
                let Some((path, tail)) = rest.split_once('"') else {
                    continue;
                };
                if !path.starts_with("/api/v1") {
                    continue;
                }
                // The method router ends where the next route or the router itself ends.
                let end = [".route(", ".merge(", "\n}", ".fallback("]
                    .iter()
                    .filter_map(|m| tail.find(m))
                    .min()
                    .unwrap_or(tail.len());
                let tail = &tail[..end];
                for m in ["get", "post", "put", "patch", "delete"] {
                    let plain = format!("{m}(");
                    let found_here = tail.match_indices(&plain).any(|(i, _)| {
                        let before = tail[..i].chars().next_back();
                        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    });
                    if found_here {
                        found.insert((m.to_uppercase(), path.to_string()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_registered_route_is_in_the_table() {
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        let registered = registered();
        assert!(registered.len() > 60, "the source scan found too little");
        let missing: Vec<_> = registered.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "routes without a permission in route_table.rs: {missing:?}"
        );
        let stale: Vec<_> = table.difference(&registered).collect();
        assert!(stale.is_empty(), "table entries with no route: {stale:?}");
    }

    #[test]
    fn no_duplicates_and_params() {
        let mut seen = BTreeSet::new();
        for r in ROUTES {
            assert!(seen.insert((r.method, r.path)), "duplicate {r:?}");
        }
        assert_eq!(
            path_param(
                "/api/v1/administrators/{login}/passphrase",
                "/api/v1/administrators/ann/passphrase",
                "login"
            ),
            Some("ann")
        );
        assert!(find(&Method::HEAD, "/api/v1/cluster").is_some());
    }
}
