//! Which rules name a dictionary. Rules refer to dictionaries by name (compared
//! case-insensitively), so renaming or deleting one leaves these rules invalid (guide, Dictionary
//! Settings and Delete); the API lists them for the administrator.

use serde::Serialize;

use crate::model::{Action, ConditionGroup, ConditionSubject, EncryptedTo, Modifier, Node, Policy};

/// One rule, by chain and rule name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub chain: String,
    pub rule: String,
}

/// Every rule whose conditions ("is in dictionary", "encrypted to a key in dictionary") or
/// actions (Add to dictionary) name `dictionary`, in policy order, each rule once. Disabled
/// rules count: enabling one later would bring the broken reference back.
pub fn rules_using_dictionary(policy: &Policy, dictionary: &str) -> Vec<RuleRef> {
    let mut found = Vec::new();
    for chain in &policy.chains {
        for rule in &chain.rules {
            let in_actions = rule.actions.iter().any(|a| match a {
                Action::AddToDictionary { dictionary: d, .. } => same(d, dictionary),
                _ => false,
            });
            if in_actions || group_uses(&rule.conditions, dictionary) {
                found.push(RuleRef {
                    chain: chain.name.clone(),
                    rule: rule.name.clone(),
                });
            }
        }
    }
    found
}

fn group_uses(group: &ConditionGroup, dictionary: &str) -> bool {
    group.children.iter().any(|child| match child {
        Node::Group(g) => group_uses(g, dictionary),
        Node::Condition(c) => {
            let by_modifier = c.modifier == Modifier::IsInDictionary && same(&c.value, dictionary);
            let by_subject = match &c.subject {
                ConditionSubject::AnyPartEncrypted(EncryptedTo::KeyInDictionary(d))
                | ConditionSubject::AllEncrypted(EncryptedTo::KeyInDictionary(d)) => {
                    same(d, dictionary)
                }
                _ => false,
            };
            by_modifier || by_subject
        }
    })
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AddressSource, Applicability, Chain, Condition, ConditionGroup, ConditionSubject, Rule,
    };

    fn rule(name: &str, conditions: ConditionGroup, actions: Vec<Action>) -> Rule {
        Rule {
            name: name.into(),
            description: String::new(),
            enabled: true,
            conditions,
            actions,
            key_search: Vec::new(),
        }
    }

    #[test]
    fn finds_conditions_nested_groups_and_actions() {
        let in_d = Condition::new(
            ConditionSubject::RecipientAddress,
            Modifier::IsInDictionary,
            "d",
        );
        let nested =
            ConditionGroup::all(vec![ConditionGroup::none(vec![in_d.clone().into()]).into()]);
        let key_in = Condition::flag(ConditionSubject::AnyPartEncrypted(
            EncryptedTo::KeyInDictionary("D".into()),
        ));
        let other = Condition::new(ConditionSubject::RecipientAddress, Modifier::Is, "d");
        let policy = Policy {
            chains: vec![Chain {
                name: "Outbound".into(),
                applicability: Applicability::Server,
                factory: false,
                rules: vec![
                    rule("nested", nested, vec![Action::Deliver]),
                    rule(
                        "adds",
                        ConditionGroup::always(),
                        vec![Action::AddToDictionary {
                            address: AddressSource::Recipient,
                            dictionary: "D".into(),
                        }],
                    ),
                    rule("key", ConditionGroup::all(vec![key_in.into()]), vec![]),
                    rule("is d", ConditionGroup::all(vec![other.into()]), vec![]),
                    rule(
                        "twice",
                        ConditionGroup::any(vec![in_d.clone().into(), in_d.into()]),
                        vec![],
                    ),
                ],
            }],
        };
        let names: Vec<String> = rules_using_dictionary(&policy, "d")
            .into_iter()
            .map(|r| r.rule)
            .collect();
        assert_eq!(names, ["nested", "adds", "key", "twice"]);
        assert!(rules_using_dictionary(&policy, "other").is_empty());
    }

    #[test]
    fn the_factory_policy_uses_managed_domains() {
        let policy = crate::factory::factory_defaults();
        assert!(
            !rules_using_dictionary(&policy, crate::factory::MANAGED_DOMAINS).is_empty(),
            "the Default chain reads Managed Domains"
        );
    }
}
