//! End-to-end tests for Mail > Dictionaries (spec 2 §1, scenarios 24 and 25) through the
//! `signet` CLI and the REST API of a real node: literal and pattern terms, Evaluate and
//! Search, Import with Replace, export as XML and `dictionaries.zip`, approval of pending
//! addresses, rename and delete reporting the rules they invalidate, the factory dictionaries
//! and their default patterns, and the refusals (bad pattern, Managed Domains read-only).
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use common::{CLI_TIMEOUT, Node, describe, run_bounded, serial};
use keys_support::*;

const SIGN: &str = "Excluded Addresses: Sign";
const DO_NOT_SIGN: &str = "Excluded Addresses: Do Not Sign";
const PENDING: &str = "Excluded Addresses: Pending";

/// An API answer a user would see: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Calls the node's admin API with curl and returns the answer whatever its status.
fn api(node: &Node, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let cli: Value = serde_json::from_slice(
        &fs::read(node.data_dir().join("cli.json")).expect("cannot read cli.json"),
    )
    .expect("cli.json is not JSON");
    let dir = tmp();
    let out_file = dir.path().join("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--http2", "-X", method])
        .args([
            "-H",
            &format!(
                "authorization: Bearer {}",
                cli["token"].as_str().expect("token")
            ),
        ])
        .args(["-H", "content-type: application/json"])
        .args(["-o", path_str(&out_file)])
        .args(["-w", "%{http_code} %{content_type}"]);
    if let Some(b) = body {
        cmd.args(["--data-binary", &b.to_string()]);
    }
    cmd.arg(format!(
        "https://{}{path}",
        cli["api"].as_str().expect("api")
    ));
    let out = run_bounded(cmd, CLI_TIMEOUT).unwrap_or_else(|| panic!("curl {path} hung"));
    assert!(out.status.success(), "curl failed: {}", describe(&out));
    let w = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, content_type) = w.split_once(' ').unwrap_or((&w, ""));
    Answer {
        status: code.parse().unwrap_or(0),
        content_type: content_type.to_string(),
        body: fs::read(&out_file).unwrap_or_default(),
    }
}

fn enc(name: &str) -> String {
    name.replace(' ', "%20").replace(':', "%3A")
}

