//! Two proxies on loopback: A accepts, queues and relays to B (with STARTTLS); B refuses one
//! recipient, so A bounces it to the sender through a static route that points back at B.
//! The real peers (swaks, Postfix, smtp-sink) drive whole nodes in the tests crate; this test
//! pins the queue's contract in isolation.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use signet_smtp::DeliveryError;
use signet_smtp::access::AccessLists;
use signet_smtp::client::{ClientSettings, ServerTls, send};
use signet_smtp::delivery::{RetryPolicy, Transport};
use signet_smtp::queue::{MailPath, Outgoing, Queue};
use signet_smtp::reply::Reply;
use signet_smtp::routes::{MailRoute, MailRoutes, NextHop, StaticResolver};
use signet_smtp::server::{ClientTls, Hooks, ProxySettings, serve};
use signet_smtp::session::SessionConfig;
use signet_smtp::spool::{Direction, Envelope, RecipientState, Spool, Stage};
use tokio::net::TcpListener;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// B refuses anyone called "nobody"; A accepts all. Neither wakes anything.
struct Gatekeeper {
    refuse_nobody: bool,
}

impl Hooks for Gatekeeper {
    fn direction(&self, _: IpAddr) -> Direction {
        Direction::Outbound
    }
    fn check_recipient(&self, _: Direction, address: &str) -> Result<(), Reply> {
        if self.refuse_nobody && address.starts_with("nobody@") {
            Err(Reply::new(550, (5, 1, 1), "No such user here"))
        } else {
            Ok(())
        }
    }
    fn accepted(&self, _: &Envelope) {}
}

/// Policy stand-in: send every recipient on unchanged to B.
struct RelayTo(SocketAddr);

impl MailPath for RelayTo {
    async fn process(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Vec<Outgoing>, DeliveryError> {
        let mut out = envelope.clone();
        out.next_hop = NextHop::Relay {
            host: self.0.ip().to_string(),
            port: self.0.port(),
            tls: ServerTls::Attempt,
        };
        Ok(vec![Outgoing {
            envelope: out,
            message: message.to_vec(),
        }])
    }

    fn bounce(
        &self,
        envelope: &Envelope,
        failed: &[(String, String)],
        _: &[u8],
    ) -> Option<(Vec<u8>, NextHop)> {
        let text = format!(
            "From: MAILER-DAEMON\r\nTo: {}\r\nSubject: Undeliverable\r\n\r\n{} failed: {}\r\n",
            envelope.mail_from, failed[0].0, failed[0].1
        );
        Some((text.into_bytes(), NextHop::Direct))
    }
}

fn tls_config() -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["sink.test".to_string()])?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)?;
    Ok(Arc::new(config))
}

async fn proxy(
    name: &str,
    spool: Spool,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let settings = ProxySettings {
        name: name.into(),
        session: SessionConfig {
            hostname: format!("{name}.test"),
            ..SessionConfig::default()
        },
        client_tls: if tls.is_some() {
            ClientTls::Allow
        } else {
            ClientTls::Disable
        },
        tls,
        access: AccessLists::default(),
        connections_per_second: 200,
        idle_timeout: Duration::from_secs(30),
    };
    tokio::spawn(serve(
        listener,
        settings,
        spool,
        Gatekeeper {
            refuse_nobody: name == "b",
        },
        Arc::new(AtomicU64::new(0)),
        std::future::pending(),
    ));
    Ok(addr)
}

#[tokio::test]
async fn relay_with_starttls_and_a_bounce_for_the_refused_recipient() -> TestResult {
    let dir_a = tempfile::tempdir()?;
    let dir_b = tempfile::tempdir()?;
    let spool_a = Spool::open(dir_a.path())?;
    let spool_b = Spool::open(dir_b.path())?;
    let b = proxy("b", spool_b.clone(), Some(tls_config()?)).await?;
    let a = proxy("a", spool_a.clone(), None).await?;

    let recipients = vec!["bob@ext.test".to_string(), "nobody@ext.test".to_string()];
    let message = b"Subject: hello\r\n\r\n.leading dot\r\nbody\r\n";
    let results = send(
        a,
        &ClientSettings::default(),
        "alice@example.com",
        &recipients,
        message,
    )
    .await?;
    assert!(results.iter().all(|r| r.result.is_ok()), "{results:?}");
    let queued = spool_a.list()?;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].stage, Stage::Received);

    // Bounces are direct sends: a static route for example.com points back at B.
    let routes = MailRoutes::new([MailRoute {
        domain: "example.com".into(),
        host: b.ip().to_string(),
        port: b.port(),
    }]);
    let transport = Transport::new(ClientSettings::default(), routes, StaticResolver::default());
    let queue = Queue::new(
        spool_a.clone(),
        RelayTo(b),
        transport,
        RetryPolicy::default(),
    );
    queue.run_once().await?; // received -> outgoing
    queue.run_once().await?; // deliver: bob ok, nobody bounced
    queue.run_once().await?; // deliver the bounce
    assert!(spool_a.list()?.is_empty(), "{:?}", spool_a.list()?);

    let at_b = spool_b.list()?;
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    let relayed = &at_b[0];
    assert_eq!(relayed.mail_from, "alice@example.com");
    assert_eq!(relayed.recipients.len(), 1);
    assert_eq!(relayed.recipients[0].address, "bob@ext.test");
    let body = String::from_utf8(spool_b.message(&relayed.id)?)?;
    assert!(body.contains("with ESMTPS"), "relayed over TLS: {body}");
    assert!(
        body.contains("\r\n.leading dot\r\n"),
        "dot-stuffing undone: {body}"
    );
    let bounce = &at_b[1];
    assert_eq!(bounce.mail_from, "");
    assert_eq!(bounce.recipients[0].address, "alice@example.com");
    let text = String::from_utf8(spool_b.message(&bounce.id)?)?;
    assert!(text.contains("nobody@ext.test failed"), "{text}");
    assert!(text.contains("550"), "the server's words: {text}");
    assert!(matches!(
        bounce.recipients[0].state,
        RecipientState::Pending
    ));
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_defers_and_keeps_the_message() -> TestResult {
    let dir = tempfile::tempdir()?;
    let spool = Spool::open(dir.path())?;
    let a = proxy("a", spool.clone(), None).await?;
    // A port nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    send(
        a,
        &ClientSettings::default(),
        "alice@example.com",
        &["bob@ext.test".to_string()],
        b"Subject: x\r\n\r\nx\r\n",
    )
    .await?;
    let transport = Transport::new(
        ClientSettings::default(),
        MailRoutes::default(),
        StaticResolver::default(),
    );
    let queue = Queue::new(
        spool.clone(),
        RelayTo(dead),
        transport,
        RetryPolicy::default(),
    );
    queue.run_once().await?;
    queue.run_once().await?;
    let left = spool.list()?;
    assert_eq!(left.len(), 1);
    let r = &left[0].recipients[0];
    assert_eq!(r.state, RecipientState::Pending);
    assert_eq!(r.attempts, 1);
    assert!(
        r.last_error.as_deref().unwrap_or("").contains("connecting"),
        "{r:?}"
    );
    assert!(left[0].next_due().unwrap_or(0) > signet_smtp::spool::now_millis());
    Ok(())
}
