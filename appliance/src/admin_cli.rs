//! `signet admin` and `signet audit`: administrators (list, add, remove, role, passphrase,
//! unlock), the administration settings, and this member's audit log.
//!
//! Passphrases never go on the command line (argv is visible to every local user): they are read
//! from standard input. On a terminal the prompt turns echo off (with `stty`); otherwise the first
//! line of standard input is the passphrase (the second, for `passphrase --own`, the new one).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::Subcommand;
use hyper::Method;
use serde_json::{Map, Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Every administrator: login, role, email, passphrase state, lockout.
    List,
    /// Add an administrator. With --with-passphrase, the passphrase is read from stdin; it is
    /// temporary (changed at the first login) unless --permanent.
    Add {
        login: String,
        /// read-only, wdrt-only, service-control, basic, full or super-user.
        #[arg(long)]
        role: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        with_passphrase: bool,
        #[arg(long, requires = "with_passphrase")]
        permanent: bool,
    },
    /// One administrator: role, email, passphrase age, lockout, API tokens (labels only).
    Show { login: String },
    /// Delete an administrator (not yourself; not the last SuperUser with a passphrase).
    Remove { login: String },
    /// Set an administrator's email address (lockout and expiry notices go there); an empty
    /// string removes it.
    SetEmail { login: String, email: String },
    /// Issue an API token for an administrator (for scripts; it carries the administrator's
    /// role). The token is printed once: only its digest is kept.
    Token {
        login: String,
        /// What the token is for, shown in the administrator's token list.
        #[arg(long)]
        label: Option<String>,
    },
    /// Change an administrator's role (not your own).
    SetRole { login: String, role: String },
    /// Reset another administrator's passphrase to a temporary one, or with --own change your
    /// own (current, then new). Read from stdin.
    Passphrase {
        login: String,
        #[arg(long)]
        own: bool,
    },
    /// Unlock an administrator locked out after failed logins.
    Unlock { login: String },
    /// Passphrase policy, lockout, CAPTCHA and idle timeout.
    #[command(subcommand)]
    Settings(AdminSettingsCmd),
}

#[derive(Subcommand)]
pub enum AdminSettingsCmd {
    Show,
    /// Change settings: `signet admin settings set lockout_threshold=5 lockout_hours=2`.
    Set {
        /// NAME=VALUE pairs (numbers, or true/false for require_character_classes and aging).
        #[arg(required = true)]
        pairs: Vec<String>,
    },
}

/// Reads one secret line: without echo on a terminal, plainly from a pipe.
fn read_secret(
    prompt: &str,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<String> {
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprint!("{prompt}: ");
        let _ = std::io::stderr().flush();
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let line = lines.next();
    if tty {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    let line = line
        .context("no passphrase on standard input")?
        .context("reading the passphrase")?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(line)
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn run(api: ApiClient, cmd: &AdminCmd, json_out: bool) -> anyhow::Result<()> {
    let one = |login: &str| format!("/api/v1/administrators/{}", path_segment(login));
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let v = match cmd {
        AdminCmd::List => {
            let v = api.get("/api/v1/administrators").await?;
            if !json_out {
                for a in v.as_array().into_iter().flatten() {
                    let state = if a["locked"] == true {
                        "locked"
                    } else if a["has_passphrase"] != true {
                        "token only"
                    } else if a["temporary_passphrase"] == true {
                        "temporary passphrase"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<24} {:<16} {:<22} {}",
                        a["login"].as_str().unwrap_or(""),
                        a["role"].as_str().unwrap_or(""),
                        state,
                        a["email"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            v
        }
        AdminCmd::Add {
            login,
            role,
            email,
            with_passphrase,
            permanent,
        } => {
            let mut body = json!({ "login": login, "role": role, "email": email });
            if *with_passphrase {
                body["passphrase"] = json!(read_secret("Passphrase", &mut lines)?);
                body["temporary"] = json!(!permanent);
            }
            api.post("/api/v1/administrators", body).await?
        }
        AdminCmd::Show { login } => api.get(&one(login)).await?,
        AdminCmd::Remove { login } => api.call(Method::DELETE, &one(login), None).await?,
        AdminCmd::SetEmail { login, email } => {
            api.call(Method::PUT, &one(login), Some(json!({ "email": email })))
                .await?
        }
        AdminCmd::Token { login, label } => {
            let v = api
                .post(&format!("{}/tokens", one(login)), json!({ "label": label }))
                .await?;
            if !json_out {
                println!("{}", v["token"].as_str().unwrap_or(""));
                eprintln!(
                    "API token \"{}\" for {login}: shown once; send it as \"Authorization: Bearer <token>\".",
                    v["label"].as_str().unwrap_or("")
                );
                return Ok(());
            }
            v
        }
        AdminCmd::SetRole { login, role } => {
            api.call(Method::PUT, &one(login), Some(json!({ "role": role })))
                .await?
        }
        AdminCmd::Passphrase { login, own } => {
            let body = if *own {
                let current = read_secret("Current passphrase", &mut lines)?;
                let new = read_secret("New passphrase", &mut lines)?;
                json!({ "current": current, "new": new })
            } else {
                json!({ "new": read_secret("Temporary passphrase", &mut lines)? })
            };
            api.call(
                Method::PUT,
                &format!("{}/passphrase", one(login)),
                Some(body),
            )
            .await?
        }
        AdminCmd::Unlock { login } => {
            api.post(&format!("{}/unlock", one(login)), json!({}))
                .await?
        }
        AdminCmd::Settings(AdminSettingsCmd::Show) => {
            api.get("/api/v1/settings/administration").await?
        }
        AdminCmd::Settings(AdminSettingsCmd::Set { pairs }) => {
            let mut body = Map::new();
            for pair in pairs {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("{pair:?} is not NAME=VALUE");
                };
                let value = match v.trim() {
                    "true" | "on" => json!(true),
                    "false" | "off" => json!(false),
                    n => json!(
                        n.parse::<u64>()
                            .with_context(|| format!("{k}: {n:?} is not a whole number"))?
                    ),
                };
                body.insert(k.trim().to_string(), value);
            }
            api.call(
                Method::PUT,
                "/api/v1/settings/administration",
                Some(Value::Object(body)),
            )
            .await?
        }
    };
    print_json(&v);
    Ok(())
}

/// `signet audit`: this member's audit log, newest first.
pub async fn audit(
    api: ApiClient,
    limit: usize,
    query: Option<&str>,
    json_out: bool,
) -> anyhow::Result<()> {
    let mut path = format!("/api/v1/audit?limit={limit}");
    if let Some(q) = query {
        path.push_str(&format!("&q={}", path_segment(q)));
    }
    let v = api.get(&path).await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    for e in v.as_array().into_iter().flatten() {
        let at = e["at"].as_u64().unwrap_or(0);
        println!(
            "{} {:<16} {:<6} {:<50} {} {}",
            at,
            e["login"].as_str().unwrap_or(""),
            e["method"].as_str().unwrap_or(""),
            e["path"].as_str().unwrap_or(""),
            e["status"],
            e["summary"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
