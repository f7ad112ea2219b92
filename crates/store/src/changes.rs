//! A change signal for readers that keep their own view of the replicated state current (the
//! keyserver's published-key directory): after every write to the state tree, which consumers
//! and whether the organization's items changed. Applied on every member, leader or follower,
//! because it watches the state tree itself rather than the write path.
//!
//! A receiver that falls behind gets `Lagged` from the channel and should rebuild from the
//! state; so does anyone who sees `everything` (a snapshot install or a restore).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::StoreError;
use crate::backend::{Backend, Batch, Pair, Tree};

/// One write's worth of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChange {
    /// Consumer keys (`EmailAddress::key()` form) written or removed.
    pub consumers: Vec<String>,
    /// An organization item (Organization Key, VD key, …) was written or removed.
    pub organization: bool,
    /// A Verified Directory entry was written or removed.
    pub verified_directory: bool,
    /// Too much changed to list (state replaced): rebuild.
    pub everything: bool,
}

/// Beyond this many changed consumers in one write, listing them costs more than a rebuild.
const MAX_LISTED: usize = 10_000;

/// The sending side, shared by the observed tree and the node.
#[derive(Clone)]
pub struct Changes {
    tx: broadcast::Sender<StateChange>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Changes {
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.tx.subscribe()
    }

    fn publish(&self, change: StateChange) {
        // No subscribers is normal (no keyserver running).
        let _ = self.tx.send(change);
    }
}

/// A backend whose `state` tree reports its writes to [`Changes`].
pub(crate) struct ObservedBackend {
    inner: Arc<dyn Backend>,
    changes: Changes,
}

impl ObservedBackend {
    pub(crate) fn new(inner: Arc<dyn Backend>, changes: Changes) -> Self {
        ObservedBackend { inner, changes }
    }
}

impl Backend for ObservedBackend {
    fn tree(&self, name: &str) -> Result<Arc<dyn Tree>, StoreError> {
        let tree = self.inner.tree(name)?;
        if name != "state" {
            return Ok(tree);
        }
        Ok(Arc::new(ObservedTree {
            inner: tree,
            changes: self.changes.clone(),
        }))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
}

struct ObservedTree {
    inner: Arc<dyn Tree>,
    changes: Changes,
}

fn describe(batch: &Batch) -> Option<StateChange> {
    let consumer = crate::state::keys::CONSUMER.as_bytes();
    let organization = crate::state::keys::ORGANIZATION.as_bytes();
    let mut change = StateChange::default();
    for (key, _) in &batch.ops {
        if let Some(rest) = key.strip_prefix(consumer) {
            if change.consumers.len() >= MAX_LISTED {
                return Some(StateChange {
                    everything: true,
                    ..StateChange::default()
                });
            }
            change
                .consumers
                .push(String::from_utf8_lossy(rest).into_owned());
        } else if key.starts_with(organization) {
            change.organization = true;
        } else if key.starts_with(crate::state::keys::VD_ENTRY.as_bytes()) {
            change.verified_directory = true;
        }
    }
    (change.organization || change.verified_directory || !change.consumers.is_empty())
        .then_some(change)
}

impl Tree for ObservedTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        self.inner.scan_prefix(prefix)
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StoreError> {
        self.inner.range(start, end, limit)
    }

    fn for_each_prefix(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.for_each_prefix(prefix, visit)
    }

    fn first(&self) -> Result<Option<Pair>, StoreError> {
        self.inner.first()
    }

    fn last(&self) -> Result<Option<Pair>, StoreError> {
        self.inner.last()
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let change = describe(&batch);
        self.inner.apply(batch)?;
        if let Some(change) = change {
            self.changes.publish(change);
        }
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()?;
        self.changes.publish(StateChange {
            everything: true,
            ..StateChange::default()
        });
        Ok(())
    }
}
