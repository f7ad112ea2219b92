//! The member's Verified Directory wiring: the backend the public pages use (the replicated
//! store, the Verified Directory Key sealed like the other organization keys, and the mail
//! queue for confirmation and removal mail), keeping the published-key directory current with
//! published VD entries, and the housekeeping step (renewal, tidying).
//!
//! The pages are served on the public web listener (`[public_web]`); there is no listener of
//! their own. Mail leaves through this member's mail queue like bounces do: to the inbound
//! next hop for managed domains, else the outbound one. A member without SMTP proxies runs no
//! queue and answers submissions with "unavailable".

use std::sync::Arc;

use base64::Engine;
use signet_keyserver::directory::{PublishedKey, SharedDirectory};
use signet_keyserver::verified_directory::service::{BoxFuture, CommitError};
use signet_keyserver::verified_directory::{
    self as vd, Mail, PublishError, TokenSource, Update, VdBackend,
};
use signet_mailpath::MailService;
use signet_mailpath::templates::{TemplateName, notification_message};
use signet_model::{OrganizationItemKind, VdEntry, VdSettings, VdToken, VdTokenPurpose};
use signet_smtp::queue::Queue;
use signet_smtp::routes::{DnsResolver, NextHop};
use signet_smtp::spool::{Direction, Envelope, Recipient, Spool, Stage, now_millis};
use signet_store::{Command, Node, StoreError};

/// Mail the Verified Directory sends, through this member's queue.
#[derive(Clone)]
pub struct Outbox {
    pub queue: Arc<Queue<MailService, DnsResolver>>,
    pub hostname: String,
    pub inbound: NextHop,
    pub outbound: NextHop,
}

impl Outbox {
    pub fn new(
        queue: Arc<Queue<MailService, DnsResolver>>,
        hostname: String,
        inbound: NextHop,
        outbound: NextHop,
    ) -> Outbox {
        Outbox {
            queue,
            hostname,
            inbound,
            outbound,
        }
    }
}

impl Outbox {
    /// Queues a message the server wrote (Verified Directory mail, notices to administrators)
    /// for `to`: to the inbound next hop for managed domains, else the outbound one. From the
    /// null sender, like other server-made mail, so a failure bounces to nobody. The message
    /// is on disk (fsync) when this returns; the caller wakes the queue.
    pub fn queue_notification(
        &self,
        node: &Node,
        to: &str,
        message: &[u8],
    ) -> Result<String, String> {
        let next_hop = if managed(node, to) {
            self.inbound.clone()
        } else {
            self.outbound.clone()
        };
        let envelope = Envelope {
            id: Spool::new_id(),
            stage: Stage::Outgoing,
            direction: Direction::Outbound,
            mail_from: String::new(),
            recipients: vec![Recipient::pending(to.to_string())],
            received_at: now_millis(),
            connection: 0,
            client_ip: String::new(),
            parent: None,
            is_bounce: true,
            size: message.len() as u64,
            next_hop,
        };
        self.queue
            .spool()
            .accept(&envelope, message)
            .map_err(|e| e.to_string())?;
        Ok(envelope.id)
    }
}

/// The outbox of whatever mail queue runs now: the mail settings can change (and with them
/// the queue) without a restart.
#[derive(Clone, Default)]
pub struct OutboxHandle(Arc<std::sync::RwLock<Option<Outbox>>>);

impl OutboxHandle {
    pub fn set(&self, outbox: Option<Outbox>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = outbox;
    }

