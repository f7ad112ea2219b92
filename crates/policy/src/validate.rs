//! Checks on a policy before it is saved or used.
//!
//! The reference product lets administrators build contradictory chains and only warns in the
//! guide. Signet keeps that permissiveness for things that are legal but probably wrong
//! (**warnings**: a finishing action that is not last, rules after an always-true rule, a chain
//! whose end can be reached, a dictionary or Go to chain target that does not exist) and refuses
//! only what the engine cannot evaluate as written (**errors**: a rule without conditions, an
//! always-true group with children, nesting deeper than [`MAX_GROUP_DEPTH`], a modifier the
//! condition does not take, a pattern or number that does not parse).
//!
//! A missing dictionary or chain is only a warning (issue 4, item 7) because the engine has a
//! defined answer for it at run time: a condition that reads a missing dictionary is an
//! evaluation error and a Go to a missing chain is an unknown chain, and both send the recipient
//! to the Exception chain (see [`crate::eval`]). Dictionaries and chains can also be created
//! after the rule that names them, so refusing the rule would force an order on the
//! administrator.
//!
//! Applicability is an error too: a condition or action the chain's applicability does not
//! allow (guide §14.4 and §14.5 tables), a condition or action the Exception chain does not
//! allow (application, service type, authenticated user, local connector IP/port; Bounce, Pass
//! through, Drop), and Pass through anywhere but the Exception chain.
//!
//! "Chain end reachable" is judged syntactically: the end is unreachable only if some enabled
//! rule is always true (its top group is "always true") and its actions end the pass (a finishing
//! action, Go to chain, or Expand mailing list). Anything subtler would need the facts.

use crate::model::{
    Action, Applicability, Chain, ConditionGroup, ConditionSubject, EXCEPTION_CHAIN, EncryptedTo,
    MAX_GROUP_DEPTH, Modifier, Node, Policy, Rule, Statement,
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
    #[error("condition {subject} cannot be used in a {applicability:?} chain")]
    ConditionNotApplicable {
        subject: String,
        applicability: Applicability,
    },
    #[error("action {action} cannot be used in a {applicability:?} chain")]
    ActionNotApplicable {
        action: String,
        applicability: Applicability,
    },
    #[error(
        "the Exception chain allows only application, service type, authenticated-user and local connector conditions, not {0}"
    )]
    ConditionNotAllowedInException(String),
    #[error("the Exception chain allows only the Bounce, Pass through and Drop actions, not {0}")]
    ActionNotAllowedInException(String),
    #[error("Pass through is only allowed in the Exception chain")]
    PassThroughOutsideException,
    // Warnings.
    #[error("finishing action {action} is not the last action; the actions after it never run")]
    FinishingActionNotLast { action: String },
    #[error("the rule comes after the always-true rule {earlier:?} and is never reached")]
    AfterAlwaysTrue { earlier: String },
    #[error("a message can reach the end of the chain (it then goes to the Exception chain)")]
    ChainEndReachable,
    #[error("the rule has no actions")]
    NoActions,
    /// Warning: at run time the condition is an evaluation error and the recipient goes to the
    /// Exception chain (Add to dictionary is left to the caller).
    #[error("unknown dictionary {0:?} (messages that reach it go to the Exception chain)")]
    UnknownDictionary(String),
    /// Warning: at run time the recipient goes to the Exception chain.
    #[error("unknown chain {0:?} (messages that reach it go to the Exception chain)")]
    UnknownChain(String),
}

