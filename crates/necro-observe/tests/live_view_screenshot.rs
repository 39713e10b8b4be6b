//! The live view in headless Chromium: a real screenshot, and the rendered DOM shows the
//! run's numbers. Runs when `/usr/bin/chromium` exists; under `CI=true` a missing browser
//! is a failure, not a skip.
mod support;

use std::net::SocketAddr;

use support::browser::{chromium, chromium_or_skip, scratch_dir, screenshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_renders_the_numbers_in_a_browser() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let server = necro_observe::Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .install()
        .unwrap();
    let (spine, _backend, _root) = support::run_chain().await;
    let stats = spine.stats();
    let url = server.url();

    let dir = scratch_dir("live_view_screenshot");
    screenshot(bin, (1200, 900), &dir, "live_view.png", &url).await;

    let profile = dir.join("profile-dom");
    let dom = tokio::task::spawn_blocking(move || {
        chromium(bin, (1200, 900), &profile, "--dump-dom", &url)
    })
    .await
    .unwrap();
    assert!(dom.status.success());
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(&format!(r#"id="processed">{}<"#, stats.processed)),
        "{dom}"
    );
    assert!(
        dom.contains(&format!(r#"id="emitted">{}<"#, stats.emitted)),
        "{dom}"
    );
    assert!(dom.contains(r#"id="handler-errors">1<"#), "{dom}");
    assert!(dom.contains(r#"id="dead-letters">1<"#), "{dom}");
    for organ in ["step1", "step2", "step3", "reporter"] {
        assert!(
            dom.contains(&format!(r#"data-organ="{organ}""#)),
            "{organ}: {dom}"
        );
    }
}