/// The terms of a dictionary as (term, kind), in the order the API lists them.
fn terms(node: &Node, name: &str) -> Vec<(String, String)> {
    let v = node.api_json(
        "GET",
        &format!("/api/v1/dictionaries/{}/entries", enc(name)),
        None,
    );
    v.as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["term"].as_str().unwrap_or("").to_string(),
                e["kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn t(term: &str, kind: &str) -> (String, String) {
    (term.to_string(), kind.to_string())
}

fn matched_terms(v: &Value) -> Vec<String> {
    v["matched"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["term"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A chain whose one rule reads dictionary `name` ("Recipient is in dictionary").
fn chain_using(name: &str) -> Value {
    json!({
        "name": "Partners",
        "applicability": "Server",
        "factory": false,
        "rules": [{
            "name": "partners in D",
            "description": "scenario 25",
            "enabled": true,
            "conditions": {
                "statement": "All",
                "children": [{"Condition": {
                    "subject": "RecipientAddress",
                    "modifier": "IsInDictionary",
                    "value": name,
                    "negate": false
                }}]
            },
            "actions": ["Deliver"],
            "key_search": []
        }]
    })
}

fn unzip(args: &[&str]) -> String {
    let mut cmd = Command::new("unzip");
    cmd.args(args);
    let out = run_bounded(cmd, CLI_TIMEOUT).expect("unzip hung");
    assert!(out.status.success(), "unzip {args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Scenario 24, plus the factory dictionaries' default patterns and the refusals.
#[test]
fn evaluate_search_defaults_and_refusals() {
    let _serial = serial();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    // The Excluded Addresses dictionaries come with the guide's list patterns.
    let sign = terms(&a, SIGN);
    assert_eq!(sign.len(), 9, "{sign:?}");
    assert!(sign.contains(&t(".*-announce@.*", "pattern")), "{sign:?}");
    assert!(sign.iter().all(|(_, k)| k == "pattern"), "{sign:?}");
    let dns = terms(&a, DO_NOT_SIGN);
    assert_eq!(dns.len(), 5, "{dns:?}");
    assert!(dns.contains(&t(".*-request@.*", "pattern")), "{dns:?}");
    assert!(terms(&a, PENDING).is_empty());
    let v = a.cli_ok_json(&[
        "dictionary",
        "evaluate",
        DO_NOT_SIGN,
        "team-request@ext.test",
    ]);
    assert_eq!(v["matches"], true, "{v}");
    let v = a.cli_ok_json(&["dictionary", "evaluate", SIGN, "Team-Announce@EXT.test"]);
    assert_eq!(matched_terms(&v), [".*-announce@.*"], "{v}");
    let v = a.cli_ok_json(&["dictionary", "evaluate", SIGN, "team-request@ext.test"]);
    assert_eq!(v["matches"], false, "{v}");

    // Scenario 24: D = literal jsmith@example.com + pattern j.*@example.com.
    a.cli_ok(&["dictionary", "create", "D", "--description", "scenario 24"]);
    a.cli_ok(&["dictionary", "add", "D", "JSmith@Example.com"]);
    a.cli_ok(&["dictionary", "add", "D", "--pattern", "j.*@example.com"]);
    assert_eq!(
        terms(&a, "D"),
        [
            t("j.*@example.com", "pattern"),
            t("jsmith@example.com", "literal")
        ]
    );
    let eval = |value: &str| a.cli_ok_json(&["dictionary", "evaluate", "D", value]);
    let v = eval("jsmith");
    assert_eq!(
        (v["matches"].clone(), matched_terms(&v).len()),
        (json!(false), 0),
        "{v}"
    );
    let v = eval("jsmith@example.com");
    assert_eq!(
        matched_terms(&v),
        ["j.*@example.com", "jsmith@example.com"],
        "{v}"
    );
    let v = eval("jgreen@example.com");
    assert_eq!(matched_terms(&v), ["j.*@example.com"], "{v}");
    // Case does not matter, and a pattern matches the whole value only.
    let v = eval("JSMITH@EXAMPLE.COM");
    assert_eq!(matched_terms(&v).len(), 2, "{v}");
    let v = eval("jgreen@example.com.attacker.test");
    assert_eq!(v["matches"], false, "{v}");
    let human = a.cli_ok(&["dictionary", "evaluate", "D", "jsmith"]);
    assert!(human.contains("matches no term"), "{human}");

    // Search is plain substring search over the terms' text, patterns included.
    let found = a.cli_ok_json(&["dictionary", "search", "@example"]);
    let in_d: Vec<&str> = found["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["dictionary"] == "D")
        .filter_map(|r| r["term"].as_str())
        .collect();
    assert_eq!(in_d, ["j.*@example.com", "jsmith@example.com"], "{found}");
    let only_sign = a.cli_ok_json(&["dictionary", "search", "ANNOUNCE", "--dictionary", SIGN]);
    assert_eq!(
        only_sign["results"],
        json!([{ "dictionary": SIGN, "term": ".*-announce@.*", "kind": "pattern" }])
    );
    let human = a.cli_ok(&["dictionary", "entries", "D"]);
    assert_eq!(
        human.lines().collect::<Vec<_>>(),
        ["j.*@example.com\t(pattern)", "jsmith@example.com"]
    );

    // A pattern that does not compile: 422 naming it, nothing written (even the good ones).
    let bad = api(
        &a,
        "POST",
        "/api/v1/dictionaries/D/entries",
        Some(&json!({ "entries": ["ok.*@x", "j(.*@example.com"], "kind": "pattern" })),
    );
    assert_eq!(bad.status, 422, "{}", String::from_utf8_lossy(&bad.body));
    assert!(bad.content_type.starts_with("application/problem+json"));
    let body = bad.json();
    assert_eq!(body["term"], "j(.*@example.com", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("j(.*@example.com")
    );
    let out = a.cli(&[
        "dictionary",
        "add",
        "D",
        "--replace",
        "--pattern",
        "a[",
        "b",
    ]);
    assert_error_line(&out, "a bad pattern in a replace", &["422", "a["]);
    assert_eq!(terms(&a, "D").len(), 2, "the bad requests changed nothing");
    // An unknown mode or kind is refused too.
    let bad = api(
        &a,
        "POST",
        "/api/v1/dictionaries/D/entries",
        Some(&json!({ "entries": ["x"], "kind": "glob" })),
    );
    assert_eq!(bad.status, 422);

    // Managed Domains follows the managed domains: read-only here.
    for (method, body) in [
        ("POST", json!({ "entries": ["evil.test"] })),
        (
            "POST",
            json!({ "entries": ["evil.test"], "mode": "replace" }),
        ),
        ("DELETE", json!({ "entries": ["example.com"] })),
    ] {
        let r = api(
            &a,
            method,
            "/api/v1/dictionaries/Managed%20Domains/entries",
            Some(&body),
        );
        assert_eq!(r.status, 409, "{method} {body}");
        let detail = r.json()["detail"].as_str().unwrap_or("").to_string();
        assert!(detail.contains("read-only"), "{detail}");
    }
    let out = a.cli(&["dictionary", "add", "Managed Domains", "evil.test"]);
    assert_error_line(
        &out,
        "adding to Managed Domains",
        &["409", "managed domains"],
    );
    assert_eq!(terms(&a, "Managed Domains"), [t("example.com", "literal")]);
}

/// Scenario 25 (Import with Replace, export of D and both Excluded dictionaries, a default
/// dictionary refused, rename reporting invalid rules), approval, delete with confirmation.
#[test]
fn import_export_approve_rename_delete() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    a.cli_ok(&[
        "dictionary",
        "create",
        "D",
        "old@example.com",
        "older@example.com",
    ]);
    a.cli_ok(&["dictionary", "add", "D", "--pattern", ".*@old\\.test"]);
    let file = dir.path().join("three.txt");
    fs::write(
        &file,
        "alice@partner.test\nBob@Partner.test\n\ncarol@partner.test\n",
    )
    .expect("file");
    let replaced = a.cli_ok_json(&[
        "dictionary",
        "add",
        "D",
        "--replace",
        "--file",
        path_str(&file),
    ]);
    assert_eq!(replaced["entries"], 3, "{replaced}");
    assert_eq!(
        terms(&a, "D"),
        [
            t("alice@partner.test", "literal"),
            t("bob@partner.test", "literal"),
            t("carol@partner.test", "literal")
        ]
    );

    // One dictionary exports as XML.
    let one = api(&a, "GET", "/api/v1/dictionaries/D/export", None);
    assert_eq!(one.status, 200);
    assert!(
        one.content_type.starts_with("application/xml"),
        "{}",
        one.content_type
    );
    let xml = String::from_utf8_lossy(&one.body).into_owned();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains("<dictionary xmlns=\"urn:signet:dictionary:1\" name=\"D\" factory=\"false\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<term kind=\"literal\">bob@partner.test</term>"),
        "{xml}"
    );
    assert_eq!(
        a.cli_ok(&["dictionary", "export", "D"]),
        xml,
        "CLI prints the same XML"
    );

    // Several: dictionaries.zip with one XML file each.
    let zip = dir.path().join("dictionaries.zip");
    a.cli_ok(&[
        "dictionary",
        "export",
        "D",
        SIGN,
        DO_NOT_SIGN,
        "-o",
        path_str(&zip),
    ]);
    let listing = unzip(&["-Z1", path_str(&zip)]);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        [
            "D.xml",
            "Excluded Addresses_ Sign.xml",
            "Excluded Addresses_ Do Not Sign.xml"
        ],
        "{listing}"
    );
    unzip(&["-tq", path_str(&zip)]);
    assert_eq!(unzip(&["-p", path_str(&zip), "D.xml"]), xml);
    let sign_xml = unzip(&["-p", path_str(&zip), "Excluded Addresses_ Sign.xml"]);
    assert!(
        sign_xml.contains("name=\"Excluded Addresses: Sign\" factory=\"true\""),
        "{sign_xml}"
    );
    assert!(
        sign_xml.contains("<term kind=\"pattern\">.*-announce@.*</term>"),
        "{sign_xml}"
    );
    let q = api(
        &a,
        "GET",
        &format!("/api/v1/dictionary-export?names=D,{}", enc(PENDING)),
        None,
    );
    assert_eq!(
        (q.status, q.content_type.as_str()),
        (200, "application/zip")
    );

    // An export imports back, kinds kept.
    let sign_file = dir.path().join("sign.xml");
    fs::write(&sign_file, &sign_xml).expect("write");
    a.cli_ok(&[
        "dictionary",
        "create",
        "Copy",
        "--file",
        path_str(&sign_file),
    ]);
    assert_eq!(terms(&a, "Copy"), terms(&a, SIGN));

    // Default dictionaries cannot be deleted, nor renamed; their description can change.
    let out = a.cli(&["dictionary", "delete", SIGN]);
    assert_error_line(
        &out,
        "deleting a default dictionary",
        &["409", "cannot be deleted"],
    );
    let out = a.cli(&["dictionary", "delete", PENDING, "--confirm"]);
    assert_error_line(&out, "deleting Pending", &["409"]);
    let out = a.cli(&["dictionary", "rename", SIGN, "Signed lists"]);
    assert_error_line(
        &out,
        "renaming a default dictionary",
        &["409", "keeps its name"],
    );
    let v = a.cli_ok_json(&["dictionary", "describe", SIGN, "lists we sign for"]);
    assert_eq!(v["description"], "lists we sign for", "{v}");
    assert_eq!(terms(&a, SIGN).len(), 9);

    // Approve Selected: pending addresses move to Sign (default) or Do Not Sign.
    a.api_json(
        "POST",
        &format!("/api/v1/dictionaries/{}/entries", enc(PENDING)),
        Some(&json!({ "entries": ["dev@lists.ext.test", "ops@lists.ext.test", "qa@lists.ext.test"] })),
    );
    let v = a.cli_ok_json(&["dictionary", "approve", "DEV@lists.ext.test"]);
    assert_eq!(
        (v["approved"].clone(), v["target"].clone()),
        (json!(1), json!(SIGN)),
        "{v}"
    );
    assert!(terms(&a, SIGN).contains(&t("dev@lists.ext.test", "literal")));
    let out = a.cli(&["dictionary", "approve", "ops@lists.ext.test", "nobody@x"]);
    assert_error_line(
        &out,
        "approving an address that is not pending",
        &["404", "nobody@x"],
    );
    assert_eq!(
        terms(&a, PENDING).len(),
        2,
        "a refused approval moves nothing"
    );
    a.cli_ok(&["dictionary", "approve", "--all", "--to", "do-not-sign"]);
    assert!(terms(&a, PENDING).is_empty());
    let dns = terms(&a, DO_NOT_SIGN);
    assert!(dns.contains(&t("qa@lists.ext.test", "literal")), "{dns:?}");
    assert!(dns.contains(&t("ops@lists.ext.test", "literal")), "{dns:?}");

    // Renaming D invalidates the rule that names it; the answer says which.
    let chain_file = dir.path().join("partners.json");
    fs::write(&chain_file, chain_using("D").to_string()).expect("chain");
    a.cli_ok(&["policy", "put", path_str(&chain_file)]);
    let v = a.cli_ok_json(&["dictionary", "rename", "D", "Partner Addresses"]);
    assert_eq!(v["name"], "Partner Addresses", "{v}");
    assert_eq!(
        v["invalid_rules"],
        json!([{ "chain": "Partners", "rule": "partners in D" }]),
        "{v}"
    );
    assert_eq!(
        terms(&a, "Partner Addresses").len(),
        3,
        "the terms moved with the name"
    );
    let gone = api(&a, "GET", "/api/v1/dictionaries/D/entries", None);
    assert_eq!(gone.status, 404);
    let report = a.cli_ok_json(&["policy", "validate"]);
    assert!(
        report["warnings"].to_string().contains("\\\"D\\\""),
        "{report}"
    );

    // Deleting a dictionary a rule uses needs confirmation and lists the rule.
    fs::write(&chain_file, chain_using("Partner Addresses").to_string()).expect("chain");
    a.cli_ok(&["policy", "put", path_str(&chain_file)]);
    let refused = api(
        &a,
        "DELETE",
        "/api/v1/dictionaries/Partner%20Addresses",
        None,
    );
    assert_eq!(refused.status, 409);
    let body = refused.json();
    assert_eq!(
        body["rules"],
        json!([{ "chain": "Partners", "rule": "partners in D" }]),
        "{body}"
    );
    let out = a.cli(&["dictionary", "delete", "Partner Addresses"]);
    assert_error_line(
        &out,
        "deleting a used dictionary",
        &["409", "--confirm", "Partners / partners in D"],
    );
    let v = a.cli_ok_json(&["dictionary", "delete", "Partner Addresses", "--confirm"]);
    assert_eq!(v["invalid_rules"][0]["rule"], "partners in D", "{v}");
    let gone = api(&a, "GET", "/api/v1/dictionaries/Partner%20Addresses", None);
    assert_eq!(gone.status, 404);
    // An unused dictionary goes without confirmation.
    a.cli_ok(&["dictionary", "delete", "Copy"]);
}
