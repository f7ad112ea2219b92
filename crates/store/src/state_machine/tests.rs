use super::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use openraft::{CommittedLeaderId, Membership};
use signet_model::{
    AdminRole, Administrator, ApiToken, Consumer, ConsumerKind, Dictionary, DictionaryEntry,
    EmailAddress, Setting, SettingName,
};
use tempfile::TempDir;

use crate::backend::SledBackend;
use crate::command::{Command, CommandOutput, JoinTokenRecord, Rejection};
use crate::types::{MemberNode, Request};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A state machine on a real sled database in its own temporary directory.
struct Machine {
    _dir: TempDir,
    sm: StateMachine,
}

impl Machine {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir.path())?);
        let sm = StateMachine::open(backend)?;
        Ok(Machine { _dir: dir, sm })
    }

    /// Every data pair of the state tree (meta keys left out).
    fn data(&self) -> Result<Vec<Pair>, StoreError> {
        Ok(self
            .sm
            .state
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(k, _)| !k.starts_with(keys::META_PREFIX))
            .collect())
    }

    /// Every pair of the state tree, meta keys included.
    fn everything(&self) -> Result<Vec<Pair>, StoreError> {
        self.sm.state.scan_prefix(b"")
    }
}

fn log_id(term: u64, index: u64) -> LogId {
    openraft::LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn normal(term: u64, index: u64, commands: Vec<Command>) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request { commands }),
    }
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn members(voters: &[u64]) -> Membership<u64, crate::types::MemberNode> {
    let nodes: BTreeMap<u64, MemberNode> = voters
        .iter()
        .map(|&id| {
            (
                id,
                MemberNode {
                    cluster_addr: format!("10.0.0.{id}:7000"),
                    api_addr: format!("10.0.0.{id}:8443"),
                },
            )
        })
        .collect();
    Membership::new(vec![voters.iter().copied().collect::<BTreeSet<_>>()], nodes)
}

fn membership_entry(term: u64, index: u64, voters: &[u64]) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(members(voters)),
    }
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).expect("valid test address")
}

fn consumer(raw: &str, kind: ConsumerKind) -> Consumer {
    Consumer {
        email: email(raw),
        kind,
        display_name: Some(format!("user {raw}")),
        keys: Vec::new(),
        created_at: 1_000,
    }
}

fn dictionary(name: &str, factory: bool) -> Dictionary {
    Dictionary {
        name: name.into(),
        description: String::new(),
        factory,
        created_at: 1_000,
    }
}

fn entries(raw: &[&str]) -> Vec<DictionaryEntry> {
    raw.iter()
        .map(|r| DictionaryEntry::parse(r).expect("valid test entry"))
        .collect()
}

fn admin(login: &str) -> Administrator {
    Administrator {
        login: login.into(),
        role: AdminRole::SuperUser,
        email: None,
        api_tokens: vec![ApiToken {
            label: "bootstrap".into(),
            sha256_hex: format!("{login}-digest"),
            created_at: 1_000,
        }],
        created_at: 1_000,
        passphrase: None,
        failed_logins: Default::default(),
    }
}

/// A log with a bit of everything: membership, domains, users, dictionaries, settings, admins,
/// join tokens. Returns the entries; the last one is at (term 2, index 6).
fn populated_log() -> Vec<Entry> {
    vec![
        blank(1, 1),
        membership_entry(1, 2, &[1]),
        normal(
            1,
            3,
            vec![
                Command::AddManagedDomain {
                    name: "example.org".into(),
                    at: 1_000,
                },
                Command::AddConsumer {
                    consumer: consumer("alice@example.org", ConsumerKind::Internal),
                },
                Command::AddConsumer {
                    consumer: consumer("erin@example.com", ConsumerKind::External),
                },
                Command::AddAdministrator {
                    admin: admin("root"),
                },
            ],
        ),
        normal(
            2,
            4,
            vec![
                Command::CreateDictionary {
                    dictionary: dictionary("blocklist", false),
                },
                Command::CreateDictionary {
                    dictionary: dictionary("factory-words", true),
                },
                Command::AddDictionaryEntries {
                    name: "blocklist".into(),
                    entries: entries(&["spam", "scam"]),
                },
                Command::AddDictionaryEntries {
                    name: "factory-words".into(),
                    entries: entries(&["confidential"]),
                },
            ],
        ),
        normal(
            2,
            5,
            vec![
                Command::SetSetting {
                    setting: Setting::LearnMode(false),
                },
                Command::IssueJoinToken {
                    token: JoinTokenRecord {
                        secret_sha256_hex: "t1".into(),
                        issued_by: "root".into(),
                        issued_at: 1_000,
                        expires_at: 9_000,
                        used_by: None,
                    },
                },
            ],
        ),
        normal(
            2,
            6,
            vec![Command::ConsumeJoinToken {
                secret_sha256_hex: "t1".into(),
                now: 2_000,
                cli_token: None,
            }],
        ),
    ]
}

