//! The node's lifecycle: start the member, make the first administrator on a new cluster, serve
//! the admin API, and stop cleanly on SIGTERM. A membership change (join, removal) restarts the
//! process in place (exec, same PID), the way the reference appliance reboots.

use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};
use signet_model::{AdminRole, Administrator, ApiToken};
use signet_store::local::{AdminTls, LABEL_ADMIN_KEY};
use signet_store::{Command, Node, NodeOptions, now_millis};
use signet_transport::pki::CertifiedKey;

use crate::client::CliFile;
use crate::config::DaemonConfig;

/// An error as one line: each cause once (a cause often repeats its source's text).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out.replace('\n', " ")
}

/// How [`run`] ended.
pub enum Exit {
    /// SIGTERM or SIGINT: exit 0.
    Stopped,
    /// A membership change needs a fresh start of the process.
    Restart,
}

/// `logbook` is the log ring the process's tracing subscriber feeds (the Logs page reads it).
pub async fn run(
    config: DaemonConfig,
    logbook: Arc<signet_web::logbook::LogBook>,
) -> anyhow::Result<Exit> {
    let listener = signet_transport::http::bind(config.admin_listen).await?;
    let started = Node::start(NodeOptions {
        data_dir: config.data_dir.clone(),
        cluster_listen: config.cluster_listen,
        cluster_advertise: config.cluster_advertise.clone(),
        api_advertise: config.admin_advertise.clone(),
        tuning: config.raft.clone(),
    })
    .await?;
    let node = started.node;
    let admin_tls = admin_certificate(&node, &config)?;
    if started.bootstrap_pending {
        bootstrap(&node, &config, &admin_tls).await?;
    }
    let (tls, admin_identity) = signet_transport::tls::replaceable_admin_server_config(&admin_tls)?;
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail = crate::mail_supervisor::start(
        node.clone(),
        &config.mail,
        &config.data_dir,
        Some(tls.clone()),
        mail_stopped,
    )
    .await?;
    let keys = crate::keyserver::start_directory(node.clone()).await;
    let verified_directory = Arc::new(crate::vd::NodeBackend {
        node: node.clone(),
        outbox: mail.outbox.clone(),
        default_base_url: crate::vd::default_base_url(
            &config.public_web,
            config.mail.hostname.as_deref().unwrap_or("localhost"),
        ),
    });
    let ldap = crate::keyserver::start_ldap(
        &config.keyserver,
        keys.directory(),
        &admin_tls,
        tls.clone(),
        stop_mail.subscribe(),
    )
    .await?;
    let public_web = crate::public_web::start(
        node.clone(),
        &config.public_web,
        keys.directory(),
        Some(verified_directory.clone()),
        tls.clone(),
        stop_mail.subscribe(),
    )
    .await?;
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let activity = Arc::new(signet_web::activity::Activity::default());
    let sampler = activity.start(activity_interval(), logbook.clone());
    let state = signet_web::AppState {
        node: node.clone(),
        mail_queue: Some(mail.queue.clone()),
        sessions: Default::default(),
        logbook,
        activity,
        setup: Default::default(),
        facts: Arc::new(node_facts(&config)),
        admin_identity: Some(admin_identity),
        notifier: Some(Arc::new(crate::notify::AdminMail {
            node: node.clone(),
            outbox: mail.outbox.clone(),
        })),
    };
    signet_web::ui::setup::announce_setup_code(&state);
    let api = tokio::spawn(signet_web::serve(
        listener,
        tls.clone(),
        state,
        async move {
            let _ = api_stopped.await;
        },
    ));
    let housekeeping = tokio::spawn(crate::housekeeping::run(node.clone(), verified_directory));

    if node.is_locked() {
        tracing::warn!(
            "this member is LOCKED (Ignition Keys are set): unlock it with `signet unlock` or POST /api/v1/unlock; mail that needs private keys waits"
        );
    }
    tracing::info!(
        locked = node.is_locked(),
        member = node.id(),
        cluster = node.cluster_id(),
        admin = %config.admin_listen,
        cluster_rpc = %config.cluster_listen,
        data = %config.data_dir.display(),
        "Signet node running"
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let exit = tokio::select! {
        _ = term.recv() => Exit::Stopped,
        _ = tokio::signal::ctrl_c() => Exit::Stopped,
        _ = node.restart_requested() => Exit::Restart,
    };
    // Stop taking requests and let those in flight finish (a join's answer is sent after the
    // join has asked for the restart), then stop the member.
    tracing::info!("stopping");
    let _ = stop_api.send(());
    if tokio::time::timeout(std::time::Duration::from_secs(10), api)
        .await
        .is_err()
    {
        tracing::warn!("the admin API did not finish its requests in time");
    }
    housekeeping.abort();
    sampler.abort();
    // The proxies stop accepting; a message in the middle of its DATA is not acknowledged, so
    // the client will send it again. The queue stops between steps (each step is durable).
    let _ = stop_mail.send(true);
    public_web.join().await;
    keys.stop();
    for task in ldap {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
    }
    for task in mail.tasks {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    // Leave the data key's on-disk custody matching the Ignition Keys this member has applied.
    if let Err(e) = node.reconcile_data_key_custody() {
        tracing::warn!(error = %e, "cannot reconcile the data key's custody");
    }
    node.shutdown().await;
    Ok(exit)
}

/// How often the overview's activity graphs take a sample: 60 s, or `SIGNET_ACTIVITY_SECS`
/// (tests use a second or less).
fn activity_interval() -> std::time::Duration {
    std::env::var("SIGNET_ACTIVITY_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .map(std::time::Duration::from_secs_f64)
        .unwrap_or(std::time::Duration::from_secs(60))
}

/// What the overview and Network pages show about this node's services.
fn node_facts(config: &DaemonConfig) -> signet_web::ui::NodeFacts {
    use signet_web::ui::Listener;
    let listener = |service: String, address: String| Listener { service, address };
    // SMTP proxies are not listed here: they change through the API, and the pages ask it.
    let mut listeners = Vec::new();
    if config.keyserver.enabled {
        if config.keyserver.connector.is_empty() {
            listeners.push(listener(
                "LDAP keyserver".into(),
                "127.0.0.1:10389 (development default)".into(),
            ));
            listeners.push(listener(
                "LDAPS keyserver".into(),
                "127.0.0.1:10636 (development default)".into(),
            ));
        }
        for c in &config.keyserver.connector {
            let kind = if c.ssl {
                "LDAPS keyserver"
            } else {
                "LDAP keyserver"
            };
            listeners.push(listener(kind.into(), format!("{}:{}", c.interface, c.port)));
        }
    }
    if config.public_web.enabled {
        if config.public_web.connector.is_empty() {
            listeners.push(listener(
                "Keyserver HTTP (HKP, WKD)".into(),
                "127.0.0.1:10080 (development default)".into(),
            ));
            listeners.push(listener(
                "Keyserver HTTPS (HKP, WKD)".into(),
                "127.0.0.1:10443 (development default)".into(),
            ));
        }
        for c in &config.public_web.connector {
            let kind = if c.tls {
                "Keyserver HTTPS (HKP, WKD)"
            } else {
                "Keyserver HTTP (HKP, WKD)"
            };
            listeners.push(listener(kind.into(), c.listen.to_string()));
        }
    }
    listeners.push(listener(
        "Cluster (member RPC)".into(),
        config.cluster_listen.to_string(),
    ));
    signet_web::ui::NodeFacts {
        admin_address: config.admin_listen.to_string(),
        hostname: config.mail.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        }),
        placement: format!("{:?}", config.mail.placement).to_lowercase(),
        listeners,
    }
}

/// The admin listener's certificate: made once per node (it is node-local, and survives a join).
fn admin_certificate(node: &Arc<Node>, config: &DaemonConfig) -> anyhow::Result<CertifiedKey> {
    let local = node.local_store();
    if let Some(tls) = local.admin_tls()? {
        let key_pem = node
            .data_key_for_local()
            .open_string(LABEL_ADMIN_KEY, &tls.key_sealed)?;
        return Ok(CertifiedKey {
            cert_pem: tls.cert_pem,
            key_pem,
        });
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let host = config.admin_listen.ip();
    if !host.is_unspecified() && !host.is_loopback() {
        names.push(host.to_string());
    }
    if let Ok(h) = nix::unistd::gethostname()
        && let Some(h) = h.to_str().filter(|h| !h.is_empty() && h.is_ascii())
    {
        names.push(h.to_string());
    }
    let cert = signet_transport::pki::self_signed_admin_cert(&names)?;
    local.set_admin_tls(&AdminTls {
        cert_pem: cert.cert_pem.clone(),
        key_sealed: node
            .data_key_for_local()
            .seal(LABEL_ADMIN_KEY, cert.key_pem.as_bytes()),
    })?;
    Ok(cert)
}

/// A new cluster's first administrator, `admin` (SuperUser), with a CLI token in cli.json. The
/// setup assistant (admin-UI issue) adds a passphrase; until then the CLI token is the credential.
async fn bootstrap(
    node: &Arc<Node>,
    config: &DaemonConfig,
    admin_tls: &CertifiedKey,
) -> anyhow::Result<()> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let now = now_millis();
    let existing = node.local().administrator("admin")?;
    let api_token = ApiToken {
        label: "CLI on the first member".into(),
        sha256_hex: hex::encode(Sha256::digest(token.as_bytes())),
        created_at: now,
    };
    let command = match existing {
        // A crash after the admin was made but before cli.json was written: add a token.
        Some(_) => Command::AddApiToken {
            login: "admin".into(),
            token: api_token,
        },
        None => Command::AddAdministrator {
            admin: Administrator {
                login: "admin".into(),
                role: AdminRole::SuperUser,
                email: None,
                api_tokens: vec![api_token],
                created_at: now,
                passphrase: None,
                failed_logins: Default::default(),
            },
        },
    };
    node.execute(command)
        .await
        .context("cannot create the first administrator")?;
    CliFile {
        api: config.admin_advertise.clone(),
        token,
        cert_sha256: signet_transport::pki::cert_fingerprint(&admin_tls.cert_pem)?,
    }
    .write(&config.data_dir)?;
    node.local_store().set_bootstrap_pending(false)?;
    tracing::info!(cli = %config.data_dir.join("cli.json").display(), "new cluster created; CLI credentials written");
    Ok(())
}
