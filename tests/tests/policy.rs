//! End-to-end tests for the mail policy's chains through the `signet` CLI: setup installs the
//! factory chains; a chain is written whole, validated on the server, read back, and deleted;
//! an invalid chain is refused with its findings and changes nothing; factory chains cannot be
//! deleted (guide §14.10). Rules are edited one at a time (add, put, move, enable/disable,
//! delete) and the effect is checked in a dry-run evaluation; chains are exported and imported
//! into a second node with Ignore and Replace, and bad bundles are refused whole.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use common::{CLI_TIMEOUT, Node, describe, run_bounded, serial};
use keys_support::*;

#[test]
fn chains_are_validated_stored_and_protected() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    let chains = a.cli_ok_json(&["policy", "list"]);
    let names: Vec<String> = chains
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_lowercase))
        .collect();
    assert!(names.contains(&"default".to_string()), "{chains}");
    assert!(names.contains(&"exception".to_string()), "{chains}");
    let report = a.cli_ok_json(&["policy", "validate"]);
    assert_eq!(
        report["errors"],
        json!([]),
        "the factory policy is valid: {report}"
    );

    // The factory rules read the managed domains from a dictionary that follows the list.
    let entries = |a: &Node| {
        a.api_json(
            "GET",
            "/api/v1/dictionaries/Managed%20Domains/entries",
            None,
        )
        .to_string()
    };
    assert!(entries(&a).contains("example.com"), "{}", entries(&a));
    a.cli_ok(&["domain", "add", "example.net"]);
    assert!(entries(&a).contains("example.net"), "{}", entries(&a));
    a.cli_ok(&["domain", "remove", "example.net"]);
    assert!(!entries(&a).contains("example.net"), "{}", entries(&a));

    // A chain of our own: partner mail gets a header and is delivered.
    let chain = json!({
        "name": "Partners",
        "applicability": "Server",
        "factory": false,
        "rules": [{
            "name": "tag partner mail",
            "description": "scenario 17",
            "enabled": true,
            "conditions": {
                "statement": "All",
                "children": [{"Condition": {
                    "subject": "RecipientDomain",
                    "modifier": "Is",
                    "value": "EXT.TEST",
                    "negate": false
                }}]
            },
            "actions": [
                {"AddHeader": {"name": "X-T", "value": "1", "replace_existing": false}},
                "Deliver"
            ],
            "key_search": []
        }]
    });
    let file = dir.path().join("partners.json");
    fs::write(&file, chain.to_string()).expect("chain file");
    let put = a.cli_ok_json(&["policy", "put", path_str(&file)]);
    assert_eq!(put["replaced"], false, "{put}");
    let shown = a.cli_ok_json(&["policy", "show", "partners"]);
    assert_eq!(shown["rules"][0]["name"], "tag partner mail", "{shown}");
    assert_eq!(shown["rules"][0]["actions"][1], "Deliver", "{shown}");
    // Putting it again replaces it.
    let again = a.cli_ok_json(&["policy", "put", path_str(&file)]);
    assert_eq!(again["replaced"], true, "{again}");

    // A rule with no conditions is refused with its finding; nothing changes.
    let mut bad = chain.clone();
    bad["rules"][0]["conditions"]["children"] = json!([]);
    bad["rules"][0]["name"] = json!("no conditions");
    fs::write(&file, bad.to_string()).expect("chain file");
    let out = a.cli(&["policy", "put", path_str(&file)]);
    assert_error_line(&out, "a rule without conditions", &["422", "not be valid"]);
    let shown = a.cli_ok_json(&["policy", "show", "Partners"]);
    assert_eq!(shown["rules"][0]["name"], "tag partner mail", "{shown}");

    // Malformed JSON for a chain is a clear error too.
    fs::write(&file, r#"{"name": "Broken", "rules": 3}"#).expect("chain file");
    let out = a.cli(&["policy", "put", path_str(&file)]);
    assert_error_line(&out, "a malformed chain", &["422"]);

    // Factory chains cannot be deleted; ours can, once.
    let out = a.cli(&["policy", "delete", "Default"]);
    assert_error_line(
        &out,
        "deleting the Default chain",
        &["409", "comes with the product"],
    );
    let out = a.cli(&["policy", "delete", "Exception"]);
    assert_error_line(&out, "deleting the Exception chain", &["409"]);
    // A factory chain edited by hand comes back as it ships; our own chain stays.
    let mut outbound = a.cli_ok_json(&["policy", "show", "Outbound"]);
    let shipped_rules = outbound["rules"].as_array().map(Vec::len);
    outbound["rules"] = json!([]);
    fs::write(&file, outbound.to_string()).expect("chain file");
    a.cli_ok_json(&["policy", "put", path_str(&file)]);
    assert_eq!(
        a.cli_ok_json(&["policy", "show", "Outbound"])["rules"],
        json!([])
    );
    a.cli_ok_json(&["policy", "restore-factory-defaults"]);
    let back = a.cli_ok_json(&["policy", "show", "Outbound"]);
    assert_eq!(
        back["rules"].as_array().map(Vec::len),
        shipped_rules,
        "{back}"
    );
    assert_eq!(
        a.cli_ok_json(&["policy", "show", "Partners"])["name"],
        "Partners"
    );

    a.cli_ok(&["policy", "delete", "Partners"]);
    let out = a.cli(&["policy", "delete", "Partners"]);
    assert_error_line(&out, "deleting twice", &["404"]);
}