/// Asserts that two views show the same replicated state, table by table.
fn assert_same_state(a: &StateView, b: &StateView) -> Result<(), StoreError> {
    assert_eq!(a.managed_domains()?, b.managed_domains()?);
    assert_eq!(a.consumers()?, b.consumers()?);
    assert_eq!(a.administrators()?, b.administrators()?);
    assert_eq!(
        a.setting(SettingName::LearnMode)?,
        b.setting(SettingName::LearnMode)?
    );
    let dictionaries = a.dictionaries()?;
    assert_eq!(dictionaries, b.dictionaries()?);
    for d in &dictionaries {
        assert_eq!(
            a.dictionary_entries(&d.name)?,
            b.dictionary_entries(&d.name)?,
            "entries of {}",
            d.name
        );
    }
    Ok(())
}

fn body(snapshot: Snapshot<TypeConfig>) -> Vec<u8> {
    snapshot.snapshot.into_inner()
}

async fn install(
    sm: &mut StateMachine,
    meta: &SnapshotMeta,
    data: Vec<u8>,
) -> Result<(), StorageError> {
    let mut receiving = sm.begin_receiving_snapshot().await?;
    assert!(receiving.get_ref().is_empty());
    receiving.get_mut().extend_from_slice(&data);
    sm.install_snapshot(meta, receiving).await
}

#[tokio::test]
async fn apply_returns_outcomes_and_records_the_position() -> TestResult {
    let mut m = Machine::new()?;
    assert_eq!(
        m.sm.applied_state().await?,
        (None, StoredMembership::default())
    );

    let responses =
        m.sm.apply(vec![
            blank(1, 1),
            membership_entry(1, 2, &[1]),
            normal(
                1,
                3,
                vec![
                    Command::CreateDictionary {
                        dictionary: dictionary("blocklist", false),
                    },
                    Command::AddDictionaryEntries {
                        name: "blocklist".into(),
                        entries: entries(&["spam", "scam", "spam"]),
                    },
                    Command::DeleteDictionary {
                        name: "nope".into(),
                    },
                ],
            ),
        ])
        .await?;
    assert_eq!(responses.len(), 3);
    assert!(responses[0].outcomes.is_empty());
    assert!(responses[1].outcomes.is_empty());
    assert_eq!(
        responses[2].outcomes,
        vec![
            Ok(CommandOutput::Done),
            Ok(CommandOutput::Count(2)),
            Err(Rejection::NotFound("dictionary nope".into())),
        ]
    );

    let (applied, membership) = m.sm.applied_state().await?;
    assert_eq!(applied, Some(log_id(1, 3)));
    assert_eq!(
        membership,
        StoredMembership::new(Some(log_id(1, 2)), members(&[1]))
    );
    assert_eq!(
        m.sm.view().dictionary_entries("blocklist")?,
        entries(&["scam", "spam"])
    );

    // A later batch moves the position; membership stays until a new membership entry.
    m.sm.apply(vec![normal(
        2,
        4,
        vec![Command::SetSetting {
            setting: Setting::LearnMode(false),
        }],
    )])
    .await?;
    let (applied, membership) = m.sm.applied_state().await?;
    assert_eq!(applied, Some(log_id(2, 4)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 2)));
    assert!(!m.sm.view().learn_mode()?);

    m.sm.apply(vec![membership_entry(2, 5, &[1, 2])]).await?;
    let (applied, membership) = m.sm.applied_state().await?;
    assert_eq!(applied, Some(log_id(2, 5)));
    assert_eq!(
        membership,
        StoredMembership::new(Some(log_id(2, 5)), members(&[1, 2]))
    );
    Ok(())
}

#[tokio::test]
async fn apply_of_no_entries_changes_nothing() -> TestResult {
    let mut m = Machine::new()?;
    m.sm.apply(populated_log()).await?;
    let before = m.everything()?;
    let responses = m.sm.apply(Vec::<Entry>::new()).await?;
    assert!(responses.is_empty());
    assert_eq!(m.everything()?, before);
    assert_eq!(m.sm.applied_state().await?.0, Some(log_id(2, 6)));
    Ok(())
}

