//! End-to-end tests for keys: setup, the Organization Key and Certificate, users' keys, the ADK,
//! Ignition Keys and locking, Organization Key regeneration, backup and restore. Real `signetd`
//! daemons driven through the `signet` CLI; what they produce is checked with the real `gpg`
//! and `openssl`, as a mail administrator would.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::fs;
use std::path::Path;

use serde_json::json;

use common::{Cluster, Node, describe, serial, wait_until};

use keys_support::*;

/// Setup makes an Organization Key with one user ID per managed domain; users' SKM keys carry
/// its certification, which gpg verifies; adding a domain adds a user ID.
#[test]
fn organization_key_certifies_users_and_follows_domains() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);

    let done = setup(&a, &["example.com"]);
    assert_eq!(done["managed_domains"], json!(["example.com"]), "{done}");
    assert_eq!(done["learn_mode"], true, "{done}");
    assert!(done["organization_certificate"].is_string(), "{done}");
    let org_fpr = str_of(&done, "organization_key").to_string();
    assert_eq!(org_fpr, org_fingerprint(&a));
    let org_keyid = org_fpr[org_fpr.len() - 16..].to_uppercase();

    a.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let alice = only_key(&a, "alice@example.com");
    assert_eq!(alice["mode"], "SKM", "{alice}");
    assert_eq!(alice["organization_certified"], true, "{alice}");
    let alice_fpr = str_of(&alice, "fingerprint").to_string();

    let alice_asc = dir.path().join("alice.asc");
    let org_asc = dir.path().join("org.asc");
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "-o",
        path_str(&alice_asc),
    ]);
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "-o",
        path_str(&org_asc),
    ]);
    let org_text = fs::read_to_string(&org_asc).expect("org.asc");
    assert!(
        org_text.contains("BEGIN PGP PUBLIC KEY BLOCK") && !org_text.contains("PRIVATE"),
        "public export of the Organization Key: {org_text}"
    );

    let gpg = Gpg::new();
    gpg.import(&org_asc);
    gpg.import(&alice_asc);
    let sigs = gpg.ok(&["--check-sigs", "alice@example.com"]);
    assert!(
        sigs.lines()
            .any(|l| l.starts_with("sig!") && l.to_uppercase().contains(&org_keyid)),
        "gpg does not show a good certification by the Organization Key {org_keyid}:\n{sigs}"
    );

    let uids = gpg.uids_in(&org_asc);
    assert_eq!(
        uids,
        vec!["example.com Organization Key <pgp-universal-admin@example.com>".to_string()],
        "Organization Key user IDs"
    );

    // `key search` finds alice's key by address and by key ID.
    let found = a.cli_ok_json(&["key", "search", "alice@example.com"]);
    assert_eq!(
        found["results"][0]["key"]["fingerprint"],
        alice_fpr.as_str(),
        "{found}"
    );
    let found = a.cli_ok_json(&["key", "search", &alice_fpr[alice_fpr.len() - 16..]]);
    assert_eq!(found["results"][0]["email"], "alice@example.com", "{found}");

    a.add_domain("example.net");
    let org2_asc = dir.path().join("org2.asc");
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "-o",
        path_str(&org2_asc),
    ]);
    let mut uids = gpg.uids_in(&org2_asc);
    uids.sort();
    assert_eq!(
        uids,
        vec![
            "example.com Organization Key <pgp-universal-admin@example.com>".to_string(),
            "example.net Organization Key <pgp-universal-admin@example.net>".to_string(),
        ],
        "Organization Key user IDs after adding example.net"
    );
    assert_eq!(org_fingerprint(&a), org_fpr, "same key, one more user ID");
}

