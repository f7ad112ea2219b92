//! The choices the rule editor offers, as `(token, label)`: every condition subject, modifier,
//! group statement, action and action option the policy crate has. A token is the serde name
//! of the model's value, so the form converts with serde and nothing is translated by hand;
//! `rule_form_tests` checks that every subject and action of the model is listed.

/// Every condition subject as `(token, label, takes_text)`. A token is the subject's serde name,
/// with `:` and the choice for subjects that carry one; `takes_text` subjects read their
/// parameter (header name, key ID, dictionary) from the condition's `arg` field.
#[rustfmt::skip]
pub const SUBJECTS: &[(&str, &str, bool)] = &[
    ("RecipientAddress", "Recipient address", false),
    ("RecipientDomain", "Recipient domain", false),
    ("RecipientConsumerPolicy", "Recipient consumer policy", false),
    ("RecipientIsMailingList", "Recipient is a mailing list", false),
    ("RecipientKeyMode:SKM", "Recipient key mode is SKM", false),
    ("RecipientKeyMode:SCKM", "Recipient key mode is SCKM", false),
    ("RecipientKeyMode:CKM", "Recipient key mode is CKM", false),
    ("RecipientKeyMode:GKM", "Recipient key mode is GKM", false),
    ("RecipientDeliveryPreference:WebEmailProtection", "Recipient delivery preference is Web Email Protection", false),
    ("RecipientDeliveryPreference:SmartTrailer", "Recipient delivery preference is Smart Trailer", false),
    ("RecipientDeliveryPreference:Desktop", "Recipient delivery preference is Desktop", false),
    ("RecipientDeliveryPreference:PdfEmailProtection", "Recipient delivery preference is PDF Messenger", false),
    ("RecipientIsInternal", "Recipient is an internal user", false),
    ("RecipientKeyFound", "Recipient key is found", false),
    ("SenderAddress", "Sender address", false),
    ("SenderDomain", "Sender domain", false),
    ("SenderConsumerPolicy", "Sender consumer policy", false),
    ("SenderKeyMode:SKM", "Sender key mode is SKM", false),
    ("SenderKeyMode:SCKM", "Sender key mode is SCKM", false),
    ("SenderKeyMode:CKM", "Sender key mode is CKM", false),
    ("SenderKeyMode:GKM", "Sender key mode is GKM", false),
    ("SenderIsInternal", "Sender is an internal user", false),
    ("MessageEncodingFormat:NotEncoded", "Message encoding format is not encoded", false),
    ("MessageEncodingFormat:OpenPgp", "Message encoding format is OpenPGP", false),
    ("MessageEncodingFormat:Smime", "Message encoding format is S/MIME", false),
    ("MessageEncodingFormat:Partitioned", "Message encoding format is PGP partitioned", false),
    ("MessageHeader", "Message header (name in the box)", true),
    ("MessageSubject", "Message subject", false),
    ("MessageBody", "Message body", false),
    ("MessageSize", "Message size (KB)", false),
    ("AnyPartEncrypted:AnyKey", "Any part of the message is encrypted to any key", false),
    ("AnyPartEncrypted:Adk", "Any part of the message is encrypted to the ADK", false),
    ("AnyPartEncrypted:KeyId", "Any part of the message is encrypted to key ID (in the box)", true),
    ("AnyPartEncrypted:KeyInDictionary", "Any part of the message is encrypted to a key in dictionary (in the box)", true),
    ("AllEncrypted:AnyKey", "The whole message is encrypted to any key", false),
    ("AllEncrypted:Adk", "The whole message is encrypted to the ADK", false),
    ("AllEncrypted:KeyId", "The whole message is encrypted to key ID (in the box)", true),
    ("AllEncrypted:KeyInDictionary", "The whole message is encrypted to a key in dictionary (in the box)", true),
    ("AnyPartSigned", "Any part of the message is signed", false),
    ("AttachmentName", "Attachment name", false),
    ("AttachmentType", "Attachment type", false),
    ("MessageIsFromMailingList", "Message is from a mailing list", false),
    ("MailingListUserCount", "Mailing list user count", false),
    ("Application:InternalDesktop", "Application is an internal desktop", false),
    ("Application:ExternalDesktop", "Application is an external desktop", false),
    ("Application:Server", "Application is a server", false),
    ("ServiceType:SmtpInbound", "Service type is SMTP inbound", false),
    ("ServiceType:SmtpOutbound", "Service type is SMTP outbound", false),
    ("ServiceType:Pop", "Service type is POP", false),
    ("ServiceType:Imap", "Service type is IMAP", false),
    ("ServiceType:Mapi", "Service type is MAPI", false),
    ("ServiceType:WebEmailProtection", "Service type is Web Email Protection", false),
    ("ServiceType:Blackberry", "Service type is BlackBerry", false),
    ("ClientVersion", "Client version", false),
    ("ConnectedUserAuthenticated", "Connected user is authenticated", false),
    ("LocalConnectorIp", "Local connector IP", false),
    ("LocalConnectorPort", "Local connector port", false),
];