#[tokio::test]
async fn snapshot_installs_into_a_fresh_state_machine() -> TestResult {
    let mut source = Machine::new()?;
    let responses = source.sm.apply(populated_log()).await?;
    assert_eq!(
        responses.last().map(|r| r.outcomes.clone()),
        Some(vec![Ok(CommandOutput::NodeIdAllocated(2))])
    );
    let (applied, membership) = source.sm.applied_state().await?;
    assert_eq!(applied, Some(log_id(2, 6)));

    assert!(source.sm.get_current_snapshot().await?.is_none());
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 6)));
    assert_eq!(snapshot.meta.last_membership, membership);
    let meta = snapshot.meta.clone();
    let data = body(snapshot);
    // The builder keeps what it built.
    let kept = source
        .sm
        .get_current_snapshot()
        .await?
        .expect("the built snapshot is kept");
    assert_eq!(kept.meta, meta);
    assert_eq!(body(kept), data);
    // Meta keys are not part of the snapshot data.
    let pairs: Vec<Pair> = decode(&data)?;
    assert_eq!(pairs, source.data()?);
    assert!(pairs.iter().all(|(k, _)| !k.starts_with(keys::META_PREFIX)));

    let mut target = Machine::new()?;
    install(&mut target.sm, &meta, data.clone()).await?;

    assert_same_state(&source.sm.view(), &target.sm.view())?;
    assert_eq!(target.data()?, source.data()?);
    assert_eq!(target.everything()?, source.everything()?);
    assert!(!target.sm.view().learn_mode()?);
    assert_eq!(
        target.sm.view().dictionary_entries("blocklist")?,
        entries(&["scam", "spam"])
    );
    let (t_applied, t_membership) = target.sm.applied_state().await?;
    assert_eq!(t_applied, meta.last_log_id);
    assert_eq!(t_membership, meta.last_membership);
    let current = target
        .sm
        .get_current_snapshot()
        .await?
        .expect("the installed snapshot is kept");
    assert_eq!(current.meta, meta);
    assert_eq!(body(current), data);

    // The target continues from the snapshot: the node-id counter came along.
    let responses = target
        .sm
        .apply(vec![normal(
            2,
            7,
            vec![
                Command::IssueJoinToken {
                    token: JoinTokenRecord {
                        secret_sha256_hex: "t2".into(),
                        issued_by: "root".into(),
                        issued_at: 3_000,
                        expires_at: 9_000,
                        used_by: None,
                    },
                },
                Command::ConsumeJoinToken {
                    secret_sha256_hex: "t2".into(),
                    now: 3_000,
                    cli_token: None,
                },
                Command::ConsumeJoinToken {
                    secret_sha256_hex: "t1".into(),
                    now: 3_000,
                    cli_token: None,
                },
            ],
        )])
        .await?;
    assert_eq!(
        responses[0].outcomes[1],
        Ok(CommandOutput::NodeIdAllocated(3))
    );
    assert!(matches!(
        responses[0].outcomes[2],
        Err(Rejection::JoinToken(_))
    ));
    Ok(())
}

#[tokio::test]
async fn snapshot_of_an_empty_state_machine() -> TestResult {
    let mut source = Machine::new()?;
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    assert_eq!(snapshot.meta.last_log_id, None);
    let meta = snapshot.meta.clone();
    let data = body(snapshot);

    let mut target = Machine::new()?;
    target.sm.apply(populated_log()).await?;
    install(&mut target.sm, &meta, data).await?;
    assert!(target.data()?.is_empty());
    assert_eq!(
        target.sm.applied_state().await?,
        (None, StoredMembership::default())
    );
    assert!(target.sm.view().consumers()?.is_empty());
    assert!(target.sm.view().learn_mode()?);
    Ok(())
}

#[tokio::test]
async fn snapshot_is_captured_when_the_builder_is_made() -> TestResult {
    let mut m = Machine::new()?;
    m.sm.apply(populated_log()).await?;
    let at_capture = m.data()?;
    let mut builder = m.sm.get_snapshot_builder().await;
    m.sm.apply(vec![normal(
        3,
        7,
        vec![Command::RemoveConsumer {
            email: email("erin@example.com"),
        }],
    )])
    .await?;
    let snapshot = builder.build_snapshot().await?;
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 6)));
    let pairs: Vec<Pair> = decode(&body(snapshot))?;
    assert_eq!(pairs, at_capture);
    assert_ne!(pairs, m.data()?);
    Ok(())
}

