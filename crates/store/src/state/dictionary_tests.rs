//! The dictionary commands added for issue 4 item 8: replace, move (approve) and update
//! (rename/description). Each refused command must leave the state and the transaction as
//! they were; each accepted one must do all its writes in one apply.

use super::*;

use crate::command::Rejection;
use signet_model::TermKind;

type TestResult = Result<(), Box<dyn std::error::Error>>;

use super::fixture::Fixture;

impl Fixture {
    fn create(&self, name: &str, factory: bool) -> TestResult {
        self.ok(Command::CreateDictionary {
            dictionary: Dictionary {
                name: name.into(),
                description: format!("{name} test"),
                factory,
                created_at: 1_000,
            },
        })?;
        Ok(())
    }

    fn terms(&self, name: &str) -> Result<Vec<(String, TermKind)>, StoreError> {
        Ok(self
            .view()
            .dictionary_entries(name)?
            .into_iter()
            .map(|e| (e.as_str().to_string(), e.kind()))
            .collect())
    }
}

fn lit(raw: &str) -> DictionaryEntry {
    DictionaryEntry::parse(raw).expect("valid literal")
}

fn pat(raw: &str) -> DictionaryEntry {
    DictionaryEntry::pattern(raw).expect("valid pattern")
}

fn t(term: &str, kind: TermKind) -> (String, TermKind) {
    (term.to_string(), kind)
}

#[test]
fn patterns_keep_their_case_and_kind() -> TestResult {
    let f = Fixture::new()?;
    f.create("D", false)?;
    f.ok(Command::AddDictionaryEntries {
        name: "D".into(),
        entries: vec![lit("JSmith@Example.com"), pat(r"j.*@Example\.com")],
    })?;
    assert_eq!(
        f.terms("D")?,
        [
            t(r"j.*@Example\.com", TermKind::Pattern),
            t("jsmith@example.com", TermKind::Literal)
        ]
    );
    Ok(())
}

#[test]
fn replace_clears_and_writes_in_one_apply() -> TestResult {
    let f = Fixture::new()?;
    f.create("D", false)?;
    f.create("D2", false)?;
    f.ok(Command::AddDictionaryEntries {
        name: "D".into(),
        entries: vec![lit("old@example.com"), pat(".*@old\\.test"), lit("keep@x")],
    })?;
    f.ok(Command::AddDictionaryEntries {
        name: "D2".into(),
        entries: vec![lit("other@x")],
    })?;
    // One transaction holds the clear and the writes: nothing of them reaches the tree until
    // it is committed.
    let mut txn = Txn::new(f.tree.as_ref());
    let outcome = apply(
        &mut txn,
        &Command::ReplaceDictionaryEntries {
            name: "D".into(),
            entries: vec![lit("a@x"), lit("B@x"), lit("keep@x"), lit("a@x")],
        },
    )?;
    assert_eq!(outcome, Ok(CommandOutput::Count(3)));
    assert_eq!(
        f.terms("D")?.len(),
        3,
        "the tree is untouched before commit"
    );
    f.tree.apply(txn.into_batch())?;
    assert_eq!(
        f.terms("D")?,
        [
            t("a@x", TermKind::Literal),
            t("b@x", TermKind::Literal),
            t("keep@x", TermKind::Literal)
        ]
    );
    assert_eq!(f.terms("D2")?, [t("other@x", TermKind::Literal)]);
    // Replacing with nothing empties the dictionary.
    f.ok(Command::ReplaceDictionaryEntries {
        name: "D".into(),
        entries: vec![],
    })?;
    assert!(f.terms("D")?.is_empty());
    let r = f.rejected(Command::ReplaceDictionaryEntries {
        name: "nope".into(),
        entries: vec![lit("a@x")],
    })?;
    assert!(matches!(r, Rejection::NotFound(_)), "{r:?}");
    Ok(())
}

