//! Runs the member's mail side from its effective mail settings (the configuration file's
//! `[mail]` with the API's values over it) and follows them: when an administrator changes
//! them, the proxies stop and start again with the new values, without a restart of signetd.
//!
//! One "generation" is a queue runner, its route follower and one listener per local
//! connector. The spool is opened once and outlives generations, so every acknowledged message
//! survives a change. A member with no proxy runs no queue; it starts one when it gets a proxy.
//! A connector that cannot listen (port in use) is logged and shown as that proxy's state; the
//! others keep running. The API's queue view and the Verified Directory's outbox are handles
//! that forward to whatever queue runs now.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use signet_mailpath::{MailService, MailSettings};
use signet_model::mail_settings::NodeMail;
use signet_smtp::access::AccessLists;
use signet_smtp::client::ClientSettings;
use signet_smtp::delivery::{RetryPolicy, Transport};
use signet_smtp::queue::Queue;
use signet_smtp::routes::{DnsResolver, MailRoutes};
use signet_smtp::server::ProxySettings;
use signet_smtp::session::SessionConfig;
use signet_smtp::spool::Spool;
use signet_store::Node;
use signet_web::api_queue::{MailQueue, QueueError, SharedQueue};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::mail::{MailConfig, ProxyHooks, QueueView};
use crate::vd::{Outbox, OutboxHandle};

type MailQueueRunner = Queue<MailService, DnsResolver>;

/// The running mail side of a member.
pub struct Running {
    /// The supervisor; it ends when `stop` turns true, after stopping what it started.
    pub tasks: Vec<JoinHandle<()>>,
    /// The queue as the API sees it (whatever queue runs now).
    pub queue: SharedQueue,
    /// The queue for mail the server writes (Verified Directory mail).
    pub outbox: OutboxHandle,
}

/// The API's view of whichever queue runs now.
#[derive(Clone, Default)]
struct ForwardingQueue(Arc<RwLock<Option<Arc<MailQueueRunner>>>>);

impl ForwardingQueue {
    fn set(&self, queue: Option<Arc<MailQueueRunner>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = queue;
    }

    fn current(&self) -> Result<QueueView, QueueError> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(QueueView)
            .ok_or(QueueError::NoQueue)
    }
}

impl MailQueue for ForwardingQueue {
    fn list(&self) -> Result<Vec<serde_json::Value>, QueueError> {
        self.current()?.list()
    }
    fn delete(&self, id: &str) -> Result<(), QueueError> {
        self.current()?.delete(id)
    }
    fn retry(&self, id: &str) -> Result<(), QueueError> {
        self.current()?.retry(id)
    }
}

/// What does not change between generations.
struct Context_ {
    node: Arc<Node>,
    config: MailConfig,
    spool_dir: std::path::PathBuf,
    spool: Option<Spool>,
    tls: Option<Arc<rustls::ServerConfig>>,
    connections: Arc<AtomicU64>,
}

/// One set of running proxies and their queue.
struct Generation {
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    queue_tasks: Vec<JoinHandle<()>>,
}

impl Generation {
    /// Listeners stop at once (their port closes); the queue stops between steps. A queue
    /// that does not stop in time is cut off: each of its steps is durable.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.listeners {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        for t in self.queue_tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .is_err()
            {
                tracing::warn!("the mail queue did not stop in time; stopping it now");
                abort.abort();
            }
        }
    }
}

/// Records the configuration file's values, then starts the supervisor. The TOML is checked
/// here: a bad `[mail]` stops signetd at boot, as before.
pub async fn start(
    node: Arc<Node>,
    config: &MailConfig,
    data_dir: &Path,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    config.check()?;
    node.local_store()
        .set_configured_mail(&crate::mail::configured(config))
        .context("recording the configured mail settings")?;
    let queue = ForwardingQueue::default();
    let outbox = OutboxHandle::default();
    // STARTTLS uses the member's certificate, without the admin listener's ALPN list.
    let tls = tls.map(|t| {
        let mut c = (*t).clone();
        c.alpn_protocols.clear();
        Arc::new(c)
    });
    let mut ctx = Context_ {
        node,
        config: config.clone(),
        spool_dir: data_dir.join("spool"),
        spool: None,
        tls,
        connections: Arc::new(AtomicU64::new(0)),
    };
    // The first generation starts before start() returns, so a bind is ready when signetd
    // says it runs.
    let applied = ctx.node.local_store().effective_mail()?;
    let current = ctx
        .start_generation(&applied, &queue, &outbox)
        .await
        .context("starting the mail proxies")?;
    let supervisor = tokio::spawn(supervise(
        ctx,
        applied,
        current,
        queue.clone(),
        outbox.clone(),
        stop,
    ));
    Ok(Running {
        tasks: vec![supervisor],
        queue: Arc::new(queue),
        outbox,
    })
}

