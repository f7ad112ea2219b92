//! `signet bench crypto`: messages per second of the message transforms in `signet-crypto`
//! (encrypt+sign, decrypt+verify) on one core, beside the way script-based gateways do the same
//! work, measured in the same invocation: one external process per message (`gpg` for
//! PGP/MIME, `openssl cms` for S/MIME).
//!
//! - Signet: one thread, pinned to one CPU, calls `pgpmime::encrypt` / `pgpmime::open` or
//!   `smime::encrypt_and_sign` / `smime::open` in a loop for `--seconds`; messages/s is the
//!   count over the elapsed wall-clock time.
//! - Baseline: the same thread spawns one `gpg --batch ... -e -s` (or `-d`) per message with the
//!   same keys imported into a temporary home directory; children inherit the CPU pinning, and
//!   so does the gpg-agent, started by an untimed warm-up message. S/MIME: `openssl cms -sign`
//!   piped into `openssl cms -encrypt` (two processes per message), and `openssl cms -decrypt`
//!   piped into `openssl cms -verify`. Only the cryptographic step is in the baseline; the
//!   MIME wrapping a script does around it is not, which flatters the baseline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{Rate, counted, machine, pin, timed};

use anyhow::{Context, bail};
use base64::Engine;
use signet_crypto::openpgp::{self, Cert, CertList, KeyAlgorithm};
use signet_crypto::smime::{self, CaIdentity, CertificateFields, KeyKind, SmimeIdentity};
use signet_crypto::{Format, OpenedMessage, SignatureStatus, pgpmime};

#[derive(Debug, Clone, clap::Args)]
pub struct CryptoBenchArgs {
    /// Seconds of Signet's operations per case.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Body sizes, comma-separated (10k = 10 KiB, 1m = 1 MiB, or bytes).
    #[arg(long, default_value = "10k,1m", value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Vec<usize>,
    /// Key and format combinations, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cv25519,rsa3072,smime-rsa3072,smime-p256"
    )]
    pub suites: Vec<Suite>,
    /// Baseline messages (one external process each) per case, for bodies under 100 KiB.
    #[arg(long, default_value_t = 20)]
    pub gpg_messages: usize,
    /// Baseline messages per case for bodies of 100 KiB and more.
    #[arg(long, default_value_t = 5)]
    pub gpg_messages_large: usize,
    /// Skip the gpg / openssl baselines.
    #[arg(long)]
    pub no_baseline: bool,
    /// For CI: 10 KiB only, 0.3 s per case, 3 baseline messages.
    #[arg(long)]
    pub quick: bool,
    /// The CPU to pin the benchmark thread (and the baseline's processes) to; default: the
    /// last CPU this process may run on.
    #[arg(long)]
    pub cpu: Option<usize>,
}

impl CryptoBenchArgs {
    fn effective(&self) -> CryptoBenchArgs {
        let mut a = self.clone();
        if a.quick {
            a.seconds = a.seconds.min(0.3);
            a.sizes = vec![10 * 1024];
            a.gpg_messages = a.gpg_messages.min(3);
            a.gpg_messages_large = a.gpg_messages_large.min(3);
        }
        a
    }
}

/// Keys and format of one row group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// PGP/MIME; Ed25519 signing key, Cv25519 (X25519) encryption key.
    Cv25519,
    /// PGP/MIME; RSA-3072 keys.
    Rsa3072,
    /// S/MIME; RSA-3072 certificates.
    SmimeRsa3072,
    /// S/MIME; RSA-2048 certificates.
    SmimeRsa2048,
    /// S/MIME; P-256 certificates (ECDSA, ECDH key agreement).
    SmimeP256,
}

