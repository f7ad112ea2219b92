use super::*;

use signet_model::{
    AdminRole, ApiToken, EmailAddress, IgnitionKey, KeyMode, ManagedKey, OrganizationItem,
    OrganizationItemKind, Sealed,
};
use tempfile::TempDir;

use crate::backend::{Backend, SledBackend};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A state tree on a real sled database in its own temporary directory.
struct Fixture {
    _dir: TempDir,
    _backend: SledBackend,
    tree: Arc<dyn Tree>,
}

impl Fixture {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend = SledBackend::open(dir.path())?;
        let tree = backend.tree("state")?;
        Ok(Fixture {
            _dir: dir,
            _backend: backend,
            tree,
        })
    }

    /// Applies `commands` in one transaction and commits it, as the state machine does.
    fn run(&self, commands: &[Command]) -> Result<Vec<CommandOutcome>, StoreError> {
        let mut txn = Txn::new(self.tree.as_ref());
        let mut outcomes = Vec::new();
        for command in commands {
            outcomes.push(apply(&mut txn, command)?);
        }
        self.tree.apply(txn.into_batch())?;
        Ok(outcomes)
    }

    fn one(&self, command: Command) -> Result<CommandOutcome, StoreError> {
        let mut outcomes = self.run(std::slice::from_ref(&command))?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Invalid("no outcome".into()))
    }

    /// Applies `command`, which must succeed with `Done`.
    fn ok(&self, command: Command) -> Result<(), StoreError> {
        let what = format!("{command:?}");
        assert_eq!(self.one(command)?, Ok(CommandOutput::Done), "{what}");
        Ok(())
    }

    /// Applies `command` expecting a rejection; checks that neither the pending transaction nor
    /// the committed state changed, and returns the rejection.
    fn rejected(&self, command: Command) -> Result<Rejection, StoreError> {
        let before = self.dump()?;
        let mut txn = Txn::new(self.tree.as_ref());
        let outcome = apply(&mut txn, &command)?;
        assert!(
            txn.overlay.is_empty(),
            "a rejected command wrote to the transaction: {command:?}"
        );
        let batch = txn.into_batch();
        assert!(batch.is_empty());
        self.tree.apply(batch)?;
        assert_eq!(self.dump()?, before, "state changed by {command:?}");
        match outcome {
            Err(rejection) => Ok(rejection),
            Ok(output) => panic!("{command:?} was accepted: {output:?}"),
        }
    }

    fn view(&self) -> StateView {
        StateView::new(self.tree.clone())
    }

    /// Every pair of the tree, for comparing whole states.
    fn dump(&self) -> Result<Vec<Pair>, StoreError> {
        self.tree.scan_prefix(b"")
    }

    fn join_token(&self, secret: &str) -> Result<Option<JoinTokenRecord>, StoreError> {
        self.tree
            .get(&keys::key(keys::JOIN_TOKEN, secret))?
            .map(|v| decode(&v))
            .transpose()
    }
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).expect("valid test address")
}

fn consumer(raw: &str, kind: ConsumerKind) -> Consumer {
    Consumer {
        email: email(raw),
        kind,
        display_name: None,
        keys: Vec::new(),
        created_at: 1_000,
    }
}

fn internal(raw: &str) -> Consumer {
    consumer(raw, ConsumerKind::Internal)
}

fn external(raw: &str) -> Consumer {
    consumer(raw, ConsumerKind::External)
}

fn admin(login: &str) -> Administrator {
    Administrator {
        login: login.into(),
        role: AdminRole::SuperUser,
        email: None,
        api_tokens: Vec::new(),
        created_at: 1_000,
        passphrase: None,
        failed_logins: Default::default(),
    }
}

fn token(label: &str, digest: &str) -> ApiToken {
    ApiToken {
        label: label.into(),
        sha256_hex: digest.into(),
        created_at: 2_000,
    }
}

fn dictionary(name: &str, factory: bool) -> Dictionary {
    Dictionary {
        name: name.into(),
        description: format!("{name} test dictionary"),
        factory,
        created_at: 1_000,
    }
}

fn entries(raw: &[&str]) -> Vec<DictionaryEntry> {
    raw.iter()
        .map(|r| DictionaryEntry::parse(r).expect("valid test entry"))
        .collect()
}

fn join_token(secret: &str, issued_by: &str, expires_at: u64) -> JoinTokenRecord {
    JoinTokenRecord {
        secret_sha256_hex: secret.into(),
        issued_by: issued_by.into(),
        issued_at: 1_000,
        expires_at,
        used_by: None,
    }
}

fn add_domain(name: &str) -> Command {
    Command::AddManagedDomain {
        name: name.into(),
        at: 1_000,
    }
}

fn consume(secret: &str, now: u64, cli_token: Option<ApiToken>) -> Command {
    Command::ConsumeJoinToken {
        secret_sha256_hex: secret.into(),
        now,
        cli_token,
    }
}

// ---- managed domains ----

