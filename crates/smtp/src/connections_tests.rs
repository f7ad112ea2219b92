//! The connection cache against a scripted server on loopback: reuse, pipelining, a server
//! that closes cached connections, and a server without PIPELINING.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What the test server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    messages: AtomicUsize,
    /// Reads that held more than one command: the client pipelined.
    batched_reads: AtomicUsize,
}

/// A server that accepts everything. `pipelining` says whether EHLO offers it; with
/// `close_after_message` it drops the connection after each message (as a server with a short
/// idle timeout would) without telling the client.
async fn server(
    pipelining: bool,
    close_after_message: bool,
) -> std::io::Result<(SocketAddr, Arc<Seen>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let _ = w.write_all(b"220 test ESMTP\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if !r.buffer().is_empty() {
                        s.batched_reads.fetch_add(1, Ordering::SeqCst);
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" if pipelining => b"250-test\r\n250 PIPELINING\r\n",
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            let _ = w.write_all(b"354 go\r\n").await;
                            loop {
                                line.clear();
                                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                            }
                            s.messages.fetch_add(1, Ordering::SeqCst);
                            let _ = w.write_all(b"250 queued\r\n").await;
                            if close_after_message {
                                return;
                            }
                            continue;
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    Ok((addr, seen))
}

fn settings() -> ClientSettings {
    ClientSettings {
        tls: ServerTls::Disable,
        ..ClientSettings::default()
    }
}

async fn send_three(cache: &ConnectionCache, addr: SocketAddr) -> Result<(), DeliveryError> {
    for i in 0..3 {
        let results = deliver(
            cache,
            addr,
            &settings(),
            "a@example.com",
            &["b@ext.test".to_string()],
            format!("Subject: {i}\r\n\r\nbody\r\n").as_bytes(),
        )
        .await?;
        assert_eq!(results.len(), 1);
        assert!(results[0].result.is_ok(), "{:?}", results[0].result);
    }
    Ok(())
}

#[tokio::test]
async fn consecutive_messages_share_one_pipelined_connection() -> TestResult {
    let (addr, seen) = server(true, false).await?;
    let cache = ConnectionCache::default();
    send_three(&cache, addr).await?;
    assert_eq!(seen.messages.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert!(seen.batched_reads.load(Ordering::SeqCst) > 0);
    assert_eq!(cache.idle_count(), 1);
    Ok(())
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() -> TestResult {
    let (addr, seen) = server(true, true).await?;
    let cache = ConnectionCache::default();
    send_three(&cache, addr).await?;
    assert_eq!(seen.messages.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
    Ok(())
}

#[tokio::test]
async fn without_pipelining_commands_go_one_by_one() -> TestResult {
    let (addr, seen) = server(false, false).await?;
    let cache = ConnectionCache::default();
    send_three(&cache, addr).await?;
    assert_eq!(seen.messages.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.batched_reads.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_time() -> TestResult {
    let (addr, seen) = server(true, false).await?;
    let cache = ConnectionCache::new(CacheLimits {
        idle_time: Duration::from_millis(100),
        ..CacheLimits::default()
    });
    send_three(&cache, addr).await?;
    assert_eq!(cache.idle_count(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.idle_count(), 0);
    send_three(&cache, addr).await?;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    Ok(())
}
