//! Administrators' passphrases, failed logins, the first administrator and the administration
//! settings. The one invariant kept here, in apply, so concurrent changes on two members cannot
//! break it: once some SuperUser has a passphrase, at least one always does (spec ADM-4).

use signet_model::{AdminRole, Administrator};

use super::Txn;
use super::keys::{ADMIN, key};
use crate::StoreError;
use crate::command::{Command, CommandOutcome, CommandOutput, Rejection};

/// The administration settings record (not under `adm/`, which holds administrators).
pub(super) const SETTINGS_KEY: &[u8] = b"aset/administration";

fn all_admins(txn: &Txn<'_>) -> Result<Vec<Administrator>, StoreError> {
    txn.scan_prefix(ADMIN.as_bytes())?
        .iter()
        .map(|(_, v)| super::decode(v))
        .collect()
}

/// Refuses a change that would take away the last SuperUser with a passphrase: removing `login`
/// (`after` = None) or replacing it with `after`.
pub(super) fn last_superuser_guard(
    txn: &Txn<'_>,
    login: &str,
    after: Option<&Administrator>,
) -> Result<Option<Rejection>, StoreError> {
    let admins = all_admins(txn)?;
    let before = admins
        .iter()
        .filter(|a| a.is_passphrase_superuser())
        .count();
    let target_counts = admins
        .iter()
        .any(|a| a.login == login && a.is_passphrase_superuser());
    let still = after.is_some_and(Administrator::is_passphrase_superuser);
    if before == 1 && target_counts && !still {
        return Ok(Some(Rejection::Conflict(format!(
            "{login} is the last SuperUser with a passphrase; make another SuperUser first"
        ))));
    }
    Ok(None)
}

