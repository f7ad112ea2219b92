//! The setup assistant's mail step, applied at Finish: host name, placement and the mail
//! server become the node's mail settings and its first SMTP proxy, through the same API the
//! Proxies page uses.

use axum::http::Method;
use serde_json::json;

use super::api_call;
use super::setup::Draft;
use crate::AppState;
use crate::session;

/// The assistant's mail choices, applied through the API (guide §5.2): host name and placement;
/// a gateway gets one Unified proxy whose inbound mail server is the given server and whose
/// Designated Source IPs hold its address, delivering outbound mail directly; an internal
/// server gets one Outbound proxy that relays to the given server. The connector listens on
/// `mail.setup_listen` (0.0.0.0:25 unless the configuration says otherwise); a proxy already
/// there is replaced. A node whose proxies are all elsewhere keeps them and gets none. Returns
/// what failed.
pub(super) async fn apply_mail(
    s: &AppState,
    session: &session::Session,
    draft: &Draft,
) -> Vec<String> {
    let mut problems = Vec::new();
    let raw = draft.mail_server.trim();
    let (host, port) = match raw.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().ok(),
        ),
        _ => (raw.trim_start_matches('[').trim_end_matches(']'), None),
    };
    let mut server = json!({ "kind": "relay", "host": host });
    if let Some(p) = port {
        server["port"] = json!(p);
    }
    let gateway = draft.placement != "internal";
    let mut settings = json!({ "placement": if gateway { "gateway" } else { "internal" } });
    if !draft.hostname.is_empty() {
        settings["hostname"] = json!(draft.hostname);
    }
    if gateway {
        settings["inbound_mail_server"] = server.clone();
        settings["outbound_delivery"] = json!({ "kind": "direct" });
    } else {
        settings["outbound_delivery"] = server.clone();
    }
    if let Err(p) = api_call(
        s,
        session,
        Method::PUT,
        "/api/v1/mail/settings",
        Some(&settings),
    )
    .await
    {
        problems.push(format!("Mail settings: {}", p.detail));
        return problems;
    }
    let local = s.node.local_store();
    let listen = local
        .configured_mail()
        .ok()
        .and_then(|c| c.setup_listen)
        .and_then(|l| l.parse::<std::net::SocketAddr>().ok())
        .unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 25)));
    let proxies = local
        .effective_mail()
        .map(|m| m.proxies)
        .unwrap_or_default();
    // A proxy already on the assistant's address (the appliance's first-boot placeholder, which
    // greets on port 25 before setup) is the one the assistant configures: it is replaced.
    let on_setup_address = proxies.iter().find(|p| {
        p.connectors
            .iter()
            .any(|c| std::net::SocketAddr::new(c.interface, c.port()) == listen)
    });
    if on_setup_address.is_none() && !proxies.is_empty() {
        tracing::info!(target: "signet::setup", proxies = proxies.len(), "this node has mail proxies already; the assistant added none");
        return problems;
    }
    let connector = json!({ "interface": listen.ip(), "port": listen.port(), "security": "allow" });
    let proxy = if gateway {
        let addresses = mail_server_addresses(host, port.unwrap_or(25)).await;
        if addresses.is_empty() {
            problems.push(format!(
                "Mail proxy: {host} did not resolve to an address; add it to the proxy's Designated Source IPs"
            ));
        }
        json!({ "kind": "unified", "connectors": [connector], "designated_source_ips": addresses })
    } else {
        json!({ "kind": "outbound", "connectors": [connector] })
    };
    let (method, path) = match on_setup_address {
        Some(p) => (Method::PUT, format!("/api/v1/mail/proxies/{}", p.id)),
        None => (Method::POST, "/api/v1/mail/proxies".to_string()),
    };
    if let Err(p) = api_call(s, session, method, &path, Some(&proxy)).await {
        problems.push(format!("Mail proxy: {}", p.detail));
    }
    problems
}

/// The mail server's addresses: itself when it is an IP, else what its name resolves to.
async fn mail_server_addresses(host: &str, port: u16) -> Vec<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return vec![ip.to_string()];
    }
    let mut out: Vec<String> = match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.map(|a| a.ip().to_string()).collect(),
        Err(e) => {
            tracing::warn!(target: "signet::setup", %host, error = %e, "the mail server's name did not resolve");
            Vec::new()
        }
    };
    out.sort();
    out.dedup();
    out
}