#[tokio::test]
async fn installing_replaces_a_non_empty_state() -> TestResult {
    let mut source = Machine::new()?;
    source
        .sm
        .apply(vec![
            membership_entry(1, 1, &[1, 2]),
            normal(
                1,
                2,
                vec![
                    Command::AddManagedDomain {
                        name: "example.net".into(),
                        at: 5,
                    },
                    Command::CreateDictionary {
                        dictionary: dictionary("allowlist", false),
                    },
                    Command::AddDictionaryEntries {
                        name: "allowlist".into(),
                        entries: entries(&["friend"]),
                    },
                ],
            ),
        ])
        .await?;
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    let meta = snapshot.meta.clone();
    let data = body(snapshot);

    // The target has its own, different state (further along, even) and an older snapshot.
    let mut target = Machine::new()?;
    target.sm.apply(populated_log()).await?;
    let old = target
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    assert_ne!(old.meta, meta);

    install(&mut target.sm, &meta, data.clone()).await?;

    assert_same_state(&source.sm.view(), &target.sm.view())?;
    assert_eq!(target.everything()?, source.everything()?);
    let view = target.sm.view();
    assert!(view.consumers()?.is_empty());
    assert!(view.administrators()?.is_empty());
    assert_eq!(view.managed_domain("example.org")?, None);
    assert_eq!(view.dictionary("blocklist")?, None);
    assert!(view.dictionary_entries("blocklist")?.is_empty());
    assert!(view.learn_mode()?, "the setting went back to its default");
    assert_eq!(view.dictionary_entries("allowlist")?, entries(&["friend"]));
    assert!(
        target.sm.state.get(keys::NEXT_NODE_ID)?.is_none(),
        "counter not in the snapshot survived"
    );
    assert_eq!(
        target.sm.applied_state().await?,
        (meta.last_log_id, meta.last_membership.clone())
    );
    let current = target
        .sm
        .get_current_snapshot()
        .await?
        .expect("the installed snapshot is kept");
    assert_eq!(current.meta, meta);
    assert_eq!(body(current), data);
    Ok(())
}

#[tokio::test]
async fn corrupt_snapshot_is_an_error_and_keeps_the_old_state() -> TestResult {
    let mut source = Machine::new()?;
    source.sm.apply(populated_log()).await?;
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    let meta = snapshot.meta.clone();
    let good = body(snapshot);

    let mut target = Machine::new()?;
    target
        .sm
        .apply(vec![normal(
            1,
            1,
            vec![Command::AddManagedDomain {
                name: "example.net".into(),
                at: 5,
            }],
        )])
        .await?;
    let old = target
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    let old_meta = old.meta.clone();
    let old_data = body(old);
    let before = target.everything()?;
    let applied_before = target.sm.applied_state().await?;

    let mut truncated = good.clone();
    truncated.truncate(good.len() - 3);
    let mut bad_length = good.clone();
    bad_length[0] = 0xff; // an absurd pair count
    for corrupt in [
        Vec::new(),
        b"this is not a snapshot".to_vec(),
        truncated,
        bad_length,
    ] {
        let result = install(&mut target.sm, &meta, corrupt.clone()).await;
        assert!(result.is_err(), "{corrupt:?} was installed");
        assert_eq!(target.everything()?, before);
        assert_eq!(target.sm.applied_state().await?, applied_before);
        let current = target
            .sm
            .get_current_snapshot()
            .await?
            .expect("the old snapshot is still there");
        assert_eq!(current.meta, old_meta);
        assert_eq!(body(current), old_data);
    }
    assert!(target.sm.view().managed_domain("example.net")?.is_some());
    assert!(target.sm.view().consumers()?.is_empty());

    // The good one still installs afterwards.
    install(&mut target.sm, &meta, good).await?;
    assert_same_state(&source.sm.view(), &target.sm.view())?;
    Ok(())
}

#[tokio::test]
async fn snapshot_with_trailing_garbage_is_an_error() -> TestResult {
    let mut source = Machine::new()?;
    source.sm.apply(populated_log()).await?;
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    let meta = snapshot.meta.clone();
    let mut corrupt = body(snapshot);
    corrupt.extend_from_slice(b"garbage");

    let mut target = Machine::new()?;
    let before = target.everything()?;
    let result = install(&mut target.sm, &meta, corrupt).await;
    assert!(result.is_err(), "a body with trailing bytes was installed");
    assert_eq!(target.everything()?, before);
    assert!(target.sm.get_current_snapshot().await?.is_none());
    Ok(())
}

/// Storage failures to inject into the `state` tree.
#[derive(Default)]
struct Faults {
    get: AtomicBool,
    scan: AtomicBool,
}

