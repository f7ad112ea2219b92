//! Support for the admin-UI browser tests: runs a node script from `tests/browser/` (driving
//! Debian's chromium through playwright-core) and turns its outcome into a test result.
//!
//! A developer machine without chromium or `tests/browser/node_modules` skips these tests with
//! a note (run `scripts/install-peers.sh`); in CI (`CI=true`) a missing browser is a failure,
//! because CI installs it.

// Each test file compiles this module separately and uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{describe, run_bounded};

/// How long one browser script may run before it is killed.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// `tests/browser/`.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// The chromium the scripts launch (`SIGNET_CHROMIUM` overrides Debian's).
fn chromium() -> PathBuf {
    std::env::var_os("SIGNET_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser tests cannot run here, if they cannot.
pub fn browser_missing() -> Option<String> {
    let mut missing = Vec::new();
    if !chromium().is_file() {
        missing.push(format!(
            "{} (Debian package chromium)",
            chromium().display()
        ));
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        missing.push("tests/browser/node_modules (npm ci in tests/browser)".to_string());
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (Debian package nodejs)".to_string());
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True (after printing why) when a browser test must be skipped: the browser is missing on a
/// developer machine. In CI a missing browser fails the test instead. Call it first, before
/// starting nodes.
pub fn skip_without_browser(script: &str) -> bool {
    let Some(what) = browser_missing() else {
        return false;
    };
    assert!(
        !in_ci(),
        "browser test {script}: missing {what}; CI must run scripts/install-peers.sh"
    );
    eprintln!("SKIPPED browser test {script}: missing {what}; run scripts/install-peers.sh");
    true
}

/// Screenshots of this run go here (`SIGNET_SCREENSHOTS` overrides).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("SIGNET_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/signet-screenshots"))
}

/// Runs `node tests/browser/<script>` with `envs` and a timeout; panics with its output when
/// it fails. Returns false (after printing why) when the test was skipped because the browser
/// is missing on a developer machine; in CI that is a failure instead.
pub fn run_browser_script(script: &str, envs: &[(&str, &str)]) -> bool {
    if skip_without_browser(script) {
        return false;
    }
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join(script))
        .current_dir(browser_dir())
        .env("SIGNET_SCREENSHOTS", screenshot_dir());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, SCRIPT_TIMEOUT)
        .unwrap_or_else(|| panic!("browser test {script}: still running after {SCRIPT_TIMEOUT:?}"));
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "browser test {script} failed (screenshots in {}):\n{}",
        screenshot_dir().display(),
        describe(&out)
    );
    true
}
