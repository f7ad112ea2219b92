//! ASCII armor (RFC 9580 §6.2) for OpenPGP messages and signatures, written and read with the
//! `base64` crate. sequoia's armor code was a third of the CPU time of a 1 MB PGP/MIME message
//! (docs/benchmarks.md); this does the same job with a vectorized codec.
//!
//! Reading is deliberately strict: anything this module does not recognize (other block
//! kinds, odd framing, a bad checksum) returns `None`, and the caller hands the original bytes
//! to sequoia, whose parser then accepts or explains them. So this path can only make good
//! input faster, never turn bad input into something else.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What an armor block holds.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Message,
    Signature,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Message => "PGP MESSAGE",
            Kind::Signature => "PGP SIGNATURE",
        }
    }
}

const CRC24_INIT: u32 = 0x00B7_04CE;
const CRC24_POLY: u32 = 0x0186_4CFB;

/// CRC-24 one byte at a time through a table (a bit at a time cost 8 ms per megabyte).
const CRC24_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 16;
        let mut bit = 0;
        while bit < 8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= CRC24_POLY;
            }
            bit += 1;
        }
        table[i] = crc & 0x00FF_FFFF;
        i += 1;
    }
    table
};

/// CRC-24 of RFC 9580 §6.1.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc = CRC24_INIT;
    for &byte in data {
        let index = ((crc >> 16) ^ u32::from(byte)) & 0xFF;
        crc = ((crc << 8) ^ CRC24_TABLE[index as usize]) & 0x00FF_FFFF;
    }
    crc
}

/// Armors binary OpenPGP data: 64-character lines, a CRC-24 checksum line (GnuPG 2.2 expects
/// one), LF line endings (PGP/MIME makes them CRLF with the rest of the message).
pub(crate) fn armor(kind: Kind, binary: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(binary);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 64 + 96);
    out.extend_from_slice(format!("-----BEGIN {}-----\n\n", kind.label()).as_bytes());
    for line in encoded.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    let crc = crc24(binary).to_be_bytes();
    out.push(b'=');
    out.extend_from_slice(STANDARD.encode(&crc[1..]).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(format!("-----END {}-----\n", kind.label()).as_bytes());
    out
}

/// The binary content of one armored message or signature block, or `None` when the input is
/// anything else (binary, a cleartext-signed message, a key, odd framing, a bad checksum).
pub(crate) fn dearmor(data: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?.trim_start();
    let mut lines = text.lines();
    let begin = lines.next()?.trim_end();
    let kind = match begin {
        "-----BEGIN PGP MESSAGE-----" => Kind::Message,
        "-----BEGIN PGP SIGNATURE-----" => Kind::Signature,
        _ => return None,
    };
    // Armor headers ("Comment: ..."), then one empty line.
    loop {
        let line = lines.next()?.trim_end();
        if line.is_empty() {
            break;
        }
        if !line.contains(": ") {
            return None;
        }
    }
    let end = format!("-----END {}-----", kind.label());
    let mut body = String::with_capacity(text.len());
    let mut checksum = None;
    loop {
        let line = lines.next()?.trim_end();
        if line == end {
            break;
        }
        if let Some(crc) = line.strip_prefix('=')
            && line.len() == 5
        {
            checksum = Some(crc.to_string());
            if lines.next()?.trim_end() != end {
                return None;
            }
            break;
        }
        body.push_str(line);
    }
    let binary = STANDARD.decode(body.as_bytes()).ok()?;
    if let Some(crc) = checksum {
        let expected = STANDARD.decode(crc.as_bytes()).ok()?;
        if expected.len() != 3 || expected[..] != crc24(&binary).to_be_bytes()[1..] {
            return None;
        }
    }
    (!binary.is_empty()).then_some(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_checksum() {
        for len in [1usize, 47, 48, 49, 1000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let armored = armor(Kind::Message, &data);
            assert!(armored.starts_with(b"-----BEGIN PGP MESSAGE-----\n\n"));
            assert_eq!(dearmor(&armored), Some(data.clone()));
            // CRLF, as in a mail body, reads the same.
            let crlf = String::from_utf8(armored).unwrap().replace('\n', "\r\n");
            assert_eq!(dearmor(crlf.as_bytes()), Some(data));
        }
    }

    #[test]
    fn the_crc24_of_rfc_test_vector() {
        // "123456789" is the usual CRC test string; 0x21CF02 is CRC-24/OPENPGP's check value.
        assert_eq!(crc24(b"123456789"), 0x21CF02);
    }

    #[test]
    fn anything_unusual_is_left_to_sequoia() {
        let mut armored = armor(Kind::Signature, b"abcdef");
        let n = armored.len();
        armored[n - 30] ^= 1; // inside the checksum line or the body
        assert!(dearmor(&armored).is_none());
        assert!(dearmor(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n").is_none());
        assert!(dearmor(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n").is_none());
        assert!(dearmor(b"\x99binary").is_none());
        assert!(dearmor(b"-----BEGIN PGP MESSAGE-----\n\nAAAA\n").is_none());
    }
}
