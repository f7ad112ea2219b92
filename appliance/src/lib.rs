//! Shared by `signetd` and `signet`: the daemon's configuration, the CLI's connection file, and
//! the API client.

pub mod admin_cli;
pub mod bench;
pub mod client;
pub mod config;
pub mod daemon;
pub mod dictionary_cli;
pub mod housekeeping;
pub mod keycache_cli;
pub mod keys_cli;
pub mod keyserver;
pub mod keyserver_cli;
pub mod mail;
pub mod mail_cli;
pub mod mail_supervisor;
pub mod notify;
pub mod policy_cli;
pub mod public_web;
pub mod queue_cli;
pub mod route_cli;
pub mod system_cli;
pub mod template_cli;
pub mod update_cli;
pub mod vd;
pub mod vd_cli;