impl Issue {
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            Issue::FinishingActionNotLast { .. }
                | Issue::AfterAlwaysTrue { .. }
                | Issue::ChainEndReachable
                | Issue::NoActions
                | Issue::UnknownDictionary(_)
                | Issue::UnknownChain(_)
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

/// Chain applicabilities a condition may be used in (guide §14.4: "All" is every kind, "C/S"
/// is Server and Client, Server, Client). The internal/external and key-found conditions are
/// Signet's additions: internal/external needs the directory (C/S); a key lookup exists on every
/// side (All).
pub fn condition_applicability(subject: &ConditionSubject) -> &'static [Applicability] {
    use Applicability::*;
    const ALL: &[Applicability] = &[ServerAndClient, Server, Client, Standalone, Mobile];
    const CS: &[Applicability] = &[ServerAndClient, Server, Client];
    const SERVER: &[Applicability] = &[Server];
    const SC_OR_SERVER: &[Applicability] = &[ServerAndClient, Server];
    const CLIENT_SIDE: &[Applicability] = &[Client, Standalone, Mobile];
    match subject {
        ConditionSubject::RecipientAddress
        | ConditionSubject::RecipientDomain
        | ConditionSubject::SenderAddress
        | ConditionSubject::SenderDomain
        | ConditionSubject::MessageHeader { .. }
        | ConditionSubject::MessageSubject
        | ConditionSubject::MessageBody
        | ConditionSubject::MessageSize
        | ConditionSubject::AttachmentName
        | ConditionSubject::AttachmentType
        | ConditionSubject::Application(_)
        | ConditionSubject::ServiceType(_)
        | ConditionSubject::RecipientKeyFound => ALL,
        ConditionSubject::RecipientConsumerPolicy
        | ConditionSubject::RecipientIsMailingList
        | ConditionSubject::RecipientKeyMode(_)
        | ConditionSubject::RecipientDeliveryPreference(_)
        | ConditionSubject::RecipientIsInternal
        | ConditionSubject::SenderConsumerPolicy
        | ConditionSubject::SenderKeyMode(_)
        | ConditionSubject::SenderIsInternal
        | ConditionSubject::MailingListUserCount
        | ConditionSubject::ConnectedUserAuthenticated
        | ConditionSubject::LocalConnectorIp
        | ConditionSubject::LocalConnectorPort => CS,
        ConditionSubject::MessageEncodingFormat(_)
        | ConditionSubject::AnyPartEncrypted(_)
        | ConditionSubject::AnyPartSigned
        | ConditionSubject::MessageIsFromMailingList => SERVER,
        ConditionSubject::AllEncrypted(_) => SC_OR_SERVER,
        ConditionSubject::ClientVersion => CLIENT_SIDE,
    }
}

/// Chain applicabilities an action may be used in (guide §14.5). Pass through is not in the
/// table: it is the Exception chain's own action, checked separately.
pub fn action_applicability(action: &Action) -> &'static [Applicability] {
    use Applicability::*;
    const ALL: &[Applicability] = &[ServerAndClient, Server, Client, Standalone, Mobile];
    const CS: &[Applicability] = &[ServerAndClient, Server, Client];
    const SERVER: &[Applicability] = &[Server];
    match action {
        Action::Send(_) | Action::SendClear | Action::Bounce => ALL,
        Action::SendViaWep
        | Action::SendViaPdf(_)
        | Action::Deliver
        | Action::DecryptAndVerify { .. }
        | Action::ExpandMailingList
        | Action::AddLogEntry { .. }
        | Action::AddHeader { .. }
        | Action::GoToChain { .. } => CS,
        Action::SendArchiveCopy(_) | Action::Drop | Action::AddToDictionary { .. } => SERVER,
        Action::PassThrough => SERVER,
    }
}

/// Whether a condition may be used in the Exception chain (guide §14.4, [L4921]).
pub fn allowed_in_exception_chain(subject: &ConditionSubject) -> bool {
    matches!(
        subject,
        ConditionSubject::Application(_)
            | ConditionSubject::ServiceType(_)
            | ConditionSubject::ConnectedUserAuthenticated
            | ConditionSubject::LocalConnectorIp
            | ConditionSubject::LocalConnectorPort
    )
}