async fn supervise(
    mut ctx: Context_,
    mut applied: NodeMail,
    mut current: Option<Generation>,
    queue: ForwardingQueue,
    outbox: OutboxHandle,
    mut stop: watch::Receiver<bool>,
) {
    let local = ctx.node.local_store().clone();
    loop {
        tokio::select! {
            _ = local.mail_settings_changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let wanted = match local.effective_mail() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read this node's mail settings");
                continue;
            }
        };
        if wanted == applied {
            continue;
        }
        tracing::info!("mail settings changed: restarting the mail proxies");
        queue.set(None);
        outbox.set(None);
        if let Some(g) = current.take() {
            g.stop().await;
        }
        match ctx.start_generation(&wanted, &queue, &outbox).await {
            Ok(g) => current = g,
            Err(e) => {
                tracing::error!(error = %crate::daemon::one_line(&e), "the mail proxies could not start")
            }
        }
        applied = wanted;
    }
    if let Some(g) = current.take() {
        g.stop().await;
    }
}

impl Context_ {
    fn spool(&mut self) -> anyhow::Result<Spool> {
        if let Some(s) = &self.spool {
            return Ok(s.clone());
        }
        let s = Spool::open(&self.spool_dir).context("opening the mail spool")?;
        self.spool = Some(s.clone());
        Ok(s)
    }

