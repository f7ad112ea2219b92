//! `signet dictionary`: Mail > Dictionaries (guide "Dictionaries"). Terms are literals
//! (case-insensitive equality) or patterns (regular expressions matched against the whole
//! value); see docs/dictionaries.md.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, path_segment};

/// Terms per request when appending (the server takes at most 20,000).
const BATCH: usize = 5_000;
/// The most terms a Replace takes: it is one request, so that it stays atomic.
const MAX_REPLACE: usize = 20_000;

#[derive(Clone, Copy, ValueEnum)]
pub enum ApproveTarget {
    /// Excluded Addresses: Sign (the guide's default).
    Sign,
    /// Excluded Addresses: Do Not Sign.
    DoNotSign,
}

#[derive(Subcommand)]
pub enum DictionaryCmd {
    List,
    /// Create a dictionary, optionally with terms (arguments, or --file; `-` reads stdin).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        terms: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        /// The terms are patterns (regular expressions matching the whole value).
        #[arg(long)]
        pattern: bool,
    },
    /// Delete a dictionary. Factory dictionaries cannot be deleted; one that rules use needs
    /// --confirm (those rules become invalid).
    Delete {
        name: String,
        #[arg(long)]
        confirm: bool,
    },
    /// Print the terms, one per line (patterns marked with a tab and "(pattern)").
    Entries {
        name: String,
    },
    /// Add terms (Import): from arguments or --file (one per line, `-` for stdin, or a file
    /// exported by `signet dictionary export`).
    Add {
        name: String,
        terms: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        /// The terms are patterns (regular expressions matching the whole value).
        #[arg(long)]
        pattern: bool,
        /// Replace every term of the dictionary with these, in one step.
        #[arg(long)]
        replace: bool,
    },
    Remove {
        name: String,
        terms: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Terms containing TEXT, in every dictionary or one (patterns searched as text).
    Search {
        text: String,
        #[arg(long)]
        dictionary: Option<String>,
    },
    /// Does VALUE match dictionary NAME the way a rule condition would?
    Evaluate {
        name: String,
        value: String,
    },
    /// Approve terms waiting in Excluded Addresses: Pending (they move to --to).
    Approve {
        terms: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        /// Approve everything that is pending.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "sign")]
        to: ApproveTarget,
    },
    /// Rename a dictionary (rules naming the old name become invalid; they are listed).
    Rename {
        name: String,
        new_name: String,
    },
    /// Change a dictionary's description.
    Describe {
        name: String,
        description: String,
    },
    /// Export: one dictionary as XML (to stdout or -o), several as a ZIP of XML files
    /// (default ./dictionaries.zip).
    Export {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// A term to send: plain text (of the batch's kind) or, from an exported file, typed.
fn term_value(term: &str, kind: Option<&str>) -> Value {
    match kind {
        Some(kind) => json!({ "term": term, "kind": kind }),
        None => json!(term),
    }
}

/// Terms from the arguments and a file (`-` is stdin). A file exported as XML keeps each term's
/// own kind; a text file has one term per line.
fn gather(terms: &[String], file: Option<&Path>) -> anyhow::Result<Vec<Value>> {
    let mut all: Vec<Value> = terms.iter().map(|t| term_value(t, None)).collect();
    if let Some(f) = file {
        let text = if f == Path::new("-") {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading terms from stdin")?;
            s
        } else {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with("<?xml") || trimmed.starts_with("<dictionary") {
            for (term, kind) in xml_terms(&text)
                .with_context(|| format!("{} is not a dictionary export", f.display()))?
            {
                all.push(term_value(&term, Some(&kind)));
            }
        } else {
            all.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| term_value(l, None)),
            );
        }
    }
    Ok(all)
}

/// The `<term kind="...">` elements of an export (see docs/dictionaries.md), unescaped.
fn xml_terms(xml: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<term") {
        rest = &rest[start + "<term".len()..];
        let open_end = rest.find('>').context("unterminated <term> tag")?;
        let attrs = &rest[..open_end];
        let kind = if attrs.contains("kind=\"pattern\"") {
            "pattern"
        } else {
            "literal"
        };
        rest = &rest[open_end + 1..];
        let close = rest.find("</term>").context("a <term> without </term>")?;
        out.push((unescape(&rest[..close])?, kind.to_string()));
        rest = &rest[close + "</term>".len()..];
    }
    Ok(out)
}

