//! The mail path between the spool and delivery (DESIGN.md: listener → spool → **policy →
//! crypto** → delivery). For each received message: read its facts ([`facts`]), ask the
//! policy engine, turn each recipient's plan into a treatment ([`plan`]), find the keys
//! ([`keys`]), transform one copy per group of recipients ([`transform`]), and write bounces
//! from the message templates ([`templates`]). [`service::MailService`] ties it together as the
//! queue's [`signet_smtp::queue::MailPath`].

pub mod annotate;
pub mod archive;
pub mod cache;
pub mod error;
pub mod evaluate;
pub mod facts;
pub mod keys;
pub mod plan;
pub mod search;
pub mod service;
pub mod templates;
pub mod transform;

pub use error::MailError;
pub use service::{MailService, MailSettings};