/// The self-signed Organization Certificate is a v3 CA valid ~10 years; internal users get an
/// S/MIME certificate from it; revoking an SKM key shows in gpg and puts the S/MIME
/// certificate on the CRL; revoking twice, or a CKM key, is refused.
#[test]
fn organization_certificate_revocation_and_crl() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    let pem = dir.path().join("orgcert.pem");
    a.cli_ok(&[
        "org",
        "export",
        "organization-certificate",
        "-o",
        path_str(&pem),
    ]);
    let text = openssl_ok(&["x509", "-in", path_str(&pem), "-noout", "-text"]);
    assert!(text.contains("Version: 3"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    let year = 365 * 24 * 3600;
    let still_valid = (9 * year + year * 9 / 10).to_string();
    let expired = (10 * year + year / 10).to_string();
    assert!(
        openssl(&[
            "x509",
            "-in",
            path_str(&pem),
            "-noout",
            "-checkend",
            &still_valid
        ])
        .status
        .success(),
        "the Organization Certificate expires before 9.9 years:\n{text}"
    );
    assert!(
        !openssl(&[
            "x509",
            "-in",
            path_str(&pem),
            "-noout",
            "-checkend",
            &expired
        ])
        .status
        .success(),
        "the Organization Certificate is valid beyond 10.1 years:\n{text}"
    );

    a.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let alice = only_key(&a, "alice@example.com");
    let fpr = str_of(&alice, "fingerprint").to_string();
    let serial_hex = alice["smime"]["serial"]
        .as_str()
        .unwrap_or_else(|| panic!("alice has no S/MIME certificate: {alice}"))
        .to_string();
    assert_eq!(alice["smime"]["issued_here"], true, "{alice}");
    let listing = a.cli_ok(&["key", "list", "alice@example.com"]);
    assert!(
        listing.contains(&fpr) && listing.contains("valid") && listing.contains("S/MIME"),
        "{listing}"
    );

    let revoked = a.cli_ok_json(&["key", "revoke", "alice@example.com", &fpr]);
    assert!(revoked["revoked_at"].is_u64(), "{revoked}");
    let alice = only_key(&a, "alice@example.com");
    assert!(alice["revoked_at"].is_u64(), "{alice}");
    assert!(alice["smime"]["revoked_at"].is_u64(), "{alice}");
    let listing = a.cli_ok(&["key", "list", "alice@example.com"]);
    assert!(listing.contains("revoked"), "{listing}");

    let alice_asc = dir.path().join("alice-revoked.asc");
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &fpr,
        "-o",
        path_str(&alice_asc),
    ]);
    let gpg = Gpg::new();
    gpg.import(&alice_asc);
    let keys = gpg.ok(&["--list-keys", "alice@example.com"]);
    assert!(
        keys.contains("revoked"),
        "gpg does not see the revocation:\n{keys}"
    );

    let again = a.cli(&["key", "revoke", "alice@example.com", &fpr]);
    assert_error_line(&again, "revoking twice", &["already revoked", "409"]);

    // A CKM user's key belongs to the user: the server cannot revoke it.
    let bob_gpg = Gpg::new();
    let bob_fpr = bob_gpg.generate("Bob <bob@example.com>");
    let bob_asc = dir.path().join("bob.asc");
    bob_gpg.export_public("bob@example.com", &bob_asc);
    a.cli_ok(&[
        "user",
        "add",
        "bob@example.com",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&bob_asc),
    ]);
    let bob = only_key(&a, "bob@example.com");
    assert_eq!(bob["mode"], "CKM", "{bob}");
    assert!(
        str_of(&bob, "fingerprint").eq_ignore_ascii_case(&bob_fpr),
        "{bob} vs {bob_fpr}"
    );
    assert_eq!(bob["server_holds_private_key"], false, "{bob}");
    assert!(
        bob["smime"].is_null(),
        "a CKM key gets no S/MIME certificate: {bob}"
    );
    let out = a.cli(&["key", "revoke", "bob@example.com", &bob_fpr]);
    assert_error_line(&out, "revoking a CKM key", &["SKM", "409"]);
    let out = a.cli(&["key", "export", "bob@example.com", &bob_fpr, "--private"]);
    assert_error_line(&out, "private export of a CKM key", &["409"]);

    let crl = dir.path().join("crl.der");
    a.cli_ok(&["org", "crl", "-o", path_str(&crl)]);
    let crl_text = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path_str(&crl),
        "-noout",
        "-text",
    ]);
    let wanted = normalize_serial(&serial_hex);
    assert!(
        crl_text
            .lines()
            .filter(|l| l.contains("Serial Number:"))
            .any(|l| normalize_serial(l.split(':').nth(1).unwrap_or_default()) == wanted),
        "alice's S/MIME serial {serial_hex} is not on the CRL:\n{crl_text}"
    );
    // Signed by the Organization Certificate.
    let verify = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path_str(&crl),
        "-CAfile",
        path_str(&pem),
        "-noout",
    ]);
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("verify OK")
            || String::from_utf8_lossy(&verify.stdout).contains("verify OK"),
        "the CRL does not verify against the Organization Certificate\n{}",
        describe(&verify)
    );
}

