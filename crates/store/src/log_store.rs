//! The Raft log and vote on the storage backend (openraft's `RaftLogStorage`).
//!
//! Appends are group-committed: `append` writes the entries and hands the flush callback to one
//! flusher task, which makes everything written so far durable with a single fsync and then
//! completes every callback it collected. Under load many appends share one fsync, which is what
//! lets the cluster acknowledge thousands of writes per second.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader};
use tokio::sync::mpsc;

use crate::StoreError;
use crate::backend::{Backend, Batch, Tree};
use crate::state::{decode, encode};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last-purged";
const COMMITTED: &[u8] = b"committed";

#[derive(Clone)]
pub struct LogStore {
    backend: Arc<dyn Backend>,
    log: Arc<dyn Tree>,
    meta: Arc<dyn Tree>,
    flusher: mpsc::UnboundedSender<LogFlushed<TypeConfig>>,
}

fn io_err(subject: ErrorSubject<u64>, verb: ErrorVerb, e: StoreError) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

fn read_err(e: StoreError) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Read, e)
}

fn write_err(e: StoreError) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Write, e)
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    pub(crate) fn open(backend: Arc<dyn Backend>) -> Result<Self, StoreError> {
        let log = backend.tree("raft-log")?;
        let meta = backend.tree("raft-meta")?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(flusher(backend.clone(), rx));
        Ok(LogStore {
            backend,
            log,
            meta,
            flusher: tx,
        })
    }

    /// Forgets the whole log and vote: used when a member leaves its cluster to start its own.
    pub(crate) fn reset(&self) -> Result<(), StoreError> {
        self.log.clear()?;
        self.meta.clear()?;
        self.backend.flush()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        self.meta
            .get(key)
            .map_err(read_err)?
            .map(|v| decode(&v))
            .transpose()
            .map_err(read_err)
    }

    fn put_meta<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let mut b = Batch::default();
        b.insert(key.to_vec(), encode(value).map_err(write_err)?);
        self.meta.apply(b).map_err(write_err)
    }

    async fn flush(&self) -> Result<(), StorageError> {
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || backend.flush())
            .await
            .map_err(|e| write_err(StoreError::Backend(e.to_string())))?
            .map_err(write_err)
    }
}

/// Completes flush callbacks in order, one fsync for everything queued since the last one.
async fn flusher(
    backend: Arc<dyn Backend>,
    mut rx: mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>,
) {
    while let Some(first) = rx.recv().await {
        let mut pending = vec![first];
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let b = backend.clone();
        let result = match tokio::task::spawn_blocking(move || b.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(std::io::Error::other(e.to_string())),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        for callback in pending {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            callback.log_io_completed(r);
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        self.log
            .range(&index_key(start), &index_key(end), usize::MAX)
            .map_err(read_err)?
            .iter()
            .map(|(_, v)| decode::<Entry>(v).map_err(read_err))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = match self.log.last().map_err(read_err)? {
            Some((_, v)) => Some(decode::<Entry>(&v).map_err(read_err)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)?;
        // A vote must be durable before it is answered.
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Made durable with the next flush; losing it only delays re-applying on restart.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = Batch::default();
        for entry in entries {
            batch.insert(
                index_key(entry.log_id.index).to_vec(),
                encode(&entry).map_err(write_err)?,
            );
        }
        self.log.apply(batch).map_err(write_err)?;
        if let Err(mpsc::error::SendError(callback)) = self.flusher.send(callback) {
            // The flusher is gone only while the runtime shuts down; flush inline then.
            let r = self
                .flush()
                .await
                .map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(r);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = Batch::default();
        for (k, _) in self
            .log
            .range(&index_key(log_id.index), &index_key(u64::MAX), usize::MAX)
            .map_err(write_err)?
        {
            batch.remove(k);
        }
        self.log.apply(batch).map_err(write_err)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra entries, never a hole.
        self.put_meta(LAST_PURGED, &log_id)?;
        self.flush().await?;
        let mut batch = Batch::default();
        for (k, _) in self
            .log
            .range(&index_key(0), &index_key(log_id.index + 1), usize::MAX)
            .map_err(write_err)?
        {
            batch.remove(k);
        }
        self.log.apply(batch).map_err(write_err)
    }
}
