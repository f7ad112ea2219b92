//! `signet`: the administrator's command line, over a node's REST API.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hyper::Method;
use serde_json::{Value, json};
use signet_appliance::client::{ApiClient, CliFile};

#[derive(Parser)]
#[command(name = "signet", version, about = "Administer a Signet cluster")]
struct Cli {
    /// The node's data directory, holding cli.json (default ./signet-data).
    #[arg(long, global = true, env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Cluster membership.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Managed domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Internal and external users.
    #[command(subcommand)]
    User(UserCmd),
    /// Learn Mode: process and log mail as policy says, but deliver it unchanged.
    LearnMode {
        #[arg(value_parser = ["on", "off", "status"])]
        action: String,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Set up a new server: managed domains, Organization Key and Certificate, Learn Mode on.
    Setup {
        /// A managed domain (repeat for several).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Organization Key algorithm: cv25519 (default), rsa2048, rsa3072, rsa4096.
        #[arg(long)]
        algorithm: Option<String>,
        /// Import this Organization Key (armored key pair) instead of generating one.
        #[arg(long)]
        import_organization_key: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Do not make a self-signed Organization Certificate.
        #[arg(long)]
        no_certificate: bool,
    },
    /// The organization's keys and certificates.
    #[command(subcommand)]
    Org(signet_appliance::keys_cli::OrgCmd),
    /// Users' keys.
    #[command(subcommand)]
    Key(signet_appliance::keys_cli::KeyCmd),
    /// Ignition Keys: members with one boot locked.
    #[command(subcommand)]
    Ignition(signet_appliance::keys_cli::IgnitionCmd),
    /// Unlock this member with an Ignition Key passphrase or the Organization Key.
    Unlock {
        /// The Organization Key (exported key pair) instead of a passphrase.
        #[arg(long)]
        organization_key: Option<PathBuf>,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Dictionaries that policy rules match against.
    #[command(subcommand)]
    Dictionary(signet_appliance::dictionary_cli::DictionaryCmd),
    /// Mail policy chains.
    #[command(subcommand)]
    Policy(signet_appliance::policy_cli::PolicyCmd),
    /// This member's mail queue: list, delete, retry.
    #[command(subcommand)]
    Queue(signet_appliance::queue_cli::QueueCmd),
    /// Keyservers for key lookup (replicated): list, add, remove, order.
    #[command(subcommand)]
    Keyserver(signet_appliance::keyserver_cli::KeyserverCmd),
    /// This node's static mail routes: list, add, remove.
    #[command(subcommand)]
    Route(signet_appliance::route_cli::RouteCmd),
    /// This node's mail settings, SMTP proxies and archive servers (applied without a restart).
    #[command(subcommand)]
    Mail(signet_appliance::mail_cli::MailCmd),
    /// Message templates: list, show, set, revert.
    #[command(subcommand)]
    Template(signet_appliance::template_cli::TemplateCmd),
    /// The Verified Directory: settings, list, approve, reject, remove.
    #[command(subcommand)]
    Vd(signet_appliance::vd_cli::VdCmd),
    /// Administrators: list, add, remove, set-role, passphrase, unlock, settings.
    #[command(subcommand)]
    Admin(signet_appliance::admin_cli::AdminCmd),
    /// This member's audit log of administrative changes, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only entries whose login, method, path or summary contain this.
        #[arg(long)]
        query: Option<String>,
    },
    /// The key cache: cached recipients' keys, purge, trust, timeout, keyserver lookup.
    #[command(subcommand)]
    Keycache(signet_appliance::keycache_cli::KeycacheCmd),
    /// Trusted keys and certificates from outside the organization.
    #[command(subcommand)]
    Trusted(signet_appliance::keys_cli::TrustedCmd),
    /// Backups: create, list, schedule, restore.
    #[command(subcommand)]
    Backup(signet_appliance::keys_cli::BackupCmd),
    /// Appliance updates: verify a signed update file, apply it to the inactive root slot.
    #[command(subcommand)]
    Update(signet_appliance::update_cli::UpdateCmd),
    /// This member's log, newest first; --export prints the text file (oldest first).
    Logs {
        /// error, warn, info, debug or trace: that level and the more severe ones.
        #[arg(long)]
        level: Option<String>,
        /// mail, keyserver, admin, cluster or system.
        #[arg(long)]
        component: Option<String>,
        /// Only events containing this text (case-insensitive).
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        export: bool,
    },
    /// This member's activity samples (messages and CPU use) of the last 24 hours.
    Activity,
    /// The admin port's certificate: show, replace.
    #[command(subcommand)]
    Certificate(signet_appliance::system_cli::CertificateCmd),
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Members, and whether this server participates in a cluster.
    Status,
    /// Issue a one-time token another server uses to join this cluster.
    Token {
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
    /// Join the cluster that issued TOKEN. This server's own data is erased.
    Join { token: String },
    /// Contact a server waiting in its setup assistant (Join a cluster) and hand it a join
    /// token sealed under its setup code (shown on its console). ADDRESS is its admin address,
    /// host or host:port (port 9000 when left out).
    Contact {
        address: String,
        #[arg(long)]
        setup_code: String,
    },
    /// Remove a member; it then runs standalone.
    Remove { node_id: u64 },
}

#[derive(Subcommand)]
enum DomainCmd {
    Add { name: String },
    List,
    Remove { name: String },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; internal or external follows from the managed domains unless given.
    Add {
        email: String,
        #[arg(long, conflicts_with = "internal")]
        external: bool,
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        name: Option<String>,
        /// SKM (default for internal users), SCKM, CKM or GKM.
        #[arg(long)]
        key_mode: Option<String>,
        /// For generated keys: cv25519 (default), rsa2048, rsa3072, rsa4096.
        #[arg(long)]
        algorithm: Option<String>,
        /// The user's own key (armored), for CKM, GKM, SCKM or an imported SKM key.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Add the user without a key.
        #[arg(long)]
        no_key: bool,
    },
    List,
    Show {
        email: String,
    },
    Remove {
        email: String,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Committed writes/s and latency on a 3-member loopback cluster, and failover time.
    Raft(signet_appliance::bench::RaftBenchArgs),
    /// Encrypt+sign and decrypt+verify messages/s on one core, beside one gpg/openssl process
    /// per message.
    Crypto(signet_appliance::bench::crypto::CryptoBenchArgs),
    /// Mail-policy decisions/s on one core (factory and a 200-rule policy), beside the cost of
    /// parsing the message into facts.
    Policy(signet_appliance::bench::policy::PolicyBenchArgs),
    /// The admin UI's users page over N internal users (first page, middle page, search),
    /// beside the bare API call for the same page.
    AdminUi(signet_appliance::bench::admin_ui::AdminUiBenchArgs),
    /// smtp-source -> Signet outbound (encrypt + sign) -> sink: messages/s and added latency,
    /// beside Postfix relaying in clear.
    Mail(signet_appliance::bench::mail::MailBenchArgs),
    /// HKP op=get lookups/s by email and by fingerprint over N keys, keep-alive clients.
    Hkp(signet_appliance::bench::hkp::HkpBenchArgs),
    /// LDAP lookups/s by email, Signet beside slapd with the same keys; directory memory.
    Keyserver(signet_appliance::bench::keyserver::KeyserverBenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signet: error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signet: error: {}", signet_appliance::daemon::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn data_dir(cli: &Cli) -> PathBuf {
    cli.data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("signet-data"))
}

fn client(cli: &Cli) -> anyhow::Result<ApiClient> {
    ApiClient::from_file(&CliFile::read(&data_dir(cli))?)
}

fn print(json_out: bool, value: &Value, text: impl FnOnce(&Value) -> String) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        let t = text(value);
        if !t.is_empty() {
            println!("{t}");
        }
    }
}

fn enc(segment: &str) -> String {
    signet_appliance::client::path_segment(segment)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let j = cli.json;
    match &cli.command {
        Top::Bench(BenchCmd::Raft(args)) => signet_appliance::bench::raft(args.clone()).await,
        Top::Bench(BenchCmd::Crypto(args)) => {
            signet_appliance::bench::crypto::run(args.clone()).await
        }
        Top::Bench(BenchCmd::Policy(args)) => {
            signet_appliance::bench::policy::run(args.clone()).await
        }
        Top::Bench(BenchCmd::AdminUi(args)) => {
            signet_appliance::bench::admin_ui::run(args.clone()).await
        }
        Top::Bench(BenchCmd::Mail(args)) => signet_appliance::bench::mail::run(args.clone()).await,
        Top::Bench(BenchCmd::Hkp(args)) => signet_appliance::bench::hkp::run(args.clone()).await,
        Top::Bench(BenchCmd::Keyserver(args)) => {
            signet_appliance::bench::keyserver::run(args.clone()).await
        }
        Top::Cluster(cmd) => cluster(&cli, cmd).await,
        Top::Setup {
            domains,
            algorithm,
            import_organization_key,
            passphrase_file,
            no_certificate,
        } => {
            let v = signet_appliance::keys_cli::setup(
                client(&cli)?,
                domains,
                algorithm.as_deref(),
                import_organization_key.as_deref(),
                passphrase_file.as_deref(),
                *no_certificate,
            )
            .await?;
            print(j, &v, |v| {
                format!(
                    "set up {}\nOrganization Key:         {}\nOrganization Certificate: {}\nLearn Mode is on: turn it off when policy is ready (signet learn-mode off)",
                    v["managed_domains"],
                    v["organization_key"].as_str().unwrap_or("-"),
                    v["organization_certificate"].as_str().unwrap_or("-"),
                )
            });
            Ok(())
        }
        Top::Org(cmd) => signet_appliance::keys_cli::org(client(&cli)?, cmd, j).await,
        Top::Key(cmd) => signet_appliance::keys_cli::key(client(&cli)?, cmd, j).await,
        Top::Ignition(cmd) => signet_appliance::keys_cli::ignition(client(&cli)?, cmd).await,
        Top::Unlock {
            organization_key,
            passphrase_file,
        } => {
            signet_appliance::keys_cli::unlock(
                client(&cli)?,
                organization_key.as_deref(),
                passphrase_file.as_deref(),
            )
            .await
        }
        Top::Dictionary(cmd) => signet_appliance::dictionary_cli::run(client(&cli)?, cmd, j).await,
        Top::Policy(cmd) => signet_appliance::policy_cli::run(client(&cli)?, cmd, j).await,
        Top::Queue(cmd) => signet_appliance::queue_cli::run(client(&cli)?, cmd, j).await,
        Top::Template(cmd) => signet_appliance::template_cli::run(client(&cli)?, cmd, j).await,
        Top::Keyserver(cmd) => signet_appliance::keyserver_cli::run(client(&cli)?, cmd, j).await,
        Top::Route(cmd) => signet_appliance::route_cli::run(client(&cli)?, cmd, j).await,
        Top::Mail(cmd) => signet_appliance::mail_cli::run(client(&cli)?, cmd, j).await,
        Top::Vd(cmd) => signet_appliance::vd_cli::run(client(&cli)?, cmd, j).await,
        Top::Admin(cmd) => signet_appliance::admin_cli::run(client(&cli)?, cmd, j).await,
        Top::Audit { limit, query } => {
            signet_appliance::admin_cli::audit(client(&cli)?, *limit, query.as_deref(), j).await
        }
        Top::Keycache(cmd) => signet_appliance::keycache_cli::run(client(&cli)?, cmd, j).await,
        Top::Trusted(cmd) => signet_appliance::keys_cli::trusted(client(&cli)?, cmd, j).await,
        Top::Backup(cmd) => signet_appliance::keys_cli::backup(client(&cli)?, cmd, j).await,
        Top::Update(cmd) => signet_appliance::update_cli::run(cmd),
        Top::Logs {
            level,
            component,
            query,
            limit,
            export,
        } => {
            let args = signet_appliance::system_cli::LogsArgs {
                level: level.as_deref(),
                component: component.as_deref(),
                query: query.as_deref(),
                limit: *limit,
                export: *export,
            };
            signet_appliance::system_cli::logs(client(&cli)?, &args, j).await
        }
        Top::Activity => signet_appliance::system_cli::activity(client(&cli)?, j).await,
        Top::Certificate(cmd) => {
            signet_appliance::system_cli::certificate(client(&cli)?, cmd, j).await
        }
        Top::Domain(cmd) => {
            let api = client(&cli)?;
            match cmd {
                DomainCmd::Add { name } => {
                    let v = api.post("/api/v1/domains", json!({ "name": name })).await?;
                    print(j, &v, |v| {
                        format!("added managed domain {}", v["name"].as_str().unwrap_or(""))
                    });
                }
                DomainCmd::List => {
                    let v = api.get("/api/v1/domains").await?;
                    print(j, &v, |v| names(v, "name"));
                }
                DomainCmd::Remove { name } => {
                    let v = api
                        .call(
                            Method::DELETE,
                            &format!("/api/v1/domains/{}", enc(name)),
                            None,
                        )
                        .await?;
                    print(j, &v, |_| format!("removed managed domain {name}"));
                }
            }
            Ok(())
        }
        Top::User(cmd) => {
            let api = client(&cli)?;
            match cmd {
                UserCmd::Add {
                    email,
                    external,
                    internal,
                    name,
                    key_mode,
                    algorithm,
                    key_file,
                    no_key,
                } => {
                    let key = match key_file {
                        Some(f) => Some(
                            std::fs::read_to_string(f)
                                .with_context(|| format!("reading {}", f.display()))?,
                        ),
                        None => None,
                    };
                    let kind = if *external {
                        json!("external")
                    } else if *internal {
                        json!("internal")
                    } else {
                        Value::Null
                    };
                    let v = api
                        .post(
                            "/api/v1/users",
                            json!({
                                "email": email, "kind": kind, "display_name": name,
                                "key_mode": key_mode, "algorithm": algorithm, "key": key,
                                "no_key": no_key,
                            }),
                        )
                        .await?;
                    print(j, &v, |v| {
                        format!(
                            "added {} user {}",
                            v["kind"].as_str().unwrap_or(""),
                            v["email"].as_str().unwrap_or("")
                        )
                    });
                }
                UserCmd::List => {
                    let v = api.get("/api/v1/users").await?;
                    print(j, &v, |v| {
                        v.as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|u| {
                                        format!(
                                            "{:<40} {}",
                                            u["email"].as_str().unwrap_or(""),
                                            u["kind"].as_str().unwrap_or("")
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            })
                            .unwrap_or_default()
                    });
                }
                UserCmd::Show { email } => {
                    let v = api.get(&format!("/api/v1/users/{}", enc(email))).await?;
                    print(j, &v, |v| {
                        format!(
                            "email: {}\nkind:  {}\nname:  {}\nkeys:  {}",
                            v["email"].as_str().unwrap_or(""),
                            v["kind"].as_str().unwrap_or(""),
                            v["display_name"].as_str().unwrap_or("-"),
                            v["keys"].as_array().map(Vec::len).unwrap_or(0)
                        )
                    });
                }
                UserCmd::Remove { email } => {
                    let v = api
                        .call(
                            Method::DELETE,
                            &format!("/api/v1/users/{}", enc(email)),
                            None,
                        )
                        .await?;
                    print(j, &v, |_| format!("removed user {email}"));
                }
            }
            Ok(())
        }
        Top::LearnMode { action } => {
            let api = client(&cli)?;
            let v = match action.as_str() {
                "on" => {
                    api.call(
                        Method::PUT,
                        "/api/v1/settings/learn-mode",
                        Some(json!({ "learn_mode": true })),
                    )
                    .await?
                }
                "off" => {
                    api.call(
                        Method::PUT,
                        "/api/v1/settings/learn-mode",
                        Some(json!({ "learn_mode": false })),
                    )
                    .await?
                }
                _ => api.get("/api/v1/settings/learn-mode").await?,
            };
            print(j, &v, |v| {
                format!(
                    "Learn Mode is {}",
                    if v["learn_mode"].as_bool() == Some(true) {
                        "on"
                    } else {
                        "off"
                    }
                )
            });
            Ok(())
        }
    }
}

fn names(v: &Value, field: &str) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[field].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn cluster(cli: &Cli, cmd: &ClusterCmd) -> anyhow::Result<()> {
    let j = cli.json;
    let api = client(cli)?;
    match cmd {
        ClusterCmd::Status => {
            let v = api.get("/api/v1/cluster").await?;
            print(j, &v, status_text);
        }
        ClusterCmd::Token { ttl_secs } => {
            let v = api
                .post("/api/v1/cluster/tokens", json!({ "ttl_secs": ttl_secs }))
                .await?;
            print(j, &v, |v| v["token"].as_str().unwrap_or("").to_string());
        }
        ClusterCmd::Join { token } => {
            let v = api
                .post("/api/v1/cluster/join", json!({ "token": token }))
                .await?;
            let member = v["node_id"].as_u64().unwrap_or(0);
            eprintln!(
                "join accepted: this server is member {member} of cluster {}; erasing its old data and restarting",
                v["cluster_id"].as_str().unwrap_or("")
            );
            let status = wait_until_voter(&data_dir(cli), member).await?;
            print(j, &status, |s| format!("joined: {}", status_text(s)));
        }
        ClusterCmd::Contact {
            address,
            setup_code,
        } => {
            let v = api
                .post(
                    "/api/v1/cluster/contact",
                    json!({ "address": address, "setup_code": setup_code }),
                )
                .await?;
            print(j, &v, |v| {
                format!(
                    "{} is joining; `signet cluster status` lists it once it has caught up",
                    v["address"].as_str().unwrap_or("")
                )
            });
        }
        ClusterCmd::Remove { node_id } => {
            let v = api
                .call(
                    Method::DELETE,
                    &format!("/api/v1/cluster/members/{node_id}"),
                    None,
                )
                .await?;
            print(j, &v, |_| {
                format!("removed member {node_id}; it now runs standalone")
            });
        }
    }
    Ok(())
}

/// After a join the node restarts with a new CLI token; poll until it is a voting member.
async fn wait_until_voter(dir: &std::path::Path, member: u64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = String::new();
    loop {
        let attempt = async {
            let api = ApiClient::from_file(&CliFile::read(dir)?)?;
            api.get("/api/v1/cluster").await
        };
        match attempt.await {
            Ok(s) => {
                let voter = s["members"].as_array().is_some_and(|m| {
                    m.iter().any(|x| {
                        x["node_id"].as_u64() == Some(member) && x["voter"].as_bool() == Some(true)
                    })
                });
                if voter && s["pending"].is_null() && s["node_id"].as_u64() == Some(member) {
                    return Ok(s);
                }
                let phase = if s["members"].as_array().is_none_or(|m| m.is_empty()) {
                    "waiting for the sponsor"
                } else {
                    "replicating"
                };
                if phase != last {
                    eprintln!("{phase}...");
                    last = phase.to_string();
                }
            }
            Err(_) if Instant::now() < deadline => {}
            Err(e) => return Err(e).context("the node did not come back after the join"),
        }
        if Instant::now() >= deadline {
            bail!("the join did not finish within 300 s; see the node's log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_text(v: &Value) -> String {
    let mut out = String::new();
    if v["standalone"].as_bool() == Some(true) {
        out.push_str("This server is not participating in a cluster.\n");
    }
    out.push_str(&format!(
        "cluster {}  this member: {}{}\n",
        v["cluster_id"].as_str().unwrap_or(""),
        v["node_id"],
        v["pending"]
            .as_str()
            .map(|p| format!("  (finishing {p})"))
            .unwrap_or_default()
    ));
    for m in v["members"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  member {:<4} {:<8} cluster {:<22} admin {}\n",
            m["node_id"],
            if m["voter"].as_bool() == Some(true) {
                "voter"
            } else {
                "learner"
            },
            m["cluster_addr"].as_str().unwrap_or(""),
            m["api_addr"].as_str().unwrap_or("")
        ));
    }
    out.trim_end().to_string()
}
