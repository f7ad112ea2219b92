//! The chains a fresh install has (guide §14.11, evidence note 1b).
//!
//! The guide names the pre-installed chains and what each one does, but not the rules inside
//! them; the evidence note confirms only two rule names from product mail logs ("Inbound Mail"
//! in Default, "Decrypt Message (SMTP)" in Inbound). Everything else here is reconstructed from
//! the chain descriptions. Where the sources are thin, the choice is the one a mail
//! administrator would expect, and the comment on the rule says so (docs/policy.md lists them
//! too).
//!
//! Every factory chain has `factory: true`. Rules refer to dictionaries by name; the names are
//! in [`FACTORY_DICTIONARIES`], which the installer must create alongside the chains.
//!
//! **The factory chains are data**: `crates/policy/factory/policy.json` (pretty JSON of a
//! [`Policy`], the same format `signet policy show` prints), compiled in with `include_str!`
//! ([`FACTORY_POLICY_JSON`]) and parsed once. The file is the source of what ships. A test-only
//! Rust builder (`factory_source.rs`) carries the provenance comments for every rule and
//! regenerates the file; a test fails while the two differ. Nothing in the file depends on the
//! managed domains: the rules read the [`MANAGED_DOMAINS`] dictionary, and [`factory_policy`]
//! only adds the install-time domain list to the descriptions of the Default rules that read it.

use std::sync::OnceLock;

use crate::model::{Chain, ConditionGroup, DEFAULT_CHAIN, Modifier, Node, Policy};

/// The dictionary of managed domains. The store keeps its entries equal to the configured
/// managed domains; the Default chain reads it to tell inbound and outbound mail apart.
pub const MANAGED_DOMAINS: &str = "Managed Domains";

pub const INBOUND_CHAIN: &str = "Inbound";
pub const OUTBOUND_CHAIN: &str = "Outbound";
pub const SECURE_MESSAGE_CHAIN: &str = "Outbound: Secure Message";
pub const SECURE_WITH_KEY_ONLY_CHAIN: &str = "Outbound: Secure With Key Only";
pub const LEGACY_CLIENT_CHAIN: &str = "Default: Legacy Client";
pub const STANDALONE_CHAIN: &str = "Default: Standalone";
pub const MOBILE_CHAIN: &str = "Default: Mobile";

/// Mailing lists with fewer members than this are expanded (guide §14.8, default 30).
pub const EXPAND_MAILING_LIST_BELOW: u64 = 30;

/// Dictionaries a fresh install creates, as (name, description). The factory rules reference
/// "Managed Domains"; the three "Excluded Addresses" dictionaries are the product's other
/// default dictionaries (KB 180145), for administrators' rules and the Add to dictionary action.
/// Sign and Do Not Sign start with the patterns in [`FACTORY_DICTIONARY_PATTERNS`].
pub const FACTORY_DICTIONARIES: &[(&str, &str)] = &[
    (
        MANAGED_DOMAINS,
        "The managed domains; kept in step with the managed-domain list. Read by the Default chain.",
    ),
    (
        "Excluded Addresses: Sign",
        "Addresses that should get signed but unencrypted mail (e.g. mailing-list submissions).",
    ),
    (
        "Excluded Addresses: Do Not Sign",
        "Addresses that should get neither encrypted nor signed mail (e.g. list-admin addresses).",
    ),
    (
        "Excluded Addresses: Pending",
        "Automatically detected mailing-list addresses waiting for an administrator's approval.",
    ),
];

/// The pattern terms a fresh install puts in the Excluded Addresses dictionaries (guide,
/// Dictionaries: the default exclusion rules for list-style addresses). Patterns match the whole
/// address, case-insensitively.
pub const FACTORY_DICTIONARY_PATTERNS: &[(&str, &[&str])] = &[
    (
        "Excluded Addresses: Sign",
        &[
            ".*-announce@.*",
            ".*-bugs@.*",
            ".*-devel@.*",
            ".*-digest@.*",
            ".*-docs@.*",
            ".*-help@.*",
            ".*-list@.*",
            ".*-news@.*",
            ".*-users@.*",
        ],
    ),
    (
        "Excluded Addresses: Do Not Sign",
        &[
            ".*-bounces@.*",
            ".*-report@.*",
            ".*-request@.*",
            ".*-subscribe@.*",
            ".*-unsubscribe@.*",
        ],
    ),
];

/// The factory chains as shipped: `crates/policy/factory/policy.json`.
pub const FACTORY_POLICY_JSON: &str = include_str!("../factory/policy.json");

