//! Rule-level editing of one chain (guide §14: add, edit, reorder, enable/disable, delete rules).
//!
//! Every function is pure: it takes the chain as it is and returns the chain as it would be, or
//! an [`EditError`] saying why not. The caller validates the whole policy with the new chain
//! before it stores anything, so these functions check only what is about the edit itself:
//! the rule exists, the position is in range, the rule's name is unique in the chain.
//!
//! **Positions are 1-based**, like the order numbers the guide's rule list shows: position 1 is
//! the first rule evaluated. Rule names compare case-insensitively, like every other name.

use crate::model::{Applicability, Chain, Rule};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("chain {chain:?} has no rule {rule:?}")]
    UnknownRule { chain: String, rule: String },
    #[error("chain {chain:?} already has a rule named {rule:?} (rule names ignore case)")]
    DuplicateRule { chain: String, rule: String },
    #[error("position {position} is out of range: chain {chain:?} allows 1 to {max}")]
    BadPosition {
        chain: String,
        position: usize,
        max: usize,
    },
    #[error("a rule needs a name")]
    EmptyName,
}

/// Index of the rule with this name (case-insensitive).
pub fn rule_index(chain: &Chain, name: &str) -> Option<usize> {
    chain
        .rules
        .iter()
        .position(|r| r.name.eq_ignore_ascii_case(name.trim()))
}

/// The rule with this name.
pub fn find_rule<'a>(chain: &'a Chain, name: &str) -> Result<&'a Rule, EditError> {
    rule_index(chain, name)
        .map(|i| &chain.rules[i])
        .ok_or_else(|| unknown(chain, name))
}

fn unknown(chain: &Chain, rule: &str) -> EditError {
    EditError::UnknownRule {
        chain: chain.name.clone(),
        rule: rule.to_string(),
    }
}

/// Trims the name and checks it is not empty and not taken by another rule than `except`.
fn checked_name(chain: &Chain, rule: &mut Rule, except: Option<usize>) -> Result<(), EditError> {
    let name = rule.name.trim().to_string();
    if name.is_empty() {
        return Err(EditError::EmptyName);
    }
    rule.name = name;
    match rule_index(chain, &rule.name) {
        Some(i) if Some(i) != except => Err(EditError::DuplicateRule {
            chain: chain.name.clone(),
            rule: rule.name.clone(),
        }),
        _ => Ok(()),
    }
}

/// Converts a 1-based position into an index in `0..=max_index`.
fn index_of_position(chain: &Chain, position: usize, max: usize) -> Result<usize, EditError> {
    if position == 0 || position > max {
        return Err(EditError::BadPosition {
            chain: chain.name.clone(),
            position,
            max,
        });
    }
    Ok(position - 1)
}

/// Adds a rule at `position` (1-based; `None` appends it as the last rule).
pub fn add_rule(
    chain: &Chain,
    mut rule: Rule,
    position: Option<usize>,
) -> Result<Chain, EditError> {
    checked_name(chain, &mut rule, None)?;
    let at = match position {
        None => chain.rules.len(),
        Some(p) => index_of_position(chain, p, chain.rules.len() + 1)?,
    };
    let mut out = chain.clone();
    out.rules.insert(at, rule);
    Ok(out)
}

/// Replaces the rule named `name` in place (same position). The new rule may have another
/// name, as long as no other rule has it.
pub fn replace_rule(chain: &Chain, name: &str, mut rule: Rule) -> Result<Chain, EditError> {
    let i = rule_index(chain, name).ok_or_else(|| unknown(chain, name))?;
    checked_name(chain, &mut rule, Some(i))?;
    let mut out = chain.clone();
    out.rules[i] = rule;
    Ok(out)
}

/// Removes the rule named `name`; returns the new chain and the removed rule.
pub fn delete_rule(chain: &Chain, name: &str) -> Result<(Chain, Rule), EditError> {
    let i = rule_index(chain, name).ok_or_else(|| unknown(chain, name))?;
    let mut out = chain.clone();
    let removed = out.rules.remove(i);
    Ok((out, removed))
}

/// Moves the rule named `name` so that it ends at `position` (1-based, among the same rules).
pub fn move_rule(chain: &Chain, name: &str, position: usize) -> Result<Chain, EditError> {
    let from = rule_index(chain, name).ok_or_else(|| unknown(chain, name))?;
    let to = index_of_position(chain, position, chain.rules.len())?;
    let mut out = chain.clone();
    let rule = out.rules.remove(from);
    out.rules.insert(to, rule);
    Ok(out)
}

/// Enables or disables the rule named `name` (a disabled rule is skipped by evaluation).
pub fn set_rule_enabled(chain: &Chain, name: &str, enabled: bool) -> Result<Chain, EditError> {
    let i = rule_index(chain, name).ok_or_else(|| unknown(chain, name))?;
    let mut out = chain.clone();
    out.rules[i].enabled = enabled;
    Ok(out)
}

