//! The data directory: what is in it and how a foreign or damaged one is recognized.
//!
//! ```text
//! <data-dir>/FORMAT      "signet-data 2": written last at init, so its presence means "ours"
//! <data-dir>/node.key    the node key (0600), see `secrets`
//! <data-dir>/raft/log/   the Raft log and vote (fsynced on every append)
//! <data-dir>/raft/state/ the state machine and its snapshot
//! <data-dir>/local/      node-local state: identity, TLS, and later routes, proxies, spool
//! <data-dir>/cli.json    the CLI's URL, token and certificate pin (0600), see the appliance
//! ```

use std::path::{Path, PathBuf};

use crate::StoreError;

const FORMAT_FILE: &str = "FORMAT";
const FORMAT: &str = "signet-data 2\n";

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// What was found at the data directory's path.
#[derive(Debug, PartialEq, Eq)]
pub enum DataDirState {
    /// Missing or empty: a new node.
    Fresh,
    /// A Signet data directory of the current format.
    Existing,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn node_key(&self) -> PathBuf {
        self.root.join("node.key")
    }

    pub fn raft(&self) -> PathBuf {
        self.root.join("raft")
    }

    pub fn raft_log(&self) -> PathBuf {
        self.raft().join("log")
    }

    pub fn raft_state(&self) -> PathBuf {
        self.raft().join("state")
    }

    pub fn local(&self) -> PathBuf {
        self.root.join("local")
    }

    pub fn cli_file(&self) -> PathBuf {
        self.root.join("cli.json")
    }

    /// Looks at the directory without changing anything.
    pub fn inspect(&self) -> Result<DataDirState, StoreError> {
        let foreign = |reason: String| StoreError::Foreign {
            path: self.root.display().to_string(),
            reason,
        };
        match std::fs::read_dir(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DataDirState::Fresh),
            Err(e) => return Err(StoreError::io(&self.root, e)),
            Ok(mut entries) => {
                if entries.next().is_none() {
                    return Ok(DataDirState::Fresh);
                }
            }
        }
        match std::fs::read_to_string(self.root.join(FORMAT_FILE)) {
            Ok(s) if s == FORMAT => Ok(DataDirState::Existing),
            Ok(s) if s.starts_with("signet-data ") => Err(foreign(format!(
                "it was written in format {:?}, this version reads {:?}",
                s.trim(),
                FORMAT.trim()
            ))),
            Ok(_) => Err(foreign("its FORMAT file is not Signet's".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(foreign("it is not empty and has no FORMAT file".into()))
            }
            Err(e) => Err(StoreError::io(&self.root.join(FORMAT_FILE), e)),
        }
    }

    pub fn create(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        set_mode(&self.root, 0o700)
    }

    /// Marks the directory as Signet's; called once everything else of a new node is in place.
    pub fn mark(&self) -> Result<(), StoreError> {
        let path = self.root.join(FORMAT_FILE);
        std::fs::write(&path, FORMAT).map_err(|e| StoreError::io(&path, e))?;
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&path, e))
    }

    /// Erases the replicated state (a joiner's old data, as the guide says a join does).
    pub fn erase_replicated(&self) -> Result<(), StoreError> {
        let raft = self.raft();
        match std::fs::remove_dir_all(&raft) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&raft, e)),
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StoreError::io(path, e))
}

/// Writes a file readable only by its owner, atomically (temp file, fsync, rename).
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_fresh_existing_and_foreign_directories() -> Result<(), StoreError> {
        let tmp = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
        let dd = DataDir::new(tmp.path().join("d"));
        assert_eq!(dd.inspect()?, DataDirState::Fresh);
        dd.create()?;
        assert_eq!(dd.inspect()?, DataDirState::Fresh);
        dd.mark()?;
        assert_eq!(dd.inspect()?, DataDirState::Existing);

        let foreign = DataDir::new(tmp.path().join("f"));
        foreign.create()?;
        std::fs::write(foreign.root().join("notes.txt"), "mine")
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        assert!(matches!(foreign.inspect(), Err(StoreError::Foreign { .. })));
        Ok(())
    }
}