fn unescape(raw: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.find(';').context("an unterminated & entity")?;
        let entity = &rest[1..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .with_context(|| format!("a bad character reference &{e};"))?,
            e if e.starts_with('#') => e[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .with_context(|| format!("a bad character reference &{e};"))?,
            e => anyhow::bail!("an unknown entity &{e};"),
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn need_terms(terms: &[Value]) -> anyhow::Result<()> {
    if terms.is_empty() {
        anyhow::bail!("give entries as arguments or with --file");
    }
    Ok(())
}

fn path(name: &str) -> String {
    format!("/api/v1/dictionaries/{}", path_segment(name))
}

/// Appends in batches; a long import reports its progress on stderr.
async fn add(
    api: &ApiClient,
    name: &str,
    terms: Vec<Value>,
    kind: &str,
    replace: bool,
) -> anyhow::Result<Value> {
    let url = format!("{}/entries", path(name));
    if replace {
        if terms.len() > MAX_REPLACE {
            anyhow::bail!(
                "a replace takes at most {MAX_REPLACE} terms (it is one atomic step); \
                 replace with the first {MAX_REPLACE}, then add the rest"
            );
        }
        return api
            .post(
                &url,
                json!({ "entries": terms, "kind": kind, "mode": "replace" }),
            )
            .await;
    }
    let total = terms.len();
    let chunks = total.div_ceil(BATCH);
    let show = chunks > 1 && std::io::stderr().is_terminal();
    let mut added = 0;
    for (i, chunk) in terms.chunks(BATCH).enumerate() {
        let v = api
            .post(
                &url,
                json!({ "entries": chunk, "kind": kind, "mode": "append" }),
            )
            .await
            .with_context(|| format!("after {} of {total} terms", i * BATCH))?;
        added += v["added"].as_u64().unwrap_or(0);
        if chunks > 1 {
            let done = (i * BATCH + chunk.len()).min(total);
            if show {
                eprint!("\rimported {done}/{total} terms");
            } else {
                eprintln!("imported {done}/{total} terms");
            }
        }
    }
    if show {
        eprintln!();
    }
    Ok(json!({ "added": added }))
}

fn print_rules(v: &Value, key: &str, what: &str) {
    let rules = v[key].as_array().cloned().unwrap_or_default();
    if !rules.is_empty() {
        println!("{what}:");
        for r in rules {
            println!(
                "  {} / {}",
                r["chain"].as_str().unwrap_or(""),
                r["rule"].as_str().unwrap_or("")
            );
        }
    }
}

pub async fn run(api: ApiClient, cmd: &DictionaryCmd, json_out: bool) -> anyhow::Result<()> {
    let kind_of = |pattern: bool| if pattern { "pattern" } else { "literal" };
    let v: Value = match cmd {
        DictionaryCmd::List => {
            let v = api.get("/api/v1/dictionaries").await?;
            if !json_out {
                for d in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {}{}",
                        d["name"].as_str().unwrap_or(""),
                        d["description"].as_str().unwrap_or(""),
                        if d["factory"] == true {
                            " (factory)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Create {
            name,
            description,
            terms,
            file,
            pattern,
        } => {
            let terms = gather(terms, file.as_deref())?;
            api.post(
                "/api/v1/dictionaries",
                json!({
                    "name": name,
                    "description": description,
                    "entries": terms,
                    "kind": kind_of(*pattern),
                }),
            )
            .await?
        }
        DictionaryCmd::Delete { name, confirm } => {
            let url = if *confirm {
                format!("{}?confirm=true", path(name))
            } else {
                path(name)
            };
            let v = api.call(Method::DELETE, &url, None).await?;
            if !json_out {
                println!(
                    "deleted dictionary {}",
                    v["removed"].as_str().unwrap_or(name)
                );
                print_rules(&v, "invalid_rules", "rules now invalid");
                return Ok(());
            }
            v
        }
        DictionaryCmd::Entries { name } => {
            let v = api.get(&format!("{}/entries", path(name))).await?;
            if !json_out {
                for e in v.as_array().into_iter().flatten() {
                    let term = e["term"].as_str().unwrap_or("");
                    if e["kind"] == "pattern" {
                        println!("{term}\t(pattern)");
                    } else {
                        println!("{term}");
                    }
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Add {
            name,
            terms,
            file,
            pattern,
            replace,
        } => {
            let terms = gather(terms, file.as_deref())?;
            // An empty replace empties the dictionary: only from an explicit (empty) file,
            // never from a forgotten argument.
            if !*replace || file.is_none() {
                need_terms(&terms)?;
            }
            add(&api, name, terms, kind_of(*pattern), *replace).await?
        }
        DictionaryCmd::Remove { name, terms, file } => {
            let terms = gather(terms, file.as_deref())?;
            need_terms(&terms)?;
            // Typed terms from an export are removed by their text.
            let texts: Vec<Value> = terms
                .into_iter()
                .map(|t| t.get("term").cloned().unwrap_or(t))
                .collect();
            api.call(
                Method::DELETE,
                &format!("{}/entries", path(name)),
                Some(json!({ "entries": texts })),
            )
            .await?
        }
        DictionaryCmd::Search { text, dictionary } => {
            let mut url = format!("/api/v1/dictionary-search?q={}", path_segment(text));
            if let Some(d) = dictionary {
                url.push_str(&format!("&dictionary={}", path_segment(d)));
            }
            let v = api.get(&url).await?;
            if !json_out {
                for r in v["results"].as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {}{}",
                        r["dictionary"].as_str().unwrap_or(""),
                        r["term"].as_str().unwrap_or(""),
                        if r["kind"] == "pattern" {
                            "\t(pattern)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Evaluate { name, value } => {
            let v = api
                .post(
                    &format!("{}/evaluate", path(name)),
                    json!({ "value": value }),
                )
                .await?;
            if !json_out {
                if v["matches"] == true {
                    println!("{value} matches {name}:");
                    for m in v["matched"].as_array().into_iter().flatten() {
                        println!(
                            "  {} {}",
                            m["kind"].as_str().unwrap_or(""),
                            m["term"].as_str().unwrap_or("")
                        );
                    }
                } else {
                    println!("{value} matches no term of {name}");
                }
                return Ok(());
            }
            v
        }
        DictionaryCmd::Approve {
            terms,
            file,
            all,
            to,
        } => {
            let pending = "Excluded Addresses: Pending";
            let mut terms = gather(terms, file.as_deref())?;
            if *all {
                let listed = api.get(&format!("{}/entries", path(pending))).await?;
                terms.extend(
                    listed
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| e["term"].clone()),
                );
            }
            if terms.is_empty() {
                anyhow::bail!("give the terms to approve, or --all");
            }
            let target = match to {
                ApproveTarget::Sign => "Excluded Addresses: Sign",
                ApproveTarget::DoNotSign => "Excluded Addresses: Do Not Sign",
            };
            api.post(
                &format!("{}/approve", path(pending)),
                json!({ "entries": terms, "target": target }),
            )
            .await?
        }
        DictionaryCmd::Rename { name, new_name } => {
            let v = api
                .call(
                    Method::PATCH,
                    &path(name),
                    Some(json!({ "name": new_name })),
                )
                .await?;
            if !json_out {
                println!(
                    "renamed {name} to {}",
                    v["name"].as_str().unwrap_or(new_name)
                );
                print_rules(
                    &v,
                    "invalid_rules",
                    &format!("rules naming {name} are now invalid"),
                );
                return Ok(());
            }
            v
        }
        DictionaryCmd::Describe { name, description } => {
            api.call(
                Method::PATCH,
                &path(name),
                Some(json!({ "description": description })),
            )
            .await?
        }
        DictionaryCmd::Export { names, output } => {
            return export(&api, names, output.as_deref()).await;
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

async fn export(api: &ApiClient, names: &[String], output: Option<&Path>) -> anyhow::Result<()> {
    if let [name] = names {
        let xml = api
            .call_raw(Method::GET, &format!("{}/export", path(name)), None)
            .await?;
        match output {
            Some(f) => {
                std::fs::write(f, &xml).with_context(|| format!("writing {}", f.display()))?
            }
            None => {
                use std::io::Write;
                std::io::stdout().write_all(&xml)?;
            }
        }
        return Ok(());
    }
    let zip = api
        .call_raw(
            Method::POST,
            "/api/v1/dictionary-export",
            Some(json!({ "names": names })),
        )
        .await?;
    let f = output.unwrap_or(Path::new("dictionaries.zip"));
    std::fs::write(f, &zip).with_context(|| format!("writing {}", f.display()))?;
    eprintln!("wrote {} ({} dictionaries)", f.display(), names.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_terms_back_from_an_export() {
        let xml = "<?xml version=\"1.0\"?>\n<dictionary name=\"a&amp;b\">\n  \
                   <description>d</description>\n  <term kind=\"literal\">a&amp;b@x</term>\n  \
                   <term kind=\"pattern\">j.*@x&#x2E;com</term>\n</dictionary>\n";
        let terms = xml_terms(xml).expect("parses");
        assert_eq!(
            terms,
            [
                ("a&b@x".to_string(), "literal".to_string()),
                ("j.*@x.com".to_string(), "pattern".to_string())
            ]
        );
        assert!(xml_terms("<term kind=\"literal\">x").is_err());
        assert!(unescape("&bogus;").is_err());
    }
}
