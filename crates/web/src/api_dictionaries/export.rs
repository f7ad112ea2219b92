//! Dictionary export: one XML document per dictionary, several in `dictionaries.zip` (guide,
//! Export Selected). The guide does not give its XML schema; ours is documented in
//! docs/dictionaries.md:
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <dictionary xmlns="urn:signet:dictionary:1" name="D" factory="false">
//!   <description>partners</description>
//!   <term kind="literal">jsmith@example.com</term>
//!   <term kind="pattern">j.*@example\.com</term>
//! </dictionary>
//! ```
//!
//! The ZIP is written here with stored (uncompressed) members: the format's few fixed headers
//! are simpler to own than a new dependency, and XML of addresses is small.

use signet_model::{Dictionary, DictionaryEntry, TermKind};

pub(crate) const NAMESPACE: &str = "urn:signet:dictionary:1";

/// Text safe inside an XML attribute or element. Control characters cannot occur in names,
/// descriptions or terms (the model refuses them); any that did are left out, as XML 1.0 has
/// no way to carry them.
pub(crate) fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn dictionary_xml(d: &Dictionary, entries: &[DictionaryEntry]) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<dictionary xmlns=\"{NAMESPACE}\" name=\"{}\" factory=\"{}\">\n  <description>{}</description>\n",
        escape(&d.name),
        d.factory,
        escape(&d.description)
    );
    for e in entries {
        let kind = match e.kind() {
            TermKind::Literal => "literal",
            TermKind::Pattern => "pattern",
        };
        xml.push_str(&format!(
            "  <term kind=\"{kind}\">{}</term>\n",
            escape(e.as_str())
        ));
    }
    xml.push_str("</dictionary>\n");
    xml
}

/// A file name for a dictionary: characters that some systems refuse in file names (the `:` of
/// "Excluded Addresses: Sign", slashes, quotes) become `_`; a name already `used` gets a number.
pub(crate) fn file_name(name: &str, used: &mut Vec<String>) -> String {
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = base.trim().trim_start_matches('.').to_string();
    let base = if base.is_empty() {
        "dictionary".to_string()
    } else {
        base
    };
    let mut candidate = format!("{base}.xml");
    let mut n = 2;
    while used.iter().any(|u| u.eq_ignore_ascii_case(&candidate)) {
        candidate = format!("{base} ({n}).xml");
        n += 1;
    }
    used.push(candidate.clone());
    candidate
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (ISO-HDLC), the checksum ZIP members carry.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// MS-DOS date and time of a UTC instant, as ZIP headers store them.
fn dos_time(unix_millis: u64) -> (u16, u16) {
    let secs = unix_millis / 1000;
    let rem = secs % 86_400;
    let (year, month, day) = crate::logbook::civil_date(secs / 86_400);
    if year < 1980 {
        return (0, (1 << 5) | 1);
    }
    let date = (((year - 1980).min(127) as u16) << 9) | ((month as u16) << 5) | day as u16;
    let time = (((rem / 3600) as u16) << 11)
        | ((((rem % 3600) / 60) as u16) << 5)
        | ((rem % 60) / 2) as u16;
    (time, date)
}

/// A ZIP archive of stored members (`(file name, bytes)`), names flagged UTF-8.
pub(crate) fn zip_stored(files: &[(&str, &[u8])]) -> Vec<u8> {
    const UTF8_NAMES: u16 = 0x0800;
    const VERSION: u16 = 20;
    let (time, date) = dos_time(signet_store::now_millis());
    // Sizes and offsets are 32-bit in a plain ZIP; a dictionary export is far below that.
    let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let u16_of = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let offset = u32_of(out.len());
        let crc = crc32(data);
        let size = u32_of(data.len());
        let name_len = u16_of(name.len());
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&VERSION.to_le_bytes());
            buf.extend_from_slice(&UTF8_NAMES.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // stored
            buf.extend_from_slice(&time.to_le_bytes());
            buf.extend_from_slice(&date.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&VERSION.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = u32_of(out.len());
    let central_size = u32_of(central.len());
    out.extend_from_slice(&central);
    let count = u16_of(files.len());
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_the_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn dos_time_of_a_known_instant() {
        // 2026-11-24 01:02:04 UTC
        let (time, date) = dos_time(1_795_482_124_000);
        assert_eq!(date, ((2026 - 1980) << 9) | (11 << 5) | 24);
        assert_eq!(time, (1 << 11) | (2 << 5) | 2);
    }

    #[test]
    fn xml_escapes_markup_in_names_and_terms() {
        let d = Dictionary {
            name: "a<b>&\"c\"".into(),
            description: "x'y".into(),
            factory: false,
            created_at: 0,
        };
        let e = DictionaryEntry::pattern("<x>&.*").expect("pattern");
        let xml = dictionary_xml(&d, &[e]);
        assert!(
            xml.contains("name=\"a&lt;b&gt;&amp;&quot;c&quot;\""),
            "{xml}"
        );
        assert!(xml.contains("<description>x&apos;y</description>"), "{xml}");
        assert!(
            xml.contains("<term kind=\"pattern\">&lt;x&gt;&amp;.*</term>"),
            "{xml}"
        );
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut used = Vec::new();
        assert_eq!(
            file_name("Excluded Addresses: Sign", &mut used),
            "Excluded Addresses_ Sign.xml"
        );
        assert_eq!(file_name("../x", &mut used), "_x.xml");
        assert_eq!(file_name("a/b", &mut used), "a_b.xml");
        assert_eq!(file_name("a:b", &mut used), "a_b (2).xml");
    }
}
