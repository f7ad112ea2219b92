//! Keyservers for lookup (Keys > Keyservers): one ordered list under one key, so that order
//! and membership change together in a single write.

use signet_model::LookupKeyserver;

use super::{StateView, Txn};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

pub(super) const KEYSERVERS: &[u8] = b"ksv/list";

fn list(txn: &Txn<'_>) -> Result<Vec<LookupKeyserver>, StoreError> {
    Ok(txn.get(KEYSERVERS)?.unwrap_or_default())
}

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    let mut servers = list(txn)?;
    match command {
        Command::PutKeyserver {
            name,
            keyserver,
            replace,
        } => {
            let at = servers.iter().position(|k| k.is_named(name));
            let clash = servers
                .iter()
                .enumerate()
                .any(|(i, k)| k.is_named(&keyserver.name) && Some(i) != at);
            match (at, replace) {
                (Some(_), false) => {
                    return Ok(Err(Rejection::AlreadyExists(format!("keyserver {name}"))));
                }
                (None, true) => return Ok(Err(Rejection::NotFound(format!("keyserver {name}")))),
                _ if clash => {
                    return Ok(Err(Rejection::AlreadyExists(format!(
                        "keyserver {}",
                        keyserver.name
                    ))));
                }
                (Some(i), true) => servers[i] = keyserver.clone(),
                (None, false) => servers.push(keyserver.clone()),
            }
        }
        Command::RemoveKeyserver { name } => {
            let before = servers.len();
            servers.retain(|k| !k.is_named(name));
            if servers.len() == before {
                return Ok(Err(Rejection::NotFound(format!("keyserver {name}"))));
            }
        }
        Command::ReorderKeyservers { names } => {
            let mut ordered = Vec::with_capacity(servers.len());
            for n in names {
                let Some(i) = servers.iter().position(|k| k.is_named(n)) else {
                    return Ok(Err(Rejection::NotFound(format!("keyserver {n}"))));
                };
                ordered.push(servers.remove(i));
            }
            if !servers.is_empty() {
                return Ok(Err(Rejection::Conflict(format!(
                    "the new order leaves out keyserver {}",
                    servers[0].name
                ))));
            }
            servers = ordered;
        }
        _ => return Ok(Err(Rejection::Conflict("not a keyserver command".into()))),
    }
    txn.put(KEYSERVERS.to_vec(), &servers)?;
    Ok(Ok(CommandOutput::Done))
}

impl StateView {
    /// The cluster's lookup keyservers, in the order searches try them.
    pub fn keyservers(&self) -> Result<Vec<LookupKeyserver>, StoreError> {
        Ok(self
            .tree
            .get(KEYSERVERS)?
            .map(|v| super::decode(&v))
            .transpose()?
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, SledBackend};
    use crate::state::apply as apply_all;
    use signet_model::LookupKeyserverKind;
    use std::sync::Arc;

    fn server(name: &str) -> LookupKeyserver {
        LookupKeyserver {
            name: name.into(),
            kind: LookupKeyserverKind::PgpLdap,
            host: format!("{}.example.net", name.to_lowercase()),
            port: Some(389),
            base_dn: None,
            trusted: false,
        }
    }

    fn put(name: &str, replace: bool) -> Command {
        Command::PutKeyserver {
            name: name.into(),
            keyserver: server(name),
            replace,
        }
    }

    #[test]
    fn add_update_reorder_remove() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        let view = StateView::new(Arc::clone(&tree));
        let run = |c: &Command| -> Result<CommandOutcome, StoreError> {
            let mut txn = Txn::new(tree.as_ref());
            let out = apply_all(&mut txn, c)?;
            tree.apply(txn.into_batch())?;
            Ok(out)
        };
        assert_eq!(run(&put("A", false))?, Ok(CommandOutput::Done));
        assert_eq!(run(&put("B", false))?, Ok(CommandOutput::Done));
        assert!(matches!(
            run(&put("a", false))?,
            Err(Rejection::AlreadyExists(_))
        ));
        assert!(matches!(run(&put("C", true))?, Err(Rejection::NotFound(_))));
        let names = |v: &StateView| -> Result<Vec<String>, StoreError> {
            Ok(v.keyservers()?.into_iter().map(|k| k.name).collect())
        };
        assert_eq!(names(&view)?, ["A", "B"]);

        let mut changed = server("A");
        changed.host = "other.example.net".into();
        let update = Command::PutKeyserver {
            name: "a".into(),
            keyserver: changed,
            replace: true,
        };
        assert_eq!(run(&update)?, Ok(CommandOutput::Done));
        assert_eq!(view.keyservers()?[0].host, "other.example.net");
        // Renaming onto another server's name is refused.
        let rename = Command::PutKeyserver {
            name: "A".into(),
            keyserver: server("B"),
            replace: true,
        };
        assert!(matches!(run(&rename)?, Err(Rejection::AlreadyExists(_))));

        let reorder = |n: &[&str]| Command::ReorderKeyservers {
            names: n.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(run(&reorder(&["b", "a"]))?, Ok(CommandOutput::Done));
        assert_eq!(names(&view)?, ["B", "A"]);
        assert!(matches!(
            run(&reorder(&["A"]))?,
            Err(Rejection::Conflict(_))
        ));
        assert!(matches!(
            run(&reorder(&["A", "Z"]))?,
            Err(Rejection::NotFound(_))
        ));
        assert_eq!(names(&view)?, ["B", "A"]);

        let remove = |n: &str| Command::RemoveKeyserver { name: n.into() };
        assert_eq!(run(&remove("b"))?, Ok(CommandOutput::Done));
        assert!(matches!(run(&remove("B"))?, Err(Rejection::NotFound(_))));
        assert_eq!(names(&view)?, ["A"]);
        Ok(())
    }
}
