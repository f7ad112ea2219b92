//! Shared by `signetd` and `signet`: the daemon's configuration, the CLI's connection file, and
//! the API client.

pub mod bench;
pub mod client;
pub mod config;
pub mod daemon;
pub mod dictionary_cli;
pub mod housekeeping;
pub mod keys_cli;
pub mod policy_cli;
