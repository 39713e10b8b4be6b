//! The live view in headless Chromium at 400 px wide (a phone): the page does not scroll
//! sideways, and a screenshot is taken to look at. Runs when `/usr/bin/chromium` exists;
//! under `CI=true` a missing browser is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::browser::{
    chromium, chromium_or_skip, layout_probe, probe_value, scratch_dir, screenshot,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_400_px_wide_the_live_view_does_not_scroll_sideways() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let server = necro_observe::Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .install()
        .unwrap();
    let addr = server.local_addr();
    let (_spine, _backend, _root) = support::run_chain().await;
    // The Redis table is the widest one; the page only reads the recorder's text, so one
    // series with a long stream key lays it out without a Redis run.
    metrics::counter!("necro_redis_pulled_total", "stream" => "orders:eu-west-1:settlement-events")
        .increment(3);
    // Wait (at most 4 s) for a throughput sample, so the sparkline and its scale show.
    for _ in 0..40 {
        if !support::http_get(addr, "/view")
            .await
            .1
            .contains("collecting samples")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = scratch_dir("live_view_400px");

    screenshot(bin, (400, 900), &dir, "live_view_400px.png", &server.url()).await;

    assert_fits_400_px(bin, &dir, addr).await;
}

/// The page as served at `addr`, measured in a frame 400 px wide: it does not scroll sideways.
async fn assert_fits_400_px(bin: &'static str, dir: &std::path::Path, addr: SocketAddr) {
    let (status, html) = support::http_get(addr, "/").await;
    assert_eq!(status, 200);
    let dir = dir.to_owned();
    let probed = dir.join("probed.html");
    std::fs::write(&probed, layout_probe(&html, 400)).unwrap();
    let (profile, url) = (
        dir.join("profile-dom"),
        format!("file://{}", probed.display()),
    );
    let dom = tokio::task::spawn_blocking(move || {
        chromium(bin, (400, 900), &profile, "--dump-dom", &url)
    })
    .await
    .unwrap();
    assert!(dom.status.success());
    let dom = String::from_utf8_lossy(&dom.stdout);
    let inner: u32 = probe_value(&dom, "innerWidth").parse().unwrap();
    let scroll: u32 = probe_value(&dom, "scrollWidth").parse().unwrap();
    assert_eq!(inner, 400, "the frame is not 400 px wide");
    assert!(
        scroll <= inner,
        "the page scrolls sideways at 400 px: scrollWidth {scroll} > {inner}; past the edge: {}",
        probe_value(&dom, "past")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_400_px_wide_the_dead_letter_section_does_not_scroll_sideways() {
    use necro_core::{DeadLetter, DeadLetterKind, DeadLetterStore, Event, Failure, Metadata};
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let backend = necro_backend_memory::MemoryBackend::new();
    let event = Event::new(
        "orders.settlement.eu-west-1.requested",
        serde_json::json!({"reference": "x".repeat(300)}),
    )
    .unwrap();
    let failure = Failure::new(
        Some("SettlementGatewayNotifier".to_owned()),
        "connection refused by settlement-gateway.internal.example.com:443 after 3 attempts "
            .repeat(4),
    );
    let letter = DeadLetter::new(
        event,
        Metadata::default(),
        DeadLetterKind::HandlerFailed,
        vec![failure],
        3,
    );
    backend.store(letter).await.unwrap();
    let metrics = necro_observe::Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .dead_letters(backend)
        .show_payloads(true)
        .dead_letter_actions(necro_observe::AdminToken::new("narrow-test-admin-token").unwrap());
    let (_recorder, handle) = metrics.build();
    let server = metrics.serve(handle).unwrap();
    let dir = scratch_dir("dead_letters_400px");
    screenshot(
        bin,
        (400, 1400),
        &dir,
        "dead_letters_400px.png",
        &server.url(),
    )
    .await;
    assert_fits_400_px(bin, &dir, server.local_addr()).await;
}
