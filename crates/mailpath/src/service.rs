//! The mail path's side of the queue ([`MailPath`]): one received message in, its outgoing
//! copies out. Reads facts from the member's local state (no network round trip per message),
//! asks policy, decides per recipient, groups recipients with the same treatment, transforms
//! each group's copy, and writes the log lines an administrator searches for:
//!
//! ```text
//! SMTP-00012: message <id@host> from alice@example.com (2 recipients)
//! SMTP-00012: recipient 1/2 (bob@ext.test): encrypted and signed (PgpMime) by Outbound / ...
//! SMTP-00012: recipient 2/2 (carol@ext.test): passing through unmodified
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use signet_policy::facts::SessionFacts;
use signet_policy::model::{ArchiveCopyOf, ArchiveOptions, ServiceKind};
use signet_smtp::DeliveryError;
use signet_smtp::delivery::RetryPolicy;
use signet_smtp::queue::{MailPath, Outgoing};
use signet_smtp::routes::NextHop;
use signet_smtp::spool::{Direction, Envelope, Recipient, Spool, Stage};
use signet_store::{Command, Node, StateView};

use crate::archive::{ArchiveServer, archive_copy};
use crate::cache::MailCache;
use crate::error::MailError;
use crate::evaluate::{Context, decide_recipients};
use crate::facts::message_facts;
use crate::keys::MailKeys;
use crate::plan::Treatment;
use crate::templates::{BounceFacts, TemplateName, bounce_message};
use crate::transform::{apply, edit_headers};

/// The node-local mail settings the mail path reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// The name in Received fields, greetings and bounces.
    pub hostname: String,
    /// Where inbound mail goes after policy: the internal mail server.
    pub inbound_next_hop: NextHop,
    /// Where outbound mail goes after policy: direct (MX and static routes) or a relay.
    pub outbound_next_hop: NextHop,
    /// KB 160945: bounce outbound mail from domains that are not managed (off: it passes
    /// through unmodified, without policy, as the reference product does by default).
    pub bounce_unmanaged_senders: bool,
    /// Archive servers that "Send copy to alternate archive server" rules name.
    pub archive_servers: Vec<ArchiveServer>,
    /// Keyservers rules' Key Search lists name (besides the built-in `keys.$ADDRESS_DOMAIN`).
    pub keyservers: Vec<signet_keyserver::Keyserver>,
    /// How long one keyserver may take, connection included (default 10 s).
    pub keyserver_timeout_secs: u64,
    /// Host name → address overrides for keyservers (closed networks and tests).
    pub keyserver_resolve: std::collections::BTreeMap<String, std::net::SocketAddr>,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            hostname: "localhost".into(),
            inbound_next_hop: NextHop::Direct,
            outbound_next_hop: NextHop::Direct,
            bounce_unmanaged_senders: false,
            archive_servers: Vec::new(),
            keyservers: Vec::new(),
            keyserver_timeout_secs: 10,
            keyserver_resolve: Default::default(),
        }
    }
}

/// The mail path of one member.
#[derive(Clone)]
pub struct MailService {
    node: Arc<Node>,
    settings: Arc<RwLock<MailSettings>>,
    /// Policy, dictionaries, certificates and opened signing keys between messages.
    cache: Arc<MailCache>,
    /// The queue's spool and retry policy, for queueing recipients whose keyserver did not
    /// answer apart from the rest of the message. Without it the whole message waits.
    requeue: Option<(Spool, RetryPolicy)>,
}

impl MailService {
    pub fn new(node: Arc<Node>, settings: MailSettings) -> Self {
        MailService {
            node,
            settings: Arc::new(RwLock::new(settings)),
            cache: Arc::new(MailCache::default()),
            requeue: None,
        }
    }

    /// Lets the service split a message when a keyserver does not answer for some of its
    /// recipients: those wait in `spool` (the queue's own, so its runner sees them) and are
    /// retried on `retry`'s schedule; the others go on at once.
    pub fn with_requeue(mut self, spool: Spool, retry: RetryPolicy) -> Self {
        self.requeue = Some((spool, retry));
        self
    }

    pub fn settings(&self) -> MailSettings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn postmaster(&self, view: &StateView) -> String {
        let domain = view
            .managed_domains()
            .ok()
            .and_then(|d| d.into_iter().next())
            .map(|d| d.name)
            .unwrap_or_else(|| self.settings().hostname);
        format!("postmaster@{domain}")
    }
}

