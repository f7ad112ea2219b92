//! [`Backend`] on sled 0.34.

use std::path::Path;
use std::sync::Arc;

use super::{Backend, Batch, Pair, Tree};
use crate::StoreError;

pub struct SledBackend {
    db: sled::Db,
}

fn err(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn pair(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Pair, StoreError> {
    let (k, v) = r.map_err(err)?;
    Ok((k.to_vec(), v.to_vec()))
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`. A directory that holds something sled cannot read
    /// is reported as corrupt rather than overwritten.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            // sled's own periodic flush is not our durability mechanism; explicit flushes are.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| StoreError::Corrupt {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(SledBackend { db })
    }
}

impl Backend for SledBackend {
    fn tree(&self, name: &str) -> Result<Arc<dyn Tree>, StoreError> {
        Ok(Arc::new(SledTree(self.db.open_tree(name).map_err(err)?)))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(err)
    }
}

struct SledTree(sled::Tree);

impl Tree for SledTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).map_err(err)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        self.0.scan_prefix(prefix).map(pair).collect()
    }

    fn for_each_prefix(
        &self,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for r in self.0.scan_prefix(prefix) {
            let (k, v) = r.map_err(err)?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.0.range(start..end).take(limit).map(pair).collect()
    }

    fn first(&self) -> Result<Option<Pair>, StoreError> {
        self.0
            .first()
            .map_err(err)?
            .map(|kv| pair(Ok(kv)))
            .transpose()
    }

    fn last(&self) -> Result<Option<Pair>, StoreError> {
        self.0
            .last()
            .map_err(err)?
            .map(|kv| pair(Ok(kv)))
            .transpose()
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.0.apply_batch(b).map_err(err)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.0.clear().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_ranges_and_prefixes() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Backend(e.to_string()))?;
        let db = SledBackend::open(dir.path())?;
        let t = db.tree("t")?;
        let mut b = Batch::default();
        for i in 0u64..10 {
            b.insert(i.to_be_bytes().to_vec(), vec![i as u8]);
        }
        b.insert(b"p/a".to_vec(), b"1".to_vec());
        b.insert(b"p/b".to_vec(), b"2".to_vec());
        t.apply(b)?;
        assert_eq!(
            t.range(&3u64.to_be_bytes(), &6u64.to_be_bytes(), 100)?
                .len(),
            3
        );
        assert_eq!(
            t.range(&0u64.to_be_bytes(), &9u64.to_be_bytes(), 2)?.len(),
            2
        );
        assert_eq!(t.scan_prefix(b"p/")?.len(), 2);
        assert_eq!(t.first()?.map(|p| p.1), Some(vec![0]));
        assert_eq!(t.last()?.map(|p| p.0), Some(b"p/b".to_vec()));
        db.flush()?;
        t.clear()?;
        assert!(t.first()?.is_none());
        Ok(())
    }
}
