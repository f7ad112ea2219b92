//! Signet's mail policy engine (guide §14–§15).
//!
//! The crate decides and never does IO: callers hand it facts about one message through the
//! traits in [`facts`] and get back a [`eval::Plan`] (what to do, per recipient) and a
//! [`eval::Trace`] (which rule fired and why), which Learn Mode logs instead of acting on.
//!
//! - [`model`]: chains, rules, condition trees, actions (serde, postcard-friendly).
//! - [`validate`]: errors for rules the engine cannot evaluate, warnings for rules it can but
//!   that probably do not do what the administrator meant.
//! - [`modifier`]: the case-insensitive matching behind every condition modifier.
//! - [`facts`]: the traits the engine reads the world through.
//! - [`eval`]: per-recipient chain evaluation: its semantics, input, plan and trace.
//! - [`prepared`]: the evaluator, over a policy compiled once ([`prepared::PreparedPolicy`]);
//!   the mail path keeps one per policy version, [`eval::evaluate`] prepares one per call.
//! - [`factory`]: the chains and dictionaries of a fresh install.
//! - [`edit`]: rule-level edits of one chain (add, replace, move, enable, delete).
//! - [`transfer`]: the export/import bundle of chains and their dictionaries.

pub mod edit;
pub mod eval;
pub mod factory;
pub mod facts;
mod key_filter;
pub mod model;
pub mod modifier;
pub mod prepared;
mod prepared_match;
pub mod references;
pub mod transfer;
pub mod validate;

#[cfg(test)]
mod eval_reference;
#[cfg(test)]
mod prepared_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod table_tests;
