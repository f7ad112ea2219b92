//! Exporting and importing chains with the dictionaries they use (guide §14: "export and import
//! chains"; issue 4 item 9).
//!
//! The bundle is JSON (the product exports XML; Signet's chains are JSON everywhere else, so the
//! bundle is too):
//!
//! ```json
//! { "format": "signet-policy 1",
//!   "chains": [ <chain, exactly as `signet policy show` prints it>, ... ],
//!   "dictionaries": [ { "name": "VIP", "description": "...", "factory": false,
//!                       "entries": [ { "term": "ceo@example.com", "kind": "literal" } ] } ] }
//! ```
//!
//! - **Export** ([`select_chains`]) takes the chains asked for *and every chain they reach by
//!   Go to chain*, so a bundle is self-contained; its dictionaries are the ones those chains
//!   read or add to ([`referenced_dictionaries`]).
//! - **Import** ([`parse_bundle`], then [`plan_import`]) checks everything before anything is
//!   written and refuses the whole bundle with every problem found: JSON that does not parse or
//!   has the wrong shape, a wrong `format` marker, duplicate or invalid names, dictionary terms
//!   that are invalid or patterns that do not compile, a chain the validator has errors for, and
//!   a rule that names a dictionary or Go to chain target that is neither in the bundle nor on
//!   the server. (Hand-written bundles may therefore rely on chains and dictionaries the server
//!   already has.)
//! - On a **name clash** (names ignore case) [`OnClash::Ignore`] keeps the server's object and
//!   [`OnClash::Replace`] overwrites it: a replaced factory chain stays a factory chain, a
//!   replaced dictionary gets the bundle's entries and keeps its factory flag. New chains and
//!   dictionaries are never factory, whatever the bundle says: only the product's own are.
//! - **Managed Domains** is never written by an import: its entries follow the server's own
//!   managed domains. A bundle's copy is skipped, and rules that read it need the server's.

use serde::{Deserialize, Serialize};
use signet_model::{Dictionary, DictionaryEntry, TermKind};

use crate::factory::MANAGED_DOMAINS;
use crate::model::{Action, Chain, ConditionGroup, ConditionSubject, EncryptedTo, Modifier, Node};
use crate::model::{Policy, Rule};
use crate::modifier::compile_pattern;
use crate::validate::{Finding, Issue, validate_policy};

/// The `format` marker of a bundle this version reads and writes.
pub const FORMAT: &str = "signet-policy 1";

/// Chains and the dictionaries they use, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub chains: Vec<Chain>,
    #[serde(default)]
    pub dictionaries: Vec<BundleDictionary>,
}

impl Bundle {
    pub fn new(chains: Vec<Chain>, dictionaries: Vec<BundleDictionary>) -> Self {
        Bundle {
            format: FORMAT.to_string(),
            chains,
            dictionaries,
        }
    }
}

/// A dictionary with its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleDictionary {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Informative: whether it is a factory dictionary where it was exported.
    #[serde(default)]
    pub factory: bool,
    #[serde(default)]
    pub entries: Vec<DictionaryEntry>,
}

/// What to do when a bundle's chain or dictionary has the name of one on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnClash {
    /// Keep the server's object; the bundle's is skipped.
    #[default]
    Ignore,
    /// Overwrite the server's object with the bundle's.
    Replace,
}

/// One reason a bundle is refused (or, for [`TransferError::UnknownChain`], an export).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("the bundle is not valid JSON: {0}")]
    Malformed(String),
    #[error("the bundle's \"format\" is {found}; expected \"{FORMAT}\"")]
    WrongFormat { found: String },
    #[error("the bundle does not have the expected shape: {0}")]
    Shape(String),
    #[error("chain {0:?} appears more than once in the bundle (names ignore case)")]
    DuplicateChain(String),
    #[error("a chain in the bundle has an empty name")]
    EmptyChainName,
    #[error("dictionary {0:?} appears more than once in the bundle (names ignore case)")]
    DuplicateDictionary(String),
    #[error("dictionary {name:?}: {reason}")]
    BadDictionary { name: String, reason: String },
    #[error("chain {chain:?}{}: {issue}", rule_suffix(.rule))]
    Invalid {
        chain: String,
        rule: Option<String>,
        issue: String,
    },
    #[error(
        "chain {chain:?}{}: dictionary {dictionary:?} is neither in the bundle nor on the server",
        rule_suffix(.rule)
    )]
    MissingDictionary {
        chain: String,
        rule: Option<String>,
        dictionary: String,
    },
    #[error(
        "chain {chain:?}{}: Go to chain {target:?}, which is neither in the bundle nor on the server",
        rule_suffix(.rule)
    )]
    MissingChain {
        chain: String,
        rule: Option<String>,
        target: String,
    },
    #[error("there is no chain {0:?} to export")]
    UnknownChain(String),
}

