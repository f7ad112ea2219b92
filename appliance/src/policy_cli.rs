//! `signet policy`: the mail policy's chains and rules as JSON documents, export/import of
//! chains with their dictionaries, and a dry-run evaluation (the admin UI's rule editor comes
//! with the admin-UI issue). Every write validates the whole policy on the server first.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// The chains: name, applicability, factory, number of rules.
    List,
    /// One chain as JSON (edit it and `put` it back).
    Show { name: String },
    /// Create or replace a chain from a JSON file.
    Put { file: PathBuf },
    /// Delete a chain (factory chains cannot be deleted).
    Delete { name: String },
    /// Change where a chain's rules may run: ServerAndClient, Server, Client, Standalone,
    /// Mobile.
    Applicability {
        chain: String,
        applicability: String,
    },
    /// Rules of one chain: list, show, add, put, delete, move, enable, disable.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Validate the whole policy: errors and warnings.
    Validate,
    /// Put every factory chain back as it ships; your own chains stay.
    RestoreFactoryDefaults,
    /// Export chains (all, or --chains, plus the chains they go to) with the dictionaries
    /// they use, as a JSON bundle.
    Export {
        /// Comma-separated chain names.
        #[arg(long, value_delimiter = ',')]
        chains: Vec<String>,
        /// Write the bundle to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Import a bundle made by `export`. Checked whole first: any problem refuses all of it.
    Import {
        file: PathBuf,
        /// On a name clash overwrite the server's chain or dictionary (default: keep it).
        #[arg(long)]
        replace: bool,
    },
    /// Dry run: which rules fire for a message, and what would be done. Changes nothing.
    Evaluate(EvaluateArgs),
}

#[derive(Subcommand)]
pub enum RuleCmd {
    /// The chain's rules in order, with their positions (1 is evaluated first).
    List {
        chain: String,
    },
    /// One rule as JSON (edit it and `put` it back).
    Show {
        chain: String,
        rule: String,
    },
    /// Add a rule from a JSON file, last or at --position (1-based).
    Add {
        chain: String,
        file: PathBuf,
        #[arg(long)]
        position: Option<usize>,
    },
    /// Replace a rule (same position) from a JSON file; the file may rename it.
    Put {
        chain: String,
        rule: String,
        file: PathBuf,
    },
    Delete {
        chain: String,
        rule: String,
    },
    /// Move a rule to a position (1-based).
    Move {
        chain: String,
        rule: String,
        position: usize,
    },
    Enable {
        chain: String,
        rule: String,
    },
    /// Disabled rules are skipped by evaluation.
    Disable {
        chain: String,
        rule: String,
    },
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// Envelope sender.
    #[arg(long, default_value = "")]
    from: String,
    /// Envelope recipient (repeat for several).
    #[arg(long = "to", required = true)]
    to: Vec<String>,
    #[arg(long)]
    subject: Option<String>,
    /// A header field, "Name: value" (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The body text, from a file.
    #[arg(long, conflicts_with = "message_file")]
    body_file: Option<PathBuf>,
    /// A whole RFC 5322 message instead of --subject/--header/--body-file.
    #[arg(long, conflicts_with_all = ["subject", "headers"])]
    message_file: Option<PathBuf>,
    /// Service type: SmtpInbound, SmtpOutbound, Pop, Imap, Mapi, WebEmailProtection,
    /// Blackberry (default: outbound when the sender is in a managed domain).
    #[arg(long)]
    service: Option<String>,
    /// Evaluate as in Learn Mode or not (default: the server's setting).
    #[arg(long)]
    learn_mode: Option<bool>,
    /// Start in this chain instead of Default.
    #[arg(long)]
    start_chain: Option<String>,
}

fn rule_path(chain: &str, rule: &str) -> String {
    format!(
        "/api/v1/policy/chains/{}/rules/{}",
        path_segment(chain),
        path_segment(rule)
    )
}

