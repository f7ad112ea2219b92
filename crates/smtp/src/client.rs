//! The SMTP client delivery uses: messages to some recipients at one server, with the
//! server-side TLS mode (guide: Attempt, Disable, Require, SSL) and a per-recipient result.
//!
//! A [`Session`] is one open connection after greeting, EHLO and STARTTLS. It can carry many
//! transactions: [`crate::connections::ConnectionCache`] keeps it after a delivery for the next
//! message to the same server (as Postfix's connection cache does), so a busy destination
//! does not pay a TCP (and TLS) handshake, greeting and EHLO per message. When the server
//! offers PIPELINING (RFC 2920), a transaction's MAIL, RCPT and DATA leave in one write.
//!
//! With [`ClientSettings::credentials`] the client authenticates with AUTH PLAIN (RFC 4954,
//! 4616) after EHLO, and only over TLS: a session that is not encrypted never carries the
//! passphrase, whatever the TLS mode says (the guide: "Username and Passphrase used if you
//! chose a secure SMTP connection").
//!
//! Certificates are not verified: on the open Internet SMTP TLS is opportunistic (RFC 7435),
//! and "Require" means the session must be encrypted, which it is. Verified MTA-STS / DANE
//! is a later step.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::auth::Credentials;
use crate::error::DeliveryError;

/// Server-side TLS mode of a proxy: how Signet talks to the next server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerTls {
    /// STARTTLS when the server offers it, clear otherwise (the guide's default).
    Attempt,
    Disable,
    /// STARTTLS or nothing: a server that does not offer it is a temporary failure.
    Require,
    /// Implicit TLS from the first byte.
    Ssl,
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The name Signet gives in EHLO.
    pub hostname: String,
    pub tls: ServerTls,
    pub connect_timeout: Duration,
    /// Per command (RFC 5321 §4.5.3.2 gives 5 to 10 minutes; a gateway can be stricter).
    pub command_timeout: Duration,
    /// AUTH PLAIN with these after EHLO (e.g. an archive server). Sent only over TLS.
    pub credentials: Option<Credentials>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            hostname: "localhost".into(),
            tls: ServerTls::Attempt,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
            credentials: None,
        }
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone)]
pub struct RecipientResult {
    pub address: String,
    /// `Ok(reply)` delivered; `Err` temporary or permanent failure with the server's words.
    pub result: Result<String, DeliveryError>,
}

/// Sends `message` to `recipients` through the server at `addr` on a connection of its own,
/// closed afterwards. An error for the whole session (cannot connect, refused greeting, MAIL
/// refused) is returned as `Err` and applies to every recipient.
pub async fn send(
    addr: SocketAddr,
    settings: &ClientSettings,
    mail_from: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<Vec<RecipientResult>, DeliveryError> {
    let mut session = Session::open(addr, settings).await?;
    let done = session
        .transaction(mail_from, recipients, message, false)
        .await
        .map_err(TransactionError::into_inner)?;
    session.quit().await;
    Ok(done.results)
}

/// The plain socket or the TLS session on it: what a [`Session`] reads and writes.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One TLS client configuration for the whole process: besides not rebuilding it per
/// connection, its session cache lets the next connection to a server resume the TLS session
/// instead of a full handshake.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, DeliveryError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let config = signet_transport::tls::opportunistic_client_config()
        .map_err(|e| DeliveryError::Temporary(format!("TLS client configuration: {e}")))?;
    Ok(CONFIG.get_or_init(|| config).clone())
}

async fn tls_connect(
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<TlsStream<TcpStream>, DeliveryError> {
    let config = tls_config()?;
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| DeliveryError::Temporary(format!("TLS with {addr}: {e}")))
}

/// A reply: its code and text lines.
pub(crate) struct ServerReply {
    pub(crate) code: u16,
    lines: Vec<String>,
}

