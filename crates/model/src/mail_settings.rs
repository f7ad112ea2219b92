//! A member's mail settings (guide §5, Mail > Mail Proxies, and §3, Mail > Archive Servers):
//! host name, placement, the unmanaged-sender option, the inbound mail server, outbound
//! delivery, the SMTP proxies with their local connectors, and the archive servers.
//!
//! These are node-local (DESIGN.md): the daemon's `[mail]` TOML gives the boot-time values
//! ([`NodeMail`] "configured"), and what an administrator sets through the API
//! ([`MailOverrides`]) wins for each key it sets. The types are plain data shared by the web
//! (API, UI) and the appliance (which runs the proxies); serde names match the TOML's and the
//! smtp crate's.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where the appliance sits; it decides which proxies may exist (guide §5.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// Between the Internet and the mail server: Inbound, Outbound and Unified proxies.
    #[default]
    Gateway,
    /// Beside the mail server, for its users' outbound mail only.
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    Inbound,
    Outbound,
    Unified,
}

/// A local connector's security (client → Signet): STARTTLS Allow, Disable, Require, or SSL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientSecurity {
    #[default]
    Allow,
    Disable,
    Require,
    Ssl,
}

/// A peer's security (Signet → server): STARTTLS Attempt, Disable, Require, or SSL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSecurity {
    #[default]
    Attempt,
    Disable,
    Require,
    Ssl,
}

/// SMTP AUTH on a proxy's connectors: none, or passed through to the mail server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyAuth {
    #[default]
    None,
    MailServer,
}

/// The SMTP port for a security mode: 465 for SSL, 25 otherwise (guide §5.3).
pub fn smtp_port_for(ssl: bool) -> u16 {
    if ssl { 465 } else { 25 }
}

/// Where mail in one direction goes next.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delivery {
    /// Static mail routes, else the recipient domain's MX.
    #[default]
    Direct,
    /// A mail server or relay: host, port (25, or 465 for SSL) and security.
    Relay {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(default)]
        security: PeerSecurity,
    },
}

impl Delivery {
    /// The relay's port with its default filled in.
    pub fn port(&self) -> Option<u16> {
        match self {
            Delivery::Direct => None,
            Delivery::Relay { port, security, .. } => {
                Some(port.unwrap_or(smtp_port_for(*security == PeerSecurity::Ssl)))
            }
        }
    }
}

/// The node-wide values of `[mail]` the API can set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The name in the SMTP greeting and EHLO; the machine's host name when absent.
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub placement: Placement,
    /// Bounce outbound mail from domains that are not managed (KB 160945).
    #[serde(default)]
    pub bounce_unmanaged_senders: bool,
    /// Where inbound mail goes: the organization's mail server.
    #[serde(default)]
    pub inbound_mail_server: Delivery,
    /// Where outbound mail goes: directly, or through a relay.
    #[serde(default)]
    pub outbound_delivery: Delivery,
}

/// A change of [`MailSettings`] (PUT body, and what the node-local store keeps): each key set
/// here wins over the configuration file's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_unmanaged_senders: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_mail_server: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_delivery: Option<Delivery>,
}

impl MailSettingsChange {
    /// `self` with the keys `other` sets replaced.
    pub fn merged(&self, other: &MailSettingsChange) -> MailSettingsChange {
        MailSettingsChange {
            hostname: other.hostname.clone().or(self.hostname.clone()),
            placement: other.placement.or(self.placement),
            bounce_unmanaged_senders: other
                .bounce_unmanaged_senders
                .or(self.bounce_unmanaged_senders),
            inbound_mail_server: other
                .inbound_mail_server
                .clone()
                .or(self.inbound_mail_server.clone()),
            outbound_delivery: other
                .outbound_delivery
                .clone()
                .or(self.outbound_delivery.clone()),
        }
    }

    /// The names of the keys this change sets.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.hostname.is_some() {
            out.push("hostname");
        }
        if self.placement.is_some() {
            out.push("placement");
        }
        if self.bounce_unmanaged_senders.is_some() {
            out.push("bounce_unmanaged_senders");
        }
        if self.inbound_mail_server.is_some() {
            out.push("inbound_mail_server");
        }
        if self.outbound_delivery.is_some() {
            out.push("outbound_delivery");
        }
        out
    }
}

