//! The mail-policy data model (guide §14.2–§14.8): a policy is a set of named chains, a chain an
//! ordered list of rules, a rule a condition tree plus an ordered action list plus a key-search
//! list.
//!
//! Why it looks like this:
//! - Everything is plain data with serde derives so the store can replicate it. The store uses
//!   postcard, which cannot encode internally or adjacently tagged enums, so every enum here is
//!   externally tagged (serde's default) and no `#[serde(flatten)]` or `untagged` is used.
//! - Conditions whose value is a fixed choice in the guide (key mode, service type, encoding
//!   format, ...) carry that choice typed inside [`ConditionSubject`]; conditions compared with a
//!   modifier carry the text in [`Condition::value`]. Negated forms ("is not") are a flag on the
//!   condition rather than a second set of modifiers.
//! - Rules refer to dictionaries, chains and keyservers by name, as the guide does (renaming one
//!   breaks the rules that use it; [`crate::validate`] reports that).

use serde::{Deserialize, Serialize};
use signet_model::KeyMode;

/// Deepest nesting of condition groups the guide allows (the rule's top group is level 1).
pub const MAX_GROUP_DEPTH: usize = 10;

/// Name of the chain every message starts in.
pub const DEFAULT_CHAIN: &str = "Default";
/// Name of the chain entered on errors, malformed messages and falling off a chain's end.
pub const EXCEPTION_CHAIN: &str = "Exception";

/// The whole mail policy: every chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub chains: Vec<Chain>,
}

impl Policy {
    /// The chain with this name. Chain names compare case-insensitively, like every other name
    /// an administrator types into a rule.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// Where a chain's rules may run; it decides which conditions and actions its rules may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Applicability {
    ServerAndClient,
    Server,
    Client,
    /// Desktop without a server connection; restricted conditions.
    Standalone,
    /// PGP Mobile; restricted.
    Mobile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    pub applicability: Applicability,
    /// Rules in evaluation order (the guide's order numbers are the positions here).
    pub rules: Vec<Rule>,
    /// Pre-installed chain that cannot be deleted (its rules can still be edited).
    pub factory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub description: String,
    /// Disabled rules are skipped during evaluation.
    pub enabled: bool,
    pub conditions: ConditionGroup,
    /// In execution order; finishing actions belong last.
    pub actions: Vec<Action>,
    /// Keyservers searched for recipient keys, in priority order (guide §14.9).
    pub key_search: Vec<KeySearchEntry>,
}

/// One keyserver on a rule's Key Search tab. A rule may use cached keys only from keyservers
/// listed here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySearchEntry {
    /// Keyserver name as configured under Keys > Keyservers.
    pub keyserver: String,
}

/// How a group combines its children (guide "condition statements").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Statement {
    /// If all of the following are true.
    All,
    /// If any of the following are true.
    Any,
    /// If none of the following are true.
    None,
    /// The condition is always true (no children allowed).
    AlwaysTrue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionGroup {
    pub statement: Statement,
    pub children: Vec<Node>,
}

impl ConditionGroup {
    pub fn always() -> Self {
        ConditionGroup {
            statement: Statement::AlwaysTrue,
            children: Vec::new(),
        }
    }

    pub fn all(children: Vec<Node>) -> Self {
        ConditionGroup {
            statement: Statement::All,
            children,
        }
    }

    pub fn any(children: Vec<Node>) -> Self {
        ConditionGroup {
            statement: Statement::Any,
            children,
        }
    }

