//! The Verified Directory's pages: plain HTML forms that work without JavaScript. Every value
//! from outside is escaped.

use crate::directory::PublishedKey;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} - Verified Directory</title></head><body>\n\
         <p><a href=\"/vd/\">Verified Directory</a></p>\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title)
    )
}

/// The home page: search, submit (paste or upload), removal.
pub fn home() -> String {
    page(
        "Verified Directory",
        "<p>Find the public keys of people and submit your own. Each address on a submitted key is \
         asked by email before the key is published with it.</p>\n\
         <h2>Search</h2>\n\
         <form action=\"/vd/search\" method=\"get\">\
         <label>Email address, name or key ID: <input name=\"q\" size=\"40\" required></label> \
         <button type=\"submit\">Search</button></form>\n\
         <h2>Submit your key</h2>\n\
         <form action=\"/vd/submit\" method=\"post\" enctype=\"multipart/form-data\">\
         <p><label>Paste your public key (ASCII armored):<br>\
         <textarea name=\"keytext\" rows=\"12\" cols=\"70\"></textarea></label></p>\
         <p><label>or upload a key file: <input type=\"file\" name=\"keyfile\"></label></p>\
         <p><button type=\"submit\">Submit</button></p></form>\n\
         <h2>Remove your key</h2>\n\
         <form action=\"/vd/remove\" method=\"post\">\
         <label>Your email address: <input name=\"email\" type=\"email\" size=\"40\" required></label> \
         <button type=\"submit\">Mail me a removal link</button></form>\n",
    )
}

/// Search results (already limited).
pub fn results(query: &str, keys: &[std::sync::Arc<PublishedKey>], limit: usize) -> String {
    let mut body = format!(
        "<form action=\"/vd/search\" method=\"get\"><input name=\"q\" size=\"40\" value=\"{}\"> \
         <button type=\"submit\">Search</button></form>\n",
        escape(query)
    );
    if keys.is_empty() {
        body.push_str("<p>No keys found.</p>\n");
    } else {
        body.push_str(&format!(
            "<p>{} key(s){}.</p>\n<ul>\n",
            keys.len(),
            if keys.len() >= limit {
                format!(" (at most {limit} are shown)")
            } else {
                String::new()
            }
        ));
        for k in keys {
            let fpr = k.fingerprint();
            body.push_str(&format!(
                "<li><a href=\"/pks/lookup?op=get&amp;options=mr&amp;search=0x{fpr}\"><code>{fpr}</code></a><ul>"
            ));
            for u in k.user_ids() {
                body.push_str(&format!("<li>{}</li>", escape(u)));
            }
            body.push_str("</ul></li>\n");
        }
        body.push_str("</ul>\n");
    }
    page("Search results", &body)
}

/// A message page (`title`, a paragraph of text).
pub fn message(title: &str, text: &str) -> String {
    page(title, &format!("<p>{}</p>", escape(text)))
}

/// The page a mailed link opens: one button that POSTs to the same address, so that a mail
/// scanner following links changes nothing.
pub fn confirm_form(title: &str, text: &str, action: &str, button: &str) -> String {
    page(
        title,
        &format!(
            "<p>{}</p>\n<form action=\"{}\" method=\"post\"><button type=\"submit\">{}</button></form>",
            escape(text),
            escape(action),
            escape(button)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_escaped() {
        let p = message("Hi", "<script>alert('x')</script> & more");
        assert!(p.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(!p.contains("<script>"));
    }
}
