//! The LDAP request codec: ldap3_proto's codec behind a pre-check of each LDAPMessage's header.
//!
//! ldap3_proto 0.9 prints `unknown op -> N` to stdout when a message carries an operation tag
//! it does not know; a server must not write to stdout on hostile input. So before a frame
//! reaches ldap3_proto we read its header ourselves (RFC 4511 §4.1.1, definite-length BER:
//! `SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] ... }`) and refuse, as malformed,
//! anything whose operation is not one ldap3_proto decodes.

use std::io;

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::LdapMsg;
use tokio_util::codec::{Decoder, Encoder};

/// What the header of the frame at the start of a buffer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// Too few bytes yet to tell.
    Incomplete,
    /// An operation ldap3_proto decodes: hand the frame on.
    Known,
    /// Not an LDAPMessage ldap3_proto can decode without printing: refuse.
    Refused(&'static str),
}

/// Reads one BER length (definite form only, as RFC 4511 §5.1 requires) at `at`; the length
/// and the offset after it.
fn length(buf: &[u8], at: usize) -> Result<Option<(usize, usize)>, &'static str> {
    let Some(&first) = buf.get(at) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((usize::from(first), at + 1)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 {
        return Err("indefinite BER length");
    }
    if n > 4 {
        return Err("BER length too long");
    }
    let Some(bytes) = buf.get(at + 1..at + 1 + n) else {
        return Ok(None);
    };
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok(Some((len, at + 1 + n)))
}

/// Whether ldap3_proto 0.9 decodes APPLICATION `id` in this form (constructed or primitive)
/// without falling into its printing catch-all.
fn known_op(id: u8, constructed: bool) -> bool {
    match id {
        2 => true,
        10 | 16 => !constructed,
        0 | 1 | 3..=9 | 11..=15 | 19 | 23..=25 => constructed,
        _ => false,
    }
}

/// Checks the header of the LDAPMessage at the start of `buf`.
pub fn check_header(buf: &[u8]) -> Header {
    let step = || -> Result<Option<()>, &'static str> {
        let Some(&outer) = buf.first() else {
            return Ok(None);
        };
        if outer != 0x30 {
            return Err("not an LDAPMessage SEQUENCE");
        }
        let Some((_, at)) = length(buf, 1)? else {
            return Ok(None);
        };
        let Some(&id_tag) = buf.get(at) else {
            return Ok(None);
        };
        if id_tag != 0x02 {
            return Err("messageID is not an INTEGER");
        }
        let Some((id_len, at)) = length(buf, at + 1)? else {
            return Ok(None);
        };
        let Some(&op) = buf.get(at.saturating_add(id_len)) else {
            return Ok(None);
        };
        // Class APPLICATION is 01 in the top two bits; 0x1f means a multi-byte tag number,
        // which no LDAP operation uses.
        if op & 0xc0 != 0x40 || op & 0x1f == 0x1f {
            return Err("protocolOp is not an LDAP operation");
        }
        if !known_op(op & 0x1f, op & 0x20 != 0) {
            return Err("unknown LDAP operation");
        }
        Ok(Some(()))
    };
    match step() {
        Ok(Some(())) => Header::Known,
        Ok(None) => Header::Incomplete,
        Err(why) => Header::Refused(why),
    }
}

/// ldap3_proto's codec with the header pre-check in front of its decoder.
pub struct RequestCodec {
    inner: LdapCodec,
}

impl RequestCodec {
    pub fn new(max_request: usize, max_ber_depth: usize) -> RequestCodec {
        RequestCodec {
            inner: LdapCodec::new(Some(max_request), Some(max_ber_depth)),
        }
    }
}

impl Decoder for RequestCodec {
    type Item = LdapMsg;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<LdapMsg>, io::Error> {
        match check_header(buf) {
            Header::Incomplete if buf.is_empty() => Ok(None),
            // The inner codec still bounds how much it waits for.
            Header::Incomplete | Header::Known => self.inner.decode(buf),
            Header::Refused(why) => Err(io::Error::new(io::ErrorKind::InvalidData, why)),
        }
    }
}

impl Encoder<LdapMsg> for RequestCodec {
    type Error = io::Error;

    fn encode(&mut self, msg: LdapMsg, buf: &mut BytesMut) -> io::Result<()> {
        self.inner.encode(msg, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_operation_is_refused_before_ldap3_proto() {
        // SEQUENCE { messageID 1, [APPLICATION 30] constructed, empty }
        let unknown = b"\x30\x05\x02\x01\x01\x7e\x00";
        assert_eq!(
            check_header(unknown),
            Header::Refused("unknown LDAP operation")
        );
        let mut codec = RequestCodec::new(16 * 1024, 24);
        let mut buf = BytesMut::from(&unknown[..]);
        assert!(codec.decode(&mut buf).is_err());
        // A known tag in the wrong form (DelRequest is primitive) also reaches ldap3_proto's
        // printing catch-all, so it is refused too.
        assert!(matches!(
            check_header(b"\x30\x05\x02\x01\x01\x6a\x00"),
            Header::Refused(_)
        ));
        // Context class, and a multi-byte tag number.
        assert!(matches!(
            check_header(b"\x30\x05\x02\x01\x01\xa0\x00"),
            Header::Refused(_)
        ));
        assert!(matches!(
            check_header(b"\x30\x06\x02\x01\x01\x7f\x20\x00"),
            Header::Refused(_)
        ));
        // Indefinite length.
        assert!(matches!(
            check_header(b"\x30\x80\x02\x01\x01\x42\x00\x00\x00"),
            Header::Refused(_)
        ));
    }

    #[test]
    fn known_operations_and_partial_headers_pass() {
        // An unbind request, whole.
        let unbind = b"\x30\x05\x02\x01\x01\x42\x00";
        assert_eq!(check_header(unbind), Header::Known);
        let mut codec = RequestCodec::new(16 * 1024, 24);
        let mut buf = BytesMut::from(&unbind[..]);
        assert!(matches!(codec.decode(&mut buf), Ok(Some(_))));
        // Every prefix of it is incomplete, not refused.
        for n in 0..5 {
            assert_eq!(check_header(&unbind[..n]), Header::Incomplete, "{n}");
            let mut buf = BytesMut::from(&unbind[..n]);
            assert!(matches!(codec.decode(&mut buf), Ok(None)), "{n}");
        }
        // Long-form lengths: a 2-byte outer length.
        assert_eq!(
            check_header(b"\x30\x82\x01\x00\x02\x01\x07\x63\x82"),
            Header::Known
        );
    }
}
