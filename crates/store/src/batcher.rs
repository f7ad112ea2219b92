//! Write batching: commands queued by many callers leave as one request.
//!
//! A [`Batcher`] takes everything queued when it is free to send (up to [`MAX_BATCH`] commands),
//! hands it to its handler as one [`Request`], and answers each caller with its own outcome. At
//! most `slots` requests are in flight; while all are busy, new commands queue and form the next,
//! larger batch. Each member runs two:
//! - `writes` (several slots): its callers' commands, routed to the leader (forwarded if another
//!   member leads);
//! - `proposals` (one slot, used while it leads): everything routed to it, from itself and from
//!   other members, appended as one Raft log entry per batch. One entry at a time is what keeps
//!   entries large: the log, replication and commit cost per entry, not per command.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::command::{Command, CommandOutcome};
use crate::node::WriteError;
use crate::types::{Request, Response};

/// Most commands in one batch.
pub(crate) const MAX_BATCH: usize = 4096;

struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<CommandOutcome, WriteError>>,
}

pub(crate) struct Batcher {
    tx: mpsc::Sender<Pending>,
}

impl Batcher {
    pub(crate) fn start<H, Fut>(slots: usize, handler: H) -> Self
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response, WriteError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(65536);
        tokio::spawn(run(rx, slots, Arc::new(handler)));
        Batcher { tx }
    }

    /// Queues commands and waits for their outcomes, in order.
    pub(crate) async fn submit(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<CommandOutcome>, WriteError> {
        let mut waiting = Vec::with_capacity(commands.len());
        for command in commands {
            let (reply, rx) = oneshot::channel();
            self.tx
                .send(Pending { command, reply })
                .await
                .map_err(|_| WriteError::ShuttingDown)?;
            waiting.push(rx);
        }
        let mut outcomes = Vec::with_capacity(waiting.len());
        for rx in waiting {
            outcomes.push(rx.await.map_err(|_| WriteError::ShuttingDown)??);
        }
        Ok(outcomes)
    }
}

async fn run<H, Fut>(mut rx: mpsc::Receiver<Pending>, slots: usize, handler: Arc<H>)
where
    H: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, WriteError>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(slots.max(1)));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let handler = handler.clone();
        tokio::spawn(async move {
            let (commands, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|p| (p.command, p.reply)).unzip();
            let expected = replies.len();
            match handler(Request { commands }).await {
                Ok(resp) if resp.outcomes.len() == expected => {
                    for (reply, outcome) in replies.into_iter().zip(resp.outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(resp) => {
                    let e = WriteError::Failed(format!(
                        "{} outcomes for {expected} commands",
                        resp.outcomes.len()
                    ));
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}