fn rule_suffix(rule: &Option<String>) -> String {
    rule.as_ref()
        .map(|r| format!(", rule {r:?}"))
        .unwrap_or_default()
}

/// Parses a bundle, checking the format marker before the shape so that a file from something
/// else gets the clearer of the two errors.
pub fn parse_bundle(text: &str) -> Result<Bundle, Vec<TransferError>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| vec![TransferError::Malformed(e.to_string())])?;
    match value.get("format") {
        Some(serde_json::Value::String(f)) if f == FORMAT => {}
        other => {
            let found = match other {
                None => "missing".to_string(),
                Some(v) => v.to_string(),
            };
            return Err(vec![TransferError::WrongFormat { found }]);
        }
    }
    serde_json::from_value(value).map_err(|e| vec![TransferError::Shape(e.to_string())])
}

/// The Go to chain targets of a chain, in rule order, each once (ignoring case).
pub fn referenced_chains(chain: &Chain) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for rule in &chain.rules {
        for action in &rule.actions {
            if let Action::GoToChain { chain } = action {
                push_unique(&mut out, chain);
            }
        }
    }
    out
}

/// The dictionaries a rule reads ("is in dictionary", "encrypted to a key in dictionary") or
/// adds to, each once (ignoring case).
pub fn rule_dictionaries(rule: &Rule) -> Vec<String> {
    fn walk(group: &ConditionGroup, out: &mut Vec<String>) {
        for node in &group.children {
            match node {
                Node::Group(g) => walk(g, out),
                Node::Condition(c) => {
                    if c.modifier == Modifier::IsInDictionary {
                        push_unique(out, &c.value);
                    }
                    if let ConditionSubject::AnyPartEncrypted(EncryptedTo::KeyInDictionary(d))
                    | ConditionSubject::AllEncrypted(EncryptedTo::KeyInDictionary(d)) =
                        &c.subject
                    {
                        push_unique(out, d);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&rule.conditions, &mut out);
    for action in &rule.actions {
        if let Action::AddToDictionary { dictionary, .. } = action {
            push_unique(&mut out, dictionary);
        }
    }
    out
}

/// Every dictionary the chains use, each once (ignoring case), in first-use order.
pub fn referenced_dictionaries(chains: &[Chain]) -> Vec<String> {
    let mut out = Vec::new();
    for rule in chains.iter().flat_map(|c| &c.rules) {
        for d in rule_dictionaries(rule) {
            push_unique(&mut out, &d);
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        out.push(name.to_string());
    }
}

/// The chains to export: those named (all when `names` is `None`) plus every chain they reach
/// through Go to chain, in the policy's order. A Go to target that does not exist is left out
/// (the import then needs it on the other server); a named chain that does not exist is an
/// error.
pub fn select_chains(
    policy: &Policy,
    names: Option<&[String]>,
) -> Result<Vec<Chain>, TransferError> {
    let Some(names) = names else {
        return Ok(policy.chains.clone());
    };
    let mut wanted: Vec<String> = Vec::new();
    let mut queue: Vec<String> = Vec::new();
    for name in names {
        let chain = policy
            .chain(name.trim())
            .ok_or_else(|| TransferError::UnknownChain(name.trim().to_string()))?;
        queue.push(chain.name.clone());
    }
    while let Some(name) = queue.pop() {
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let Some(chain) = policy.chain(&name) else {
            continue;
        };
        wanted.push(chain.name.clone());
        queue.extend(referenced_chains(chain));
    }
    Ok(policy
        .chains
        .iter()
        .filter(|c| wanted.iter().any(|w| w.eq_ignore_ascii_case(&c.name)))
        .cloned()
        .collect())
}

/// A dictionary as the server has it, for clash handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDictionary {
    pub name: String,
    pub factory: bool,
}

/// A dictionary write the import will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryImport {
    /// Name and normalized entries; for a replacement, the server's spelling of the name.
    pub dictionary: BundleDictionary,
    /// Replace the entries of the server's dictionary of that name (else create it).
    pub replace: bool,
}

/// A chain write the import will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainImport {
    pub chain: Chain,
    pub replace: bool,
}

/// What an accepted import writes: dictionaries first, then chains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub dictionaries: Vec<DictionaryImport>,
    pub chains: Vec<ChainImport>,
    /// Names kept as the server has them (a clash under Ignore, or Managed Domains).
    pub skipped_dictionaries: Vec<String>,
    pub skipped_chains: Vec<String>,
    /// Validator warnings about the imported chains.
    pub warnings: Vec<Finding>,
}

/// Checks a bundle against the server's policy and dictionaries and says what to write.
/// Refuses with every problem found; nothing in the answer is partial.
pub fn plan_import(
    bundle: &Bundle,
    server_policy: &Policy,
    server_dictionaries: &[ServerDictionary],
    on_clash: OnClash,
) -> Result<ImportPlan, Vec<TransferError>> {
    let mut problems = Vec::new();
    let mut plan = ImportPlan::default();
    let on_server = |name: &str| {
        server_dictionaries
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    };

    // Dictionaries: names, entries, clashes.
    let mut seen: Vec<String> = Vec::new();
    for d in &bundle.dictionaries {
        let name = match Dictionary::check_name(&d.name) {
            Ok(n) => n,
            Err(e) => {
                problems.push(TransferError::BadDictionary {
                    name: d.name.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if seen.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            problems.push(TransferError::DuplicateDictionary(name));
            continue;
        }
        seen.push(name.clone());
        let mut entries = Vec::with_capacity(d.entries.len());
        for e in &d.entries {
            // Deserializing skips the constructor: normalize (literals lower-case) and check.
            match DictionaryEntry::new(e.as_str(), e.kind()) {
                Ok(entry) => {
                    if entry.kind() == TermKind::Pattern
                        && let Err(err) = compile_pattern(&format!("^(?:{})$", entry.as_str()))
                    {
                        problems.push(TransferError::BadDictionary {
                            name: name.clone(),
                            reason: err.to_string(),
                        });
                    }
                    entries.push(entry);
                }
                Err(err) => problems.push(TransferError::BadDictionary {
                    name: name.clone(),
                    reason: err.to_string(),
                }),
            }
        }
        let existing = on_server(&name);
        if name.eq_ignore_ascii_case(MANAGED_DOMAINS)
            || (existing.is_some() && on_clash == OnClash::Ignore)
        {
            plan.skipped_dictionaries
                .push(existing.map(|e| e.name.clone()).unwrap_or(name));
            continue;
        }
        plan.dictionaries.push(DictionaryImport {
            dictionary: BundleDictionary {
                name: existing.map(|e| e.name.clone()).unwrap_or(name),
                description: d.description.trim().to_string(),
                factory: existing.is_some_and(|e| e.factory),
                entries,
            },
            replace: existing.is_some(),
        });
    }

    // Chains: names and clashes.
    let mut names: Vec<String> = Vec::new();
    for c in &bundle.chains {
        let name = c.name.trim();
        if name.is_empty() {
            problems.push(TransferError::EmptyChainName);
            continue;
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            problems.push(TransferError::DuplicateChain(name.to_string()));
            continue;
        }
        names.push(name.to_string());
        let mut chain = c.clone();
        chain.name = name.to_string();
        match server_policy.chain(name) {
            Some(_) if on_clash == OnClash::Ignore => plan.skipped_chains.push(chain.name),
            Some(old) => {
                chain.factory = old.factory;
                plan.chains.push(ChainImport {
                    chain,
                    replace: true,
                });
            }
            None => {
                chain.factory = false;
                plan.chains.push(ChainImport {
                    chain,
                    replace: false,
                });
            }
        }
    }

    // Validate every bundle chain (skipped ones too: a bad chain is a bad bundle) in the
    // policy as it would be, against the dictionaries that would exist. The validator's
    // "unknown dictionary/chain" warnings are errors here: an import must be complete.
    let mut check = server_policy.clone();
    for c in &bundle.chains {
        let name = c.name.trim();
        check.chains.retain(|s| !s.name.eq_ignore_ascii_case(name));
        let mut c = c.clone();
        c.name = name.to_string();
        check.chains.push(c);
    }
    let mut known: Vec<String> = server_dictionaries.iter().map(|d| d.name.clone()).collect();
    known.extend(
        seen.iter()
            .filter(|n| !n.eq_ignore_ascii_case(MANAGED_DOMAINS))
            .cloned(),
    );
    let report = validate_policy(&check, &known);
    let in_bundle = |f: &Finding| names.iter().any(|n| n.eq_ignore_ascii_case(&f.chain));
    for f in report.errors.iter().filter(|f| in_bundle(f)) {
        problems.push(TransferError::Invalid {
            chain: f.chain.clone(),
            rule: f.rule.clone(),
            issue: f.issue.to_string(),
        });
    }
    for f in report.warnings.into_iter().filter(|f| in_bundle(f)) {
        match f.issue {
            Issue::UnknownDictionary(dictionary) => {
                problems.push(TransferError::MissingDictionary {
                    chain: f.chain,
                    rule: f.rule,
                    dictionary,
                })
            }
            Issue::UnknownChain(target) => problems.push(TransferError::MissingChain {
                chain: f.chain,
                rule: f.rule,
                target,
            }),
            _ => plan.warnings.push(f),
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factory::{OUTBOUND_CHAIN, factory_defaults};
    use crate::model::{Applicability, Condition};

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

    /// "Partners": mail to a domain in "Partner Domains" goes to "Partner Delivery".
    fn partners() -> Vec<Chain> {
        vec![
            Chain {
                name: "Partners".into(),
                applicability: Applicability::Server,
                rules: vec![rule(
                    "to partners",
                    ConditionGroup::all(vec![
                        Condition::new(
                            ConditionSubject::RecipientDomain,
                            Modifier::IsInDictionary,
                            "Partner Domains",
                        )
                        .into(),
                    ]),
                    vec![Action::GoToChain {
                        chain: "Partner Delivery".into(),
                    }],
                )],
                factory: false,
            },
            Chain {
                name: "Partner Delivery".into(),
                applicability: Applicability::Server,
                rules: vec![rule(
                    "deliver",
                    ConditionGroup::always(),
                    vec![Action::Deliver],
                )],
                factory: true,
            },
        ]
    }

    fn dictionary(name: &str, terms: &[(&str, TermKind)]) -> BundleDictionary {
        BundleDictionary {
            name: name.into(),
            description: "d".into(),
            factory: false,
            entries: terms
                .iter()
                .map(|(t, k)| DictionaryEntry::new(t, *k).unwrap())
                .collect(),
        }
    }

    fn bundle() -> Bundle {
        Bundle::new(
            partners(),
            vec![dictionary(
                "Partner Domains",
                &[
                    ("Ext.Test", TermKind::Literal),
                    (r".*\.ext\.test", TermKind::Pattern),
                ],
            )],
        )
    }

    fn server_dictionaries() -> Vec<ServerDictionary> {
        vec![ServerDictionary {
            name: MANAGED_DOMAINS.into(),
            factory: true,
        }]
    }

    #[test]
    fn bundles_round_trip_through_json_with_a_format_marker() {
        let b = bundle();
        let text = serde_json::to_string_pretty(&b).unwrap();
        assert!(text.contains("\"format\": \"signet-policy 1\""), "{text}");
        assert!(text.contains("\"kind\": \"pattern\""), "{text}");
        assert_eq!(parse_bundle(&text).unwrap(), b);
    }

    #[test]
    fn malformed_and_foreign_bundles_are_refused_with_a_reason() {
        let e = parse_bundle("{\"format\": ").unwrap_err();
        assert!(matches!(e[..], [TransferError::Malformed(_)]), "{e:?}");
        let e = parse_bundle(r#"{"chains": []}"#).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "the bundle's \"format\" is missing; expected \"signet-policy 1\""
        );
        let e = parse_bundle(r#"{"format": "pgp-universal 3", "chains": []}"#).unwrap_err();
        assert!(
            matches!(e[..], [TransferError::WrongFormat { .. }]),
            "{e:?}"
        );
        let e = parse_bundle(r#"{"format": "signet-policy 1", "chains": 3}"#).unwrap_err();
        assert!(matches!(e[..], [TransferError::Shape(_)]), "{e:?}");
    }

    #[test]
    fn export_follows_go_to_chain_and_collects_dictionaries() {
        let mut policy = factory_defaults();
        policy.chains.extend(partners());
        let chosen = select_chains(&policy, Some(&["partners".to_string()])).unwrap();
        let names: Vec<&str> = chosen.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Partners", "Partner Delivery"]);
        assert_eq!(referenced_dictionaries(&chosen), ["Partner Domains"]);
        // The factory Outbound chain reaches both secure chains.
        let out = select_chains(&policy, Some(&[OUTBOUND_CHAIN.to_string()])).unwrap();
        assert_eq!(
            out.len(),
            3,
            "{:?}",
            out.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
        assert_eq!(
            select_chains(&policy, None).unwrap().len(),
            policy.chains.len()
        );
        assert_eq!(
            select_chains(&policy, Some(&["nope".to_string()])),
            Err(TransferError::UnknownChain("nope".into()))
        );
    }

    #[test]
    fn a_new_chain_is_imported_never_as_factory_dictionaries_first() {
        let plan = plan_import(
            &bundle(),
            &factory_defaults(),
            &server_dictionaries(),
            OnClash::Ignore,
        )
        .unwrap();
        assert_eq!(plan.dictionaries.len(), 1);
        let d = &plan.dictionaries[0].dictionary;
        assert!(!plan.dictionaries[0].replace);
        assert_eq!(
            d.entries[0].as_str(),
            "ext.test",
            "literals are lower-cased"
        );
        assert_eq!(d.entries[1].as_str(), r".*\.ext\.test");
        assert_eq!(plan.chains.len(), 2);
        assert!(plan.chains.iter().all(|c| !c.chain.factory && !c.replace));
    }

    #[test]
    fn ignore_keeps_and_replace_overwrites_on_a_clash() {
        let mut server = factory_defaults();
        server.chains.push(Chain {
            rules: vec![],
            ..partners()[0].clone()
        });
        let mut dictionaries = server_dictionaries();
        dictionaries.push(ServerDictionary {
            name: "PARTNER DOMAINS".into(),
            factory: true,
        });
        let mut b = bundle();
        b.chains[0].name = "partners".into();
        let ignore = plan_import(&b, &server, &dictionaries, OnClash::Ignore).unwrap();
        assert_eq!(ignore.skipped_chains, ["partners"]);
        assert_eq!(ignore.skipped_dictionaries, ["PARTNER DOMAINS"]);
        assert_eq!(ignore.chains.len(), 1);
        let replace = plan_import(&b, &server, &dictionaries, OnClash::Replace).unwrap();
        assert!(replace.skipped_chains.is_empty());
        let partners = &replace.chains[0];
        assert!(partners.replace && partners.chain.rules.len() == 1);
        let d = &replace.dictionaries[0];
        assert!(
            d.replace && d.dictionary.factory,
            "a factory dictionary stays factory"
        );
        assert_eq!(
            d.dictionary.name, "PARTNER DOMAINS",
            "the server's spelling"
        );

        // A replaced factory chain stays factory.
        let mut b = Bundle::new(vec![server.chain(OUTBOUND_CHAIN).unwrap().clone()], vec![]);
        b.chains[0].factory = false;
        let plan = plan_import(&b, &server, &dictionaries, OnClash::Replace).unwrap();
        assert!(plan.chains[0].chain.factory && plan.chains[0].replace);
    }

    #[test]
    fn managed_domains_is_never_imported() {
        let mut b = bundle();
        b.dictionaries.push(dictionary(
            "managed domains",
            &[("evil.test", TermKind::Literal)],
        ));
        let plan = plan_import(
            &b,
            &factory_defaults(),
            &server_dictionaries(),
            OnClash::Replace,
        )
        .unwrap();
        assert_eq!(plan.skipped_dictionaries, [MANAGED_DOMAINS]);
        assert!(
            plan.dictionaries
                .iter()
                .all(|d| d.dictionary.name != MANAGED_DOMAINS)
        );
        // Without it on the server, a rule that reads it is refused even if the bundle has it.
        let b = Bundle::new(
            factory_defaults().chains,
            vec![dictionary(MANAGED_DOMAINS, &[])],
        );
        let e = plan_import(&b, &Policy::default(), &[], OnClash::Ignore).unwrap_err();
        assert!(
            e.iter().any(|e| matches!(e, TransferError::MissingDictionary { dictionary, .. } if dictionary == MANAGED_DOMAINS)),
            "{e:?}"
        );
    }

    #[test]
    fn missing_references_and_invalid_chains_are_all_reported() {
        let mut b = bundle();
        b.dictionaries.clear();
        b.chains.remove(1);
        b.chains.push(Chain {
            name: "Broken".into(),
            applicability: Applicability::Server,
            rules: vec![rule(
                "no conditions",
                ConditionGroup::all(vec![]),
                vec![Action::Deliver],
            )],
            factory: false,
        });
        b.chains.push(b.chains[0].clone());
        b.dictionaries
            .push(dictionary("Bad", &[("(", TermKind::Pattern)]));
        let e = plan_import(&b, &Policy::default(), &[], OnClash::Ignore).unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("\"Partner Domains\" is neither")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("Go to chain \"Partner Delivery\"")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("chain \"Broken\", rule \"no conditions\"")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("\"Partners\" appears more than once")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("dictionary \"Bad\"")),
            "{text:?}"
        );
        // The same rule referring to what the server has is fine.
        let mut server = Policy::default();
        server.chains.push(partners()[1].clone());
        let b = Bundle::new(vec![partners()[0].clone()], vec![]);
        let dictionaries = [ServerDictionary {
            name: "partner domains".into(),
            factory: false,
        }];
        assert!(plan_import(&b, &server, &dictionaries, OnClash::Ignore).is_ok());
    }
}