/// Dictionaries through `signet dictionary`: create, add from arguments and a file, list the
/// entries (an export), search across dictionaries, remove, delete; factory dictionaries stay.
#[test]
fn dictionaries_are_managed_from_the_cli() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    a.cli_ok(&[
        "dictionary",
        "create",
        "VIP",
        "--description",
        "very important",
    ]);
    a.cli_ok(&["dictionary", "add", "VIP", "CEO@example.com"]);
    let file = dir.path().join("more.txt");
    fs::write(&file, "cfo@example.com\n\ncto@example.com\n").expect("entries file");
    let added = a.cli_ok_json(&["dictionary", "add", "VIP", "--file", path_str(&file)]);
    assert_eq!(added["added"], 2, "{added}");
    let entries = a.cli_ok(&["dictionary", "entries", "VIP"]);
    assert_eq!(
        entries.lines().collect::<Vec<_>>(),
        ["ceo@example.com", "cfo@example.com", "cto@example.com"],
        "entries are lower-cased and listed one per line"
    );
    let found = a.cli_ok_json(&["dictionary", "search", "CFO"]);
    assert_eq!(found["results"][0]["dictionary"], "VIP", "{found}");
    let removed = a.cli_ok_json(&["dictionary", "remove", "VIP", "cto@example.com", "nobody@x"]);
    assert_eq!(removed["removed"], 1, "{removed}");
    let out = a.cli(&["dictionary", "add", "VIP"]);
    assert_error_line(&out, "adding nothing", &["give entries"]);

    let out = a.cli(&["dictionary", "delete", "Managed Domains"]);
    assert_error_line(&out, "deleting a factory dictionary", &["409"]);
    a.cli_ok(&["dictionary", "delete", "VIP"]);
    let out = a.cli(&["dictionary", "entries", "VIP"]);
    assert_error_line(&out, "a deleted dictionary", &["404"]);
}

// ---------------------------------------------------------------------------
// Rule editing, the dry run, export and import
// ---------------------------------------------------------------------------

/// A rule as JSON: recipient domain is `domain` → add a header (continues).
fn tag_rule(name: &str, domain: &str) -> Value {
    json!({
        "name": name,
        "description": "tags mail to a partner",
        "enabled": true,
        "conditions": {"statement": "All", "children": [{"Condition": {
            "subject": "RecipientDomain", "modifier": "Is", "value": domain, "negate": false
        }}]},
        "actions": [{"AddHeader": {"name": "X-Partner", "value": "1", "replace_existing": false}}],
        "key_search": []
    })
}

fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    let file = dir.join(name);
    fs::write(&file, v.to_string()).expect("write JSON file");
    file.to_str().expect("UTF-8 path").to_string()
}