#[test]
fn add_managed_domain_stores_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddManagedDomain {
        name: "example.org".into(),
        at: 1_234,
    })?;
    let expected = ManagedDomain {
        name: "example.org".into(),
        added_at: 1_234,
    };
    assert_eq!(
        f.view().managed_domain("example.org")?,
        Some(expected.clone())
    );
    assert_eq!(f.view().managed_domains()?, vec![expected]);
    Ok(())
}

#[test]
fn add_managed_domain_twice_is_already_exists() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    let r = f.rejected(Command::AddManagedDomain {
        name: "example.org".into(),
        at: 9_999,
    })?;
    assert!(
        matches!(&r, Rejection::AlreadyExists(m) if m.contains("example.org")),
        "{r:?}"
    );
    // The first one's timestamp is kept.
    assert_eq!(
        f.view().managed_domain("example.org")?.map(|d| d.added_at),
        Some(1_000)
    );
    Ok(())
}

#[test]
fn remove_managed_domain_removes_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(add_domain("example.net"))?;
    f.ok(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    assert_eq!(f.view().managed_domain("example.org")?, None);
    let names: Vec<String> = f
        .view()
        .managed_domains()?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, vec!["example.net".to_string()]);
    Ok(())
}

#[test]
fn remove_unknown_managed_domain_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.net"))?;
    let r = f.rejected(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("example.org")),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn remove_managed_domain_with_internal_users_is_conflict() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(Command::AddConsumer {
        consumer: internal("alice@example.org"),
    })?;
    f.ok(Command::AddConsumer {
        consumer: internal("bob@example.org"),
    })?;
    let r = f.rejected(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    assert!(
        matches!(&r, Rejection::Conflict(m) if m.contains("example.org") && m.contains('2')),
        "{r:?}"
    );
    assert!(f.view().managed_domain("example.org")?.is_some());

    // Once its users are gone the domain can be removed.
    f.ok(Command::RemoveConsumer {
        email: email("alice@example.org"),
    })?;
    f.rejected(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    f.ok(Command::RemoveConsumer {
        email: email("bob@example.org"),
    })?;
    f.ok(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    assert_eq!(f.view().managed_domain("example.org")?, None);
    Ok(())
}

#[test]
fn remove_managed_domain_ignores_users_of_other_domains() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(add_domain("sub.example.org"))?;
    f.ok(Command::AddConsumer {
        consumer: internal("carol@sub.example.org"),
    })?;
    f.ok(Command::AddConsumer {
        consumer: external("dave@example.com"),
    })?;
    f.ok(Command::RemoveManagedDomain {
        name: "example.org".into(),
    })?;
    assert_eq!(f.view().managed_domain("example.org")?, None);
    assert!(f.view().managed_domain("sub.example.org")?.is_some());
    assert_eq!(f.view().consumers()?.len(), 2);
    Ok(())
}

// ---- consumers ----

#[test]
fn add_consumer_internal_and_external() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    let mut alice = internal("Alice@example.org");
    alice.display_name = Some("Alice".into());
    alice.keys.push(managed_key("AA", vec![1, 2, 3]));
    let erin = external("erin@example.com");
    f.ok(Command::AddConsumer {
        consumer: alice.clone(),
    })?;
    f.ok(Command::AddConsumer {
        consumer: erin.clone(),
    })?;
    // Looked up case-insensitively, stored as given.
    assert_eq!(
        f.view().consumer(&email("alice@EXAMPLE.org"))?,
        Some(alice.clone())
    );
    assert_eq!(f.view().consumer(&email("erin@example.com"))?, Some(erin));
    assert_eq!(f.view().consumers()?.len(), 2);
    Ok(())
}

#[test]
fn add_consumer_twice_is_already_exists() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    let r = f.rejected(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    assert!(
        matches!(&r, Rejection::AlreadyExists(m) if m.contains("erin@example.com")),
        "{r:?}"
    );
    // Two consumers may not differ only in case.
    let r = f.rejected(Command::AddConsumer {
        consumer: external("ERIN@example.com"),
    })?;
    assert!(matches!(r, Rejection::AlreadyExists(_)), "{r:?}");
    assert_eq!(f.view().consumers()?.len(), 1);
    Ok(())
}

#[test]
fn internal_user_for_unmanaged_domain_is_conflict() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    let r = f.rejected(Command::AddConsumer {
        consumer: internal("alice@example.com"),
    })?;
    assert!(
        matches!(&r, Rejection::Conflict(m) if m.contains("internal") && m.contains("example.com")),
        "{r:?}"
    );
    assert!(f.view().consumers()?.is_empty());
    Ok(())
}

#[test]
fn external_user_for_managed_domain_is_conflict() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    let r = f.rejected(Command::AddConsumer {
        consumer: external("alice@example.org"),
    })?;
    assert!(
        matches!(&r, Rejection::Conflict(m) if m.contains("external") && m.contains("example.org")),
        "{r:?}"
    );
    assert!(f.view().consumers()?.is_empty());
    Ok(())
}

#[test]
fn update_consumer_replaces_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(Command::AddConsumer {
        consumer: internal("alice@example.org"),
    })?;
    let mut updated = internal("alice@example.org");
    updated.display_name = Some("Alice Liddell".into());
    updated.keys.push(managed_key("BB", vec![9; 16]));
    f.ok(Command::UpdateConsumer {
        consumer: updated.clone(),
    })?;
    assert_eq!(
        f.view().consumer(&email("alice@example.org"))?,
        Some(updated)
    );
    assert_eq!(f.view().consumers()?.len(), 1);
    Ok(())
}

