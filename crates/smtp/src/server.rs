//! The listener of one proxy: accepts connections, applies the IP lists and the rate limit,
//! runs the [`Session`] over the socket (plain, STARTTLS or implicit TLS), checks AUTH
//! credentials with the proxy's verifier, reads the message, and answers 250 only after the
//! [`Spool`] holds it durably.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::access::{AccessLists, RateLimit};
use crate::auth::{AuthFailure, Credentials};
use crate::reply::{Reply, rfc5322_date};
use crate::routes::NextHop;
use crate::session::{CommandLines, DataPhase, Gate, Next, Session, SessionConfig, Transaction};
use crate::spool::{Direction, Envelope, Recipient, Spool, Stage, now_millis};

/// Client-side TLS mode of a proxy (guide: Allow, Disable, Require, SSL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientTls {
    /// STARTTLS offered, not required.
    Allow,
    Disable,
    /// STARTTLS offered and required before MAIL.
    Require,
    /// Implicit TLS from the first byte (port 465 style).
    Ssl,
}

/// What the mail path tells a proxy about each connection and recipient.
pub trait Hooks: Send + Sync + 'static {
    /// Inbound or outbound, from the client's address (the Unified proxy's designated source
    /// IPs; a fixed answer for the Inbound and Outbound proxies).
    fn direction(&self, client: IpAddr) -> Direction;
    /// Whether a recipient is accepted in this direction (e.g. an Inbound proxy refuses
    /// domains it does not manage: no open relay).
    fn check_recipient(&self, direction: Direction, address: &str) -> Result<(), Reply>;
    /// A message is safely in the spool: wake whoever processes it.
    fn accepted(&self, envelope: &Envelope);
}

/// One proxy's listener settings.
pub struct ProxySettings {
    /// The proxy's name for logs ("Outbound", "Inbound", "Unified").
    pub name: String,
    pub session: SessionConfig,
    pub client_tls: ClientTls,
    /// Needed for Allow, Require and SSL.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub access: AccessLists,
    pub connections_per_second: u32,
    /// A silent client is dropped after this long (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub idle_timeout: Duration,
}

struct Shared<H> {
    settings: ProxySettings,
    spool: Spool,
    hooks: H,
    rate: RateLimit,
    connections: Arc<AtomicU64>,
}

/// Serves one proxy until `shutdown` resolves. Connection ids are shared by all proxies of a
/// node through `connections` so that log lines ("conn 12") are unique.
pub async fn serve<H: Hooks>(
    listener: TcpListener,
    settings: ProxySettings,
    spool: Spool,
    hooks: H,
    connections: Arc<AtomicU64>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let rate = RateLimit::new(settings.connections_per_second);
    let shared = Arc::new(Shared {
        settings,
        spool,
        hooks,
        rate,
        connections,
    });
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let id = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
            if let Err(e) = connection(&shared, stream, peer, id).await {
                tracing::info!(conn = id, peer = %peer, error = %e, "connection ended");
            }
        });
    }
}

