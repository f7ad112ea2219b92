//! Helpers for the administrator tests: HTTPS calls with curl (token, session cookie, CSRF
//! header, or nothing), logging in, and making administrators of each role.

#![allow(dead_code)]

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{CLI_TIMEOUT, Node, describe, run_bounded};

/// A strong passphrase that satisfies the default rules.
pub const GOOD: &str = "Correct#Horse7";

/// How a request authenticates.
#[derive(Clone, Default)]
pub struct Auth {
    pub bearer: Option<String>,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Auth {
    pub fn none() -> Auth {
        Auth::default()
    }

    pub fn token(t: &str) -> Auth {
        Auth {
            bearer: Some(t.to_string()),
            ..Auth::default()
        }
    }

    /// The session without its CSRF token.
    pub fn without_csrf(&self) -> Auth {
        Auth {
            csrf: None,
            ..self.clone()
        }
    }

    pub fn with_csrf(&self, csrf: &str) -> Auth {
        Auth {
            csrf: Some(csrf.to_string()),
            ..self.clone()
        }
    }
}

/// An answer: status, JSON body (Null if none or not JSON), raw headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: String,
}

impl Reply {
    pub fn detail(&self) -> String {
        self.body["detail"].as_str().unwrap_or("").to_string()
    }
}

/// The node's API address from cli.json.
pub fn api_address(node: &Node) -> String {
    let cli: Value = serde_json::from_slice(
        &fs::read(node.data_dir().join("cli.json")).expect("cannot read cli.json"),
    )
    .expect("cli.json is not JSON");
    cli["api"]
        .as_str()
        .expect("cli.json without api")
        .to_string()
}

/// The bootstrap administrator's CLI token.
pub fn cli_token(node: &Node) -> String {
    let cli: Value = serde_json::from_slice(
        &fs::read(node.data_dir().join("cli.json")).expect("cannot read cli.json"),
    )
    .expect("cli.json is not JSON");
    cli["token"]
        .as_str()
        .expect("cli.json without token")
        .to_string()
}

/// One HTTPS request with curl (the node's certificate is self-signed: loopback only).
pub fn call(node: &Node, method: &str, path: &str, auth: &Auth, body: Option<&Value>) -> Reply {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--http2", "-i", "-X", method])
        .args(["-w", "\n%{http_code}"]);
    if let Some(t) = &auth.bearer {
        cmd.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    if let Some(c) = &auth.cookie {
        cmd.args(["-H", &format!("cookie: signet_session={c}")]);
    }
    if let Some(c) = &auth.csrf {
        cmd.args(["-H", &format!("x-csrf-token: {c}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json"])
            .args(["--data-binary", &b.to_string()]);
    }
    cmd.arg(format!("https://{}{path}", api_address(node)));
    let out = run_bounded(cmd, CLI_TIMEOUT).unwrap_or_else(|| panic!("curl {method} {path} hung"));
    assert!(
        out.status.success(),
        "curl {method} {path}: {}",
        describe(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status: u16 = code.trim().parse().unwrap_or(0);
    let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    let body = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    Reply {
        status,
        body,
        headers: headers.to_string(),
    }
}

/// Like [`call`], panicking unless the status is 2xx; returns the body.
pub fn ok(node: &Node, method: &str, path: &str, auth: &Auth, body: Option<&Value>) -> Value {
    let r = call(node, method, path, auth, body);
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: HTTP {} {}",
        r.status,
        r.body
    );
    r.body
}

/// POST /api/v1/session; the reply and, on success, the session's auth (cookie + CSRF).
pub fn login(node: &Node, login: &str, passphrase: &str) -> (Reply, Option<Auth>) {
    login_with(node, &json!({ "login": login, "passphrase": passphrase }))
}

pub fn login_with(node: &Node, body: &Value) -> (Reply, Option<Auth>) {
    let r = call(node, "POST", "/api/v1/session", &Auth::none(), Some(body));
    if r.status != 200 {
        return (r, None);
    }
    let cookie = r
        .headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| v.trim().strip_prefix("signet_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .next()
        .expect("login without a session cookie");
    let csrf = r.body["csrf"]
        .as_str()
        .expect("login without csrf")
        .to_string();
    let auth = Auth {
        bearer: None,
        cookie: Some(cookie),
        csrf: Some(csrf),
    };
    (r, Some(auth))
}

/// Logs in and panics unless it works.
pub fn session(node: &Node, login_name: &str, passphrase: &str) -> Auth {
    let (r, auth) = login(node, login_name, passphrase);
    auth.unwrap_or_else(|| panic!("login {login_name}: HTTP {} {}", r.status, r.body))
}

/// Adds an administrator with a permanent passphrase (as `by`).
pub fn add_admin(node: &Node, by: &Auth, login: &str, role: &str, passphrase: &str) {
    ok(
        node,
        "POST",
        "/api/v1/administrators",
        by,
        Some(
            &json!({ "login": login, "role": role, "passphrase": passphrase, "temporary": false }),
        ),
    );
}

/// A fresh node with a SuperUser `root` (passphrase [`GOOD`]) made with the bootstrap token;
/// returns the node and root's session.
pub fn node_with_root(name: &str) -> (Node, Auth) {
    let node = Node::spawn(name, None);
    let boot = Auth::token(&cli_token(&node));
    add_admin(&node, &boot, "root", "super-user", GOOD);
    let root = session(&node, "root", GOOD);
    (node, root)
}

/// Runs `signet --data-dir <node> --json ARGS` with `stdin` as standard input; returns
/// (success, stdout, stderr).
pub fn cli_with_stdin(node: &Node, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(crate::common::signet_bin())
        .arg("--data-dir")
        .arg(node.data_dir())
        .arg("--json")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run signet");
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .expect("cannot write to signet");
    }
    let out = child.wait_with_output().expect("signet did not finish");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