/// Changes where the chain's rules may run; validation then checks every rule against it.
pub fn set_applicability(chain: &Chain, applicability: Applicability) -> Chain {
    let mut out = chain.clone();
    out.applicability = applicability;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ConditionGroup};

    fn rule(name: &str) -> Rule {
        Rule {
            name: name.into(),
            description: String::new(),
            enabled: true,
            conditions: ConditionGroup::always(),
            actions: vec![Action::SendClear],
            key_search: vec![],
        }
    }

    fn chain(names: &[&str]) -> Chain {
        Chain {
            name: "Mine".into(),
            applicability: Applicability::Server,
            rules: names.iter().map(|n| rule(n)).collect(),
            factory: false,
        }
    }

    fn names(c: &Chain) -> Vec<&str> {
        c.rules.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn add_appends_or_inserts_at_a_one_based_position() {
        let c = chain(&["a", "b"]);
        assert_eq!(
            names(&add_rule(&c, rule("c"), None).unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(
            names(&add_rule(&c, rule("c"), Some(1)).unwrap()),
            ["c", "a", "b"]
        );
        assert_eq!(
            names(&add_rule(&c, rule(" c "), Some(3)).unwrap()),
            ["a", "b", "c"]
        );
        for bad in [0, 4] {
            assert_eq!(
                add_rule(&c, rule("c"), Some(bad)),
                Err(EditError::BadPosition {
                    chain: "Mine".into(),
                    position: bad,
                    max: 3
                })
            );
        }
    }

    #[test]
    fn rule_names_are_unique_ignoring_case() {
        let c = chain(&["Tag", "b"]);
        assert!(matches!(
            add_rule(&c, rule("TAG"), None),
            Err(EditError::DuplicateRule { .. })
        ));
        assert_eq!(add_rule(&c, rule("  "), None), Err(EditError::EmptyName));
        // Renaming onto another rule's name is refused; keeping one's own name is not.
        assert!(matches!(
            replace_rule(&c, "b", rule("tag")),
            Err(EditError::DuplicateRule { .. })
        ));
        let mut edited = rule("tag");
        edited.description = "new".into();
        let out = replace_rule(&c, "TAG", edited).unwrap();
        assert_eq!(names(&out), ["tag", "b"]);
        assert_eq!(out.rules[0].description, "new");
        assert_eq!(
            names(&replace_rule(&c, "b", rule("c")).unwrap()),
            ["Tag", "c"]
        );
    }

    #[test]
    fn unknown_rules_are_named_in_the_error() {
        let c = chain(&["a"]);
        let err = EditError::UnknownRule {
            chain: "Mine".into(),
            rule: "x".into(),
        };
        assert_eq!(replace_rule(&c, "x", rule("x")), Err(err.clone()));
        assert_eq!(delete_rule(&c, "x"), Err(err.clone()));
        assert_eq!(move_rule(&c, "x", 1), Err(err.clone()));
        assert_eq!(set_rule_enabled(&c, "x", false), Err(err.clone()));
        assert_eq!(find_rule(&c, "x"), Err(err.clone()));
        assert_eq!(err.to_string(), "chain \"Mine\" has no rule \"x\"");
    }

    #[test]
    fn move_reorders_and_checks_the_range() {
        let c = chain(&["a", "b", "c"]);
        assert_eq!(names(&move_rule(&c, "a", 3).unwrap()), ["b", "c", "a"]);
        assert_eq!(names(&move_rule(&c, "C", 1).unwrap()), ["c", "a", "b"]);
        assert_eq!(names(&move_rule(&c, "b", 2).unwrap()), ["a", "b", "c"]);
        assert!(matches!(
            move_rule(&c, "a", 4),
            Err(EditError::BadPosition { max: 3, .. })
        ));
        assert!(matches!(
            move_rule(&c, "a", 0),
            Err(EditError::BadPosition { .. })
        ));
    }

    #[test]
    fn delete_enable_disable_and_applicability() {
        let c = chain(&["a", "b"]);
        let (out, removed) = delete_rule(&c, "A").unwrap();
        assert_eq!(names(&out), ["b"]);
        assert_eq!(removed.name, "a");
        let off = set_rule_enabled(&c, "b", false).unwrap();
        assert!(!off.rules[1].enabled && off.rules[0].enabled);
        assert!(set_rule_enabled(&off, "b", true).unwrap().rules[1].enabled);
        let c2 = set_applicability(&c, Applicability::ServerAndClient);
        assert_eq!(c2.applicability, Applicability::ServerAndClient);
        assert_eq!(c2.rules, c.rules);
    }
}
