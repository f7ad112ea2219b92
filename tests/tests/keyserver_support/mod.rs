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

/// Node B for the mail-path tests: it manages b.test and publishes the key of bob@b.test
/// (made by bob's own gpg, returned) on its LDAP keyserver.
pub(crate) fn node_publishing_bob(dir: &std::path::Path) -> (LdapNode, crate::keys_support::Gpg) {
    use crate::keys_support::{Gpg, path_str, setup};
    let b = LdapNode::spawn("B", "");
    setup(&b.node, &["b.test"]);
    let bob = Gpg::new();
    bob.generate("Bob <bob@b.test>");
    let bob_asc = dir.join("bob.asc");
    bob.export_public("bob@b.test", &bob_asc);
    b.node.cli_ok(&[
        "user",
        "add",
        "bob@b.test",
        "--internal",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&bob_asc),
    ]);
    crate::common::wait_until(
        Duration::from_secs(20),
        "bob's key on B's keyserver",
        || {
            let out = ldapsearch(b.port, &["(pgpUserID=*bob@b.test*)", "pgpKey"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pgpKey:") {
                Ok(())
            } else {
                Err(crate::common::describe(&out))
            }
        },
    );
    (b, bob)
}

/// Makes node `a`'s outbound "Encrypt to Key" rule search `keyserver` (by name).
pub(crate) fn search_on_encrypt_to_key(a: &Node, dir: &std::path::Path, keyserver: &str) {
    use crate::keys_support::path_str;
    let chain = "Outbound: Secure With Key Only";
    let mut rule = a.cli_ok_json(&["policy", "rule", "show", chain, "Encrypt to Key"]);
    rule["key_search"] = serde_json::json!([{ "keyserver": keyserver }]);
    let file = dir.join("rule.json");
    std::fs::write(&file, rule.to_string()).expect("write rule.json");
    a.cli_ok(&[
        "policy",
        "rule",
        "put",
        chain,
        "Encrypt to Key",
        path_str(&file),
    ]);
}

/// Checks that `message` (as a sink received it) is encrypted and bob's gpg decrypts `text`.
pub(crate) fn assert_bob_decrypts(
    bob: &crate::keys_support::Gpg,
    dir: &std::path::Path,
    message: &str,
    text: &str,
) {
    use crate::common::describe;
    use crate::keys_support::path_str;
    assert!(
        !message.contains(text),
        "the message went out in clear:\n{message}"
    );
    let start = message
        .find("-----BEGIN PGP MESSAGE-----")
        .unwrap_or_else(|| panic!("no PGP message in:\n{message}"));
    let end = message
        .find("-----END PGP MESSAGE-----")
        .map(|e| e + "-----END PGP MESSAGE-----".len())
        .unwrap_or(message.len());
    let armored = dir.join("in.asc");
    std::fs::write(&armored, message[start..end].replace("\r\n", "\n")).expect("write in.asc");
    let out = bob.run(&["--status-fd", "2", "--decrypt", path_str(&armored)]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[GNUPG:] DECRYPTION_OKAY"),
        "gpg --decrypt\n{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(text),
        "{}",
        describe(&out)
    );
}
