//! Helpers for the Verified Directory tests: a node with public web, LDAP and mail (to
//! Postfix's smtp-sink) configured, links read out of the captured mail, and curl posts.

#![allow(dead_code)]

use std::path::Path;

use crate::common::{Node, free_port};
use crate::keyserver_http_support::{Fetched, curl};
use crate::mail_support::{Sink, gateway_config};

pub(crate) struct VdNode {
    pub node: Node,
    pub http_port: u16,
    pub ldap_port: u16,
    pub sink: Sink,
}

impl VdNode {
    pub(crate) fn spawn(name: &str) -> VdNode {
        let (http_port, ldap_port) = (free_port(), free_port());
        let sink = Sink::start();
        let mail = gateway_config(free_port(), free_port(), sink.port, "");
        let config = format!(
            "[public_web]\n[[public_web.connector]]\nlisten = \"127.0.0.1:{http_port}\"\ntls = false\n\
             [keyserver]\n[[keyserver.connector]]\ninterface = \"127.0.0.1\"\nport = {ldap_port}\n\
             {mail}"
        );
        VdNode {
            node: Node::spawn(name, Some(&config)),
            http_port,
            ldap_port,
            sink,
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub(crate) fn hkp(&self) -> String {
        format!("hkp://127.0.0.1:{}", self.http_port)
    }

    /// The mails captured so far that went to `to`.
    pub(crate) fn mails_to(&self, to: &str) -> Vec<String> {
        self.sink
            .messages()
            .into_iter()
            .filter(|m| m.lines().any(|l| l == format!("To: {to}")))
            .collect()
    }

    /// Waits for the `n`th mail to `to` and returns its link under `/vd/{kind}/`.
    pub(crate) fn wait_link(&self, to: &str, kind: &str, n: usize) -> String {
        let needle = format!("{}/vd/{kind}/", self.base());
        let mail = crate::common::wait_until(
            std::time::Duration::from_secs(60),
            &format!("mail {n} to {to} with a {kind} link"),
            || {
                let mails: Vec<String> = self
                    .mails_to(to)
                    .into_iter()
                    .filter(|m| m.contains(&needle))
                    .collect();
                mails
                    .get(n - 1)
                    .cloned()
                    .ok_or_else(|| format!("{} so far: {:?}", mails.len(), self.sink.messages()))
            },
        );
        link_in(&mail, &needle)
    }
}

/// The first URL in `mail` that starts with `prefix`.
pub(crate) fn link_in(mail: &str, prefix: &str) -> String {
    let start = mail
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {mail}"));
    mail[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// POST a form field read from a file (`name@file`) or given (`name=value`), urlencoded.
pub(crate) fn post_form(url: &str, field: &str, scratch: &Path) -> Fetched {
    curl(
        &["--data-urlencode", field, url],
        &scratch.join("post-body"),
    )
}

/// POST with no body (the button on a link's page).
pub(crate) fn post_empty(url: &str, scratch: &Path) -> Fetched {
    curl(&["-X", "POST", url], &scratch.join("post-body"))
}
