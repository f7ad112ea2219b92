//! The gateway most mail tests start from, and gpg reading what arrives. Kept out of
//! `mail_support` because it needs `keys_support`, which not every test binary has.

use crate::common::{Node, describe, free_port};
use crate::keys_support::{Gpg, path_str, setup, str_of, tmp};
use crate::mail_support::{Sink, gateway_config, write};

/// A gateway for example.com with Learn Mode off, an internal SKM user alice, and an external
/// user bob whose key (made by gpg) the server holds. Returns the node and bob's gpg.
pub(crate) fn gateway(sink: &Sink, extra: &str) -> (Node, u16, u16, Gpg, tempfile::TempDir) {
    let outbound = free_port();
    let inbound = free_port();
    let node = Node::spawn(
        "gw",
        Some(&gateway_config(outbound, inbound, sink.port, extra)),
    );
    setup(&node, &["example.com"]);
    node.cli_ok(&["learn-mode", "off"]);
    node.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let dir = tmp();
    let bob = Gpg::new();
    bob.generate("Bob <bob@ext.test>");
    let bob_asc = dir.path().join("bob.asc");
    bob.export_public("bob@ext.test", &bob_asc);
    node.cli_ok(&[
        "user",
        "add",
        "bob@ext.test",
        "--external",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&bob_asc),
    ]);
    // Bob knows Alice's key (to check her signature and to write to her).
    let alice_fpr = {
        let keys = node.cli_ok_json(&["key", "list", "alice@example.com"]);
        str_of(&keys[0], "fingerprint").to_string()
    };
    let alice_asc = dir.path().join("alice.asc");
    node.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "-o",
        path_str(&alice_asc),
    ]);
    bob.import(&alice_asc);
    (node, outbound, inbound, bob, dir)
}

/// gpg's view of an encrypted message: the plaintext and the status lines.
pub(crate) fn gpg_decrypt(gpg: &Gpg, dir: &std::path::Path, message: &str) -> (String, String) {
    let start = message
        .find("-----BEGIN PGP MESSAGE-----")
        .unwrap_or_else(|| panic!("no PGP message in:\n{message}"));
    let end = message
        .find("-----END PGP MESSAGE-----")
        .map(|e| e + "-----END PGP MESSAGE-----".len())
        .unwrap_or(message.len());
    let armored = write(dir, "in.asc", &message[start..end].replace("\r\n", "\n"));
    let out = gpg.run(&["--status-fd", "2", "--decrypt", path_str(&armored)]);
    // gpg exits 2 when it cannot check a signature (no public key): decryption is what
    // counts here; callers check the signature status themselves.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[GNUPG:] DECRYPTION_OKAY"),
        "gpg --decrypt\n{}",
        describe(&out)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
