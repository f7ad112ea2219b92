//! End-to-end tests for the mail policy's chains through the `signet` CLI: setup installs the
//! factory chains; a chain is written whole, validated on the server, read back, and deleted;
//! an invalid chain is refused with its findings and changes nothing; factory chains cannot be
//! deleted (guide §14.10).
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;
mod keys_support;

use std::fs;

use serde_json::json;

use common::{Node, serial};
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
