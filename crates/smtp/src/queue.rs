//! The queue runner: takes what the proxies spooled through policy (the [`MailPath`] hook,
//! implemented outside this crate) and delivers what policy produced, with retries, expiry and
//! bounces. Every state change is written to the spool before the next step, so a restart
//! resumes where the crash left off:
//!
//! - a received entry is replaced by its outgoing entries only after they are all durable;
//!   the outgoing ids derive from the received id, so processing it again after a crash
//!   rewrites the same entries instead of duplicating them;
//! - a recipient is marked delivered only after the next server said 250.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::delivery::{RetryPolicy, Transport, domain_of};
use crate::error::{DeliveryError, SpoolError};
use crate::routes::{NextHop, Resolve};
use crate::spool::{Envelope, Millis, RecipientState, Spool, Stage, now_millis};

/// A message policy produced: its envelope (stage Outgoing) and bytes.
pub struct Outgoing {
    pub envelope: Envelope,
    pub message: Vec<u8>,
}

/// What the mail path (policy, crypto, templates) does for the queue.
pub trait MailPath: Send + Sync + 'static {
    /// Applies policy to a received message. The outgoing entries may be empty (everything was
    /// dropped or bounced). `Err(Temporary)` keeps the message queued for a later try (a locked
    /// node, a keyserver that did not answer).
    fn process(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> impl Future<Output = Result<Vec<Outgoing>, DeliveryError>> + Send;

    /// The non-delivery report for `failed` (address, reason), to go to the envelope sender,
    /// with the way it leaves. `None` sends none.
    fn bounce(
        &self,
        envelope: &Envelope,
        failed: &[(String, String)],
        original: &[u8],
    ) -> Option<(Vec<u8>, NextHop)>;
}

pub struct Queue<P, R> {
    spool: Spool,
    path: P,
    transport: Transport<R>,
    retry: RetryPolicy,
    wake: Notify,
    workers: Semaphore,
}

/// Deliveries and processing steps running at once.
const WORKERS: usize = 32;

impl<P: MailPath, R: Resolve> Queue<P, R> {
    pub fn new(spool: Spool, path: P, transport: Transport<R>, retry: RetryPolicy) -> Self {
        Queue {
            spool,
            path,
            transport,
            retry,
            wake: Notify::new(),
            workers: Semaphore::new(WORKERS),
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    pub fn transport(&self) -> &Transport<R> {
        &self.transport
    }

    /// Something new is in the spool.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown` resolves. Entries are handled concurrently (up to [`WORKERS`]).
    /// Due work comes from the spool's in-memory index, so a wake costs O(entries started),
    /// not a read of the whole spool.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let next = self.dispatch();
            let wait = next
                .map(|t| t.saturating_sub(now_millis()))
                .unwrap_or(30_000)
                .clamp(10, 30_000);
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
    }

    /// Starts work on due entries while workers are free; returns when the next one is due.
    /// A finishing worker wakes the runner, so entries left waiting for a worker are not lost.
    fn dispatch(self: &Arc<Self>) -> Option<Millis> {
        let free = self.workers.available_permits();
        let (batch, next) = self.spool.claim_due(now_millis(), free);
        for envelope in batch {
            let me = self.clone();
            tokio::spawn(async move {
                let id = envelope.id.clone();
                if let Ok(_permit) = me.workers.acquire().await {
                    me.handle(envelope).await;
                }
                me.spool.release(&id);
                // The entry may have produced new work (outgoing entries, a bounce).
                me.wake();
            });
        }
        next
    }

    /// Handles every due entry to the end, one after another: for tests and for a CLI flush.
    pub async fn run_once(&self) -> Result<(), SpoolError> {
        let now = now_millis();
        for envelope in self.spool.list()? {
            if envelope.next_due().unwrap_or(0) <= now {
                self.handle(envelope).await;
            }
        }
        Ok(())
    }

    async fn handle(&self, envelope: Envelope) {
        let id = envelope.id.clone();
        let result = match envelope.stage {
            Stage::Received => self.process(envelope).await,
            Stage::Outgoing => self.deliver(envelope, None).await,
        };
        if let Err(e) = result {
            tracing::error!(queue_id = %id, error = %e, "queue entry left for the next pass");
        }
    }

    /// Runs spool IO (fsync) off the async workers, so that a slow disk never stalls the SMTP
    /// sessions sharing the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Spool) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || f(&spool))
            .await
            .map_err(|e| SpoolError::io("running", self.spool.dir(), std::io::Error::other(e)))?
    }