/// Everything processing decided, before the store writes (dictionary additions) that must
/// not happen inside the blocking crypto work.
struct Processed {
    outgoing: Vec<Outgoing>,
    dictionary_additions: Vec<(String, String)>,
    /// Recipients Send found no key for, with the keyservers their rule lists: search them,
    /// then process again (nothing else was done).
    needs_search: Vec<(String, Vec<String>)>,
}

impl MailPath for MailService {
    async fn process(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Vec<Outgoing>, DeliveryError> {
        let mut processed = self.process_in_pool(envelope, message, false).await?;
        if !processed.needs_search.is_empty() {
            let replicated = self
                .cache
                .state(self.node.local())
                .map_err(|e| DeliveryError::Temporary(e.to_string()))?
                .keyservers
                .clone();
            let waiting = crate::search::find_keys(
                &self.node,
                &self.settings(),
                &replicated,
                &processed.needs_search,
            )
            .await?;
            let now = if waiting.is_empty() {
                envelope.clone()
            } else {
                self.hold_back(envelope, message, &waiting).await?
            };
            processed = match self.process_in_pool(&now, message, true).await {
                Ok(p) => p,
                Err(e) => {
                    // The whole message stays queued: the entry split off for the waiting
                    // recipients goes, or they would be sent twice.
                    if now.recipients.len() != envelope.recipients.len() {
                        self.drop_held_back(envelope).await;
                    }
                    return Err(e);
                }
            };
        }
        if envelope.direction == Direction::Inbound {
            crate::search::harvest_keys(&self.node, envelope, message).await;
        }
        for (dictionary, address) in processed.dictionary_additions {
            let entry = match signet_model::DictionaryEntry::parse(&address) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(dictionary, address, error = %e, "Add to dictionary: not a valid entry");
                    continue;
                }
            };
            let cmd = Command::AddDictionaryEntries {
                name: dictionary.clone(),
                entries: vec![entry],
            };
            if let Err(e) = self.node.execute(cmd).await {
                tracing::warn!(dictionary, address, error = %e, "Add to dictionary failed");
            }
        }
        Ok(processed.outgoing)
    }

    fn bounce(
        &self,
        envelope: &Envelope,
        failed: &[(String, String)],
        original: &[u8],
    ) -> Option<(Vec<u8>, NextHop)> {
        let view = self.node.local();
        let settings = self.settings();
        let text = template_text(view, TemplateName::DeliveryFailure);
        let dsn = bounce_message(&BounceFacts {
            text: &text,
            sender: &envelope.mail_from,
            failed,
            connection: envelope.connection,
            queue_id: &envelope.id,
            hostname: &settings.hostname,
            postmaster: &self.postmaster(view),
            original,
        });
        match dsn {
            Ok(m) => Some((m, self.hop_to(view, &envelope.mail_from))),
            Err(e) => {
                tracing::error!(error = %e, "cannot write a bounce");
                None
            }
        }
    }
}

