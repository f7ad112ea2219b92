//! The storage trait the rest of the crate is written against.
//!
//! sled 0.34 is unmaintained; everything above this module sees only [`Backend`] and [`Tree`], so
//! moving to another embedded store (redb, fjall) means one new implementation here and nothing
//! else. The contract is small on purpose: ordered byte keys, atomic batches within one tree, and
//! an explicit durable flush.

mod sled_backend;

use std::sync::Arc;

pub use sled_backend::SledBackend;

use crate::StoreError;

/// A key/value pair as stored.
pub type Pair = (Vec<u8>, Vec<u8>);

/// A database made of named trees that share one durability domain.
pub trait Backend: Send + Sync + 'static {
    fn tree(&self, name: &str) -> Result<Arc<dyn Tree>, StoreError>;
    /// Makes every write applied so far durable (fsync). Blocking: call it off the async threads.
    fn flush(&self) -> Result<(), StoreError>;
}

/// [`Backend::flush`] on a blocking thread, so an fsync never stalls the async workers.
pub async fn flush_off_thread(backend: Arc<dyn Backend>) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || backend.flush())
        .await
        .map_err(|e| StoreError::Backend(format!("flush task: {e}")))?
}

/// An ordered map of byte keys to byte values.
pub trait Tree: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Pairs whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError>;
    /// Pairs with `start <= key < end`, in key order, at most `limit` of them.
    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StoreError>;
    /// Shows `visit` each pair whose key starts with `prefix`, in key order, until it returns
    /// false. For reads that look at every record of a table once (a page of users with its
    /// total): backends lend their own buffers instead of copying each value out.
    fn for_each_prefix(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for (k, v) in self.scan_prefix(prefix)? {
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }
    fn first(&self) -> Result<Option<Pair>, StoreError>;
    fn last(&self) -> Result<Option<Pair>, StoreError>;
    /// Applies every write of the batch, or none of them, even across a crash.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
    /// Removes every key.
    fn clear(&self) -> Result<(), StoreError>;
}

/// Writes applied together by [`Tree::apply`].
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
