//! One LDAP connection: decode requests with ldap3_proto's codec (bounded message size and BER
//! depth), answer binds and searches, and end the connection with a Notice of Disconnection on
//! input that is not LDAP.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchScope,
};
use ldap3_proto::simple::DisconnectionNotice;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::Service;
use super::filter::{self, FilterError};
use super::schema::{self, Wanted};

/// Requests are small: a search with a long filter is well under this.
const MAX_REQUEST: usize = 16 * 1024;
const MAX_BER_DEPTH: usize = 24;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(120);

/// What the connection has proved about its client.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    /// A client certificate was verified on this (LDAPS) connection.
    pub certificate: bool,
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_string(),
        referral: Vec::new(),
    }
}

fn done(msgid: i32, code: LdapResultCode, message: &str) -> LdapMsg {
    LdapMsg::new(msgid, LdapOp::SearchResultDone(result(code, message)))
}

/// Serves one connection until the client unbinds, goes idle, or sends something that is not
/// LDAP.
pub async fn run<S>(service: Arc<Service>, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(
        stream,
        LdapCodec::new(Some(MAX_REQUEST), Some(MAX_BER_DEPTH)),
    );
    loop {
        let next = match tokio::time::timeout(IDLE, framed.next()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => return,
        };
        let msg = match next {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!(peer = %peer.ip, error = %e, "LDAP: undecodable request, disconnecting");
                let notice = DisconnectionNotice::gen_response(
                    LdapResultCode::ProtocolError,
                    "malformed or oversize LDAP message",
                );
                let _ = framed.send(notice).await;
                return;
            }
        };
        let replies = match handle(&service, &peer, msg) {
            Some(r) => r,
            None => return,
        };
        for reply in replies {
            if framed.feed(reply).await.is_err() {
                return;
            }
        }
        if framed.flush().await.is_err() {
            return;
        }
    }
}

/// The replies to one request; `None` ends the connection (unbind).
pub fn handle(service: &Service, peer: &Peer, msg: LdapMsg) -> Option<Vec<LdapMsg>> {
    let msgid = msg.msgid;
    let reply = match msg.op {
        LdapOp::UnbindRequest => return None,
        LdapOp::BindRequest(bind) => {
            let res = match (&bind.cred, bind.dn.is_empty()) {
                _ if bind.version != 3 => {
                    result(LdapResultCode::ProtocolError, "only LDAP version 3")
                }
                (LdapBindCred::Simple(pw), true) if pw.is_empty() => {
                    result(LdapResultCode::Success, "")
                }
                (LdapBindCred::Simple(_), _) => result(
                    LdapResultCode::InvalidCredentials,
                    "this keyserver takes no passwords: bind anonymously, or use LDAPS with a client certificate",
                ),
                _ => result(
                    LdapResultCode::AuthMethodNotSupported,
                    "only anonymous simple binds",
                ),
            };
            vec![LdapMsg::new(
                msgid,
                LdapOp::BindResponse(LdapBindResponse {
                    res,
                    saslcreds: None,
                }),
            )]
        }
        LdapOp::SearchRequest(req) => search(service, peer, msgid, &req),
        LdapOp::AbandonRequest(_) => Vec::new(),
        LdapOp::ExtendedRequest(ext) => vec![LdapMsg::new(
            msgid,
            LdapOp::ExtendedResponse(ldap3_proto::proto::LdapExtendedResponse {
                res: result(
                    LdapResultCode::ProtocolError,
                    &format!("unsupported extended operation {}", ext.name),
                ),
                name: None,
                value: None,
            }),
        )],
        LdapOp::CompareRequest(_) => vec![LdapMsg::new(
            msgid,
            LdapOp::CompareResult(result(LdapResultCode::UnwillingToPerform, "read-only")),
        )],
        LdapOp::ModifyRequest(_) => vec![LdapMsg::new(msgid, LdapOp::ModifyResponse(read_only()))],
        LdapOp::AddRequest(_) => vec![LdapMsg::new(msgid, LdapOp::AddResponse(read_only()))],
        LdapOp::DelRequest(_) => vec![LdapMsg::new(msgid, LdapOp::DelResponse(read_only()))],
        LdapOp::ModifyDNRequest(_) => {
            vec![LdapMsg::new(msgid, LdapOp::ModifyDNResponse(read_only()))]
        }
        // Responses sent to a server are a protocol error.
        _ => {
            vec![DisconnectionNotice::gen_response(
                LdapResultCode::ProtocolError,
                "unexpected message",
            )]
        }
    };
    Some(reply)
}