impl MailService {
    /// Splits the message: the recipients in `waiting` (their keyserver did not answer) go to
    /// a new received entry, due on the retry schedule with the keyserver's reason; the
    /// returned envelope holds the others, to be processed now. When nothing can be split
    /// (every recipient waits, a waiting address came from a mailing list, or no spool) the
    /// whole message waits.
    async fn hold_back(
        &self,
        envelope: &Envelope,
        message: &[u8],
        waiting: &[crate::search::Waiting],
    ) -> Result<Envelope, DeliveryError> {
        let whole = || {
            DeliveryError::Temporary(
                waiting
                    .iter()
                    .map(|(_, why)| why.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        };
        let is_waiting = |a: &str| waiting.iter().any(|(w, _)| w.eq_ignore_ascii_case(a));
        let pending: Vec<&Recipient> = envelope.pending().collect();
        let all_in_envelope = waiting
            .iter()
            .all(|(w, _)| pending.iter().any(|r| r.address.eq_ignore_ascii_case(w)));
        let some_go_on = pending.iter().any(|r| !is_waiting(&r.address));
        let Some((spool, retry)) = self.requeue.clone() else {
            return Err(whole());
        };
        if !all_in_envelope || !some_go_on {
            return Err(whole());
        }
        let at = signet_smtp::spool::now_millis();
        let mut later = envelope.clone();
        later.id = held_back_id(envelope);
        later.stage = Stage::Received;
        later.recipients = pending
            .iter()
            .filter(|r| is_waiting(&r.address))
            .map(|r| {
                let mut r = (*r).clone();
                r.attempts += 1;
                r.next_attempt = retry.next_attempt(at, r.attempts);
                r.last_error = waiting
                    .iter()
                    .find(|(w, _)| w.eq_ignore_ascii_case(&r.address))
                    .map(|(_, why)| why.clone());
                r
            })
            .collect();
        let conn = format!("SMTP-{:05}", envelope.connection);
        for r in &later.recipients {
            tracing::info!(
                "{conn}: recipient ({}): message split: waiting for a keyserver ({}); queued as {}",
                r.address,
                r.last_error.as_deref().unwrap_or_default(),
                later.id
            );
        }
        let written = later.clone();
        let bytes = message.to_vec();
        // Durable before the received entry goes: a crash in between processes the message
        // again, which rewrites this same entry.
        tokio::task::spawn_blocking(move || spool.accept(&written, &bytes))
            .await
            .map_err(|e| DeliveryError::Temporary(format!("queueing task failed: {e}")))?
            .map_err(|e| {
                DeliveryError::Temporary(format!("cannot queue the waiting recipients: {e}"))
            })?;
        let mut now = envelope.clone();
        now.recipients
            .retain(|r| !r.is_pending() || !is_waiting(&r.address));
        Ok(now)
    }

    /// Removes the entry [`MailService::hold_back`] wrote for this message, if any.
    async fn drop_held_back(&self, envelope: &Envelope) {
        let Some((spool, _)) = self.requeue.clone() else {
            return;
        };
        let id = held_back_id(envelope);
        let result = tokio::task::spawn_blocking(move || spool.remove(&id)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!(queue_id = %envelope.id, "cannot remove the entry split off for recipients waiting on a keyserver");
        }
    }

    /// Processing is CPU work (parsing, policy, crypto): it runs on the blocking pool.
    async fn process_in_pool(
        &self,
        envelope: &Envelope,
        message: &[u8],
        searched: bool,
    ) -> Result<Processed, DeliveryError> {
        let me = self.clone();
        let envelope = envelope.clone();
        let message = message.to_vec();
        tokio::task::spawn_blocking(move || me.process_blocking(&envelope, &message, searched))
            .await
            .map_err(|e| DeliveryError::Temporary(format!("processing task failed: {e}")))?
            .map_err(DeliveryError::from)
    }

    /// Mail the server writes to `address` goes inbound when the address is ours.
    fn hop_to(&self, view: &StateView, address: &str) -> NextHop {
        let settings = self.settings();
        if is_managed(view, address) {
            settings.inbound_next_hop
        } else {
            settings.outbound_next_hop
        }
    }

    /// One pass of processing. With `searched` false, a pass that finds recipients whose keys
    /// should be searched for on keyservers stops there and says so (no log lines, no output).
    fn process_blocking(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        searched: bool,
    ) -> Result<Processed, MailError> {
        let view = self.node.local();
        let settings = self.settings();
        let conn = format!("SMTP-{:05}", envelope.connection);
        let recipients: Vec<String> = envelope.pending().map(|r| r.address.clone()).collect();
        let n = recipients.len();
        let message_id = header(raw, "Message-ID").unwrap_or_else(|| "<>".into());
        let message_line = format!(
            "{conn}: message {message_id} from {} ({n} recipient{})",
            envelope.mail_from,
            if n == 1 { "" } else { "s" }
        );
        let hop = match envelope.direction {
            Direction::Inbound => settings.inbound_next_hop.clone(),
            Direction::Outbound => settings.outbound_next_hop.clone(),
        };
        let mut out = Processed {
            outgoing: Vec::new(),
            dictionary_additions: Vec::new(),
            needs_search: Vec::new(),
        };
        // KB 160945: outbound mail from a domain that is not managed.
        if envelope.direction == Direction::Outbound
            && !envelope.mail_from.is_empty()
            && !is_managed(view, &envelope.mail_from)
        {
            tracing::info!("{message_line}");
            if settings.bounce_unmanaged_senders {
                let mut failed = Vec::new();
                for (i, r) in recipients.iter().enumerate() {
                    tracing::info!(
                        "{conn}: recipient {}/{n} ({r}): unmanaged domain blocked: bouncing message from {}",
                        i + 1,
                        envelope.mail_from
                    );
                    failed.push((
                        r.clone(),
                        "the sender's domain is not a managed domain (unmanaged domain blocked)"
                            .to_string(),
                    ));
                }
                out.outgoing.extend(self.policy_bounce(
                    view,
                    envelope,
                    raw,
                    &failed,
                    TemplateName::InternalServerError,
                )?);
            } else {
                for (i, r) in recipients.iter().enumerate() {
                    tracing::info!(
                        "{conn}: recipient {}/{n} ({r}): passing through unmodified",
                        i + 1
                    );
                }
                out.outgoing
                    .push(copy(envelope, recipients.clone(), raw.to_vec(), hop));
            }
            return Ok(out);
        }

        let facts = message_facts(raw, &envelope.mail_from);
        let state = self.cache.state(view)?;
        let trusted_keyservers = state
            .keyservers
            .iter()
            .filter(|k| k.trusted)
            .map(|k| k.name.clone())
            .chain(
                settings
                    .keyservers
                    .iter()
                    .filter(|k| k.keys_trusted())
                    .map(|k| k.description.clone()),
            );
        let keys = MailKeys::with_cache(&self.node, view, &self.cache).trusting(trusted_keyservers);
        let ctx = Context {
            view,
            keys: &keys,
            facts: &facts,
            session: SessionFacts {
                service: match envelope.direction {
                    Direction::Inbound => ServiceKind::SmtpInbound,
                    Direction::Outbound => ServiceKind::SmtpOutbound,
                },
                connector_ip: envelope.client_ip.clone(),
                ..SessionFacts::default()
            },
            policy: &state.policy,
            dictionaries: &state.dictionaries,
            learn_mode: state.learn_mode,
            sender: &envelope.mail_from,
            conn: &conn,
        };
        let decided = decide_recipients(&ctx, &recipients)?;
        if !searched && !ctx.learn_mode {
            out.needs_search = decided
                .decisions
                .iter()
                .filter(|d| !d.key_search.is_empty())
                .map(|d| (d.recipient.clone(), d.key_search.clone()))
                .collect();
            if !out.needs_search.is_empty() {
                return Ok(out);
            }
        }
        tracing::info!("{message_line}");
        for line in &decided.log {
            tracing::info!("{line}");
        }
        let decisions = decided.decisions;
        for d in &decisions {
            out.dictionary_additions
                .extend(d.dictionary_additions.iter().cloned());
        }
        // Same treatment and same header edits: one copy for all of them.
        let archives: Vec<(String, ArchiveOptions)> = decisions
            .iter()
            .flat_map(|d| d.archive.iter().map(|a| (d.recipient.clone(), a.clone())))
            .collect();
        let mut processed: HashMap<String, (usize, Vec<u8>)> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for d in decisions {
            match groups
                .iter_mut()
                .find(|(t, h, _)| *t == d.treatment && *h == d.headers)
            {
                Some(g) => g.2.push(d.recipient),
                None => groups.push((d.treatment, d.headers, vec![d.recipient])),
            }
        }
        let mut failed = Vec::new();
        for (group, (treatment, headers, rcpts)) in groups.into_iter().enumerate() {
            match &treatment {
                Treatment::Drop => continue,
                Treatment::Bounce { reason } => {
                    failed.extend(rcpts.iter().map(|r| (r.clone(), reason.clone())));
                    continue;
                }
                _ => {}
            }
            let edited = edit_headers(raw, &headers).unwrap_or_else(|_| raw.to_vec());
            match apply(&treatment, &edited, &envelope.mail_from, &rcpts, &keys) {
                Ok(bytes) => {
                    for r in rcpts
                        .iter()
                        .filter(|r| archives.iter().any(|(a, _)| a == *r))
                    {
                        processed.insert(r.clone(), (group, bytes.clone()));
                    }
                    out.outgoing.push(copy(envelope, rcpts, bytes, hop.clone()));
                }
                Err(e) if e.is_locked() => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        "{conn}: {} recipient(s) bounced: the message could not be transformed: {e}",
                        rcpts.len()
                    );
                    failed.extend(rcpts.iter().map(|r| {
                        (
                            r.clone(),
                            format!("the message could not be protected: {e}"),
                        )
                    }));
                }
            }
        }
        self.archive_copies(view, envelope, raw, &archives, &processed, &mut out);
        if !failed.is_empty() {
            out.outgoing.extend(self.policy_bounce(
                view,
                envelope,
                raw,
                &failed,
                TemplateName::PolicyBounce,
            )?);
        }
        Ok(out)
    }

