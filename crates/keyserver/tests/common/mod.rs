//! Real peers for the key-search tests: gpg makes keys, openssl makes a certificate, slapd
//! (with its own config in a temp dir, on a free loopback port) serves them over LDAP, and a
//! small loopback HTTP(S) server stands in for HKP servers and Web Key Directories.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(cmd: &mut Command) -> Res<Vec<u8>> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(out.stdout)
}

/// A gpg home with keys made by gpg itself.
pub struct Gpg {
    pub home: TempDir,
}

impl Gpg {
    pub fn new() -> Res<Gpg> {
        let home = tempfile::tempdir()?;
        Ok(Gpg { home })
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(self.home.path()).args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// Makes an Ed25519/Cv25519 key for `uid` and returns it armored (public only).
    pub fn key(&self, uid: &str) -> Res<Vec<u8>> {
        run(self
            .gpg()
            .args(["--quick-gen-key", uid, "future-default", "default", "never"]))?;
        self.export(uid)
    }

    pub fn export(&self, uid: &str) -> Res<Vec<u8>> {
        run(self.gpg().args(["--armor", "--export", uid]))
    }

    pub fn fingerprint(&self, uid: &str) -> Res<String> {
        let out = run(self.gpg().args(["--with-colons", "--fingerprint", uid]))?;
        String::from_utf8_lossy(&out)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .map(str::to_string)
            .ok_or_else(|| "no fingerprint".into())
    }
}

/// A self-signed S/MIME certificate for `email`, DER, made by openssl.
pub fn openssl_certificate(dir: &Path, email: &str) -> Res<Vec<u8>> {
    let key = dir.join("cert.key");
    let pem = dir.join("cert.pem");
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&pem)
        .args(["-subj", &format!("/CN={email}/emailAddress={email}")])
        .args(["-addext", &format!("subjectAltName=email:{email}")]))?;
    run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&pem))
}

pub fn free_port() -> Res<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// slapd on a loopback port with the OpenPGP keyserver schema and `dc=partner,dc=test`.
pub struct Slapd {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
}

pub const SUFFIX: &str = "dc=partner,dc=test";

impl Slapd {
    /// `ldif` is loaded with slapadd before slapd starts.
    pub fn start(ldif: &str) -> Res<Slapd> {
        let dir = tempfile::tempdir()?;
        let schema =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pgp-keyserver.schema");
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db)?;
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include {schema}\n\
                 pidfile {pid}\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"cn=admin,{SUFFIX}\"\n\
                 rootpw secret\n\
                 directory {db}\n",
                schema = schema.display(),
                pid = dir.path().join("slapd.pid").display(),
                db = db.display(),
            ),
        )?;
        let data = dir.path().join("data.ldif");
        std::fs::write(&data, ldif)?;
        run(Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&data))?;
        let port = free_port()?;
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let slapd = Slapd { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("slapd did not start".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(slapd)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The LDIF of the directory: the base, `cn=PGPServerInfo` pointing at `ou=PGP Keys`, one
/// pgpKeyInfo entry per key and one inetOrgPerson per certificate.
pub fn ldif(keys: &[(&str, &[u8], &str)], certs: &[(&str, &[u8])]) -> String {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut s = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: partner\no: Partner\n\n\
         dn: cn=PGPServerInfo,{SUFFIX}\nobjectClass: pgpServerInfo\ncn: PGPServerInfo\n\
         pgpBaseKeySpaceDN: ou=PGP Keys,{SUFFIX}\npgpSoftware: Test\npgpVersion: 2\n\n\
         dn: ou=PGP Keys,{SUFFIX}\nobjectClass: organizationalUnit\nou: PGP Keys\n\n\
         dn: ou=People,{SUFFIX}\nobjectClass: organizationalUnit\nou: People\n\n"
    );
    for (uid, armored, fpr) in keys {
        let certid = &fpr[fpr.len() - 16..];
        s.push_str(&format!(
            "dn: pgpCertID={certid},ou=PGP Keys,{SUFFIX}\nobjectClass: pgpKeyInfo\n\
             pgpCertID: {certid}\npgpKey:: {}\npgpUserID: {uid}\n\n",
            b64(armored)
        ));
    }
    for (email, der) in certs {
        s.push_str(&format!(
            "dn: mail={email},ou=People,{SUFFIX}\nobjectClass: inetOrgPerson\ncn: {email}\n\
             sn: Person\nmail: {email}\nuserCertificate;binary:: {}\n\n",
            b64(der)
        ));
    }
    s
}

/// Path-and-query → (status, body).
type Answers = BTreeMap<String, (u16, Vec<u8>)>;

/// What the loopback HTTP server answers: path-and-query → (status, body). Requests are
/// recorded.
#[derive(Clone, Default)]
pub struct Routes {
    pub answers: Arc<Mutex<Answers>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Routes {
    pub fn answer(&self, path: &str, status: u16, body: &[u8]) {
        if let Ok(mut a) = self.answers.lock() {
            a.insert(path.to_string(), (status, body.to_vec()));
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// A loopback HTTP(S) server answering from `routes`; TLS when a server config is given.
pub async fn http_server(
    routes: Routes,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Res<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let routes = routes.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(cfg) => {
                        if let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await {
                            serve_one(s, routes).await;
                        }
                    }
                    None => serve_one(tcp, routes).await,
                }
            });
        }
    });
    Ok(addr)
}

async fn serve_one<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    routes: Routes,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let host = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("host: ")
                .or_else(|| l.strip_prefix("Host: "))
        })
        .unwrap_or("")
        .to_string();
    if let Ok(mut r) = routes.requests.lock() {
        r.push(format!("{host}{path}"));
    }
    let (status, body) = routes
        .answers
        .lock()
        .ok()
        .and_then(|a| a.get(&path).cloned())
        .unwrap_or((404, b"not found".to_vec()));
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/pgp-keys\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&body).await;
    let _ = s.shutdown().await;
}

/// A listener that accepts connections and never answers.
pub async fn blackhole() -> Res<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    Ok(addr)
}

/// A test CA and a server certificate for `names`: (server config, CA PEM).
pub fn tls_server(names: &[&str]) -> Res<(Arc<rustls::ServerConfig>, Vec<u8>)> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Key search test CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )?;
    Ok((Arc::new(config), ca.pem().into_bytes()))
}
