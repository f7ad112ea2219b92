//! Administration settings (spec ADM-6..ADM-8): the passphrase policy, lockout, CAPTCHA and the
//! console's idle timeout. One replicated record; every field has the guide's default.
//!
//! The passphrase rules that need no stored hashes (length, character classes, aging) live here
//! as pure functions of the settings and a clock value; the history rule compares Argon2 hashes
//! and lives in the web crate.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The longest passphrase accepted (fixed by the guide).
pub const MAX_PASSPHRASE_LENGTH: usize = 128;
/// The special characters the complexity rule accepts (the guide's fixed set).
pub const SPECIAL_CHARACTERS: &str = "!\"#$%&'*+,-.:;<=>?@[\\]^_`{|}~";
const DAY_MS: u64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdministrationSettings {
    /// Minimum passphrase length, 8..=128.
    pub min_length: u32,
    /// At least one digit, one upper-case letter, one lower-case letter and one special character.
    pub require_character_classes: bool,
    /// How many earlier passphrases may not be reused, 0..=30 (0 = no history kept).
    pub history: u32,
    /// Passphrase aging on or off (minimum age, maximum age, warning).
    pub aging: bool,
    /// Days before an administrator may change their own passphrase again, 0..=60.
    pub min_age_days: u32,
    /// Days a passphrase stays valid, 0..=60 (0 = expired at once: a change at every login).
    pub max_age_days: u32,
    /// Days before expiry that login warns, 0..=60 (0 = no warning).
    pub warning_days: u32,
    /// Failed logins that lock an account, 0 = lockout off (the default).
    pub lockout_threshold: u32,
    /// How long a lockout lasts, at least 1 hour.
    pub lockout_hours: u32,
    /// Failed logins after which every attempt needs a CAPTCHA; 0 = always.
    pub captcha_threshold: u32,
    /// Minutes of inactivity that end a console session, 1..=1440.
    pub idle_timeout_minutes: u32,
}

impl Default for AdministrationSettings {
    fn default() -> Self {
        AdministrationSettings {
            min_length: 8,
            require_character_classes: true,
            history: 5,
            aging: true,
            min_age_days: 1,
            max_age_days: 60,
            warning_days: 15,
            lockout_threshold: 0,
            lockout_hours: 1,
            captcha_threshold: 3,
            idle_timeout_minutes: 30,
        }
    }
}

/// A passphrase rule that refused a passphrase, or a setting out of range. The message names
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseRefused {
    #[error("the passphrase is too short (minimum length rule: at least {0} characters)")]
    TooShort(u32),
    #[error(
        "the passphrase is too long (maximum length rule: at most {MAX_PASSPHRASE_LENGTH} characters)"
    )]
    TooLong,
    #[error("the passphrase needs at least one {0} (character class rule)")]
    MissingClass(&'static str),
    #[error("the passphrase must not contain control characters")]
    ControlCharacter,
    #[error(
        "the passphrase was used before (history rule: the last {0} passphrases cannot be reused)"
    )]
    Reused(u32),
    #[error(
        "the passphrase was changed less than {0} day(s) ago (minimum age rule); ask a SuperUser to reset it"
    )]
    TooSoon(u32),
}

/// A setting outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {range}")]
pub struct InvalidSetting {
    pub field: &'static str,
    pub range: &'static str,
}

