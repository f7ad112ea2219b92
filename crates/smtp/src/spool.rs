//! The durable spool: every message the proxies accept, with each recipient's state.
//!
//! A queue entry is one file, `<id>.msg`: the [`Envelope`] (sender, recipients and their
//! states) as one line of JSON, then the message bytes exactly as received. The 250 reply goes
//! out only after [`Spool::accept`] returns, and that returns only after the file and its
//! directory entry are on disk. So `kill -9` at any moment loses nothing that was acknowledged:
//!
//! - the file is written under a temporary name (`<id>.msg.tmp`), synced, renamed to its
//!   name, and then the directory is synced; a temporary file left by a crash was never
//!   acknowledged and is removed on open;
//! - every change of a recipient's state rewrites the file the same way, so a reader sees the
//!   old envelope or the new one, never half of one;
//! - directory syncs are group-committed ([`DirSync`]): writers that finish their rename
//!   while a directory `fsync` is running wait for the next one, which then covers them all.
//!
//! Envelope and message share one file so that accepting a message costs one file sync and
//! (a share of) one directory sync, instead of two of each.
//!
//! Ids are time-ordered (milliseconds, then random), so listing the directory in name order
//! gives the queue in arrival order.
//!
//! The files are the durable truth; beside them every [`Spool`] clone shares an in-memory index
//! of the envelopes, loaded once on open and kept up to date by `accept`, `update` and
//! `remove` after each durable write. The queue runner finds due work there
//! ([`Spool::claim_due`]) instead of reading every envelope on every wake.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::SpoolError;
use crate::routes::NextHop;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a queue entry is in the mail path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// As received: policy has not been applied yet.
    Received,
    /// Policy applied and the message transformed: ready for delivery to its recipients.
    Outgoing,
}

/// Which way a message travels (the Unified proxy decides it from the client's address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One recipient's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecipientState {
    /// Waiting for its first attempt, or for the next one after a temporary failure.
    Pending,
    Delivered {
        at: Millis,
        reply: String,
    },
    /// Permanently failed; a bounce was (or will be) sent to the sender.
    Failed {
        at: Millis,
        reason: String,
    },
    /// Dropped by policy (Drop action) or removed by an administrator.
    Removed {
        at: Millis,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    #[serde(flatten)]
    pub state: RecipientState,
    pub attempts: u32,
    /// When the next attempt is due (Pending only).
    pub next_attempt: Millis,
    /// The last temporary failure, for the queue view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Recipient {
    pub fn pending(address: impl Into<String>) -> Self {
        Recipient {
            address: address.into(),
            state: RecipientState::Pending,
            attempts: 0,
            next_attempt: 0,
            last_error: None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.state == RecipientState::Pending
    }
}

/// Everything about a queued message except its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub stage: Stage,
    pub direction: Direction,
    /// The reverse path; empty for bounces (`MAIL FROM:<>`).
    pub mail_from: String,
    pub recipients: Vec<Recipient>,
    pub received_at: Millis,
    /// The connection the message came in on, for the logs ("conn 12").
    pub connection: u64,
    pub client_ip: String,
    /// The received entry this one was made from (Outgoing entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// A bounce must not itself bounce.
    #[serde(default)]
    pub is_bounce: bool,
    /// The message size in bytes.
    pub size: u64,
    /// How an outgoing entry leaves (set when policy has been applied).
    #[serde(default)]
    pub next_hop: NextHop,
}

impl Envelope {
    /// A non-delivery report about `original`, from the null sender to its sender. Bounces
    /// are server-made mail: they are outgoing at once and never bounce themselves.
    pub fn bounce_for(original: &Envelope, size: usize, next_hop: NextHop) -> Envelope {
        Envelope {
            id: Spool::new_id(),
            stage: Stage::Outgoing,
            direction: Direction::Inbound,
            mail_from: String::new(),
            recipients: vec![Recipient::pending(original.mail_from.clone())],
            received_at: now_millis(),
            connection: original.connection,
            client_ip: String::new(),
            parent: Some(original.id.clone()),
            is_bounce: true,
            size: size as u64,
            next_hop,
        }
    }

