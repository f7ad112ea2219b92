//! End-to-end tests for keys: setup, the Organization Key and Certificate, users' keys, the ADK,
//! Ignition Keys and locking, Organization Key regeneration, backup and restore. Real `signetd`
//! daemons driven through the `signet` CLI; what they produce is checked with the real `gpg`
//! and `openssl`, as a mail administrator would.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

use common::{Node, assert_clear_error, describe, run_bounded, serial};

const PASSPHRASE: &str = "correct horse battery staple 42";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A throw-away gpg home directory. Dropping it stops its gpg-agent.
struct Gpg {
    home: TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("sg-gpg-")
            .tempdir_in("/tmp")
            .expect("cannot create a gpg home");
        Gpg { home }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--keyid-format",
                "long",
            ])
            .args(args);
        run_bounded(cmd, common::CLI_TIMEOUT)
            .unwrap_or_else(|| panic!("gpg {} hung", args.join(" ")))
    }

    /// Runs gpg, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gpg {} failed\n{}",
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn import(&self, file: &Path) {
        self.ok(&["--import", path_str(file)]);
    }

    /// Generates an Ed25519/Cv25519 key without a passphrase; returns its fingerprint.
    fn generate(&self, uid: &str) -> String {
        self.ok(&["--quick-gen-key", uid, "future-default", "default", "never"]);
        let listing = self.ok(&["--with-colons", "--list-keys", uid]);
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap_or_else(|| panic!("no fingerprint for {uid}: {listing}"))
            .to_string()
    }

    fn export_public(&self, uid: &str, file: &Path) {
        self.ok(&["--armor", "--output", path_str(file), "--export", uid]);
    }

    /// User IDs of the keys in `file`, without importing them.
    fn uids_in(&self, file: &Path) -> Vec<String> {
        let out = self.ok(&[
            "--with-colons",
            "--import-options",
            "show-only",
            "--import",
            path_str(file),
        ]);
        out.lines()
            .filter(|l| l.starts_with("uid:"))
            .filter_map(|l| l.split(':').nth(9))
            .map(str::to_string)
            .collect()
    }

    /// The binary form of an armored file.
    fn dearmor(&self, file: &Path) -> Vec<u8> {
        let out = file.with_extension("bin");
        let _ = fs::remove_file(&out);
        self.ok(&["--output", path_str(&out), "--dearmor", path_str(file)]);
        fs::read(&out).expect("dearmored output")
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let mut cmd = Command::new("gpgconf");
        cmd.arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"]);
        let _ = run_bounded(cmd, common::CLI_TIMEOUT);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn tmp() -> TempDir {
    tempfile::Builder::new()
        .prefix("signet-e2e-keys-")
        .tempdir()
        .expect("cannot create a temporary directory")
}

fn openssl(args: &[&str]) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    run_bounded(cmd, common::CLI_TIMEOUT).unwrap_or_else(|| panic!("openssl {args:?} hung"))
}

fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {} failed\n{}",
        args.join(" "),
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `signet setup --domain D...` and returns its JSON answer.
fn setup(node: &Node, domains: &[&str]) -> Value {
    let mut args = vec!["setup"];
    for d in domains {
        args.extend(["--domain", d]);
    }
    node.cli_ok_json(&args)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// The only key of a user (`key list --json`).
fn only_key(node: &Node, email: &str) -> Value {
    let keys = node.cli_ok_json(&["key", "list", email]);
    let list = keys
        .as_array()
        .unwrap_or_else(|| panic!("key list is not an array: {keys}"));
    assert_eq!(list.len(), 1, "{email} should have exactly one key: {keys}");
    list[0].clone()
}

fn org_fingerprint(node: &Node) -> String {
    str_of(
        &node.cli_ok_json(&["org", "show", "organization-key"]),
        "fingerprint",
    )
    .to_string()
}

/// Asserts a failed command whose stderr may start with progress lines: non-zero exit (no
/// signal, no panic), the last line is the CLI's error line, and it contains every needle
/// (case-insensitive). Returns that line.
fn assert_fails_with(out: &Output, what: &str, needles: &[&str]) -> String {
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "{what}: expected a clean failure\n{}",
        describe(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{what}: panic\n{}",
        describe(out)
    );
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        last.starts_with("signet: error:"),
        "{what}: the last stderr line is not the error\n{}",
        describe(out)
    );
    for n in needles {
        assert!(
            last.to_lowercase().contains(&n.to_lowercase()),
            "{what}: error line lacks {n:?}: {last}"
        );
    }
    last
}

