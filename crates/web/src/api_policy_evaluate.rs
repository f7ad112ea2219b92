//! `POST /api/v1/policy/evaluate`: a dry run of the stored policy on a described message. It
//! answers the plan (what would be done, per recipient) and the trace (every chain entered,
//! every rule tried, which fired and why), and changes nothing.
//!
//! The message is either described (`subject`, `headers`, `body`) or given whole (`message`,
//! RFC 5322 text: its header fields are read, its body is taken as text without MIME decoding;
//! text that is not a message is evaluated as a malformed message, which starts in the
//! Exception chain). Facts about users and dictionaries come from the store through
//! `signet_store::policy_facts`, as they will for the mail path.
//!
//! Defaults: the service is SMTP Outbound when the sender's domain is a managed domain and SMTP
//! Inbound otherwise; Learn Mode is the server's setting (in Learn Mode the plan delivers
//! unchanged and the trace's `outcome` shows what would have happened).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_model::Permission;
use signet_policy::eval::{Disposition, Input, TraceDetail, evaluate};
use signet_policy::facts::{
    Attachment, CryptoFacts, DirectoryFacts, MessageFacts, SessionFacts, SimpleMessage,
};
use signet_policy::model::{ApplicationKind, DEFAULT_CHAIN, EncodingFormat, ServiceKind};
use signet_store::policy_facts;

use crate::api::{Admin, ApiResult};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/policy/evaluate", post(evaluate_message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderField {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentIn {
    name: String,
    #[serde(default)]
    content_type: String,
}

/// The connection the message would arrive on; absent fields take the defaults above.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SessionIn {
    service: Option<ServiceKind>,
    application: Option<ApplicationKind>,
    #[serde(default)]
    authenticated: bool,
    /// The local connector's IP address.
    #[serde(default)]
    connector_ip: String,
    connector_port: Option<u16>,
    client_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateRequest {
    /// Envelope sender (MAIL FROM); empty for the null sender.
    #[serde(default)]
    sender: String,
    /// Envelope recipients (RCPT TO).
    recipients: Vec<String>,
    subject: Option<String>,
    #[serde(default)]
    headers: Vec<HeaderField>,
    body: Option<String>,
    /// A whole RFC 5322 message instead of subject/headers/body.
    message: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
    /// Overrides the encoding read from the message's Content-Type.
    encoding: Option<EncodingFormat>,
    #[serde(default)]
    session: SessionIn,
    learn_mode: Option<bool>,
    /// The chain evaluation starts in (default: Default).
    start_chain: Option<String>,
}

fn unprocessable(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
}

/// Encoding as the Content-Type and body show it: PGP/MIME, S/MIME, or inline PGP blocks
/// (which the guide's encoding condition calls "partitioned").
fn encoding_of(content_type: &str, body: &str) -> EncodingFormat {
    let ct = content_type.to_ascii_lowercase();
    if ct.starts_with("multipart/encrypted")
        || ct.starts_with("multipart/signed") && ct.contains("pgp")
    {
        EncodingFormat::OpenPgp
    } else if ct.contains("pkcs7-mime") || ct.contains("pkcs7-signature") {
        EncodingFormat::Smime
    } else if body.contains("-----BEGIN PGP MESSAGE-----")
        || body.contains("-----BEGIN PGP SIGNED MESSAGE-----")
    {
        EncodingFormat::Partitioned
    } else {
        EncodingFormat::NotEncoded
    }
}

/// The message facts the request describes.
fn message_facts(req: &EvaluateRequest) -> Result<SimpleMessage, Problem> {
    let mut msg = SimpleMessage {
        sender: req.sender.trim().to_string(),
        ..Default::default()
    };
    if let Some(raw) = &req.message {
        if req.body.is_some() || req.subject.is_some() || !req.headers.is_empty() {
            return Err(unprocessable(
                "give either a whole message or subject/headers/body, not both",
            ));
        }
        msg.size_bytes = raw.len() as u64;
        match signet_crypto::mime::split(raw.as_bytes()) {
            Ok(split) => {
                msg.headers = split
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), f.value()))
                    .collect();
                msg.body = String::from_utf8_lossy(&split.body).into_owned();
            }
            Err(_) => msg.malformed = true,
        }
    } else {
        if let Some(subject) = &req.subject {
            msg.headers.push(("Subject".into(), subject.clone()));
        }
        for h in &req.headers {
            let name = h.name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(unprocessable(format!("invalid header name {name:?}")));
            }
            msg.headers
                .push((name.to_string(), h.value.trim().to_string()));
        }
        msg.body = req.body.clone().unwrap_or_default();
        let header_bytes: usize = msg.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        msg.size_bytes = (header_bytes + 2 + msg.body.len()) as u64;
    }
    let content_type = msg
        .header_values("Content-Type")
        .first()
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let encoding = req
        .encoding
        .unwrap_or_else(|| encoding_of(&content_type, &msg.body));
    msg.encoding = Some(encoding);
    let inline_encrypted = msg.body.contains("-----BEGIN PGP MESSAGE-----");
    let whole_encrypted = content_type.starts_with("multipart/encrypted")
        || (content_type.contains("pkcs7-mime") && content_type.contains("enveloped"));
    msg.crypto = CryptoFacts {
        any_part_encrypted: whole_encrypted || inline_encrypted,
        all_encrypted: whole_encrypted,
        any_part_signed: content_type.starts_with("multipart/signed")
            || content_type.contains("signed-data")
            || msg.body.contains("-----BEGIN PGP SIGNED MESSAGE-----"),
        pkesk_key_ids: Vec::new(),
    };
    msg.from_mailing_list = !msg.header_values("List-Id").is_empty();
    msg.attachments = req
        .attachments
        .iter()
        .map(|a| Attachment {
            name: a.name.clone(),
            content_type: a.content_type.clone(),
        })
        .collect();
    Ok(msg)
}

