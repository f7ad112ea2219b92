//! SMTP for Signet's mail path. The mail path flows one way: a proxy's listener ([`server`])
//! → the durable [`spool`] → policy and crypto (outside this crate, behind the
//! [`queue::MailPath`] trait) → delivery ([`queue`], [`delivery`], [`client`], [`routes`]).
//!
//! This crate knows SMTP, files and sockets; it knows nothing of policy or keys.

pub mod access;
pub mod auth;
pub mod client;
pub mod connections;
pub mod delivery;
pub mod error;
pub mod mail_server_auth;
pub mod queue;
pub mod reply;
pub mod routes;
pub mod server;
pub mod session;
pub mod spool;

pub use error::{DeliveryError, SpoolError};