async fn connection<H: Hooks>(
    shared: &Shared<H>,
    mut stream: TcpStream,
    peer: SocketAddr,
    id: u64,
) -> std::io::Result<()> {
    let s = &shared.settings;
    let _ = stream.set_nodelay(true);
    if !s.access.permits(peer.ip()) {
        tracing::info!(conn = id, peer = %peer, proxy = %s.name, "connection refused by the IP block/allow list");
        let r = Reply::new(554, (5, 7, 1), "Access denied");
        return stream.write_all(r.to_wire().as_bytes()).await;
    }
    if !shared.rate.admit() {
        tracing::warn!(conn = id, peer = %peer, proxy = %s.name, "connection refused: rate limit reached");
        let r = Reply::new(421, (4, 7, 0), "Too many connections; try again later");
        return stream.write_all(r.to_wire().as_bytes()).await;
    }
    let direction = shared.hooks.direction(peer.ip());
    tracing::info!(conn = id, peer = %peer, proxy = %s.name, ?direction, "connection");
    let tls_ready = s.tls.clone().filter(|_| s.client_tls != ClientTls::Disable);
    let mut config = s.session.clone();
    config.offer_starttls = tls_ready.is_some() && s.client_tls != ClientTls::Ssl;
    config.require_tls = s.client_tls == ClientTls::Require;
    let conn = Conn {
        shared,
        id,
        peer,
        direction,
    };
    if s.client_tls == ClientTls::Ssl {
        let Some(tls) = tls_ready else {
            return Err(std::io::Error::other("SSL mode without a TLS certificate"));
        };
        let mut tls_stream = TlsAcceptor::from(tls).accept(stream).await?;
        let mut session = Session::new(config, true);
        return conn
            .drive(&mut tls_stream, &mut session, true)
            .await
            .map(|_| ());
    }
    let mut session = Session::new(config, false);
    if conn.drive(&mut stream, &mut session, true).await? == Ended::StartTls {
        let Some(tls) = tls_ready else {
            return Ok(());
        };
        let mut tls_stream = TlsAcceptor::from(tls).accept(stream).await?;
        session.tls_started();
        conn.drive(&mut tls_stream, &mut session, false).await?;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Closed,
    StartTls,
}

struct Conn<'a, H> {
    shared: &'a Shared<H>,
    id: u64,
    peer: SocketAddr,
    direction: Direction,
}

struct DirectionGate<'a, H> {
    hooks: &'a H,
    direction: Direction,
}

impl<H: Hooks> Gate for DirectionGate<'_, H> {
    fn recipient(&self, address: &str) -> Result<(), Reply> {
        self.hooks.check_recipient(self.direction, address)
    }
}

