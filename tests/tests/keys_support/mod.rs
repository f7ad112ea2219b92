//! Helpers for the key end-to-end tests: a throw-away gpg home, openssl, the CLI calls the tests
//! repeat, and the search for secret key material in a data directory.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::{self, Node, assert_clear_error, describe, run_bounded};

pub(crate) const PASSPHRASE: &str = "correct horse battery staple 42";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A throw-away gpg home directory. Dropping it stops its gpg-agent.
pub(crate) struct Gpg {
    home: TempDir,
}

/// The fingerprints (`fpr:` records) of a `gpg --with-colons` listing, in order: each key's
/// primary first, then its subkeys.
pub(crate) fn fingerprints(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter(|l| l.starts_with("fpr:"))
        .filter_map(|l| l.split(':').nth(9))
        .collect()
}

impl Gpg {
    pub(crate) fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("sg-gpg-")
            .tempdir_in("/tmp")
            .expect("cannot create a gpg home");
        Gpg { home }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
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
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gpg {} failed\n{}",
            args.join(" "),
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn import(&self, file: &Path) {
        self.ok(&["--import", path_str(file)]);
    }

    /// Generates an Ed25519/Cv25519 key without a passphrase; returns its fingerprint.
    pub(crate) fn generate(&self, uid: &str) -> String {
        self.ok(&["--quick-gen-key", uid, "future-default", "default", "never"]);
        let listing = self.ok(&["--with-colons", "--list-keys", uid]);
        fingerprints(&listing)
            .first()
            .unwrap_or_else(|| panic!("no fingerprint for {uid}: {listing}"))
            .to_string()
    }

    pub(crate) fn export_public(&self, uid: &str, file: &Path) {
        self.ok(&["--armor", "--output", path_str(file), "--export", uid]);
    }

    /// User IDs of the keys in `file`, without importing them.
    pub(crate) fn uids_in(&self, file: &Path) -> Vec<String> {
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
    pub(crate) fn dearmor(&self, file: &Path) -> Vec<u8> {
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

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

pub(crate) fn tmp() -> TempDir {
    tempfile::Builder::new()
        .prefix("signet-e2e-keys-")
        .tempdir()
        .expect("cannot create a temporary directory")
}

pub(crate) fn openssl(args: &[&str]) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    run_bounded(cmd, common::CLI_TIMEOUT).unwrap_or_else(|| panic!("openssl {args:?} hung"))
}

pub(crate) fn openssl_ok(args: &[&str]) -> String {
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
pub(crate) fn setup(node: &Node, domains: &[&str]) -> Value {
    let mut args = vec!["setup"];
    for d in domains {
        args.extend(["--domain", d]);
    }
    node.cli_ok_json(&args)
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// The only key of a user (`key list --json`).
pub(crate) fn only_key(node: &Node, email: &str) -> Value {
    let keys = node.cli_ok_json(&["key", "list", email]);
    let list = keys
        .as_array()
        .unwrap_or_else(|| panic!("key list is not an array: {keys}"));
    assert_eq!(list.len(), 1, "{email} should have exactly one key: {keys}");
    list[0].clone()
}

pub(crate) fn org_fingerprint(node: &Node) -> String {
    str_of(
        &node.cli_ok_json(&["org", "show", "organization-key"]),
        "fingerprint",
    )
    .to_string()
}

/// Asserts a failed command whose stderr may start with progress lines: non-zero exit (no
/// signal, no panic), the last line is the CLI's error line, and it contains every needle
/// (case-insensitive). Returns that line.
pub(crate) fn assert_fails_with(out: &Output, what: &str, needles: &[&str]) -> String {
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
pub(crate) fn assert_error_line(out: &Output, what: &str, needles: &[&str]) -> String {
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
pub(crate) fn packets(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
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
pub(crate) fn secret_material(tsk: &[u8], public: &[u8]) -> Vec<Vec<u8>> {
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
pub(crate) fn files_containing(dir: &Path, needles: &[Vec<u8>]) -> Vec<String> {
    pub(crate) fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
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

pub(crate) fn normalize_serial(s: &str) -> String {
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