impl Suite {
    fn key_label(self) -> &'static str {
        match self {
            Suite::Cv25519 => "Ed25519/Cv25519",
            Suite::Rsa3072 | Suite::SmimeRsa3072 => "RSA-3072",
            Suite::SmimeRsa2048 => "RSA-2048",
            Suite::SmimeP256 => "P-256",
        }
    }
    fn format_label(self) -> &'static str {
        match self {
            Suite::Cv25519 | Suite::Rsa3072 => "PGP/MIME",
            _ => "S/MIME",
        }
    }
    fn baseline_label(self) -> &'static str {
        match self {
            Suite::Cv25519 | Suite::Rsa3072 => "gpg, 1 process/msg",
            _ => "openssl cms, 2 processes/msg",
        }
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.strip_suffix(['k', 'm']) {
        Some(n) if s.ends_with('k') => (n, 1024),
        Some(n) => (n, 1024 * 1024),
        None => (s.as_str(), 1),
    };
    let n: usize = num
        .trim_end_matches("ib")
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 10k, 1m, 4096)"))?;
    match n * mult {
        0 => Err("size must be positive".into()),
        v => Ok(v),
    }
}

fn size_label(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1024 && n % 1024 == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// A realistic RFC 5322 message: the usual header fields and a text/plain body of `size`
/// bytes of wrapped, word-like printable ASCII (deterministic per size).
pub(crate) fn message(size: usize) -> Vec<u8> {
    const WORDS: &str = "the quarterly report attached please review figures before meeting on \
        thursday budget contract signed customer invoice and of to regards shipment delayed \
        account confidential";
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut out = format!(
        "Return-Path: <alice@sender.example>\r\n\
         Received: from mail.sender.example (mail.sender.example [192.0.2.10])\r\n\tby mx.recipient.example with ESMTPS id 4Xq2; Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         From: Alice Sender <alice@sender.example>\r\n\
         To: Bob Recipient <bob@recipient.example>\r\n\
         Subject: Quarterly figures ({})\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <bench-{size}@sender.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n",
        size_label(size)
    )
    .into_bytes();
    let start = out.len();
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size as u64;
    let mut line = 0usize;
    while out.len() - start < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = words[(state % words.len() as u64) as usize];
        if line + word.len() + 1 > 72 {
            out.extend_from_slice(b"\r\n");
            line = 0;
        } else if line > 0 {
            out.push(b' ');
            line += 1;
        }
        out.extend_from_slice(word.as_bytes());
        line += word.len();
    }
    out.truncate(start + size);
    out.extend_from_slice(b"\r\n");
    out
}

/// The sender's and the recipient's keys of one suite, as Signet holds them.
enum Keys {
    Pgp {
        sender: Box<Cert>,
        recipient: Box<Cert>,
        ring: CertList,
    },
    Smime {
        ca: CaIdentity,
        sender: SmimeIdentity,
        recipient: SmimeIdentity,
    },
}

const SENDER: &str = "alice@sender.example";
const RECIPIENT: &str = "bob@recipient.example";

impl Keys {
    fn generate(suite: Suite) -> anyhow::Result<Keys> {
        let pgp = |algo| -> anyhow::Result<Keys> {
            let sender = openpgp::generate_user_key(SENDER, Some("Alice Sender"), algo, None)?;
            let recipient =
                openpgp::generate_user_key(RECIPIENT, Some("Bob Recipient"), algo, None)?;
            let ring = CertList {
                secret: vec![recipient.clone()],
                public: vec![openpgp::public_only(&sender)],
            };
            Ok(Keys::Pgp {
                sender: Box::new(sender),
                recipient: Box::new(recipient),
                ring,
            })
        };
        let smime = |kind| -> anyhow::Result<Keys> {
            let fields = CertificateFields {
                common_name: "Signet Bench Organization Certificate".into(),
                contact_email: None,
                organization: "Signet Bench".into(),
                organizational_unit: None,
                locality: None,
                state: None,
                country: None,
            };
            let ca = smime::generate_organization_certificate(&fields, kind, None)?;
            let sender =
                smime::issue_user_certificate(&ca, SENDER, Some("Alice Sender"), kind, None, None)?;
            let recipient = smime::issue_user_certificate(
                &ca,
                RECIPIENT,
                Some("Bob Recipient"),
                kind,
                None,
                None,
            )?;
            Ok(Keys::Smime {
                ca,
                sender,
                recipient,
            })
        };
        match suite {
            Suite::Cv25519 => pgp(KeyAlgorithm::Cv25519),
            Suite::Rsa3072 => pgp(KeyAlgorithm::Rsa3072),
            Suite::SmimeRsa3072 => smime(KeyKind::Rsa3072),
            Suite::SmimeRsa2048 => smime(KeyKind::Rsa2048),
            Suite::SmimeP256 => smime(KeyKind::P256),
        }
    }