#[test]
fn update_unknown_consumer_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    let r = f.rejected(Command::UpdateConsumer {
        consumer: external("frank@example.com"),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("frank@example.com")),
        "{r:?}"
    );
    assert_eq!(f.view().consumer(&email("frank@example.com"))?, None);
    Ok(())
}

#[test]
fn update_consumer_to_the_wrong_kind_is_conflict() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(Command::AddConsumer {
        consumer: internal("alice@example.org"),
    })?;
    f.ok(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    let r = f.rejected(Command::UpdateConsumer {
        consumer: external("alice@example.org"),
    })?;
    assert!(matches!(r, Rejection::Conflict(_)), "{r:?}");
    let r = f.rejected(Command::UpdateConsumer {
        consumer: internal("erin@example.com"),
    })?;
    assert!(matches!(r, Rejection::Conflict(_)), "{r:?}");
    Ok(())
}

#[test]
fn remove_consumer_removes_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    f.ok(Command::AddConsumer {
        consumer: external("frank@example.com"),
    })?;
    // Removal is case-insensitive too.
    f.ok(Command::RemoveConsumer {
        email: email("Erin@Example.com"),
    })?;
    assert_eq!(f.view().consumer(&email("erin@example.com"))?, None);
    assert_eq!(f.view().consumers()?, vec![external("frank@example.com")]);
    Ok(())
}

#[test]
fn remove_unknown_consumer_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddConsumer {
        consumer: external("erin@example.com"),
    })?;
    let r = f.rejected(Command::RemoveConsumer {
        email: email("frank@example.com"),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("frank@example.com")),
        "{r:?}"
    );
    Ok(())
}

// ---- administrators and API tokens ----

#[test]
fn add_administrator_stores_it() -> TestResult {
    let f = Fixture::new()?;
    let mut root = admin("root");
    root.email = Some("root@example.org".into());
    root.api_tokens.push(token("bootstrap", "aa"));
    f.ok(Command::AddAdministrator {
        admin: root.clone(),
    })?;
    assert_eq!(f.view().administrator("root")?, Some(root.clone()));
    assert_eq!(f.view().administrators()?, vec![root.clone()]);
    assert_eq!(f.view().administrator_by_token("aa")?, Some(root));
    assert_eq!(f.view().administrator_by_token("bb")?, None);
    Ok(())
}

#[test]
fn add_administrator_twice_is_already_exists() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    let mut other = admin("root");
    other.role = AdminRole::ReadOnly;
    let r = f.rejected(Command::AddAdministrator { admin: other })?;
    assert!(
        matches!(&r, Rejection::AlreadyExists(m) if m.contains("root")),
        "{r:?}"
    );
    assert_eq!(
        f.view().administrator("root")?.map(|a| a.role),
        Some(AdminRole::SuperUser)
    );
    Ok(())
}

#[test]
fn remove_administrator_removes_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    f.ok(Command::AddAdministrator {
        admin: admin("ops"),
    })?;
    f.ok(Command::RemoveAdministrator {
        login: "ops".into(),
    })?;
    assert_eq!(f.view().administrator("ops")?, None);
    assert_eq!(f.view().administrators()?, vec![admin("root")]);
    Ok(())
}

#[test]
fn remove_unknown_administrator_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    let r = f.rejected(Command::RemoveAdministrator {
        login: "ops".into(),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("ops")),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn add_api_token_appends_to_the_administrator() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    f.ok(Command::AddAdministrator {
        admin: admin("ops"),
    })?;
    f.ok(Command::AddApiToken {
        login: "root".into(),
        token: token("first", "11"),
    })?;
    f.ok(Command::AddApiToken {
        login: "root".into(),
        token: token("second", "22"),
    })?;
    let root = f.view().administrator("root")?.expect("root exists");
    assert_eq!(
        root.api_tokens,
        vec![token("first", "11"), token("second", "22")]
    );
    assert_eq!(
        f.view().administrator_by_token("22")?.map(|a| a.login),
        Some("root".into())
    );
    assert_eq!(f.view().administrator("ops")?, Some(admin("ops")));
    Ok(())
}

#[test]
fn add_api_token_for_unknown_administrator_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    let r = f.rejected(Command::AddApiToken {
        login: "ops".into(),
        token: token("t", "33"),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("ops")),
        "{r:?}"
    );
    assert_eq!(f.view().administrator_by_token("33")?, None);
    Ok(())
}

// ---- settings ----

#[test]
fn set_setting_overrides_the_default() -> TestResult {
    let f = Fixture::new()?;
    assert_eq!(
        f.view().setting(SettingName::LearnMode)?,
        Setting::LearnMode(true)
    );
    assert!(f.view().learn_mode()?);
    f.ok(Command::SetSetting {
        setting: Setting::LearnMode(false),
    })?;
    assert_eq!(
        f.view().setting(SettingName::LearnMode)?,
        Setting::LearnMode(false)
    );
    assert!(!f.view().learn_mode()?);
    // Setting it again overwrites; there is still one stored value.
    f.ok(Command::SetSetting {
        setting: Setting::LearnMode(true),
    })?;
    assert!(f.view().learn_mode()?);
    assert_eq!(f.tree.scan_prefix(keys::SETTING.as_bytes())?.len(), 1);
    Ok(())
}

