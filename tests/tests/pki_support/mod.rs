//! Test certificates made with the `openssl` command a user has: a throw-away CA and the
//! certificates it issues (P-256 keys, valid two days), written into a directory as PEM files.
//! Tests that need a server or client certificate signed by a CA they control use these.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{describe, run_bounded};

/// Runs `openssl ARGS` in `dir`; a failure fails the test with openssl's output.
pub fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    let out = run_bounded(cmd, Duration::from_secs(60)).expect("openssl hung");
    assert!(out.status.success(), "openssl {args:?}\n{}", describe(&out));
}

/// A CA named `subject` (e.g. `/CN=Test CA`): `ca.pem` and `ca.key` in `dir`.
pub fn make_ca(dir: &Path, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate issued by the CA in `dir` (see [`make_ca`]): `<name>.pem` and `<name>.key`.
/// `extensions` is an openssl extension file's text (key usage, extended key usage, names).
pub fn issue(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let (key, csr, ext, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    );
    std::fs::write(dir.join(&ext), extensions).expect("write the extension file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}
