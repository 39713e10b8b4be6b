//! Passwords (`redis://:pw@`, ACL `redis://user:pw@`) work and never show in `Debug`,
//! errors or health reports.

mod support;

use std::time::Duration;

use necro_backend_redis::{ConnectError, RedisBackend};
use necro_core::{Backend, Health};
use support::{Ctx, RedisServer, drain, event, unique_key};

const PASSWORD: &str = "s3cr3t-Pa55";
const ALICE_PASSWORD: &str = "wonder-Land-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_work_and_stay_secret() {
    let alice_pw = format!(">{ALICE_PASSWORD}");
    let args = [
        "--requirepass",
        PASSWORD,
        "--user",
        "alice",
        "on",
        &alice_pw,
        "~*",
        "&*",
        "+@all",
    ];
    let Some(server) = RedisServer::start_with(false, &args) else {
        return;
    };
    let port = server.port();

    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:{port}"),
        format!("redis://alice:{ALICE_PASSWORD}@127.0.0.1:{port}/0"),
    ] {
        let ctx = Ctx {
            url: url.clone(),
            stream: unique_key("credentials"),
        };
        let backend = ctx.backend().await;
        backend.send(event(1)).await.unwrap();
        assert_eq!(drain(&backend, 1, Duration::from_secs(5)).await.len(), 1);

        for text in [
            format!("{backend:?}"),
            format!("{:?}", backend.config()),
            format!("{:#?}", backend.health().await),
            backend.config().masked_url().to_owned(),
        ] {
            assert!(
                !text.contains(PASSWORD) && !text.contains(ALICE_PASSWORD),
                "{text}"
            );
        }
        assert!(
            backend
                .config()
                .masked_url()
                .contains(&format!("@127.0.0.1:{port}"))
        );
    }

    // A wrong password is a connect error that names the server, not the password.
    let wrong = "not-the-Pa55word";
    let err = RedisBackend::builder(format!("redis://alice:{wrong}@127.0.0.1:{port}/0"))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Connect { .. }), "{err:?}");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        necro_core::error_chain(&err),
    ] {
        assert!(!text.contains(wrong), "{text}");
        assert!(
            text.contains(&format!("redis://alice:****@127.0.0.1:{port}/0")),
            "{text}"
        );
    }

    // No password at all: also a clear error.
    let err = RedisBackend::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_bad_url_is_a_build_error_without_the_password() {
    for url in [
        "redis://:hunter2@",
        "redis://:hunter2@host:notaport",
        "redis://:hunter2@host/db0",
        "http://:hunter2@host",
    ] {
        let err = RedisBackend::builder(url).build().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    }
}