fn read_json(file: &PathBuf, what: &str) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a JSON {what}", file.display()))
}

async fn rule_cmd(api: &ApiClient, cmd: &RuleCmd, json_out: bool) -> anyhow::Result<Value> {
    Ok(match cmd {
        RuleCmd::List { chain } => {
            let v = api
                .get(&format!(
                    "/api/v1/policy/chains/{}/rules",
                    path_segment(chain)
                ))
                .await?;
            if !json_out {
                for r in v.as_array().into_iter().flatten() {
                    println!(
                        "{:>3}  {:<40} {}",
                        r["position"],
                        r["name"].as_str().unwrap_or(""),
                        if r["enabled"] == true {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    );
                }
                return Ok(Value::Null);
            }
            v
        }
        RuleCmd::Show { chain, rule } => api.get(&rule_path(chain, rule)).await?,
        RuleCmd::Add {
            chain,
            file,
            position,
        } => {
            let rule = read_json(file, "rule")?;
            let query = position
                .map(|p| format!("?position={p}"))
                .unwrap_or_default();
            api.post(
                &format!("/api/v1/policy/chains/{}/rules{query}", path_segment(chain)),
                rule,
            )
            .await?
        }
        RuleCmd::Put { chain, rule, file } => {
            let body = read_json(file, "rule")?;
            api.call(Method::PUT, &rule_path(chain, rule), Some(body))
                .await?
        }
        RuleCmd::Delete { chain, rule } => {
            api.call(Method::DELETE, &rule_path(chain, rule), None)
                .await?
        }
        RuleCmd::Move {
            chain,
            rule,
            position,
        } => {
            api.post(
                &format!("{}/move", rule_path(chain, rule)),
                json!({ "position": position }),
            )
            .await?
        }
        RuleCmd::Enable { chain, rule } => {
            api.post(&format!("{}/enable", rule_path(chain, rule)), json!({}))
                .await?
        }
        RuleCmd::Disable { chain, rule } => {
            api.post(&format!("{}/disable", rule_path(chain, rule)), json!({}))
                .await?
        }
    })
}

/// The service names the API takes, from what an administrator types (any case, with or
/// without hyphens: `smtp-outbound`, `SmtpOutbound`).
fn service_name(raw: &str) -> anyhow::Result<&'static str> {
    const NAMES: [&str; 7] = [
        "SmtpInbound",
        "SmtpOutbound",
        "Pop",
        "Imap",
        "Mapi",
        "WebEmailProtection",
        "Blackberry",
    ];
    let wanted: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    NAMES
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(&wanted))
        .with_context(|| format!("unknown service {raw:?}; one of {}", NAMES.join(", ")))
}

fn evaluate_body(args: &EvaluateArgs) -> anyhow::Result<Value> {
    let mut body = json!({
        "sender": args.from,
        "recipients": args.to,
    });
    if let Some(file) = &args.message_file {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        body["message"] = json!(String::from_utf8_lossy(&raw));
    } else {
        if let Some(subject) = &args.subject {
            body["subject"] = json!(subject);
        }
        let mut headers = Vec::new();
        for h in &args.headers {
            let Some((name, value)) = h.split_once(':') else {
                bail!("--header {h:?} must be \"Name: value\"");
            };
            headers.push(json!({ "name": name.trim(), "value": value.trim() }));
        }
        body["headers"] = json!(headers);
        if let Some(file) = &args.body_file {
            let text =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            body["body"] = json!(String::from_utf8_lossy(&text));
        }
    }
    if let Some(service) = &args.service {
        body["session"] = json!({ "service": service_name(service)? });
    }
    if let Some(learn) = args.learn_mode {
        body["learn_mode"] = json!(learn);
    }
    if let Some(chain) = &args.start_chain {
        body["start_chain"] = json!(chain);
    }
    Ok(body)
}