fn rule_names(node: &Node, chain: &str) -> Vec<String> {
    node.cli_ok_json(&["policy", "rule", "list", chain])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect()
}

/// `signet policy evaluate` of an outbound message from alice@example.com to bob@ext.test;
/// the rules that fired, as "Chain / Rule", and the outcome.
fn dry_run(node: &Node, extra: &[&str]) -> (Vec<String>, String) {
    let mut args = vec![
        "policy",
        "evaluate",
        "--from",
        "alice@example.com",
        "--to",
        "bob@ext.test",
    ];
    args.extend_from_slice(extra);
    let v = node.cli_ok_json(&args);
    let summary = &v["summary"][0];
    let fired = summary["fired"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    (fired, summary["outcome"].as_str().unwrap_or("").to_string())
}

#[test]
fn rules_are_edited_one_by_one_and_the_dry_run_shows_it() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);

    // The factory policy on a sensitive outbound message: Outbound's "Sensitive Mail" fires
    // and Secure With Key Only sends it (Learn Mode is on after setup: the plan delivers
    // unchanged, the trace says what would have happened).
    let sensitive = ["--subject", "[PGP] quarterly figures"];
    let (fired, outcome) = dry_run(&a, &sensitive);
    assert!(
        fired.contains(&"Outbound / Sensitive Mail".to_string()),
        "{fired:?}"
    );
    assert_eq!(
        fired.last().map(String::as_str),
        Some("Outbound: Secure With Key Only / Encrypt to Key"),
        "{fired:?}"
    );
    assert_eq!(outcome, "finished");
    let full = a.cli_ok_json(&[
        "policy",
        "evaluate",
        "--from",
        "alice@example.com",
        "--to",
        "bob@ext.test",
        "--header",
        "Sensitivity: Company-Confidential",
        "--learn-mode",
        "false",
    ]);
    assert_eq!(
        full["plan"]["recipients"][0]["disposition"]["kind"], "finished",
        "{full}"
    );
    assert!(
        full["plan"]["recipients"][0]["disposition"]["action"]
            .to_string()
            .contains("Send"),
        "{full}"
    );
    assert_eq!(full["facts"]["service"], "SmtpOutbound", "{full}");
    assert_eq!(full["facts"]["users"][1]["internal"], true, "{full}");
    let learn = a.cli_ok_json(&[
        "policy",
        "evaluate",
        "--from",
        "alice@example.com",
        "--to",
        "bob@ext.test",
        "--subject",
        "[PDF] x",
        "--learn-mode",
        "true",
    ]);
    assert_eq!(
        learn["plan"]["recipients"][0]["disposition"]["kind"], "deliver_unchanged",
        "{learn}"
    );
    // A whole message works too; the text summary names the rules.
    let message = dir.path().join("m.eml");
    fs::write(
        &message,
        "From: alice@example.com\r\nTo: bob@ext.test\r\nSensitivity: Private\r\nSubject: hi\r\n\r\nbody\r\n",
    )
    .expect("message file");
    let text = a.cli_ok(&[
        "policy",
        "evaluate",
        "--from",
        "alice@example.com",
        "--to",
        "bob@ext.test",
        "--message-file",
        path_str(&message),
    ]);
    assert!(text.contains("Outbound / Sensitive Mail"), "{text}");

    // Disable "Sensitive Mail": the same message now leaves through "Send Clear".
    assert_eq!(
        rule_names(&a, "Outbound"),
        ["Expand Mailing Lists", "Sensitive Mail", "Send Clear"]
    );
    a.cli_ok_json(&["policy", "rule", "disable", "Outbound", "sensitive mail"]);
    let shown = a.cli_ok_json(&["policy", "rule", "show", "Outbound", "Sensitive Mail"]);
    assert_eq!(shown["enabled"], false, "{shown}");
    let (fired, _) = dry_run(&a, &sensitive);
    assert!(
        !fired.iter().any(|f| f.contains("Sensitive Mail")),
        "{fired:?}"
    );
    assert_eq!(
        fired.last().map(String::as_str),
        Some("Outbound / Send Clear")
    );
    a.cli_ok_json(&["policy", "rule", "enable", "Outbound", "Sensitive Mail"]);
    assert!(
        dry_run(&a, &sensitive)
            .0
            .contains(&"Outbound / Sensitive Mail".to_string())
    );

    // Reorder: "Send Clear" first wins over everything after it (with a warning).
    let moved = a.cli_ok_json(&["policy", "rule", "move", "Outbound", "Send Clear", "1"]);
    assert!(
        moved["warnings"].to_string().contains("AfterAlwaysTrue"),
        "{moved}"
    );
    assert_eq!(
        rule_names(&a, "Outbound"),
        ["Send Clear", "Expand Mailing Lists", "Sensitive Mail"]
    );
    assert_eq!(
        dry_run(&a, &sensitive).0.last().map(String::as_str),
        Some("Outbound / Send Clear")
    );
    a.cli_ok_json(&["policy", "rule", "move", "Outbound", "Send Clear", "3"]);
    let out = a.cli(&["policy", "rule", "move", "Outbound", "Send Clear", "4"]);
    assert_error_line(&out, "a position past the end", &["422", "1 to 3"]);

    // Add a continuing rule at position 1: it fires, then the rest goes on as before.
    let rule = write_json(
        dir.path(),
        "tag.json",
        &tag_rule("Tag Partner Mail", "EXT.TEST"),
    );
    let added = a.cli_ok_json(&[
        "policy",
        "rule",
        "add",
        "Outbound",
        &rule,
        "--position",
        "1",
    ]);
    assert_eq!(added["position"], 1, "{added}");
    let (fired, _) = dry_run(&a, &sensitive);
    assert_eq!(
        fired[1..3],
        [
            "Outbound / Tag Partner Mail".to_string(),
            "Outbound / Sensitive Mail".to_string()
        ],
        "{fired:?}"
    );
    let out = a.cli(&["policy", "rule", "add", "Outbound", &rule]);
    assert_error_line(
        &out,
        "a duplicate rule name",
        &["409", "already has a rule"],
    );
    let out = a.cli(&["policy", "rule", "show", "Outbound", "Nope"]);
    assert_error_line(&out, "an unknown rule", &["404", "no rule \"Nope\""]);

    // Edit in place (and rename); an edit that would make the policy invalid changes nothing.
    let mut edited = tag_rule("Tag Partners", "ext.test");
    edited["description"] = json!("edited");
    let file = write_json(dir.path(), "edited.json", &edited);
    a.cli_ok_json(&[
        "policy",
        "rule",
        "put",
        "Outbound",
        "Tag Partner Mail",
        &file,
    ]);
    assert_eq!(rule_names(&a, "Outbound")[0], "Tag Partners");
    edited["conditions"]["children"] = json!([]);
    let file = write_json(dir.path(), "bad.json", &edited);
    let out = a.cli(&["policy", "rule", "put", "Outbound", "Tag Partners", &file]);
    assert_error_line(
        &out,
        "a rule without conditions",
        &["422", "nothing was changed", "no conditions"],
    );
    let shown = a.cli_ok_json(&["policy", "rule", "show", "Outbound", "Tag Partners"]);
    assert_eq!(shown["description"], "edited", "{shown}");

    // Delete it; the chain is back as it shipped.
    a.cli_ok_json(&["policy", "rule", "delete", "Outbound", "Tag Partners"]);
    assert_eq!(
        rule_names(&a, "Outbound"),
        ["Expand Mailing Lists", "Sensitive Mail", "Send Clear"]
    );

    // Chain applicability: a Standalone chain cannot Deliver; ServerAndClient can.
    let chain = json!({"name": "Partners", "applicability": "Server", "factory": false, "rules": [{
        "name": "deliver", "description": "", "enabled": true,
        "conditions": {"statement": "AlwaysTrue", "children": []},
        "actions": ["Deliver"], "key_search": []
    }]});
    let file = write_json(dir.path(), "partners.json", &chain);
    a.cli_ok_json(&["policy", "put", &file]);
    let out = a.cli(&["policy", "applicability", "Partners", "Standalone"]);
    assert_error_line(&out, "Deliver in a Standalone chain", &["422"]);
    let patched = a.cli_ok_json(&["policy", "applicability", "Partners", "ServerAndClient"]);
    assert_eq!(patched["applicability"], "ServerAndClient", "{patched}");
    assert_eq!(
        a.cli_ok_json(&["policy", "show", "Partners"])["applicability"],
        "ServerAndClient"
    );
}