/// The factory chains exactly as in [`FACTORY_POLICY_JSON`], without the install-time note
/// [`factory_policy`] adds. Parsed once per process.
pub fn factory_defaults() -> Policy {
    static PARSED: OnceLock<Policy> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            // The file is compiled in and checked by the tests, so this cannot fail at run time.
            serde_json::from_str(FACTORY_POLICY_JSON)
                .expect("crates/policy/factory/policy.json is a valid policy")
        })
        .clone()
}

/// The policy of a fresh install: [`factory_defaults`], with the managed domains at install time
/// noted in the descriptions of the Default-chain rules that read the [`MANAGED_DOMAINS`]
/// dictionary. The rules themselves read the dictionary, so later changes to the managed-domain
/// list need no rule edits.
pub fn factory_policy(managed_domains: &[String]) -> Policy {
    let at_install = if managed_domains.is_empty() {
        "none yet".to_string()
    } else {
        managed_domains.join(", ")
    };
    let mut policy = factory_defaults();
    for chain in &mut policy.chains {
        if !chain.name.eq_ignore_ascii_case(DEFAULT_CHAIN) {
            continue;
        }
        for rule in &mut chain.rules {
            if reads_managed_domains(&rule.conditions) {
                rule.description = format!(
                    "{} Managed domains at install: {at_install}.",
                    rule.description
                );
            }
        }
    }
    policy
}

fn reads_managed_domains(group: &ConditionGroup) -> bool {
    group.children.iter().any(|child| match child {
        Node::Group(g) => reads_managed_domains(g),
        Node::Condition(c) => {
            c.modifier == Modifier::IsInDictionary && c.value.eq_ignore_ascii_case(MANAGED_DOMAINS)
        }
    })
}

/// The policy with every factory chain put back to its factory version and every other chain
/// kept as it is.
///
/// A chain of `current` whose name (case-insensitively) is a factory chain's is replaced by the
/// factory version, in the same position, whatever its `factory` flag says (chain names are
/// unique, so a chain with a factory name *is* that factory chain). Factory chains missing from
/// `current` are appended in factory order. Every other chain, including one marked `factory`
/// that the current factory set no longer has, is kept unchanged. Rule descriptions come back
/// without the install-time domain note (see [`factory_policy`]): the domains are in the
/// Managed Domains dictionary, which this does not touch.
pub fn restore_factory_defaults(current: &Policy) -> Policy {
    let factory = factory_defaults();
    let factory_version = |name: &str| -> Option<&Chain> {
        factory
            .chains
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    };
    let mut chains: Vec<Chain> = current
        .chains
        .iter()
        .map(|c| factory_version(&c.name).unwrap_or(c).clone())
        .collect();
    for f in &factory.chains {
        if !chains.iter().any(|c| c.name.eq_ignore_ascii_case(&f.name)) {
            chains.push(f.clone());
        }
    }
    Policy { chains }
}
/// The names in [`FACTORY_DICTIONARIES`], for validation.
pub fn factory_dictionary_names() -> Vec<String> {
    FACTORY_DICTIONARIES
        .iter()
        .map(|(n, _)| (*n).to_string())
        .collect()
}