impl AdministrationSettings {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let check = |ok: bool, field: &'static str, range: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(InvalidSetting { field, range })
            }
        };
        check(
            (8..=128).contains(&self.min_length),
            "min_length",
            "between 8 and 128",
        )?;
        check(
            (0..=30).contains(&self.history),
            "history",
            "between 0 and 30",
        )?;
        check(self.min_age_days <= 60, "min_age_days", "between 0 and 60")?;
        check(self.max_age_days <= 60, "max_age_days", "between 0 and 60")?;
        check(self.warning_days <= 60, "warning_days", "between 0 and 60")?;
        check(
            self.lockout_threshold <= 1000,
            "lockout_threshold",
            "between 0 (off) and 1000",
        )?;
        check(
            (1..=8760).contains(&self.lockout_hours),
            "lockout_hours",
            "between 1 and 8760",
        )?;
        check(
            self.captcha_threshold <= 1000,
            "captcha_threshold",
            "between 0 (always) and 1000",
        )?;
        check(
            (1..=1440).contains(&self.idle_timeout_minutes),
            "idle_timeout_minutes",
            "between 1 and 1440",
        )
    }

    /// The length and character-class rules (enforced on create, change and reset).
    pub fn check_composition(&self, passphrase: &str) -> Result<(), PassphraseRefused> {
        let len = passphrase.chars().count();
        if len > MAX_PASSPHRASE_LENGTH {
            return Err(PassphraseRefused::TooLong);
        }
        if len < self.min_length.max(8) as usize {
            return Err(PassphraseRefused::TooShort(self.min_length.max(8)));
        }
        if passphrase.chars().any(char::is_control) {
            return Err(PassphraseRefused::ControlCharacter);
        }
        if self.require_character_classes {
            type Class = (&'static str, fn(char) -> bool);
            let classes: [Class; 4] = [
                ("digit", |c| c.is_ascii_digit()),
                ("upper-case letter (A-Z)", |c| c.is_ascii_uppercase()),
                ("lower-case letter (a-z)", |c| c.is_ascii_lowercase()),
                ("special character (such as ! # % + - . : = ? @ _)", |c| {
                    SPECIAL_CHARACTERS.contains(c)
                }),
            ];
            for (name, test) in classes {
                if !passphrase.chars().any(test) {
                    return Err(PassphraseRefused::MissingClass(name));
                }
            }
        }
        Ok(())
    }

    /// The minimum-age rule for an administrator changing their own passphrase, set at `set_at`.
    pub fn check_min_age(
        &self,
        set_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<(), PassphraseRefused> {
        if self.aging
            && self.min_age_days > 0
            && now < set_at.saturating_add(u64::from(self.min_age_days) * DAY_MS)
        {
            return Err(PassphraseRefused::TooSoon(self.min_age_days));
        }
        Ok(())
    }

    /// Whether a passphrase set at `set_at` has expired at `now` (maximum age rule).
    pub fn expired(&self, set_at: UnixMillis, now: UnixMillis) -> bool {
        self.aging && now >= set_at.saturating_add(u64::from(self.max_age_days) * DAY_MS)
    }

    /// Whole days left before expiry while inside the warning period, else `None`.
    pub fn warning_days_left(&self, set_at: UnixMillis, now: UnixMillis) -> Option<u32> {
        if !self.aging || self.max_age_days == 0 || self.warning_days == 0 {
            return None;
        }
        let expires = set_at.saturating_add(u64::from(self.max_age_days) * DAY_MS);
        let left_ms = expires.checked_sub(now).filter(|l| *l > 0)?;
        let days = left_ms.div_ceil(DAY_MS);
        (days <= u64::from(self.warning_days)).then_some(days as u32)
    }

    /// Whether the next login attempt needs a CAPTCHA after `failures` failed ones.
    pub fn captcha_needed(&self, failures: u32) -> bool {
        self.captcha_threshold == 0 || failures >= self.captcha_threshold
    }

    /// When a lockout that starts at `now` ends, if `failures` reaches the threshold.
    pub fn lockout_until(&self, failures: u32, now: UnixMillis) -> Option<UnixMillis> {
        (self.lockout_threshold > 0 && failures >= self.lockout_threshold)
            .then(|| now.saturating_add(u64::from(self.lockout_hours) * 3600 * 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_guides() {
        let s = AdministrationSettings::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!((s.min_length, s.history, s.min_age_days), (8, 5, 1));
        assert_eq!((s.max_age_days, s.warning_days), (60, 15));
        assert_eq!((s.lockout_threshold, s.captcha_threshold), (0, 3));
    }

    #[test]
    fn composition_rules_name_the_rule() {
        let s = AdministrationSettings::default();
        assert_eq!(
            s.check_composition("Abcdefg1"),
            Err(PassphraseRefused::MissingClass(
                "special character (such as ! # % + - . : = ? @ _)"
            ))
        );
        assert_eq!(
            s.check_composition("Ab1!"),
            Err(PassphraseRefused::TooShort(8))
        );
        assert!(
            s.check_composition("Ab1!")
                .unwrap_err()
                .to_string()
                .contains("minimum length")
        );
        assert_eq!(s.check_composition("Abcdef1!"), Ok(()));
        assert_eq!(
            s.check_composition("abcdef1!"),
            Err(PassphraseRefused::MissingClass("upper-case letter (A-Z)"))
        );
        let long = format!("Aa1!{}", "x".repeat(125));
        assert_eq!(s.check_composition(&long), Err(PassphraseRefused::TooLong));
        let plain = AdministrationSettings {
            require_character_classes: false,
            min_length: 12,
            ..s
        };
        assert_eq!(plain.check_composition("abcdefghijkl"), Ok(()));
        assert_eq!(
            plain.check_composition("abcdefghijk"),
            Err(PassphraseRefused::TooShort(12))
        );
    }

    #[test]
    fn aging_rules() {
        let s = AdministrationSettings::default();
        let set = 1_000 * DAY_MS;
        assert!(s.check_min_age(set, set + 3_600_000).is_err());
        assert!(s.check_min_age(set, set + DAY_MS).is_ok());
        assert_eq!(s.warning_days_left(set, set + 44 * DAY_MS), None);
        assert_eq!(s.warning_days_left(set, set + 46 * DAY_MS), Some(14));
        assert!(!s.expired(set, set + 59 * DAY_MS));
        assert!(s.expired(set, set + 61 * DAY_MS));
        let always = AdministrationSettings {
            max_age_days: 0,
            ..s.clone()
        };
        assert!(always.expired(set, set));
        let off = AdministrationSettings { aging: false, ..s };
        assert!(!off.expired(set, set + 365 * DAY_MS));
        assert!(off.check_min_age(set, set).is_ok());
    }

    #[test]
    fn lockout_and_captcha_thresholds() {
        let s = AdministrationSettings::default();
        assert!(!s.captcha_needed(2));
        assert!(s.captcha_needed(3));
        assert_eq!(s.lockout_until(100, 0), None, "lockout is off by default");
        let on = AdministrationSettings {
            lockout_threshold: 3,
            captcha_threshold: 0,
            ..s
        };
        assert!(on.captcha_needed(0));
        assert_eq!(on.lockout_until(2, 0), None);
        assert_eq!(on.lockout_until(3, 5), Some(5 + 3600 * 1000));
    }

    #[test]
    fn ranges_are_checked() {
        let s = AdministrationSettings {
            min_length: 7,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "min_length");
        let s = AdministrationSettings {
            lockout_hours: 0,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "lockout_hours");
        let s = AdministrationSettings {
            history: 31,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "history");
    }
}