/// Like [`assert_clear_error`] (exactly one stderr line) and checks its content.
fn assert_error_line(out: &Output, what: &str, needles: &[&str]) -> String {
    let line = assert_clear_error(out, what);
    for n in needles {
        assert!(
            line.to_lowercase().contains(&n.to_lowercase()),
            "{what}: error line lacks {n:?}: {line}"
        );
    }
    line
}

/// OpenPGP packets of a binary key: (tag, body). Handles old and new packet formats (no
/// partial lengths: keys never use them).
fn packets(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((&first, rest)) = data.split_first() {
        assert!(
            first & 0x80 != 0,
            "not an OpenPGP packet header: {first:#x}"
        );
        let (tag, len, rest) = if first & 0x40 != 0 {
            let tag = first & 0x3f;
            match rest[0] {
                o if o < 192 => (tag, o as usize, &rest[1..]),
                o if o < 224 => (
                    tag,
                    ((o as usize - 192) << 8) + rest[1] as usize + 192,
                    &rest[2..],
                ),
                255 => (
                    tag,
                    u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")) as usize,
                    &rest[5..],
                ),
                o => panic!("partial body length {o} in a key"),
            }
        } else {
            let tag = (first >> 2) & 0x0f;
            match first & 3 {
                0 => (tag, rest[0] as usize, &rest[1..]),
                1 => (
                    tag,
                    u16::from_be_bytes([rest[0], rest[1]]) as usize,
                    &rest[2..],
                ),
                2 => (
                    tag,
                    u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize,
                    &rest[4..],
                ),
                _ => panic!("indeterminate packet length in a key"),
            }
        };
        out.push((tag, rest[..len].to_vec()));
        data = &rest[len..];
    }
    out
}

/// The unprotected secret key material (MPIs) of every secret (sub)key packet in `tsk`: the
/// part of each Secret-Key packet's body after the matching public-key body in `public`.
fn secret_material(tsk: &[u8], public: &[u8]) -> Vec<Vec<u8>> {
    let publics: Vec<Vec<u8>> = packets(public)
        .into_iter()
        .filter(|(tag, _)| *tag == 6 || *tag == 14)
        .map(|(_, body)| body)
        .collect();
    let mut secrets = Vec::new();
    for (tag, body) in packets(tsk) {
        if tag != 5 && tag != 7 {
            continue;
        }
        let public = publics
            .iter()
            .find(|p| body.starts_with(p))
            .expect("a secret key packet without its public counterpart");
        let rest = &body[public.len()..];
        assert_eq!(
            rest[0], 0,
            "exported secret key is protected (S2K usage {})",
            rest[0]
        );
        // S2K usage (1), MPIs, checksum (2). Skip the first MPI's bit count (2).
        let mpis = &rest[3..rest.len() - 2];
        assert!(mpis.len() >= 30, "suspiciously short secret: {mpis:?}");
        secrets.push(mpis.to_vec());
    }
    assert!(!secrets.is_empty(), "no secret key packets found");
    secrets
}

