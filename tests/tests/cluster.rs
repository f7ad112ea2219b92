//! End-to-end cluster tests: real `signetd` daemons on loopback ports, driven
//! only through the `signet` CLI, asserting what an administrator would see.
//!
//! Build the binaries first: `cargo build -p signet-appliance`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Cluster, Node, SNAPSHOT_CONFIG, assert_clear_error, describe, dir_contents, is_alone,
    is_standalone, last_applied, member_ids, serial, snapshot_index, voter_count, wait_until,
};

/// A fresh node initializes itself, protects its CLI credentials, keeps its
/// data across a clean restart and exits 0 on SIGTERM.
#[test]
fn standalone_node_initializes_and_stops_cleanly() {
    let _serial = serial();
    let mut a = Node::spawn("A", None);

    let cli_json = a.data_dir().join("cli.json");
    let mode = fs::metadata(&cli_json)
        .unwrap_or_else(|e| panic!("{} missing: {e}", cli_json.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "cli.json must be private (0600)");

    let status = a.status();
    assert!(is_alone(&status), "fresh node is not standalone: {status}");
    assert_eq!(voter_count(&status), 1, "{status}");
    wait_until(Duration::from_secs(10), "node A to lead itself", || {
        let status = a.try_status()?;
        match status["diagnostics"]["role"].as_str() {
            Some("leader") => Ok(()),
            other => Err(format!("role {other:?}")),
        }
    });

    a.add_domain("solo.example");
    a.sigterm();
    a.restart();
    a.assert_has_domains(&["solo.example"]);
    a.sigterm();
}

/// Writes through any member are immediately visible on every member
/// (reads are linearizable, so no polling).
#[test]
fn write_on_any_node_is_visible_on_all() {
    let _serial = serial();
    let mut c = Cluster::three();

    for node in &mut c.nodes {
        let status = node.status();
        assert!(!is_standalone(&status), "node {}: {status}", node.name);
        // cli.json is rewritten on join; it must stay private.
        let mode = fs::metadata(node.data_dir().join("cli.json"))
            .expect("cli.json after join")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "node {}: cli.json mode", node.name);
    }

    c[0].add_domain("a.example");
    c[1].add_domain("b.example");
    c[2].add_domain("c.example");
    for node in &c.nodes {
        node.assert_has_domains(&["a.example", "b.example", "c.example"]);
    }

    c[1].cli_ok(&["user", "add", "alice@b.example", "--name", "Alice"]);
    let alice = c[2].cli_ok_json(&["user", "show", "alice@b.example"]);
    assert_eq!(alice["email"], "alice@b.example", "{alice}");
    assert_eq!(alice["kind"], "internal", "{alice}");

    c[0].cli_ok(&["user", "add", "bob@partner.test", "--external"]);
    let bob = c[1].cli_ok_json(&["user", "show", "bob@partner.test"]);
    assert_eq!(bob["kind"], "external", "{bob}");
    for node in &c.nodes {
        let users = node.cli_ok_json(&["user", "list"]);
        for email in ["alice@b.example", "bob@partner.test"] {
            assert!(
                users
                    .as_array()
                    .is_some_and(|u| u.iter().any(|u| u["email"] == email)),
                "node {}: {email} missing from `user list`: {users}",
                node.name
            );
        }
    }
}