// ---- dictionaries ----

#[test]
fn create_dictionary_stores_it() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("factory-words", true),
    })?;
    assert_eq!(
        f.view().dictionary("blocklist")?,
        Some(dictionary("blocklist", false))
    );
    assert_eq!(
        f.view().dictionaries()?,
        vec![
            dictionary("blocklist", false),
            dictionary("factory-words", true)
        ]
    );
    assert!(f.view().dictionary_entries("blocklist")?.is_empty());
    Ok(())
}

#[test]
fn create_dictionary_twice_is_already_exists() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    let r = f.rejected(Command::CreateDictionary {
        dictionary: dictionary("blocklist", true),
    })?;
    assert!(
        matches!(&r, Rejection::AlreadyExists(m) if m.contains("blocklist")),
        "{r:?}"
    );
    assert_eq!(
        f.view().dictionary("blocklist")?.map(|d| d.factory),
        Some(false)
    );
    Ok(())
}

#[test]
fn delete_dictionary_removes_it_and_its_entries_only() -> TestResult {
    let f = Fixture::new()?;
    // "block" is a prefix of "blocklist": deleting one must not touch the other's entries.
    for name in ["block", "blocklist"] {
        f.ok(Command::CreateDictionary {
            dictionary: dictionary(name, false),
        })?;
        assert_eq!(
            f.one(Command::AddDictionaryEntries {
                name: name.into(),
                entries: entries(&["spam", "scam"]),
            })?,
            Ok(CommandOutput::Count(2))
        );
    }
    f.ok(Command::DeleteDictionary {
        name: "block".into(),
    })?;
    assert_eq!(f.view().dictionary("block")?, None);
    assert!(f.view().dictionary_entries("block")?.is_empty());
    assert!(
        f.tree
            .scan_prefix(&keys::dictionary_entries("block"))?
            .is_empty()
    );
    assert_eq!(
        f.view().dictionary_entries("blocklist")?,
        entries(&["scam", "spam"])
    );
    assert!(f.view().dictionary("blocklist")?.is_some());
    Ok(())
}

#[test]
fn delete_unknown_dictionary_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    let r = f.rejected(Command::DeleteDictionary {
        name: "allowlist".into(),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("allowlist")),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn delete_factory_dictionary_is_conflict() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("factory-words", true),
    })?;
    f.one(Command::AddDictionaryEntries {
        name: "factory-words".into(),
        entries: entries(&["confidential"]),
    })?
    .map_err(StoreError::from)?;
    let r = f.rejected(Command::DeleteDictionary {
        name: "factory-words".into(),
    })?;
    assert!(
        matches!(&r, Rejection::Conflict(m) if m.contains("factory-words")),
        "{r:?}"
    );
    assert!(f.view().dictionary("factory-words")?.is_some());
    assert_eq!(
        f.view().dictionary_entries("factory-words")?,
        entries(&["confidential"])
    );
    Ok(())
}

#[test]
fn add_dictionary_entries_counts_only_new_ones() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    // Duplicates within one command, and entries differing only in case, count once.
    assert_eq!(
        f.one(Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["Spam", "spam", "scam", "SPAM"]),
        })?,
        Ok(CommandOutput::Count(2))
    );
    assert_eq!(
        f.one(Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["scam", "phish"]),
        })?,
        Ok(CommandOutput::Count(1))
    );
    assert_eq!(
        f.one(Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: Vec::new(),
        })?,
        Ok(CommandOutput::Count(0))
    );
    assert_eq!(
        f.view().dictionary_entries("blocklist")?,
        entries(&["phish", "scam", "spam"])
    );
    assert!(
        f.view()
            .dictionary_contains("blocklist", &entries(&["SCAM"])[0])?
    );
    assert!(
        !f.view()
            .dictionary_contains("blocklist", &entries(&["ham"])[0])?
    );
    Ok(())
}

#[test]
fn add_dictionary_entries_to_unknown_dictionary_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    let r = f.rejected(Command::AddDictionaryEntries {
        name: "blocklist".into(),
        entries: entries(&["spam"]),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("blocklist")),
        "{r:?}"
    );
    assert!(f.view().dictionary_entries("blocklist")?.is_empty());
    Ok(())
}

#[test]
fn remove_dictionary_entries_counts_only_present_ones() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    f.one(Command::AddDictionaryEntries {
        name: "blocklist".into(),
        entries: entries(&["spam", "scam", "phish"]),
    })?
    .map_err(StoreError::from)?;
    assert_eq!(
        f.one(Command::RemoveDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["SPAM", "spam", "ham"]),
        })?,
        Ok(CommandOutput::Count(1))
    );
    assert_eq!(
        f.view().dictionary_entries("blocklist")?,
        entries(&["phish", "scam"])
    );
    Ok(())
}

