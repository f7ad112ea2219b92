//! Parsing of HKP `/pks/lookup` query strings (draft-shaw-openpgp-hkp, and what GnuPG's
//! dirmngr sends). This is the part of the HTTP keyserver that reads untrusted bytes, so it is
//! total: every input gives a [`Lookup`] or a [`QueryError`] with a short text, never a panic
//! (fuzzed by `fuzz/fuzz_targets/hkp_query.rs`).

/// The longest query string accepted, in bytes (before decoding). dirmngr's longest request is
/// a 64-hex fingerprint with a few options, far below this.
pub const MAX_QUERY_LEN: usize = 1024;
/// The longest decoded `search` value.
pub const MAX_SEARCH_LEN: usize = 256;
/// Text searches shorter than this would match most of the directory ("wildcard abuse").
pub const MIN_TEXT_LEN: usize = 3;
/// More parameters than any client sends.
const MAX_PARAMS: usize = 16;

/// What `op=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The keys themselves, armored.
    Get,
    /// A listing of the matching keys.
    Index,
    /// A verbose listing; served like `index` (this keyserver does not list third-party
    /// signatures).
    Vindex,
}

/// What `search=` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// An exact address, lower-cased, without the angle brackets.
    Email(String),
    /// A long (16) or short (8) key ID, upper-case hex.
    KeyId(String),
    /// A v4 (40) or v6 (64) fingerprint, upper-case hex.
    Fingerprint(String),
    /// A case-insensitive substring of user IDs.
    Text(String),
}

impl Search {
    /// Lookups by address or text are rate-limited harder than by key ID or fingerprint: they
    /// are the ones that let a stranger harvest or probe addresses.
    pub fn is_by_address(&self) -> bool {
        matches!(self, Search::Email(_) | Search::Text(_))
    }
}

/// A parsed `/pks/lookup` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub op: Op,
    pub search: Search,
    /// `options=mr`: the machine-readable index format (and a plain-text get).
    pub machine_readable: bool,
}

/// Why a query was refused (answered with 400 and this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is longer than {MAX_QUERY_LEN} bytes")]
    TooLong,
    #[error("too many query parameters")]
    TooManyParams,
    #[error("a query parameter is not valid percent-encoded UTF-8")]
    BadEncoding,
    #[error("the op parameter is missing")]
    MissingOp,
    #[error("op={0} is not supported (use get, index or vindex)")]
    UnsupportedOp(String),
    #[error("the search parameter is missing or empty")]
    MissingSearch,
    #[error("the search text is longer than {MAX_SEARCH_LEN} characters")]
    SearchTooLong,
    #[error("the search text must be at least {MIN_TEXT_LEN} characters")]
    SearchTooShort,
    #[error(
        "0x must be followed by an 8 or 16 hex digit key ID or a 40 or 64 hex digit fingerprint"
    )]
    BadHex,
}

/// Parses the raw query string of `/pks/lookup` (what follows `?`, still percent-encoded).
pub fn parse_lookup(raw: &str) -> Result<Lookup, QueryError> {
    if raw.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    let mut op = None;
    let mut search = None;
    let mut options = None;
    for (count, pair) in raw.split('&').filter(|p| !p.is_empty()).enumerate() {
        if count >= MAX_PARAMS {
            return Err(QueryError::TooManyParams);
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name)?;
        // The first occurrence wins; later duplicates are ignored like unknown parameters.
        let slot = match name.as_str() {
            "op" => &mut op,
            "search" => &mut search,
            "options" => &mut options,
            _ => continue, // fingerprint=on, exact=on and extensions do not change the answer
        };
        if slot.is_none() {
            *slot = Some(decode(value)?);
        }
    }
    let op = match op.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => return Err(QueryError::MissingOp),
        Some("get") => Op::Get,
        Some("index") => Op::Index,
        Some("vindex") => Op::Vindex,
        Some(other) => return Err(QueryError::UnsupportedOp(printable(other))),
    };
    let machine_readable = options
        .as_deref()
        .is_some_and(|o| o.split(',').any(|o| o.trim().eq_ignore_ascii_case("mr")));
    let search = parse_search(search.as_deref().unwrap_or(""))?;
    Ok(Lookup {
        op,
        search,
        machine_readable,
    })
}

/// Classifies a decoded `search` value.
pub fn parse_search(raw: &str) -> Result<Search, QueryError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(QueryError::MissingSearch);
    }
    if text.chars().count() > MAX_SEARCH_LEN {
        return Err(QueryError::SearchTooLong);
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return hex_search(hex).ok_or(QueryError::BadHex);
    }
    // A bare fingerprint (some clients leave out the 0x); bare 8/16 digits stay text, since
    // they could be part of a name.
    if matches!(text.len(), 40 | 64)
        && let Some(found) = hex_search(text)
    {
        return Ok(found);
    }
    if let Some(email) = address_in(text) {
        return Ok(Search::Email(email));
    }
    if text.chars().count() < MIN_TEXT_LEN {
        return Err(QueryError::SearchTooShort);
    }
    Ok(Search::Text(text.to_lowercase()))
}

fn hex_search(hex: &str) -> Option<Search> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    match hex.len() {
        8 | 16 => Some(Search::KeyId(upper)),
        40 | 64 => Some(Search::Fingerprint(upper)),
        _ => None,
    }
}

