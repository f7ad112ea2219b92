//! Apply arms of the dictionary commands. Each checks everything before its first write, so a
//! refused command leaves the transaction untouched.

use std::collections::BTreeMap;

use signet_model::{Dictionary, TermKind};

use super::Txn;
use super::keys::{DICTIONARY, dictionary_entries, dictionary_entry, key};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    let done = Ok(Ok(CommandOutput::Done));
    match command {
        Command::CreateDictionary { dictionary } => {
            // Rules name dictionaries case-insensitively, so two names that differ only in
            // case would be one dictionary to them.
            if let Some(other) = same_name(txn, &dictionary.name, None)? {
                return Ok(Err(Rejection::AlreadyExists(format!("dictionary {other}"))));
            }
            txn.put(key(DICTIONARY, &dictionary.name), dictionary)?;
            done
        }
        Command::DeleteDictionary { name } => {
            let k = key(DICTIONARY, name);
            let Some(dictionary) = txn.get::<Dictionary>(&k)? else {
                return Ok(Err(not_found(name)));
            };
            if dictionary.factory {
                return Ok(Err(Rejection::Conflict(format!(
                    "dictionary {name} comes with the product and cannot be deleted"
                ))));
            }
            for (entry_key, _) in txn.scan_prefix(&dictionary_entries(name))? {
                txn.delete(entry_key);
            }
            txn.delete(k);
            done
        }
        Command::AddDictionaryEntries { name, entries } => {
            if !txn.exists(&key(DICTIONARY, name))? {
                return Ok(Err(not_found(name)));
            }
            let mut added = 0;
            for entry in entries {
                let k = dictionary_entry(name, entry.as_str());
                // The value is the term's kind; the same text written with the other kind
                // replaces it (and counts as a change).
                if txn.get::<TermKind>(&k)? != Some(entry.kind()) {
                    txn.put(k, &entry.kind())?;
                    added += 1;
                }
            }
            Ok(Ok(CommandOutput::Count(added)))
        }
        Command::RemoveDictionaryEntries { name, entries } => {
            if !txn.exists(&key(DICTIONARY, name))? {
                return Ok(Err(not_found(name)));
            }
            let mut removed = 0;
            for entry in entries {
                let k = dictionary_entry(name, entry.as_str());
                if txn.exists(&k)? {
                    txn.delete(k);
                    removed += 1;
                }
            }
            Ok(Ok(CommandOutput::Count(removed)))
        }
        Command::ReplaceDictionaryEntries { name, entries } => {
            if !txn.exists(&key(DICTIONARY, name))? {
                return Ok(Err(not_found(name)));
            }
            for (entry_key, _) in txn.scan_prefix(&dictionary_entries(name))? {
                txn.delete(entry_key);
            }
            // Later duplicates win, as they would in a series of appends.
            let fresh: BTreeMap<&str, TermKind> =
                entries.iter().map(|e| (e.as_str(), e.kind())).collect();
            for (term, kind) in &fresh {
                txn.put(dictionary_entry(name, term), kind)?;
            }
            Ok(Ok(CommandOutput::Count(fresh.len() as u64)))
        }
        Command::MoveDictionaryEntries { from, to, entries } => {
            for name in [from, to] {
                if !txn.exists(&key(DICTIONARY, name))? {
                    return Ok(Err(not_found(name)));
                }
            }
            if from == to {
                return Ok(Err(Rejection::Conflict(format!(
                    "the terms are already in dictionary {to}"
                ))));
            }
            let mut moving = BTreeMap::new();
            for entry in entries {
                match txn.get::<TermKind>(&dictionary_entry(from, entry.as_str()))? {
                    Some(kind) => moving.insert(entry.as_str(), kind),
                    None => {
                        return Ok(Err(Rejection::NotFound(format!(
                            "term {:?} in dictionary {from}",
                            entry.as_str()
                        ))));
                    }
                };
            }
            for (term, kind) in &moving {
                txn.delete(dictionary_entry(from, term));
                txn.put(dictionary_entry(to, term), kind)?;
            }
            Ok(Ok(CommandOutput::Count(moving.len() as u64)))
        }
        Command::UpdateDictionary {
            name,
            new_name,
            description,
        } => {
            let k = key(DICTIONARY, name);
            let Some(mut dictionary) = txn.get::<Dictionary>(&k)? else {
                return Ok(Err(not_found(name)));
            };
            let rename = new_name.as_ref().filter(|n| *n != name);
            if let Some(new_name) = rename {
                if dictionary.factory {
                    return Ok(Err(Rejection::Conflict(format!(
                        "dictionary {name} comes with the product and keeps its name \
                         (its description can be changed)"
                    ))));
                }
                if let Some(other) = same_name(txn, new_name, Some(name))? {
                    return Ok(Err(Rejection::AlreadyExists(format!("dictionary {other}"))));
                }
            }
            if let Some(description) = description {
                dictionary.description = description.clone();
            }
            if let Some(new_name) = rename {
                for (entry_key, kind) in txn.scan_prefix(&dictionary_entries(name))? {
                    let term = entry_key[dictionary_entries(name).len()..].to_vec();
                    txn.delete(entry_key);
                    let moved = [dictionary_entries(new_name), term].concat();
                    txn.overlay_put_raw(moved, kind);
                }
                txn.delete(k);
                dictionary.name = new_name.clone();
            }
            txn.put(key(DICTIONARY, &dictionary.name), &dictionary)?;
            done
        }
        other => Err(StoreError::Invalid(format!(
            "not a dictionary command: {other:?}"
        ))),
    }
}

fn not_found(name: &str) -> Rejection {
    Rejection::NotFound(format!("dictionary {name}"))
}

/// The name of a dictionary other than `except` whose name equals `name` ignoring case.
fn same_name(
    txn: &Txn<'_>,
    name: &str,
    except: Option<&str>,
) -> Result<Option<String>, StoreError> {
    for (_, v) in txn.scan_prefix(DICTIONARY.as_bytes())? {
        let d: Dictionary = super::decode(&v)?;
        if d.name.to_lowercase() == name.to_lowercase() && Some(d.name.as_str()) != except {
            return Ok(Some(d.name));
        }
    }
    Ok(None)
}