#[test]
fn remove_dictionary_entries_from_unknown_dictionary_is_not_found() -> TestResult {
    let f = Fixture::new()?;
    let r = f.rejected(Command::RemoveDictionaryEntries {
        name: "blocklist".into(),
        entries: entries(&["spam"]),
    })?;
    assert!(
        matches!(&r, Rejection::NotFound(m) if m.contains("blocklist")),
        "{r:?}"
    );
    Ok(())
}

// ---- join tokens ----

#[test]
fn issue_join_token_stores_it() -> TestResult {
    let f = Fixture::new()?;
    let t = join_token("abc123", "root", 5_000);
    f.ok(Command::IssueJoinToken { token: t.clone() })?;
    assert_eq!(f.join_token("abc123")?, Some(t));
    assert_eq!(f.join_token("other")?, None);
    Ok(())
}

#[test]
fn consume_join_token_allocates_node_ids_from_2() -> TestResult {
    let f = Fixture::new()?;
    for secret in ["t1", "t2", "t3"] {
        f.ok(Command::IssueJoinToken {
            token: join_token(secret, "root", 5_000),
        })?;
    }
    assert_eq!(
        f.one(consume("t1", 2_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    assert_eq!(
        f.one(consume("t2", 2_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(3))
    );
    // Several in one transaction see each other's counter.
    f.ok(Command::IssueJoinToken {
        token: join_token("t4", "root", 5_000),
    })?;
    assert_eq!(
        f.run(&[consume("t3", 2_000, None), consume("t4", 2_000, None)])?,
        vec![
            Ok(CommandOutput::NodeIdAllocated(4)),
            Ok(CommandOutput::NodeIdAllocated(5))
        ]
    );
    let mut used = join_token("t1", "root", 5_000);
    used.used_by = Some(2);
    assert_eq!(f.join_token("t1")?, Some(used));
    assert_eq!(f.join_token("t4")?.and_then(|t| t.used_by), Some(5));
    Ok(())
}

#[test]
fn consume_unknown_join_token_is_rejected() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t1", "root", 5_000),
    })?;
    let r = f.rejected(consume("nope", 2_000, None))?;
    assert!(
        matches!(&r, Rejection::JoinToken(m) if m.contains("did not issue")),
        "{r:?}"
    );
    // No member id was spent.
    assert_eq!(
        f.one(consume("t1", 2_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    Ok(())
}

#[test]
fn consume_used_join_token_is_rejected() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t1", "root", 5_000),
    })?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t2", "root", 5_000),
    })?;
    assert_eq!(
        f.one(consume("t1", 2_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    let r = f.rejected(consume("t1", 2_500, None))?;
    assert!(
        matches!(&r, Rejection::JoinToken(m) if m.contains("already used by member 2")),
        "{r:?}"
    );
    assert_eq!(
        f.one(consume("t2", 2_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(3))
    );
    Ok(())
}

#[test]
fn consume_expired_join_token_is_rejected() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t1", "root", 5_000),
    })?;
    let r = f.rejected(consume("t1", 5_001, None))?;
    assert!(
        matches!(&r, Rejection::JoinToken(m) if m.contains("expired")),
        "{r:?}"
    );
    assert_eq!(f.join_token("t1")?.and_then(|t| t.used_by), None);
    // Valid up to and including its expiry instant.
    assert_eq!(
        f.one(consume("t1", 5_000, None))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    Ok(())
}

#[test]
fn consume_join_token_adds_cli_token_to_the_issuing_admin() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    f.ok(Command::AddAdministrator {
        admin: admin("ops"),
    })?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t1", "ops", 5_000),
    })?;
    let cli = token("cli on member 2", "c11");
    assert_eq!(
        f.one(consume("t1", 2_000, Some(cli.clone())))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    assert_eq!(
        f.view().administrator("ops")?.map(|a| a.api_tokens),
        Some(vec![cli])
    );
    assert_eq!(f.view().administrator("root")?, Some(admin("root")));
    assert_eq!(
        f.view().administrator_by_token("c11")?.map(|a| a.login),
        Some("ops".into())
    );
    Ok(())
}

#[test]
fn consume_join_token_of_a_removed_admin_still_allocates() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::AddAdministrator {
        admin: admin("root"),
    })?;
    f.ok(Command::IssueJoinToken {
        token: join_token("t1", "gone", 5_000),
    })?;
    assert_eq!(
        f.one(consume("t1", 2_000, Some(token("cli", "c22"))))?,
        Ok(CommandOutput::NodeIdAllocated(2))
    );
    // The CLI token has no administrator to go to; nobody else gets it.
    assert_eq!(f.view().administrator("gone")?, None);
    assert_eq!(f.view().administrator_by_token("c22")?, None);
    assert_eq!(f.view().administrator("root")?, Some(admin("root")));
    Ok(())
}

// ---- transactions ----

