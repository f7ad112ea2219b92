//! Dictionaries: named lists of strings that policy conditions test against ("is in dictionary")
//! and that actions add to. Entries are stored apart from the dictionary so that adding one entry
//! does not rewrite the whole list.

use serde::{Deserialize, Serialize};

use crate::{InvalidInput, UnixMillis, check_name};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dictionary {
    pub name: String,
    pub description: String,
    /// Factory dictionaries come with the product and cannot be deleted.
    pub factory: bool,
    pub created_at: UnixMillis,
}

/// One entry. Dictionary matches are case-insensitive, so entries are stored lower-cased and
/// duplicates that differ only in case collapse into one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DictionaryEntry(String);

impl Dictionary {
    pub fn check_name(raw: &str) -> Result<String, InvalidInput> {
        check_name(raw)
    }
}

impl DictionaryEntry {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let v = raw.trim();
        if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
            return Err(InvalidInput::Name(
                raw.to_string(),
                "a dictionary entry must be 1 to 1024 characters without control characters",
            ));
        }
        Ok(DictionaryEntry(v.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