    pub fn current(&self) -> Option<Outbox> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the pages and housekeeping use: this member's view of the cluster.
pub struct NodeBackend {
    pub node: Arc<Node>,
    pub outbox: OutboxHandle,
    /// Where links point when no Public URL is set.
    pub default_base_url: String,
}

/// The postmaster of the first managed domain (of the host name when there is none): the
/// sender of mail the server writes.
pub(crate) fn postmaster(node: &Node, hostname: &str) -> String {
    let domain = node
        .local()
        .managed_domains()
        .ok()
        .and_then(|d| d.into_iter().next())
        .map(|d| d.name)
        .unwrap_or_else(|| hostname.to_string());
    format!("postmaster@{domain}")
}

fn managed(node: &Node, email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    node.local()
        .managed_domains()
        .map(|ds| {
            ds.iter().any(|d| {
                let m = d.name.to_ascii_lowercase();
                domain == m || domain.ends_with(&format!(".{m}"))
            })
        })
        .unwrap_or(false)
}

struct Random;

impl TokenSource for Random {
    fn token(&mut self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    }
}

/// The Verified Directory Key with its secret, opened with the cluster data key.
pub fn vd_key(node: &Node) -> Result<signet_crypto::openpgp::Cert, PublishError> {
    let fail = |e: String| PublishError::SigningKey(e);
    let item = node
        .local()
        .organization_item(OrganizationItemKind::VerifiedDirectoryKey)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("there is no Verified Directory Key".into()))?;
    let secret = item
        .secret
        .as_ref()
        .ok_or_else(|| fail("the Verified Directory Key has no private key".into()))?;
    let bytes = signet_web::keyring::open(
        node,
        &signet_web::keyring::label_for(OrganizationItemKind::VerifiedDirectoryKey),
        secret,
    )
    .map_err(|e| fail(e.to_string()))?;
    signet_crypto::openpgp::parse_cert(&bytes).map_err(|e| fail(e.to_string()))
}

/// Commits an update as one command.
pub async fn commit(node: &Node, update: &Update) -> Result<(), CommitError> {
    let command = Command::UpdateVerifiedDirectory {
        put: update.put.clone(),
        remove: update.remove.clone(),
        issue_tokens: update.issue_tokens.clone(),
        spend_tokens: update.spend_tokens.clone(),
    };
    match node.execute(command).await {
        Ok(_) => Ok(()),
        Err(StoreError::Rejected(signet_store::Rejection::Conflict(_))) => {
            Err(CommitError::Conflict)
        }
        Err(e) => Err(CommitError::Other(e.to_string())),
    }
}

impl NodeBackend {
    fn send_one(
        &self,
        outbox: &Outbox,
        mail: &Mail,
        base: &str,
        settings: &VdSettings,
    ) -> Result<(), String> {
        let (template, path) = match mail.purpose {
            VdTokenPurpose::Confirm => (TemplateName::VerifiedDirectoryConfirmation, "confirm"),
            VdTokenPurpose::Remove => (TemplateName::VerifiedDirectoryRemoval, "remove"),
        };
        let view = self.node.local();
        let text = view
            .message_template_text(template.id())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no message template {}", template.id()))?;
        let from = settings
            .sender_address
            .clone()
            .unwrap_or_else(|| postmaster(&self.node, &outbox.hostname));
        let mut values = std::collections::BTreeMap::new();
        values.insert("FROM", from);
        values.insert("RECIPIENT", mail.to.clone());
        values.insert("USER_ID", mail.user_id.clone());
        values.insert("FINGERPRINT", mail.fingerprint.clone().unwrap_or_default());
        values.insert("URL", format!("{base}/vd/{path}/{}", mail.token));
        values.insert("VALID_HOURS", settings.token_validity_hours.to_string());
        values.insert("HOSTNAME", outbox.hostname.clone());
        values.insert("DATE", signet_smtp::reply::rfc5322_date(now_millis()));
        let message =
            notification_message(&text, &values, &outbox.hostname).map_err(|e| e.to_string())?;
        let queue_id = outbox.queue_notification(&self.node, &mail.to, &message)?;
        tracing::info!(queue_id = %queue_id, to = %mail.to, purpose = ?mail.purpose, renewal = mail.renewal, "Verified Directory mail queued");
        Ok(())
    }
}

impl VdBackend for NodeBackend {
    fn settings(&self) -> Result<VdSettings, String> {
        self.node.local().vd_settings().map_err(|e| e.to_string())
    }

    fn entry(&self, fingerprint: &str) -> Result<Option<VdEntry>, String> {
        self.node
            .local()
            .vd_entry(fingerprint)
            .map_err(|e| e.to_string())
    }

    fn entries(&self) -> Result<Vec<VdEntry>, String> {
        self.node.local().vd_entries().map_err(|e| e.to_string())
    }

    fn token(&self, sha256_hex: &str) -> Result<Option<VdToken>, String> {
        self.node
            .local()
            .vd_token(sha256_hex)
            .map_err(|e| e.to_string())
    }

    fn tokens(&self) -> Result<Vec<VdToken>, String> {
        self.node.local().vd_tokens().map_err(|e| e.to_string())
    }

    fn is_internal(&self, email: &str) -> bool {
        managed(&self.node, email)
    }

    fn new_token(&self) -> String {
        Random.token()
    }

