//! `signet vd`: the Verified Directory (guide: Services > Verified Directory, Consumers >
//! Verified Directory Users): show or change its settings, list submitted keys, approve,
//! reject, remove.

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Map, Value, json};

use crate::client::{ApiClient, path_segment};

#[derive(Subcommand)]
pub enum VdCmd {
    /// Show the settings, or change those given (enabling makes the Verified Directory Key).
    Settings(SettingsArgs),
    /// Submitted keys, optionally only those with a user ID in one state.
    List {
        /// pending-confirmation | pending-approval | published | delete-pending
        #[arg(long)]
        state: Option<String>,
    },
    /// Publish a key's confirmed user IDs (Manual vetting).
    Approve { fingerprint: String },
    /// Deny a key's pending user IDs (a key left with nothing published is removed).
    Reject { fingerprint: String },
    /// Remove a key from the Verified Directory.
    Remove { fingerprint: String },
}

#[derive(Args)]
pub struct SettingsArgs {
    #[arg(long)]
    enable: bool,
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    #[arg(long)]
    pause: bool,
    #[arg(long, conflicts_with = "pause")]
    resume: bool,
    /// manual | automatic
    #[arg(long)]
    vetting: Option<String>,
    #[arg(long)]
    token_validity_hours: Option<u32>,
    #[arg(long)]
    resend_interval_hours: Option<u32>,
    #[arg(long)]
    signature_validity_days: Option<u32>,
    #[arg(long)]
    max_search_results: Option<u32>,
    /// The URL links in mail point to ("" clears it).
    #[arg(long)]
    public_url: Option<String>,
    /// The From address of Verified Directory mail ("" clears it).
    #[arg(long)]
    sender_address: Option<String>,
}

impl SettingsArgs {
    fn body(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if self.enable || self.disable {
            m.insert("enabled".into(), json!(self.enable));
        }
        if self.pause || self.resume {
            m.insert("paused".into(), json!(self.pause));
        }
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("vetting", self.vetting.as_ref().map(|v| json!(v)));
        put(
            "token_validity_hours",
            self.token_validity_hours.map(|v| json!(v)),
        );
        put(
            "resend_interval_hours",
            self.resend_interval_hours.map(|v| json!(v)),
        );
        put(
            "signature_validity_days",
            self.signature_validity_days.map(|v| json!(v)),
        );
        put(
            "max_search_results",
            self.max_search_results.map(|v| json!(v)),
        );
        put("public_url", self.public_url.as_ref().map(|v| json!(v)));
        put(
            "sender_address",
            self.sender_address.as_ref().map(|v| json!(v)),
        );
        m
    }
}

const BASE: &str = "/api/v1/verified-directory";

pub async fn run(api: ApiClient, cmd: &VdCmd, json_out: bool) -> anyhow::Result<()> {
    let key = |f: &str| format!("{BASE}/keys/{}", path_segment(f));
    let v = match cmd {
        VdCmd::Settings(args) => {
            let body = args.body();
            if body.is_empty() {
                api.get(&format!("{BASE}/settings")).await?
            } else {
                api.call(
                    Method::PUT,
                    &format!("{BASE}/settings"),
                    Some(Value::Object(body)),
                )
                .await?
            }
        }
        VdCmd::List { state } => {
            let path = match state {
                Some(s) => format!("{BASE}/keys?state={}", path_segment(s)),
                None => format!("{BASE}/keys"),
            };
            let v = api.get(&path).await?;
            if !json_out {
                for k in v.as_array().into_iter().flatten() {
                    let uids: Vec<String> = k["user_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|u| {
                            format!(
                                "{} [{}]",
                                u["user_id"].as_str().unwrap_or(""),
                                u["state"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    println!(
                        "{}  {:<21} {}",
                        k["fingerprint"].as_str().unwrap_or(""),
                        k["state"].as_str().unwrap_or("-"),
                        uids.join("; ")
                    );
                }
                return Ok(());
            }
            v
        }
        VdCmd::Approve { fingerprint } => {
            api.post(&format!("{}/approve", key(fingerprint)), json!({}))
                .await?
        }
        VdCmd::Reject { fingerprint } => {
            api.post(&format!("{}/reject", key(fingerprint)), json!({}))
                .await?
        }
        VdCmd::Remove { fingerprint } => api.call(Method::DELETE, &key(fingerprint), None).await?,
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