/// Calls the API with a raw body (for bodies the CLI would not send); the status and the
/// answer's JSON.
fn api_raw(node: &Node, method: &str, path: &str, body: &str) -> (u16, Value) {
    let cli: Value =
        serde_json::from_slice(&fs::read(node.data_dir().join("cli.json")).expect("cli.json"))
            .expect("cli.json is JSON");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "-X", method])
        .args([
            "-H",
            &format!(
                "authorization: Bearer {}",
                cli["token"].as_str().unwrap_or("")
            ),
        ])
        .args(["-H", "content-type: application/json"])
        .args(["-w", "\n%{http_code}", "--data-binary", body])
        .arg(format!(
            "https://{}{path}",
            cli["api"].as_str().unwrap_or("")
        ));
    let out = run_bounded(cmd, CLI_TIMEOUT).expect("curl hung");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", describe(&out)));
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn export_all(node: &Node) -> Value {
    node.cli_ok_json(&["policy", "export"])
}

/// The Partners chains, reading "Partner Domains" (a literal and a pattern).
fn partner_policy(a: &Node, dir: &Path) {
    a.cli_ok(&[
        "dictionary",
        "create",
        "Partner Domains",
        "--description",
        "our partners",
        "ext.test",
    ]);
    a.cli_ok(&[
        "dictionary",
        "add",
        "Partner Domains",
        "--pattern",
        r".*\.ext\.test",
    ]);
    let rule = |name: &str, conditions: Value, action: Value| {
        json!({"name": name, "description": "", "enabled": true, "conditions": conditions,
               "actions": [action], "key_search": []})
    };
    let partners = json!({"name": "Partners", "applicability": "Server", "factory": false,
        "rules": [rule("to partners",
            json!({"statement": "All", "children": [{"Condition": {"subject": "RecipientDomain",
                "modifier": "IsInDictionary", "value": "Partner Domains", "negate": false}}]}),
            json!({"GoToChain": {"chain": "Partner Delivery"}}))]});
    let delivery = json!({"name": "Partner Delivery", "applicability": "Server", "factory": false,
        "rules": [rule("deliver", json!({"statement": "AlwaysTrue", "children": []}), json!("Deliver"))]});
    a.cli_ok_json(&[
        "policy",
        "put",
        &write_json(dir, "delivery.json", &delivery),
    ]);
    a.cli_ok_json(&[
        "policy",
        "put",
        &write_json(dir, "partners.json", &partners),
    ]);
}