pub(super) fn apply(txn: &mut Txn<'_>, command: &Command) -> Result<CommandOutcome, StoreError> {
    let done = Ok(Ok(CommandOutput::Done));
    let load = |txn: &Txn<'_>, login: &str| txn.get::<Administrator>(&key(ADMIN, login));
    let missing = |login: &str| Ok(Err(Rejection::NotFound(format!("administrator {login}"))));
    match command {
        Command::UpdateAdministrator { login, role, email } => {
            let Some(mut admin) = load(txn, login)? else {
                return missing(login);
            };
            admin.role = *role;
            admin.email = email.clone();
            if let Some(r) = last_superuser_guard(txn, login, Some(&admin))? {
                return Ok(Err(r));
            }
            txn.put(key(ADMIN, login), &admin)?;
            done
        }
        Command::SetAdministratorPassphrase { login, passphrase } => {
            let Some(mut admin) = load(txn, login)? else {
                return missing(login);
            };
            admin.passphrase = passphrase.clone();
            admin.failed_logins = Default::default();
            if let Some(r) = last_superuser_guard(txn, login, Some(&admin))? {
                return Ok(Err(r));
            }
            txn.put(key(ADMIN, login), &admin)?;
            done
        }
        Command::RecordFailedLogin {
            login,
            at,
            lockout_threshold,
            locked_until,
        } => {
            let Some(mut admin) = load(txn, login)? else {
                return missing(login);
            };
            let f = &mut admin.failed_logins;
            f.count = f.count.saturating_add(1);
            f.last_at = Some(*at);
            if *lockout_threshold > 0 && f.count >= *lockout_threshold {
                f.locked_until = Some(*locked_until);
            }
            txn.put(key(ADMIN, login), &admin)?;
            done
        }
        Command::ClearFailedLogins { login } => {
            let Some(mut admin) = load(txn, login)? else {
                return missing(login);
            };
            admin.failed_logins = Default::default();
            txn.put(key(ADMIN, login), &admin)?;
            done
        }
        Command::CreateFirstAdministrator { admin } => {
            let admins = all_admins(txn)?;
            if admins.iter().any(|a| a.passphrase.is_some()) {
                return Ok(Err(Rejection::Conflict(
                    "the first administrator was already created; log in instead".into(),
                )));
            }
            if admin.passphrase.is_none() || admin.role != AdminRole::SuperUser {
                return Ok(Err(Rejection::Conflict(
                    "the first administrator must be a SuperUser with a passphrase".into(),
                )));
            }
            let mut first = admin.clone();
            if let Some(existing) = admins.iter().find(|a| a.login == admin.login) {
                if existing.login != "admin" {
                    return Ok(Err(Rejection::AlreadyExists(format!(
                        "administrator {}",
                        admin.login
                    ))));
                }
                first.api_tokens = existing.api_tokens.clone();
                first.created_at = existing.created_at;
            } else if let Some(bootstrap) = admins.iter().find(|a| a.login == "admin") {
                // The CLI's token moves to the new administrator, so `signet` keeps working.
                first
                    .api_tokens
                    .extend(bootstrap.api_tokens.iter().cloned());
                txn.delete(key(ADMIN, "admin"));
            }
            txn.put(key(ADMIN, &first.login), &first)?;
            done
        }
        Command::SetAdministrationSettings { settings } => {
            if let Err(e) = settings.validate() {
                return Ok(Err(Rejection::Conflict(e.to_string())));
            }
            txn.put(SETTINGS_KEY.to_vec(), settings)?;
            done
        }
        _ => Ok(Err(Rejection::Conflict(
            "not an administrator command".into(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;
    use signet_model::{AdministrationSettings, PassphraseRecord};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn admin(login: &str, role: AdminRole, pass: bool) -> Administrator {
        Administrator {
            login: login.into(),
            role,
            email: None,
            api_tokens: Vec::new(),
            created_at: 1,
            passphrase: pass.then(|| PassphraseRecord {
                hash: "h".into(),
                set_at: 1,
                temporary: false,
                history: Vec::new(),
            }),
            failed_logins: Default::default(),
        }
    }

    #[test]
    fn the_last_passphrase_superuser_stays() -> TestResult {
        let f = Fixture::new()?;
        for a in [
            admin("root", AdminRole::SuperUser, true),
            admin("token-only", AdminRole::SuperUser, false),
        ] {
            f.ok(Command::AddAdministrator { admin: a })?;
        }
        let demote = Command::UpdateAdministrator {
            login: "root".into(),
            role: AdminRole::Full,
            email: None,
        };
        assert!(matches!(
            f.rejected(demote.clone())?,
            Rejection::Conflict(_)
        ));
        let remove = Command::RemoveAdministrator {
            login: "root".into(),
        };
        assert!(matches!(f.rejected(remove)?, Rejection::Conflict(_)));
        let clear = Command::SetAdministratorPassphrase {
            login: "root".into(),
            passphrase: None,
        };
        assert!(matches!(f.rejected(clear)?, Rejection::Conflict(_)));
        f.ok(Command::AddAdministrator {
            admin: admin("second", AdminRole::SuperUser, true),
        })?;
        f.ok(demote)?;
        f.ok(Command::RemoveAdministrator {
            login: "token-only".into(),
        })?;
        Ok(())
    }

    #[test]
    fn failed_logins_lock_and_unlock() -> TestResult {
        let f = Fixture::new()?;
        f.ok(Command::AddAdministrator {
            admin: admin("ann", AdminRole::Basic, true),
        })?;
        for at in 1..=3 {
            f.ok(Command::RecordFailedLogin {
                login: "ann".into(),
                at,
                lockout_threshold: 3,
                locked_until: 100,
            })?;
        }
        let ann = f.view().administrator("ann")?.ok_or("ann")?;
        assert_eq!(ann.failed_logins.count, 3);
        assert!(ann.locked_at(50) && !ann.locked_at(100));
        f.ok(Command::ClearFailedLogins {
            login: "ann".into(),
        })?;
        let ann = f.view().administrator("ann")?.ok_or("ann")?;
        assert!(!ann.locked_at(50) && ann.failed_logins.count == 0);
        Ok(())
    }

    #[test]
    fn first_administrator_takes_the_bootstrap_tokens_once() -> TestResult {
        let f = Fixture::new()?;
        let mut boot = admin("admin", AdminRole::SuperUser, false);
        boot.api_tokens.push(signet_model::ApiToken {
            label: "cli".into(),
            sha256_hex: "ab".into(),
            created_at: 1,
        });
        f.ok(Command::AddAdministrator { admin: boot })?;
        let first = admin("alice", AdminRole::SuperUser, true);
        f.ok(Command::CreateFirstAdministrator {
            admin: first.clone(),
        })?;
        assert!(f.view().administrator("admin")?.is_none());
        let alice = f.view().administrator("alice")?.ok_or("alice")?;
        assert_eq!(alice.api_tokens.len(), 1);
        let again = f.rejected(Command::CreateFirstAdministrator { admin: first })?;
        assert!(matches!(again, Rejection::Conflict(_)));
        let bad = AdministrationSettings {
            min_length: 3,
            ..Default::default()
        };
        assert!(matches!(
            f.rejected(Command::SetAdministrationSettings { settings: bad })?,
            Rejection::Conflict(_)
        ));
        assert_eq!(
            f.view().administration_settings()?,
            AdministrationSettings::default()
        );
        Ok(())
    }
}