/// The ADK must be an OpenPGP key; once imported, new users' keys name it, earlier ones do not.
#[test]
fn adk_is_openpgp_and_applies_to_new_keys() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);
    a.cli_ok(&["user", "add", "early@example.com"]);

    let pem = dir.path().join("orgcert.pem");
    a.cli_ok(&[
        "org",
        "export",
        "organization-certificate",
        "-o",
        path_str(&pem),
    ]);
    let out = a.cli(&["org", "import", "adk", path_str(&pem)]);
    assert_error_line(&out, "an X.509 certificate as ADK", &["OpenPGP", "422"]);
    let out = a.cli(&["org", "show", "adk"]);
    assert_error_line(&out, "no ADK after the refused import", &["404"]);

    let gpg = Gpg::new();
    let adk_fpr = gpg.generate("Corporate ADK <adk@example.com>");
    let adk_asc = dir.path().join("adk.asc");
    gpg.export_public("adk@example.com", &adk_asc);
    let item = a.cli_ok_json(&["org", "import", "adk", path_str(&adk_asc)]);
    assert!(
        str_of(&item, "fingerprint").eq_ignore_ascii_case(&adk_fpr),
        "{item} vs {adk_fpr}"
    );
    assert_eq!(item["has_private_key"], false, "{item}");

    a.cli_ok(&["user", "add", "late@example.com"]);
    let late = only_key(&a, "late@example.com");
    assert!(
        late["adk_fingerprint"]
            .as_str()
            .is_some_and(|f| f.eq_ignore_ascii_case(&adk_fpr)),
        "a key made after the ADK import must name it: {late}"
    );
    let early = only_key(&a, "early@example.com");
    assert!(
        early["adk_fingerprint"].is_null(),
        "a key made before the ADK import must not name it: {early}"
    );
}