/// Whether an action may be used in the Exception chain (guide §14.11).
pub fn action_allowed_in_exception_chain(action: &Action) -> bool {
    matches!(action, Action::Bounce | Action::PassThrough | Action::Drop)
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
            validate_rule(policy, chain, rule, dictionaries, &mut report);
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
    chain: &Chain,
    rule: &Rule,
    dictionaries: &[String],
    report: &mut Report,
) {
    let mut issues = Vec::new();
    let in_exception = chain.name.eq_ignore_ascii_case(EXCEPTION_CHAIN);
    if rule.conditions.statement != Statement::AlwaysTrue && rule.conditions.children.is_empty() {
        issues.push(Issue::NoConditions);
    } else {
        check_group(&rule.conditions, 1, dictionaries, &mut issues);
        check_condition_scope(
            &rule.conditions,
            chain.applicability,
            in_exception,
            &mut issues,
        );
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
        if in_exception {
            if !action_allowed_in_exception_chain(action) {
                issues.push(Issue::ActionNotAllowedInException(action_name(action)));
            }
        } else if matches!(action, Action::PassThrough) {
            issues.push(Issue::PassThroughOutsideException);
        } else if !action_applicability(action).contains(&chain.applicability) {
            issues.push(Issue::ActionNotApplicable {
                action: action_name(action),
                applicability: chain.applicability,
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
        report.push(&chain.name, Some(&rule.name), issue);
    }
}

/// The action's variant name, without its options.
fn action_name(action: &Action) -> String {
    let debug = format!("{action:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Conditions the chain's applicability (and, for the Exception chain, the guide's short list)
/// does not allow.
fn check_condition_scope(
    group: &ConditionGroup,
    applicability: Applicability,
    in_exception: bool,
    issues: &mut Vec<Issue>,
) {
    for child in &group.children {
        match child {
            Node::Group(g) => check_condition_scope(g, applicability, in_exception, issues),
            Node::Condition(c) => {
                let subject = format!("{:?}", c.subject);
                if in_exception && !allowed_in_exception_chain(&c.subject) {
                    issues.push(Issue::ConditionNotAllowedInException(subject));
                } else if !condition_applicability(&c.subject).contains(&applicability) {
                    issues.push(Issue::ConditionNotApplicable {
                        subject,
                        applicability,
                    });
                }
            }
        }
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
        // Missing dictionaries and chains are warnings (issue 4 item 7), not errors.
        assert!(!e.contains(&Issue::UnknownDictionary("Nope".into())));
        assert!(!e.contains(&Issue::UnknownChain("missing".into())));
        let w = issues(&r.warnings);
        assert!(w.contains(&Issue::UnknownDictionary("Nope".into())));
        assert!(w.contains(&Issue::UnknownChain("missing".into())));
        assert_eq!(
            e.iter().filter(|i| matches!(i, Issue::BadValue(_))).count(),
            3
        );
        assert!(
            e.iter()
                .any(|i| matches!(i, Issue::ModifierNotAllowed { .. }))
        );
        // ClientVersion is a client-side condition and the chain is Server.
        assert!(e.contains(&Issue::ConditionNotApplicable {
            subject: "ClientVersion".into(),
            applicability: Applicability::Server,
        }));
        assert_eq!(e.len(), 8, "{e:?}");
    }

    fn chain_of(name: &str, applicability: Applicability, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            applicability,
            rules,
            factory: false,
        }
    }

    #[test]
    fn applicability_is_enforced() {
        let flag = |s: ConditionSubject| -> Node { Condition::flag(s).into() };
        let p = Policy {
            chains: vec![
                chain_of(
                    "Standalone chain",
                    Applicability::Standalone,
                    vec![
                        // Recipient key mode is C/S only; Drop is Server only.
                        rule(
                            "km",
                            ConditionGroup::all(vec![flag(ConditionSubject::RecipientKeyMode(
                                signet_model::KeyMode::Skm,
                            ))]),
                            vec![Action::Drop],
                        ),
                        // Address and Send are "All": fine anywhere.
                        rule(
                            "ok",
                            ConditionGroup::all(vec![dom("x.test")]),
                            vec![Action::Send(Default::default())],
                        ),
                        rule("pass", ConditionGroup::always(), vec![Action::PassThrough]),
                    ],
                ),
                chain_of(
                    "SC",
                    Applicability::ServerAndClient,
                    vec![rule(
                        "server-only",
                        ConditionGroup::any(vec![
                            flag(ConditionSubject::AnyPartSigned),
                            flag(ConditionSubject::AllEncrypted(EncryptedTo::AnyKey)),
                        ]),
                        vec![Action::AddToDictionary {
                            address: crate::model::AddressSource::Sender,
                            dictionary: "D".into(),
                        }],
                    )],
                ),
            ],
        };
        let r = validate_policy(&p, &["D".to_string()]);
        let e = issues(&r.errors);
        assert_eq!(
            e,
            vec![
                Issue::ConditionNotApplicable {
                    subject: "RecipientKeyMode(Skm)".into(),
                    applicability: Applicability::Standalone,
                },
                Issue::ActionNotApplicable {
                    action: "Drop".into(),
                    applicability: Applicability::Standalone,
                },
                Issue::PassThroughOutsideException,
                Issue::ConditionNotApplicable {
                    subject: "AnyPartSigned".into(),
                    applicability: Applicability::ServerAndClient,
                },
                Issue::ActionNotApplicable {
                    action: "AddToDictionary".into(),
                    applicability: Applicability::ServerAndClient,
                },
            ]
        );
    }

    #[test]
    fn exception_chain_restrictions() {
        let p = Policy {
            chains: vec![chain_of(
                EXCEPTION_CHAIN,
                Applicability::Server,
                vec![
                    rule(
                        "service",
                        ConditionGroup::all(vec![
                            Condition::flag(ConditionSubject::ServiceType(
                                crate::model::ServiceKind::SmtpInbound,
                            ))
                            .into(),
                            Condition::new(
                                ConditionSubject::LocalConnectorPort,
                                Modifier::Is,
                                "25",
                            )
                            .into(),
                        ]),
                        vec![Action::PassThrough],
                    ),
                    rule(
                        "bad",
                        ConditionGroup::all(vec![dom("x.test")]),
                        vec![Action::SendClear],
                    ),
                    rule("rest", ConditionGroup::always(), vec![Action::Bounce]),
                ],
            )],
        };
        let r = validate_policy(&p, &[]);
        assert_eq!(
            issues(&r.errors),
            vec![
                Issue::ConditionNotAllowedInException("RecipientDomain".into()),
                Issue::ActionNotAllowedInException("SendClear".into()),
            ]
        );
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

    #[test]
    fn missing_dictionaries_and_chains_are_only_warnings() {
        let p = policy(vec![
            rule(
                "cond",
                ConditionGroup::all(vec![
                    Condition::new(
                        ConditionSubject::RecipientDomain,
                        Modifier::IsInDictionary,
                        "Gone",
                    )
                    .into(),
                    Condition::flag(ConditionSubject::AllEncrypted(
                        EncryptedTo::KeyInDictionary("Gone Keys".into()),
                    ))
                    .into(),
                ]),
                vec![Action::AddToDictionary {
                    address: crate::model::AddressSource::Sender,
                    dictionary: "Gone Too".into(),
                }],
            ),
            rule(
                "jump",
                ConditionGroup::always(),
                vec![Action::GoToChain {
                    chain: "Nowhere".into(),
                }],
            ),
        ]);
        let r = validate_policy(&p, &[]);
        assert!(r.is_ok(), "{:?}", r.errors);
        let w = issues(&r.warnings);
        for name in ["Gone", "Gone Keys", "Gone Too"] {
            assert!(w.contains(&Issue::UnknownDictionary(name.into())), "{w:?}");
        }
        assert!(w.contains(&Issue::UnknownChain("Nowhere".into())), "{w:?}");
        assert!(!Issue::UnknownChain("x".into()).is_error());
        assert!(!Issue::UnknownDictionary("x".into()).is_error());
        // Chain names compare case-insensitively: no warning for an existing chain.
        let mut p2 = p.clone();
        p2.chains[0].rules.truncate(0);
        p2.chains[0].rules.push(rule(
            "self",
            ConditionGroup::always(),
            vec![Action::GoToChain { chain: "c".into() }],
        ));
        let w2 = issues(&validate_policy(&p2, &[]).warnings);
        assert!(
            !w2.iter().any(|i| matches!(i, Issue::UnknownChain(_))),
            "{w2:?}"
        );
    }
}
