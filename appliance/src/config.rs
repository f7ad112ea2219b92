//! `signetd` configuration: built-in defaults (the embedded development default: appliance ports
//! + 10000, data in ./signet-data), then a TOML file, then command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use signet_store::RaftTuning;

/// Added to every standard appliance port in the embedded default, so a node runs unprivileged
/// next to a real MTA: admin 9000 -> 19000, cluster 444 -> 10444, SMTP 25 -> 10025, ...
pub const DEV_PORT_OFFSET: u16 = 10000;
pub const ADMIN_PORT: u16 = 9000;
pub const CLUSTER_PORT: u16 = 444;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: ListenConfig,
    pub advertise: AdvertiseConfig,
    pub raft: RaftTuning,
    pub mail: crate::mail::MailConfig,
    pub public_web: crate::public_web::PublicWebConfig,
    pub keyserver: crate::keyserver::KeyserverConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    pub admin: Option<SocketAddr>,
    pub cluster: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvertiseConfig {
    /// `host:port` other members use to reach this one; defaults to the cluster listen address.
    pub cluster: Option<String>,
    /// `host:port` administrators use for this member's API; defaults to the admin listen address.
    pub admin: Option<String>,
}

/// The resolved settings a daemon runs with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_dir: PathBuf,
    pub admin_listen: SocketAddr,
    pub cluster_listen: SocketAddr,
    pub admin_advertise: String,
    pub cluster_advertise: String,
    pub raft: RaftTuning,
    /// The member's mail proxies, queue and routes (node-local).
    pub mail: crate::mail::MailConfig,
    /// The member's public HTTP keyserver listeners (node-local).
    pub public_web: crate::public_web::PublicWebConfig,
    /// The member's LDAP/LDAPS keyserver listeners (node-local).
    pub keyserver: crate::keyserver::KeyserverConfig,
}

/// Command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen_admin: Option<SocketAddr>,
    pub listen_cluster: Option<SocketAddr>,
    pub advertise_cluster: Option<String>,
}

impl DaemonConfig {
    pub fn resolve(o: &Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("{} is not a valid configuration", path.display()))?
            }
            None => FileConfig::default(),
        };
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port + DEV_PORT_OFFSET));
        let admin_listen = o
            .listen_admin
            .or(file.listen.admin)
            .unwrap_or(loopback(ADMIN_PORT));
        let cluster_listen = o
            .listen_cluster
            .or(file.listen.cluster)
            .unwrap_or(loopback(CLUSTER_PORT));
        let t = &file.raft;
        if t.election_timeout_min_ms <= t.heartbeat_ms
            || t.election_timeout_max_ms <= t.election_timeout_min_ms
        {
            anyhow::bail!(
                "[raft] needs heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms"
            );
        }
        let mut mail = file.mail;
        if o.config.is_none() && mail.setup_listen.is_none() {
            // The embedded development default: the setup assistant's proxy on loopback.
            mail.setup_listen = Some(loopback(25));
        }
        Ok(DaemonConfig {
            data_dir: o
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("signet-data")),
            admin_advertise: file
                .advertise
                .admin
                .unwrap_or_else(|| admin_listen.to_string()),
            cluster_advertise: o
                .advertise_cluster
                .clone()
                .or(file.advertise.cluster)
                .unwrap_or_else(|| cluster_listen.to_string()),
            admin_listen,
            cluster_listen,
            raft: file.raft,
            mail,
            public_web: file.public_web,
            keyserver: file.keyserver,
        })
    }
}
