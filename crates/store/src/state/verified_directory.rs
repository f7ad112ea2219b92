//! The Verified Directory's replicated data: its settings, one entry per submitted key
//! (`vde/<FINGERPRINT>`) and token digests (`vdt/<sha256>`). The decisions (what a submission,
//! a confirmation or an approval changes) are the proposer's; applying only checks that each
//! written entry follows the revision it was computed from, so two members deciding about the
//! same key at once cannot overwrite each other.

use signet_model::{VdEntry, VdSettings, VdToken};

use super::keys::{VD_ENTRY, VD_SETTINGS, VD_TOKEN, key};
use super::{StateView, Txn};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    match command {
        Command::SetVdSettings { settings } => {
            txn.put(VD_SETTINGS.to_vec(), settings)?;
            Ok(Ok(CommandOutput::Done))
        }
        Command::UpdateVerifiedDirectory {
            put,
            remove,
            issue_tokens,
            spend_tokens,
        } => {
            for entry in put {
                let stored: Option<VdEntry> = txn.get(&key(VD_ENTRY, &entry.fingerprint))?;
                let stored_revision = stored.map(|e| e.revision).unwrap_or(0);
                if entry.revision != stored_revision + 1 {
                    return Ok(Err(Rejection::Conflict(format!(
                        "the Verified Directory entry {} changed meanwhile; try again",
                        entry.fingerprint
                    ))));
                }
            }
            for entry in put {
                txn.put(key(VD_ENTRY, &entry.fingerprint), entry)?;
            }
            for fingerprint in remove {
                txn.delete(key(VD_ENTRY, fingerprint));
                for (k, v) in txn.scan_prefix(VD_TOKEN.as_bytes())? {
                    let token: VdToken = super::decode(&v)?;
                    if token.fingerprint.as_deref() == Some(fingerprint.as_str()) {
                        txn.delete(k);
                    }
                }
            }
            for digest in spend_tokens {
                txn.delete(key(VD_TOKEN, digest));
            }
            for token in issue_tokens {
                txn.put(key(VD_TOKEN, &token.sha256_hex), token)?;
            }
            Ok(Ok(CommandOutput::Count((put.len() + remove.len()) as u64)))
        }
        _ => Ok(Err(Rejection::Conflict(
            "not a Verified Directory command".into(),
        ))),
    }
}

impl StateView {
    pub fn vd_settings(&self) -> Result<VdSettings, StoreError> {
        Ok(self
            .tree
            .get(VD_SETTINGS)?
            .map(|v| super::decode(&v))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn vd_entry(&self, fingerprint: &str) -> Result<Option<VdEntry>, StoreError> {
        self.get(VD_ENTRY, &fingerprint.to_ascii_uppercase())
    }

    pub fn vd_entries(&self) -> Result<Vec<VdEntry>, StoreError> {
        self.all(VD_ENTRY)
    }

    pub fn vd_token(&self, sha256_hex: &str) -> Result<Option<VdToken>, StoreError> {
        self.get(VD_TOKEN, sha256_hex)
    }

    pub fn vd_tokens(&self) -> Result<Vec<VdToken>, StoreError> {
        self.all(VD_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, SledBackend};
    use crate::state::apply as apply_all;
    use signet_model::{VdTokenPurpose, VdUidState, VdUserId};
    use std::sync::Arc;

    fn entry(revision: u64) -> VdEntry {
        VdEntry {
            fingerprint: "AB".repeat(20),
            certificate: vec![1, 2, 3],
            published: None,
            user_ids: vec![VdUserId {
                user_id: "<d@ext.test>".into(),
                email: Some("d@ext.test".into()),
                state: VdUidState::PendingConfirmation,
                mailed_at: Some(1),
                confirmed_at: None,
            }],
            submitted_at: 1,
            certified_until: None,
            renewal_started_at: None,
            revision,
        }
    }

    #[test]
    fn entries_follow_their_revision_and_take_their_tokens_along()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        let view = StateView::new(Arc::clone(&tree));
        assert_eq!(view.vd_settings()?, VdSettings::default());
        let token = VdToken {
            sha256_hex: "00".repeat(32),
            purpose: VdTokenPurpose::Confirm,
            fingerprint: Some("AB".repeat(20)),
            email: "d@ext.test".into(),
            issued_at: 1,
        };
        let run = |c: &Command| -> Result<CommandOutcome, StoreError> {
            let mut txn = Txn::new(&*tree);
            let out = apply_all(&mut txn, c)?;
            tree.apply(txn.into_batch())?;
            Ok(out)
        };
        let first = Command::UpdateVerifiedDirectory {
            put: vec![entry(1)],
            remove: vec![],
            issue_tokens: vec![token.clone()],
            spend_tokens: vec![],
        };
        assert!(run(&first)?.is_ok());
        // The same revision again: someone else wrote first.
        assert!(matches!(run(&first)?, Err(Rejection::Conflict(_))));
        assert_eq!(
            view.vd_entry(&"ab".repeat(20))?.map(|e| e.revision),
            Some(1)
        );
        assert_eq!(view.vd_token(&token.sha256_hex)?, Some(token.clone()));
        let gone = Command::UpdateVerifiedDirectory {
            put: vec![],
            remove: vec!["AB".repeat(20)],
            issue_tokens: vec![],
            spend_tokens: vec![],
        };
        assert!(run(&gone)?.is_ok());
        assert!(view.vd_entries()?.is_empty());
        assert!(
            view.vd_tokens()?.is_empty(),
            "the key's tokens went with it"
        );
        Ok(())
    }
}