#[test]
fn move_takes_every_term_or_none() -> TestResult {
    let f = Fixture::new()?;
    f.create("Pending", true)?;
    f.create("Sign", true)?;
    f.ok(Command::AddDictionaryEntries {
        name: "Pending".into(),
        entries: vec![lit("dev@lists.test"), lit("ops@lists.test")],
    })?;
    // One absent term refuses the whole move.
    let r = f.rejected(Command::MoveDictionaryEntries {
        from: "Pending".into(),
        to: "Sign".into(),
        entries: vec![lit("dev@lists.test"), lit("nobody@lists.test")],
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("nobody@lists.test")),
        "{r:?}"
    );
    let r = f.rejected(Command::MoveDictionaryEntries {
        from: "Pending".into(),
        to: "Nowhere".into(),
        entries: vec![lit("dev@lists.test")],
    })?;
    assert!(matches!(&r, Rejection::NotFound(m) if m.contains("Nowhere")));
    let moved = f.ok(Command::MoveDictionaryEntries {
        from: "Pending".into(),
        to: "Sign".into(),
        entries: vec![lit("DEV@lists.test")],
    })?;
    assert_eq!(moved, CommandOutput::Count(1));
    assert_eq!(
        f.terms("Pending")?,
        [t("ops@lists.test", TermKind::Literal)]
    );
    assert_eq!(f.terms("Sign")?, [t("dev@lists.test", TermKind::Literal)]);
    Ok(())
}

#[test]
fn rename_moves_entries_and_refuses_factory_and_taken_names() -> TestResult {
    let f = Fixture::new()?;
    f.create("D", false)?;
    f.create("Taken", false)?;
    f.create("Excluded Addresses: Sign", true)?;
    f.ok(Command::AddDictionaryEntries {
        name: "D".into(),
        entries: vec![lit("a@x"), pat("b.*@x")],
    })?;
    f.ok(Command::UpdateDictionary {
        name: "D".into(),
        new_name: Some("Partners".into()),
        description: Some("renamed".into()),
    })?;
    assert_eq!(f.view().dictionary("D")?, None);
    assert!(f.terms("D")?.is_empty());
    let renamed = f.view().dictionary("Partners")?.ok_or("renamed missing")?;
    assert_eq!(renamed.description, "renamed");
    assert_eq!(renamed.created_at, 1_000);
    assert_eq!(
        f.terms("Partners")?,
        [t("a@x", TermKind::Literal), t("b.*@x", TermKind::Pattern)]
    );

    // Another dictionary's name, in any case, is taken.
    let r = f.rejected(Command::UpdateDictionary {
        name: "Partners".into(),
        new_name: Some("TAKEN".into()),
        description: None,
    })?;
    assert!(matches!(&r, Rejection::AlreadyExists(m) if m.contains("Taken")));
    // Factory dictionaries keep their names, but their descriptions can change.
    let r = f.rejected(Command::UpdateDictionary {
        name: "Excluded Addresses: Sign".into(),
        new_name: Some("Sign".into()),
        description: Some("x".into()),
    })?;
    assert!(matches!(&r, Rejection::Conflict(m) if m.contains("keeps its name")));
    f.ok(Command::UpdateDictionary {
        name: "Excluded Addresses: Sign".into(),
        new_name: Some("Excluded Addresses: Sign".into()),
        description: Some("lists".into()),
    })?;
    let sign = f
        .view()
        .dictionary("Excluded Addresses: Sign")?
        .ok_or("factory dictionary missing")?;
    assert_eq!((sign.description.as_str(), sign.factory), ("lists", true));
    // A dictionary may change the case of its own name.
    f.ok(Command::UpdateDictionary {
        name: "Partners".into(),
        new_name: Some("PARTNERS".into()),
        description: None,
    })?;
    assert_eq!(f.terms("PARTNERS")?.len(), 2);
    let r = f.rejected(Command::UpdateDictionary {
        name: "nope".into(),
        new_name: None,
        description: Some("x".into()),
    })?;
    assert!(matches!(r, Rejection::NotFound(_)));
    Ok(())
}

#[test]
fn create_refuses_a_name_differing_only_in_case() -> TestResult {
    let f = Fixture::new()?;
    f.create("VIP", false)?;
    let r = f.rejected(Command::CreateDictionary {
        dictionary: Dictionary {
            name: "vip".into(),
            description: String::new(),
            factory: false,
            created_at: 2,
        },
    })?;
    assert!(matches!(&r, Rejection::AlreadyExists(m) if m.contains("VIP")));
    Ok(())
}

#[test]
fn delete_refuses_factory_dictionaries() -> TestResult {
    let f = Fixture::new()?;
    f.create("Excluded Addresses: Pending", true)?;
    let r = f.rejected(Command::DeleteDictionary {
        name: "Excluded Addresses: Pending".into(),
    })?;
    assert!(matches!(&r, Rejection::Conflict(m) if m.contains("cannot be deleted")));
    Ok(())
}
