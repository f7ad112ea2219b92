//! The Raft log and vote on the storage backend (openraft's `RaftLogStorage`).
//!
//! Appends are group-committed: `append` writes the entries and hands the flush callback to one
//! flusher task, which makes everything written so far durable with a single fsync and then
//! completes every callback it collected. Under load many appends share one fsync, which is what
//! lets the cluster acknowledge thousands of writes per second.

// openraft's storage traits fix the error type (StorageError, about 200 bytes); helpers here
// return what the traits need.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, RaftLogReader};
use tokio::sync::mpsc;

use crate::StoreError;
use crate::backend::{Backend, Batch, Tree, flush_off_thread};
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
        flush_off_thread(self.backend.clone())
            .await
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
        let result = flush_off_thread(backend.clone())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()));
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

#[cfg(test)]
mod tests {
    use std::ops::Bound;

    use openraft::storage::RaftLogStorageExt;
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::backend::SledBackend;
    use crate::command::Command;
    use crate::types::Request;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn log_id(term: u64, index: u64) -> LogId {
        openraft::LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(Request {
                commands: vec![Command::AddManagedDomain {
                    name: format!("d{index}.example.org"),
                    at: term * 1_000 + index,
                }],
            }),
        }
    }

    fn ids(entries: &[Entry]) -> Vec<LogId> {
        entries.iter().map(|e| e.log_id).collect()
    }

    /// A log store on a real sled database, with its directory and backend.
    type Opened = (tempfile::TempDir, Arc<dyn Backend>, LogStore);

    fn open() -> Result<Opened, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir.path())?);
        let store = LogStore::open(backend.clone())?;
        Ok((dir, backend, store))
    }

    #[tokio::test]
    async fn append_read_truncate_purge() -> TestResult {
        let (_dir, _backend, mut store) = open()?;
        let state = store.get_log_state().await?;
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(state.last_log_id, None);

        store.blocking_append((1..=5).map(|i| entry(1, i))).await?;
        let mut reader = store.get_log_reader().await;

        let read = reader.try_get_log_entries(2..4).await?;
        assert_eq!(ids(&read), vec![log_id(1, 2), log_id(1, 3)]);
        match &read[0].payload {
            EntryPayload::Normal(request) => assert_eq!(
                request.commands,
                vec![Command::AddManagedDomain {
                    name: "d2.example.org".into(),
                    at: 1_002,
                }]
            ),
            other => panic!("payload not kept: {other:?}"),
        }
        assert_eq!(
            ids(&reader.try_get_log_entries(..).await?),
            (1..=5).map(|i| log_id(1, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            ids(&reader.try_get_log_entries(4..).await?),
            vec![log_id(1, 4), log_id(1, 5)]
        );
        assert_eq!(
            ids(&reader
                .try_get_log_entries((Bound::Excluded(1), Bound::Included(3)))
                .await?),
            vec![log_id(1, 2), log_id(1, 3)]
        );
        assert!(reader.try_get_log_entries(3..3).await?.is_empty());
        assert!(reader.try_get_log_entries(6..).await?.is_empty());
        assert_eq!(store.get_log_state().await?.last_log_id, Some(log_id(1, 5)));

        // Truncate from index 4 on (inclusive), then a new leader overwrites from there.
        store.truncate(log_id(1, 4)).await?;
        assert_eq!(
            ids(&reader.try_get_log_entries(..).await?),
            vec![log_id(1, 1), log_id(1, 2), log_id(1, 3)]
        );
        assert_eq!(store.get_log_state().await?.last_log_id, Some(log_id(1, 3)));
        store
            .blocking_append(vec![entry(2, 4), entry(2, 5), entry(2, 6)])
            .await?;
        assert_eq!(
            ids(&reader.try_get_log_entries(3..).await?),
            vec![log_id(1, 3), log_id(2, 4), log_id(2, 5), log_id(2, 6)]
        );

        // Purge up to index 2 (inclusive).
        store.purge(log_id(1, 2)).await?;
        assert_eq!(
            ids(&reader.try_get_log_entries(..).await?),
            vec![log_id(1, 3), log_id(2, 4), log_id(2, 5), log_id(2, 6)]
        );
        let state = store.get_log_state().await?;
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        assert_eq!(state.last_log_id, Some(log_id(2, 6)));

        // Purging everything: the last log id is the purge point.
        store.purge(log_id(2, 6)).await?;
        assert!(reader.try_get_log_entries(..).await?.is_empty());
        let state = store.get_log_state().await?;
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 6)));
        assert_eq!(state.last_log_id, Some(log_id(2, 6)));

        // Appending continues after the purge point.
        store.blocking_append(vec![entry(3, 7)]).await?;
        let state = store.get_log_state().await?;
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 6)));
        assert_eq!(state.last_log_id, Some(log_id(3, 7)));
        Ok(())
    }

    #[tokio::test]
    async fn vote_and_committed_are_saved() -> TestResult {
        let (_dir, backend, mut store) = open()?;
        assert_eq!(store.read_vote().await?, None);
        assert_eq!(store.read_committed().await?, None);

        let vote = Vote::new(1, 1);
        store.save_vote(&vote).await?;
        assert_eq!(store.read_vote().await?, Some(vote));
        let vote = Vote::new_committed(2, 3);
        store.save_vote(&vote).await?;
        assert_eq!(store.read_vote().await?, Some(vote));

        store.save_committed(Some(log_id(2, 9))).await?;
        assert_eq!(store.read_committed().await?, Some(log_id(2, 9)));
        store.save_committed(None).await?;
        assert_eq!(store.read_committed().await?, None);
        store.save_committed(Some(log_id(2, 10))).await?;

        // Another store over the same backend (as after a restart) sees them, and the log.
        store.blocking_append(vec![entry(2, 10)]).await?;
        let mut again = LogStore::open(backend)?;
        assert_eq!(again.read_vote().await?, Some(vote));
        assert_eq!(again.read_committed().await?, Some(log_id(2, 10)));
        assert_eq!(
            again.get_log_state().await?.last_log_id,
            Some(log_id(2, 10))
        );

        // reset forgets log, vote and committed.
        again.reset()?;
        assert_eq!(again.read_vote().await?, None);
        assert_eq!(again.read_committed().await?, None);
        let state = again.get_log_state().await?;
        assert_eq!(state.last_log_id, None);
        assert_eq!(state.last_purged_log_id, None);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_all_complete() -> TestResult {
        let (_dir, _backend, mut store) = open()?;
        let mut tasks = Vec::new();
        for i in 1..=20u64 {
            let mut s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.blocking_append(vec![entry(1, i)]).await
            }));
        }
        for task in tasks {
            task.await??;
        }
        let mut reader = store.get_log_reader().await;
        assert_eq!(
            ids(&reader.try_get_log_entries(..).await?),
            (1..=20).map(|i| log_id(1, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            store.get_log_state().await?.last_log_id,
            Some(log_id(1, 20))
        );
        Ok(())
    }
}