#[test]
fn rejected_command_in_a_batch_changes_nothing_and_others_apply() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    let outcomes = f.run(&[
        Command::AddConsumer {
            consumer: internal("alice@example.org"),
        },
        // Refused: internal user of an unmanaged domain.
        Command::AddConsumer {
            consumer: internal("bob@example.com"),
        },
        // Refused: already pending in this transaction.
        Command::AddConsumer {
            consumer: internal("alice@example.org"),
        },
        Command::AddConsumer {
            consumer: external("erin@example.com"),
        },
    ])?;
    assert_eq!(outcomes[0], Ok(CommandOutput::Done));
    assert!(matches!(outcomes[1], Err(Rejection::Conflict(_))));
    assert!(matches!(outcomes[2], Err(Rejection::AlreadyExists(_))));
    assert_eq!(outcomes[3], Ok(CommandOutput::Done));
    let mut emails: Vec<String> = f
        .view()
        .consumers()?
        .into_iter()
        .map(|c| c.email.to_string())
        .collect();
    emails.sort();
    assert_eq!(emails, vec!["alice@example.org", "erin@example.com"]);
    Ok(())
}

#[test]
fn rejection_leaves_pending_writes_untouched() -> TestResult {
    let f = Fixture::new()?;
    let mut txn = Txn::new(f.tree.as_ref());
    assert_eq!(
        apply(&mut txn, &add_domain("example.org"))?,
        Ok(CommandOutput::Done)
    );
    let pending = txn.overlay.clone();
    for refused in [
        add_domain("example.org"),
        Command::RemoveManagedDomain {
            name: "example.net".into(),
        },
        Command::AddConsumer {
            consumer: external("a@example.org"),
        },
        Command::UpdateConsumer {
            consumer: internal("a@example.org"),
        },
        Command::RemoveConsumer {
            email: email("a@example.org"),
        },
        Command::RemoveAdministrator {
            login: "root".into(),
        },
        Command::AddApiToken {
            login: "root".into(),
            token: token("t", "00"),
        },
        Command::DeleteDictionary { name: "d".into() },
        Command::AddDictionaryEntries {
            name: "d".into(),
            entries: entries(&["x"]),
        },
        Command::RemoveDictionaryEntries {
            name: "d".into(),
            entries: entries(&["x"]),
        },
        consume("nope", 1, Some(token("cli", "01"))),
    ] {
        let outcome = apply(&mut txn, &refused)?;
        assert!(outcome.is_err(), "{refused:?} accepted: {outcome:?}");
        assert_eq!(txn.overlay, pending, "{refused:?} changed the transaction");
    }
    Ok(())
}

#[test]
fn txn_reads_see_pending_writes() -> TestResult {
    let f = Fixture::new()?;
    let outcomes = f.run(&[
        Command::CreateDictionary {
            dictionary: dictionary("blocklist", false),
        },
        Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["spam", "scam"]),
        },
        Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["spam"]),
        },
        Command::RemoveDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["scam"]),
        },
        Command::AddManagedDomain {
            name: "example.org".into(),
            at: 1,
        },
        Command::AddConsumer {
            consumer: internal("alice@example.org"),
        },
    ])?;
    assert_eq!(
        outcomes,
        vec![
            Ok(CommandOutput::Done),
            Ok(CommandOutput::Count(2)),
            Ok(CommandOutput::Count(0)),
            Ok(CommandOutput::Count(1)),
            Ok(CommandOutput::Done),
            Ok(CommandOutput::Done),
        ]
    );
    assert_eq!(
        f.view().dictionary_entries("blocklist")?,
        entries(&["spam"])
    );
    assert!(f.view().consumer(&email("alice@example.org"))?.is_some());
    Ok(())
}

#[test]
fn txn_add_entries_then_delete_dictionary_leaves_no_entries() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    f.one(Command::AddDictionaryEntries {
        name: "blocklist".into(),
        entries: entries(&["committed"]),
    })?
    .map_err(StoreError::from)?;
    let outcomes = f.run(&[
        Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["pending-1", "pending-2"]),
        },
        Command::DeleteDictionary {
            name: "blocklist".into(),
        },
        // The dictionary is gone within the transaction already.
        Command::AddDictionaryEntries {
            name: "blocklist".into(),
            entries: entries(&["late"]),
        },
    ])?;
    assert_eq!(outcomes[0], Ok(CommandOutput::Count(2)));
    assert_eq!(outcomes[1], Ok(CommandOutput::Done));
    assert!(matches!(outcomes[2], Err(Rejection::NotFound(_))));
    assert_eq!(f.view().dictionary("blocklist")?, None);
    assert!(
        f.tree
            .scan_prefix(keys::DICTIONARY_ENTRY.as_bytes())?
            .is_empty()
    );
    // Created again, it starts empty.
    f.ok(Command::CreateDictionary {
        dictionary: dictionary("blocklist", false),
    })?;
    assert!(f.view().dictionary_entries("blocklist")?.is_empty());
    Ok(())
}

