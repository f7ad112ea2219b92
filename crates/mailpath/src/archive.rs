//! "Send copy to alternate archive server" (guide §14.7): a copy of the message, as received
//! or as policy made it, to an archive server configured on the member, under an envelope
//! recipient of the rule's choosing. The copy can be encrypted to chosen keys (and always to
//! the ADK when one exists) and signed with the Organization Key.

use serde::{Deserialize, Serialize};
use signet_crypto::openpgp::{self, Cert};
use signet_crypto::{Format, pgpmime};
use signet_model::OrganizationItemKind;
use signet_policy::model::{ArchiveOptions, PreferredEncoding};
use signet_smtp::client::ServerTls;
use signet_smtp::routes::NextHop;
use signet_store::{Node, StateView};

use crate::error::MailError;
use crate::transform::edit_headers;

/// An archive server the rules name (guide: Mail > Archive Servers). Node-local for now, in
/// `[[mail.archive_server]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveServer {
    pub name: String,
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    #[serde(default = "attempt")]
    pub tls: ServerTls,
}

fn smtp_port() -> u16 {
    25
}
fn attempt() -> ServerTls {
    ServerTls::Attempt
}

impl ArchiveServer {
    pub fn next_hop(&self) -> NextHop {
        NextHop::Relay {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
        }
    }
}

/// The archive copy's bytes: header fields first (`X-PGP-Envelope-Recipients` when the rule
/// preserves them), then encryption when keys are named or an ADK exists.
pub fn archive_copy(
    node: &Node,
    view: &StateView,
    opts: &ArchiveOptions,
    message: &[u8],
    envelope_recipients: &[String],
) -> Result<Vec<u8>, MailError> {
    let mut bytes = if opts.preserve_envelope_headers {
        edit_headers(
            message,
            &[(
                "X-PGP-Envelope-Recipients".into(),
                envelope_recipients.join(", "),
                true,
            )],
        )?
    } else {
        message.to_vec()
    };
    let mut certs: Vec<Cert> = Vec::new();
    if let Some(adk) = view.organization_item(OrganizationItemKind::Adk)? {
        certs.push(openpgp::parse_cert(&adk.public)?);
    }
    for wanted in &opts.encrypt_to {
        match find_key(view, wanted)? {
            Some(cert) => certs.push(cert),
            None => return Err(MailError::NoKey(format!("archive key {wanted}"))),
        }
    }
    if certs.is_empty() {
        return Ok(bytes);
    }
    let signer = if opts.sign_with_organization_key {
        Some(signet_keys::organization_key(node, view)?)
    } else {
        None
    };
    let format = match opts.encoding {
        PreferredEncoding::PgpPartitioned => Format::PgpInline,
        _ => Format::PgpMime,
    };
    let refs: Vec<&Cert> = certs.iter().collect();
    bytes = pgpmime::encrypt(&bytes, &refs, signer.as_ref(), format)?;
    Ok(bytes)
}

/// A key named by fingerprint or key ID among the users' keys.
fn find_key(view: &StateView, wanted: &str) -> Result<Option<Cert>, MailError> {
    let wanted = wanted.trim().replace(' ', "").to_ascii_uppercase();
    for consumer in view.consumers()? {
        for key in consumer.keys.iter().filter(|k| k.revoked_at.is_none()) {
            if key.fingerprint.ends_with(&wanted) {
                return Ok(Some(openpgp::parse_cert(&key.public)?));
            }
        }
    }
    Ok(None)
}