/// With an Ignition Key a restarted member is locked: private-key work is refused until a
/// correct passphrase (or the Organization Key) unlocks it. Neither the passphrase nor any
/// private key is ever on disk in the clear.
#[test]
fn ignition_key_locks_and_secrets_never_touch_disk() {
    let _serial = serial();
    let dir = tmp();
    let mut a = Node::spawn("A", None);
    setup(&a, &["example.com"]);
    a.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let fpr = str_of(&only_key(&a, "alice@example.com"), "fingerprint").to_string();

    let p = |name: &str| dir.path().join(name);
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &fpr,
        "-o",
        path_str(&p("alice.asc")),
    ]);
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &fpr,
        "--private",
        "-o",
        path_str(&p("alice-sec.asc")),
    ]);
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "-o",
        path_str(&p("org.asc")),
    ]);
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&p("org-sec.asc")),
    ]);
    let gpg = Gpg::new();
    let alice_secrets = secret_material(
        &gpg.dearmor(&p("alice-sec.asc")),
        &gpg.dearmor(&p("alice.asc")),
    );
    let org_secrets = secret_material(&gpg.dearmor(&p("org-sec.asc")), &gpg.dearmor(&p("org.asc")));
    let mut needles: Vec<Vec<u8>> = alice_secrets.iter().chain(&org_secrets).cloned().collect();

    // The search works: it finds the secrets in the dearmored exports.
    let found = files_containing(dir.path(), &needles);
    assert!(
        found.iter().any(|f| f.contains("alice-sec.bin"))
            && found.iter().any(|f| f.contains("org-sec.bin")),
        "self-check: the secrets must be found in the exports: {found:?}"
    );

    // Without an Ignition Key: secrets are sealed at rest.
    a.sigterm();
    let hits = files_containing(a.data_dir(), &needles);
    assert!(
        hits.is_empty(),
        "private key material in the clear: {hits:?}"
    );
    let status = a.restart();
    assert_eq!(
        status["locked"], false,
        "no Ignition Key: not locked: {status}"
    );

    let pass = p("pass");
    fs::write(&pass, format!("{PASSPHRASE}\n")).expect("passphrase file");
    let wrong = p("wrong");
    fs::write(&wrong, "not the passphrase at all\n").expect("wrong passphrase file");
    let short = p("short");
    fs::write(&short, "short\n").expect("short passphrase file");
    let out = a.cli(&[
        "ignition",
        "add",
        "boot",
        "--passphrase-file",
        path_str(&short),
    ]);
    assert_error_line(&out, "a 5-character passphrase", &["8", "422"]);

    a.cli_ok(&[
        "ignition",
        "add",
        "boot",
        "--passphrase-file",
        path_str(&pass),
    ]);
    let ign = a.cli_ok_json(&["ignition", "status"]);
    assert_eq!(ign["locked"], false, "{ign}");
    assert_eq!(ign["keys"][0]["name"], "boot", "{ign}");

    a.sigterm();
    needles.push(PASSPHRASE.as_bytes().to_vec());
    let hits = files_containing(a.data_dir(), &needles);
    assert!(
        hits.is_empty(),
        "passphrase or private key material in the clear: {hits:?}"
    );

    let status = a.restart();
    assert_eq!(
        status["locked"], true,
        "restarted with an Ignition Key: {status}"
    );
    assert_eq!(a.cli_ok_json(&["ignition", "status"])["locked"], true);

    let out = a.cli(&["key", "export", "alice@example.com", &fpr, "--private"]);
    assert_error_line(&out, "private export while locked", &["locked", "423"]);
    let out = a.cli(&["user", "add", "carol@example.com"]);
    assert_error_line(&out, "an internal user while locked", &["locked", "423"]);
    let out = a.cli(&["backup", "create"]);
    assert_fails_with(&out, "a backup while locked", &["locked", "423"]);
    // What needs no private key still works.
    a.cli_ok(&["key", "export", "alice@example.com", &fpr]);
    a.add_domain("example.org");

    let out = a.cli(&["unlock", "--passphrase-file", path_str(&wrong)]);
    assert_error_line(&out, "unlock with a wrong passphrase", &["403"]);
    assert_eq!(
        a.status()["locked"],
        true,
        "still locked after a wrong passphrase"
    );

    let said = a.cli_ok(&["unlock", "--passphrase-file", path_str(&pass)]);
    assert!(said.contains("unlocked"), "{said}");
    assert_eq!(a.status()["locked"], false);
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &fpr,
        "--private",
        "-o",
        path_str(&p("alice-sec2.asc")),
    ]);
    let again = secret_material(
        &gpg.dearmor(&p("alice-sec2.asc")),
        &gpg.dearmor(&p("alice.asc")),
    );
    assert_eq!(again, alice_secrets, "the same private key after unlocking");
    let said = a.cli_ok(&["unlock", "--passphrase-file", path_str(&pass)]);
    assert!(said.contains("not locked"), "{said}");

    // The Organization Key unlocks too.
    let status = a.restart();
    assert_eq!(status["locked"], true, "{status}");
    let said = a.cli_ok(&["unlock", "--organization-key", path_str(&p("org-sec.asc"))]);
    assert!(said.contains("unlocked"), "{said}");
    assert_eq!(a.status()["locked"], false);
    a.cli_ok(&["user", "add", "carol@example.com"]);
}

