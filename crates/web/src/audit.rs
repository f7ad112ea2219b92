//! The audit log: every successful administrative change made through the API (and every
//! login and logout), with the administrator, method, path, status and a short summary.
//!
//! Node-local like every log (DESIGN): one JSON object per line in `<data>/audit.log`, which is
//! moved to `audit.log.1` when it reaches [`MAX_FILE_BYTES`] (so at most twice that is kept).
//! Each entry is also a tracing event with target `signet::audit`. Summaries name the body's
//! top-level fields; values are kept only when short and not secret-like.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signet_model::UnixMillis;

/// The size at which the log rotates.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
const FILE: &str = "audit.log";
const OLD_FILE: &str = "audit.log.1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: UnixMillis,
    pub login: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub summary: String,
}

/// One writer per process: appends and rotation never interleave.
static WRITER: Mutex<()> = Mutex::new(());

fn file(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Records an entry; a failure to write is logged, never fatal to the request.
pub fn record(dir: &Path, entry: &AuditEntry) {
    tracing::info!(
        target: "signet::audit",
        login = %entry.login,
        method = %entry.method,
        path = %entry.path,
        status = entry.status,
        summary = %entry.summary,
        "administrative change"
    );
    if let Err(e) = append(dir, entry) {
        tracing::warn!(error = %e, "the audit log could not be written");
    }
}

fn append(dir: &Path, entry: &AuditEntry) -> std::io::Result<()> {
    let _guard = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    let path = file(dir);
    if fs::metadata(&path).is_ok_and(|m| m.len() >= MAX_FILE_BYTES) {
        fs::rename(&path, dir.join(OLD_FILE))?;
    }
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
    f.write_all(&line)
}

/// Entries newest first, at most `limit`, those whose login, path or summary contains `q`
/// (case-insensitive).
pub fn read(dir: &Path, limit: usize, q: Option<&str>) -> Vec<AuditEntry> {
    let q = q.map(str::to_lowercase).filter(|q| !q.is_empty());
    let mut out = Vec::new();
    for name in [FILE, OLD_FILE] {
        let Ok(text) = fs::read_to_string(dir.join(name)) else {
            continue;
        };
        for line in text.lines().rev() {
            let Ok(entry) = serde_json::from_str::<AuditEntry>(line) else {
                continue;
            };
            let matches = q.as_ref().is_none_or(|q| {
                [&entry.login, &entry.path, &entry.summary, &entry.method]
                    .iter()
                    .any(|f| f.to_lowercase().contains(q))
            });
            if matches {
                out.push(entry);
                if out.len() >= limit {
                    return out;
                }
            }
        }
    }
    out
}

/// Whether a field's value must never be logged.
fn secret_like(key: &str) -> bool {
    let k = key.to_lowercase();
    [
        "passphrase",
        "password",
        "secret",
        "key",
        "token",
        "current",
        "new",
        "captcha",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A short description of a JSON body: its top-level fields, with short non-secret values.
pub fn summarize(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return if body.is_empty() {
            String::new()
        } else {
            format!("{} byte body", body.len())
        };
    };
    let Value::Object(map) = value else {
        return "JSON body".into();
    };
    let mut parts = Vec::new();
    for (k, v) in map.iter().take(20) {
        let shown = match v {
            _ if secret_like(k) => "***".to_string(),
            Value::String(s) if s.chars().count() <= 64 => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => "null".into(),
            _ => "…".into(),
        };
        parts.push(format!("{k}={shown}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_hide_secrets() {
        let s = summarize(
            br#"{"login":"ann","role":"basic","passphrase":"Sekret#123","api_token":"t","big":[1,2]}"#,
        );
        assert!(s.contains("login=ann") && s.contains("role=basic"), "{s}");
        assert!(!s.contains("Sekret") && s.contains("passphrase=***"), "{s}");
        assert!(s.contains("api_token=***") && s.contains("big=…"), "{s}");
        assert_eq!(summarize(b""), "");
    }

    #[test]
    fn entries_read_newest_first_and_filter() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        for (i, who) in ["ann", "bob", "ann"].iter().enumerate() {
            record(
                dir.path(),
                &AuditEntry {
                    at: i as u64,
                    login: who.to_string(),
                    method: "POST".into(),
                    path: format!("/api/v1/x/{i}"),
                    status: 200,
                    summary: String::new(),
                },
            );
        }
        let all = read(dir.path(), 10, None);
        assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert_eq!(read(dir.path(), 10, Some("BOB")).len(), 1);
        assert_eq!(read(dir.path(), 1, None).len(), 1);
        Ok(())
    }
}
