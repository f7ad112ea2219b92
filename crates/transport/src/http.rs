//! HTTPS serving and an HTTP/2 client, on hyper and tokio-rustls.
//!
//! One [`H2Client`] keeps one HTTP/2 connection to one peer and multiplexes every request over
//! it; a failed connection is dropped and made anew on the next request. That keeps Raft
//! replication, forwarded writes and CLI calls each to a single TLS session per peer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::TransportError;
use crate::tls::PeerIdentity;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may run on after the server is told to stop.
const GRACE: Duration = Duration::from_secs(5);

/// Serves `handler` over TLS on `listener` until `shutdown` resolves. Each request carries the
/// identity of the peer that sent it. Connections still open at shutdown are closed, so nothing
/// the handler holds outlives the server.
pub async fn serve_tls<H, Fut, B>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, PeerIdentity) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let acceptor = TlsAcceptor::from(tls);
    // Dropping the sender tells every connection task to stop; the set lets the server wait for
    // them, so requests in flight are answered before the caller goes on (and, say, execs).
    let (stop_connections, stopped) = tokio::sync::watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut shutdown => {
                drop(stop_connections);
                let drain = async { while connections.join_next().await.is_some() {} };
                let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), drain).await;
                return;
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let mut stopped = stopped.clone();
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let node_id = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| crate::pki::node_id_from_cert_der(cert.as_ref()));
            let peer = PeerIdentity {
                node_id,
                remote_addr: Some(remote),
            };
            let service = hyper::service::service_fn(move |req| {
                let fut = handler(req, peer.clone());
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stopped.changed() => {
                    // Let requests in flight finish (a join's answer is sent while the node is
                    // already stopping), then close.
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(GRACE, conn.as_mut()).await {
                        Ok(result) => result,
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Binds a TCP listener with a clear error naming the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, TransportError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| TransportError::Connect {
            addr: addr.to_string(),
            source,
        })
}

/// An HTTP/2 client for one peer.
pub struct H2Client {
    addr: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

/// A response: status and whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl H2Client {
    /// `addr` is `host:port`; `server_name` is the name the server's certificate must carry (it
    /// is ignored by pinned configurations).
    pub fn new(
        addr: impl Into<String>,
        server_name: &str,
        tls: Arc<ClientConfig>,
    ) -> Result<Self, TransportError> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| TransportError::Request(format!("server name {server_name:?}: {e}")))?;
        Ok(H2Client {
            addr: addr.into(),
            server_name,
            connector: TlsConnector::from(tls),
            conn: Mutex::new(None),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let addr = self.addr.clone();
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|source| TransportError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|source| TransportError::Handshake {
                addr: addr.clone(),
                source,
            })?;
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .adaptive_window(true)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|source| TransportError::Http {
                addr: addr.clone(),
                source,
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "HTTP/2 connection closed");
            }
        });
        Ok(sender)
    }

    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let mut slot = self.conn.lock().await;
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let sender = self.connect().await?;
        *slot = Some(sender.clone());
        Ok(sender)
    }

    /// Sends one request and reads the whole answer, all within `timeout`.
    pub async fn request(
        &self,
        method: hyper::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let exchange = async {
            let mut sender = self.sender().await?;
            let mut req = Request::builder()
                .method(method)
                .uri(format!("https://{}{}", self.addr, path_and_query));
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let req = req
                .body(Full::new(body))
                .map_err(|e| TransportError::Request(e.to_string()))?;
            let http_err = |source| TransportError::Http {
                addr: self.addr.clone(),
                source,
            };
            sender.ready().await.map_err(http_err)?;
            let resp = sender.send_request(req).await.map_err(http_err)?;
            let status = resp.status();
            let content_type = resp
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(http_err)?
                .to_bytes();
            Ok(Reply {
                status,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                // The connection may be broken; make a new one next time.
                *self.conn.lock().await = None;
                Err(e)
            }
            Err(_) => Err(TransportError::Timeout {
                addr: self.addr.clone(),
                secs: timeout.as_secs_f64(),
            }),
        }
    }
}
