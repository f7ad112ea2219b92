//! What HKP answers look like: ASCII armor for `op=get`, the machine-readable index of
//! `/usr/share/doc/gnupg/KEYSERVER` for `options=mr`, and a small HTML listing otherwise.

use std::fmt::Write;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::directory::PublishedKey;

/// One armor block holding every key, as a keyserver answers a get that matches several
/// (gpg imports them all from one block). Written here rather than through sequoia's armor
/// writer: the vectorized base64 codec keeps `op=get` cheap at tens of thousands per second.
pub fn armor_keys(keys: &[Arc<PublishedKey>]) -> String {
    let total: usize = keys.iter().map(|k| k.public().len()).sum();
    let mut binary = Vec::with_capacity(total);
    for k in keys {
        binary.extend_from_slice(k.public());
    }
    let encoded = STANDARD.encode(&binary);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 64 + 128);
    out.push_str("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
    // base64 output is ASCII, so splitting by bytes is splitting by characters.
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    let crc = crc24(&binary).to_be_bytes();
    out.push('=');
    out.push_str(&STANDARD.encode(&crc[1..]));
    out.push_str("\n-----END PGP PUBLIC KEY BLOCK-----\n");
    out
}

/// The armor checksum (RFC 4880 §6.1); GnuPG 2.2 still checks it when present.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// Flags of the KEYSERVER format: `r` revoked, `e` expired.
fn flags(key: &PublishedKey, now: u64) -> &'static str {
    match (key.revoked(), key.expired_at(now)) {
        (true, true) => "re",
        (true, false) => "r",
        (false, true) => "e",
        (false, false) => "",
    }
}

/// The machine-readable index (`options=mr`): `info:1:<count>`, then per key a `pub:` line
/// with the fingerprint and one `uid:` line per user ID.
pub fn machine_index(keys: &[Arc<PublishedKey>], now: u64) -> String {
    let mut out = format!("info:1:{}\n", keys.len());
    for k in keys {
        let _ = writeln!(
            out,
            "pub:{}:{}:{}:{}:{}:{}",
            k.fingerprint(),
            k.algorithm(),
            k.bits(),
            k.created(),
            k.expires().map(|e| e.to_string()).unwrap_or_default(),
            flags(k, now)
        );
        for uid in k.user_ids() {
            let _ = writeln!(out, "uid:{}:::", escape_uid(uid));
        }
    }
    out
}

/// HTTP %-escaping of everything that is not printable 7-bit ASCII, and of `:` and `%`
/// (the separators of the format).
pub fn escape_uid(uid: &str) -> String {
    let mut out = String::with_capacity(uid.len());
    for &b in uid.as_bytes() {
        if b.is_ascii_graphic() && b != b':' && b != b'%' || b == b' ' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A human-readable index for browsers: one block per key, user IDs HTML-escaped.
pub fn html_index(keys: &[Arc<PublishedKey>], query: &str, now: u64) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Search results</title></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>Search results for \"{}\"</h1>\n<p>{} key(s)</p>",
        html_escape(query),
        keys.len()
    );
    for k in keys {
        let _ = writeln!(
            out,
            "<hr><pre>pub  {}/{} algorithm {} created {}{}{}",
            k.bits(),
            k.fingerprint(),
            k.algorithm(),
            k.created(),
            k.expires()
                .map(|e| format!(" expires {e}"))
                .unwrap_or_default(),
            match flags(k, now) {
                "" => String::new(),
                f => format!(" [{f}]"),
            }
        );
        let _ = writeln!(
            out,
            "     <a href=\"/pks/lookup?op=get&amp;search=0x{0}\">get 0x{0}</a>",
            k.fingerprint()
        );
        for uid in k.user_ids() {
            let _ = writeln!(out, "uid  {}", html_escape(uid));
        }
        out.push_str("</pre>\n");
    }
    out.push_str("</body></html>\n");
    out
}

pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_of_the_rfc_example_input() {
        // CRC-24 of an empty input is the initial value.
        assert_eq!(crc24(b""), 0x00B7_04CE);
        assert_eq!(crc24(b"123456789"), 0x0021_CF02);
    }

    #[test]
    fn uid_escaping() {
        assert_eq!(
            escape_uid("Alice: <a@b.example> 100%"),
            "Alice%3A <a@b.example> 100%25"
        );
        assert_eq!(escape_uid("Jürgen"), "J%C3%BCrgen");
        assert_eq!(escape_uid("a\nb"), "a%0Ab");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>&\"'"),
            "&lt;script&gt;&amp;&quot;&#39;"
        );
    }
}