    /// Starts the queue and every proxy's connectors for `mail`; none when it has no proxy.
    async fn start_generation(
        &mut self,
        mail: &NodeMail,
        forward: &ForwardingQueue,
        outbox: &OutboxHandle,
    ) -> anyhow::Result<Option<Generation>> {
        let local = self.node.local_store().clone();
        if mail.proxies.is_empty() {
            local.set_proxy_states(BTreeMap::new());
            return Ok(None);
        }
        let spool = self.spool()?;
        let config = &self.config;
        let settings = &mail.settings;
        let hostname = settings.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        });
        let inbound = crate::mail::next_hop(&settings.inbound_mail_server);
        let outbound = crate::mail::next_hop(&settings.outbound_delivery);
        let service = MailSettings {
            hostname: hostname.clone(),
            inbound_next_hop: inbound.clone(),
            outbound_next_hop: outbound.clone(),
            bounce_unmanaged_senders: settings.bounce_unmanaged_senders,
            archive_servers: mail
                .archive_servers
                .iter()
                .map(crate::mail::archive_server)
                .collect(),
            keyservers: config.keyserver.clone(),
            keyserver_timeout_secs: config.keyserver_timeout_secs.unwrap_or(10),
            keyserver_resolve: config.keyserver_resolve.clone(),
        };
        let resolver = match config.dns_server {
            Some(server) => DnsResolver::with_server(server),
            None => DnsResolver::system(),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let transport = Transport::new(
            ClientSettings {
                hostname: hostname.clone(),
                ..ClientSettings::default()
            },
            MailRoutes::new(config.route.clone()),
            resolver,
        );
        let mut retry = RetryPolicy::default();
        if let Some(delays) = &config.retry_delays_secs {
            retry.delays = delays.iter().map(|s| Duration::from_secs(*s)).collect();
        }
        if let Some(h) = config.expire_after_hours {
            retry.expire_after = Duration::from_secs(h * 3600);
        }
        let queue = Arc::new(Queue::new(
            spool.clone(),
            MailService::new(self.node.clone(), service).with_requeue(spool.clone(), retry.clone()),
            transport,
            retry,
        ));
        let (stop, stopped) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let queue_tasks = vec![
            tokio::spawn(queue.clone().run(until(stopped.clone()))),
            tokio::spawn(crate::mail::follow_local_routes(
                self.node.clone(),
                config.route.clone(),
                queue.clone(),
                stopped.clone(),
            )),
        ];
        let mut listeners = Vec::new();
        let mut states = BTreeMap::new();
        for p in &mail.proxies {
            let kind = crate::mail::proxy_kind(p.kind);
            let mut errors = Vec::new();
            let auth = match smtp_auth(p.auth, kind, &outbound, &inbound, &hostname) {
                Ok(auth) => auth,
                Err(e) => {
                    tracing::error!(proxy = %p.id, error = %e, "SMTP proxy not started");
                    states.insert(p.id.clone(), format!("error: SMTP AUTH: {e}"));
                    continue;
                }
            };
            for c in &p.connectors {
                let listen = std::net::SocketAddr::new(c.interface, c.port());
                let listener = match tokio::net::TcpListener::bind(listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(proxy = %p.id, %listen, error = %e, "cannot listen for SMTP");
                        errors.push(format!("cannot listen on {listen}: {e}"));
                        continue;
                    }
                };
                let name = format!("{kind:?}");
                tracing::info!(proxy = %p.id, kind = %name, %listen, tls = ?c.security, "SMTP proxy listening");
                let proxy = ProxySettings {
                    name,
                    session: SessionConfig {
                        hostname: hostname.clone(),
                        max_message_size: usize::try_from(p.max_message_size).unwrap_or(usize::MAX),
                        auth: auth.clone(),
                        ..SessionConfig::default()
                    },
                    client_tls: crate::mail::client_tls(c.security),
                    tls: self.tls.clone(),
                    access: AccessLists {
                        allow: crate::mail::ranges(&c.allow),
                        block: crate::mail::ranges(&c.block),
                    },
                    connections_per_second: p.connections_per_second,
                    idle_timeout: Duration::from_secs(300),
                };
                let hooks = ProxyHooks {
                    node: self.node.clone(),
                    kind,
                    designated: crate::mail::ranges(&p.designated_source_ips),
                    queue: queue.clone(),
                };
                listeners.push(tokio::spawn(signet_smtp::server::serve(
                    listener,
                    proxy,
                    spool.clone(),
                    hooks,
                    self.connections.clone(),
                    until(stopped.clone()),
                )));
            }
            let state = if errors.is_empty() {
                "running".to_string()
            } else {
                format!("error: {}", errors.join("; "))
            };
            states.insert(p.id.clone(), state);
        }
        local.set_proxy_states(states);
        forward.set(Some(queue.clone()));
        outbox.set(Some(Outbox::new(queue, hostname, inbound, outbound)));
        Ok(Some(Generation {
            stop,
            listeners,
            queue_tasks,
        }))
    }
}

/// SMTP AUTH for a proxy set to `mail_server` (the internal placement: the users' mail
/// server needs authenticated senders): the server this proxy relays to checks each login,
/// the outbound relay for an Outbound proxy, else the inbound mail server. MAIL before AUTH
/// is refused. Direct delivery has no mail server to ask, so such a proxy is not started.
fn smtp_auth(
    auth: signet_model::mail_settings::ProxyAuth,
    kind: crate::mail::ProxyKind,
    outbound: &signet_smtp::routes::NextHop,
    inbound: &signet_smtp::routes::NextHop,
    hostname: &str,
) -> Result<
    Option<signet_smtp::auth::AuthSettings>,
    signet_smtp::mail_server_auth::MailServerAuthError,
> {
    use signet_smtp::routes::NextHop;
    if auth == signet_model::mail_settings::ProxyAuth::None {
        return Ok(None);
    }
    let server = match (kind, outbound) {
        (crate::mail::ProxyKind::Outbound, NextHop::Relay { .. }) => outbound,
        _ => inbound,
    };
    let verifier = signet_smtp::mail_server_auth::MailServerAuth::new(
        server,
        ClientSettings {
            hostname: hostname.to_string(),
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(30),
            ..ClientSettings::default()
        },
    )?;
    Ok(Some(signet_smtp::auth::AuthSettings {
        verifier: Arc::new(verifier),
        required: true,
    }))
}