/// The address a search names exactly: `user@host`, `<user@host>`, or `Name <user@host>`.
/// Anything with spaces or several `@` outside the brackets is a text search.
fn address_in(text: &str) -> Option<String> {
    let candidate = match (text.rfind('<'), text.ends_with('>')) {
        (Some(start), true) => &text[start + 1..text.len() - 1],
        _ => text,
    };
    let candidate = candidate.trim();
    let (local, domain) = candidate.split_once('@')?;
    let plain = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '<' | '>'))
    };
    (plain(local) && plain(domain)).then(|| candidate.to_lowercase())
}

/// Percent-decoding of one `application/x-www-form-urlencoded` component (`+` is a space).
pub fn decode(raw: &str) -> Result<String, QueryError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => return Err(QueryError::BadEncoding),
                }
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::BadEncoding)
}

/// A value safe to echo in an error text: short, no control characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(q: &str) -> Result<Lookup, QueryError> {
        parse_lookup(q)
    }

    #[test]
    fn dirmngr_get_by_fingerprint() {
        let fpr = "0123456789abcdef0123456789ABCDEF01234567";
        let l = lookup(&format!("op=get&options=mr&search=0x{fpr}")).unwrap();
        assert_eq!(l.op, Op::Get);
        assert!(l.machine_readable);
        assert_eq!(l.search, Search::Fingerprint(fpr.to_ascii_uppercase()));
    }

    #[test]
    fn key_ids_and_bare_fingerprints() {
        assert_eq!(
            lookup("op=get&search=0xdeadbeef").unwrap().search,
            Search::KeyId("DEADBEEF".into())
        );
        assert_eq!(
            lookup("op=get&search=0xDEADBEEFDEADBEEF").unwrap().search,
            Search::KeyId("DEADBEEFDEADBEEF".into())
        );
        let v6 = "ab".repeat(32);
        assert_eq!(
            lookup(&format!("op=get&search={v6}")).unwrap().search,
            Search::Fingerprint(v6.to_ascii_uppercase())
        );
        assert_eq!(
            lookup("op=get&search=0x1234").unwrap_err(),
            QueryError::BadHex
        );
        assert_eq!(
            lookup("op=get&search=0xZZZZZZZZ").unwrap_err(),
            QueryError::BadHex
        );
    }

    #[test]
    fn addresses_with_and_without_brackets() {
        for q in [
            "alice@Example.COM",
            "%3Calice%40example.com%3E",
            "Alice+Liddell+%3Calice@example.com%3E",
            "+alice@example.com+",
        ] {
            assert_eq!(
                lookup(&format!("op=index&options=mr&search={q}"))
                    .unwrap()
                    .search,
                Search::Email("alice@example.com".into()),
                "{q}"
            );
        }
    }

    #[test]
    fn text_search_and_its_limits() {
        assert_eq!(
            lookup("op=index&search=Alice+Liddell").unwrap().search,
            Search::Text("alice liddell".into())
        );
        assert_eq!(
            lookup("op=index&search=ab").unwrap_err(),
            QueryError::SearchTooShort
        );
        let long = "a".repeat(MAX_SEARCH_LEN + 1);
        assert_eq!(
            lookup(&format!("op=index&search={long}")).unwrap_err(),
            QueryError::SearchTooLong
        );
        let huge = "a".repeat(MAX_QUERY_LEN + 1);
        assert_eq!(lookup(&huge).unwrap_err(), QueryError::TooLong);
    }

    #[test]
    fn bad_queries() {
        assert_eq!(lookup("").unwrap_err(), QueryError::MissingOp);
        assert_eq!(lookup("search=x").unwrap_err(), QueryError::MissingOp);
        assert_eq!(lookup("op=get").unwrap_err(), QueryError::MissingSearch);
        assert_eq!(
            lookup("op=get&search=+++").unwrap_err(),
            QueryError::MissingSearch
        );
        assert!(matches!(
            lookup("op=stats&search=x").unwrap_err(),
            QueryError::UnsupportedOp(_)
        ));
        assert_eq!(
            lookup("op=get&search=%ZZ").unwrap_err(),
            QueryError::BadEncoding
        );
        assert_eq!(
            lookup("op=get&search=%C3").unwrap_err(),
            QueryError::BadEncoding
        );
        assert_eq!(
            lookup("op=get&search=%").unwrap_err(),
            QueryError::BadEncoding
        );
        let many = "x=1&".repeat(20);
        assert_eq!(
            lookup(&format!("{many}op=get&search=abc")).unwrap_err(),
            QueryError::TooManyParams
        );
    }

    #[test]
    fn first_duplicate_wins_and_unknown_parameters_are_ignored() {
        let l =
            lookup("op=index&op=get&fingerprint=on&exact=on&search=abc&search=0xdeadbeef").unwrap();
        assert_eq!(l.op, Op::Index);
        assert_eq!(l.search, Search::Text("abc".into()));
        assert!(!l.machine_readable);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for q in [
            "op=get&search=<>",
            "op=get&search=<@>",
            "op=get&search=a@",
            "op=get&search=%3C%3E%40",
            "op=get&search=0x",
            "op=get&search=\u{1F600}\u{1F600}\u{1F600}",
            "=&=&&&=",
            "op=get&search=<a@b",
        ] {
            let _ = lookup(q);
        }
    }
}
