//! A state tree on a real sled database in its own temporary directory, for the command
//! tests of the newer state modules: apply one command, expect it done or refused (and then
//! check that nothing was written).

use std::sync::Arc;

use tempfile::TempDir;

use super::{StateView, Txn, apply};
use crate::StoreError;
use crate::backend::{Backend, SledBackend, Tree};
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

pub(super) struct Fixture {
    _dir: TempDir,
    _backend: SledBackend,
    pub(super) tree: Arc<dyn Tree>,
}

impl Fixture {
    pub(super) fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        Ok(Fixture {
            _dir: dir,
            _backend: backend,
            tree,
        })
    }

    pub(super) fn one(&self, command: Command) -> Result<CommandOutcome, StoreError> {
        let mut txn = Txn::new(self.tree.as_ref());
        let outcome = apply(&mut txn, &command)?;
        self.tree.apply(txn.into_batch())?;
        Ok(outcome)
    }

    pub(super) fn ok(&self, command: Command) -> Result<CommandOutput, Box<dyn std::error::Error>> {
        Ok(self.one(command)?.map_err(StoreError::from)?)
    }

    pub(super) fn rejected(
        &self,
        command: Command,
    ) -> Result<Rejection, Box<dyn std::error::Error>> {
        let before = self.tree.scan_prefix(b"")?;
        let mut txn = Txn::new(self.tree.as_ref());
        let outcome = apply(&mut txn, &command)?;
        assert!(txn.overlay.is_empty(), "{command:?} wrote before refusing");
        assert_eq!(self.tree.scan_prefix(b"")?, before);
        match outcome {
            Err(r) => Ok(r),
            Ok(o) => panic!("{command:?} was accepted: {o:?}"),
        }
    }

    pub(super) fn view(&self) -> StateView {
        StateView::new(self.tree.clone())
    }
}