    /// One copy per archive server, envelope recipient and version of the message. A copy
    /// that cannot be made is logged and skipped: archiving never holds up delivery.
    fn archive_copies(
        &self,
        view: &StateView,
        envelope: &Envelope,
        raw: &[u8],
        archives: &[(String, ArchiveOptions)],
        processed: &HashMap<String, (usize, Vec<u8>)>,
        out: &mut Processed,
    ) {
        let settings = self.settings();
        let conn = format!("SMTP-{:05}", envelope.connection);
        let recipients: Vec<String> = envelope
            .recipients
            .iter()
            .map(|r| r.address.clone())
            .collect();
        let mut sent: HashSet<(String, String, Option<usize>)> = HashSet::new();
        for (rcpt, opts) in archives {
            let Some(server) = settings
                .archive_servers
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(&opts.archive_server))
            else {
                tracing::warn!(
                    "{conn}: archive server \"{}\" is not configured; no archive copy",
                    opts.archive_server
                );
                continue;
            };
            let (version, source) = match opts.copy_of {
                ArchiveCopyOf::Original => (None, raw),
                ArchiveCopyOf::PolicyProcessed => match processed.get(rcpt) {
                    Some((group, bytes)) => (Some(*group), bytes.as_slice()),
                    None => (None, raw),
                },
            };
            let to = opts
                .envelope_recipient
                .clone()
                .unwrap_or_else(|| rcpt.clone());
            if !sent.insert((server.name.clone(), to.to_lowercase(), version)) {
                continue;
            }
            match archive_copy(&self.node, view, opts, source, &recipients) {
                Ok(bytes) => {
                    tracing::info!("{conn}: archive copy for {rcpt} to {} <{to}>", server.name);
                    out.outgoing
                        .push(copy(envelope, vec![to], bytes, server.next_hop()));
                }
                Err(e) => {
                    tracing::warn!("{conn}: no archive copy for {rcpt} to {}: {e}", server.name)
                }
            }
        }
    }

    /// A bounce written at processing time (policy, unmanaged sender), as an outgoing entry.
    fn policy_bounce(
        &self,
        view: &StateView,
        envelope: &Envelope,
        raw: &[u8],
        failed: &[(String, String)],
        template: TemplateName,
    ) -> Result<Option<Outgoing>, MailError> {
        if envelope.mail_from.is_empty() || envelope.is_bounce {
            return Ok(None);
        }
        let settings = self.settings();
        let text = template_text(view, template);
        let message = bounce_message(&BounceFacts {
            text: &text,
            sender: &envelope.mail_from,
            failed,
            connection: envelope.connection,
            queue_id: &envelope.id,
            hostname: &settings.hostname,
            postmaster: &self.postmaster(view),
            original: raw,
        })?;
        Ok(Some(Outgoing {
            envelope: Envelope::bounce_for(
                envelope,
                message.len(),
                self.hop_to(view, &envelope.mail_from),
            ),
            message,
        }))
    }
}