impl ServerReply {
    pub(crate) fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }

    fn failure(&self, context: &str) -> DeliveryError {
        let text = format!("{context}: {}", self.text());
        if self.code >= 500 {
            DeliveryError::Permanent(text)
        } else {
            DeliveryError::Temporary(text)
        }
    }
}

/// A transaction that did not complete. `Stale`: a cached connection turned out closed or
/// unwilling before anything of this message was sent, so another connection may carry it.
#[derive(Debug)]
pub(crate) enum TransactionError {
    Stale(DeliveryError),
    Failed(DeliveryError),
}

impl TransactionError {
    pub(crate) fn into_inner(self) -> DeliveryError {
        match self {
            TransactionError::Stale(e) | TransactionError::Failed(e) => e,
        }
    }
}

/// A finished transaction: per-recipient results, and whether the connection is fit to carry
/// another one.
pub(crate) struct Transaction {
    pub results: Vec<RecipientResult>,
    pub reusable: bool,
}

/// One open connection to a server, greeted and past EHLO (and STARTTLS when it applies).
pub(crate) struct Session {
    io: BufReader<Stream>,
    timeout: Duration,
    hostname: String,
    /// The server offers PIPELINING (RFC 2920).
    pipelining: bool,
    /// When the connection was opened: a cached one is not used forever.
    pub(crate) opened: Instant,
}

impl Session {
    /// Connects, reads the greeting, says EHLO, upgrades with STARTTLS as `settings` say and
    /// authenticates when they carry credentials.
    pub(crate) async fn open(
        addr: SocketAddr,
        settings: &ClientSettings,
    ) -> Result<Session, DeliveryError> {
        let mut s = Self::open_unauthenticated(addr, settings).await?;
        if let Some(credentials) = &settings.credentials {
            if !s.is_tls() {
                return Err(DeliveryError::Temporary(format!(
                    "{addr}: the session is not encrypted, so the credentials for {} are not sent",
                    credentials.user()
                )));
            }
            let r = s.auth_plain(credentials).await?;
            if r.code != 235 {
                // Temporary even for 535: a wrong passphrase in the settings is the
                // administrator's to fix, and the mail should wait for that, not bounce.
                return Err(DeliveryError::Temporary(format!(
                    "{addr} refused AUTH for {}: {}",
                    credentials.user(),
                    r.text()
                )));
            }
        }
        Ok(s)
    }

