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

pub async fn run(config: DaemonConfig) -> anyhow::Result<Exit> {
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
    let tls = signet_transport::tls::admin_server_config(&admin_tls)?;
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail = crate::mail::start(
        node.clone(),
        &config.mail,
        &config.data_dir,
        Some(tls.clone()),
        mail_stopped,
    )
    .await?;
    let keys = crate::keyserver::start_directory(node.clone()).await;
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
        tls.clone(),
        stop_mail.subscribe(),
    )
    .await?;
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(signet_web::serve(
        listener,
        tls.clone(),
        signet_web::AppState {
            node: node.clone(),
            mail_queue: mail.queue.clone(),
            sessions: Default::default(),
        },
        async move {
            let _ = api_stopped.await;
        },
    ));
    let housekeeping = tokio::spawn(crate::housekeeping::run(node.clone()));

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