#[test]
fn txn_domain_removal_sees_pending_users() -> TestResult {
    let f = Fixture::new()?;
    f.ok(add_domain("example.org"))?;
    f.ok(Command::AddConsumer {
        consumer: internal("alice@example.org"),
    })?;
    // A user removed earlier in the transaction no longer blocks the domain's removal...
    let outcomes = f.run(&[
        Command::RemoveConsumer {
            email: email("alice@example.org"),
        },
        Command::RemoveManagedDomain {
            name: "example.org".into(),
        },
    ])?;
    assert_eq!(
        outcomes,
        vec![Ok(CommandOutput::Done), Ok(CommandOutput::Done)]
    );
    assert!(f.view().managed_domains()?.is_empty());
    // ...and one added earlier in the transaction does block it.
    let outcomes = f.run(&[
        add_domain("example.org"),
        Command::AddConsumer {
            consumer: internal("bob@example.org"),
        },
        Command::RemoveManagedDomain {
            name: "example.org".into(),
        },
    ])?;
    assert_eq!(outcomes[0], Ok(CommandOutput::Done));
    assert_eq!(outcomes[1], Ok(CommandOutput::Done));
    assert!(matches!(outcomes[2], Err(Rejection::Conflict(_))));
    assert!(f.view().managed_domain("example.org")?.is_some());
    Ok(())
}

#[test]
fn txn_join_token_issued_and_consumed_together() -> TestResult {
    let f = Fixture::new()?;
    let outcomes = f.run(&[
        Command::AddAdministrator {
            admin: admin("root"),
        },
        Command::IssueJoinToken {
            token: join_token("t1", "root", 5_000),
        },
        consume("t1", 2_000, Some(token("cli", "c33"))),
        consume("t1", 2_000, None),
    ])?;
    assert_eq!(outcomes[2], Ok(CommandOutput::NodeIdAllocated(2)));
    assert!(matches!(&outcomes[3], Err(Rejection::JoinToken(m)) if m.contains("member 2")));
    assert_eq!(
        f.view().administrator_by_token("c33")?.map(|a| a.login),
        Some("root".into())
    );
    Ok(())
}

fn managed_key(fingerprint: &str, public: Vec<u8>) -> ManagedKey {
    ManagedKey {
        fingerprint: fingerprint.into(),
        mode: KeyMode::Skm,
        public,
        secret: Some(Sealed(vec![7; 40])),
        smime: None,
        created_at: 1,
        revoked_at: None,
        adk_fingerprint: None,
    }
}

fn org_item(kind: OrganizationItemKind, fingerprint: &str) -> OrganizationItem {
    OrganizationItem {
        kind,
        public: vec![1],
        secret: Some(Sealed(vec![2; 40])),
        fingerprint: fingerprint.into(),
        added_at: 1,
        generated: true,
    }
}

fn set_org(kind: OrganizationItemKind, fingerprint: &str, confirmed: bool) -> Command {
    Command::SetOrganizationItem {
        item: org_item(kind, fingerprint),
        confirmed,
        data_key_for_organization_key: (kind == OrganizationItemKind::OrganizationKey)
            .then(|| fingerprint.as_bytes().to_vec()),
    }
}

fn ignition(name: &str) -> Command {
    Command::AddIgnitionKey {
        key: IgnitionKey {
            name: name.into(),
            salt: vec![0; 16],
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
            wrapped_data_key: Sealed(vec![3; 60]),
            added_at: 1,
        },
    }
}

#[test]
fn replacing_the_organization_key_needs_confirmation_and_has_the_guides_consequences() -> TestResult
{
    use OrganizationItemKind as K;
    let f = Fixture::new()?;
    // The certificate needs a key to attach to.
    assert!(matches!(
        f.rejected(set_org(K::OrganizationCertificate, "C1", false))?,
        Rejection::Conflict(_)
    ));
    f.ok(set_org(K::OrganizationKey, "K1", false))?;
    f.ok(set_org(K::OrganizationCertificate, "C1", false))?;
    f.ok(ignition("admin"))?;
    // Only one Organization Certificate.
    assert!(matches!(
        f.rejected(set_org(K::OrganizationCertificate, "C2", false))?,
        Rejection::Conflict(_)
    ));
    // Replacing the key says what it will do and does nothing without confirmation.
    let Rejection::Conflict(why) = f.rejected(set_org(K::OrganizationKey, "K2", false))? else {
        panic!("expected a conflict");
    };
    assert!(why.contains("backup") && why.contains("Ignition"), "{why}");
    f.ok(set_org(K::OrganizationKey, "K2", true))?;
    let v = f.view();
    assert_eq!(
        v.organization_item(K::OrganizationKey)?
            .map(|i| i.fingerprint),
        Some("K2".into())
    );
    assert!(v.organization_item(K::OrganizationCertificate)?.is_none());
    assert!(v.ignition_keys()?.is_empty());
    assert_eq!(v.data_key_for_organization_key()?, Some(b"K2".to_vec()));
    // The key itself cannot be deleted.
    assert!(matches!(
        f.rejected(Command::RemoveOrganizationItem {
            kind: K::OrganizationKey
        })?,
        Rejection::Conflict(_)
    ));
    Ok(())
}