    pub fn none(children: Vec<Node>) -> Self {
        ConditionGroup {
            statement: Statement::None,
            children,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    Condition(Condition),
    Group(ConditionGroup),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub subject: ConditionSubject,
    pub modifier: Modifier,
    /// The text compared against; a dictionary name for [`Modifier::IsInDictionary`], a number
    /// for comparisons, empty for subjects whose value is part of the subject.
    pub value: String,
    /// The negated form ("is not", "does not contain", ...).
    pub negate: bool,
}

impl Condition {
    pub fn new(subject: ConditionSubject, modifier: Modifier, value: impl Into<String>) -> Self {
        Condition {
            subject,
            modifier,
            value: value.into(),
            negate: false,
        }
    }

    /// A condition whose value is carried by the subject (key mode, service type, ...).
    pub fn flag(subject: ConditionSubject) -> Self {
        Condition::new(subject, Modifier::Is, "")
    }

    pub fn negated(mut self) -> Self {
        self.negate = true;
        self
    }
}

impl From<Condition> for Node {
    fn from(c: Condition) -> Node {
        Node::Condition(c)
    }
}

impl From<ConditionGroup> for Node {
    fn from(g: ConditionGroup) -> Node {
        Node::Group(g)
    }
}

/// Condition modifiers (guide §14.3). Every text comparison is case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Modifier {
    Is,
    Contains,
    BeginsWith,
    EndsWith,
    /// A regular expression searched for anywhere in the value (see [`crate::modifier`]).
    MatchesPattern,
    IsInDictionary,
    IsSubdomainOf,
    GreaterThan,
    LessThan,
    GreaterOrEqual,
    LessOrEqual,
    /// Count comparison ("Mailing list user count is fewer than").
    FewerThan,
}

/// The server conditions of guide §14.4 plus the internal/external and key-found facts the
/// factory chains need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionSubject {
    RecipientAddress,
    RecipientDomain,
    /// Recipient's consumer policy name.
    RecipientConsumerPolicy,
    RecipientIsMailingList,
    RecipientKeyMode(KeyMode),
    /// External user recipient delivery preference.
    RecipientDeliveryPreference(DeliveryPreference),
    /// The recipient is a user of a managed domain.
    RecipientIsInternal,
    /// A usable key or certificate for the recipient is known to the server.
    RecipientKeyFound,
    SenderAddress,
    SenderDomain,
    SenderConsumerPolicy,
    SenderKeyMode(KeyMode),
    SenderIsInternal,
    MessageEncodingFormat(EncodingFormat),
    /// A header by name; the condition compares every instance of it.
    MessageHeader {
        name: String,
    },
    MessageSubject,
    MessageBody,
    /// Size in KB (1024 bytes).
    MessageSize,
    AnyPartEncrypted(EncryptedTo),
    AllEncrypted(EncryptedTo),
    AnyPartSigned,
    AttachmentName,
    AttachmentType,
    MessageIsFromMailingList,
    MailingListUserCount,
    Application(ApplicationKind),
    ServiceType(ServiceKind),
    ClientVersion,
    ConnectedUserAuthenticated,
    LocalConnectorIp,
    LocalConnectorPort,
}

