//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463), and the date format
//! of the Received header (RFC 5322 §3.3), which no kept crate writes without pulling in a
//! calendar library.

use std::fmt::Write as _;

/// One reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The enhanced status code, e.g. (2, 1, 0); none for 220/221/354 and EHLO.
    pub status: Option<(u8, u8, u8)>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, status: (u8, u8, u8), text: impl Into<String>) -> Self {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn is_permanent_failure(&self) -> bool {
        self.code >= 500
    }

    /// The wire form, CRLF-terminated. Line text never carries CR or LF (they are replaced), so
    /// a reply cannot be split into two by text that came from outside.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let text: String = text
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
                .collect();
            let _ = write!(out, "{}{}", self.code, sep);
            if let Some((a, b, c)) = self.status {
                let _ = write!(out, "{a}.{b}.{c} ");
            }
            out.push_str(&text);
            out.push_str("\r\n");
        }
        out
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.to_wire().trim_end().replace("\r\n", " / ").as_str())
    }
}

/// `Tue, 24 Nov 2026 00:24:32 +0000` for a time in milliseconds since the epoch (UTC).
pub fn rfc5322_date(millis: u64) -> String {
    let secs = millis / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_and_enhanced_codes() {
        let r = Reply {
            code: 250,
            status: None,
            lines: vec![
                "mx.example.com".into(),
                "SIZE 100".into(),
                "8BITMIME".into(),
            ],
        };
        assert_eq!(
            r.to_wire(),
            "250-mx.example.com\r\n250-SIZE 100\r\n250 8BITMIME\r\n"
        );
        let r = Reply::new(550, (5, 7, 1), "relay denied\r\nINJECTED");
        assert_eq!(r.to_wire(), "550 5.7.1 relay denied  INJECTED\r\n");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_480_000_000),
            "Tue, 24 Nov 2026 00:26:40 +0000"
        );
        assert_eq!(
            rfc5322_date(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }
}
