//! Checks on a policy before it is saved or used.
//!
//! The reference product lets administrators build contradictory chains and only warns in the
//! guide. Signet keeps that permissiveness for things that are legal but probably wrong
//! (**warnings**: a finishing action that is not last, rules after an always-true rule, a chain
//! whose end can be reached) and refuses only what the engine cannot evaluate as written
//! (**errors**: a rule without conditions, an always-true group with children, nesting deeper
//! than [`MAX_GROUP_DEPTH`], a modifier the condition does not take, a pattern or number that does
//! not parse, a dictionary or chain that does not exist).
//!
//! "Chain end reachable" is judged syntactically: the end is unreachable only if some enabled
//! rule is always true (its top group is "always true") and its actions end the pass (a finishing
//! action, Go to chain, or Expand mailing list). Anything subtler would need the facts.

use crate::model::{
    Action, ConditionGroup, ConditionSubject, EncryptedTo, MAX_GROUP_DEPTH, Modifier, Node, Policy,
    Rule, Statement,
};
use crate::modifier::{compile_pattern, match_number, match_version};

/// Where a finding is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub chain: String,
    /// `None` for findings about the chain as a whole.
    pub rule: Option<String>,
    pub issue: Issue,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Issue {
    // Errors.
    #[error("the rule has no conditions")]
    NoConditions,
    #[error("a condition group is empty")]
    EmptyGroup,
    #[error("an \"always true\" group cannot have conditions")]
    AlwaysTrueWithChildren,
    #[error("condition groups are nested deeper than {MAX_GROUP_DEPTH} levels")]
    TooDeep,
    #[error("modifier {modifier:?} does not apply to {subject}")]
    ModifierNotAllowed { subject: String, modifier: Modifier },
    #[error("{0}")]
    BadValue(String),
    #[error("unknown dictionary {0:?}")]
    UnknownDictionary(String),
    #[error("unknown chain {0:?}")]
    UnknownChain(String),
    // Warnings.
    #[error("finishing action {action} is not the last action; the actions after it never run")]
    FinishingActionNotLast { action: String },
    #[error("the rule comes after the always-true rule {earlier:?} and is never reached")]
    AfterAlwaysTrue { earlier: String },
    #[error("a message can reach the end of the chain (it then goes to the Exception chain)")]
    ChainEndReachable,
    #[error("the rule has no actions")]
    NoActions,
}

impl Issue {
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Issue::FinishingActionNotLast { .. }
                | Issue::AfterAlwaysTrue { .. }
                | Issue::ChainEndReachable
                | Issue::NoActions
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    fn push(&mut self, chain: &str, rule: Option<&str>, issue: Issue) {
        let f = Finding {
            chain: chain.to_string(),
            rule: rule.map(str::to_string),
            issue,
        };
        if f.issue.is_error() {
            self.errors.push(f);
        } else {
            self.warnings.push(f);
        }
    }
}

/// Modifiers each condition takes (guide §14.4). Flag-like conditions take only `Is` (with
/// `negate` for "is not").
pub fn allowed_modifiers(subject: &ConditionSubject) -> &'static [Modifier] {
    use Modifier::*;
    const TEXT: &[Modifier] = &[
        Is,
        Contains,
        BeginsWith,
        EndsWith,
        MatchesPattern,
        IsInDictionary,
    ];
    const DOMAIN: &[Modifier] = &[
        Is,
        Contains,
        BeginsWith,
        EndsWith,
        MatchesPattern,
        IsInDictionary,
        IsSubdomainOf,
    ];
    const PLAIN_TEXT: &[Modifier] = &[Is, Contains, BeginsWith, EndsWith, MatchesPattern];
    const NUMBER: &[Modifier] = &[Is, GreaterThan, LessThan];
    const VERSION: &[Modifier] = &[Is, GreaterThan, LessThan, GreaterOrEqual, LessOrEqual];
    const COUNT: &[Modifier] = &[FewerThan, GreaterThan];
    const POLICY: &[Modifier] = &[Is, IsInDictionary];
    const FLAG: &[Modifier] = &[Is];
    match subject {
        ConditionSubject::RecipientAddress | ConditionSubject::SenderAddress => TEXT,
        ConditionSubject::LocalConnectorIp => TEXT,
        ConditionSubject::RecipientDomain | ConditionSubject::SenderDomain => DOMAIN,
        ConditionSubject::RecipientConsumerPolicy | ConditionSubject::SenderConsumerPolicy => {
            POLICY
        }
        ConditionSubject::MessageHeader { .. }
        | ConditionSubject::MessageSubject
        | ConditionSubject::MessageBody
        | ConditionSubject::AttachmentName
        | ConditionSubject::AttachmentType => PLAIN_TEXT,
        ConditionSubject::MessageSize | ConditionSubject::LocalConnectorPort => NUMBER,
        ConditionSubject::ClientVersion => VERSION,
        ConditionSubject::MailingListUserCount => COUNT,
        _ => FLAG,
    }
}