    /// Signet's encrypt+sign of one message.
    fn encrypt(&self, msg: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(match self {
            Keys::Pgp {
                sender, recipient, ..
            } => pgpmime::encrypt(
                msg,
                &[recipient.as_ref()],
                Some(sender.as_ref()),
                Format::PgpMime,
            )?,
            Keys::Smime {
                ca,
                sender,
                recipient,
            } => smime::encrypt_and_sign(
                msg,
                sender,
                std::slice::from_ref(&ca.cert_der),
                &[&recipient.cert_der],
            )?,
        })
    }

    /// Signet's decrypt+verify of one message; an error unless it decrypted and one
    /// signature is good.
    fn open(&self, msg: &[u8]) -> anyhow::Result<OpenedMessage> {
        let opened = match self {
            Keys::Pgp { ring, .. } => {
                pgpmime::open(msg, ring)?.context("not recognized as PGP/MIME")?
            }
            Keys::Smime { ca, recipient, .. } => smime::open(
                msg,
                std::slice::from_ref(recipient),
                std::slice::from_ref(&ca.cert_der),
            )?,
        };
        let a = &opened.annotation;
        if !a.was_encrypted
            || !a
                .signatures
                .iter()
                .any(|s| s.status == SignatureStatus::Good)
        {
            bail!("opened, but not decrypted with a good signature: {a:?}");
        }
        Ok(opened)
    }
}