    pub fn pending(&self) -> impl Iterator<Item = &Recipient> {
        self.recipients.iter().filter(|r| r.is_pending())
    }

    /// The earliest time a pending recipient is due, if any is pending.
    pub fn next_due(&self) -> Option<Millis> {
        self.pending().map(|r| r.next_attempt).min()
    }

    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }
}

/// The envelopes in the spool, and which of them are waiting for the queue runner.
#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Envelope>,
    /// Entries not claimed by the queue runner, by when they are next due.
    due: BTreeSet<(Millis, String)>,
    /// Entries the queue runner is working on: they are not handed out again until released.
    claimed: HashSet<String>,
}

/// When the queue runner should look at an entry: its earliest pending recipient, or now when
/// nothing is pending (it is finished and only needs removing).
fn due_of(envelope: &Envelope) -> Millis {
    envelope.next_due().unwrap_or(0)
}

impl Index {
    fn put(&mut self, envelope: &Envelope) {
        if let Some(old) = self.entries.get(&envelope.id) {
            self.due.remove(&(due_of(old), envelope.id.clone()));
        }
        if !self.claimed.contains(&envelope.id) {
            self.due.insert((due_of(envelope), envelope.id.clone()));
        }
        self.entries.insert(envelope.id.clone(), envelope.clone());
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.entries.remove(id) {
            self.due.remove(&(due_of(&old), id.to_string()));
        }
    }
}

