//! `signet update`: verify and apply an appliance update file (A/B root slots).
//!
//! An update file (made by `image/make-update.sh`) is:
//!
//! ```text
//! signet-update 1\n
//! {"release":"...","files":[{"name":"vmlinuz","size":N,"sha256":"..."}, ...]}\n
//! <base64 ed25519 signature of the two lines above, newlines included>\n
//! <the files' bytes, one after the other, in the manifest's order>
//! ```
//!
//! The signature is checked against the release key the running root carries
//! (`/usr/share/signet/release-key.pem`), then every file's size and SHA-256, all before
//! anything is written. `apply` then writes the root into the inactive slot's partition, the
//! kernel and initrd into the EFI system partition, and last a boot entry with three tries
//! (`slot-X+3.conf`, a higher version than the running one). systemd-boot boots it next;
//! `signet-health.service` and `systemd-bless-boot` make it permanent once signetd answers, and
//! a slot that never gets there falls back to the old one by itself. On BIOS machines GRUB
//! counts the tries in its environment block (`boot_slots`) and `signet-grub-bless` keeps the
//! slot. The data partition is never touched.

mod boot_slots;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use clap::Subcommand;
use rustls::SignatureScheme;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The public release key in the appliance's read-only root.
pub const RELEASE_KEY: &str = "/usr/share/signet/release-key.pem";
const MAGIC: &str = "signet-update 1";
/// The header (magic, manifest, signature) is small; anything longer is not an update file.
const MAX_HEADER: u64 = 64 * 1024;
const ESP: &str = "/efi";

#[derive(Subcommand)]
pub enum UpdateCmd {
    /// Check an update file's signature and contents; write nothing.
    Verify {
        file: PathBuf,
        /// The release public key (PEM) to trust instead of the appliance's own.
        #[arg(long, default_value = RELEASE_KEY)]
        key: PathBuf,
    },
    /// Write a verified update into the inactive root slot and boot it next (with fallback).
    Apply {
        file: PathBuf,
        #[arg(long, default_value = RELEASE_KEY)]
        key: PathBuf,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub release: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// A verified header: the manifest and where the files' bytes start.
#[derive(Debug)]
pub struct Header {
    pub manifest: Manifest,
    pub payload_offset: u64,
}

/// Reads an ed25519 public key in the PEM SubjectPublicKeyInfo form `openssl pkey -pubout`
/// writes, and returns its 32 raw bytes.
pub fn parse_public_key(pem: &str) -> anyhow::Result<[u8; 32]> {
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .context("the release key is not PEM")?;
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) } BIT STRING (32 bytes) }
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    match der.strip_prefix(&PREFIX[..]) {
        Some(raw) if raw.len() == 32 => Ok(raw.try_into().expect("32 bytes")),
        _ => bail!("the release key is not an Ed25519 public key"),
    }
}

fn ed25519_verify(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    // rustls' crypto provider (aws-lc-rs) carries the Ed25519 verifier used for TLS.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let algs = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == SignatureScheme::ED25519)
        .map(|(_, algs)| *algs)
        .unwrap_or_default();
    algs.iter()
        .any(|alg| alg.verify_signature(key, message, signature).is_ok())
}

/// Checks the header of an update file: its format, its signature by `key`, its manifest.
/// Reads at most the header; an unsigned, foreign or altered file is an error.
pub fn verify_header(reader: impl Read, key: &[u8; 32]) -> anyhow::Result<Header> {
    let mut r = BufReader::new(reader.take(MAX_HEADER));
    let mut line = |what: &str| -> anyhow::Result<Vec<u8>> {
        let mut l = Vec::new();
        r.read_until(b'\n', &mut l)?;
        if l.pop() != Some(b'\n') {
            bail!("not a Signet update file (no {what})");
        }
        Ok(l)
    };
    let magic = line("format line")?;
    if magic != MAGIC.as_bytes() {
        bail!("not a Signet update file (it does not start with \"{MAGIC}\")");
    }
    let manifest = line("manifest")?;
    let sig_line = line("signature: the file is unsigned")?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&sig_line)
        .ok()
        .filter(|s| s.len() == 64)
        .context("the update file is unsigned (no Ed25519 signature after the manifest)")?;
    let signed = [MAGIC.as_bytes(), b"\n", &manifest, b"\n"].concat();
    if !ed25519_verify(key, &signed, &signature) {
        bail!("the update file is not signed by the release key this appliance trusts; refused");
    }
    let manifest: Manifest =
        serde_json::from_slice(&manifest).context("the signed manifest does not parse")?;
    let payload_offset = (signed.len() + sig_line.len() + 1) as u64;
    Ok(Header {
        manifest,
        payload_offset,
    })
}