/// A local connector: an interface address and a port, with its own security and access
/// control (guide §5.2–5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// The address to listen on; 0.0.0.0 for every interface.
    #[serde(default = "any_interface")]
    pub interface: IpAddr,
    /// 25, or 465 for SSL, when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: ClientSecurity,
    /// Allow only these addresses (IP or CIDR); empty allows all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Block these addresses (IP or CIDR).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block: Vec<String>,
}

fn any_interface() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}

impl Connector {
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(smtp_port_for(self.security == ClientSecurity::Ssl))
    }

    /// `interface:port`, as a socket address string.
    pub fn listen(&self) -> String {
        std::net::SocketAddr::new(self.interface, self.port()).to_string()
    }
}

/// One SMTP proxy. `id` is given by the node (`p1`, `p2`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    #[serde(default)]
    pub id: String,
    pub kind: ProxyKind,
    pub connectors: Vec<Connector>,
    /// Unified proxy: connections from these addresses are outbound, all others inbound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub designated_source_ips: Vec<String>,
    #[serde(default = "default_rate")]
    pub connections_per_second: u32,
    #[serde(default = "default_max_size")]
    pub max_message_size: u64,
    /// SMTP AUTH on this proxy's connectors (passed to the mail server).
    #[serde(default)]
    pub auth: ProxyAuth,
}

fn default_rate() -> u32 {
    200
}
fn default_max_size() -> u64 {
    50 * 1024 * 1024
}

/// An SMTP archive server the "Send copy to alternate archive server" action names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveServer {
    pub name: String,
    pub host: String,
    /// 25, or 465 for SSL, when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: PeerSecurity,
}

impl ArchiveServer {
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(smtp_port_for(self.security == PeerSecurity::Ssl))
    }
}

/// Everything a member's mail side runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMail {
    pub settings: MailSettings,
    pub proxies: Vec<Proxy>,
    pub archive_servers: Vec<ArchiveServer>,
}

/// What was set through the API; `None` keeps the configuration file's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailOverrides {
    #[serde(default)]
    pub settings: MailSettingsChange,
    #[serde(default)]
    pub proxies: Option<Vec<Proxy>>,
    #[serde(default)]
    pub archive_servers: Option<Vec<ArchiveServer>>,
}

impl MailOverrides {
    /// The effective values: these overrides over the configured ones.
    pub fn apply(&self, configured: &NodeMail) -> NodeMail {
        let c = &configured.settings;
        let o = &self.settings;
        NodeMail {
            settings: MailSettings {
                hostname: o.hostname.clone().or(c.hostname.clone()),
                placement: o.placement.unwrap_or(c.placement),
                bounce_unmanaged_senders: o
                    .bounce_unmanaged_senders
                    .unwrap_or(c.bounce_unmanaged_senders),
                inbound_mail_server: o
                    .inbound_mail_server
                    .clone()
                    .unwrap_or(c.inbound_mail_server.clone()),
                outbound_delivery: o
                    .outbound_delivery
                    .clone()
                    .unwrap_or(c.outbound_delivery.clone()),
            },
            proxies: self.proxies.clone().unwrap_or(configured.proxies.clone()),
            archive_servers: self
                .archive_servers
                .clone()
                .unwrap_or(configured.archive_servers.clone()),
        }
    }
}

/// Why a value was refused, naming the field (a JSON path such as `connectors[0].port`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent field (`proxies[1]` + `kind` = `proxies[1].kind`).
    pub fn within(self, parent: &str) -> Self {
        FieldError {
            field: format!("{parent}.{}", self.field),
            message: self.message,
        }
    }
}

/// Parses an IP address or CIDR range (`10.0.0.5`, `10.0.0.0/8`, `2001:db8::/32`).
pub fn check_ip_range(raw: &str) -> Result<(), String> {
    let s = raw.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if let Some(p) = prefix
        && !p.parse::<u8>().is_ok_and(|p| p <= max)
    {
        return Err(format!("{raw:?}: the prefix length must be 0 to {max}"));
    }
    Ok(())
}