/// Killing the leader with SIGKILL: a write through a surviving node succeeds
/// within 2 s of the kill, and the killed node catches up after a restart.
#[test]
fn leader_kill_failover_within_2s() {
    let _serial = serial();
    let mut c = Cluster::three();
    c[0].add_domain("before.example");

    let leader = c.leader();
    let survivors = c.others(leader);
    c[leader].kill9();
    let killed_at = Instant::now();

    // Retry through alternating survivors until one write succeeds. Each
    // attempt uses a fresh name: a failed-looking attempt may still have been
    // applied, and re-adding the same domain would then fail forever.
    let mut attempt = 0;
    let mut last_failure = String::new();
    let failover_write = loop {
        let via = survivors[attempt % survivors.len()];
        let name = format!("failover-{attempt}.example");
        let out = c[via].cli_timeout(&["domain", "add", &name], Duration::from_secs(15));
        if out.status.success() {
            break name;
        }
        last_failure = format!("via node {}: {}", c[via].name, describe(&out));
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no write succeeded within 30 s of killing the leader; last failure {last_failure}"
        );
        attempt += 1;
        thread::sleep(Duration::from_millis(20));
    };
    let failover = killed_at.elapsed();
    println!(
        "failover: first successful write {:.3} s after kill -9 of leader {} \
         ({attempt} failed attempts)",
        failover.as_secs_f64(),
        c[leader].name
    );

    // A write made while the old leader is down must reach it after restart.
    c[survivors[0]].add_domain("during-absence.example");
    c[leader].start();
    let restarted_at = Instant::now();
    wait_until(
        Duration::from_secs(15),
        "the restarted node to list the writes made during its absence",
        || {
            let listed = c[leader].try_domains()?;
            for d in ["before.example", &failover_write, "during-absence.example"] {
                if !listed.iter().any(|l| l == d) {
                    return Err(format!("{d} missing: {listed:?}"));
                }
            }
            Ok(())
        },
    );
    println!(
        "catch-up: restarted node saw the writes after {:.3} s",
        restarted_at.elapsed().as_secs_f64()
    );
    c[leader].wait_ready();
    c.wait_voters(3);

    // Asserted last so that a slow failover still exercises the catch-up path.
    assert!(
        failover <= Duration::from_secs(2),
        "failover took {failover:?} (> 2 s); last failure before success: {last_failure}"
    );
}

/// A follower that misses more writes than the leader keeps in its log is
/// brought up to date with a snapshot.
#[test]
fn snapshot_catch_up() {
    let _serial = serial();
    let mut c = Cluster::three_with_config(Some(SNAPSHOT_CONFIG));

    let leader = c.leader();
    let stopped = c.others(leader)[0];
    let live = c.others(stopped);
    let index_at_stop = last_applied(&c[stopped].status()).unwrap_or(0);
    c[stopped].sigterm();

    for i in 0..100 {
        c[live[i % live.len()]].add_domain(&format!("d{i}.example"));
    }

    // Snapshots are built in the background; give the leader a moment.
    let leader_snapshot = wait_until(
        Duration::from_secs(10),
        &format!("a snapshot on the leader beyond index {index_at_stop}"),
        || {
            let status = c[leader].try_status()?;
            snapshot_index(&status)
                .filter(|&i| i > index_at_stop)
                .ok_or_else(|| format!("diagnostics: {}", status["diagnostics"]))
        },
    );
    println!("leader snapshot index {leader_snapshot}, follower stopped at {index_at_stop}");

    c[stopped].start();
    wait_until(
        Duration::from_secs(20),
        "the restarted follower to catch up via snapshot",
        || {
            let listed = c[stopped].try_domains()?;
            let missing: Vec<String> = (0..100)
                .map(|i| format!("d{i}.example"))
                .filter(|d| !listed.contains(d))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} domains missing, e.g. {}",
                    missing.len(),
                    missing[0]
                ));
            }
            let status = c[stopped].try_status()?;
            match snapshot_index(&status) {
                Some(i) if i > index_at_stop => Ok(()),
                _ => Err(format!("diagnostics: {}", status["diagnostics"])),
            }
        },
    );
    c[stopped].wait_ready();
    c.wait_voters(3);
}

/// Removing members: the removed node becomes standalone with its data; the
/// rest keeps working; removing the second-to-last member dissolves the
/// cluster into two standalone nodes.
#[test]
fn remove_member() {
    let _serial = serial();
    let c = Cluster::three();
    c[0].add_domain("shared.example");
    let (a_id, b_id, c_id) = (c[0].node_id(), c[1].node_id(), c[2].node_id());

    c[0].cli_ok(&["cluster", "remove", &c_id.to_string()]);
    for i in [0, 1] {
        wait_until(
            Duration::from_secs(5),
            &format!("node {} to list members A and B only", c[i].name),
            || {
                let ids = member_ids(&c[i].try_status()?);
                let mut expected = vec![a_id, b_id];
                expected.sort_unstable();
                if ids == expected {
                    Ok(())
                } else {
                    Err(format!("members {ids:?}"))
                }
            },
        );
    }
    wait_until(
        Duration::from_secs(30),
        "the removed node C to become standalone",
        || {
            let status = c[2].try_status()?;
            if is_alone(&status) {
                Ok(())
            } else {
                Err(status.to_string())
            }
        },
    );
    c[2].assert_has_domains(&["shared.example"]);
    // A standalone node is a working single-node cluster.
    c[2].add_domain("c-alone.example");

    c[0].add_domain("after-remove.example");
    c[1].assert_has_domains(&["shared.example", "after-remove.example"]);
    assert!(
        !c[0].domains().iter().any(|d| d == "c-alone.example"),
        "a write on the removed node leaked into the cluster"
    );

    // Remove B from the two-node cluster: both halves become standalone.
    c[0].cli_ok(&["cluster", "remove", &b_id.to_string()]);
    for i in [0, 1] {
        wait_until(
            Duration::from_secs(30),
            &format!("node {} to become standalone", c[i].name),
            || {
                let status = c[i].try_status()?;
                if is_alone(&status) {
                    Ok(())
                } else {
                    Err(status.to_string())
                }
            },
        );
        c[i].assert_has_domains(&["shared.example", "after-remove.example"]);
    }
    c[0].add_domain("a-alone.example");
    c[1].add_domain("b-alone.example");
}

