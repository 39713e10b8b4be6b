//! `rediss://` with the `tls` feature, against a private `redis-server` serving TLS with a
//! throwaway CA made by `openssl`: trusted, the backend connects and an event goes round trip;
//! untrusted, connecting is a typed error. Built only with `--features tls` (`.ci/run`'s
//! `--all-features` pass).
//!
//! A `rediss://` URL trusts the system's roots, which `SSL_CERT_FILE` can name; setting it in
//! this process would need `unsafe`, so the test runs this binary again with it set.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use necro_backend_redis::{ConnectError, RedisBackend};
use necro_core::Backend;
use support::{RedisServer, drain, event, ids, unique_key};

/// The `rediss://` URL the child half connects to.
const URL_VAR: &str = "NECRO_TLS_TEST_URL";
/// `trusted` or `untrusted`: what the child half expects.
const EXPECT_VAR: &str = "NECRO_TLS_TEST_EXPECT";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for `localhost` signed by it, in `dir`.
fn make_certs(dir: &Path) {
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    let key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-days", "1"][..],
            &key,
            &["-subj", "/CN=necro test CA"],
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &key,
            &["-subj", "/CN=localhost"],
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

/// Runs the child half in a fresh process of this test binary; `ca` is the only root it trusts
/// (`None`: an empty file, so the server's CA is unknown).
fn run_child(dir: &Path, url: &str, ca: Option<&Path>, expect: &str) {
    let empty = dir.join("no-roots.pem");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tls_child", "--ignored", "--nocapture"])
        .env("SSL_CERT_FILE", ca.unwrap_or(&empty))
        .env_remove("SSL_CERT_DIR")
        .env(URL_VAR, url)
        .env(EXPECT_VAR, expect)
        .output()
        .expect("the test binary runs again");
    assert!(
        out.status.success(),
        "child ({expect}) failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run: {stdout}"
    );
}

#[test]
fn a_rediss_url_connects_over_tls_and_checks_the_certificate() {
    if Command::new("openssl").arg("version").output().is_err() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true and no openssl binary: failing instead of skipping"
        );
        eprintln!("SKIPPED: no openssl binary on PATH");
        return;
    }
    let dir = std::env::temp_dir().join(unique_key("tls").replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    make_certs(&dir);
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    // Two free ports are picked apart from each other and released before the server binds
    // them, so another process may take one first: a server that does not come up is tried
    // again on new ports.
    let mut last = String::new();
    let mut started = None;
    for _ in 0..3 {
        let tls_port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port()
            .to_string();
        let Some(attempt) = RedisServer::try_start_with(
            false,
            &[
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                cert.to_str().unwrap(),
                "--tls-key-file",
                key.to_str().unwrap(),
                "--tls-auth-clients",
                "no",
            ],
        ) else {
            return;
        };
        match attempt {
            Ok(server) => {
                started = Some((server, tls_port));
                break;
            }
            Err(e) => last = e,
        }
    }
    let Some((server, tls_port)) = started else {
        panic!("no TLS redis-server came up in 3 tries: {last}");
    };
    let url = format!("rediss://localhost:{tls_port}");
    run_child(&dir, &url, Some(&dir.join("ca.crt")), "trusted");
    run_child(&dir, &url, None, "untrusted");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child half; run by the test above with `SSL_CERT_FILE` set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_rediss_url_connects_over_tls_and_checks_the_certificate"]
async fn tls_child() {
    let url = std::env::var(URL_VAR).expect("run by the parent test");
    let connecting = RedisBackend::builder(url)
        .stream_key(unique_key("tls"))
        .pool_size(1)
        .block_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await;
    match std::env::var(EXPECT_VAR).as_deref() {
        Ok("trusted") => {
            let backend = connecting.expect("connects over TLS");
            let sent = event(1);
            backend.send(sent.clone()).await.unwrap();
            let got = drain(&backend, 1, Duration::from_secs(5)).await;
            assert_eq!(ids(&got), [sent.id()].into());
            assert_eq!(got[0].event, sent);
        }
        Ok("untrusted") => {
            let Err(err) = connecting else {
                panic!("a certificate from an unknown CA was accepted");
            };
            assert!(
                matches!(
                    err,
                    ConnectError::Connect { .. } | ConnectError::Timeout { .. }
                ),
                "{err}"
            );
        }
        other => panic!("unexpected {EXPECT_VAR}: {other:?}"),
    }
}