/// The id of the entry split off a message for recipients waiting on a keyserver: `-a`
/// never collides with the queue's `-<n>` outgoing ids.
fn held_back_id(envelope: &Envelope) -> String {
    format!("{}-a", envelope.id)
}

/// Recipients that share a treatment and header edits, and so one copy of the message.
type Group = (Treatment, Vec<(String, String, bool)>, Vec<String>);

fn copy(envelope: &Envelope, recipients: Vec<String>, message: Vec<u8>, hop: NextHop) -> Outgoing {
    Outgoing {
        envelope: Envelope {
            id: envelope.id.clone(),
            stage: Stage::Outgoing,
            direction: envelope.direction,
            mail_from: envelope.mail_from.clone(),
            recipients: recipients.into_iter().map(Recipient::pending).collect(),
            received_at: envelope.received_at,
            connection: envelope.connection,
            client_ip: envelope.client_ip.clone(),
            parent: Some(envelope.id.clone()),
            is_bounce: envelope.is_bounce,
            size: message.len() as u64,
            next_hop: hop,
        },
        message,
    }
}

/// The template's text in force: the administrator's, else the factory text.
fn template_text(view: &StateView, template: TemplateName) -> String {
    match view.message_template_text(template.id()) {
        Ok(Some(text)) => text,
        Ok(None) => String::new(),
        Err(e) => {
            tracing::warn!(error = %e, template = template.id(), "cannot read a message template; using the factory text");
            signet_model::template_spec(template.id())
                .map(|t| t.default_text.to_string())
                .unwrap_or_default()
        }
    }
}

fn is_managed(view: &StateView, address: &str) -> bool {
    let Some((_, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    view.managed_domains()
        .map(|ds| {
            ds.iter().any(|d| {
                let m = d.name.to_ascii_lowercase();
                domain == m || domain.ends_with(&format!(".{m}"))
            })
        })
        .unwrap_or(false)
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    signet_crypto::mime::split(raw)
        .ok()?
        .field(name)
        .map(|f| f.value())
}