/// Runs `cmd args` with `input` on stdin; its stdout, or an error with its stderr.
fn run_tool(cmd: &str, args: &[&str], input: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd}"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let output = std::thread::scope(|s| {
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })?;
    if !output.status.success() {
        bail!(
            "{cmd} {}: {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

fn tool_available(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The script gateway's way: the same keys, one external process per message.
enum Baseline {
    Gpg {
        _dir: tempfile::TempDir,
        home: String,
        sender: String,
        recipient: String,
    },
    Openssl {
        _dir: tempfile::TempDir,
        files: [String; 5],
    },
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if let Baseline::Gpg { home, .. } = self {
            let _ = Command::new("gpgconf")
                .args(["--homedir", home, "--kill", "gpg-agent"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn path_str(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_owned)
        .context("temporary path is not UTF-8")
}

impl Baseline {
    fn new(keys: &Keys) -> anyhow::Result<Baseline> {
        // Short paths: gpg-agent's socket path must fit in sun_path.
        let dir = tempfile::Builder::new().prefix("sbc").tempdir_in("/tmp")?;
        match keys {
            Keys::Pgp {
                sender, recipient, ..
            } => {
                if !tool_available("gpg", "--version") {
                    bail!("gpg not found");
                }
                let home = path_str(dir.path())?;
                std::fs::set_permissions(
                    dir.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )?;
                let mut armored = openpgp::armored_secret(sender, None)?;
                armored.push_str(&openpgp::armored_secret(recipient, None)?);
                let mut args = gpg_common(&home);
                args.push("--import");
                run_tool("gpg", &args, armored.as_bytes()).context("gpg --import")?;
                Ok(Baseline::Gpg {
                    _dir: dir,
                    home,
                    sender: sender.fingerprint().to_hex(),
                    recipient: recipient.fingerprint().to_hex(),
                })
            }
            Keys::Smime {
                ca,
                sender,
                recipient,
            } => {
                if !tool_available("openssl", "version") {
                    bail!("openssl not found");
                }
                let write = |name: &str, label: &str, der: &[u8]| -> anyhow::Result<String> {
                    let p: PathBuf = dir.path().join(name);
                    std::fs::write(&p, pem(label, der))?;
                    path_str(&p)
                };
                let files = [
                    write("ca.pem", "CERTIFICATE", &ca.cert_der)?,
                    write("s.pem", "CERTIFICATE", &sender.cert_der)?,
                    write("sk.pem", "PRIVATE KEY", &sender.key_pkcs8_der)?,
                    write("r.pem", "CERTIFICATE", &recipient.cert_der)?,
                    write("rk.pem", "PRIVATE KEY", &recipient.key_pkcs8_der)?,
                ];
                Ok(Baseline::Openssl { _dir: dir, files })
            }
        }
    }

    fn encrypt(&self, msg: &[u8]) -> anyhow::Result<Vec<u8>> {
        match self {
            Baseline::Gpg {
                home,
                sender,
                recipient,
                ..
            } => {
                let mut args = gpg_common(home);
                args.extend([
                    "--armor",
                    "-e",
                    "-s",
                    "-r",
                    recipient.as_str(),
                    "-u",
                    sender.as_str(),
                ]);
                run_tool("gpg", &args, msg)
            }
            Baseline::Openssl { files, .. } => {
                let [ca, s, sk, r, _] = files.each_ref().map(String::as_str);
                let signed = run_tool(
                    "openssl",
                    &[
                        "cms",
                        "-sign",
                        "-md",
                        "sha256",
                        "-signer",
                        s,
                        "-inkey",
                        sk,
                        "-certfile",
                        ca,
                    ],
                    msg,
                )?;
                run_tool("openssl", &["cms", "-encrypt", "-aes256", r], &signed)
            }
        }
    }

    fn open(&self, msg: &[u8]) -> anyhow::Result<Vec<u8>> {
        match self {
            Baseline::Gpg { home, .. } => {
                let mut args = gpg_common(home);
                args.push("-d");
                run_tool("gpg", &args, msg)
            }
            Baseline::Openssl { files, .. } => {
                let [ca, _, _, r, rk] = files.each_ref().map(String::as_str);
                let signed = run_tool(
                    "openssl",
                    &["cms", "-decrypt", "-recip", r, "-inkey", rk],
                    msg,
                )?;
                run_tool("openssl", &["cms", "-verify", "-CAfile", ca], &signed)
            }
        }
    }

    /// What the baseline's decrypt step is given for Signet's output: gpg gets the armored
    /// OpenPGP message a script extracts from the PGP/MIME part; openssl reads the message.
    fn input_from_signet(&self, signet_output: &[u8]) -> Vec<u8> {
        match self {
            Baseline::Gpg { .. } => armored_block(signet_output).unwrap_or_default(),
            Baseline::Openssl { .. } => signet_output.to_vec(),
        }
    }
}

fn gpg_common(home: &str) -> Vec<&str> {
    vec![
        "--batch",
        "--no-tty",
        "--quiet",
        "--homedir",
        home,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--trust-model",
        "always",
    ]
}

fn armored_block(msg: &[u8]) -> Option<Vec<u8>> {
    let find = |needle: &[u8]| msg.windows(needle.len()).position(|w| w == needle);
    let begin = find(b"-----BEGIN PGP MESSAGE-----")?;
    let end_marker = b"-----END PGP MESSAGE-----";
    let end = find(end_marker)? + end_marker.len();
    let mut block = msg[begin..end].to_vec();
    block.extend_from_slice(b"\r\n");
    Some(block)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    EncryptSign,
    DecryptVerify,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::EncryptSign => "encrypt+sign",
            Op::DecryptVerify => "decrypt+verify",
        }
    }
}

/// One row of the result table.
pub(crate) struct Row {
    pub op: Op,
    pub suite: Suite,
    pub size: usize,
    pub signet: Rate,
    /// The baseline's rate, or why there is none.
    pub baseline: Result<Rate, String>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .ok()
            .map(|b| self.signet.per_sec() / b.per_sec().max(1e-9))
    }
}

/// Measures every case on the calling thread (pinned to one CPU); progress on stderr.
pub(crate) fn measure(args: &CryptoBenchArgs) -> anyhow::Result<(Vec<Row>, usize)> {
    let cpu = pin(args.cpu)?;
    let cases = args.suites.len() * args.sizes.len() * 2;
    eprintln!(
        "signet bench crypto: pinned to CPU {cpu}; {cases} cases, {} s of Signet each{}",
        args.seconds,
        if args.no_baseline {
            ""
        } else {
            "; baseline: one external process per message"
        }
    );
    let mut rows = Vec::new();
    let mut case = 0;
    for &suite in &args.suites {
        let t = Instant::now();
        eprintln!(
            "  {} {}: generating keys ...",
            suite.format_label(),
            suite.key_label()
        );
        let keys = Keys::generate(suite)?;
        let baseline = match args.no_baseline {
            true => Err("skipped (--no-baseline)".to_string()),
            false => Baseline::new(&keys).map_err(|e| format!("unavailable: {e:#}")),
        };
        eprintln!("  keys ready in {:.1} s", t.elapsed().as_secs_f64());
        for &size in &args.sizes {
            let msg = message(size);
            let n = match size < 100 * 1024 {
                true => args.gpg_messages,
                false => args.gpg_messages_large,
            };
            let encrypted = keys.encrypt(&msg)?;
            let opened = keys.open(&encrypted)?;
            if !opened
                .message
                .windows(64)
                .any(|w| w == &msg[msg.len() - 66..msg.len() - 2])
            {
                bail!("{suite:?}: the opened message does not hold the original body");
            }
            // The baseline's own ciphertext, in case it cannot read Signet's.
            let mut base_cipher = None;
            for op in [Op::EncryptSign, Op::DecryptVerify] {
                case += 1;
                let label = format!(
                    "[{case}/{cases}] {} {} {} {}",
                    op.label(),
                    suite.key_label(),
                    size_label(size),
                    suite.format_label()
                );
                eprintln!("  {label}: Signet for {} s ...", args.seconds);
                let signet = match op {
                    Op::EncryptSign => timed(args.seconds, || keys.encrypt(&msg).map(drop))?,
                    Op::DecryptVerify => timed(args.seconds, || keys.open(&encrypted).map(drop))?,
                };
                let base = match &baseline {
                    Err(e) => Err(e.clone()),
                    Ok(b) => {
                        eprintln!("  {label}: baseline, {n} messages ...");
                        let r = match op {
                            Op::EncryptSign => b.encrypt(&msg).and_then(|c| {
                                base_cipher = Some(c);
                                counted(n, || b.encrypt(&msg).map(drop))
                            }),
                            Op::DecryptVerify => (|| {
                                let input = b.input_from_signet(&encrypted);
                                let input = match b.open(&input) {
                                    Ok(_) => input,
                                    Err(e) => {
                                        eprintln!(
                                            "  note: the baseline cannot open Signet's output ({e:#}); using its own"
                                        );
                                        let own = base_cipher.clone().context("no ciphertext")?;
                                        b.open(&own)?;
                                        own
                                    }
                                };
                                counted(n, || b.open(&input).map(drop))
                            })(),
                        };
                        r.map_err(|e| format!("failed: {e:#}"))
                    }
                };
                let row = Row {
                    op,
                    suite,
                    size,
                    signet,
                    baseline: base,
                };
                eprintln!(
                    "  {label}: Signet {:.0} msg/s ({} in {:.2} s); baseline {}",
                    row.signet.per_sec(),
                    row.signet.count,
                    row.signet.secs,
                    match &row.baseline {
                        Ok(b) => format!(
                            "{:.1} msg/s ({} in {:.2} s); ratio {:.1}x",
                            b.per_sec(),
                            b.count,
                            b.secs,
                            row.ratio().unwrap_or(0.0)
                        ),
                        Err(e) => e.clone(),
                    }
                );
                rows.push(row);
            }
        }
    }
    Ok((rows, cpu))
}

fn print_report(rows: &[Row], cpu: usize, args: &CryptoBenchArgs) {
    let command: Vec<String> = std::env::args().collect();
    println!();
    println!("machine: {}; measured on CPU {cpu} only", machine());
    println!("command: {}", command.join(" "));
    println!(
        "Signet: one thread, {} s per case. Baseline: one process per message ({} per case under 100 KiB, {} above), gpg-agent started by an untimed warm-up message.",
        args.seconds, args.gpg_messages, args.gpg_messages_large
    );
    println!();
    println!(
        "| operation | keys | body | format | Signet msg/s | baseline | baseline msg/s | ratio |"
    );
    println!("|---|---|---:|---|---:|---|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
            r.op.label(),
            r.suite.key_label(),
            size_label(r.size),
            r.suite.format_label(),
            r.signet.per_sec(),
            r.suite.baseline_label(),
            match &r.baseline {
                Ok(b) => format!("{:.1}", b.per_sec()),
                Err(e) => e.clone(),
            },
            r.ratio()
                .map(|x| format!("{x:.1}x"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!();
    println!("targets:");
    if let Some(r) = rows
        .iter()
        .find(|r| r.op == Op::EncryptSign && r.suite == Suite::Cv25519 && r.size == 10 * 1024)
    {
        let v = r.signet.per_sec();
        println!(
            "- 10 KiB Cv25519 encrypt+sign >= 2,000 msg/s per core: {v:.0} msg/s: {}",
            if v >= 2000.0 { "met" } else { "NOT met" }
        );
    }
    let ratios: Vec<(f64, &Row)> = rows.iter().filter_map(|r| Some((r.ratio()?, r))).collect();
    if let Some((min, r)) = ratios.iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
        println!(
            "- >= 20x the process-per-message rate: lowest ratio {min:.1}x ({} {} {} {}): {}",
            r.op.label(),
            r.suite.key_label(),
            size_label(r.size),
            r.suite.format_label(),
            if *min >= 20.0 {
                "met in every case"
            } else {
                "NOT met in every case"
            }
        );
        let below = ratios.iter().filter(|(x, _)| *x < 20.0).count();
        if below > 0 {
            println!("  {below} of {} cases below 20x", ratios.len());
        }
    }
}

/// `signet bench crypto`.
pub async fn run(args: CryptoBenchArgs) -> anyhow::Result<()> {
    let args = args.effective();
    let worker = std::thread::Builder::new()
        .name("bench-crypto".into())
        .spawn(move || -> anyhow::Result<()> {
            let (rows, cpu) = measure(&args)?;
            print_report(&rows, cpu, &args);
            Ok(())
        })?;
    tokio::task::spawn_blocking(move || worker.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the benchmark thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10k"), Ok(10 * 1024));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("x").is_err());
        let m = message(10 * 1024);
        assert!(m.len() > 10 * 1024 && m.len() < 11 * 1024);
        assert!(m.is_ascii());
    }

    /// The smallest run of every path: Signet and, where gpg / openssl are installed, the
    /// baseline. No speed is asserted.
    #[test]
    fn smallest_case_runs() {
        let args = CryptoBenchArgs {
            seconds: 0.02,
            sizes: vec![1024],
            suites: vec![Suite::Cv25519, Suite::SmimeP256],
            gpg_messages: 1,
            gpg_messages_large: 1,
            no_baseline: false,
            quick: false,
            cpu: None,
        };
        // Run on its own thread: measure() pins the thread it runs on.
        let (rows, _) = std::thread::spawn(move || measure(&args))
            .join()
            .expect("no panic")
            .expect("bench runs");
        assert_eq!(rows.len(), 4);
        for r in &rows {
            assert!(r.signet.count >= 1);
            if let Err(e) = &r.baseline {
                assert!(e.starts_with("unavailable"), "baseline failed: {e}");
            }
        }
    }
}