fn check_ranges(field: &str, list: &[String]) -> Result<(), FieldError> {
    for (i, r) in list.iter().enumerate() {
        check_ip_range(r).map_err(|m| FieldError::new(format!("{field}[{i}]"), m))?;
    }
    Ok(())
}

/// A host name or address: non-empty, no spaces, no slashes, at most 253 characters.
pub fn check_host(field: &str, raw: &str) -> Result<(), FieldError> {
    let h = raw.trim();
    if h.is_empty() {
        return Err(FieldError::new(field, "a host name or address is needed"));
    }
    if h.len() > 253
        || h.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return Err(FieldError::new(
            field,
            format!("{raw:?} is not a host name or address"),
        ));
    }
    Ok(())
}

fn check_port(field: &str, port: Option<u16>) -> Result<(), FieldError> {
    if port == Some(0) {
        return Err(FieldError::new(field, "the port must be 1 to 65535"));
    }
    Ok(())
}

fn check_delivery(field: &str, d: &Delivery) -> Result<(), FieldError> {
    if let Delivery::Relay { host, port, .. } = d {
        check_host(&format!("{field}.host"), host)?;
        check_port(&format!("{field}.port"), *port)?;
    }
    Ok(())
}

impl Connector {
    pub fn check(&self) -> Result<(), FieldError> {
        check_port("port", self.port)?;
        check_ranges("allow", &self.allow)?;
        check_ranges("block", &self.block)
    }
}

impl Proxy {
    /// Checks the proxy on its own and against the placement.
    pub fn check(&self, placement: Placement) -> Result<(), FieldError> {
        if placement == Placement::Internal && self.kind != ProxyKind::Outbound {
            return Err(FieldError::new(
                "kind",
                "an internal placement has only Outbound proxies",
            ));
        }
        if self.connectors.is_empty() {
            return Err(FieldError::new(
                "connectors",
                "a proxy needs at least one local connector",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, c) in self.connectors.iter().enumerate() {
            let at = format!("connectors[{i}]");
            c.check().map_err(|e| e.within(&at))?;
            if !seen.insert((c.interface, c.port())) {
                return Err(FieldError::new(
                    at,
                    format!("{} is used by another connector of this proxy", c.listen()),
                ));
            }
        }
        check_ranges("designated_source_ips", &self.designated_source_ips)?;
        if self.connections_per_second == 0 {
            return Err(FieldError::new(
                "connections_per_second",
                "must be at least 1",
            ));
        }
        if self.max_message_size < 1024 {
            return Err(FieldError::new(
                "max_message_size",
                "must be at least 1024 bytes",
            ));
        }
        Ok(())
    }
}

impl ArchiveServer {
    pub fn check(&self) -> Result<(), FieldError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "a name of 1 to 128 printable characters is needed",
            ));
        }
        check_host("host", &self.host)?;
        check_port("port", self.port)
    }
}

impl MailSettings {
    pub fn check(&self) -> Result<(), FieldError> {
        if let Some(h) = &self.hostname {
            check_host("hostname", h)?;
        }
        check_delivery("inbound_mail_server", &self.inbound_mail_server)?;
        check_delivery("outbound_delivery", &self.outbound_delivery)
    }
}

impl NodeMail {
    /// The whole set: each part, the placement rule, and one listener per interface/port pair
    /// across proxies (two proxies cannot share a port).
    pub fn check(&self) -> Result<(), FieldError> {
        self.settings.check()?;
        let mut seen = BTreeSet::new();
        for (i, p) in self.proxies.iter().enumerate() {
            let at = format!("proxies[{i}]");
            if let Err(e) = p.check(self.settings.placement) {
                // The placement rule is about the placement when the proxies were there first.
                return Err(e.within(&at));
            }
            for (j, c) in p.connectors.iter().enumerate() {
                if !seen.insert((c.interface, c.port())) {
                    return Err(FieldError::new(
                        format!("{at}.connectors[{j}]"),
                        format!("{} is used by another proxy", c.listen()),
                    ));
                }
            }
        }
        let mut names = BTreeSet::new();
        for (i, a) in self.archive_servers.iter().enumerate() {
            a.check()
                .map_err(|e| e.within(&format!("archive_servers[{i}]")))?;
            if !names.insert(a.name.trim().to_lowercase()) {
                return Err(FieldError::new(
                    format!("archive_servers[{i}].name"),
                    format!("an archive server named {:?} exists", a.name),
                ));
            }
        }
        Ok(())
    }

