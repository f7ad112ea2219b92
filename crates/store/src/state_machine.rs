//! The state machine and its snapshots (openraft's `RaftStateMachine`).
//!
//! Applying a group of entries is one atomic backend batch that also records the last applied log
//! id and membership, so the state is always exactly "the log up to some index". It is not
//! fsynced per apply: the log is durable, and a member that crashes re-applies from its recorded
//! index. Before a snapshot is kept (and the log behind it purged) everything is flushed.
//!
//! A snapshot is every data pair of the state tree, postcard-encoded, stored whole in the
//! `snapshot` tree. Installing one replaces the state in a single batch.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder};

use crate::StoreError;
use crate::backend::{Backend, Batch, Pair, Tree, flush_off_thread};
use crate::state::{self, StateView, Txn, decode, encode, keys};
use crate::types::{
    Entry, LogId, Response, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const SNAPSHOT_META: &[u8] = b"meta";
const SNAPSHOT_DATA: &[u8] = b"data";

/// Decodes a whole snapshot body: trailing bytes mean it is damaged.
pub(crate) fn decode_exact(data: &[u8]) -> Result<Vec<Pair>, StoreError> {
    let (pairs, rest) = postcard::take_from_bytes::<Vec<Pair>>(data)
        .map_err(|e| StoreError::Decode(format!("snapshot: {e}")))?;
    if !rest.is_empty() {
        return Err(StoreError::Decode(format!(
            "snapshot: {} trailing bytes",
            rest.len()
        )));
    }
    Ok(pairs)
}

fn store_snapshot(
    snapshots: &dyn Tree,
    meta: &SnapshotMeta,
    data: &[u8],
) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    batch.insert(SNAPSHOT_META.to_vec(), encode(meta)?);
    batch.insert(SNAPSHOT_DATA.to_vec(), data.to_vec());
    snapshots.apply(batch)
}

pub struct StateMachine {
    backend: Arc<dyn Backend>,
    state: Arc<dyn Tree>,
    snapshots: Arc<dyn Tree>,
}

fn sm_err(verb: ErrorVerb, e: StoreError) -> StorageError {
    openraft::StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

fn snap_err(verb: ErrorVerb, e: StoreError) -> StorageError {
    openraft::StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

impl StateMachine {
    pub(crate) fn open(backend: Arc<dyn Backend>) -> Result<Self, StoreError> {
        let state = backend.tree("state")?;
        let snapshots = backend.tree("snapshot")?;
        Ok(StateMachine {
            backend,
            state,
            snapshots,
        })
    }

    pub fn view(&self) -> StateView {
        StateView::new(self.state.clone())
    }

    fn applied(&self) -> Result<(Option<LogId>, StoredMembership), StoreError> {
        let applied = match self.state.get(keys::APPLIED)? {
            Some(v) => decode(&v)?,
            None => None,
        };
        let membership = match self.state.get(keys::MEMBERSHIP)? {
            Some(v) => decode(&v)?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    /// Replaces the whole state with `pairs` and the given log position, atomically.
    fn replace_state(&self, pairs: Vec<Pair>, meta: &SnapshotMeta) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for (k, _) in self.state.scan_prefix(b"")? {
            batch.remove(k);
        }
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        batch.insert(keys::APPLIED.to_vec(), encode(&meta.last_log_id)?);
        batch.insert(keys::MEMBERSHIP.to_vec(), encode(&meta.last_membership)?);
        self.state.apply(batch)
    }

    fn stored_snapshot(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        let (Some(meta), Some(data)) = (
            self.snapshots.get(SNAPSHOT_META)?,
            self.snapshots.get(SNAPSHOT_DATA)?,
        ) else {
            return Ok(None);
        };
        Ok(Some((decode(&meta)?, data)))
    }

    /// Forgets the Raft position while keeping the data: used when a member leaves its cluster
    /// and starts a new one of its own with what it had.
    pub(crate) fn reset_position(&self) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.remove(keys::APPLIED.to_vec());
        batch.remove(keys::MEMBERSHIP.to_vec());
        self.state.apply(batch)?;
        self.snapshots.clear()?;
        self.backend.flush()
    }
}

/// The state captured for one snapshot.
struct Captured {
    pairs: Vec<Pair>,
    applied: Option<LogId>,
    membership: StoredMembership,
}

pub struct SnapshotBuilder {
    backend: Arc<dyn Backend>,
    snapshots: Arc<dyn Tree>,
    captured: Result<Captured, String>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let captured = self
            .captured
            .as_ref()
            .map_err(|e| snap_err(ErrorVerb::Read, StoreError::Backend(e.clone())))?;
        let data = encode(&captured.pairs).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let snapshot_id = match &captured.applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id: captured.applied,
            last_membership: captured.membership.clone(),
            snapshot_id,
        };
        store_snapshot(self.snapshots.as_ref(), &meta, &data)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        // Flush state and snapshot before openraft may purge the log behind this snapshot.
        flush_off_thread(self.backend.clone())
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.applied().map_err(|e| sm_err(ErrorVerb::Read, e))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let werr = |e| sm_err(ErrorVerb::Write, e);
        let mut txn = Txn::new(self.state.as_ref());
        let mut responses = Vec::new();
        let mut last = None;
        for entry in entries {
            last = Some(entry.log_id);
            let response = match &entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(request) => {
                    let mut outcomes = Vec::with_capacity(request.commands.len());
                    for command in &request.commands {
                        outcomes.push(state::apply(&mut txn, command).map_err(werr)?);
                    }
                    Response { outcomes }
                }
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                    txn.put(keys::MEMBERSHIP.to_vec(), &stored).map_err(werr)?;
                    Response::default()
                }
            };
            responses.push(response);
        }
        if last.is_some() {
            txn.put(keys::APPLIED.to_vec(), &last).map_err(werr)?;
            self.state.apply(txn.into_batch()).map_err(werr)?;
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Captured here, between applies, so the snapshot is one consistent log position.
        // openraft gives this method no error path: a read failure is kept and reported by
        // build_snapshot, never turned into an empty or position-less snapshot.
        let captured = self.state.scan_prefix(b"").and_then(|pairs| {
            let data = pairs
                .into_iter()
                .filter(|(k, _)| !k.starts_with(keys::META_PREFIX))
                .collect();
            let (applied, membership) = self.applied()?;
            Ok(Captured {
                pairs: data,
                applied,
                membership,
            })
        });
        SnapshotBuilder {
            backend: self.backend.clone(),
            snapshots: self.snapshots.clone(),
            captured: captured.map_err(|e| e.to_string()),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let pairs: Vec<Pair> = decode_exact(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        store_snapshot(self.snapshots.as_ref(), meta, &data)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.replace_state(pairs, meta)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        flush_off_thread(self.backend.clone())
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        tracing::info!(snapshot = %meta.snapshot_id, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self
            .stored_snapshot()
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
            .map(|(meta, data)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data)),
            }))
    }
}

#[cfg(test)]
mod tests;