/// Stopping every node cleanly and starting them again loses nothing.
#[test]
fn whole_cluster_restart_loses_nothing() {
    let _serial = serial();
    let mut c = Cluster::three();

    c[0].add_domain("a.example");
    c[1].add_domain("b.example");
    c[2].add_domain("c.example");
    c[1].cli_ok(&["user", "add", "alice@a.example"]);
    c[2].cli_ok(&["user", "add", "bob@elsewhere.test", "--external"]);
    c[0].cli_ok(&["learn-mode", "on"]);

    // Each exits 0, including the last ones, which have lost their quorum.
    for node in &mut c.nodes {
        node.sigterm();
    }
    for node in &mut c.nodes {
        node.start();
    }
    for node in &mut c.nodes {
        node.wait_ready();
    }
    c.wait_voters(3);

    for node in &c.nodes {
        node.assert_has_domains(&["a.example", "b.example", "c.example"]);
        let alice = node.cli_ok_json(&["user", "show", "alice@a.example"]);
        assert_eq!(alice["kind"], "internal", "node {}: {alice}", node.name);
        let bob = node.cli_ok_json(&["user", "show", "bob@elsewhere.test"]);
        assert_eq!(bob["kind"], "external", "node {}: {bob}", node.name);
        let learn = node.cli_ok_json(&["learn-mode", "status"]);
        assert_eq!(learn["learn_mode"], true, "node {}: {learn}", node.name);
    }
}

// ---------------------------------------------------------------------------
// Bad input and failures
// ---------------------------------------------------------------------------

/// A garbage join token is rejected and the node keeps its own data.
#[test]
fn bad_input_join_with_garbage_token() {
    let _serial = serial();
    let mut node = Node::spawn("J", None);
    node.add_domain("mine.example");

    let out = node.cli(&["cluster", "join", "garbage"]);
    let error = assert_clear_error(&out, "cluster join garbage");
    println!("join garbage: {error}");

    assert!(node.is_running(), "signetd died after a bad join");
    let status = node.status();
    assert!(is_alone(&status), "node changed membership: {status}");
    node.assert_has_domains(&["mine.example"]);
}

/// A join token works once; a second node presenting it is refused and keeps
/// its own data.
#[test]
fn bad_input_reused_token() {
    let _serial = serial();
    let mut a = Node::spawn("A", None);
    let mut b = Node::spawn("B", None);
    let mut d = Node::spawn("D", None);
    d.add_domain("d-own.example");

    let reply = a.cli_ok_json(&["cluster", "token", "--ttl-secs", "600"]);
    let token = reply["token"]
        .as_str()
        .unwrap_or_else(|| panic!("token reply without a token: {reply}"))
        .to_string();
    b.cli_ok(&["cluster", "join", &token]);
    b.wait_ready();

    let out = d.cli(&["cluster", "join", &token]);
    let error = assert_clear_error(&out, "second join with a used token");
    let lower = error.to_lowercase();
    assert!(
        lower.contains("token") && (lower.contains("used") || lower.contains("invalid")),
        "error should say the token was used/invalid: {error}"
    );

    assert!(d.is_running(), "signetd on D died after a refused join");
    let status = d.status();
    assert!(is_alone(&status), "D changed membership: {status}");
    d.assert_has_domains(&["d-own.example"]);
    // And the cluster did not grow.
    let status = a.status();
    assert_eq!(
        member_ids(&status),
        {
            let mut ids = vec![a.node_id(), b.node_id()];
            ids.sort_unstable();
            ids
        },
        "{status}"
    );
}