impl<H: Hooks> Conn<'_, H> {
    /// Runs the session over `io` until QUIT, an error, EOF, or STARTTLS (then the caller
    /// upgrades the socket; bytes pipelined after STARTTLS are dropped, RFC 3207 §5).
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        session: &mut Session,
        greet: bool,
    ) -> std::io::Result<Ended> {
        let settings = &self.shared.settings;
        let gate = DirectionGate {
            hooks: &self.shared.hooks,
            direction: self.direction,
        };
        if greet {
            io.write_all(session.greeting().to_wire().as_bytes())
                .await?;
        }
        let mut lines = CommandLines::default();
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = String::new();
        let mut data: Option<DataPhase> = None;
        loop {
            let n = match tokio::time::timeout(settings.idle_timeout, io.read(&mut buf)).await {
                Ok(r) => r?,
                Err(_) => {
                    let r = Reply::new(421, (4, 4, 2), "Idle timeout; closing the connection");
                    io.write_all(r.to_wire().as_bytes()).await?;
                    return Ok(Ended::Closed);
                }
            };
            if n == 0 {
                return Ok(Ended::Closed);
            }
            let mut bytes = buf[..n].iter();
            while bytes.len() > 0 {
                if let Some(phase) = data.as_mut() {
                    if !phase.ingest(&mut bytes, session.max_message_size()) {
                        break;
                    }
                    let Some(phase) = data.take() else { break };
                    let reply = self.finish_data(session, phase).await;
                    out.push_str(&reply.to_wire());
                    continue;
                }
                let next = if session.awaits_auth_response() {
                    let Some(line) = lines.next_raw(&mut bytes) else {
                        break;
                    };
                    session.auth_response(line)
                } else {
                    let Some(parsed) = lines.next(&mut bytes) else {
                        break;
                    };
                    session.handle(parsed, &gate)
                };
                let next = match next {
                    Next::Verify(credentials) => self.verify(session, &credentials).await,
                    other => other,
                };
                match next {
                    Next::Reply(r) => out.push_str(&r.to_wire()),
                    Next::ReadData(r) => {
                        out.push_str(&r.to_wire());
                        data = Some(DataPhase::new());
                    }
                    Next::StartTls(r) => {
                        out.push_str(&r.to_wire());
                        io.write_all(out.as_bytes()).await?;
                        io.flush().await?;
                        return Ok(Ended::StartTls);
                    }
                    Next::Close(r) => {
                        out.push_str(&r.to_wire());
                        io.write_all(out.as_bytes()).await?;
                        io.flush().await?;
                        return Ok(Ended::Closed);
                    }
                    // `verify` never answers Verify; should it, the session cannot go on.
                    Next::Verify(_) => return Ok(Ended::Closed),
                }
            }
            // PIPELINING: replies to everything the client sent in one go leave together.
            if !out.is_empty() {
                io.write_all(out.as_bytes()).await?;
                io.flush().await?;
                out.clear();
            }
        }
    }

    /// Asks the proxy's verifier about credentials from AUTH. The passphrase is never
    /// logged; the user name is, as the audit trail of who sent through this proxy.
    async fn verify(&self, session: &mut Session, credentials: &Credentials) -> Next {
        let result = match &self.shared.settings.session.auth {
            Some(auth) => auth.verifier.verify(credentials).await,
            None => Err(AuthFailure::Unavailable("AUTH is not configured".into())),
        };
        let user = credentials.user();
        match &result {
            Ok(()) => tracing::info!(conn = self.id, peer = %self.peer, "authenticated as {user}"),
            Err(AuthFailure::Invalid) => {
                tracing::info!(conn = self.id, peer = %self.peer, "authentication failed for {user}: credentials invalid")
            }
            Err(AuthFailure::Unavailable(why)) => {
                tracing::warn!(conn = self.id, peer = %self.peer, reason = %why, "authentication for {user} could not be checked")
            }
        }
        session.verified(credentials, result)
    }

    /// The message is complete: spool it durably, then (and only then) say 250.
    async fn finish_data(&self, session: &mut Session, phase: DataPhase) -> Reply {
        let txn = session.take_transaction();
        let max = session.max_message_size();
        let Some(message) = phase.into_message() else {
            tracing::info!(conn = self.id, from = %txn.mail_from, "message refused: larger than {max} bytes");
            return Reply::new(
                552,
                (5, 3, 4),
                format!("Message size exceeds the limit of {max} bytes"),
            );
        };
        let id = Spool::new_id();
        let received_at = now_millis();
        let mut bytes = self
            .received_header(session, &txn, &id, received_at)
            .into_bytes();
        bytes.extend_from_slice(&message);
        let envelope = Envelope {
            id: id.clone(),
            stage: Stage::Received,
            direction: self.direction,
            mail_from: txn.mail_from.clone(),
            recipients: txn.recipients.iter().map(Recipient::pending).collect(),
            received_at,
            connection: self.id,
            client_ip: self.peer.ip().to_string(),
            parent: None,
            is_bounce: false,
            size: bytes.len() as u64,
            next_hop: NextHop::Direct,
        };
        let spool = self.shared.spool.clone();
        let to_store = envelope.clone();
        let stored = tokio::task::spawn_blocking(move || spool.accept(&to_store, &bytes)).await;
        match stored {
            Ok(Ok(())) => {
                tracing::info!(
                    conn = self.id,
                    queue_id = %id,
                    from = %txn.mail_from,
                    rcpts = txn.recipients.len(),
                    size = envelope.size,
                    "message accepted"
                );
                self.shared.hooks.accepted(&envelope);
                Reply::new(250, (2, 0, 0), format!("Queued as {id}"))
            }
            Ok(Err(e)) => {
                tracing::error!(conn = self.id, error = %e, "cannot spool a message; answering 451");
                Reply::new(451, (4, 3, 0), "Local error in processing; try again later")
            }
            Err(e) => {
                tracing::error!(conn = self.id, error = %e, "spool task failed; answering 451");
                Reply::new(451, (4, 3, 0), "Local error in processing; try again later")
            }
        }
    }

    fn received_header(&self, session: &Session, txn: &Transaction, id: &str, at: u64) -> String {
        // RFC 3848: ESMTPA / ESMTPSA when the client authenticated.
        let with = match (
            session.uses_esmtp(),
            session.is_tls(),
            txn.authenticated.is_some(),
        ) {
            (true, true, true) => "ESMTPSA",
            (true, false, true) => "ESMTPA",
            (true, true, false) => "ESMTPS",
            (true, false, false) => "ESMTP",
            (false, _, _) => "SMTP",
        };
        let helo: String = txn
            .helo
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (Signet) with {with} id {id};\r\n\t{}\r\n",
            self.peer.ip(),
            self.shared.settings.session.hostname,
            rfc5322_date(at)
        )
    }
}