/// Validate every chain. `dictionaries` are the names that exist (compared case-insensitively).
pub fn validate_policy(policy: &Policy, dictionaries: &[String]) -> Report {
    let mut report = Report::default();
    for chain in &policy.chains {
        let mut always_true: Option<&str> = None;
        let mut end_covered = false;
        for rule in &chain.rules {
            if let Some(earlier) = always_true {
                report.push(
                    &chain.name,
                    Some(&rule.name),
                    Issue::AfterAlwaysTrue {
                        earlier: earlier.to_string(),
                    },
                );
            }
            validate_rule(policy, &chain.name, rule, dictionaries, &mut report);
            if rule.enabled && rule.conditions.statement == Statement::AlwaysTrue {
                if always_true.is_none() {
                    always_true = Some(&rule.name);
                }
                if rule.actions.iter().any(|a| a.finishes() || a.transfers()) {
                    end_covered = true;
                }
            }
        }
        if !end_covered {
            report.push(&chain.name, None, Issue::ChainEndReachable);
        }
    }
    report
}

fn validate_rule(
    policy: &Policy,
    chain: &str,
    rule: &Rule,
    dictionaries: &[String],
    report: &mut Report,
) {
    let mut issues = Vec::new();
    if rule.conditions.statement != Statement::AlwaysTrue && rule.conditions.children.is_empty() {
        issues.push(Issue::NoConditions);
    } else {
        check_group(&rule.conditions, 1, dictionaries, &mut issues);
    }
    if rule.actions.is_empty() {
        issues.push(Issue::NoActions);
    }
    let last = rule.actions.len().saturating_sub(1);
    for (i, action) in rule.actions.iter().enumerate() {
        if (action.finishes() || action.transfers()) && i < last {
            issues.push(Issue::FinishingActionNotLast {
                action: format!("{action:?}"),
            });
        }
        match action {
            Action::GoToChain { chain: target } if policy.chain(target).is_none() => {
                issues.push(Issue::UnknownChain(target.clone()));
            }
            Action::AddToDictionary { dictionary, .. } => {
                check_dictionary(dictionary, dictionaries, &mut issues)
            }
            _ => {}
        }
    }
    for issue in issues {
        report.push(chain, Some(&rule.name), issue);
    }
}

fn check_group(
    group: &ConditionGroup,
    depth: usize,
    dictionaries: &[String],
    issues: &mut Vec<Issue>,
) {
    if depth > MAX_GROUP_DEPTH {
        issues.push(Issue::TooDeep);
        return;
    }
    match group.statement {
        Statement::AlwaysTrue if !group.children.is_empty() => {
            issues.push(Issue::AlwaysTrueWithChildren)
        }
        Statement::AlwaysTrue => {}
        _ if group.children.is_empty() && depth > 1 => issues.push(Issue::EmptyGroup),
        _ => {}
    }
    for child in &group.children {
        match child {
            Node::Group(g) => check_group(g, depth + 1, dictionaries, issues),
            Node::Condition(c) => {
                if !allowed_modifiers(&c.subject).contains(&c.modifier) {
                    issues.push(Issue::ModifierNotAllowed {
                        subject: format!("{:?}", c.subject),
                        modifier: c.modifier,
                    });
                    continue;
                }
                // Dry-run the value through the matcher the engine will use.
                let checked = match (&c.subject, c.modifier) {
                    (_, Modifier::IsInDictionary) => {
                        check_dictionary(&c.value, dictionaries, issues);
                        Ok(true)
                    }
                    (ConditionSubject::ClientVersion, m) => match_version(m, "0", &c.value),
                    (
                        ConditionSubject::MessageSize
                        | ConditionSubject::LocalConnectorPort
                        | ConditionSubject::MailingListUserCount,
                        m,
                    ) => match_number(m, 0, &c.value),
                    (_, Modifier::MatchesPattern) => compile_pattern(&c.value).map(|_| true),
                    _ => Ok(true),
                };
                if let Err(e) = checked {
                    issues.push(Issue::BadValue(e.to_string()));
                }
                if let ConditionSubject::AnyPartEncrypted(EncryptedTo::KeyInDictionary(d))
                | ConditionSubject::AllEncrypted(EncryptedTo::KeyInDictionary(d)) = &c.subject
                {
                    check_dictionary(d, dictionaries, issues);
                }
            }
        }
    }
}