    async fn remove(&self, id: &str) -> Result<(), SpoolError> {
        let id = id.to_string();
        self.blocking(move |s| s.remove_finished(&id)).await
    }

    async fn process(&self, mut envelope: Envelope) -> Result<(), SpoolError> {
        if envelope.is_done() {
            return self.remove(&envelope.id).await;
        }
        let id = envelope.id.clone();
        let message = self.blocking(move |s| s.message(&id)).await?;
        match self.path.process(&envelope, &message).await {
            Ok(outgoing) => {
                let mut ready = Vec::with_capacity(outgoing.len());
                for (i, mut out) in outgoing.into_iter().enumerate() {
                    out.envelope.id = format!("{}-{i}", envelope.id);
                    out.envelope.stage = Stage::Outgoing;
                    out.envelope.parent = Some(envelope.id.clone());
                    out.envelope.size = out.message.len() as u64;
                    ready.push(out);
                }
                // The outgoing entries are durable before the received one goes. They are
                // claimed, so this task delivers them right away from memory instead of the
                // dispatcher reading them back from the spool.
                let parent = envelope.id.clone();
                let ready = self
                    .blocking(move |spool| {
                        let release = |outs: &[Outgoing]| {
                            outs.iter().for_each(|o| spool.release(&o.envelope.id))
                        };
                        for (n, out) in ready.iter().enumerate() {
                            if let Err(e) = spool.accept_claimed(&out.envelope, &out.message) {
                                release(&ready[..n]);
                                return Err(e);
                            }
                        }
                        if let Err(e) = spool.remove_finished(&parent) {
                            release(&ready);
                            return Err(e);
                        }
                        Ok(ready)
                    })
                    .await?;
                let mut result = Ok(());
                for out in ready {
                    let id = out.envelope.id.clone();
                    let r = self.deliver(out.envelope, Some(out.message)).await;
                    self.spool.release(&id);
                    if let Err(e) = r {
                        tracing::error!(queue_id = %id, error = %e, "queue entry left for the next pass");
                        result = Err(e);
                    }
                }
                result
            }
            Err(e) => {
                let now = now_millis();
                let expired = self.retry.expired(envelope.received_at, now);
                let reason = e.to_string();
                if e.is_permanent() || expired {
                    let failed = self.fail_pending(&mut envelope, &reason, now);
                    self.bounce(&envelope, &failed, &message).await?;
                    return self.remove(&envelope.id).await;
                }
                tracing::info!(queue_id = %envelope.id, reason, "processing postponed");
                for r in envelope.recipients.iter_mut().filter(|r| r.is_pending()) {
                    r.attempts += 1;
                    r.next_attempt = self.retry.next_attempt(now, r.attempts);
                    r.last_error = Some(reason.clone());
                }
                self.blocking(move |s| s.update(&envelope)).await
            }
        }
    }

