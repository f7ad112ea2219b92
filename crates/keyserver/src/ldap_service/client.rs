//! A minimal LDAP search client over ldap3_proto's codec, for the benchmark (`signet bench
//! keyserver`) to drive Signet and slapd the same way: one connection, one search at a time.

use futures::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapResultCode, LdapSearchRequest,
    LdapSearchScope,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// One connection to an LDAP server.
pub struct SearchClient {
    framed: Framed<TcpStream, LdapCodec>,
    next_id: i32,
}

impl SearchClient {
    pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<SearchClient> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(SearchClient {
            // Answers carry armored keys: allow large messages.
            framed: Framed::new(tcp, LdapCodec::new(Some(16 * 1024 * 1024), None)),
            next_id: 1,
        })
    }

    /// A subtree search for `(attr=value)` under `base`; the number of entries returned, or
    /// an error for a failed search or a broken connection.
    pub async fn equality(
        &mut self,
        base: &str,
        attr: &str,
        value: &str,
        attrs: &[&str],
    ) -> std::io::Result<usize> {
        let msgid = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let req = LdapSearchRequest {
            base: base.to_string(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Equality(attr.to_string(), value.to_string()),
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        };
        self.framed
            .send(LdapMsg::new(msgid, LdapOp::SearchRequest(req)))
            .await?;
        let mut entries = 0;
        loop {
            let msg = match self.framed.next().await {
                Some(m) => m?,
                None => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            };
            match msg.op {
                LdapOp::SearchResultEntry(_) => entries += 1,
                LdapOp::SearchResultDone(r) if r.code == LdapResultCode::Success => {
                    return Ok(entries);
                }
                LdapOp::SearchResultDone(r) => {
                    return Err(std::io::Error::other(format!(
                        "search failed: {:?} {}",
                        r.code, r.message
                    )));
                }
                _ => {}
            }
        }
    }
}
