//! Reading the Verified Directory's form posts: `application/x-www-form-urlencoded` (the
//! paste form, HKP `/pks/add`'s `keytext=`) and `multipart/form-data` (the file upload).
//! Only what the pages need: named fields as bytes.

/// Decodes `a=b&c=d` (with `+` as space and percent escapes). Malformed escapes stay as
/// written; they cannot make a key parse that would not otherwise.
pub fn urlencoded(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                percent_decode(v),
            )
        })
        .collect()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_digit);
                let lo = raw.get(i + 2).copied().and_then(hex_digit);
                if let (Some(h), Some(l)) = (hi, lo) {
                    out.push(h << 4 | l);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..].starts_with(needle))
}

/// The named parts of a `multipart/form-data` body.
pub fn multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut out = Vec::new();
    let Some(mut at) = find(body, delimiter, 0) else {
        return out;
    };
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(body, b"\r\n\r\n", start) else {
            break;
        };
        let head = String::from_utf8_lossy(&body[start..head_end]);
        let content = head_end + 4;
        let mut next_delim = Vec::with_capacity(delimiter.len() + 2);
        next_delim.extend_from_slice(b"\r\n");
        next_delim.extend_from_slice(delimiter);
        let Some(end) = find(body, &next_delim, content) else {
            break;
        };
        let name = head.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            if !lower.starts_with("content-disposition:") {
                return None;
            }
            let i = lower.find(" name=\"").or_else(|| lower.find(";name=\""))?;
            let rest = &l[i + 7..];
            rest.split('"').next().map(str::to_string)
        });
        if let Some(name) = name {
            out.push((name, body[content..end].to_vec()));
        }
        at = end + 2;
    }
    out
}

/// The first non-empty field among `names`.
pub fn field<'a>(fields: &'a [(String, Vec<u8>)], names: &[&str]) -> Option<&'a [u8]> {
    names.iter().find_map(|n| {
        fields
            .iter()
            .find(|(k, v)| k == n && !v.iter().all(|b| b.is_ascii_whitespace()))
            .map(|(_, v)| v.as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_fields() {
        let f = urlencoded(b"keytext=-----BEGIN%20PGP+x%0A&email=a%40b.test&bad=%ZZ");
        assert_eq!(field(&f, &["keytext"]), Some(&b"-----BEGIN PGP x\n"[..]));
        assert_eq!(field(&f, &["email"]), Some(&b"a@b.test"[..]));
        assert_eq!(field(&f, &["bad"]), Some(&b"%ZZ"[..]));
    }

    #[test]
    fn multipart_fields() {
        let ct = "multipart/form-data; boundary=----X";
        let b = boundary(ct).unwrap_or_default();
        let body = b"------X\r\nContent-Disposition: form-data; name=\"keytext\"\r\n\r\n\r\n------X\r\nContent-Disposition: form-data; name=\"keyfile\"; filename=\"k.asc\"\r\nContent-Type: application/pgp-keys\r\n\r\nKEY\r\nDATA\r\n------X--\r\n";
        let f = multipart(body, &b);
        assert_eq!(
            field(&f, &["keytext", "keyfile"]),
            Some(&b"KEY\r\nDATA"[..])
        );
        assert!(boundary("text/plain").is_none());
    }
}
