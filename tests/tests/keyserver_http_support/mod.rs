//! Helpers for the public HTTP keyserver tests: a node with known public listeners, and curl
//! calls that return the status and body as a user sees them.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{self, Node, describe, free_port, run_bounded};

/// A node whose public HTTP keyserver listens on `http_port` (plain) and `https_port` (TLS).
pub(crate) struct PublicNode {
    pub node: Node,
    pub http_port: u16,
    pub https_port: u16,
}

impl PublicNode {
    pub(crate) fn spawn(name: &str, extra_toml: &str) -> PublicNode {
        let (http_port, https_port) = (free_port(), free_port());
        let config = format!(
            "[public_web]\n\
             [[public_web.connector]]\nlisten = \"127.0.0.1:{http_port}\"\ntls = false\n\
             [[public_web.connector]]\nlisten = \"127.0.0.1:{https_port}\"\ntls = true\n\
             {extra_toml}"
        );
        PublicNode {
            node: Node::spawn(name, Some(&config)),
            http_port,
            https_port,
        }
    }

    pub(crate) fn hkp(&self) -> String {
        format!("hkp://127.0.0.1:{}", self.http_port)
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.http_port)
    }
}

/// What curl saw.
pub(crate) struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
}

impl Fetched {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl with `args` (the URL among them); the body goes to `out`.
pub(crate) fn curl(args: &[&str], out: &Path) -> Fetched {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "-o"])
        .arg(out)
        .args(["-w", "%{http_code} %{content_type}"])
        .args(args);
    let output = run_bounded(cmd, Duration::from_secs(30)).expect("curl hung");
    assert!(
        output.status.success(),
        "curl {args:?} failed\n{}",
        describe(&output)
    );
    let written = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, content_type) = written.split_once(' ').unwrap_or((&written, ""));
    Fetched {
        status: status.trim().parse().unwrap_or(0),
        body: std::fs::read(out).unwrap_or_default(),
        content_type: content_type.trim().to_string(),
    }
}

/// GET `url`.
pub(crate) fn get(url: &str, scratch: &Path) -> Fetched {
    curl(&[url], &scratch.join("body"))
}

/// Waits until `url` answers 200 (the directory follows the store a moment after a change).
pub(crate) fn wait_for_200(url: &str, scratch: &Path) -> Fetched {
    common::wait_until(
        Duration::from_secs(20),
        &format!("{url} to answer 200"),
        || {
            let f = get(url, scratch);
            if f.status == 200 {
                Ok(f)
            } else {
                Err(format!("{} {}", f.status, f.text()))
            }
        },
    )
}
