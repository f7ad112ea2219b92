//! Helpers for the OpenPGP interop tests: running gpg and sq in temporary homes, keys made
//! once per test process, and a byte-exact MIME part splitter.

use signet_crypto::openpgp::{self, Cert, KeyAlgorithm};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{tool} is not installed: run scripts/install-peers.sh");
}

pub struct Out {
    pub ok: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

pub fn run(cmd: &mut Command, stdin: &[u8]) -> Out {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn peer");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A GnuPG home in a temp dir.
pub struct Gpg {
    dir: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        require("gpg");
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Gpg { dir }
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir")
            .arg(self.dir.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--trust-model", "always", "--no-tty", "--status-fd", "2"]);
        c
    }
    pub fn gpg(&self, args: &[&str], stdin: &[u8]) -> Out {
        run(self.cmd().args(args), stdin)
    }
    pub fn import(&self, data: &[u8]) {
        let o = self.gpg(&["--import"], data);
        assert!(o.ok, "gpg --import failed: {}", o.stderr);
    }
    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
    /// Generates a key; RSA keys are one sign+encrypt primary, ed25519 gets a cv25519
    /// encryption subkey. Returns the secret key export.
    pub fn generate(&self, uid: &str, algo: &str) -> Vec<u8> {
        let usage = if algo == "ed25519" {
            "sign"
        } else {
            "sign,encr"
        };
        let o = self.gpg(&["--quick-gen-key", uid, algo, usage, "never"], b"");
        assert!(o.ok, "gpg keygen failed: {}", o.stderr);
        if algo == "ed25519" {
            let fpr = self.fingerprint(uid);
            let o = self.gpg(&["--quick-add-key", &fpr, "cv25519", "encr", "never"], b"");
            assert!(o.ok, "gpg add-key failed: {}", o.stderr);
        }
        let o = self.gpg(&["--export-secret-keys", uid], b"");
        assert!(o.ok && !o.stdout.is_empty(), "export failed: {}", o.stderr);
        o.stdout
    }
    pub fn fingerprint(&self, uid: &str) -> String {
        let o = self.gpg(&["--with-colons", "--list-keys", uid], b"");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_string()
    }
}

pub fn sq(args: &[&dyn AsRef<std::ffi::OsStr>], stdin: &[u8]) -> Out {
    require("sq");
    let mut c = Command::new("sq");
    for a in args {
        c.arg(a);
    }
    run(&mut c, stdin)
}

/// Signet keys, one per algorithm, made once per test process.
pub fn signet_key(algo: KeyAlgorithm) -> &'static Cert {
    static KEYS: OnceLock<Vec<(KeyAlgorithm, Cert)>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [
            KeyAlgorithm::Cv25519,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
        ]
        .into_iter()
        .map(|a| {
            let email = format!("{a}@signet.test");
            (
                a,
                openpgp::generate_user_key(&email, Some("Signet User"), a, None).unwrap(),
            )
        })
        .collect()
    });
    &keys.iter().find(|(a, _)| *a == algo).unwrap().1
}

/// gpg-made keys (rsa2048, rsa3072, rsa4096, ed25519+cv25519), made once per process.
pub struct GpgKeys {
    pub keys: Vec<(String, Cert)>,
}

pub fn gpg_keys() -> &'static GpgKeys {
    static KEYS: OnceLock<GpgKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let algos = ["rsa2048", "rsa3072", "rsa4096", "ed25519"];
        let handles: Vec<_> = algos
            .iter()
            .map(|algo| {
                let algo = algo.to_string();
                std::thread::spawn(move || {
                    let g = Gpg::new();
                    let uid = format!("Gpg {algo} <{algo}@gpg.test>");
                    let secret = g.generate(&uid, &algo);
                    (algo, openpgp::parse_cert(&secret).unwrap())
                })
            })
            .collect();
        GpgKeys {
            keys: handles.into_iter().map(|h| h.join().unwrap()).collect(),
        }
    })
}

pub fn public_armor(c: &Cert) -> Vec<u8> {
    openpgp::armored_public(c).unwrap().into_bytes()
}

pub fn secret_bin(c: &Cert) -> Vec<u8> {
    openpgp::binary_secret(c).unwrap()
}

/// The parts of a multipart body, exactly as written (entity bytes between delimiters).
pub fn mime_parts(message: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(message);
    let start = text.find("boundary=\"").unwrap() + 10;
    let boundary = &text[start..start + text[start..].find('"').unwrap()];
    let delim = format!("\r\n--{boundary}");
    let mut body = b"\r\n".to_vec();
    body.extend_from_slice(body_of(message));
    let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
    let mut parts = Vec::new();
    let mut rest = &body[..];
    let mut first = true;
    while let Some(i) = find(rest, delim.as_bytes()) {
        if !first {
            parts.push(rest[..i].to_vec());
        }
        first = false;
        let after = &rest[i + delim.len()..];
        if after.starts_with(b"--") {
            break;
        }
        rest = &after[2..];
    }
    parts
}

pub fn body_of(entity: &[u8]) -> &[u8] {
    let i = entity.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &entity[i + 4..]
}

pub fn has(hay: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(hay).contains(needle)
}