/// Removing a node id that is not a member fails and changes nothing.
#[test]
fn bad_input_remove_unknown_member() {
    let _serial = serial();
    let mut c = Cluster::form(2, None);
    let before = member_ids(&c[0].status());

    let out = c[0].cli(&["cluster", "remove", "999"]);
    let error = assert_clear_error(&out, "cluster remove 999");
    println!("remove 999: {error}");

    assert_eq!(member_ids(&c[1].status()), before);
    c[1].add_domain("still-works.example");
}

/// signetd refuses a data directory that is not its own, quickly, with an
/// error, and without touching what is there.
#[test]
fn bad_input_foreign_data_dir() {
    let _serial = serial();
    /// A case name and the files planted in the data directory.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);
    let cases: [Case; 2] = [
        (
            "unrelated files",
            &[("notes.txt", b"my notes, not signet's\n")],
        ),
        (
            "garbage in place of the database",
            &[
                ("notes.txt", b"my notes, not signet's\n"),
                ("raft", b"\x00\xffthis is not a database\x13\x37"),
            ],
        ),
    ];
    for (case, files) in cases {
        let mut node = Node::new("F", None);
        for (name, contents) in files {
            fs::write(node.data_dir().join(name), contents).expect("write foreign file");
        }
        let before = dir_contents(node.data_dir());

        node.start();
        let status = node.wait_exit(Duration::from_secs(10));
        assert!(
            !status.success() && status.code().is_some(),
            "{case}: expected a non-zero exit, got {status}\n{}",
            node.log_tail(20)
        );
        let log = node.log();
        let output: Vec<&str> = log
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("===== harness"))
            .collect();
        assert!(
            !output.is_empty() && !log.contains("panicked"),
            "{case}: expected a clear error on stderr\n{}",
            node.log_tail(20)
        );
        println!("{case}: signetd said: {}", output[output.len() - 1]);

        // The foreign files must still be there, byte for byte.
        let after = dir_contents(node.data_dir());
        for entry in &before {
            assert!(
                after.contains(entry),
                "{case}: {} was modified or deleted; directory now holds {:?}",
                entry.0,
                after.iter().map(|e| &e.0).collect::<Vec<_>>()
            );
        }
    }
}

/// With two of three nodes dead, a write fails in bounded time with a clear
/// error; after recovery all nodes agree on whether it happened, and writes
/// work again.
#[test]
fn bad_input_quorum_loss() {
    let _serial = serial();
    let mut c = Cluster::three();
    c[0].add_domain("pre.example");

    // Keep the leader alive: its uncommitted log entry is the case where a
    // half-applied change could appear after recovery.
    let survivor = c.leader();
    let dead = c.others(survivor);
    for &i in &dead {
        c[i].kill9();
    }

    let started = Instant::now();
    let out = c[survivor].cli_timeout(&["domain", "add", "lost.example"], Duration::from_secs(30));
    let took = started.elapsed();
    let error = assert_clear_error(&out, "write without quorum");
    println!(
        "write without quorum failed after {:.3} s: {error}",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(15),
        "write without quorum took {took:?} to fail"
    );

    for &i in &dead {
        c[i].start();
    }
    for &i in &dead {
        c[i].wait_ready();
    }

    // Once a new write commits, the fate of lost.example is decided for good
    // (it was either committed by the new leader or discarded), so the
    // comparison below cannot race with it. Fresh names per attempt: a failed
    // attempt may still have been applied.
    let mut attempt = 0;
    let recovered = wait_until(
        Duration::from_secs(20),
        "a write to succeed after the cluster recovered",
        || {
            attempt += 1;
            let name = format!("post-{attempt}.example");
            let out = c[survivor].cli_timeout(&["domain", "add", &name], Duration::from_secs(15));
            if out.status.success() {
                Ok(name)
            } else {
                Err(describe(&out))
            }
        },
    );
    c.wait_voters(3);

    let mut lost_present = Vec::new();
    for node in &c.nodes {
        node.assert_has_domains(&["pre.example", &recovered]);
        lost_present.push((
            node.name.clone(),
            node.domains().iter().any(|d| d == "lost.example"),
        ));
    }
    assert!(
        lost_present.iter().all(|(_, p)| *p == lost_present[0].1),
        "nodes disagree on the failed write: {lost_present:?}"
    );
    println!(
        "failed write is {} on all nodes",
        if lost_present[0].1 {
            "present"
        } else {
            "absent"
        }
    );
}
