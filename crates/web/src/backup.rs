//! Backups (guide §17): one file holding all global data and this member's settings, encrypted
//! to the Organization Key, so only a holder of that key can restore it. Regenerating the
//! Organization Key therefore makes earlier backups unreadable, as the guide says.
//!
//! The file is an OpenPGP message (binary) whose plaintext is a postcard [`BackupDocument`]. The
//! document carries the cluster data key, because the secrets inside the global data are sealed
//! under it; the encryption to the Organization Key is what protects it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use signet_crypto::openpgp;
use signet_model::{Administrator, OrganizationItemKind};
use signet_store::{Command, CommandOutput, Node, now_millis};

use crate::keyring::{KeyError, KeyResult};

const FORMAT: &str = "signet-backup 1";

#[derive(Serialize, Deserialize)]
pub struct BackupDocument {
    pub format: String,
    pub created_at: u64,
    pub cluster_id: String,
    pub node_id: u64,
    pub data_key: Vec<u8>,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// This member's own settings (node-local), as name/value pairs.
    pub node_settings: Vec<(String, String)>,
}

/// What a backup holds, for the API and CLI.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupSummary {
    pub file: String,
    pub bytes: u64,
    pub entries: usize,
    pub created_at: u64,
}

pub fn backup_dir(node: &Node) -> PathBuf {
    node.data_dir().root().join("backups")
}

/// Checks a backup name: starts alphanumeric, then letters, digits, `-` or `_` (guide §17).
pub fn check_name(name: &str) -> KeyResult<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(KeyError::Invalid(format!(
            "backup name {name:?}: start with a letter or digit, then letters, digits, - or _ (at most 64)"
        )))
    }
}

/// Writes a backup into the backup folder and prunes to `keep` files.
pub async fn create(
    node: &Arc<Node>,
    name: Option<&str>,
    keep: Option<u32>,
) -> KeyResult<BackupSummary> {
    let view = node.read().await?;
    let org = view
        .organization_item(OrganizationItemKind::OrganizationKey)?
        .ok_or_else(|| {
            KeyError::Conflict(
                "backups are encrypted to the Organization Key; make one first".into(),
            )
        })?;
    let org = openpgp::parse_cert(&org.public)?;
    let created_at = now_millis();
    let doc = BackupDocument {
        format: FORMAT.into(),
        created_at,
        cluster_id: node.cluster_id().to_string(),
        node_id: node.id(),
        data_key: node.data_key()?.expose().to_vec(),
        entries: view.backup_entries()?,
        node_settings: vec![(
            "admin_advertise".into(),
            node.status()
                .members
                .iter()
                .find(|m| m.node_id == node.id())
                .map(|m| m.api_addr.clone())
                .unwrap_or_default(),
        )],
    };
    let entries = doc.entries.len();
    let plain = postcard::to_allocvec(&doc)
        .map_err(|e| KeyError::Invalid(format!("cannot encode the backup: {e}")))?;
    let sealed =
        tokio::task::spawn_blocking(move || openpgp::encrypt_bytes(&[&org], &plain, None, false))
            .await
            .map_err(|e| KeyError::Invalid(format!("backup encryption failed: {e}")))??;
    let dir = backup_dir(node);
    std::fs::create_dir_all(&dir)
        .map_err(|e| KeyError::Store(signet_store::StoreError::io(&dir, e)))?;
    let stem = match name {
        Some(n) => {
            check_name(n)?;
            format!("{n}-{}", timestamp(created_at))
        }
        None => format!("signet-backup-{}", timestamp(created_at)),
    };
    let path = dir.join(format!("{stem}.pgp"));
    signet_store::datadir::write_private_file(&path, &sealed)?;
    if let Some(keep) = keep {
        prune(&dir, keep as usize);
    }
    Ok(BackupSummary {
        file: path.display().to_string(),
        bytes: sealed.len() as u64,
        entries,
        created_at,
    })
}

/// Backups in the folder, newest first.
pub fn list(node: &Node) -> Vec<BackupSummary> {
    let mut out: Vec<BackupSummary> = std::fs::read_dir(backup_dir(node))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pgp"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let modified = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis() as u64;
            Some(BackupSummary {
                file: e.path().display().to_string(),
                bytes: meta.len(),
                entries: 0,
                created_at: modified,
            })
        })
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.file.cmp(&a.file)));
    out
}