/// Replacing the Organization Key needs confirmation; it deletes the Ignition Keys and the
/// Organization Certificate, and earlier backups cannot be restored with the new key.
#[test]
fn organization_key_regeneration_needs_confirmation() {
    let _serial = serial();
    let dir = tmp();
    let mut a = Node::spawn("A", None);
    let done = setup(&a, &["example.com"]);
    let old_fpr = str_of(&done, "organization_key").to_string();
    a.cli_ok(&["user", "add", "alice@example.com"]);
    let pass = dir.path().join("pass");
    fs::write(&pass, PASSPHRASE).expect("passphrase file");
    a.cli_ok(&[
        "ignition",
        "add",
        "boot",
        "--passphrase-file",
        path_str(&pass),
    ]);
    let b1 = a.cli_ok_json(&["backup", "create", "--name", "b1"]);
    let b1_file = str_of(&b1, "file").to_string();
    assert!(Path::new(&b1_file).is_file(), "{b1}");

    let out = a.cli(&["org", "generate", "organization-key"]);
    assert_fails_with(
        &out,
        "regenerating without --confirm",
        &["backup", "Ignition", "Organization Certificate", "409"],
    );
    assert_eq!(
        org_fingerprint(&a),
        old_fpr,
        "nothing changed without --confirm"
    );
    assert_eq!(
        a.cli_ok_json(&["ignition", "status"])["keys"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let item = a.cli_ok_json(&["org", "generate", "organization-key", "--confirm"]);
    let new_fpr = str_of(&item, "fingerprint").to_string();
    assert_ne!(new_fpr, old_fpr, "a new Organization Key");
    assert_eq!(org_fingerprint(&a), new_fpr);

    let ign = a.cli_ok_json(&["ignition", "status"]);
    assert_eq!(ign["keys"], json!([]), "Ignition Keys are deleted: {ign}");
    let out = a.cli(&["org", "show", "organization-certificate"]);
    assert_error_line(
        &out,
        "the Organization Certificate after regeneration",
        &["404"],
    );

    let new_org = dir.path().join("new-org.asc");
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&new_org),
    ]);
    let out = a.cli(&[
        "backup",
        "restore",
        &b1_file,
        "--organization-key",
        path_str(&new_org),
    ]);
    assert_fails_with(
        &out,
        "restoring B1 with the new key",
        &["cannot be decrypted"],
    );
    assert_eq!(
        org_fingerprint(&a),
        new_fpr,
        "the failed restore changed nothing"
    );

    // Without Ignition Keys the member no longer boots locked.
    let status = a.restart();
    assert_eq!(status["locked"], false, "no Ignition Keys left: {status}");
    let fpr = str_of(&only_key(&a, "alice@example.com"), "fingerprint").to_string();
    a.cli_ok(&["key", "export", "alice@example.com", &fpr, "--private"]);
}

