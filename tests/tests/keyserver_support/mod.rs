//! Helpers for the LDAP keyserver tests: a node with a known LDAP port, and `ldapsearch` as a
//! user runs it.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{Node, free_port, run_bounded};

/// A node whose LDAP keyserver listens on 127.0.0.1:`port`.
pub(crate) struct LdapNode {
    pub node: Node,
    pub port: u16,
}

impl LdapNode {
    /// `extra_keyserver` goes into the `[keyserver]` table.
    pub(crate) fn spawn(name: &str, extra_keyserver: &str) -> LdapNode {
        let port = free_port();
        let config = format!(
            "[keyserver]\n{extra_keyserver}\n\
             [[keyserver.connector]]\ninterface = \"127.0.0.1\"\nport = {port}\n"
        );
        LdapNode {
            node: Node::spawn(name, Some(&config)),
            port,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }
}

/// `ldapsearch -x -LLL` under the key space; `args` are the filter and attributes.
pub(crate) fn ldapsearch(port: u16, args: &[&str]) -> Output {
    let mut cmd = Command::new("ldapsearch");
    cmd.args(["-x", "-LLL", "-o", "nettimeout=10", "-l", "10", "-H"])
        .arg(format!("ldap://127.0.0.1:{port}"))
        .args(["-b", "o=Signet"])
        .args(args);
    run_bounded(cmd, Duration::from_secs(30)).expect("ldapsearch hung")
}