fn check_dictionary(name: &str, dictionaries: &[String], issues: &mut Vec<Issue>) {
    if !dictionaries.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        issues.push(Issue::UnknownDictionary(name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Applicability, Chain, Condition};

    fn rule(name: &str, conditions: ConditionGroup, actions: Vec<Action>) -> Rule {
        Rule {
            name: name.into(),
            description: String::new(),
            enabled: true,
            conditions,
            actions,
            key_search: vec![],
        }
    }

    fn policy(rules: Vec<Rule>) -> Policy {
        Policy {
            chains: vec![Chain {
                name: "C".into(),
                applicability: Applicability::Server,
                rules,
                factory: false,
            }],
        }
    }

    fn dom(v: &str) -> Node {
        Condition::new(ConditionSubject::RecipientDomain, Modifier::Is, v).into()
    }

    fn issues(r: &[Finding]) -> Vec<Issue> {
        r.iter().map(|f| f.issue.clone()).collect()
    }

    #[test]
    fn clean_policy_has_no_findings() {
        let p = policy(vec![
            rule(
                "a",
                ConditionGroup::all(vec![dom("x.test")]),
                vec![Action::Drop],
            ),
            rule("b", ConditionGroup::always(), vec![Action::SendClear]),
        ]);
        assert_eq!(validate_policy(&p, &[]), Report::default());
    }

    #[test]
    fn structural_errors() {
        let mut deep = ConditionGroup::all(vec![dom("x")]);
        for _ in 0..MAX_GROUP_DEPTH {
            deep = ConditionGroup::all(vec![deep.into()]);
        }
        let p = policy(vec![
            rule("empty", ConditionGroup::all(vec![]), vec![Action::Drop]),
            rule(
                "always-with-kids",
                ConditionGroup {
                    statement: Statement::AlwaysTrue,
                    children: vec![dom("x")],
                },
                vec![Action::Drop],
            ),
            rule("deep", deep, vec![Action::Drop]),
            rule(
                "dict",
                ConditionGroup::all(vec![
                    Condition::new(
                        ConditionSubject::RecipientAddress,
                        Modifier::IsInDictionary,
                        "Nope",
                    )
                    .into(),
                    Condition::new(
                        ConditionSubject::SenderAddress,
                        Modifier::IsInDictionary,
                        "excluded addresses: sign",
                    )
                    .into(),
                ]),
                vec![Action::Drop],
            ),
            rule(
                "bad-mod",
                ConditionGroup::all(vec![
                    Condition::new(
                        ConditionSubject::MessageSubject,
                        Modifier::IsSubdomainOf,
                        "x",
                    )
                    .into(),
                    Condition::new(ConditionSubject::MessageSize, Modifier::GreaterThan, "big")
                        .into(),
                    Condition::new(ConditionSubject::MessageBody, Modifier::MatchesPattern, "(")
                        .into(),
                    Condition::new(ConditionSubject::ClientVersion, Modifier::LessThan, "v9")
                        .into(),
                ]),
                vec![Action::GoToChain {
                    chain: "missing".into(),
                }],
            ),
        ]);
        let r = validate_policy(&p, &["Excluded Addresses: Sign".to_string()]);
        let e = issues(&r.errors);
        assert!(e.contains(&Issue::NoConditions));
        assert!(e.contains(&Issue::AlwaysTrueWithChildren));
        assert!(e.contains(&Issue::TooDeep));
        assert!(e.contains(&Issue::UnknownDictionary("Nope".into())));
        assert!(e.contains(&Issue::UnknownChain("missing".into())));
        assert_eq!(
            e.iter().filter(|i| matches!(i, Issue::BadValue(_))).count(),
            3
        );
        assert!(
            e.iter()
                .any(|i| matches!(i, Issue::ModifierNotAllowed { .. }))
        );
        assert_eq!(e.len(), 9, "{e:?}");
    }

    #[test]
    fn ten_levels_are_allowed() {
        let mut g = ConditionGroup::all(vec![dom("x")]);
        for _ in 1..MAX_GROUP_DEPTH {
            g = ConditionGroup::any(vec![g.into()]);
        }
        let p = policy(vec![rule("r", g, vec![Action::Drop])]);
        assert!(validate_policy(&p, &[]).is_ok());
    }

    #[test]
    fn permissive_warnings() {
        let p = policy(vec![
            rule(
                "deliver-then-archive",
                ConditionGroup::all(vec![dom("x")]),
                vec![Action::Deliver, Action::AddLogEntry { text: "x".into() }],
            ),
            rule(
                "catch-all",
                ConditionGroup::always(),
                vec![Action::AddLogEntry { text: "y".into() }],
            ),
            rule(
                "late",
                ConditionGroup::all(vec![dom("y")]),
                vec![Action::Drop],
            ),
        ]);
        let r = validate_policy(&p, &[]);
        assert!(r.is_ok(), "{:?}", r.errors);
        let w = issues(&r.warnings);
        assert!(matches!(w[0], Issue::FinishingActionNotLast { .. }));
        assert!(w.contains(&Issue::AfterAlwaysTrue {
            earlier: "catch-all".into()
        }));
        // The always-true rule only logs, so the end is still reachable.
        assert!(w.contains(&Issue::ChainEndReachable));
    }
}
