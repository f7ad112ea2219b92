//! `signet` commands for keys: setup, the organization's keys and certificates, users' keys,
//! Ignition Keys and unlocking, backups. Each is one or two API calls.
//!
//! Passphrases never go on the command line (other users can read it from /proc): they come
//! from `--passphrase-file` or the `SIGNET_PASSPHRASE` environment variable.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use hyper::Method;
use serde_json::{Value, json};

use crate::client::ApiClient;

/// Generating RSA keys and writing backups take longer than ordinary calls.
const SLOW: Duration = Duration::from_secs(300);

#[derive(Subcommand)]
pub enum OrgCmd {
    /// The six organization items and what is in each slot.
    List,
    /// One item in detail (organization-key, organization-certificate, adk,
    /// external-user-root-key, external-user-root-certificate, verified-directory-key).
    Show {
        kind: String,
    },
    /// Generate the Organization Key, the Organization Certificate (self-signed), or the
    /// External User Root Key or Certificate.
    Generate {
        kind: String,
        /// cv25519 (default), rsa2048, rsa3072, rsa4096.
        #[arg(long)]
        algorithm: Option<String>,
        /// Replace an existing Organization Key, accepting the consequences the server lists.
        #[arg(long)]
        confirm: bool,
    },
    /// Import an item from a file (armored OpenPGP key, or PEM certificate with --private-key).
    Import {
        kind: String,
        file: PathBuf,
        #[arg(long)]
        private_key: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        confirm: bool,
    },
    /// Export an item (public by default; --private for the key pair).
    Export {
        kind: String,
        #[arg(long)]
        private: bool,
        /// Protect an exported private key with the passphrase from --passphrase-file or
        /// SIGNET_PASSPHRASE.
        #[arg(long)]
        protect: bool,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    Delete {
        kind: String,
    },
    /// Write the CRL (DER) of certificates this server issued and revoked.
    Crl {
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// A user's keys.
    List { email: String },
    /// Give a user a key: generated (SKM) or the user's own (--file, with --mode).
    Add {
        email: String,
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        algorithm: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Revoke a user's SKM key (irreversible).
    Revoke { email: String, fingerprint: String },
    /// Export a user's key (public by default).
    Export {
        email: String,
        fingerprint: String,
        #[arg(long)]
        private: bool,
        #[arg(long)]
        protect: bool,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Delete a user's key; its private key is destroyed.
    Delete { email: String, fingerprint: String },
    /// Find keys by email address, key ID or fingerprint.
    Search { query: String },
}

#[derive(Subcommand)]
pub enum IgnitionCmd {
    /// Lock state and Ignition Keys.
    Status,
    /// Add a soft-ignition passphrase (from --passphrase-file or SIGNET_PASSPHRASE). From the
    /// next start, members boot locked.
    Add {
        name: String,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Write a backup now (into the node's backup folder).
    Create {
        #[arg(long)]
        name: Option<String>,
    },
    List,
    /// Show or change the schedule.
    Schedule {
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// HH:MM, UTC.
        #[arg(long)]
        time: Option<String>,
        /// Backups to keep.
        #[arg(long)]
        keep: Option<u32>,
    },
    /// Restore FILE with the Organization Key (an exported key pair).
    Restore {
        file: PathBuf,
        #[arg(long)]
        organization_key: PathBuf,
        /// The Organization Key file's passphrase, if it has one.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Download backup NAME (a file name from `list`) into FILE.
    Download {
        name: String,
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// The passphrase from a file (first line) or SIGNET_PASSPHRASE.
pub fn passphrase(file: Option<&Path>, required: bool) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_string()));
    }
    match std::env::var("SIGNET_PASSPHRASE") {
        Ok(p) if !p.is_empty() => Ok(Some(p)),
        _ if required => {
            bail!("give the passphrase with --passphrase-file FILE or SIGNET_PASSPHRASE")
        }
        _ => Ok(None),
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write_or_print(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(p) => {
            std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {} ({} bytes)", p.display(), bytes.len());
        }
        None => print!("{}", String::from_utf8_lossy(bytes)),
    }
    Ok(())
}

/// Shows elapsed time on stderr while a long call runs.
async fn with_progress<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    eprintln!("{what} ...");
    let ticker = tokio::spawn({
        let what = what.to_string();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("  {what}: {} s", start.elapsed().as_secs());
            }
        }
    });
    let out = fut.await;
    ticker.abort();
    eprintln!("  done in {:.1} s", start.elapsed().as_secs_f64());
    out
}

/// An export call (public key, or the key pair, protected with a passphrase if asked), written
/// to a file or printed.
async fn export(
    api: &ApiClient,
    path: &str,
    private: bool,
    protect: bool,
    passphrase_file: Option<&Path>,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let pass = if protect {
        passphrase(passphrase_file, true)?
    } else {
        None
    };
    let bytes = api
        .call_raw(
            Method::POST,
            path,
            Some(json!({ "private": private, "passphrase": pass })),
        )
        .await?;
    write_or_print(output, &bytes)
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub async fn setup(
    api: ApiClient,
    domains: &[String],
    algorithm: Option<&str>,
    import: Option<&Path>,
    passphrase_file: Option<&Path>,
    no_certificate: bool,
) -> anyhow::Result<Value> {
    let org = match import {
        Some(f) => {
            json!({ "key": read_text(f)?, "passphrase": passphrase(passphrase_file, false)? })
        }
        None => json!({ "generate": true, "algorithm": algorithm }),
    };
    let api = api.with_timeout(SLOW);
    with_progress(
        "setting up: managed domains, Organization Key and Certificate",
        api.post(
            "/api/v1/setup",
            json!({ "domains": domains, "organization_key": org, "organization_certificate": !no_certificate }),
        ),
    )
    .await
}

pub async fn org(api: ApiClient, cmd: &OrgCmd, json_out: bool) -> anyhow::Result<()> {
    let api = api.with_timeout(SLOW);
    let v = match cmd {
        OrgCmd::List => {
            let v = api.get("/api/v1/organization").await?;
            if !json_out {
                for item in v["items"].as_array().into_iter().flatten() {
                    let present = item.get("fingerprint").is_some();
                    println!(
                        "{:<32} {}",
                        s(item, "title"),
                        if present {
                            s(item, "fingerprint")
                        } else {
                            "(none)".into()
                        }
                    );
                }
                return Ok(());
            }
            v
        }
        OrgCmd::Show { kind } => api.get(&format!("/api/v1/organization/{kind}")).await?,
        OrgCmd::Generate {
            kind,
            algorithm,
            confirm,
        } => {
            with_progress(
                &format!("generating the {kind}"),
                api.post(
                    &format!("/api/v1/organization/{kind}"),
                    json!({ "generate": true, "algorithm": algorithm, "confirm": confirm }),
                ),
            )
            .await?
        }
        OrgCmd::Import {
            kind,
            file,
            private_key,
            passphrase_file,
            confirm,
        } => {
            let key = read_text(file)?;
            let private_key = private_key.as_deref().map(read_text).transpose()?;
            api.post(
                &format!("/api/v1/organization/{kind}"),
                json!({
                    "key": key,
                    "private_key": private_key,
                    "passphrase": passphrase(passphrase_file.as_deref(), false)?,
                    "confirm": confirm,
                }),
            )
            .await?
        }
        OrgCmd::Export {
            kind,
            private,
            protect,
            passphrase_file,
            output,
        } => {
            return export(
                &api,
                &format!("/api/v1/organization/{kind}/export"),
                *private,
                *protect,
                passphrase_file.as_deref(),
                output.as_deref(),
            )
            .await;
        }
        OrgCmd::Delete { kind } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/organization/{kind}"),
                None,
            )
            .await?
        }
        OrgCmd::Crl { output } => {
            let bytes = api.call_raw(Method::GET, "/api/v1/crl", None).await?;
            return write_or_print(Some(output), &bytes);
        }
    };
    print_item(json_out, &v);
    Ok(())
}

fn print_item(json_out: bool, v: &Value) {
    if json_out || v.get("title").is_none() {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        println!("{}: {}", s(v, "title"), s(v, "fingerprint"));
        let d = &v["details"];
        for k in ["user_ids", "subject", "not_after", "algorithm", "version"] {
            if !d[k].is_null() {
                println!("  {k}: {}", d[k]);
            }
        }
    }
}

pub async fn key(api: ApiClient, cmd: &KeyCmd, json_out: bool) -> anyhow::Result<()> {
    let api = api.with_timeout(SLOW);
    let enc = crate::client::path_segment;
    let v = match cmd {
        KeyCmd::List { email } => {
            let v = api
                .get(&format!("/api/v1/users/{}/keys", enc(email)))
                .await?;
            if !json_out {
                for k in v.as_array().into_iter().flatten() {
                    println!(
                        "{} {:<4} {}{}",
                        s(k, "fingerprint"),
                        s(k, "mode"),
                        if k["revoked_at"].is_null() {
                            "valid"
                        } else {
                            "revoked"
                        },
                        if k["smime"].is_null() { "" } else { " +S/MIME" }
                    );
                }
                return Ok(());
            }
            v
        }
        KeyCmd::Add {
            email,
            mode,
            algorithm,
            file,
            passphrase_file,
        } => {
            let key = file.as_deref().map(read_text).transpose()?;
            with_progress(
                "making the key",
                api.post(
                    &format!("/api/v1/users/{}/keys", enc(email)),
                    json!({
                        "mode": mode,
                        "algorithm": algorithm,
                        "key": key,
                        "passphrase": passphrase(passphrase_file.as_deref(), false)?,
                    }),
                ),
            )
            .await?
        }
        KeyCmd::Revoke { email, fingerprint } => {
            api.post(
                &format!(
                    "/api/v1/users/{}/keys/{}/revoke",
                    enc(email),
                    enc(fingerprint)
                ),
                json!({}),
            )
            .await?
        }
        KeyCmd::Export {
            email,
            fingerprint,
            private,
            protect,
            passphrase_file,
            output,
        } => {
            return export(
                &api,
                &format!(
                    "/api/v1/users/{}/keys/{}/export",
                    enc(email),
                    enc(fingerprint)
                ),
                *private,
                *protect,
                passphrase_file.as_deref(),
                output.as_deref(),
            )
            .await;
        }
        KeyCmd::Delete { email, fingerprint } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/users/{}/keys/{}", enc(email), enc(fingerprint)),
                None,
            )
            .await?
        }
        KeyCmd::Search { query } => {
            let v = api.get(&format!("/api/v1/keys?q={}", enc(query))).await?;
            if !json_out {
                for r in v["results"].as_array().into_iter().flatten() {
                    println!(
                        "{:<40} {} {}",
                        s(r, "email"),
                        s(&r["key"], "fingerprint"),
                        s(&r["key"], "mode")
                    );
                }
                return Ok(());
            }
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

pub async fn ignition(api: ApiClient, cmd: &IgnitionCmd) -> anyhow::Result<()> {
    let v = match cmd {
        IgnitionCmd::Status => api.get("/api/v1/ignition-keys").await?,
        IgnitionCmd::Add {
            name,
            passphrase_file,
        } => {
            let pass = passphrase(passphrase_file.as_deref(), true)?;
            api.post(
                "/api/v1/ignition-keys",
                json!({ "name": name, "passphrase": pass }),
            )
            .await?
        }
        IgnitionCmd::Delete { name } => {
            api.call(
                Method::DELETE,
                &format!(
                    "/api/v1/ignition-keys/{}",
                    crate::client::path_segment(name)
                ),
                None,
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

pub async fn unlock(
    api: ApiClient,
    organization_key: Option<&Path>,
    passphrase_file: Option<&Path>,
) -> anyhow::Result<()> {
    let body = match organization_key {
        Some(f) => json!({
            "organization_key": read_text(f)?,
            "passphrase": passphrase(passphrase_file, false)?,
        }),
        None => json!({ "passphrase": passphrase(passphrase_file, true)? }),
    };
    let v = api.post("/api/v1/unlock", body).await?;
    if v["changed"].as_bool() == Some(true) {
        println!("unlocked");
    } else {
        println!("this member was not locked");
    }
    Ok(())
}

pub async fn backup(api: ApiClient, cmd: &BackupCmd, json_out: bool) -> anyhow::Result<()> {
    let api = api.with_timeout(Duration::from_secs(1800));
    let v = match cmd {
        BackupCmd::Download { name, output } => {
            return crate::system_cli::download_backup(api, name, output, json_out).await;
        }
        BackupCmd::Create { name } => {
            with_progress(
                "writing the backup on the server",
                api.post("/api/v1/backups", json!({ "name": name })),
            )
            .await?
        }
        BackupCmd::List => {
            let v = api.get("/api/v1/backups").await?;
            if !json_out {
                for b in v.as_array().into_iter().flatten() {
                    println!("{}  {} bytes", s(b, "file"), s(b, "bytes"));
                }
                return Ok(());
            }
            v
        }
        BackupCmd::Schedule {
            enable,
            disable,
            time,
            keep,
        } => {
            if !enable && !disable && time.is_none() && keep.is_none() {
                api.get("/api/v1/backups/schedule").await?
            } else {
                let current = api.get("/api/v1/backups/schedule").await?;
                let enabled = if *enable {
                    true
                } else if *disable {
                    false
                } else {
                    current["enabled"].as_bool().unwrap_or(false)
                };
                api.call(
                    Method::PUT,
                    "/api/v1/backups/schedule",
                    Some(json!({ "enabled": enabled, "time": time, "keep": keep })),
                )
                .await?
            }
        }
        BackupCmd::Restore {
            file,
            organization_key,
            passphrase_file,
        } => {
            use base64::Engine;
            eprintln!("[1/3] reading {}", file.display());
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let key = read_text(organization_key)?;
            eprintln!("[2/3] sending {:.1} MB", bytes.len() as f64 / 1e6);
            let body = json!({
                "backup": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "organization_key": key,
                "passphrase": passphrase(passphrase_file.as_deref(), false)?,
            });
            let v = with_progress(
                "[3/3] decrypting and restoring on the server",
                api.post("/api/v1/backups/restore", body),
            )
            .await?;
            if !json_out {
                println!(
                    "restored {} entries from the backup of cluster {}",
                    s(&v, "restored_entries"),
                    s(&v, "from_cluster")
                );
                return Ok(());
            }
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

#[derive(Subcommand)]
pub enum TrustedCmd {
    List,
    Show {
        id: String,
    },
    /// Trust a key (armored OpenPGP) or certificate (PEM/DER/.p7b) from FILE.
    Add {
        file: PathBuf,
        /// Trust it for verifying mail encryption keys found in default directories.
        #[arg(long)]
        mail_keys: bool,
        /// Trust it for verifying SMTP/POP/IMAP servers' certificates (X.509 only).
        #[arg(long)]
        tls_servers: bool,
        /// Trust it for authenticating keyserver clients (X.509 only).
        #[arg(long)]
        keyserver_clients: bool,
    },
    /// Replace the trust flags of an entry.
    Flags {
        id: String,
        #[arg(long)]
        mail_keys: bool,
        #[arg(long)]
        tls_servers: bool,
        #[arg(long)]
        keyserver_clients: bool,
    },
    Remove {
        id: String,
    },
}

pub async fn trusted(api: ApiClient, cmd: &TrustedCmd, json_out: bool) -> anyhow::Result<()> {
    let seg = crate::client::path_segment;
    let flags = |m: bool, t: bool, k: bool| json!({ "mail_encryption_keys": m, "tls_servers": t, "keyserver_clients": k });
    let v = match cmd {
        TrustedCmd::List => {
            let v = api.get("/api/v1/trusted").await?;
            if !json_out {
                for t in v.as_array().into_iter().flatten() {
                    println!("{} {:<7} {}", s(t, "id"), s(t, "type"), s(t, "name"));
                }
                return Ok(());
            }
            v
        }
        TrustedCmd::Show { id } => api.get(&format!("/api/v1/trusted/{}", seg(id))).await?,
        TrustedCmd::Add {
            file,
            mail_keys,
            tls_servers,
            keyserver_clients,
        } => {
            api.post(
                "/api/v1/trusted",
                json!({
                    "data": read_text(file)?,
                    "flags": flags(*mail_keys, *tls_servers, *keyserver_clients),
                }),
            )
            .await?
        }
        TrustedCmd::Flags {
            id,
            mail_keys,
            tls_servers,
            keyserver_clients,
        } => {
            api.call(
                Method::PUT,
                &format!("/api/v1/trusted/{}", seg(id)),
                Some(flags(*mail_keys, *tls_servers, *keyserver_clients)),
            )
            .await?
        }
        TrustedCmd::Remove { id } => {
            api.call(
                Method::DELETE,
                &format!("/api/v1/trusted/{}", seg(id)),
                None,
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