fn read_only() -> LdapResult {
    result(
        LdapResultCode::UnwillingToPerform,
        "this keyserver is read-only; keys are published through the Verified Directory",
    )
}

fn dn_eq(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}

fn under(dn: &str, base: &str) -> bool {
    let (dn, base) = (dn.to_ascii_lowercase(), base.to_ascii_lowercase());
    let dn: Vec<&str> = dn.split(',').map(str::trim).collect();
    let base: Vec<&str> = base.split(',').map(str::trim).collect();
    dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..]
}

fn search(service: &Service, peer: &Peer, msgid: i32, req: &LdapSearchRequest) -> Vec<LdapMsg> {
    let naming = &service.naming;
    let wanted = Wanted::new(&req.attrs, req.typesonly);
    if req.base.is_empty() && req.scope == LdapSearchScope::Base {
        return vec![
            LdapMsg::new(
                msgid,
                LdapOp::SearchResultEntry(schema::root_dse(naming, &wanted)),
            ),
            done(msgid, LdapResultCode::Success, ""),
        ];
    }
    if !service.settings.anonymous_read && !peer.certificate {
        return vec![done(
            msgid,
            LdapResultCode::InsufficentAccessRights,
            "anonymous read is turned off: connect over LDAPS with a client certificate",
        )];
    }
    if dn_eq(&req.base, &naming.server_info()) {
        return vec![
            LdapMsg::new(
                msgid,
                LdapOp::SearchResultEntry(schema::server_info(naming, &wanted)),
            ),
            done(msgid, LdapResultCode::Success, ""),
        ];
    }
    if !req.base.is_empty() && !under(&req.base, &naming.base_dn) {
        return vec![done(msgid, LdapResultCode::NoSuchObject, "no such base")];
    }
    if let Err(e) = filter::check(&req.filter, &service.settings.filter_limits) {
        let code = match e {
            FilterError::WildcardAbuse(_) => LdapResultCode::UnwillingToPerform,
            _ => LdapResultCode::AdminLimitExceeded,
        };
        return vec![done(msgid, code, &e.to_string())];
    }
    let dir = service.directory.snapshot();
    let cost = filter::cost(&req.filter, &dir);
    if !service.limiter.allow(peer.ip, cost) {
        return vec![done(
            msgid,
            LdapResultCode::Busy,
            "too many lookups from this address; slow down",
        )];
    }
    let limit = match usize::try_from(req.sizelimit) {
        Ok(n) if n > 0 => n.min(service.settings.size_limit),
        _ => service.settings.size_limit,
    };
    // A base scope on a key's own DN returns that key only.
    let keys = filter::evaluate(&req.filter, &dir, limit);
    let mut out = Vec::new();
    let mut sent = 0usize;
    for key in &keys {
        if sent == limit {
            break;
        }
        if req.scope == LdapSearchScope::Base && !dn_eq(&req.base, &naming.key_dn(key)) {
            continue;
        }
        out.push(LdapMsg::new(
            msgid,
            LdapOp::SearchResultEntry(schema::key_entry(naming, &dir, key, &wanted)),
        ));
        sent += 1;
    }
    if req.scope != LdapSearchScope::Base {
        for mail in filter::certificate_only_addresses(&req.filter, &dir) {
            if sent == limit {
                break;
            }
            out.push(LdapMsg::new(
                msgid,
                LdapOp::SearchResultEntry(schema::certificate_entry(naming, &dir, &mail, &wanted)),
            ));
            sent += 1;
        }
    }
    if keys.len() > limit {
        out.push(done(msgid, LdapResultCode::SizeLimitExceeded, ""));
    } else {
        out.push(done(msgid, LdapResultCode::Success, ""));
    }
    out
}