    /// An id for a new proxy: one more than the highest `p<N>`.
    pub fn next_proxy_id(&self) -> String {
        let max = self
            .proxies
            .iter()
            .filter_map(|p| p.id.strip_prefix('p')?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        format!("p{}", max + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(port: Option<u16>, security: ClientSecurity) -> Connector {
        Connector {
            interface: any_interface(),
            port,
            security,
            allow: vec![],
            block: vec![],
        }
    }

    fn proxy(kind: ProxyKind) -> Proxy {
        Proxy {
            id: "p1".into(),
            kind,
            connectors: vec![connector(None, ClientSecurity::Allow)],
            designated_source_ips: vec!["10.0.0.5".into()],
            connections_per_second: 200,
            max_message_size: 1 << 20,
            auth: ProxyAuth::None,
        }
    }

    #[test]
    fn ssl_connector_defaults_to_465() {
        assert_eq!(connector(None, ClientSecurity::Ssl).port(), 465);
        assert_eq!(connector(None, ClientSecurity::Require).port(), 25);
        assert_eq!(connector(Some(2525), ClientSecurity::Ssl).port(), 2525);
    }

    #[test]
    fn internal_placement_has_only_outbound_proxies() {
        assert_eq!(
            proxy(ProxyKind::Unified)
                .check(Placement::Internal)
                .map_err(|e| e.field),
            Err("kind".into())
        );
        assert!(
            proxy(ProxyKind::Outbound)
                .check(Placement::Internal)
                .is_ok()
        );
        assert!(proxy(ProxyKind::Inbound).check(Placement::Gateway).is_ok());
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut p = proxy(ProxyKind::Unified);
        p.designated_source_ips = vec!["10.0.0.0/33".into()];
        assert_eq!(
            p.check(Placement::Gateway).map_err(|e| e.field),
            Err("designated_source_ips[0]".into())
        );
        let mut p = proxy(ProxyKind::Unified);
        p.connectors[0].port = Some(0);
        assert_eq!(
            p.check(Placement::Gateway).map_err(|e| e.field),
            Err("connectors[0].port".into())
        );
        let mut p = proxy(ProxyKind::Unified);
        p.connectors
            .push(connector(Some(25), ClientSecurity::Disable));
        assert_eq!(
            p.check(Placement::Gateway).map_err(|e| e.field),
            Err("connectors[1]".into())
        );
        p.connectors[1].security = ClientSecurity::Ssl;
        p.connectors[1].port = None;
        assert!(p.check(Placement::Gateway).is_ok());
    }

    #[test]
    fn overrides_win_per_key() {
        let configured = NodeMail {
            settings: MailSettings {
                hostname: Some("conf.example".into()),
                bounce_unmanaged_senders: true,
                ..MailSettings::default()
            },
            proxies: vec![proxy(ProxyKind::Inbound)],
            archive_servers: vec![],
        };
        let o = MailOverrides {
            settings: MailSettingsChange {
                hostname: Some("api.example".into()),
                ..Default::default()
            },
            proxies: Some(vec![]),
            archive_servers: None,
        };
        let e = o.apply(&configured);
        assert_eq!(e.settings.hostname.as_deref(), Some("api.example"));
        assert!(e.settings.bounce_unmanaged_senders);
        assert!(e.proxies.is_empty());
        assert_eq!(configured.next_proxy_id(), "p2");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<Proxy, _> =
            serde_json::from_str(r#"{"kind":"unified","connectors":[{"port":25}],"colour":"red"}"#);
        assert!(r.is_err_and(|e| e.to_string().contains("colour")));
    }
}