    fn vd_key(&self) -> Result<signet_crypto::openpgp::Cert, PublishError> {
        vd_key(&self.node)
    }

    fn can_mail(&self) -> bool {
        self.outbox.current().is_some()
    }

    fn commit(&self, update: &Update) -> BoxFuture<'_, Result<(), CommitError>> {
        let update = update.clone();
        Box::pin(async move { commit(&self.node, &update).await })
    }

    fn send_mails(&self, update: &Update, base_url: &str) -> Result<(), String> {
        if update.mails.is_empty() {
            return Ok(());
        }
        let outbox = self
            .outbox
            .current()
            .ok_or_else(|| "no mail queue runs on this member".to_string())?;
        let settings = self.settings()?;
        for m in &update.mails {
            self.send_one(&outbox, m, base_url, &settings)?;
        }
        outbox.queue.wake();
        Ok(())
    }

    fn default_base_url(&self) -> String {
        self.default_base_url.clone()
    }
}

/// Puts every published VD entry in the published-key directory (owner `vd:<FPR>`) and takes
/// out those no longer published. Only `published` is served, never the submitted key.
pub fn refresh_directory(node: &Node, dir: &SharedDirectory) {
    let entries = match node.local().vd_entries() {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "keyserver: cannot read the Verified Directory");
            return;
        }
    };
    let mut present = std::collections::HashSet::new();
    for e in entries {
        let owner = vd::directory_owner(&e.fingerprint);
        let keys = match e.published.as_deref().map(PublishedKey::from_cert_bytes) {
            Some(Ok(k)) => vec![k],
            Some(Err(err)) => {
                tracing::warn!(key = %e.fingerprint, error = %err, "Verified Directory key not published");
                Vec::new()
            }
            None => Vec::new(),
        };
        if !keys.is_empty() {
            present.insert(owner.clone());
        }
        dir.set_owner(&owner, keys, Vec::new());
    }
    for owner in dir.owners() {
        if owner.starts_with("vd:") && !present.contains(&owner) {
            dir.remove_owner(&owner);
        }
    }
}

/// One housekeeping pass, on the leader: renewals due, renewals unanswered, expired links.
pub async fn housekeeping(backend: &NodeBackend) {
    let node = &backend.node;
    if node.status().diagnostics.role != "leader" {
        return;
    }
    let Ok(settings) = backend.settings() else {
        return;
    };
    if !settings.enabled {
        return;
    }
    for _ in 0..3 {
        let (Ok(entries), Ok(tokens)) = (backend.entries(), backend.tokens()) else {
            return;
        };
        let now = now_millis();
        let mut update = vd::entry::housekeeping(&entries, &tokens, &settings, now, &mut Random);
        if !update.mails.is_empty() && backend.outbox.current().is_none() {
            // No way to ask the owners: leave renewals for a member that can mail.
            update.put.retain(|e| e.renewal_started_at.is_none());
            update.mails.clear();
            update.issue_tokens.clear();
        }
        if update.is_empty() {
            return;
        }
        let base = settings
            .public_url
            .clone()
            .unwrap_or_else(|| backend.default_base_url.clone());
        match commit(node, &update).await {
            Ok(()) => {
                if let Err(e) = backend.send_mails(&update, &base) {
                    tracing::warn!(error = %e, "Verified Directory: renewal mail not sent");
                }
                if !update.remove.is_empty() {
                    tracing::info!(keys = ?update.remove, "Verified Directory: keys removed (renewal unanswered or never confirmed)");
                }
                return;
            }
            Err(CommitError::Conflict) => continue,
            Err(CommitError::Other(e)) => {
                tracing::warn!(error = %e, "Verified Directory housekeeping failed");
                return;
            }
        }
    }
}

/// The links' base when no Public URL is set: the first plain public connector (the
/// development default 127.0.0.1:10080 when none is configured).
pub fn default_base_url(config: &crate::public_web::PublicWebConfig, hostname: &str) -> String {
    let listen = config
        .connector
        .iter()
        .find(|c| !c.tls)
        .map(|c| c.listen)
        .unwrap_or_else(|| {
            std::net::SocketAddr::from(([127, 0, 0, 1], 80 + crate::config::DEV_PORT_OFFSET))
        });
    let host = match listen.ip() {
        ip if ip.is_unspecified() => hostname.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    if listen.port() == 80 {
        format!("http://{host}")
    } else {
        format!("http://{host}:{}", listen.port())
    }
}