/// One line per recipient: the rules that fired, in order, and the outcome.
fn print_summary(v: &Value) {
    for r in v["summary"].as_array().into_iter().flatten() {
        let fired: Vec<&str> = r["fired"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{}: {} => {}",
            r["recipient"].as_str().unwrap_or(""),
            if fired.is_empty() {
                "(no rule fired)".to_string()
            } else {
                fired.join(" -> ")
            },
            r["outcome"].as_str().unwrap_or("")
        );
    }
    if v["facts"]["learn_mode"] == true {
        println!("Learn Mode: the message would be delivered unchanged.");
    }
}

pub async fn run(api: ApiClient, cmd: &PolicyCmd, json_out: bool) -> anyhow::Result<()> {
    let v = match cmd {
        PolicyCmd::List => {
            let v = api.get("/api/v1/policy/chains").await?;
            if !json_out {
                for c in v.as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {:<18} {:>3} rules{}",
                        c["name"].as_str().unwrap_or(""),
                        c["applicability"].as_str().unwrap_or(""),
                        c["rules"],
                        if c["factory"] == true {
                            "  (factory)"
                        } else {
                            ""
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        PolicyCmd::Show { name } => {
            api.get(&format!("/api/v1/policy/chains/{}", path_segment(name)))
                .await?
        }
        PolicyCmd::Put { file } => {
            let chain = read_json(file, "chain")?;
            let name = chain["name"]
                .as_str()
                .context("the chain has no \"name\"")?
                .to_string();
            api.call(
                Method::PUT,
                &format!("/api/v1/policy/chains/{}", path_segment(&name)),
                Some(chain),
            )
            .await?
        }
        PolicyCmd::Delete { name } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/policy/chains/{}", path_segment(name)),
                None,
            )
            .await?
        }
        PolicyCmd::Applicability {
            chain,
            applicability,
        } => {
            api.call(
                Method::PATCH,
                &format!("/api/v1/policy/chains/{}", path_segment(chain)),
                Some(json!({ "applicability": applicability })),
            )
            .await?
        }
        PolicyCmd::Rule(cmd) => {
            let v = rule_cmd(&api, cmd, json_out).await?;
            if v.is_null() {
                return Ok(());
            }
            v
        }
        PolicyCmd::Validate => api.get("/api/v1/policy/validate").await?,
        PolicyCmd::RestoreFactoryDefaults => {
            api.post("/api/v1/policy/restore-factory-defaults", json!({}))
                .await?
        }
        PolicyCmd::Export { chains, output } => {
            let names: Vec<String> = chains.iter().map(|c| path_segment(c.trim())).collect();
            let path = if names.is_empty() {
                "/api/v1/policy/export".to_string()
            } else {
                format!("/api/v1/policy/export?chains={}", names.join(","))
            };
            let bundle = api.get(&path).await?;
            let text = serde_json::to_string_pretty(&bundle)?;
            if let Some(file) = output {
                std::fs::write(file, format!("{text}\n"))
                    .with_context(|| format!("writing {}", file.display()))?;
                let count = |k: &str| bundle[k].as_array().map(Vec::len).unwrap_or(0);
                json!({
                    "file": file.display().to_string(),
                    "chains": count("chains"),
                    "dictionaries": count("dictionaries"),
                })
            } else {
                bundle
            }
        }
        PolicyCmd::Import { file, replace } => {
            // The server refuses malformed JSON too, but this client can only send JSON.
            let bundle =
                read_json(file, "policy bundle").map_err(|e| e.context("nothing was imported"))?;
            let on_clash = if *replace { "replace" } else { "ignore" };
            api.post(
                &format!("/api/v1/policy/import?on_clash={on_clash}"),
                bundle,
            )
            .await?
        }
        PolicyCmd::Evaluate(args) => {
            let v = api
                .post("/api/v1/policy/evaluate", evaluate_body(args)?)
                .await?;
            if !json_out {
                print_summary(&v);
                return Ok(());
            }
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