fn disposition_name(d: &Disposition) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn evaluate_message(
    admin: Admin,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<EvaluateRequest>,
) -> ApiResult {
    admin.require(Permission::ViewSettings)?;
    if req.recipients.iter().all(|r| r.trim().is_empty()) {
        return Err(unprocessable("give at least one recipient"));
    }
    let recipients: Vec<String> = req
        .recipients
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    let message = message_facts(&req)?;
    let view = s.node.read().await?;
    let policy = view.policy()?;
    let mut addresses: Vec<&str> = recipients.iter().map(String::as_str).collect();
    addresses.push(message.sender.as_str());
    let directory = policy_facts::directory(view, &addresses)?;
    let (dictionaries, skipped) = policy_facts::dictionaries(view)?;
    let sender_internal = directory.is_internal(&message.sender);
    let session = SessionFacts {
        service: req.session.service.unwrap_or(if sender_internal {
            ServiceKind::SmtpOutbound
        } else {
            ServiceKind::SmtpInbound
        }),
        application: req.session.application.unwrap_or(ApplicationKind::Server),
        authenticated: req.session.authenticated,
        connector_ip: req.session.connector_ip.trim().to_string(),
        connector_port: req.session.connector_port.unwrap_or(25),
        client_version: req.session.client_version.clone(),
    };
    let learn_mode = match req.learn_mode {
        Some(l) => l,
        None => view.learn_mode()?,
    };
    let start_chain = req.start_chain.as_deref().unwrap_or(DEFAULT_CHAIN);
    let input = Input {
        message: &message,
        session: &session,
        directory: &directory,
        dictionaries: &dictionaries,
        recipients: &recipients,
        start_chain,
        learn_mode,
        trace: TraceDetail::Full,
    };
    let (plan, trace) = evaluate(&policy, &input);

    // A one-line-per-recipient digest for people; the plan and trace carry everything.
    let summary: Vec<Value> = trace
        .recipients
        .iter()
        .map(|t| {
            json!({
                "recipient": t.recipient,
                "fired": t
                    .fired()
                    .iter()
                    .map(|(c, r)| format!("{c} / {r}"))
                    .collect::<Vec<_>>(),
                "outcome": disposition_name(&t.outcome.disposition),
            })
        })
        .collect();
    let users: Vec<Value> = addresses
        .iter()
        .map(|a| {
            json!({
                "address": a,
                "internal": directory.is_internal(a),
                "key_mode": directory.key_mode(a),
                "key_available": directory.key_available(a),
            })
        })
        .collect();
    Ok(Json(json!({
        "summary": summary,
        "plan": plan,
        "trace": trace,
        "facts": {
            "service": session.service,
            "learn_mode": learn_mode,
            "encoding": message.encoding,
            "malformed": message.malformed,
            "size_bytes": message.size_bytes,
            "users": users,
            "skipped_dictionary_patterns": skipped
                .iter()
                .map(|p| json!({"dictionary": p.dictionary, "pattern": p.pattern, "reason": p.reason}))
                .collect::<Vec<_>>(),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> EvaluateRequest {
        match serde_json::from_value(v) {
            Ok(r) => r,
            Err(e) => panic!("request: {e}"),
        }
    }

    #[test]
    fn a_described_message_becomes_facts() {
        let req = request(json!({
            "sender": " alice@example.com ", "recipients": ["b@ext.test"],
            "subject": "[PGP] x", "headers": [{"name": "Sensitivity", "value": "Private"}],
            "body": "hello"
        }));
        let m = message_facts(&req).unwrap_or_default();
        assert_eq!(m.sender, "alice@example.com");
        assert_eq!(m.subject(), Some("[PGP] x"));
        assert_eq!(m.header_values("sensitivity"), ["Private"]);
        assert_eq!(m.encoding(), EncodingFormat::NotEncoded);
        assert!(!m.is_malformed());
    }

    #[test]
    fn a_whole_message_is_read_and_a_broken_one_is_malformed() {
        let raw = "Subject: hi\r\nContent-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\"\r\nList-Id: <l.example>\r\n\r\nbody";
        let m = message_facts(&request(json!({"recipients": ["b@x"], "message": raw})))
            .unwrap_or_default();
        assert_eq!(m.subject(), Some("hi"));
        assert_eq!(m.encoding(), EncodingFormat::OpenPgp);
        assert!(m.crypto().all_encrypted && m.is_from_mailing_list());
        let m = message_facts(&request(
            json!({"recipients": ["b@x"], "message": "no header"}),
        ))
        .unwrap_or_default();
        assert!(m.is_malformed());
        let inline = "Subject: s\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n";
        let m = message_facts(&request(json!({"recipients": ["b@x"], "message": inline})))
            .unwrap_or_default();
        assert_eq!(m.encoding(), EncodingFormat::Partitioned);
        assert!(m.crypto().any_part_encrypted && !m.crypto().all_encrypted);
    }

    #[test]
    fn a_message_and_a_description_together_are_refused() {
        let req = request(json!({"recipients": ["b@x"], "message": "A: b\r\n\r\n", "body": "x"}));
        assert!(message_facts(&req).is_err());
        let req =
            request(json!({"recipients": ["b@x"], "headers": [{"name": "Bad:", "value": "1"}]}));
        assert!(message_facts(&req).is_err());
    }
}
