//! The SMTP client delivery uses: one message to some recipients at one server, with the
//! server-side TLS mode (guide: Attempt, Disable, Require, SSL) and a per-recipient result.
//!
//! Certificates are not verified: on the open Internet SMTP TLS is opportunistic (RFC 7435),
//! and "Require" means the session must be encrypted, which it is. Verified MTA-STS / DANE
//! is a later step.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::DeliveryError;

/// Server-side TLS mode of a proxy: how Signet talks to the next server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            hostname: "localhost".into(),
            tls: ServerTls::Attempt,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
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

/// Sends `message` to `recipients` through the server at `addr`. An error for the whole
/// session (cannot connect, refused greeting, MAIL refused) is returned as `Err` and applies
/// to every recipient.
pub async fn send(
    addr: SocketAddr,
    settings: &ClientSettings,
    mail_from: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<Vec<RecipientResult>, DeliveryError> {
    let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| DeliveryError::Temporary(format!("connecting to {addr}: timed out")))?
        .map_err(|e| DeliveryError::Temporary(format!("connecting to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    if settings.tls == ServerTls::Ssl {
        let tls = tls_connect(stream, addr).await?;
        let mut c = Client::new(tls, settings);
        c.expect_greeting().await?;
        let _ = c.ehlo().await?;
        return c.transaction(mail_from, recipients, message).await;
    }
    let mut c = Client::new(stream, settings);
    c.expect_greeting().await?;
    let caps = c.ehlo().await?;
    let offers_tls = caps.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS"));
    match settings.tls {
        ServerTls::Attempt | ServerTls::Require if offers_tls => {
            c.command("STARTTLS", 220).await?;
            let stream = c.into_inner();
            let tls = tls_connect(stream, addr).await?;
            let mut c = Client::new(tls, settings);
            let _ = c.ehlo().await?;
            c.transaction(mail_from, recipients, message).await
        }
        ServerTls::Require => Err(DeliveryError::Temporary(format!(
            "{addr} does not offer STARTTLS and TLS is required"
        ))),
        _ => c.transaction(mail_from, recipients, message).await,
    }
}

async fn tls_connect(
    stream: TcpStream,
    addr: SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, DeliveryError> {
    let config = signet_transport::tls::opportunistic_client_config()
        .map_err(|e| DeliveryError::Temporary(format!("TLS with {addr}: {e}")))?;
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| DeliveryError::Temporary(format!("TLS with {addr}: {e}")))
}

/// A reply: its code and text lines.
struct ServerReply {
    code: u16,
    lines: Vec<String>,
}

impl ServerReply {
    fn text(&self) -> String {
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

struct Client<S> {
    io: BufReader<S>,
    timeout: Duration,
    hostname: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S, settings: &ClientSettings) -> Self {
        Client {
            io: BufReader::new(stream),
            timeout: settings.command_timeout,
            hostname: settings.hostname.clone(),
        }
    }

    fn into_inner(self) -> S {
        self.io.into_inner()
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
            return Ok(Vec::new());
        }
        Ok(r.lines.into_iter().skip(1).collect())
    }

    async fn command(&mut self, cmd: &str, want: u16) -> Result<ServerReply, DeliveryError> {
        self.write(format!("{cmd}\r\n").as_bytes()).await?;
        let r = self.read_reply().await?;
        if r.code != want {
            return Err(r.failure(cmd));
        }
        Ok(r)
    }

    async fn transaction(
        &mut self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<RecipientResult>, DeliveryError> {
        let eight_bit = message.iter().any(|b| *b >= 0x80);
        let body = if eight_bit { " BODY=8BITMIME" } else { "" };
        self.command(&format!("MAIL FROM:<{mail_from}>{body}"), 250)
            .await?;
        let mut results = Vec::with_capacity(recipients.len());
        let mut accepted = Vec::new();
        for rcpt in recipients {
            self.write(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
                .await?;
            let r = self.read_reply().await?;
            if r.code == 250 || r.code == 251 {
                accepted.push(rcpt.clone());
            } else {
                results.push(RecipientResult {
                    address: rcpt.clone(),
                    result: Err(r.failure(&format!("RCPT TO:<{rcpt}>"))),
                });
            }
        }
        if accepted.is_empty() {
            let _ = self.command("RSET", 250).await;
            let _ = self.write(b"QUIT\r\n").await;
            return Ok(results);
        }
        self.command("DATA", 354).await?;
        let mut data = dot_stuff(message);
        data.extend_from_slice(b".\r\n");
        self.write(&data).await?;
        let r = self.read_reply().await?;
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
        let _ = self.write(b"QUIT\r\n").await;
        Ok(results)
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