#[test]
fn one_item_per_slot_and_dependent_items() -> TestResult {
    use OrganizationItemKind as K;
    let f = Fixture::new()?;
    f.ok(set_org(K::Adk, "A1", false))?;
    assert!(matches!(
        f.rejected(set_org(K::Adk, "A2", false))?,
        Rejection::Conflict(_)
    ));
    f.ok(Command::RemoveOrganizationItem { kind: K::Adk })?;
    f.ok(set_org(K::Adk, "A2", false))?;
    assert!(matches!(
        f.rejected(set_org(K::ExternalUserRootCertificate, "E", false))?,
        Rejection::Conflict(_)
    ));
    f.ok(set_org(K::ExternalUserRootKey, "R", false))?;
    f.ok(set_org(K::ExternalUserRootCertificate, "E", false))?;
    assert!(matches!(
        f.rejected(Command::RemoveOrganizationItem {
            kind: K::ExternalUserRootKey
        })?,
        Rejection::Conflict(_)
    ));
    assert!(matches!(
        f.rejected(Command::RemoveOrganizationItem {
            kind: K::VerifiedDirectoryKey
        })?,
        Rejection::NotFound(_)
    ));
    Ok(())
}

#[test]
fn ignition_keys_are_named_once() -> TestResult {
    let f = Fixture::new()?;
    f.ok(ignition("a"))?;
    assert!(matches!(
        f.rejected(ignition("a"))?,
        Rejection::AlreadyExists(_)
    ));
    f.ok(Command::RemoveIgnitionKey { name: "a".into() })?;
    assert!(matches!(
        f.rejected(Command::RemoveIgnitionKey { name: "a".into() })?,
        Rejection::NotFound(_)
    ));
    Ok(())
}

#[test]
fn restore_replaces_global_data_but_keeps_the_cluster_and_the_restoring_admin() -> TestResult {
    let source = Fixture::new()?;
    source.ok(add_domain("old.example"))?;
    source.ok(set_org(OrganizationItemKind::OrganizationKey, "K", false))?;
    let entries = source.view().backup_entries()?;
    assert!(entries.iter().all(|(k, _)| !k.starts_with(b"\x00")));

    let f = Fixture::new()?;
    f.ok(add_domain("new.example"))?;
    let restorer = Administrator {
        login: "restorer".into(),
        role: AdminRole::SuperUser,
        email: None,
        api_tokens: vec![],
        created_at: 1,
        passphrase: None,
        failed_logins: Default::default(),
    };
    let outcome = f.one(Command::RestoreState {
        entries: entries.clone(),
        keep_admin: Some(restorer),
    })?;
    assert_eq!(outcome, Ok(CommandOutput::Count(entries.len() as u64)));
    let v = f.view();
    let names: Vec<String> = v.managed_domains()?.into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["old.example"]);
    assert!(v.administrator("restorer")?.is_some());
    assert_eq!(
        v.organization_item(OrganizationItemKind::OrganizationKey)?
            .map(|i| i.fingerprint),
        Some("K".into())
    );
    Ok(())
}

fn policy_chain(name: &str, factory: bool) -> signet_policy::model::Chain {
    use signet_policy::model::{
        Action, Applicability, Chain, Condition, ConditionGroup, ConditionSubject, Modifier, Rule,
    };
    Chain {
        name: name.into(),
        applicability: Applicability::Server,
        rules: vec![Rule {
            name: "tag partner mail".into(),
            description: String::new(),
            enabled: true,
            conditions: ConditionGroup::all(vec![
                Condition::new(ConditionSubject::RecipientDomain, Modifier::Is, "ext.test").into(),
            ]),
            actions: vec![
                Action::AddHeader {
                    name: "X-T".into(),
                    value: "1".into(),
                    replace_existing: false,
                },
                Action::Deliver,
            ],
            key_search: vec![],
        }],
        factory,
    }
}

#[test]
fn policy_chains_are_stored_whole_and_factory_chains_stay() -> TestResult {
    let f = Fixture::new()?;
    f.ok(Command::PutPolicyChain {
        chain: policy_chain("Default", true),
        replace: false,
    })?;
    f.ok(Command::PutPolicyChain {
        chain: policy_chain("Partners", false),
        replace: false,
    })?;
    assert!(matches!(
        f.rejected(Command::PutPolicyChain {
            chain: policy_chain("PARTNERS", false),
            replace: false,
        })?,
        Rejection::AlreadyExists(_)
    ));
    assert!(matches!(
        f.rejected(Command::PutPolicyChain {
            chain: policy_chain("Nope", false),
            replace: true,
        })?,
        Rejection::NotFound(_)
    ));
    // Replacing a factory chain keeps it a factory chain.
    f.ok(Command::PutPolicyChain {
        chain: policy_chain("default", false),
        replace: true,
    })?;
    let v = f.view();
    assert_eq!(v.policy_chain("DEFAULT")?.map(|c| c.factory), Some(true));
    assert_eq!(v.policy()?.chains.len(), 2);
    assert_eq!(
        v.policy_chain("partners")?,
        Some(policy_chain("Partners", false))
    );
    assert!(matches!(
        f.rejected(Command::DeletePolicyChain {
            name: "Default".into()
        })?,
        Rejection::Conflict(_)
    ));
    f.ok(Command::DeletePolicyChain {
        name: "partners".into(),
    })?;
    assert!(f.view().policy_chain("Partners")?.is_none());
    Ok(())
}
