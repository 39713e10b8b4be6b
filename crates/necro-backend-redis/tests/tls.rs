//! `rediss://` with the `tls` feature, against private `redis-server`s serving TLS with
//! throwaway CAs made by `openssl` (tests/support/tls.rs): verification is on, a server signed
//! by another CA or under another name is refused with a typed reason, and a client certificate
//! (mutual TLS) can be given. Built only with `--features tls` (`.ci/run`'s `--all-features`
//! pass).
//!
//! Without [`TlsOptions`] a `rediss://` URL trusts the system's roots, which `SSL_CERT_FILE` can
//! name; setting it in this process would need `unsafe`, so that test runs this binary again
//! with it set.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use necro_backend_redis::{ConfigError, ConnectError, RedisBackend, TlsOptions, TlsRefusal};
use necro_core::Backend;
use support::tls::TlsCerts;
use support::{drain, event, ids, unique_key};

/// The `rediss://` URL the child half connects to.
const URL_VAR: &str = "NECRO_TLS_TEST_URL";
/// `trusted` or `untrusted`: what the child half expects.
const EXPECT_VAR: &str = "NECRO_TLS_TEST_EXPECT";

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
    let Some(certs) = TlsCerts::make() else {
        return;
    };
    let Some((server, tls_port)) = certs.start_server("no", &[]) else {
        return;
    };
    let url = format!("rediss://localhost:{tls_port}");
    run_child(&certs.dir, &url, Some(&certs.ca()), "trusted");
    run_child(&certs.dir, &url, None, "untrusted");
    drop(server);
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
            round_trip(&backend).await;
        }
        Ok("untrusted") => {
            let Err(err) = connecting else {
                panic!("a certificate from an unknown CA was accepted");
            };
            assert!(
                matches!(
                    err,
                    ConnectError::Tls {
                        source: TlsRefusal::UnknownIssuer,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        other => panic!("unexpected {EXPECT_VAR}: {other:?}"),
    }
}

async fn round_trip(backend: &RedisBackend) {
    let sent = event(1);
    backend.send(sent.clone()).await.unwrap();
    let got = drain(backend, 1, Duration::from_secs(5)).await;
    assert_eq!(ids(&got), [sent.id()].into());
    assert_eq!(got[0].event, sent);
}

async fn connect(url: &str, tls: TlsOptions) -> Result<RedisBackend, ConnectError> {
    RedisBackend::builder(url)
        .stream_key(unique_key("tls"))
        .pool_size(1)
        .block_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
        .tls(tls)
        .connect()
        .await
}

fn refusal(result: Result<RedisBackend, ConnectError>) -> TlsRefusal {
    match result {
        Ok(_) => panic!("connected although it should have been refused"),
        Err(ConnectError::Tls { source, url }) => {
            assert!(url.starts_with("rediss://"), "{url}");
            source
        }
        Err(other) => panic!("not a TLS refusal: {other:?} ({other})"),
    }
}

/// A server that wants a client certificate (`tls-auth-clients yes`): with the CA file and the
/// client certificate the backend connects; another CA, another name, no client certificate or
/// one the server does not trust are each refused with their reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_name_check_and_mutual_tls() {
    let Some(certs) = TlsCerts::make() else {
        return;
    };
    let Some((server, port)) = certs.start_server("yes", &[]) else {
        return;
    };
    let good = format!("rediss://localhost:{port}");
    let ours = TlsOptions::new()
        .ca_file(certs.ca())
        .client_certificate(certs.client_cert(), certs.client_key());

    let backend = connect(&good, ours.clone())
        .await
        .expect("mutual TLS connects");
    round_trip(&backend).await;
    backend.close().await.unwrap();

    // Signed by a CA this client does not trust.
    let other = TlsOptions::new()
        .ca_file(certs.other_ca())
        .client_certificate(certs.client_cert(), certs.client_key());
    assert_eq!(
        refusal(connect(&good, other).await),
        TlsRefusal::UnknownIssuer
    );

    // The certificate names `localhost`, not `127.0.0.1`.
    let by_ip = format!("rediss://127.0.0.1:{port}");
    let err = refusal(connect(&by_ip, ours.clone()).await);
    assert_eq!(err, TlsRefusal::NameMismatch);
    assert!(err.to_string().contains("host name"), "{err}");

    // No client certificate, or one signed by a CA the server does not trust.
    let no_client = TlsOptions::new().ca_file(certs.ca());
    assert_eq!(
        refusal(connect(&good, no_client).await),
        TlsRefusal::ClientCertificate
    );
    let stranger = TlsOptions::new()
        .ca_file(certs.ca())
        .client_certificate(certs.stranger_cert(), certs.stranger_key());
    assert_eq!(
        refusal(connect(&good, stranger).await),
        TlsRefusal::ClientCertificate
    );
    drop(server);
}

#[test]
fn unreadable_tls_files_are_build_errors() {
    let missing = TlsOptions::new().ca_file("/nonexistent/necro-ca.crt");
    let err = RedisBackend::builder("rediss://localhost:6380")
        .tls(missing)
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/necro-ca.crt"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(unique_key("tls-empty").replace(':', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = RedisBackend::builder("rediss://localhost:6380")
        .tls(TlsOptions::new().ca_file(&empty))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
