//! One LDAP connection: decode requests with ldap3_proto's codec behind our header pre-check
//! (bounded message size and BER depth), answer binds and searches, switch a plain connection
//! to TLS on StartTLS, and end the connection with a Notice of Disconnection on input that is
//! not LDAP.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchScope,
};
use ldap3_proto::simple::DisconnectionNotice;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

use super::Service;
use super::codec::RequestCodec;
use super::filter::{self, FilterError};
use super::schema::{self, Wanted};

/// Requests are small: a search with a long filter is well under this.
const MAX_REQUEST: usize = 16 * 1024;
const MAX_BER_DEPTH: usize = 24;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(120);
/// The StartTLS extended operation (RFC 4511 §4.14).
pub const START_TLS: &str = "1.3.6.1.4.1.1466.20037";

/// What the connection has proved about its client.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    /// A client certificate was verified on this (LDAPS) connection.
    pub certificate: bool,
    /// The connection runs over TLS (LDAPS, or after StartTLS).
    pub encrypted: bool,
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

/// How a session ended.
enum End {
    Closed,
    /// The client asked for StartTLS (with this message ID) and the port offers it.
    StartTls(i32),
}

/// Serves one connection until the client unbinds, goes idle, or sends something that is not
/// LDAP.
pub async fn run<S>(service: Arc<Service>, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(stream, RequestCodec::new(MAX_REQUEST, MAX_BER_DEPTH));
    serve(&service, &mut framed, &peer, false).await;
}

/// Serves a plain connection that may switch to TLS with `starttls` (the configuration LDAPS
/// uses); `client_certificates` as for [`super::Listener`].
pub async fn run_plain(
    service: Arc<Service>,
    tcp: TcpStream,
    peer: Peer,
    starttls: Option<TlsAcceptor>,
    client_certificates: bool,
) {
    let mut framed = Framed::new(tcp, RequestCodec::new(MAX_REQUEST, MAX_BER_DEPTH));
    let Some(acceptor) = starttls else {
        serve(&service, &mut framed, &peer, false).await;
        return;
    };
    let End::StartTls(msgid) = serve(&service, &mut framed, &peer, true).await else {
        return;
    };
    let ok = LdapMsg::new(
        msgid,
        LdapOp::ExtendedResponse(ldap3_proto::proto::LdapExtendedResponse {
            res: result(LdapResultCode::Success, ""),
            name: Some(START_TLS.to_string()),
            value: None,
        }),
    );
    if framed.send(ok).await.is_err() {
        return;
    }
    let parts = framed.into_parts();
    // The client must wait for the response before its TLS handshake; anything it sent in
    // between would be lost in the switch.
    if !parts.read_buf.is_empty() {
        tracing::debug!(peer = %peer.ip, "LDAP: data after StartTLS before the handshake");
        return;
    }
    let handshake = tokio::time::timeout(HANDSHAKE, acceptor.accept(parts.io)).await;
    let Ok(Ok(tls)) = handshake else {
        tracing::debug!(peer = %peer.ip, "LDAP StartTLS: handshake failed");
        return;
    };
    let certificate = client_certificates
        && tls
            .get_ref()
            .1
            .peer_certificates()
            .is_some_and(|c| !c.is_empty());
    let peer = Peer {
        ip: peer.ip,
        certificate,
        encrypted: true,
    };
    let mut framed = Framed::new(tls, RequestCodec::new(MAX_REQUEST, MAX_BER_DEPTH));
    serve(&service, &mut framed, &peer, false).await;
}

/// A TLS handshake (LDAPS or StartTLS) that takes longer is abandoned.
pub const HANDSHAKE: Duration = Duration::from_secs(15);

async fn serve<S>(
    service: &Service,
    framed: &mut Framed<S, RequestCodec>,
    peer: &Peer,
    starttls: bool,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let next = match tokio::time::timeout(IDLE, framed.next()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => return End::Closed,
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
                return End::Closed;
            }
        };
        if starttls
            && let LdapOp::ExtendedRequest(ext) = &msg.op
            && ext.name == START_TLS
        {
            return End::StartTls(msg.msgid);
        }
        let replies = match handle(service, peer, msg) {
            Some(r) => r,
            None => return End::Closed,
        };
        for reply in replies {
            if framed.feed(reply).await.is_err() {
                return End::Closed;
            }
        }
        if framed.flush().await.is_err() {
            return End::Closed;
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
        // A StartTLS the connection can take never gets here (see `serve`).
        LdapOp::ExtendedRequest(ext) if ext.name == START_TLS => {
            let (code, message) = if peer.encrypted {
                (
                    LdapResultCode::OperationsError,
                    "TLS is already established",
                )
            } else {
                (
                    LdapResultCode::Unavailable,
                    "StartTLS is not offered on this port",
                )
            };
            vec![LdapMsg::new(
                msgid,
                LdapOp::ExtendedResponse(ldap3_proto::proto::LdapExtendedResponse {
                    res: result(code, message),
                    name: Some(START_TLS.to_string()),
                    value: None,
                }),
            )]
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::SharedDirectory;
    use crate::ldap_service::LdapSettings;
    use ldap3_proto::proto::LdapExtendedRequest;

    fn starttls_reply(encrypted: bool) -> LdapResultCode {
        let service = Service::new(LdapSettings::default(), SharedDirectory::new());
        let peer = Peer {
            ip: [127, 0, 0, 1].into(),
            certificate: false,
            encrypted,
        };
        let req = LdapMsg::new(
            7,
            LdapOp::ExtendedRequest(LdapExtendedRequest {
                name: START_TLS.to_string(),
                value: None,
            }),
        );
        let replies = handle(&service, &peer, req).unwrap_or_default();
        match replies.as_slice() {
            [
                LdapMsg {
                    msgid: 7,
                    op: LdapOp::ExtendedResponse(r),
                    ..
                },
            ] => r.res.code.clone(),
            other => panic!("unexpected replies {other:?}"),
        }
    }

    /// RFC 4511 §4.14 / RFC 4513 §3.1.1: a second StartTLS is a sequencing error, and a port
    /// without TLS says the service is unavailable.
    #[test]
    fn starttls_refusals_carry_rfc_result_codes() {
        assert_eq!(starttls_reply(true), LdapResultCode::OperationsError);
        assert_eq!(starttls_reply(false), LdapResultCode::Unavailable);
    }

    #[test]
    fn unknown_operation_gets_no_answer() {
        let service = Service::new(LdapSettings::default(), SharedDirectory::new());
        // An unknown op, then an unbind: decoding stops at the first.
        assert_eq!(
            service.answer_bytes(b"\x30\x05\x02\x01\x01\x7e\x00\x30\x05\x02\x01\x02\x42\x00"),
            0
        );
    }
}