    /// One delivery attempt for the due recipients of an outgoing entry. `message` is its
    /// bytes when the caller has them (just written), else they are read from the spool.
    async fn deliver(
        &self,
        mut envelope: Envelope,
        message: Option<Vec<u8>>,
    ) -> Result<(), SpoolError> {
        if envelope.is_done() {
            return self.remove(&envelope.id).await;
        }
        let message = match message {
            Some(m) => m,
            None => {
                let id = envelope.id.clone();
                self.blocking(move |s| s.message(&id)).await?
            }
        };
        let now = now_millis();
        let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in envelope.pending().filter(|r| r.next_attempt <= now) {
            by_domain
                .entry(domain_of(&r.address))
                .or_default()
                .push(r.address.clone());
        }
        let mut failed = Vec::new();
        for (domain, rcpts) in by_domain {
            let results = self
                .transport
                .deliver_domain(
                    &envelope.next_hop,
                    &domain,
                    &rcpts,
                    &envelope.mail_from,
                    &message,
                )
                .await;
            let now = now_millis();
            for res in results {
                let Some(r) = envelope
                    .recipients
                    .iter_mut()
                    .find(|r| r.is_pending() && r.address == res.address)
                else {
                    continue;
                };
                r.attempts += 1;
                match res.result {
                    Ok(reply) => {
                        tracing::info!(queue_id = %envelope.id, conn = envelope.connection, to = %r.address, reply, "delivered");
                        r.state = RecipientState::Delivered { at: now, reply };
                    }
                    Err(e) if e.is_permanent() => {
                        tracing::info!(queue_id = %envelope.id, conn = envelope.connection, to = %r.address, error = %e, "delivery failed permanently; bouncing");
                        failed.push((r.address.clone(), e.to_string()));
                        r.state = RecipientState::Failed {
                            at: now,
                            reason: e.to_string(),
                        };
                    }
                    Err(e) => {
                        r.last_error = Some(e.to_string());
                        r.next_attempt = self.retry.next_attempt(now, r.attempts);
                        tracing::info!(queue_id = %envelope.id, conn = envelope.connection, to = %r.address, error = %e, attempts = r.attempts, "delivery deferred");
                    }
                }
            }
        }
        let now = now_millis();
        if self.retry.expired(envelope.received_at, now) {
            let reason = "expired: could not be delivered for 96 hours";
            failed.extend(self.fail_pending(&mut envelope, reason, now));
        }
        // The entry is updated (or, when every recipient is done, removed) before the bounce
        // is queued: a crash between the two loses a bounce, never re-sends a delivered
        // message. A finished entry is removed without being rewritten first: the removal is
        // as durable as the rewrite, and one fsync cheaper. With no bounce to follow, the
        // removal does not wait for a directory sync: a power loss right after it can only
        // bring the entry back (a duplicate delivery, as with Postfix), never lose one.
        let done = envelope.is_done();
        let bounces = !failed.is_empty();
        let id = envelope.id.clone();
        let written = envelope.clone();
        self.blocking(move |s| match (done, bounces) {
            (true, true) => s.remove(&written.id),
            (true, false) => s.remove_finished(&written.id),
            (false, _) => s.update(&written),
        })
        .await?;
        self.bounce(&envelope, &failed, &message).await?;
        if done {
            tracing::debug!(queue_id = %id, "queue entry finished");
        }
        Ok(())
    }

    fn fail_pending(
        &self,
        envelope: &mut Envelope,
        reason: &str,
        now: Millis,
    ) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for r in envelope.recipients.iter_mut().filter(|r| r.is_pending()) {
            let why = match &r.last_error {
                Some(last) => format!("{reason} (last error: {last})"),
                None => reason.to_string(),
            };
            failed.push((r.address.clone(), why.clone()));
            r.state = RecipientState::Failed {
                at: now,
                reason: why,
            };
        }
        failed
    }

    /// Queues a non-delivery report to the sender, unless there is nobody to tell (null
    /// sender) or the failed message was itself a bounce (no bounce loops).
    async fn bounce(
        &self,
        envelope: &Envelope,
        failed: &[(String, String)],
        original: &[u8],
    ) -> Result<(), SpoolError> {
        if failed.is_empty() || envelope.is_bounce || envelope.mail_from.is_empty() {
            return Ok(());
        }
        let Some((message, next_hop)) = self.path.bounce(envelope, failed, original) else {
            return Ok(());
        };
        let bounce = Envelope::bounce_for(envelope, message.len(), next_hop);
        tracing::info!(queue_id = %bounce.id, to = %envelope.mail_from, about = %envelope.id, "bounce queued");
        self.blocking(move |s| s.accept(&bounce, &message)).await
    }

    /// Deletes a queued message (the sender is not told, as the guide says).
    pub fn delete(&self, id: &str) -> Result<(), SpoolError> {
        self.spool.envelope(id)?;
        self.spool.remove(id)
    }

    /// Makes every pending recipient of a message due now.
    pub fn retry_now(&self, id: &str) -> Result<(), SpoolError> {
        let mut envelope = self.spool.envelope(id)?;
        for r in envelope.recipients.iter_mut().filter(|r| r.is_pending()) {
            r.next_attempt = 0;
        }
        self.spool.update(&envelope)?;
        self.wake();
        Ok(())
    }
}
