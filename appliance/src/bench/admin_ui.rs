//! `signet bench admin-ui`: how fast the admin UI's users page is with a large directory.
//!
//! Fills a one-member store (in this process) with `--users` internal users, each holding a
//! copy of one real OpenPGP key, then times requests through the real admin router: the
//! Internal users page (first page, a page deep in the list, and a search), each beside the
//! bare API call that returns the same page as JSON (the baseline: what the page costs on top
//! of the data). Prints p50/p95 in milliseconds and the page/API ratio.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sha2::{Digest, Sha256};
use signet_crypto::openpgp::{self, KeyAlgorithm};
use signet_model::{
    AdminRole, Administrator, ApiToken, Consumer, ConsumerKind, EmailAddress, KeyMode, ManagedKey,
};
use signet_store::{Command, Node, NodeOptions, RaftTuning, now_millis};
use tower::ServiceExt;

#[derive(Debug, Clone, clap::Args)]
pub struct AdminUiBenchArgs {
    /// Internal users in the store.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Timed requests per case (after two untimed ones).
    #[arg(long, default_value_t = 40)]
    pub requests: usize,
    /// Keep the store in this directory instead of a temporary one.
    #[arg(long)]
    pub keep_dir: Option<PathBuf>,
}

const DOMAIN: &str = "bench.example";
/// Writes in flight while filling the store (the store batches them).
const FILL_CONCURRENCY: usize = 256;

pub async fn run(args: AdminUiBenchArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let root = args
        .keep_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    eprintln!(
        "signet bench admin-ui: {} users, {} requests per case; {}",
        args.users,
        args.requests,
        super::machine()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let node = Node::start(NodeOptions {
        data_dir: root.join("m1"),
        cluster_listen: ([127, 0, 0, 1], port).into(),
        cluster_advertise: format!("127.0.0.1:{port}"),
        api_advertise: "-".into(),
        tuning: RaftTuning::default(),
    })
    .await?
    .node;
    node.read()
        .await
        .context("the member did not become ready")?;
    let token = fill(&node, args.users).await?;

    let state = signet_web::AppState {
        node: node.clone(),
        mail_queue: None,
        sessions: Default::default(),
        logbook: Default::default(),
        activity: Default::default(),
        setup: Default::default(),
        facts: Default::default(),
        admin_identity: None,
        notifier: None,
    };
    let session = state.sessions.start("bench", false);
    let router = signet_web::router(state);
    let cookie = format!("{}={}", signet_web::session::SESSION_COOKIE, session.token);
    let bearer = format!("Bearer {token}");

    let deep = (args.users / 2 / PAGE).max(1) + 1;
    let cases = [
        (
            "first page",
            "/consumers/internal".to_string(),
            "/api/v1/users?kind=internal&offset=0&limit=50&q=".to_string(),
        ),
        (
            "middle page",
            format!("/consumers/internal?page={deep}"),
            format!(
                "/api/v1/users?kind=internal&offset={}&limit=50&q=",
                (deep - 1) * PAGE
            ),
        ),
        (
            "search",
            "/consumers/internal?q=user4242".to_string(),
            "/api/v1/users?kind=internal&offset=0&limit=50&q=user4242".to_string(),
        ),
    ];
    let mut rows = Vec::new();
    for (label, page, api) in &cases {
        eprintln!("  {label}: page {page}");
        let page_ms = time(&router, page, header::COOKIE, &cookie, args.requests).await?;
        eprintln!("  {label}: API {api}");
        let api_ms = time(&router, api, header::AUTHORIZATION, &bearer, args.requests).await?;
        rows.push((label, page_ms, api_ms));
    }
    node.shutdown().await;

    println!();
    println!(
        "admin UI users page, {} internal users (one-member store, in-process router)",
        args.users
    );
    println!(
        "| case | page p50 ms | page p95 ms | API p50 ms (baseline) | API p95 ms | ratio p50 page/API |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, page, api) in &rows {
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
            page.0,
            page.1,
            api.0,
            api.1,
            page.0 / api.0.max(1e-6)
        );
    }
    Ok(())
}

/// Users a page shows (the UI's page size).
const PAGE: usize = 50;

/// Makes the managed domain, the benchmark administrator (returns its API token) and `users`
/// internal users, each with a copy of one real key.
async fn fill(node: &Arc<Node>, users: usize) -> anyhow::Result<String> {
    let started = Instant::now();
    let token = hex::encode(rand::random::<[u8; 32]>());
    node.execute(Command::AddAdministrator {
        admin: Administrator {
            login: "bench".into(),
            role: AdminRole::SuperUser,
            email: None,
            api_tokens: vec![ApiToken {
                label: "bench".into(),
                sha256_hex: hex::encode(Sha256::digest(token.as_bytes())),
                created_at: now_millis(),
            }],
            created_at: now_millis(),
            passphrase: None,
            failed_logins: Default::default(),
        },
    })
    .await?;
    node.execute(Command::AddManagedDomain {
        name: DOMAIN.into(),
        at: now_millis(),
    })
    .await?;
    let cert =
        openpgp::generate_user_key("template@bench.example", None, KeyAlgorithm::Cv25519, None)?;
    let public = openpgp::binary_public(&openpgp::public_only(&cert))?;
    let fingerprint = openpgp::KeyInfo::of(&cert).fingerprint;
    let public = Arc::new(public);
    let mut next = 0usize;
    let mut in_flight = tokio::task::JoinSet::new();
    let mut last_report = Instant::now();
    while next < users || !in_flight.is_empty() {
        while next < users && in_flight.len() < FILL_CONCURRENCY {
            let i = next;
            next += 1;
            let node = node.clone();
            let public = public.clone();
            let fingerprint = fingerprint.clone();
            in_flight.spawn(async move {
                let consumer = Consumer {
                    email: EmailAddress::parse(&format!("user{i}@{DOMAIN}"))?,
                    kind: ConsumerKind::Internal,
                    display_name: Some(format!("Bench User {i}")),
                    keys: vec![ManagedKey {
                        fingerprint,
                        mode: KeyMode::Ckm,
                        public: public.as_ref().clone(),
                        secret: None,
                        smime: None,
                        created_at: now_millis(),
                        revoked_at: None,
                        adk_fingerprint: None,
                    }],
                    created_at: now_millis(),
                };
                node.execute(Command::AddConsumer { consumer }).await?;
                anyhow::Ok(())
            });
        }
        if let Some(done) = in_flight.join_next().await {
            done??;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  filling: {next} of {users} users");
            last_report = Instant::now();
        }
    }
    eprintln!(
        "  filled {users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(token)
}

/// Two untimed requests, then `n` timed ones; (p50, p95) in milliseconds.
async fn time(
    router: &axum::Router,
    path: &str,
    auth: header::HeaderName,
    value: &str,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 2 {
        let request = Request::builder()
            .uri(path)
            .header(&auth, value)
            .body(Body::empty())?;
        let t = Instant::now();
        let response = match router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await?;
        let elapsed = t.elapsed();
        if status != StatusCode::OK {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        if i >= 2 {
            samples.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    Ok((pct(0.50), pct(0.95)))
}
