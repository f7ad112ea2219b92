//! The rule editor's actions: an action's option fields from the model ([`action_draft`]),
//! back to the model with errors by field ([`action_rule`]), and a new action's defaults.

use std::collections::BTreeMap;

use serde_json::Value;
use signet_policy::model::{
    Action, AddressSource, Annotation, KeyNotFound, PdfOptions, PreferredEncoding, SendOptions,
};

use super::{DraftAction, FieldError, action_field, from_token, token};

/// The checkboxes of each action's options (unchecked boxes are not posted).
const SEND_FLAGS: &[&str] = &[
    "recipient_key",
    "require_verified_key",
    "require_end_to_end_key",
    "senders_key",
    "sign",
];
const PDF_FLAGS: &[&str] = &["encrypt_all", "certified_delivery", "secure_reply"];

fn on(flag: bool) -> Option<String> {
    flag.then(|| "on".to_string())
}

/// The form fields of an action's options.
pub(super) fn action_draft(action: &Action) -> DraftAction {
    let mut fields = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            fields.insert(k.to_string(), v);
        }
    };
    let kind = match action {
        Action::Send(o) => {
            let flags = [
                o.recipient_key,
                o.require_verified_key,
                o.require_end_to_end_key,
                o.senders_key,
                o.sign,
            ];
            for (name, flag) in SEND_FLAGS.iter().zip(flags) {
                put(name, on(flag));
            }
            put("other_keys", Some(o.other_keys.join("\n")));
            put("encoding", Some(token(&o.encoding)));
            let (knf, pdf) = match &o.if_key_not_found {
                KeyNotFound::Pdf(p) => ("Pdf".to_string(), Some(*p)),
                other => (token(other), None),
            };
            put("knf", Some(knf));
            if let Some(p) = pdf {
                pdf_fields(&p, "knf_", &mut put);
            }
            "Send"
        }
        Action::SendViaPdf(p) => {
            pdf_fields(p, "", &mut put);
            "SendViaPdf"
        }
        Action::SendArchiveCopy(o) => {
            put("json", serde_json::to_string_pretty(o).ok());
            "SendArchiveCopy"
        }
        Action::DecryptAndVerify { annotation } => {
            put("annotation", Some(token(annotation)));
            "DecryptAndVerify"
        }
        Action::AddToDictionary {
            address,
            dictionary,
        } => {
            put("address", Some(token(address)));
            put("dictionary", Some(dictionary.clone()));
            "AddToDictionary"
        }
        Action::AddLogEntry { text } => {
            put("text", Some(text.clone()));
            "AddLogEntry"
        }
        Action::AddHeader {
            name,
            value,
            replace_existing,
        } => {
            put("header_name", Some(name.clone()));
            put("header_value", Some(value.clone()));
            put("replace_existing", on(*replace_existing));
            "AddHeader"
        }
        Action::GoToChain { chain } => {
            put("chain", Some(chain.clone()));
            "GoToChain"
        }
        Action::SendViaWep => "SendViaWep",
        Action::SendClear => "SendClear",
        Action::Deliver => "Deliver",
        Action::Bounce => "Bounce",
        Action::Drop => "Drop",
        Action::PassThrough => "PassThrough",
        Action::ExpandMailingList => "ExpandMailingList",
    };
    DraftAction {
        kind: kind.to_string(),
        fields,
    }
}

fn pdf_fields(p: &PdfOptions, prefix: &str, put: &mut impl FnMut(&str, Option<String>)) {
    let flags = [p.encrypt_all, p.certified_delivery, p.secure_reply];
    for (name, flag) in PDF_FLAGS.iter().zip(flags) {
        put(&format!("{prefix}{name}"), on(flag));
    }
}

/// An action of this type with the options a new one starts with.
pub fn default_action(kind: &str) -> DraftAction {
    let action = match kind {
        "Send" => Action::Send(SendOptions::default()),
        "SendViaWep" => Action::SendViaWep,
        "SendViaPdf" => Action::SendViaPdf(PdfOptions::default()),
        "SendArchiveCopy" => Action::SendArchiveCopy(signet_policy::model::ArchiveOptions {
            archive_server: String::new(),
            envelope_recipient: None,
            preserve_envelope_headers: false,
            copy_of: signet_policy::model::ArchiveCopyOf::Original,
            attempt_decrypt: false,
            encrypt_to: Vec::new(),
            encoding: PreferredEncoding::Automatic,
            sign_with_organization_key: false,
        }),
        "Deliver" => Action::Deliver,
        "DecryptAndVerify" => Action::DecryptAndVerify {
            annotation: Annotation::Smart,
        },
        "Bounce" => Action::Bounce,
        "Drop" => Action::Drop,
        "PassThrough" => Action::PassThrough,
        "AddToDictionary" => Action::AddToDictionary {
            address: AddressSource::Recipient,
            dictionary: String::new(),
        },
        "ExpandMailingList" => Action::ExpandMailingList,
        "AddLogEntry" => Action::AddLogEntry {
            text: String::new(),
        },
        "AddHeader" => Action::AddHeader {
            name: String::new(),
            value: String::new(),
            replace_existing: false,
        },
        "GoToChain" => Action::GoToChain {
            chain: String::new(),
        },
        "Json" => {
            let mut fields = BTreeMap::new();
            fields.insert("json".to_string(), "\"SendClear\"".to_string());
            return DraftAction {
                kind: "Json".into(),
                fields,
            };
        }
        _ => Action::SendClear,
    };
    action_draft(&action)
}

