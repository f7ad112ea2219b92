//! `signetd`: a Signet cluster member. With no arguments it runs a one-member cluster on the
//! embedded default (data in ./signet-data, admin API on https://127.0.0.1:19000).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use signet_appliance::config::{DaemonConfig, Overrides};
use signet_appliance::daemon::{self, Exit, one_line};

#[derive(Parser)]
#[command(
    name = "signetd",
    version,
    about = "Signet email-encryption gateway: one cluster member"
)]
struct Args {
    /// Data directory (default ./signet-data).
    #[arg(long, env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see docs/configuration.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Admin API and UI listen address (default 127.0.0.1:19000).
    #[arg(long)]
    listen_admin: Option<SocketAddr>,
    /// Member RPC listen address (default 127.0.0.1:10444).
    #[arg(long)]
    listen_cluster: Option<SocketAddr>,
    /// Address other members use to reach this one (default: the cluster listen address).
    #[arg(long)]
    advertise_cluster: Option<String>,
}

fn main() -> std::process::ExitCode {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The console gets what SIGNET_LOG asks for; the log book (the admin UI's Logs page) keeps
    // the same events in memory.
    let logbook = std::sync::Arc::new(signet_web::logbook::LogBook::default());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,openraft=warn,sled=warn")
            }),
        )
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(logbook.layer())
        .init();
    let args = Args::parse();
    let overrides = Overrides {
        config: args.config,
        data_dir: args.data_dir,
        listen_admin: args.listen_admin,
        listen_cluster: args.listen_cluster,
        advertise_cluster: args.advertise_cluster,
    };
    let result = DaemonConfig::resolve(&overrides).and_then(|config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(daemon::run(config, logbook))
    });
    match result {
        Ok(Exit::Stopped) => std::process::ExitCode::SUCCESS,
        Ok(Exit::Restart) => restart(),
        Err(e) => {
            eprintln!("signetd: error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Replaces this process with a fresh copy of itself, same arguments, same PID.
fn restart() -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let err = match exe {
        Ok(exe) => std::process::Command::new(exe).args(args).exec(),
        Err(e) => e,
    };
    eprintln!("signetd: error: cannot restart: {err}");
    std::process::ExitCode::FAILURE
}