/// What an "… is encrypted" condition looks for. Key IDs match the key that really appears in
/// the message's PKESK packets: for a v4 key that is the encryption subkey, not the primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncryptedTo {
    AnyKey,
    KeyId(String),
    Adk,
    /// Any key whose ID is in the named dictionary.
    KeyInDictionary(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryPreference {
    WebEmailProtection,
    SmartTrailer,
    Desktop,
    PdfEmailProtection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EncodingFormat {
    NotEncoded,
    OpenPgp,
    Smime,
    Partitioned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApplicationKind {
    InternalDesktop,
    ExternalDesktop,
    Server,
}

/// Service type; "SMTP Inbound" / "SMTP Outbound" is also the message direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceKind {
    SmtpInbound,
    SmtpOutbound,
    Pop,
    Imap,
    Mapi,
    WebEmailProtection,
    Blackberry,
}

/// Mail policy actions (guide §14.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send (encrypted/signed).
    Send(SendOptions),
    SendViaWep,
    /// Send clear (unencrypted and unsigned).
    SendClear,
    SendViaPdf(PdfOptions),
    SendArchiveCopy(ArchiveOptions),
    /// Deliver (inbound) mail.
    Deliver,
    /// Decrypts, verifies, annotates and delivers; terminal (the guide's CONFLICT resolved as
    /// the spec recommends).
    DecryptAndVerify {
        annotation: Annotation,
    },
    Bounce,
    Drop,
    /// Exception chain only: pass the message through unprocessed.
    PassThrough,
    AddToDictionary {
        address: AddressSource,
        dictionary: String,
    },
    /// Replace a mailing-list recipient by its members and restart at the Default chain.
    ExpandMailingList,
    AddLogEntry {
        text: String,
    },
    AddHeader {
        name: String,
        value: String,
        replace_existing: bool,
    },
    GoToChain {
        chain: String,
    },
}

impl Action {
    /// Whether the action finishes processing (guide's "Type" column).
    pub fn finishes(&self) -> bool {
        match self {
            Action::Send(_)
            | Action::SendViaWep
            | Action::SendClear
            | Action::SendViaPdf(_)
            | Action::Deliver
            | Action::DecryptAndVerify { .. }
            | Action::Bounce
            | Action::Drop
            | Action::PassThrough => true,
            Action::SendArchiveCopy(_)
            | Action::AddToDictionary { .. }
            | Action::ExpandMailingList
            | Action::AddLogEntry { .. }
            | Action::AddHeader { .. }
            | Action::GoToChain { .. } => false,
        }
    }

    /// Whether evaluation of this pass stops after the action even though it is a "continues"
    /// action in the guide: Go to chain hands over, Expand mailing list restarts elsewhere.
    pub fn transfers(&self) -> bool {
        matches!(self, Action::GoToChain { .. } | Action::ExpandMailingList)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOptions {
    pub recipient_key: bool,
    pub require_verified_key: bool,
    /// CKM and GKM keys count; SKM and SCKM count as key-not-found.
    pub require_end_to_end_key: bool,
    pub if_key_not_found: KeyNotFound,
    /// Also encrypt to the sender's key.
    pub senders_key: bool,
    /// Extra key IDs (internal user keys only) or imported keys by fingerprint.
    pub other_keys: Vec<String>,
    pub sign: bool,
    pub encoding: PreferredEncoding,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            recipient_key: true,
            require_verified_key: false,
            require_end_to_end_key: false,
            if_key_not_found: KeyNotFound::Bounce,
            senders_key: false,
            other_keys: Vec::new(),
            sign: true,
            encoding: PreferredEncoding::Automatic,
        }
    }
}

/// Key-not-found (KNF) choices of the Send action (guide §14.6, §15.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyNotFound {
    Bounce,
    SendClearSigned,
    SendClearUnsigned,
    Pdf(PdfOptions),
    SmartTrailer,
    WebEmailProtection,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfOptions {
    pub encrypt_all: bool,
    pub certified_delivery: bool,
    pub secure_reply: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PreferredEncoding {
    Automatic,
    PgpPartitioned,
    PgpMime,
    Smime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Annotation {
    None,
    FailuresOnly,
    Detailed,
    Smart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddressSource {
    Sender,
    Recipient,
    MailingList,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArchiveCopyOf {
    Original,
    PolicyProcessed,
}

/// Send copy to alternate archive server (guide §14.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveOptions {
    pub archive_server: String,
    /// Defaults to the original envelope recipient.
    pub envelope_recipient: Option<String>,
    /// Add `X-PGP-Envelope-Recipients:` listing every original RCPT TO.
    pub preserve_envelope_headers: bool,
    pub copy_of: ArchiveCopyOf,
    /// Original copy only: try the ADK, then internal user keys.
    pub attempt_decrypt: bool,
    /// Always includes the ADK when one exists; at least one key is needed otherwise.
    pub encrypt_to: Vec<String>,
    pub encoding: PreferredEncoding,
    pub sign_with_organization_key: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_rule() -> Rule {
        Rule {
            name: "r".into(),
            description: String::new(),
            enabled: true,
            conditions: ConditionGroup::all(vec![
                Condition::new(ConditionSubject::RecipientDomain, Modifier::Is, "ext.test").into(),
                ConditionGroup::none(vec![
                    Condition::flag(ConditionSubject::RecipientKeyMode(KeyMode::Skm)).into(),
                ])
                .into(),
            ]),
            actions: vec![
                Action::AddHeader {
                    name: "X-T".into(),
                    value: "1".into(),
                    replace_existing: false,
                },
                Action::Send(SendOptions::default()),
            ],
            key_search: vec![KeySearchEntry {
                keyserver: "ldap".into(),
            }],
        }
    }

    #[test]
    fn finishing_types_follow_the_guide() {
        assert!(Action::Send(SendOptions::default()).finishes());
        assert!(Action::Bounce.finishes());
        assert!(
            Action::DecryptAndVerify {
                annotation: Annotation::Smart
            }
            .finishes()
        );
        assert!(!Action::GoToChain { chain: "x".into() }.finishes());
        assert!(!Action::ExpandMailingList.finishes());
        assert!(!Action::AddLogEntry { text: "x".into() }.finishes());
    }

    #[test]
    fn serde_round_trip_uses_external_tags() {
        let chain = Chain {
            name: "Outbound".into(),
            applicability: Applicability::ServerAndClient,
            rules: vec![sample_rule()],
            factory: true,
        };
        let json = serde_json::to_string(&chain).unwrap();
        assert!(json.contains("{\"RecipientKeyMode\":\"SKM\"}"), "{json}");
        let back: Chain = serde_json::from_str(&json).unwrap();
        assert_eq!(back, chain);
    }

    #[test]
    fn chain_lookup_is_case_insensitive() {
        let p = Policy {
            chains: vec![Chain {
                name: "Outbound".into(),
                applicability: Applicability::Server,
                rules: vec![],
                factory: false,
            }],
        };
        assert!(p.chain("outbound").is_some());
        assert!(p.chain("inbound").is_none());
    }
}
