//! The node's log book: a `tracing` layer that keeps this node's last events in memory, so the
//! admin UI's Logs page and `GET /api/v1/logs` can filter and search them.
//!
//! Logs are node-local (DESIGN: "Node-local data ... logs"): each member shows its own. The
//! ring is bounded ([`DEFAULT_CAPACITY`] events); older events fall off. The layer also counts
//! the messages the mail path finishes (one `SMTP-nnnnn: message <id> from ...` line each), for
//! the overview's message-activity graph.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many events a node keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// One logged event.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Sequence number on this node (increasing; survives nothing across restarts).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// ERROR, WARN, INFO, DEBUG or TRACE.
    pub level: String,
    /// The Rust module that logged it (`signet_mailpath::service`, ...).
    pub target: String,
    /// The component an administrator filters by: mail, keyserver, admin, cluster or system.
    pub component: &'static str,
    /// The message followed by its fields (`key=value`).
    pub message: String,
}

/// The components the Logs page offers, in its order.
pub const COMPONENTS: &[&str] = &["mail", "keyserver", "admin", "cluster", "system"];

/// The component of a target: what an administrator thinks the line is about.
pub fn component_of(target: &str) -> &'static str {
    let t = target;
    if t.starts_with("signet_mailpath")
        || t.starts_with("signet_smtp")
        || t.starts_with("signet_mailbox")
        || t.contains("::mail")
    {
        "mail"
    } else if t.starts_with("signet_keyserver")
        || t.contains("keyserver")
        || t.contains("public_web")
    {
        "keyserver"
    } else if t.starts_with("signet::audit") || t.starts_with("signet_web") {
        "admin"
    } else if t.starts_with("signet_store")
        || t.starts_with("openraft")
        || t.starts_with("signet_transport")
    {
        "cluster"
    } else {
        "system"
    }
}

/// A filter over the log book (all parts optional).
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    /// The least severe level to include (`warn` includes WARN and ERROR).
    pub level: Option<Level>,
    /// Case-insensitive text that must occur in the message or target.
    pub text: Option<String>,
    pub component: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The ring of recent events plus the mail counter.
pub struct LogBook {
    entries: Mutex<VecDeque<LogEntry>>,
    capacity: usize,
    next_seq: AtomicU64,
    messages: AtomicU64,
}

impl Default for LogBook {
    fn default() -> Self {
        LogBook::new(DEFAULT_CAPACITY)
    }
}

impl LogBook {
    pub fn new(capacity: usize) -> Self {
        LogBook {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            next_seq: AtomicU64::new(1),
            messages: AtomicU64::new(0),
        }
    }