/// The spool directory of one node.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    index: Arc<Mutex<Index>>,
    dir_sync: Arc<DirSync>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and clears what a crash can leave behind:
    /// temporary files, and messages whose envelope was never written (never acknowledged).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| SpoolError::io("creating", &dir, e))?;
        let spool = Spool {
            dir,
            index: Arc::default(),
            dir_sync: Arc::default(),
        };
        spool.recover()?;
        let envelopes = spool.list()?;
        let mut index = spool.index();
        for e in &envelopes {
            index.put(e);
        }
        drop(index);
        Ok(spool)
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves the index as consistent as any single update.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims up to `max` entries due at `now`, oldest due first; they are not handed out again
    /// until [`Spool::release`]. Also returns when the next unclaimed entry is due.
    pub fn claim_due(&self, now: Millis, max: usize) -> (Vec<Envelope>, Option<Millis>) {
        let mut index = self.index();
        let mut out = Vec::new();
        while out.len() < max {
            let Some((due, id)) = index.due.first().cloned() else {
                break;
            };
            if due > now {
                break;
            }
            index.due.remove(&(due, id.clone()));
            if let Some(e) = index.entries.get(&id).cloned() {
                index.claimed.insert(id);
                out.push(e);
            }
        }
        let next = index.due.first().map(|(due, _)| *due);
        (out, next)
    }

    /// The queue runner is done with an entry for now: if it is still spooled, it becomes due
    /// again at its next attempt.
    pub fn release(&self, id: &str) {
        let mut index = self.index();
        index.claimed.remove(id);
        if let Some(e) = index.entries.get(id) {
            let key = (due_of(e), id.to_string());
            index.due.insert(key);
        }
    }

    /// How many entries the spool holds (from the index).
    pub fn len(&self) -> usize {
        self.index().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes what a crash can leave behind: temporary files (never acknowledged).
    fn recover(&self) -> Result<(), SpoolError> {
        for entry in fs::read_dir(&self.dir).map_err(|e| SpoolError::io("reading", &self.dir, e))? {
            let entry = entry.map_err(|e| SpoolError::io("reading", &self.dir, e))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                tracing::warn!(file = %path.display(), "removing a partly written spool file (never acknowledged)");
                fs::remove_file(&path).map_err(|e| SpoolError::io("removing", &path, e))?;
            }
        }
        Ok(())
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    /// A new, unique, time-ordered id.
    pub fn new_id() -> String {
        format!("{:013x}{:08x}", now_millis(), rand::random::<u32>())
    }

    /// Stores a message durably. When this returns `Ok`, the message survives a crash.
    pub fn accept(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SpoolError> {
        self.store(envelope, message, false)
    }

    /// Like [`Spool::accept`], for an entry the queue runner goes on to handle itself: it is
    /// claimed (see [`Spool::claim_due`]) from the moment it is in the index.
    pub fn accept_claimed(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SpoolError> {
        self.store(envelope, message, true)
    }

    fn store(&self, envelope: &Envelope, message: &[u8], claimed: bool) -> Result<(), SpoolError> {
        check_id(&envelope.id)?;
        self.write_entry(envelope, message)?;
        let mut index = self.index();
        if claimed {
            index.claimed.insert(envelope.id.clone());
        }
        index.put(envelope);
        Ok(())
    }

    /// Rewrites an envelope (a recipient's state changed), atomically and durably.
    pub fn update(&self, envelope: &Envelope) -> Result<(), SpoolError> {
        check_id(&envelope.id)?;
        let message = self.message(&envelope.id)?;
        self.write_entry(envelope, &message)?;
        self.index().put(envelope);
        Ok(())
    }

    fn write_entry(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SpoolError> {
        let json = serde_json::to_vec(envelope).map_err(SpoolError::Encode)?;
        write_durably(&self.entry_path(&envelope.id), &[&json, b"\n", message])?;
        self.dir_sync.sync(&self.dir)
    }

    fn open_entry(&self, id: &str) -> Result<(PathBuf, File), SpoolError> {
        check_id(id)?;
        let path = self.entry_path(id);
        match File::open(&path) {
            Ok(f) => Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SpoolError::NotFound(id.to_string()))
            }
            Err(e) => Err(SpoolError::io("reading", &path, e)),
        }
    }

    /// The envelope, read from the file (its first line only).
    pub fn envelope(&self, id: &str) -> Result<Envelope, SpoolError> {
        let (path, file) = self.open_entry(id)?;
        let mut line = Vec::new();
        BufReader::new(file)
            .read_until(b'\n', &mut line)
            .map_err(|e| SpoolError::io("reading", &path, e))?;
        if line.pop() != Some(b'\n') {
            return Err(SpoolError::Corrupt(path, "no envelope line".into()));
        }
        serde_json::from_slice(&line).map_err(|e| SpoolError::Corrupt(path, e.to_string()))
    }

    /// The message bytes (everything after the envelope line).
    pub fn message(&self, id: &str) -> Result<Vec<u8>, SpoolError> {
        let (path, mut file) = self.open_entry(id)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .map_err(|e| SpoolError::io("reading", &path, e))?;
        let Some(nl) = bytes.iter().position(|b| *b == b'\n') else {
            return Err(SpoolError::Corrupt(path, "no envelope line".into()));
        };
        Ok(bytes.split_off(nl + 1))
    }

    /// Every envelope in arrival order, read from the files (the queue view; the queue runner
    /// uses the index). A corrupt entry is reported and skipped, so one bad file cannot stop
    /// the queue.
    pub fn list(&self) -> Result<Vec<Envelope>, SpoolError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| SpoolError::io("reading", &self.dir, e))? {
            let entry = entry.map_err(|e| SpoolError::io("reading", &self.dir, e))?;
            if let Some(id) = entry.file_name().to_string_lossy().strip_suffix(".msg") {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.envelope(&id) {
                Ok(e) => out.push(e),
                Err(SpoolError::NotFound(_)) => {} // removed meanwhile
                Err(e) => tracing::error!(id, error = %e, "skipping a spool entry"),
            }
        }
        Ok(out)
    }

    /// Removes a message that an administrator deleted, durably: it does not come back.
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        self.remove_finished(id)?;
        self.dir_sync.sync(&self.dir)
    }

    /// Removes an entry the queue is done with (all recipients done, or its outgoing copies
    /// are durable), without waiting for a directory sync, as Postfix does not sync its queue
    /// directory on deletion either. The removal only matters to a power loss right after it:
    /// the entry may then come back and be handled again (a duplicate, never a lost message).
    /// Everything that must survive (the outgoing copies) was synced before this is called.
    pub fn remove_finished(&self, id: &str) -> Result<(), SpoolError> {
        check_id(id)?;
        // Out of the index first: nobody is handed an entry whose file is going.
        self.index().remove(id);
        let path = self.entry_path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SpoolError::io("removing", &path, e)),
        }
    }
}

