//! The secret sweep (issue 17): a password with URL-special characters, `p@ss:w/rd?#%&`, must
//! not surface anywhere — not raw, not percent-encoded — in `Debug` and `Display` of configs,
//! builders and errors (a bad URL, a refused connection, a failed authentication), in log
//! lines at every level (TRACE, including fred's own `log` records), in metric labels (the
//! Prometheus text), on the live page, or in the `necro` command line's output and errors.
//! Runs against a private `redis-server` (the Redis backend's test helper) with an ACL user
//! whose password is that one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

#[path = "../../necro-backend-redis/tests/support/mod.rs"]
mod redis_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_redis::{RedisBackend, RedisConfig};
use necro_core::{Backend, Health};
use redis_support::{RedisServer, event, unique_key};
use support::{necro, stderr, stdout};

const PASSWORD: &str = "p@ss:w/rd?#%&";

/// Every form the password could take in text: raw, percent-encoded (either case), and its
/// distinctive halves.
fn forms() -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
    let upper = "p%40ss%3Aw%2Frd%3F%23%25%26".to_owned();
    vec![
        PASSWORD.to_owned(),
        encoded,
        upper.clone(),
        upper.to_lowercase(),
        "p@ss:w".to_owned(),
        "w/rd?#".to_owned(),
        "p%40ss".to_owned(),
        "w%2Frd".to_owned(),
    ]
}

#[track_caller]
fn clean(what: &str, text: &str) {
    for form in forms() {
        assert!(
            !text.contains(&form),
            "{what} shows the password as {form:?}:\n{text}"
        );
    }
}

/// A URL for `user` with the password percent-encoded, as a URL must carry it.
fn url_with_password(user: &str, port: u16) -> String {
    format!("redis://{user}:p%40ss%3Aw%2Frd%3F%23%25%26@127.0.0.1:{port}/0")
}

/// A writer into a shared buffer, for the log subscriber.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_surfaces_nowhere() {
    // Every log record at every level, fred's `log` records included (tracing-log).
    let logs = Buf::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    let metrics = necro_observe::Metrics::new()
        .listen("127.0.0.1:0".parse().unwrap())
        .install()
        .expect("the only recorder of this test binary");

    let user = format!(">{PASSWORD}");
    let Some(server) = RedisServer::start_with(
        false,
        &[
            "--user",
            "necro",
            "on",
            &user,
            "~*",
            "&*",
            "+@all",
            "--user",
            "other",
            "on",
            ">another-one",
            "~*",
            "&*",
            "+@all",
        ],
    ) else {
        return;
    };
    let port = server.port();
    let good = url_with_password("necro", port);

    // Configs and builders.
    let builder = RedisBackend::builder(good.clone()).stream_key(unique_key("secrets"));
    clean("the builder's Debug", &format!("{builder:?} {builder:#?}"));
    let config: RedisConfig = builder.clone().build().unwrap();
    clean("the config's Debug", &format!("{config:?} {config:#?}"));
    clean("masked_url", config.masked_url());

    // It works: the password is decoded and accepted. Then everything that leaves a trace.
    let backend = builder.connect().await.expect("connects with the password");
    clean("the backend's Debug", &format!("{backend:?}"));
    backend.send(event(1)).await.unwrap();
    let got = backend.pull(10, Duration::from_millis(500)).await.unwrap();
    backend
        .ack(got.iter().map(|d| d.token.clone()).collect())
        .await
        .unwrap();
    clean(
        "the health report",
        &format!("{:?}", backend.health().await),
    );
    clean("the stats", &format!("{:?}", backend.stats()));
    clean("inspect", &format!("{:?}", backend.inspect().await));
    backend.delete_streams().await.unwrap();
    backend.close().await.unwrap();

    // Errors: a URL that does not parse, a refused connection, a failed authentication.
    let bad_url = format!("redis://necro:p%40ss%3Aw%2Frd%3F%23%25%26@127.0.0.1:{port}/x");
    let nothing_there = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let raw_in_url = format!("redis://necro:{PASSWORD}@127.0.0.1:{port}");
    for url in [bad_url.clone(), raw_in_url] {
        let err = RedisBackend::builder(url).build().map(drop);
        if let Err(err) = err {
            clean("a build error", &format!("{err} {err:?}"));
            clean("a build error's chain", &necro_core::error_chain(&err));
        }
    }
    for (what, url) in [
        (
            "a refused connection",
            url_with_password("necro", nothing_there),
        ),
        ("a failed authentication", url_with_password("other", port)),
    ] {
        let err = RedisBackend::builder(url)
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .unwrap_err();
        clean(what, &format!("{err} {err:?} {err:#?}"));
        clean(what, &necro_core::error_chain(&err));
    }

    // The command line: success, and each failure (its one `error:` line), and `--help` with
    // the URL in the environment.
    for (what, url, args) in [
        ("necro stats", good.as_str(), &["stats"][..]),
        (
            "necro --json stats",
            good.as_str(),
            &["--json", "stats"][..],
        ),
        ("necro dlq list", good.as_str(), &["dlq", "list"][..]),
        ("necro --help", good.as_str(), &["--help"][..]),
        (
            "necro stats --help",
            good.as_str(),
            &["stats", "--help"][..],
        ),
        (
            "necro against a wrong password",
            &url_with_password("other", port),
            &["stats"][..],
        ),
        (
            "necro against nothing",
            &url_with_password("necro", nothing_there),
            &["stats"][..],
        ),
        ("necro with a bad URL", bad_url.as_str(), &["stats"][..]),
    ] {
        let out = necro(url, args);
        assert!(
            !stdout(&out).is_empty() || !stderr(&out).is_empty(),
            "{what} said nothing"
        );
        clean(&format!("{what}'s stdout"), &stdout(&out));
        clean(&format!("{what}'s stderr"), &stderr(&out));
    }
    let out = necro(&good, &["--redis-url", &good, "stats"]);
    clean(
        "necro --redis-url's output",
        &format!("{}{}", stdout(&out), stderr(&out)),
    );

    // Metric labels and the live page.
    let addr = metrics.local_addr();
    for path in ["/metrics", "/", "/view"] {
        let page = http_get(addr, path);
        assert!(
            page.contains("necro"),
            "GET {path} shows nothing of NecroStack: {page}"
        );
        clean(&format!("GET {path}"), &page);
    }
    clean("the rendered metrics", &metrics.handle().render());

    // Every log line, last: TRACE from connect to the failures above.
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    // The sweep saw what it should: the backend's own lines with the masked URL, and fred's.
    assert!(
        text.contains("connected to Redis") && text.contains("redis://necro:****@"),
        "the backend's connect line was not captured:\n{text}"
    );
    assert!(
        text.contains("TRACE") && text.contains("fred"),
        "fred's TRACE records were not captured:\n{text}"
    );
    clean("the logs", &text);
    drop(server);
}