    /// Adds one event, dropping the oldest when full.
    pub fn push(&self, level: Level, target: &str, message: String) {
        if target.starts_with("signet_mailpath") && is_message_line(&message) {
            self.messages.fetch_add(1, Ordering::Relaxed);
        }
        let entry = LogEntry {
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            at: signet_store::now_millis(),
            level: level.to_string(),
            target: target.to_string(),
            component: component_of(target),
            message,
        };
        // A poisoned lock means a panic while pushing; keep logging into the same ring.
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The messages the mail path has finished on this node since it started.
    pub fn messages_processed(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Events matching `query`, newest first.
    pub fn query(&self, query: &LogQuery) -> Vec<LogEntry> {
        let text = query.text.as_deref().map(str::to_lowercase);
        let text = text.as_deref().filter(|t| !t.is_empty());
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .rev()
            .filter(|e| match query.level {
                // tracing orders levels by verbosity: ERROR < WARN < ... < TRACE.
                Some(max) => e.level.parse::<Level>().is_ok_and(|l| l <= max),
                None => true,
            })
            .filter(|e| {
                query
                    .component
                    .as_deref()
                    .is_none_or(|c| c.is_empty() || e.component == c)
            })
            .filter(|e| {
                text.is_none_or(|t| {
                    e.message.to_lowercase().contains(t) || e.target.to_lowercase().contains(t)
                })
            })
            .take(query.limit)
            .cloned()
            .collect()
    }

    /// The layer that feeds this book; install it next to the console formatter.
    pub fn layer(self: &std::sync::Arc<Self>) -> LogBookLayer {
        LogBookLayer { book: self.clone() }
    }
}

/// The mail path's per-message line: `SMTP-00012: message <id> from a@b (n recipients)`.
fn is_message_line(message: &str) -> bool {
    message.split_once(": message ").is_some_and(|(conn, _)| {
        conn.starts_with("SMTP-") || conn.starts_with("POP-") || conn.starts_with("IMAP-")
    })
}

/// One line of the text export.
pub fn export_line(e: &LogEntry) -> String {
    format!(
        "{} {:<5} {} {}: {}\n",
        format_time(e.at),
        e.level,
        e.component,
        e.target,
        e.message
    )
}

/// `2026-11-24 06:40:01Z` from epoch milliseconds (UTC, no time zone library needed).
pub fn format_time(millis: u64) -> String {
    let secs = millis / 1000;
    let rem = secs % 86_400;
    let (year, month, day) = civil_date(secs / 86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// civil-from-days algorithm): the one date conversion signet-web needs, so no time crate.
pub fn civil_date(days_since_epoch: u64) -> (i64, i64, i64) {
    let z = days_since_epoch as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Feeds a [`LogBook`] from `tracing`.
pub struct LogBookLayer {
    book: std::sync::Arc<LogBook>,
}

impl<S: Subscriber> Layer<S> for LogBookLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        self.book
            .push(*meta.level(), meta.target(), visitor.finish());
    }
}

/// Collects an event's message and fields into one line.
#[derive(Default)]
struct Fields {
    message: String,
    fields: String,
}

impl Fields {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn query(level: Option<Level>, text: &str, component: &str) -> LogQuery {
        LogQuery {
            level,
            text: Some(text.to_string()),
            component: Some(component.to_string()),
            limit: 100,
        }
    }

    #[test]
    fn keeps_the_newest_events_and_drops_the_oldest() {
        let book = LogBook::new(3);
        for i in 0..5 {
            book.push(Level::INFO, "signetd", format!("event {i}"));
        }
        let all = book.query(&query(None, "", ""));
        let messages: Vec<_> = all.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["event 4", "event 3", "event 2"]);
    }

    #[test]
    fn filters_by_level_component_and_text() {
        let book = LogBook::new(100);
        book.push(
            Level::INFO,
            "signet_mailpath::service",
            "SMTP-00001: message <a1@example.com> from alice@example.com (1 recipient)".into(),
        );
        book.push(
            Level::WARN,
            "signet_store::node",
            "member 2 unreachable".into(),
        );
        book.push(Level::ERROR, "signet_keyserver::ldap", "bind failed".into());
        book.push(Level::DEBUG, "signet_mailpath::service", "noise".into());

        let mail = book.query(&query(None, "ALICE@example", "mail"));
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].component, "mail");
        assert_eq!(book.query(&query(None, "a1@example.com", "")).len(), 1);
        assert_eq!(book.query(&query(Some(Level::WARN), "", "")).len(), 2);
        assert_eq!(book.query(&query(Some(Level::ERROR), "", "")).len(), 1);
        assert_eq!(book.query(&query(None, "", "cluster")).len(), 1);
        assert_eq!(book.messages_processed(), 1);
    }

    #[test]
    fn the_layer_records_message_and_fields() {
        let book = Arc::new(LogBook::new(10));
        let subscriber = tracing_subscriber::registry().with(book.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(domain = "example.com", count = 3, "domain added");
        });
        let got = book.query(&query(None, "", ""));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].level, "WARN");
        assert_eq!(got[0].message, "domain added domain=example.com count=3");
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_time(1_795_502_401_000), "2026-11-24 06:40:01Z");
    }
}