/// Checks every file's size and SHA-256, and that nothing follows the last one.
pub fn verify_payload(mut reader: impl Read, manifest: &Manifest) -> anyhow::Result<()> {
    for f in &manifest.files {
        let mut hasher = Sha256::new();
        let n = std::io::copy(&mut (&mut reader).take(f.size), &mut hasher)?;
        if n != f.size {
            bail!("the update file is truncated in {}", f.name);
        }
        if hex::encode(hasher.finalize()) != f.sha256 {
            bail!("{} does not match its signed checksum; refused", f.name);
        }
    }
    if reader.read(&mut [0u8; 1])? != 0 {
        bail!("the update file has bytes after its last file; refused");
    }
    Ok(())
}

/// Opens an update file and verifies all of it against the key in `key_path`.
pub fn verify_file(file: &Path, key_path: &Path) -> anyhow::Result<Header> {
    let pem = fs::read_to_string(key_path)
        .with_context(|| format!("cannot read the release key {}", key_path.display()))?;
    let key = parse_public_key(&pem)?;
    let mut f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let header = verify_header(&mut f, &key)?;
    f.seek(SeekFrom::Start(header.payload_offset))?;
    verify_payload(BufReader::new(f), &header.manifest)?;
    Ok(header)
}

pub fn run(cmd: &UpdateCmd) -> anyhow::Result<()> {
    match cmd {
        UpdateCmd::Verify { file, key } => {
            let h = verify_file(file, key)?;
            println!(
                "update {} is valid and signed by the release key",
                h.manifest.release
            );
            Ok(())
        }
        UpdateCmd::Apply { file, key } => apply(file, key),
    }
}