/// Every modifier as `(token, label)`.
pub const MODIFIERS: &[(&str, &str)] = &[
    ("Is", "is"),
    ("Contains", "contains"),
    ("BeginsWith", "begins with"),
    ("EndsWith", "ends with"),
    ("MatchesPattern", "matches pattern"),
    ("IsInDictionary", "is in dictionary"),
    ("IsSubdomainOf", "is a subdomain of"),
    ("GreaterThan", "is greater than"),
    ("LessThan", "is less than"),
    ("GreaterOrEqual", "is greater than or equal to"),
    ("LessOrEqual", "is less than or equal to"),
    ("FewerThan", "is fewer than"),
];

/// Group statements as `(token, label)`.
pub const STATEMENTS: &[(&str, &str)] = &[
    ("All", "If all of the following are true"),
    ("Any", "If any of the following are true"),
    ("None", "If none of the following are true"),
    ("AlwaysTrue", "The condition is always true"),
];

/// Every action as `(token, label)`; `Json` edits any action as JSON.
pub const ACTIONS: &[(&str, &str)] = &[
    ("Send", "Send (encrypted/signed)"),
    ("SendClear", "Send clear (unencrypted and unsigned)"),
    ("SendViaWep", "Send via Web Email Protection"),
    ("SendViaPdf", "Send via PDF Messenger"),
    ("SendArchiveCopy", "Send copy to archive server"),
    ("Deliver", "Deliver"),
    ("DecryptAndVerify", "Decrypt and verify"),
    ("Bounce", "Bounce"),
    ("Drop", "Drop"),
    ("PassThrough", "Pass through (Exception chain)"),
    ("AddToDictionary", "Add to dictionary"),
    ("ExpandMailingList", "Expand mailing list"),
    ("AddLogEntry", "Add log entry"),
    ("AddHeader", "Add message header"),
    ("GoToChain", "Go to chain"),
    ("Json", "Advanced: JSON"),
];

pub const KEY_NOT_FOUND: &[(&str, &str)] = &[
    ("Bounce", "Bounce the message"),
    ("SendClearSigned", "Send clear, signed"),
    ("SendClearUnsigned", "Send clear, unsigned"),
    ("Pdf", "Send via PDF Messenger"),
    ("SmartTrailer", "Send with a Smart Trailer"),
    ("WebEmailProtection", "Send via Web Email Protection"),
];

pub const ENCODINGS: &[(&str, &str)] = &[
    ("Automatic", "Automatic"),
    ("PgpPartitioned", "PGP partitioned"),
    ("PgpMime", "PGP/MIME"),
    ("Smime", "S/MIME"),
];

pub const ANNOTATIONS: &[(&str, &str)] = &[
    ("None", "No annotation"),
    ("FailuresOnly", "Annotate failures only"),
    ("Detailed", "Detailed annotation"),
    ("Smart", "Smart annotation"),
];

pub const ADDRESS_SOURCES: &[(&str, &str)] = &[
    ("Sender", "Sender"),
    ("Recipient", "Recipient"),
    ("MailingList", "Mailing list"),
];