pub(super) fn action_rule(
    a: &DraftAction,
    i: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Action> {
    let text = |k: &str| a.fields.get(k).cloned().unwrap_or_default();
    let flag = |k: &str| a.fields.get(k).is_some_and(|v| !v.is_empty());
    let mut bad = |field: &str, message: String| {
        errors.push(FieldError {
            field: action_field(i, field),
            message,
        });
    };
    let choice = |field: &str, bad: &mut dyn FnMut(&str, String)| -> Option<String> {
        let v = text(field);
        if v.is_empty() {
            bad(field, "Choose one.".into());
            return None;
        }
        Some(v)
    };
    let pdf = |prefix: &str| PdfOptions {
        encrypt_all: flag(&format!("{prefix}encrypt_all")),
        certified_delivery: flag(&format!("{prefix}certified_delivery")),
        secure_reply: flag(&format!("{prefix}secure_reply")),
    };
    let json_field = |bad: &mut dyn FnMut(&str, String)| -> Option<Value> {
        match serde_json::from_str::<Value>(&text("json")) {
            Ok(v) => Some(v),
            Err(e) => {
                bad("json", format!("This is not valid JSON: {e}."));
                None
            }
        }
    };
    let action = match a.kind.as_str() {
        "Send" => {
            let encoding = from_token::<PreferredEncoding>(&text("encoding"));
            let knf = match choice("knf", &mut bad)?.as_str() {
                "Pdf" => Some(KeyNotFound::Pdf(pdf("knf_"))),
                other => from_token::<KeyNotFound>(other),
            };
            let (Some(encoding), Some(if_key_not_found)) = (encoding, knf) else {
                bad(
                    "knf",
                    "Choose the encoding and what to do when no key is found.".into(),
                );
                return None;
            };
            Action::Send(SendOptions {
                recipient_key: flag("recipient_key"),
                require_verified_key: flag("require_verified_key"),
                require_end_to_end_key: flag("require_end_to_end_key"),
                if_key_not_found,
                senders_key: flag("senders_key"),
                other_keys: text("other_keys")
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
                    .collect(),
                sign: flag("sign"),
                encoding,
            })
        }
        "SendClear" => Action::SendClear,
        "SendViaWep" => Action::SendViaWep,
        "SendViaPdf" => Action::SendViaPdf(pdf("")),
        "SendArchiveCopy" => {
            let v = json_field(&mut bad)?;
            match serde_json::from_value(v) {
                Ok(o) => Action::SendArchiveCopy(o),
                Err(e) => {
                    bad("json", format!("These are not archive options: {e}."));
                    return None;
                }
            }
        }
        "Deliver" => Action::Deliver,
        "DecryptAndVerify" => match from_token::<Annotation>(&text("annotation")) {
            Some(annotation) => Action::DecryptAndVerify { annotation },
            None => {
                bad("annotation", "Choose an annotation.".into());
                return None;
            }
        },
        "Bounce" => Action::Bounce,
        "Drop" => Action::Drop,
        "PassThrough" => Action::PassThrough,
        "AddToDictionary" => {
            let address = from_token::<AddressSource>(&text("address"));
            let dictionary = text("dictionary").trim().to_string();
            if dictionary.is_empty() {
                bad("dictionary", "Name the dictionary.".into());
            }
            match address {
                Some(address) if !dictionary.is_empty() => Action::AddToDictionary {
                    address,
                    dictionary,
                },
                _ => return None,
            }
        }
        "ExpandMailingList" => Action::ExpandMailingList,
        "AddLogEntry" => Action::AddLogEntry { text: text("text") },
        "AddHeader" => {
            let name = text("header_name").trim().to_string();
            if name.is_empty() || name.contains(|c: char| c == ':' || c.is_whitespace()) {
                bad(
                    "header_name",
                    "A header name is one word without a colon, e.g. X-Signet-Policy.".into(),
                );
                return None;
            }
            Action::AddHeader {
                name,
                value: text("header_value"),
                replace_existing: flag("replace_existing"),
            }
        }
        "GoToChain" => {
            let chain = text("chain").trim().to_string();
            if chain.is_empty() {
                bad("chain", "Choose the chain.".into());
                return None;
            }
            Action::GoToChain { chain }
        }
        "Json" => {
            let v = json_field(&mut bad)?;
            match serde_json::from_value(v) {
                Ok(action) => action,
                Err(e) => {
                    bad("json", format!("This is not an action: {e}."));
                    return None;
                }
            }
        }
        other => {
            bad("kind", format!("{other:?} is not an action."));
            return None;
        }
    };
    Some(action)
}
