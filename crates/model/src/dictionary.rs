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

/// Whether a term is compared as text or as a regular expression (guide: "Patterns or
/// Literals", chosen per import batch).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TermKind {
    #[default]
    Literal,
    /// A regular expression matched against the whole value, case-insensitively.
    Pattern,
}

/// One entry. Dictionary matches are case-insensitive, so literals are stored lower-cased and
/// duplicates that differ only in case collapse into one. Patterns keep their text as typed
/// (lower-casing `\D` would turn it into `\d`); they are compiled case-insensitively. A term's
/// text is unique within a dictionary: writing it again with the other kind replaces it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DictionaryEntry {
    term: String,
    #[serde(default)]
    kind: TermKind,
}

impl Dictionary {
    pub fn check_name(raw: &str) -> Result<String, InvalidInput> {
        check_name(raw)
    }
}

impl DictionaryEntry {
    /// A literal term (lower-cased).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Self::new(raw, TermKind::Literal)
    }

    /// A pattern term, kept as typed. The caller checks that it compiles (the model has no
    /// regex engine; the policy crate's `compile_pattern` is the one rules use).
    pub fn pattern(raw: &str) -> Result<Self, InvalidInput> {
        Self::new(raw, TermKind::Pattern)
    }

    pub fn new(raw: &str, kind: TermKind) -> Result<Self, InvalidInput> {
        let v = raw.trim();
        if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
            return Err(InvalidInput::Name(
                raw.to_string(),
                "a dictionary entry must be 1 to 1024 characters without control characters",
            ));
        }
        let term = match kind {
            TermKind::Literal => v.to_lowercase(),
            TermKind::Pattern => v.to_string(),
        };
        Ok(DictionaryEntry { term, kind })
    }

    pub fn as_str(&self) -> &str {
        &self.term
    }

    pub fn kind(&self) -> TermKind {
        self.kind
    }

    pub fn is_pattern(&self) -> bool {
        self.kind == TermKind::Pattern
    }
}
