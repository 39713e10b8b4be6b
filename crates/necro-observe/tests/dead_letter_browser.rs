//! The dead-letter section in a real headless Chromium, driven through chromedriver
//! (WebDriver): an organ fails two events once each (two dead letters); the page lists them;
//! the operator types the admin token and clicks replay on one (it leaves the list and a
//! spine then handles it), types it again and clicks purge on the other; a `fetch` POST
//! from the page without the token is refused. Every browser step has a timeout.
//!
//! Runs when `/usr/bin/chromium` and `/usr/bin/chromedriver` exist; under `CI=true` a missing
//! one is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use necro_backend_memory::MemoryBackend;
use necro_core::{DeadLetterQuery, DeadLetterQueue, Emit, Event, OrganError, organ_fn};
use necro_observe::{AdminToken, Metrics, MetricsServer};
use necro_spine::{HandlerFailureMode, Spine};
use support::browser::{HEADLESS_FLAGS, chromium_and_driver_or_skip, scratch_dir};

const TOKEN: &str = "browser-test-admin-token";
/// The longest any one browser step may take.
const STEP: Duration = Duration::from_secs(30);

/// Runs one browser step with [`STEP`] as its timeout, naming it when it fails.
async fn step<T, E: std::fmt::Debug>(
    name: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("browser step {name:?} failed: {e:?}"),
        Err(_) => panic!("browser step {name:?} took more than {STEP:?}"),
    }
}

