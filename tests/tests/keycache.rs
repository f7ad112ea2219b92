//! End-to-end tests for the key cache (guide §4) through the `signet` CLI: the timeout
//! setting, a keyserver lookup against a loopback HKP server serving a gpg-made key (cached
//! with Source = keyserver and purge = cached + timeout), search, show, purge, Trust Key (the
//! key becomes an external user's CKM key) and a blackholed keyserver that times out.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Node, describe, serial};
use keys_support::*;

/// A loopback HKP server answering `/pks/lookup?op=get&options=mr&search=<email>` with `key`
/// for `email` and 404 otherwise. Runs until the test process ends.
fn hkp_server(email: &str, key: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind HKP listener");
    let port = listener.local_addr().expect("HKP address").port();
    let wanted = format!(
        "/pks/lookup?op=get&options=mr&search={}",
        email.replace('@', "%40")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &wanted, &key);
        }
    });
    port
}

fn answer(mut stream: TcpStream, wanted: &str, key: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body): (&str, &[u8]) = if path == wanted {
        ("200 OK", key)
    } else {
        ("404 Not Found", b"No keys found")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/pgp-keys\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
}

/// A listener that accepts and never answers.
fn blackhole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind blackhole");
    let port = listener.local_addr().expect("blackhole address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn keys(v: &Value) -> Vec<Value> {
    v["keys"].as_array().cloned().unwrap_or_default()
}

#[test]
fn key_cache_lookup_search_purge_and_trust() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["corp.test"]);

    // Empty, with the documented default timeout.
    assert!(keys(&a.cli_ok_json(&["keycache", "list"])).is_empty());
    assert!(a.cli_ok(&["keycache", "list"]).contains("empty"));
    let t = a.cli_ok_json(&["keycache", "timeout"]);
    assert_eq!(t["timeout"], "30d", "{t}");
    // The guide's bounds: 1 hour to 999 days.
    let out = a.cli(&["keycache", "timeout", "1000d"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("999 days"),
        "{}",
        describe(&out)
    );
    let t = a.cli_ok_json(&["keycache", "timeout", "1h"]);
    assert_eq!(t["timeout_hours"], 1, "{t}");

    // Unknown keys: 404.
    let out = a.cli(&["keycache", "purge", "ABCDEF0123456789"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        describe(&out)
    );
    let out = a.cli(&["keycache", "trust", "ABCDEF0123456789"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        describe(&out)
    );

    // A keyserver lookup caches erin's key with Source = keyserver.
    let gpg = Gpg::new();
    let erin_fpr = gpg.generate("Erin <erin@ext.test>");
    let asc = dir.path().join("erin.asc");
    gpg.export_public("erin@ext.test", &asc);
    let port = hkp_server("erin@ext.test", std::fs::read(&asc).expect("erin.asc"));
    let port_s = port.to_string();
    let lookup = |email: &str| {
        a.cli(&[
            "--json",
            "keycache",
            "lookup",
            email,
            "--kind",
            "hkp",
            "--host",
            "127.0.0.1",
            "--port",
            &port_s,
            "--description",
            "test hkp",
        ])
    };
    let out = lookup("erin@ext.test");
    assert!(out.status.success(), "{}", describe(&out));
    let cached: Value = serde_json::from_slice(&out.stdout).expect("lookup JSON");
    let entry = &cached["cached"][0];
    assert_eq!(entry["id"], erin_fpr.as_str(), "{cached}");
    assert_eq!(entry["source"], "keyserver test hkp", "{cached}");
    let at = entry["cached_at"].as_u64().expect("cached_at");
    assert_eq!(entry["purge_at"].as_u64(), Some(at + 3_600_000), "{cached}");
    // Nobody else is on that server: 404, nothing cached.
    let out = lookup("nobody@ext.test");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        describe(&out)
    );

    // Search and Key Information; the key is one gpg reads.
    assert_eq!(
        keys(&a.cli_ok_json(&["keycache", "list", "ERIN@"])).len(),
        1
    );
    assert!(keys(&a.cli_ok_json(&["keycache", "list", "nobody"])).is_empty());
    let shown = a.cli_ok_json(&["keycache", "show", &erin_fpr.to_lowercase()]);
    let armored = shown["key"].as_str().expect("armored key").to_string();
    let shown_file = dir.path().join("shown.asc");
    std::fs::write(&shown_file, &armored).expect("write shown key");
    let other = Gpg::new();
    assert_eq!(
        other.uids_in(&shown_file),
        vec!["Erin <erin@ext.test>".to_string()]
    );

    // A blackholed keyserver times out within the bound.
    let hole = blackhole().to_string();
    let started = Instant::now();
    let out = a.cli(&[
        "keycache",
        "lookup",
        "carol@ext.test",
        "--kind",
        "ldap",
        "--host",
        "127.0.0.1",
        "--port",
        &hole,
        "--timeout-ms",
        "800",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("502") && err.contains("did not answer"),
        "{}",
        describe(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    // Trust Key: erin becomes an external user with the key in CKM; the cache no longer has it.
    let trusted = a.cli_ok_json(&["keycache", "trust", &erin_fpr]);
    assert_eq!(trusted["external_user"], "erin@ext.test", "{trusted}");
    let key = only_key(&a, "erin@ext.test");
    assert_eq!(key["mode"], "CKM", "{key}");
    assert_eq!(key["fingerprint"], erin_fpr.as_str(), "{key}");
    assert!(keys(&a.cli_ok_json(&["keycache", "list"])).is_empty());

    // Purge one and Purge All.
    assert!(lookup("erin@ext.test").status.success());
    a.cli_ok(&["keycache", "purge", &erin_fpr]);
    assert!(keys(&a.cli_ok_json(&["keycache", "list"])).is_empty());
    assert!(lookup("erin@ext.test").status.success());
    let purged = a.cli_ok_json(&["keycache", "purge-all"]);
    assert_eq!(purged["purged"], 1, "{purged}");
    assert!(keys(&a.cli_ok_json(&["keycache", "list"])).is_empty());
}