/// Ids are made by [`Spool::new_id`] or come from the API: only hex and `-` are allowed, so an
/// id can never name a path outside the spool.
fn check_id(id: &str) -> Result<(), SpoolError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(SpoolError::BadId(id.to_string()));
    }
    Ok(())
}

/// Writes `path` so that after return it exists with exactly `parts`, even across a crash:
/// temporary file, fdatasync, rename. The caller syncs the directory.
fn write_durably(path: &Path, parts: &[&[u8]]) -> Result<(), SpoolError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| SpoolError::io("creating", &tmp, e))?;
    parts
        .iter()
        .try_for_each(|p| f.write_all(p))
        .and_then(|()| f.sync_data())
        .map_err(|e| SpoolError::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| SpoolError::io("renaming", &tmp, e))
}

/// Group commit of directory syncs. A caller's directory change (rename, unlink) is durable
/// once an `fsync` of the directory that *started* after the change has finished. Callers
/// take a ticket; one of them syncs for every ticket taken before its sync started, and the
/// others wait for it, so N concurrent writers cost about two directory syncs, not N.
#[derive(Debug, Default)]
struct DirSync {
    state: Mutex<SyncState>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets handed out so far (the last one's number).
    issued: u64,
    /// Every ticket up to this one is covered by a finished sync.
    covered: u64,
    running: bool,
}

impl DirSync {
    fn sync(&self, dir: &Path) -> Result<(), SpoolError> {
        let lock = || self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = lock();
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.covered >= ticket {
                return Ok(());
            }
            if st.running {
                st = self.finished.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.running = true;
            let upto = st.issued;
            drop(st);
            let result = sync_dir(dir);
            st = lock();
            st.running = false;
            if result.is_ok() {
                st.covered = st.covered.max(upto);
            }
            self.finished.notify_all();
            // On failure the waiters try a sync of their own and see their own result.
            result?;
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io("syncing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(id: &str) -> Envelope {
        Envelope {
            id: id.to_string(),
            stage: Stage::Received,
            direction: Direction::Outbound,
            mail_from: "alice@example.com".into(),
            recipients: vec![Recipient::pending("bob@ext.test")],
            received_at: 1,
            connection: 7,
            client_ip: "127.0.0.1".into(),
            parent: None,
            is_bounce: false,
            size: 5,
            next_hop: NextHop::Direct,
        }
    }

    #[test]
    fn accept_update_list_remove() -> Result<(), SpoolError> {
        let dir = tempfile::tempdir().map_err(|e| SpoolError::io("temp", Path::new("."), e))?;
        let spool = Spool::open(dir.path())?;
        let a = Spool::new_id();
        let mut e = envelope(&a);
        spool.accept(&e, b"hello")?;
        assert_eq!(spool.message(&a)?, b"hello");
        e.recipients[0].state = RecipientState::Delivered {
            at: 2,
            reply: "250 ok".into(),
        };
        spool.update(&e)?;
        assert_eq!(spool.envelope(&a)?, e);
        assert!(spool.envelope(&a)?.is_done());
        assert_eq!(spool.list()?.len(), 1);
        spool.remove(&a)?;
        assert!(spool.list()?.is_empty());
        assert!(matches!(spool.message(&a), Err(SpoolError::NotFound(_))));
        Ok(())
    }

    #[test]
    fn open_removes_what_was_never_acknowledged() -> Result<(), SpoolError> {
        let dir = tempfile::tempdir().map_err(|e| SpoolError::io("temp", Path::new("."), e))?;
        let spool = Spool::open(dir.path())?;
        spool.accept(&envelope("00aa"), b"kept")?;
        // A crash before the rename: never acknowledged.
        fs::write(dir.path().join("00bb.msg.tmp"), b"{\"id\":")
            .map_err(|e| SpoolError::io("w", dir.path(), e))?;
        let spool = Spool::open(dir.path())?;
        let ids: Vec<_> = spool.list()?.into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec!["00aa".to_string()]);
        assert_eq!(spool.message("00aa")?, b"kept");
        assert!(!dir.path().join("00bb.msg.tmp").exists());
        assert_eq!(
            spool.claim_due(now_millis(), 10).0.len(),
            1,
            "the index was loaded"
        );
        Ok(())
    }

    #[test]
    fn the_index_hands_out_due_work_once() -> Result<(), SpoolError> {
        let dir = tempfile::tempdir().map_err(|e| SpoolError::io("temp", Path::new("."), e))?;
        let spool = Spool::open(dir.path())?;
        let mut later = envelope("02");
        later.recipients[0].next_attempt = 5_000;
        spool.accept(&envelope("01"), b"x")?;
        spool.accept(&later, b"y")?;
        spool.accept_claimed(&envelope("03"), b"z")?;
        let (due, next) = spool.claim_due(1_000, 10);
        assert_eq!(
            due.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["01"]
        );
        assert_eq!(next, Some(5_000));
        assert!(
            spool.claim_due(1_000, 10).0.is_empty(),
            "claimed until released"
        );
        spool.release("01");
        spool.release("03");
        let (due, _) = spool.claim_due(1_000, 1);
        assert_eq!(due.len(), 1, "at most max");
        spool.remove("01")?;
        spool.remove("03")?;
        spool.release("01");
        assert_eq!(spool.claim_due(9_000, 10).0.len(), 1, "only 02 is left");
        assert_eq!(spool.len(), 1);
        Ok(())
    }

    #[test]
    fn concurrent_writers_share_directory_syncs() -> Result<(), SpoolError> {
        let dir = tempfile::tempdir().map_err(|e| SpoolError::io("temp", Path::new("."), e))?;
        let spool = Spool::open(dir.path())?;
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let spool = spool.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .try_for_each(|i| spool.accept(&envelope(&format!("{t:02x}{i:02x}")), b"m"))
                })
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| SpoolError::NotFound("thread".into()))??;
        }
        assert_eq!(spool.list()?.len(), 80);
        Ok(())
    }

    #[test]
    fn ids_cannot_escape_the_spool() {
        for bad in ["", "../x", "a/b", "x.json", &"a".repeat(65)] {
            assert!(matches!(check_id(bad), Err(SpoolError::BadId(_))), "{bad}");
        }
        assert!(check_id(&Spool::new_id()).is_ok());
    }

    #[test]
    fn a_corrupt_envelope_is_skipped_not_fatal() -> Result<(), SpoolError> {
        let dir = tempfile::tempdir().map_err(|e| SpoolError::io("temp", Path::new("."), e))?;
        let spool = Spool::open(dir.path())?;
        spool.accept(&envelope("01"), b"x")?;
        spool.accept(&envelope("02"), b"y")?;
        fs::write(dir.path().join("01.msg"), b"not json\nx")
            .map_err(|e| SpoolError::io("w", dir.path(), e))?;
        let ids: Vec<_> = spool.list()?.into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec!["02".to_string()]);
        Ok(())
    }
}