/// An organ that fails each event the first time it sees it and handles it after.
fn flaky(handled: Arc<Mutex<Vec<String>>>) -> necro_core::BoxedOrgan {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    organ_fn("Flaky", ["PAY", "REFUND"], move |e: Event| {
        let (seen, handled) = (Arc::clone(&seen), Arc::clone(&handled));
        async move {
            if seen.lock().unwrap().insert(e.id()) {
                return Err(OrganError::permanent(std::io::Error::other(
                    "gateway <b>down</b>",
                )));
            }
            handled
                .lock()
                .unwrap()
                .push(e.event_type().as_str().to_owned());
            Ok(Emit::none())
        }
    })
}

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(bin: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        step("chromedriver listens", async {
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return Ok::<_, ()>(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        Self {
            child,
            url: format!("http://{addr}"),
        }
    }
}

async fn session(driver: &Driver, chromium: &str, profile: &std::path::Path) -> Client {
    let mut args: Vec<String> = HEADLESS_FLAGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1200,1400".to_owned());
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    step(
        "new session",
        Client::with_capabilities_and_connector(&driver.url, &caps, connector),
    )
    .await
}

/// The ids of the rows the section shows.
async fn rows(client: &Client) -> Vec<String> {
    let rows = step(
        "find rows",
        client.find_all(Locator::Css("#dead-letters tr[data-dlq-id]")),
    )
    .await;
    let mut ids = Vec::new();
    for row in rows {
        ids.push(step("row id", row.attr("data-dlq-id")).await.unwrap());
    }
    ids
}

/// Types the token and clicks `button` (`dlq-replay` or `dlq-purge`) of row `id`, then waits
/// for the page the redirect lands on.
async fn act(client: &Client, id: &str, button: &str, done: &str) {
    let token = step("find token", client.find(Locator::Css("#dlq-token"))).await;
    assert_eq!(
        step("token empty", token.prop("value")).await.as_deref(),
        Some("")
    );
    step("type token", token.send_keys(TOKEN)).await;
    let css = format!(r#"tr[data-dlq-id="{id}"] button.{button}"#);
    let button = step("find button", client.find(Locator::Css(&css))).await;
    step("click", button.click()).await;
    step(
        "redirected",
        client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css("#dlq-status")),
    )
    .await;
    let url = step("current url", client.current_url()).await;
    assert!(
        url.query()
            .unwrap_or_default()
            .contains(&format!("dlq_done={done}")),
        "{url}"
    );
}

async fn scenario(
    client: &Client,
    server: &MetricsServer,
    spine: &Spine<MemoryBackend>,
    backend: &MemoryBackend,
    handled: &Mutex<Vec<String>>,
    (pay, refund): (String, String),
) {
    step("open page", client.goto(&server.url())).await;
    let section = step("section", client.find(Locator::Id("dead-letter-queue"))).await;
    let png = step("screenshot", section.screenshot()).await;
    let shot = scratch_dir("dead_letter_browser_shot").join("dead_letters.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    assert_eq!(
        rows(client).await,
        [refund.clone(), pay.clone()],
        "newest first"
    );
    let count = step("count", client.find(Locator::Id("dlq-count"))).await;
    assert_eq!(step("count text", count.text()).await, "2");
    // The hostile-looking reason is text, not markup.
    let source = step("page source", client.source()).await;
    assert!(
        source.contains("gateway &lt;b&gt;down&lt;/b&gt;"),
        "{source}"
    );
    assert!(!source.contains(TOKEN));

    // Replay the PAY letter: it leaves the list, and a spine handles it.
    act(client, &pay, "dlq-replay", "replayed").await;
    let status = step("status", client.find(Locator::Id("dlq-status"))).await;
    assert_eq!(step("status text", status.text()).await, "replayed 1");
    assert_eq!(rows(client).await, std::slice::from_ref(&refund));
    assert!(!step("source", client.source()).await.contains(TOKEN));
    let before = spine.stats().processed;
    spine.run_until_drained().await.unwrap();
    assert_eq!(spine.stats().processed, before + 1);
    assert_eq!(*handled.lock().unwrap(), ["PAY"]);

    // Purge the REFUND letter.
    act(client, &refund, "dlq-purge", "purged").await;
    assert!(rows(client).await.is_empty());
    assert_eq!(backend.dead_letter_count().await.unwrap(), 0);
    assert!(backend.is_empty(), "a purge enqueues nothing");

    // The page's own origin, without the token: refused.
    let status = step(
        "fetch without token",
        client.execute_async(
            "var done = arguments[arguments.length - 1];
             fetch('/dead-letters/replay', {method: 'POST', body: new URLSearchParams({id: '1'})})
               .then(function (r) { done(r.status); }, function (e) { done(String(e)); });",
            vec![],
        ),
    )
    .await;
    assert_eq!(status, serde_json::json!(403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_purge_from_the_page_in_a_real_browser() {
    let Some((chromium, chromedriver)) = chromium_and_driver_or_skip() else {
        return;
    };
    let started = Instant::now();
    let backend = MemoryBackend::new();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let spine = Spine::builder(backend.clone())
        .handler_failure_mode(HandlerFailureMode::Store)
        .organ(flaky(Arc::clone(&handled)))
        .build()
        .unwrap();
    for t in ["PAY", "REFUND"] {
        let ev = Event::new(t, serde_json::json!({"amount": 12})).unwrap();
        spine.run_event(ev).await.unwrap();
    }
    let page = backend
        .dead_letter_page(&DeadLetterQuery::new(10))
        .await
        .unwrap();
    let ids: Vec<String> = page.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids.len(), 2, "two dead letters");
    assert!(handled.lock().unwrap().is_empty());

    let metrics = Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .dead_letters(backend.clone())
        .dead_letter_actions(AdminToken::new(TOKEN).unwrap());
    let (_recorder, handle) = metrics.build();
    let server = metrics.serve(handle).unwrap();

    let mut driver = Driver::start(chromedriver).await;
    let dir = scratch_dir("dead_letter_browser");
    let client = session(&driver, chromium, &dir.join("profile")).await;
    let outcome = tokio::spawn({
        let client = client.clone();
        let ids = (ids[0].clone(), ids[1].clone());
        async move {
            scenario(&client, &server, &spine, &backend, &handled, ids).await;
        }
    })
    .await;
    // Whatever happened, the browser and its driver go.
    let _ = tokio::time::timeout(STEP, client.close()).await;
    let _ = driver.child.kill().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    eprintln!("browser scenario took {:?}", started.elapsed());
}