/// Trusted keys and certificates (guide §12): the X.509-only trust flags are refused for an
/// OpenPGP key; a key is trusted once; flags can be changed; removing works once.
#[test]
fn trusted_keys_carry_flags_and_the_organization_certification() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    let gpg = Gpg::new();
    let fpr = gpg.generate("Law Firm Signing Key <csk@law.test>");
    let csk = dir.path().join("csk.asc");
    gpg.export_public("csk@law.test", &csk);
    let out = a.cli(&["trusted", "add", path_str(&csk), "--tls-servers"]);
    assert_error_line(&out, "TLS trust on an OpenPGP key", &["X.509", "422"]);
    let added = a.cli_ok_json(&["trusted", "add", path_str(&csk), "--mail-keys"]);
    assert!(str_of(&added, "id").eq_ignore_ascii_case(&fpr), "{added}");
    assert_eq!(added["flags"]["mail_encryption_keys"], true, "{added}");
    let out = a.cli(&["trusted", "add", path_str(&csk), "--mail-keys"]);
    assert_error_line(&out, "the same key twice", &["409"]);

    let shown = a.cli_ok_json(&["trusted", "show", &fpr]);
    assert_eq!(shown["type"], "openpgp", "{shown}");
    assert_eq!(
        shown["details"]["fingerprint"]
            .as_str()
            .map(str::to_uppercase),
        Some(fpr.to_uppercase()),
        "{shown}"
    );

    // An X.509 CA certificate can be trusted for TLS servers.
    let pem = dir.path().join("orgcert.pem");
    a.cli_ok(&[
        "org",
        "export",
        "organization-certificate",
        "-o",
        path_str(&pem),
    ]);
    let cert = a.cli_ok_json(&["trusted", "add", path_str(&pem), "--tls-servers"]);
    assert_eq!(cert["type"], "x509", "{cert}");
    let list = a.cli_ok_json(&["trusted", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");

    let flags = a.cli_ok_json(&["trusted", "flags", &fpr]);
    assert_eq!(flags["flags"]["mail_encryption_keys"], false, "{flags}");
    a.cli_ok(&["trusted", "remove", &fpr]);
    let out = a.cli(&["trusted", "remove", &fpr]);
    assert_error_line(&out, "removing twice", &["404"]);
}

/// In a cluster each member is unlocked on its own; a locked member still replicates (it holds
/// ciphertext it cannot open) and refuses only private-key work; a locked member cannot
/// sponsor a joiner.
#[test]
fn a_locked_member_keeps_replicating_and_is_unlocked_on_its_own() {
    let _serial = serial();
    let dir = tmp();
    let mut c = Cluster::three();
    setup(&c.nodes[0], &["example.com"]);
    c.nodes[0].cli_ok(&["user", "add", "alice@example.com"]);
    let pass = dir.path().join("pass");
    fs::write(&pass, PASSPHRASE).expect("passphrase file");
    c.nodes[0].cli_ok(&[
        "ignition",
        "add",
        "ops",
        "--passphrase-file",
        path_str(&pass),
    ]);

    c.nodes[1].sigterm();
    c.nodes[1].restart();
    let status = c.nodes[1].status();
    assert_eq!(status["locked"], true, "{status}");
    assert_eq!(c.nodes[0].status()["locked"], false);

    // Writes made elsewhere reach the locked member.
    c.nodes[0].cli_ok(&["user", "add", "bob@example.com"]);
    wait_until(
        std::time::Duration::from_secs(10),
        "bob on the locked member",
        || {
            let users = c.nodes[1].try_cli_json(&["user", "list"])?;
            if users.to_string().contains("bob@example.com") {
                Ok(())
            } else {
                Err(format!("{users}"))
            }
        },
    );
    let fpr = str_of(&only_key(&c.nodes[1], "bob@example.com"), "fingerprint").to_string();
    let out = c.nodes[1].cli(&["key", "export", "bob@example.com", &fpr, "--private"]);
    assert_error_line(
        &out,
        "private export on a locked member",
        &["locked", "423"],
    );
    // The unlocked members still do private-key work.
    c.nodes[2].cli_ok(&["key", "export", "bob@example.com", &fpr, "--private"]);
    // A locked member cannot issue a working join: it refuses to sponsor.
    let token = c.nodes[1].cli_ok_json(&["cluster", "token"]);
    let mut joiner = Node::spawn("D", None);
    let out = joiner.cli(&["cluster", "join", str_of(&token, "token")]);
    assert_error_line(&out, "joining through a locked sponsor", &["locked"]);

    c.nodes[1].cli_ok(&["unlock", "--passphrase-file", path_str(&pass)]);
    assert_eq!(c.nodes[1].status()["locked"], false);
    let exported = c.nodes[1].cli_ok(&["key", "export", "bob@example.com", &fpr, "--private"]);
    assert!(exported.contains("PRIVATE KEY BLOCK"), "{exported}");
    joiner.sigterm();
}