/// Every regular file below `dir` that contains one of `needles`, as "path (needle i)".
fn files_containing(dir: &Path, needles: &[Vec<u8>]) -> Vec<String> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.expect("dir entry");
            let ty = entry.file_type().expect("file type");
            if ty.is_dir() {
                walk(&entry.path(), files);
            } else if ty.is_file() {
                files.push(entry.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    assert!(!files.is_empty(), "no files under {}", dir.display());
    let mut hits = Vec::new();
    for f in files {
        let hay = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (i, needle) in needles.iter().enumerate() {
            if hay.windows(needle.len()).any(|w| w == needle.as_slice()) {
                hits.push(format!("{} (needle {i})", f.display()));
            }
        }
    }
    hits
}

fn normalize_serial(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_uppercase();
    hex.trim_start_matches('0').to_string()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

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

/// A backup restores onto a fresh server with the Organization Key: users, keys (with usable
/// private keys), domains, dictionaries and settings. Bad inputs change nothing.
#[test]
fn backup_restores_on_a_fresh_server_and_bad_inputs_change_nothing() {
    let _serial = serial();
    let dir = tmp();
    let p = |name: &str| dir.path().join(name);
    let a = Node::spawn("A", None);
    setup(&a, &["example.com", "example.org"]);
    a.cli_ok(&["user", "add", "alice@example.com", "--name", "Alice"]);
    let gpg = Gpg::new();
    gpg.generate("Bob <bob@example.org>");
    gpg.export_public("bob@example.org", &p("bob.asc"));
    a.cli_ok(&[
        "user",
        "add",
        "bob@example.org",
        "--key-mode",
        "CKM",
        "--key-file",
        path_str(&p("bob.asc")),
    ]);
    a.cli_ok(&[
        "user",
        "add",
        "partner@partner.test",
        "--external",
        "--no-key",
    ]);
    a.api_json(
        "POST",
        "/api/v1/dictionaries",
        Some(&json!({ "name": "vip", "description": "very important" })),
    );
    a.api_json(
        "POST",
        "/api/v1/dictionaries/vip/entries",
        Some(&json!({ "entries": ["ceo@example.com", "cfo@example.com"] })),
    );
    a.cli_ok(&["learn-mode", "off"]);
    let schedule = a.cli_ok_json(&[
        "backup", "schedule", "--enable", "--time", "02:00", "--keep", "3",
    ]);
    assert_eq!(schedule["enabled"], true, "{schedule}");
    assert_eq!(schedule["time"], "02:00", "{schedule}");
    assert_eq!(schedule["keep"], 3, "{schedule}");

    let made = a.cli_ok_json(&["backup", "create"]);
    let file = str_of(&made, "file").to_string();
    assert!(
        Path::new(&file).starts_with(a.data_dir().join("backups")) && file.ends_with(".pgp"),
        "{made}"
    );
    let listed = a.cli_ok_json(&["backup", "list"]);
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|b| b["file"] == file.as_str())),
        "{listed}"
    );
    a.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&p("org.asc")),
    ]);

    let users_a = a.cli_ok_json(&["user", "list"]);
    let domains_a = a.domains();
    let learn_a = a.cli_ok_json(&["learn-mode", "status"]);
    let dicts_a = a.api_json("GET", "/api/v1/dictionaries/vip/entries", None);
    let alice_a = only_key(&a, "alice@example.com");
    let alice_fpr = str_of(&alice_a, "fingerprint").to_string();
    let org_a = org_fingerprint(&a);

    // Bad inputs on a fresh server: each a clear error, nothing changed.
    let c = Node::spawn("C", None);
    let bytes = fs::read(&file).expect("backup file");
    fs::write(p("truncated.pgp"), &bytes[..bytes.len() / 2]).expect("write");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(p("garbage.pgp"), garbage).expect("write");
    let other = Node::spawn("D", None);
    setup(&other, &["other.example"]);
    other.cli_ok(&[
        "org",
        "export",
        "organization-key",
        "--private",
        "-o",
        path_str(&p("other-org.asc")),
    ]);
    drop(other);
    let org_text = fs::read_to_string(p("org.asc")).expect("org.asc");
    let mut lines: Vec<&str> = org_text.lines().collect();
    let middle = lines.len() / 2;
    lines[middle] = "!!!! this is not base64 !!!!";
    fs::write(p("bad-armor.asc"), lines.join("\n")).expect("write");

    for (what, backup, key, needle) in [
        (
            "a truncated backup",
            p("truncated.pgp"),
            p("org.asc"),
            "cannot be decrypted",
        ),
        (
            "a garbage file",
            p("garbage.pgp"),
            p("org.asc"),
            "cannot be decrypted",
        ),
        (
            "another server's key",
            PathBuf::from(&file),
            p("other-org.asc"),
            "cannot be decrypted",
        ),
        (
            "malformed armor",
            PathBuf::from(&file),
            p("bad-armor.asc"),
            "Organization Key cannot be read",
        ),
    ] {
        let out = c.cli(&[
            "backup",
            "restore",
            path_str(&backup),
            "--organization-key",
            path_str(&key),
        ]);
        assert_fails_with(&out, what, &[needle]);
        assert!(c.domains().is_empty(), "{what}: domains appeared on C");
        assert_eq!(
            c.cli_ok_json(&["user", "list"]),
            json!([]),
            "{what}: users appeared on C"
        );
        let out = c.cli(&["org", "show", "organization-key"]);
        assert_error_line(&out, &format!("{what}: C's Organization Key"), &["404"]);
    }

    // The real thing on another fresh server.
    let b = Node::spawn("B", None);
    let out = b.cli(&[
        "backup",
        "restore",
        &file,
        "--organization-key",
        path_str(&p("org.asc")),
    ]);
    assert!(out.status.success(), "restore on B\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in ["[1/3]", "[2/3]", "[3/3]", "done in"] {
        assert!(
            stderr.contains(step),
            "restore progress lacks {step:?}:\n{stderr}"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("restored"),
        "{}",
        describe(&out)
    );

    assert_eq!(
        b.cli_ok_json(&["user", "list"]),
        users_a,
        "users after restore"
    );
    assert_eq!(b.domains(), domains_a, "domains after restore");
    assert_eq!(
        b.cli_ok_json(&["learn-mode", "status"]),
        learn_a,
        "Learn Mode after restore"
    );
    assert_eq!(learn_a["learn_mode"], false);
    assert_eq!(
        b.api_json("GET", "/api/v1/dictionaries/vip/entries", None),
        dicts_a,
        "dictionary after restore"
    );
    assert_eq!(org_fingerprint(&b), org_a, "Organization Key after restore");
    assert_eq!(
        b.cli_ok_json(&["backup", "schedule"]),
        schedule,
        "backup schedule after restore"
    );
    let alice_b = only_key(&b, "alice@example.com");
    assert_eq!(alice_b["fingerprint"], alice_a["fingerprint"], "{alice_b}");
    assert_eq!(alice_b["organization_certified"], true, "{alice_b}");
    assert_eq!(only_key(&b, "bob@example.org")["mode"], "CKM");

    // Private keys are usable on B: the secrets came along with their data key.
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "-o",
        path_str(&p("alice.asc")),
    ]);
    b.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "--private",
        "-o",
        path_str(&p("alice-b.asc")),
    ]);
    a.cli_ok(&[
        "key",
        "export",
        "alice@example.com",
        &alice_fpr,
        "--private",
        "-o",
        path_str(&p("alice-a.asc")),
    ]);
    let public = gpg.dearmor(&p("alice.asc"));
    assert_eq!(
        secret_material(&gpg.dearmor(&p("alice-b.asc")), &public),
        secret_material(&gpg.dearmor(&p("alice-a.asc")), &public),
        "alice's private key on B equals A's"
    );
    // And B can do new private-key work (certify with the restored Organization Key).
    b.cli_ok(&["user", "add", "dave@example.com"]);
    assert_eq!(
        only_key(&b, "dave@example.com")["organization_certified"],
        true
    );
}