    /// [`Session::open`] without AUTH.
    pub(crate) async fn open_unauthenticated(
        addr: SocketAddr,
        settings: &ClientSettings,
    ) -> Result<Session, DeliveryError> {
        let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| DeliveryError::Temporary(format!("connecting to {addr}: timed out")))?
            .map_err(|e| DeliveryError::Temporary(format!("connecting to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let opened = Instant::now();
        if settings.tls == ServerTls::Ssl {
            let tls = tls_connect(stream, addr).await?;
            let mut s = Session::new(Stream::Tls(Box::new(tls)), settings, opened);
            s.expect_greeting().await?;
            s.ehlo().await?;
            return Ok(s);
        }
        let mut s = Session::new(Stream::Plain(stream), settings, opened);
        s.expect_greeting().await?;
        let caps = s.ehlo().await?;
        let offers_tls = caps.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS"));
        match settings.tls {
            ServerTls::Attempt | ServerTls::Require if offers_tls => {
                s.command("STARTTLS", 220).await?;
                let Stream::Plain(stream) = s.io.into_inner() else {
                    return Err(DeliveryError::Temporary("STARTTLS on a TLS session".into()));
                };
                let tls = tls_connect(stream, addr).await?;
                let mut s = Session::new(Stream::Tls(Box::new(tls)), settings, opened);
                s.ehlo().await?;
                Ok(s)
            }
            ServerTls::Require => Err(DeliveryError::Temporary(format!(
                "{addr} does not offer STARTTLS and TLS is required"
            ))),
            _ => Ok(s),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.io.get_ref(), Stream::Tls(_))
    }

    /// `AUTH PLAIN` with an initial response; the server's reply, whatever it is. The command
    /// holds the passphrase, so no error message repeats it.
    pub(crate) async fn auth_plain(
        &mut self,
        credentials: &Credentials,
    ) -> Result<ServerReply, DeliveryError> {
        let cmd = format!("AUTH PLAIN {}\r\n", credentials.plain_response());
        self.write(cmd.as_bytes()).await?;
        self.read_reply().await
    }

    fn new(stream: Stream, settings: &ClientSettings, opened: Instant) -> Self {
        Session {
            io: BufReader::new(stream),
            timeout: settings.command_timeout,
            hostname: settings.hostname.clone(),
            pipelining: false,
            opened,
        }
    }

    async fn read_reply(&mut self) -> Result<ServerReply, DeliveryError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(self.timeout, self.io.read_line(&mut line))
                .await
                .map_err(|_| DeliveryError::Temporary("the server did not answer in time".into()))?
                .map_err(|e| DeliveryError::Temporary(format!("reading a reply: {e}")))?;
            if n == 0 {
                return Err(DeliveryError::Temporary(
                    "the server closed the connection".into(),
                ));
            }
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    DeliveryError::Temporary(format!("not an SMTP reply: {line:.80}"))
                })?;
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') || lines.len() > 100 {
                return Ok(ServerReply { code, lines });
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), DeliveryError> {
        let io = self.io.get_mut();
        tokio::time::timeout(self.timeout, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        .map_err(|_| DeliveryError::Temporary("writing to the server timed out".into()))?
        .map_err(|e| DeliveryError::Temporary(format!("writing to the server: {e}")))
    }

    async fn expect_greeting(&mut self) -> Result<(), DeliveryError> {
        let r = self.read_reply().await?;
        if r.code != 220 {
            return Err(r.failure("greeting"));
        }
        Ok(())
    }

    /// EHLO; the extension lines (keywords in upper case as sent).
    async fn ehlo(&mut self) -> Result<Vec<String>, DeliveryError> {
        let cmd = format!("EHLO {}\r\n", self.hostname);
        self.write(cmd.as_bytes()).await?;
        let r = self.read_reply().await?;
        if r.code != 250 {
            // RFC 5321 §3.2: fall back to HELO.
            let cmd = format!("HELO {}\r\n", self.hostname);
            self.write(cmd.as_bytes()).await?;
            let r = self.read_reply().await?;
            if r.code != 250 {
                return Err(r.failure("HELO"));
            }
            self.pipelining = false;
            return Ok(Vec::new());
        }
        let caps: Vec<String> = r.lines.into_iter().skip(1).collect();
        self.pipelining = caps.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
        });
        Ok(caps)
    }

    async fn command(&mut self, cmd: &str, want: u16) -> Result<ServerReply, DeliveryError> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        let r = self.read_reply().await?;
        if r.code != want {
            return Err(r.failure(cmd));
        }
        Ok(r)
    }

    /// QUIT, without waiting long for the answer: the transaction is already done.
    pub(crate) async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if self.write(b"QUIT\r\n").await.is_ok() {
                let _ = self.read_reply().await;
            }
        })
        .await;
    }

    /// One message. With `reset` (a cached connection), RSET goes first and doubles as the
    /// check that the server still listens: if it fails, nothing of this message was sent
    /// and the error is [`TransactionError::Stale`].
    pub(crate) async fn transaction(
        &mut self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
        reset: bool,
    ) -> Result<Transaction, TransactionError> {
        use TransactionError::{Failed, Stale};
        let eight_bit = message.iter().any(|b| *b >= 0x80);
        let body = if eight_bit { " BODY=8BITMIME" } else { "" };
        let mail = format!("MAIL FROM:<{mail_from}>{body}");
        // Replies to MAIL, each RCPT and DATA, in the order the commands went.
        let (mail_reply, rcpt_replies, data_reply) = if self.pipelining {
            let mut batch = String::with_capacity(64 + 40 * recipients.len());
            if reset {
                batch.push_str("RSET\r\n");
            }
            batch.push_str(&mail);
            batch.push_str("\r\n");
            for rcpt in recipients {
                batch.push_str(&format!("RCPT TO:<{rcpt}>\r\n"));
            }
            batch.push_str("DATA\r\n");
            if reset {
                self.write(batch.as_bytes()).await.map_err(Stale)?;
                let r = self.read_reply().await.map_err(Stale)?;
                if r.code != 250 {
                    return Err(Stale(r.failure("RSET")));
                }
            } else {
                self.write(batch.as_bytes()).await.map_err(Failed)?;
            }
            let mail_reply = self.read_reply().await.map_err(Failed)?;
            let mut rcpt_replies = Vec::with_capacity(recipients.len());
            for _ in recipients {
                rcpt_replies.push(self.read_reply().await.map_err(Failed)?);
            }
            let data_reply = self.read_reply().await.map_err(Failed)?;
            (mail_reply, rcpt_replies, Some(data_reply))
        } else {
            if reset {
                self.command("RSET", 250).await.map_err(Stale)?;
            }
            self.write(format!("{mail}\r\n").as_bytes())
                .await
                .map_err(Failed)?;
            let mail_reply = self.read_reply().await.map_err(Failed)?;
            let mut rcpt_replies = Vec::with_capacity(recipients.len());
            if mail_reply.code == 250 {
                for rcpt in recipients {
                    self.write(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
                        .await
                        .map_err(Failed)?;
                    rcpt_replies.push(self.read_reply().await.map_err(Failed)?);
                }
            }
            (mail_reply, rcpt_replies, None)
        };
        if mail_reply.code != 250 {
            return Err(Failed(mail_reply.failure(&mail)));
        }
        let mut results = Vec::with_capacity(recipients.len());
        let mut accepted = Vec::new();
        for (rcpt, r) in recipients.iter().zip(&rcpt_replies) {
            if r.code == 250 || r.code == 251 {
                accepted.push(rcpt.clone());
            } else {
                results.push(RecipientResult {
                    address: rcpt.clone(),
                    result: Err(r.failure(&format!("RCPT TO:<{rcpt}>"))),
                });
            }
        }
        let data_reply = match data_reply {
            Some(r) => r,
            None if accepted.is_empty() => {
                return Ok(Transaction {
                    results,
                    reusable: self.command("RSET", 250).await.is_ok(),
                });
            }
            None => self.command("DATA", 354).await.map_err(Failed)?,
        };
        if accepted.is_empty() {
            // RFC 2920 §3.1: a DATA the server took anyway gets an empty message, ended at once.
            if data_reply.code == 354 {
                self.write(b".\r\n").await.map_err(Failed)?;
                let _ = self.read_reply().await.map_err(Failed)?;
            }
            return Ok(Transaction {
                results,
                reusable: data_reply.code != 421,
            });
        }
        if data_reply.code != 354 {
            return Err(Failed(data_reply.failure("DATA")));
        }
        let mut data = dot_stuff(message);
        data.extend_from_slice(b".\r\n");
        self.write(&data).await.map_err(Failed)?;
        let r = self.read_reply().await.map_err(Failed)?;
        let outcome = if r.code == 250 {
            Ok(r.text())
        } else {
            Err(r.failure("end of data"))
        };
        for rcpt in accepted {
            results.push(RecipientResult {
                address: rcpt,
                result: outcome.clone(),
            });
        }
        // After the final reply the server has reset the transaction (RFC 5321 §4.1.1.4);
        // 421 means it is closing the connection.
        Ok(Transaction {
            results,
            reusable: r.code != 421,
        })
    }
}

/// Lines that begin with "." get another one (RFC 5321 §4.5.2); bare LF becomes CRLF, and the
/// message ends with CRLF.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(dot_stuff(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n".to_vec());
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n".to_vec());
        assert_eq!(dot_stuff(b"x\r\n"), b"x\r\n".to_vec());
    }
}