fn apply(file: &Path, key: &Path) -> anyhow::Result<()> {
    // Everything is checked before anything is written.
    let header = verify_file(file, key)?;
    let names: Vec<&str> = header
        .manifest
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    if names != ["vmlinuz", "initrd.img", "root.erofs"] {
        bail!("the update holds {names:?}, not vmlinuz, initrd.img and root.erofs");
    }
    let cmdline = fs::read_to_string("/proc/cmdline")?;
    // The other slot on the disk the running root is on (never a same-named one elsewhere).
    let (running, slot) = boot_slots::running_and_target(&cmdline)?;
    let target = slot.letter;
    let entries = Path::new(ESP).join("loader/entries");
    if !entries.is_dir() {
        bail!("the EFI system partition is not mounted at {ESP}");
    }
    let device = slot.device.clone();

    let mut f = File::open(file)?;
    f.seek(SeekFrom::Start(header.payload_offset))?;
    let mut r = BufReader::new(f);
    let slot_dir = Path::new(ESP).join(format!("slot-{target}"));
    fs::create_dir_all(&slot_dir)?;
    for entry in &header.manifest.files {
        let dest = match entry.name.as_str() {
            "root.erofs" => device.clone(),
            name => slot_dir.join(name),
        };
        println!("writing {} to {}", entry.name, dest.display());
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create(dest != device)
            .truncate(dest != device)
            .open(&dest)
            .with_context(|| format!("cannot open {}", dest.display()))?;
        if dest == device {
            let room = out.seek(SeekFrom::End(0))?;
            if room < entry.size {
                bail!(
                    "root-{target} holds {room} bytes, the new root needs {}",
                    entry.size
                );
            }
            out.seek(SeekFrom::Start(0))?;
        }
        // Hash again while writing: the file could have changed since it was verified.
        let mut hasher = Sha256::new();
        let mut left = entry.size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = r.read(&mut buf[..left.min(1 << 20) as usize])?;
            if n == 0 {
                bail!("the update file was truncated while it was written");
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.sync_all()?;
        if hex::encode(hasher.finalize()) != entry.sha256 {
            bail!("the update file changed while it was written; the slot is left unbootable");
        }
    }

    // Last, the boot entry: a higher version than any entry, three tries (boot counting).
    let mut version = 0u64;
    for e in fs::read_dir(&entries)? {
        let path = e?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with(&format!("slot-{target}")) {
            fs::remove_file(&path)?;
            continue;
        }
        for l in fs::read_to_string(path).unwrap_or_default().lines() {
            if let Some(v) = l.strip_prefix("version ") {
                version = version.max(v.trim().parse().unwrap_or(0));
            }
        }
    }
    let options: Vec<String> = cmdline
        .split_whitespace()
        .filter(|a| {
            !["root=", "BOOT_IMAGE=", "initrd="]
                .iter()
                .any(|p| a.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    let entry = format!(
        "title Signet {release} (slot {up})\nsort-key signet\nversion {v}\n\
         linux /slot-{target}/vmlinuz\ninitrd /slot-{target}/initrd.img\n\
         options root=PARTUUID={uuid} {opts}\n",
        release = header.manifest.release,
        up = target.to_ascii_uppercase(),
        v = version + 1,
        uuid = slot.partuuid,
        opts = options.join(" "),
    );
    let tmp = entries.join(format!(".slot-{target}.tmp"));
    fs::write(&tmp, entry)?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(tmp, entries.join(format!("slot-{target}+3.conf")))?;
    // BIOS machines boot through GRUB, which counts the tries in its environment block.
    boot_slots::grub_try_slot(&Path::new(ESP).join("grub/grubenv"), running, target)?;
    println!(
        "release {} is in slot {}; it starts at the next reboot \
         (kept after it answers, else the old slot comes back after 3 tries)",
        header.manifest.release,
        target.to_ascii_uppercase()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with openssl (image/make-update.sh does the same): key A signed the manifest.
    const KEY_A: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAM66oqPzXUP+Ehc3gh9EkESfsfN4JZ3q1rLBXftB2C+o=\n\
        -----END PUBLIC KEY-----\n";
    const KEY_B: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAelLCbQEn+8d2Botu0cxbIZX8CNHsBc+GWJEfNt2HrbY=\n\
        -----END PUBLIC KEY-----\n";
    const MANIFEST: &str = r#"{"release":"9.9.9-test","files":[{"name":"vmlinuz","size":7,"sha256":"a0c936696eb7d5ee3192bf53b9d281cecbb40ca9db520de72cb95817ad92ac72"}]}"#;
    const SIG_A: &str =
        "OvSuCE2lhoZKa1WxsWTYgffe1rCxJFimypLxSi9SVPNQzvghWMKc64dmpltWijzkgOzg08QmweGdtWDID0EeDQ==";
    const SIG_B: &str =
        "++M1eCxxTDbjTng1yun0r0J/LCvrAKcxXVEbprg+Xh9nUXPHPxh0gPg+7ETsTdZsT+lM+b8MsXreDxE7taM3BQ==";
    const PAYLOAD: &[u8] = b"kernel\n";

    fn file(manifest: &str, sig: &str, payload: &[u8]) -> Vec<u8> {
        [format!("{MAGIC}\n{manifest}\n{sig}\n").as_bytes(), payload].concat()
    }

    fn check(bytes: &[u8], key: &str) -> anyhow::Result<Header> {
        let key = parse_public_key(key)?;
        let h = verify_header(bytes, &key)?;
        verify_payload(&bytes[h.payload_offset as usize..], &h.manifest)?;
        Ok(h)
    }

    fn err(r: anyhow::Result<Header>) -> String {
        format!("{:#}", r.expect_err("must be refused"))
    }

    #[test]
    fn update_signed_by_the_release_key_is_accepted() {
        let h = check(&file(MANIFEST, SIG_A, PAYLOAD), KEY_A).unwrap();
        assert_eq!(h.manifest.release, "9.9.9-test");
        assert_eq!(h.manifest.files[0].size, 7);
    }

    #[test]
    fn update_signed_by_a_foreign_key_is_refused() {
        let e = err(check(&file(MANIFEST, SIG_B, PAYLOAD), KEY_A));
        assert!(e.contains("not signed by the release key"), "{e}");
        let e = err(check(&file(MANIFEST, SIG_A, PAYLOAD), KEY_B));
        assert!(e.contains("not signed by the release key"), "{e}");
    }

    #[test]
    fn unsigned_update_is_refused() {
        let unsigned = [format!("{MAGIC}\n{MANIFEST}\n").as_bytes(), PAYLOAD].concat();
        let e = err(check(&unsigned, KEY_A));
        assert!(e.contains("unsigned"), "{e}");
        let e = err(check(&file(MANIFEST, "", PAYLOAD), KEY_A));
        assert!(e.contains("unsigned"), "{e}");
    }

    #[test]
    fn altered_manifest_or_payload_is_refused() {
        let changed = MANIFEST.replace("9.9.9-test", "9.9.10-test");
        let e = err(check(&file(&changed, SIG_A, PAYLOAD), KEY_A));
        assert!(e.contains("not signed by the release key"), "{e}");
        let e = err(check(&file(MANIFEST, SIG_A, b"kernel!"), KEY_A));
        assert!(e.contains("does not match its signed checksum"), "{e}");
        let e = err(check(&file(MANIFEST, SIG_A, b"kern"), KEY_A));
        assert!(e.contains("truncated"), "{e}");
        let e = err(check(&file(MANIFEST, SIG_A, b"kernel\nmore"), KEY_A));
        assert!(e.contains("bytes after its last file"), "{e}");
    }

    #[test]
    fn other_files_and_keys_are_refused() {
        let e = err(check(b"\x7fELF not an update", KEY_A));
        assert!(e.contains("not a Signet update file"), "{e}");
        assert!(parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n").is_err());
    }
}