#[cfg(test)]
#[path = "factory_source.rs"]
mod source;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Disposition, Plan, Trace, default_input, evaluate};
    use crate::facts::{
        MemoryDictionaries, SessionFacts, SimpleDirectory, SimpleMessage, UserFacts,
    };
    use crate::model::{
        Action, Applicability, DeliveryPreference, EXCEPTION_CHAIN, EncodingFormat, KeyNotFound,
        Rule, ServiceKind,
    };
    use crate::validate::validate_policy;

    /// The file must be exactly what the builder produces (pretty JSON plus a final newline).
    /// `SIGNET_REGENERATE_FACTORY=1` rewrites it from the builder first.
    #[test]
    fn factory_file_matches_the_builder() {
        let built = source::build();
        let text = serde_json::to_string_pretty(&built).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/factory/policy.json");
        if std::env::var_os("SIGNET_REGENERATE_FACTORY").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        assert!(
            FACTORY_POLICY_JSON == text,
            "factory/policy.json is out of date: run \
             SIGNET_REGENERATE_FACTORY=1 cargo test -p signet-policy factory_file"
        );
        assert_eq!(factory_defaults(), built);
    }

    #[test]
    fn install_note_names_the_managed_domains() {
        let domains = ["example.com".to_string(), "example.org".to_string()];
        let p = factory_policy(&domains);
        let default = p.chain(DEFAULT_CHAIN).unwrap();
        let noted: Vec<&str> = default
            .rules
            .iter()
            .filter(|r| {
                r.description
                    .ends_with("install: example.com, example.org.")
            })
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(noted, vec!["Inbound Mail", "Outbound Mail"]);
        assert!(
            factory_policy(&[]).chain(DEFAULT_CHAIN).unwrap().rules[0]
                .description
                .ends_with("Managed domains at install: none yet.")
        );
        // Apart from the note, it is the shipped file.
        let mut stripped = p.clone();
        for (r, f) in stripped.chains[0]
            .rules
            .iter_mut()
            .zip(&factory_defaults().chains[0].rules)
        {
            r.description = f.description.clone();
        }
        assert_eq!(stripped, factory_defaults());
    }

    #[test]
    fn restore_replaces_factory_chains_and_keeps_user_chains() {
        let factory = factory_defaults();
        let mut current = factory_policy(&["example.com".to_string()]);
        // The administrator edited Outbound (renamed in another case), deleted Mobile (the
        // store refuses that, but a restored backup may lack it) and added two chains.
        let outbound = current
            .chains
            .iter_mut()
            .find(|c| c.name == OUTBOUND_CHAIN)
            .unwrap();
        outbound.name = OUTBOUND_CHAIN.to_uppercase();
        outbound.rules.insert(
            0,
            Rule {
                name: "Drop Everything".into(),
                description: String::new(),
                enabled: true,
                conditions: ConditionGroup::always(),
                actions: vec![Action::Drop],
                key_search: vec![],
            },
        );
        outbound.factory = false;
        current.chains.retain(|c| c.name != MOBILE_CHAIN);
        let user = Chain {
            name: "Legal Hold".into(),
            applicability: Applicability::Server,
            rules: vec![],
            factory: false,
        };
        let stale_factory = Chain {
            name: "Old Factory Chain".into(),
            applicability: Applicability::Server,
            rules: vec![],
            factory: true,
        };
        current.chains.insert(1, user.clone());
        current.chains.push(stale_factory.clone());

        let restored = restore_factory_defaults(&current);
        // Every factory chain is back, exactly as shipped.
        for f in &factory.chains {
            assert_eq!(restored.chain(&f.name), Some(f), "{}", f.name);
        }
        // User chains are kept, in place.
        assert_eq!(restored.chains[1], user);
        assert_eq!(restored.chain("Old Factory Chain"), Some(&stale_factory));
        // No duplicates; the missing chain is appended.
        assert_eq!(restored.chains.len(), factory.chains.len() + 2);
        assert_eq!(restored.chains.last().unwrap().name, MOBILE_CHAIN);
        // Idempotent, and a pure factory policy restores to the shipped file.
        assert_eq!(restore_factory_defaults(&restored), restored);
        assert_eq!(restore_factory_defaults(&Policy::default()), factory);
        assert!(validate_policy(&restored, &factory_dictionary_names()).is_ok());
    }

    #[test]
    fn factory_file_keeps_reading_the_managed_domains_dictionary() {
        // No domain is written into a condition: the rules read the dictionary.
        assert!(!FACTORY_POLICY_JSON.contains("example.com"));
        let default = factory_defaults();
        let rules = &default.chain(DEFAULT_CHAIN).unwrap().rules;
        assert!(reads_managed_domains(&rules[0].conditions));
        assert!(reads_managed_domains(&rules[1].conditions));
        assert!(!reads_managed_domains(&rules[2].conditions));
    }

    fn world() -> (SimpleDirectory, MemoryDictionaries) {
        let dir = SimpleDirectory::default()
            .with(
                "alice@example.com",
                UserFacts {
                    internal: true,
                    key_available: true,
                    ..Default::default()
                },
            )
            .with(
                "carol@example.com",
                UserFacts {
                    internal: true,
                    key_available: true,
                    ..Default::default()
                },
            )
            .with(
                "bob@ext.test",
                UserFacts {
                    key_available: true,
                    ..Default::default()
                },
            );
        let mut dicts = MemoryDictionaries::default();
        for (name, _) in FACTORY_DICTIONARIES {
            dicts.define(name);
        }
        dicts.add_literal(MANAGED_DOMAINS, "example.com");
        (dir, dicts)
    }

    fn run(message: &SimpleMessage, session: &SessionFacts, rcpt: &str) -> (Plan, Trace) {
        let (dir, dicts) = world();
        let policy = factory_policy(&["example.com".to_string()]);
        let rcpts = vec![rcpt.to_string()];
        let input = default_input(message, session, &dir, &dicts, &rcpts);
        evaluate(&policy, &input)
    }

    fn message(subject: &str) -> SimpleMessage {
        SimpleMessage {
            sender: "alice@example.com".into(),
            headers: vec![("Subject".into(), subject.into())],
            body: "hello".into(),
            size_bytes: 100,
            ..Default::default()
        }
    }

    #[test]
    fn factory_policy_validates() {
        let policy = factory_policy(&["example.com".to_string()]);
        let report = validate_policy(&policy, &factory_dictionary_names());
        assert!(report.is_ok(), "{:?}", report.errors);
        assert!(policy.chains.iter().all(|c| c.factory));
        // Only the Exception chain may fall off its end (to the pass-through default).
        for w in &report.warnings {
            assert_eq!(w.chain, EXCEPTION_CHAIN, "{w:?}");
        }
        for name in [
            DEFAULT_CHAIN,
            LEGACY_CLIENT_CHAIN,
            STANDALONE_CHAIN,
            MOBILE_CHAIN,
            EXCEPTION_CHAIN,
            INBOUND_CHAIN,
            OUTBOUND_CHAIN,
            SECURE_MESSAGE_CHAIN,
            SECURE_WITH_KEY_ONLY_CHAIN,
        ] {
            assert!(policy.chain(name).is_some(), "{name}");
        }
    }

    #[test]
    fn sensitive_outbound_to_external_is_encrypted_or_bounced() {
        let m = message("[PGP] quarterly numbers");
        let (plan, trace) = run(&m, &SessionFacts::default(), "bob@ext.test");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![
                (DEFAULT_CHAIN, "Outbound Mail"),
                (OUTBOUND_CHAIN, "Sensitive Mail"),
                (SECURE_MESSAGE_CHAIN, "Other Recipients"),
                (SECURE_WITH_KEY_ONLY_CHAIN, "Encrypt to Key"),
            ]
        );
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => match &p.action {
                Action::Send(o) => {
                    assert!(o.recipient_key && o.sign);
                    assert_eq!(o.if_key_not_found, KeyNotFound::Bounce);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sensitivity_header_and_wep_preference() {
        let mut m = message("hi");
        m.headers
            .push(("Sensitivity".into(), "company-confidential".into()));
        let (dir, dicts) = world();
        let dir = dir.with(
            "dave@ext.test",
            UserFacts {
                delivery_preference: Some(DeliveryPreference::WebEmailProtection),
                ..Default::default()
            },
        );
        let policy = factory_policy(&[]);
        let rcpts = vec!["dave@ext.test".to_string()];
        let session = SessionFacts::default();
        let (plan, _) = evaluate(&policy, &default_input(&m, &session, &dir, &dicts, &rcpts));
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => assert_eq!(p.action, Action::SendViaWep),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ordinary_and_internal_mail_goes_out_clear() {
        for rcpt in ["bob@ext.test", "carol@example.com"] {
            let (plan, trace) = run(&message("lunch?"), &SessionFacts::default(), rcpt);
            assert_eq!(
                trace.recipients[0].fired(),
                vec![
                    (DEFAULT_CHAIN, "Outbound Mail"),
                    (OUTBOUND_CHAIN, "Send Clear")
                ],
                "{rcpt}"
            );
            match &plan.recipients[0].disposition {
                Disposition::Finished(p) => assert_eq!(p.action, Action::SendClear),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn inbound_encrypted_mail_is_decrypted() {
        let mut m = message("hi");
        m.sender = "bob@ext.test".into();
        m.encoding = Some(EncodingFormat::OpenPgp);
        let session = SessionFacts {
            service: ServiceKind::SmtpInbound,
            ..Default::default()
        };
        let (_, trace) = run(&m, &session, "alice@example.com");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![
                (DEFAULT_CHAIN, "Inbound Mail"),
                (INBOUND_CHAIN, "Decrypt Message (SMTP)")
            ]
        );
    }

    #[test]
    fn malformed_mail_passes_through() {
        let mut m = message("x");
        m.malformed = true;
        let (plan, trace) = run(&m, &SessionFacts::default(), "bob@ext.test");
        assert_eq!(
            trace.recipients[0].fired(),
            vec![(EXCEPTION_CHAIN, "Outbound Exceptions")]
        );
        match &plan.recipients[0].disposition {
            Disposition::Finished(p) => assert_eq!(p.action, Action::PassThrough),
            other => panic!("{other:?}"),
        }
    }
}
