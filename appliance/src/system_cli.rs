//! `signet logs`, `signet activity`, `signet certificate` and `signet backup download`: the
//! system routes of the API (this member's log book and activity samples, the admin port's
//! certificate, a backup file) from the command line.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum CertificateCmd {
    /// The certificate the admin port (UI and API) presents: fingerprint, subject, names, validity.
    Show {
        /// Also print the certificate itself (PEM).
        #[arg(long)]
        pem: bool,
    },
    /// Replace it with CERT (PEM, intermediates after it) and its private key KEY (PEM). The
    /// node presents it from its next start; the CLI's pinned fingerprint is updated.
    Replace {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
}

/// The options of `signet logs`.
pub struct LogsArgs<'a> {
    pub level: Option<&'a str>,
    pub component: Option<&'a str>,
    pub query: Option<&'a str>,
    pub limit: Option<usize>,
    pub export: bool,
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) from milliseconds since the epoch.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = signet_web::logbook::civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The query string shared by the list and the export.
fn logs_query(args: &LogsArgs<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(l) = args.level {
        parts.push(format!("level={}", path_segment(l)));
    }
    if let Some(c) = args.component {
        parts.push(format!("component={}", path_segment(c)));
    }
    if let Some(q) = args.query {
        parts.push(format!("q={}", path_segment(q)));
    }
    if let Some(n) = args.limit {
        parts.push(format!("limit={n}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// This member's log events, newest first (or, with `--export`, the text file, oldest first).
pub async fn logs(api: ApiClient, args: &LogsArgs<'_>, json_out: bool) -> anyhow::Result<()> {
    let query = logs_query(args);
    if args.export {
        let text = api
            .call_raw(Method::GET, &format!("/api/v1/logs/export{query}"), None)
            .await?;
        use std::io::Write;
        std::io::stdout()
            .write_all(&text)
            .context("writing the log")?;
        return Ok(());
    }
    let v = api.get(&format!("/api/v1/logs{query}")).await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    for e in v["entries"].as_array().into_iter().flatten() {
        println!(
            "{} {:<5} {:<9} {}",
            utc(e["at"].as_u64().unwrap_or(0)),
            e["level"].as_str().unwrap_or(""),
            e["component"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// This member's activity samples as a table: time, messages, CPU use.
pub async fn activity(api: ApiClient, json_out: bool) -> anyhow::Result<()> {
    let v = api.get("/api/v1/activity").await?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    let samples = v["samples"].as_array().cloned().unwrap_or_default();
    println!(
        "member {}, one sample every {} s, {} samples",
        v["node"],
        v["interval_secs"].as_f64().unwrap_or(0.0),
        samples.len()
    );
    println!("{:<19}  {:>8}  {:>5}", "time (UTC)", "messages", "CPU %");
    for x in &samples {
        let cpu = x["cpu_percent"]
            .as_f64()
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<19}  {:>8}  {:>5}",
            utc(x["at"].as_u64().unwrap_or(0)),
            x["messages"].as_u64().unwrap_or(0),
            cpu
        );
    }
    Ok(())
}

fn certificate_text(v: &Value) -> String {
    let names = v["names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "fingerprint (SHA-256): {}\nsubject:     {}\nissuer:      {}\nnames:       {}\nvalid from:  {}\nvalid until: {}",
        v["fingerprint_sha256"].as_str().unwrap_or(""),
        v["subject"].as_str().unwrap_or(""),
        v["issuer"].as_str().unwrap_or(""),
        names,
        utc(v["not_before"].as_u64().unwrap_or(0)),
        utc(v["not_after"].as_u64().unwrap_or(0)),
    )
}

pub async fn certificate(
    api: ApiClient,
    cmd: &CertificateCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let v = match cmd {
        CertificateCmd::Show { pem } => {
            let mut v = api.get("/api/v1/certificates/admin").await?;
            if !json_out {
                println!("{}", certificate_text(&v));
                if *pem {
                    print!("{}", v["pem"].as_str().unwrap_or(""));
                }
                return Ok(());
            }
            if !pem && let Some(o) = v.as_object_mut() {
                o.remove("pem");
            }
            v
        }
        CertificateCmd::Replace { cert, key } => {
            let read = |p: &Path| {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            let body = json!({ "cert_pem": read(cert)?, "key_pem": read(key)? });
            let v = api
                .call(Method::PUT, "/api/v1/certificates/admin", Some(body))
                .await?;
            if !json_out {
                println!("{}", certificate_text(&v["certificate"]));
                if v["restart_needed"] == true {
                    println!("the node presents this certificate from its next start");
                } else {
                    println!("the node presents this certificate to new connections now");
                }
                return Ok(());
            }
            v
        }
    };
    print_json(&v);
    Ok(())
}

/// Downloads backup NAME (a file name from `signet backup list`, with or without `.pgp`) into
/// `output`, reporting progress on stderr while the node sends it.
pub async fn download_backup(
    api: ApiClient,
    name: &str,
    output: &Path,
    json_out: bool,
) -> anyhow::Result<()> {
    let name = name.rsplit('/').next().unwrap_or(name);
    if name.is_empty() {
        bail!("give a backup's file name (see signet backup list)");
    }
    let api = api.with_timeout(Duration::from_secs(1800));
    let start = Instant::now();
    eprintln!("downloading {name} ...");
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await;
        loop {
            tick.tick().await;
            eprintln!("  downloading: {} s", start.elapsed().as_secs());
        }
    });
    let bytes = api
        .call_raw(
            Method::GET,
            &format!("/api/v1/backups/{}", path_segment(name)),
            None,
        )
        .await;
    ticker.abort();
    let bytes = bytes?;
    // The file is encrypted to the Organization Key; still, keep it private to its owner.
    signet_store::datadir::write_private_file(output, &bytes)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "  {:.1} MB in {:.1} s",
        bytes.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let v = json!({ "backup": name, "file": output.display().to_string(), "bytes": bytes.len() });
    if json_out {
        print_json(&v);
    } else {
        println!("wrote {} ({} bytes)", output.display(), bytes.len());
    }
    Ok(())
}