fn injected() -> StoreError {
    StoreError::Backend("injected failure".into())
}

/// A sled backend whose `state` tree fails reads on demand.
struct FaultyBackend {
    inner: SledBackend,
    faults: Arc<Faults>,
}

impl Backend for FaultyBackend {
    fn tree(&self, name: &str) -> Result<Arc<dyn Tree>, StoreError> {
        let tree = self.inner.tree(name)?;
        if name != "state" {
            return Ok(tree);
        }
        Ok(Arc::new(FaultyTree {
            inner: tree,
            faults: self.faults.clone(),
        }))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
}

struct FaultyTree {
    inner: Arc<dyn Tree>,
    faults: Arc<Faults>,
}

impl Tree for FaultyTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.faults.get.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.get(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
        if self.faults.scan.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.scan_prefix(prefix)
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, StoreError> {
        self.inner.range(start, end, limit)
    }

    fn first(&self) -> Result<Option<Pair>, StoreError> {
        self.inner.first()
    }

    fn last(&self) -> Result<Option<Pair>, StoreError> {
        self.inner.last()
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.inner.apply(batch)
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.inner.clear()
    }
}

/// A state machine over [`FaultyBackend`], with the populated log applied.
async fn faulty_machine() -> Result<(Machine, Arc<Faults>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let faults = Arc::new(Faults::default());
    let backend: Arc<dyn Backend> = Arc::new(FaultyBackend {
        inner: SledBackend::open(dir.path())?,
        faults: faults.clone(),
    });
    let mut m = Machine {
        sm: StateMachine::open(backend)?,
        _dir: dir,
    };
    m.sm.apply(populated_log()).await?;
    Ok((m, faults))
}

#[tokio::test]
async fn apply_with_a_failing_read_is_an_error_and_writes_nothing() -> TestResult {
    let (mut m, faults) = faulty_machine().await?;
    let before = m.everything()?;
    faults.get.store(true, Ordering::SeqCst);
    let result =
        m.sm.apply(vec![normal(
            3,
            7,
            vec![Command::AddManagedDomain {
                name: "example.net".into(),
                at: 7,
            }],
        )])
        .await;
    assert!(result.is_err());
    assert!(m.sm.applied_state().await.is_err());
    faults.get.store(false, Ordering::SeqCst);
    assert_eq!(m.everything()?, before);
    assert_eq!(m.sm.applied_state().await?.0, Some(log_id(2, 6)));
    Ok(())
}

#[tokio::test]
async fn install_with_a_failing_read_keeps_the_old_state() -> TestResult {
    let mut source = Machine::new()?;
    let snapshot = source
        .sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await?;
    let meta = snapshot.meta.clone();
    let data = body(snapshot);

    let (mut m, faults) = faulty_machine().await?;
    let before = m.everything()?;
    faults.scan.store(true, Ordering::SeqCst);
    assert!(install(&mut m.sm, &meta, data).await.is_err());
    faults.scan.store(false, Ordering::SeqCst);
    assert_eq!(m.everything()?, before);
    assert_eq!(m.sm.applied_state().await?.0, Some(log_id(2, 6)));
    Ok(())
}

#[tokio::test]
async fn snapshot_build_fails_when_the_state_cannot_be_read() -> TestResult {
    let (mut m, faults) = faulty_machine().await?;
    faults.scan.store(true, Ordering::SeqCst);
    let mut builder = m.sm.get_snapshot_builder().await;
    faults.scan.store(false, Ordering::SeqCst);
    let built = builder.build_snapshot().await;
    if let Ok(snapshot) = &built {
        let pairs: Vec<Pair> = decode(snapshot.snapshot.get_ref())?;
        assert!(
            pairs.is_empty() && snapshot.meta.last_log_id == Some(log_id(2, 6)),
            "unexpected snapshot"
        );
    }
    assert!(
        built.is_err(),
        "a snapshot was built from a failed read of the state"
    );
    Ok(())
}

#[tokio::test]
async fn snapshot_build_fails_when_the_position_cannot_be_read() -> TestResult {
    let (mut m, faults) = faulty_machine().await?;
    faults.get.store(true, Ordering::SeqCst);
    let mut builder = m.sm.get_snapshot_builder().await;
    faults.get.store(false, Ordering::SeqCst);
    let built = builder.build_snapshot().await;
    if let Ok(snapshot) = &built {
        assert_eq!(snapshot.meta.last_log_id, None, "unexpected snapshot");
    }
    assert!(
        built.is_err(),
        "a snapshot was built without knowing its log position"
    );
    Ok(())
}