/// The path of the listed backup whose file name is `name` (`.pgp` may be left off). Only a
/// plain file name that is in the backup folder's listing is accepted, so no other file can be
/// reached through it.
pub fn find(node: &Node, name: &str) -> KeyResult<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        return Err(KeyError::Invalid(format!(
            "backup {name:?}: give a file name from the backup list"
        )));
    }
    let wanted = if name.ends_with(".pgp") {
        name.to_string()
    } else {
        format!("{name}.pgp")
    };
    list(node)
        .into_iter()
        .map(|b| PathBuf::from(b.file))
        .find(|p| {
            p.file_name()
                .is_some_and(|f| f.to_str() == Some(wanted.as_str()))
        })
        .ok_or_else(|| KeyError::NotFound(format!("no backup named {wanted:?}")))
}

fn prune(dir: &Path, keep: usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pgp"))
        .collect();
    files.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    while files.len() > keep.max(1) {
        let oldest = files.remove(0);
        if let Err(e) = std::fs::remove_file(&oldest) {
            tracing::warn!(file = %oldest.display(), error = %e, "cannot remove an old backup");
        }
    }
}

/// Opens a backup with the Organization Key (armored, with its private key; `passphrase` if it
/// is protected). Every failure is a clear error and nothing has changed.
pub fn open(
    backup: &[u8],
    organization_key: &[u8],
    passphrase: Option<&str>,
) -> KeyResult<BackupDocument> {
    let mut org = openpgp::parse_cert(organization_key)
        .map_err(|e| KeyError::Invalid(format!("the Organization Key cannot be read: {e}")))?;
    if let Some(p) = passphrase {
        org = openpgp::unlock_secret(&org, p)?;
    }
    if !org.is_tsk() {
        return Err(KeyError::Invalid(
            "give the Organization Key with its private key (an exported key pair)".into(),
        ));
    }
    let plain = openpgp::decrypt_bytes(&[&org], &[], backup).map_err(|e| {
        KeyError::Invalid(format!(
            "the backup cannot be decrypted with this Organization Key ({e}); it may be damaged or made under another Organization Key"
        ))
    })?;
    let doc: BackupDocument = postcard::from_bytes(&plain.plaintext)
        .map_err(|e| KeyError::Invalid(format!("the backup's contents are damaged: {e}")))?;
    if doc.format != FORMAT {
        return Err(KeyError::Invalid(format!(
            "unsupported backup format {:?} (this server reads {FORMAT:?})",
            doc.format
        )));
    }
    if doc.data_key.len() != 32 {
        return Err(KeyError::Invalid("the backup's data key is damaged".into()));
    }
    Ok(doc)
}

/// Restores a backup: afterwards the global data is the backup's. `admin` (who restores) keeps
/// access. Returns the number of entries restored.
pub async fn restore(
    node: &Arc<Node>,
    doc: BackupDocument,
    admin: &Administrator,
) -> KeyResult<u64> {
    let same_key = node.data_key()?.expose().as_slice() == doc.data_key.as_slice();
    if !same_key {
        // Checked before anything changes: only a single server can take over a key.
        if node.status().members.len() > 1 {
            return Err(KeyError::Conflict(
                "a backup from another cluster can only be restored on a single server; restore it on a new server, then join the others to it".into(),
            ));
        }
    }
    let outcome = node
        .execute(Command::RestoreState {
            entries: doc.entries,
            keep_admin: Some(admin.clone()),
        })
        .await?;
    if !same_key {
        node.adopt_data_key(&doc.data_key)?;
    }
    node.reconcile_data_key_custody()?;
    match outcome {
        CommandOutput::Count(n) => Ok(n),
        _ => Ok(0),
    }
}

/// `YYYYMMDDTHHMMSSZ` for file names, from milliseconds since the epoch (UTC).
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::logbook::civil_date(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(1_795_478_400_000), "20261124T000000Z");
        assert_eq!(timestamp(951_782_400_000 + 3_723_000), "20000229T010203Z");
    }

    #[test]
    fn backup_names_follow_the_guide() {
        assert!(check_name("nightly_1").is_ok());
        assert!(check_name("-bad").is_err());
        assert!(check_name("a b").is_err());
    }
}
