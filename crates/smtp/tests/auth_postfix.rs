//! SMTP AUTH for the internal placement against a real mail server: a private Postfix that
//! requires AUTH, with Dovecot SASL behind it (passwd-file, one user, SHA512-CRYPT). A proxy
//! in this process checks its clients' credentials with that Postfix ([`MailServerAuth`]).
//! Real clients drive the proxy: `openssl s_client -starttls smtp` for the encrypted sessions
//! (swaks here lacks Net::SSLeay, so it cannot do TLS), swaks and a bare socket for the clear
//! ones. Needs root, postfix, dovecot, doveadm, openssl and swaks (scripts/install-peers.sh).

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use signet_smtp::access::AccessLists;
use signet_smtp::auth::{AuthSettings, Credentials};
use signet_smtp::client::{ClientSettings, ServerTls, send};
use signet_smtp::mail_server_auth::MailServerAuth;
use signet_smtp::reply::Reply;
use signet_smtp::routes::NextHop;
use signet_smtp::server::{ClientTls, Hooks, ProxySettings, serve};
use signet_smtp::session::SessionConfig;
use signet_smtp::spool::{Direction, Envelope, Spool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type TestResult = Result<(), BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USER: &str = "alice@example.com";
const PASSPHRASE: &str = "correct horse battery";

/// Counts what the proxy spooled.
struct Counter(Arc<AtomicUsize>);

impl Hooks for Counter {
    fn direction(&self, _: IpAddr) -> Direction {
        Direction::Outbound
    }
    fn check_recipient(&self, _: Direction, _: &str) -> Result<(), Reply> {
        Ok(())
    }
    fn accepted(&self, _: &Envelope) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn run(cmd: &mut Command) -> Result<String, BoxError> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A private Dovecot that only serves authentication, on a socket Postfix uses.
struct Dovecot {
    config: PathBuf,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn start_dovecot(dir: &Path) -> Result<(Dovecot, PathBuf), BoxError> {
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir)?;
    let hash = run(Command::new("doveadm").args([
        "-c",
        "/dev/null",
        "pw",
        "-s",
        "SHA512-CRYPT",
        "-p",
        PASSPHRASE,
    ]))?;
    let users = dir.join("users");
    std::fs::write(&users, format!("{USER}:{}\n", hash.trim()))?;
    let config = dir.join("dovecot.conf");
    std::fs::write(
        &config,
        format!(
            "base_dir = {run}
instance_name = signet-auth-test-{pid}
protocols =
log_path = {log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {users}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
",
            run = run_dir.display(),
            pid = std::process::id(),
            log = dir.join("dovecot.log").display(),
            users = users.display(),
        ),
    )?;
    // The daemon keeps inherited pipes open: give it none, or waiting for its output hangs.
    let started = Command::new("dovecot")
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !started.success() {
        return Err(format!("dovecot -c {} failed", config.display()).into());
    }
    let socket = run_dir.join("auth-postfix");
    let guard = Dovecot { config };
    wait_for(|| socket.exists())?;
    Ok((guard, socket))
}

struct Postfix {
    config_dir: PathBuf,
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.config_dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Debian's master.cf with every service out of chroot and smtpd on `127.0.0.1:port`.
fn master_cf(system: &str, port: u16) -> String {
    let mut out = String::new();
    for line in system.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with(['#', ' ', '\t']) || fields.len() < 8 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        if f[0] == "smtp" && f[1] == "inet" {
            f[0] = format!("127.0.0.1:{port}");
        }
        f[4] = "n".into();
        out.push_str(&f.join(" "));
        out.push('\n');
    }
    out
}

/// Postfix as the organization's mail server: STARTTLS, AUTH only over TLS, through Dovecot.
fn start_postfix(dir: &Path, sasl_socket: &Path) -> Result<(Postfix, u16), BoxError> {
    use std::os::unix::fs::PermissionsExt;
    let (etc, queue, data) = (dir.join("etc"), dir.join("queue"), dir.join("data"));
    for d in [&etc, &queue, &data] {
        std::fs::create_dir_all(d)?;
    }
    for d in [dir, &queue] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    run(Command::new("chown").arg("postfix").arg(&data))?;
    let cert = rcgen::generate_simple_self_signed(vec!["mail.example.com".to_string()])?;
    std::fs::write(etc.join("cert.pem"), cert.cert.pem())?;
    std::fs::write(etc.join("key.pem"), cert.signing_key.serialize_pem())?;
    std::fs::set_permissions(etc.join("key.pem"), std::fs::Permissions::from_mode(0o600))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let system = std::fs::read_to_string("/etc/postfix/master.cf")?;
    std::fs::write(etc.join("master.cf"), master_cf(&system, port))?;
    std::fs::write(
        etc.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = mail.example.com
mydomain = example.com
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_tls_security_level = may
smtpd_tls_cert_file = {etc}/cert.pem
smtpd_tls_key_file = {etc}/key.pem
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {sasl}
smtpd_sasl_auth_enable = yes
",
            queue = queue.display(),
            data = data.display(),
            dir = dir.display(),
            etc = etc.display(),
            sasl = sasl_socket.display(),
        ),
    )?;
    run(Command::new("postfix").arg("-c").arg(&etc).arg("start"))?;
    let guard = Postfix { config_dir: etc };
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())?;
    Ok((guard, port))
}

fn wait_for(ready: impl Fn() -> bool) -> Result<(), BoxError> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(20) {
            return Err("a peer did not start in 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn proxy_tls() -> Result<Arc<rustls::ServerConfig>, BoxError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["signet.example.com".to_string()])?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)?;
    Ok(Arc::new(config))
}

/// An Outbound proxy of the internal placement: AUTH required, checked by `mail_server`.
async fn proxy(mail_server: u16, spool: Spool) -> Result<(SocketAddr, Arc<AtomicUsize>), BoxError> {
    let verifier = MailServerAuth::new(
        &NextHop::Relay {
            host: "127.0.0.1".into(),
            port: mail_server,
            tls: ServerTls::Require,
        },
        ClientSettings {
            hostname: "signet.example.com".into(),
            command_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            ..ClientSettings::default()
        },
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let settings = ProxySettings {
        name: "Outbound".into(),
        session: SessionConfig {
            hostname: "signet.example.com".into(),
            auth: Some(AuthSettings {
                verifier: Arc::new(verifier),
                required: true,
            }),
            ..SessionConfig::default()
        },
        client_tls: ClientTls::Allow,
        tls: Some(proxy_tls()?),
        access: AccessLists::default(),
        connections_per_second: 200,
        idle_timeout: Duration::from_secs(30),
    };
    let spooled = Arc::new(AtomicUsize::new(0));
    tokio::spawn(serve(
        listener,
        settings,
        spool,
        Counter(spooled.clone()),
        Arc::new(AtomicU64::new(0)),
        std::future::pending(),
    ));
    Ok((addr, spooled))
}

/// One STARTTLS session with openssl s_client: `lines` go after TLS is up (s_client sends
/// the first EHLO and STARTTLS itself); the server's side of the dialogue comes back.
async fn over_tls(addr: SocketAddr, lines: Vec<String>) -> Result<String, BoxError> {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-ign_eof", "-starttls", "smtp"])
            .arg("-connect")
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut input = String::new();
        for l in &lines {
            input.push_str(l);
            input.push_str("\r\n");
        }
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let start = Instant::now();
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                return Err::<String, BoxError>("openssl s_client hung".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .await?
}

fn message_lines(auth: &[&str]) -> Vec<String> {
    let mut lines = vec!["EHLO client.example.com".to_string()];
    lines.extend(auth.iter().map(|s| s.to_string()));
    lines.extend(
        [
            "MAIL FROM:<alice@example.com>",
            "RCPT TO:<bob@example.net>",
            "DATA",
            "Subject: hello",
            "",
            "Sent after AUTH.",
            ".",
            "QUIT",
        ]
        .map(String::from),
    );
    lines
}

/// A plain socket: the whole dialogue for `input`, until the server closes or goes quiet.
async fn in_clear(addr: SocketAddr, input: &str) -> Result<String, BoxError> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(input.as_bytes()).await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_checked_by_postfix_with_dovecot() -> TestResult {
    let dir = tempfile::Builder::new()
        .prefix("signet-auth-")
        .tempdir_in("/tmp")?;
    let (_dovecot, socket) = start_dovecot(&dir.path().join("dovecot"))?;
    let (_postfix, mail_server) = start_postfix(&dir.path().join("postfix"), &socket)?;
    let spool = Spool::open(dir.path().join("spool"))?;
    let (addr, spooled) = proxy(mail_server, spool.clone()).await?;
    let right = Credentials::new(USER, PASSPHRASE).plain_response();
    let wrong = Credentials::new(USER, "wrong horse").plain_response();

    // PLAIN with the right passphrase: 235, and the message is spooled.
    let auth = format!("AUTH PLAIN {right}");
    let t = over_tls(addr, message_lines(&[&auth])).await?;
    assert!(t.contains("250 AUTH PLAIN LOGIN"), "{t}");
    assert!(t.contains("235 2.7.0 Authentication successful"), "{t}");
    assert!(t.contains("250 2.0.0 Queued as "), "{t}");
    assert_eq!(spooled.load(Ordering::SeqCst), 1);
    assert_eq!(spool.list()?.len(), 1);

    // A wrong passphrase: 535 from Postfix's verdict, MAIL refused, nothing spooled.
    let auth = format!("AUTH PLAIN {wrong}");
    let t = over_tls(addr, message_lines(&[&auth])).await?;
    assert!(
        t.contains("535 5.7.8 Authentication credentials invalid"),
        "{t}"
    );
    assert!(t.contains("530 5.7.0 Authentication required"), "{t}");
    assert!(!t.contains("Queued as"), "{t}");
    assert_eq!(spooled.load(Ordering::SeqCst), 1);

    // LOGIN, challenge by challenge.
    let user = STANDARD.encode(USER);
    let pass = STANDARD.encode(PASSPHRASE);
    let t = over_tls(addr, message_lines(&["AUTH LOGIN", &user, &pass])).await?;
    assert!(t.contains("334 VXNlcm5hbWU6"), "{t}");
    assert!(t.contains("334 UGFzc3dvcmQ6"), "{t}");
    assert!(t.contains("235 2.7.0 Authentication successful"), "{t}");
    assert!(t.contains("250 2.0.0 Queued as "), "{t}");
    assert_eq!(spooled.load(Ordering::SeqCst), 2);

    // Before TLS: AUTH is not offered and is refused with 538.
    let t = in_clear(
        addr,
        &format!("EHLO client.example.com\r\nAUTH PLAIN {right}\r\nQUIT\r\n"),
    )
    .await?;
    assert!(t.contains("250 STARTTLS"), "{t}");
    assert!(!t.contains("AUTH PLAIN LOGIN"), "{t}");
    assert!(
        t.contains("538 5.7.11 Encryption required for requested authentication mechanism"),
        "{t}"
    );

    // swaks without AUTH: MAIL gets 530.
    let out = Command::new("swaks")
        .args(["--server", &addr.to_string(), "--from", USER])
        .args(["--to", "bob@example.net", "--timeout", "10"])
        .output()?;
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("<** 530 5.7.0 Authentication required"), "{t}");
    assert_eq!(spooled.load(Ordering::SeqCst), 2);

    // The mail server unreachable: 454, a temporary failure the client retries.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let (down, _) = proxy(closed, Spool::open(dir.path().join("spool-down"))?).await?;
    let t = over_tls(down, message_lines(&[&format!("AUTH PLAIN {right}")])).await?;
    assert!(
        t.contains("454 4.7.0 Temporary authentication failure"),
        "{t}"
    );
    assert!(!t.contains("Queued as"), "{t}");

    // Signet as the client (e.g. to an archive server): AUTH PLAIN after STARTTLS makes
    // Postfix relay; without credentials it refuses; over a clear session they are not sent.
    let postfix: SocketAddr = ([127, 0, 0, 1], mail_server).into();
    let with = |tls, credentials| ClientSettings {
        hostname: "signet.example.com".into(),
        tls,
        credentials,
        ..ClientSettings::default()
    };
    let rcpt = ["bob@example.net".to_string()];
    let body = b"Subject: archive copy\r\n\r\nSent with AUTH.\r\n";
    let creds = Some(Credentials::new(USER, PASSPHRASE));
    let r = send(
        postfix,
        &with(ServerTls::Require, creds.clone()),
        USER,
        &rcpt,
        body,
    )
    .await?;
    assert!(r[0].result.is_ok(), "{:?}", r[0].result);
    let r = send(postfix, &with(ServerTls::Require, None), USER, &rcpt, body).await?;
    assert!(
        matches!(&r[0].result, Err(e) if e.is_permanent() && e.to_string().contains("Access denied")),
        "{:?}",
        r[0].result
    );
    let clear = send(
        postfix,
        &with(ServerTls::Disable, creds.clone()),
        USER,
        &rcpt,
        body,
    )
    .await;
    assert!(
        matches!(&clear, Err(e) if !e.is_permanent() && e.to_string().contains("not encrypted")),
        "{clear:?}"
    );
    let wrong = Some(Credentials::new(USER, "wrong horse"));
    let refused = send(postfix, &with(ServerTls::Require, wrong), USER, &rcpt, body).await;
    assert!(
        matches!(&refused, Err(e) if !e.is_permanent() && e.to_string().contains("refused AUTH")),
        "{refused:?}"
    );

    // The verdicts came from Postfix through Dovecot.
    let log = std::fs::read_to_string(dir.path().join("postfix/maillog"))?;
    assert!(log.contains("SASL PLAIN authentication failed"), "{log}");
    Ok(())
}