#[test]
fn chains_are_exported_and_imported_with_their_dictionaries() {
    let _serial = serial();
    let dir = tmp();
    let a = Node::spawn("A", None);
    setup(&a, &["example.com"]);
    partner_policy(&a, dir.path());

    // Export one chain: the chain it goes to and the dictionary it reads come along.
    let file = dir.path().join("partners.bundle.json");
    let written = a.cli_ok_json(&[
        "policy",
        "export",
        "--chains",
        "partners",
        "-o",
        path_str(&file),
    ]);
    assert_eq!(written["chains"], 2, "{written}");
    let bundle: Value = serde_json::from_slice(&fs::read(&file).expect("bundle")).expect("JSON");
    assert_eq!(bundle["format"], "signet-policy 1");
    assert_eq!(
        bundle["dictionaries"][0]["name"], "Partner Domains",
        "{bundle}"
    );
    let entries = bundle["dictionaries"][0]["entries"].to_string();
    assert!(
        entries.contains(r#""kind":"pattern""#) && entries.contains("ext.test"),
        "{entries}"
    );
    let all = dir.path().join("all.bundle.json");
    a.cli_ok(&["policy", "export", "-o", path_str(&all)]);

    // Into a fresh node: the same chains and dictionaries.
    let b = Node::spawn("B", None);
    setup(&b, &["example.com"]);
    let imported = b.cli_ok_json(&["policy", "import", path_str(&all)]);
    assert!(
        imported["kept"]["chains"].to_string().contains("Default"),
        "{imported}"
    );
    assert_eq!(export_all(&b), export_all(&a));

    // Ignore keeps B's own changes; Replace overwrites them (a factory chain stays factory).
    b.cli_ok_json(&["policy", "rule", "disable", "Partners", "to partners"]);
    b.cli_ok_json(&["dictionary", "remove", "Partner Domains", "ext.test"]);
    b.cli_ok_json(&["policy", "rule", "disable", "Outbound", "Send Clear"]);
    let changed = export_all(&b);
    let kept = b.cli_ok_json(&["policy", "import", path_str(&all)]);
    assert_eq!(kept["created"], json!([]), "{kept}");
    assert_eq!(export_all(&b), changed, "Ignore changed nothing");
    let replaced = b.cli_ok_json(&["policy", "import", path_str(&all), "--replace"]);
    assert!(
        replaced["replaced"].to_string().contains("Partner Domains"),
        "{replaced}"
    );
    assert_eq!(
        export_all(&b),
        export_all(&a),
        "Replace restored A's policy"
    );
    let out = b.cli(&["policy", "delete", "Outbound"]);
    assert_error_line(&out, "deleting a replaced factory chain", &["409"]);

    // Bad bundles are refused whole, with every problem, and nothing changes.
    let before = export_all(&b);
    let dictionaries_before = b.cli_ok(&["dictionary", "list"]);
    let (code, problem) = api_raw(
        &b,
        "POST",
        "/api/v1/policy/import",
        r#"{"format": "signet-po"#,
    );
    assert_eq!(code, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("not valid JSON"),
        "{problem}"
    );
    let broken = dir.path().join("broken.json");
    fs::write(&broken, "{ not json").expect("file");
    let out = b.cli(&["policy", "import", path_str(&broken)]);
    assert_error_line(
        &out,
        "a malformed bundle",
        &["nothing was imported", "not a JSON"],
    );
    let mut foreign = bundle.clone();
    foreign["format"] = json!("pgp-universal-xml");
    let out = b.cli(&[
        "policy",
        "import",
        &write_json(dir.path(), "foreign.json", &foreign),
    ]);
    assert_error_line(&out, "a wrong format marker", &["422", "format"]);

    // A chain that reads a dictionary nowhere to be found, beside a new dictionary and chain
    // that would be fine on their own: none of it is written.
    let mut missing = bundle.clone();
    let chains = missing["chains"].as_array_mut().expect("chains");
    for chain in chains.iter_mut() {
        if chain["name"] == "Partners" {
            chain["rules"][0]["conditions"]["children"][0]["Condition"]["value"] = json!("Nowhere");
            chain["rules"][0]["actions"][0]["GoToChain"]["chain"] = json!("Partner Delivery 2");
        }
        let renamed = format!("{} 2", chain["name"].as_str().unwrap_or(""));
        chain["name"] = json!(renamed);
    }
    missing["dictionaries"][0]["name"] = json!("Partner Domains 2");
    let out = b.cli(&[
        "policy",
        "import",
        &write_json(dir.path(), "missing.json", &missing),
        "--replace",
    ]);
    assert_error_line(
        &out,
        "a missing dictionary",
        &[
            "422",
            "\"Nowhere\" is neither in the bundle nor on the server",
            "nothing was imported",
        ],
    );
    let (code, problem) = api_raw(
        &b,
        "POST",
        "/api/v1/policy/import?on_clash=replace",
        &missing.to_string(),
    );
    assert_eq!(code, 422, "{problem}");
    assert!(
        problem["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{problem}"
    );
    assert_eq!(
        export_all(&b),
        before,
        "a refused import changed the policy"
    );
    assert_eq!(b.cli_ok(&["dictionary", "list"]), dictionaries_before);
}
