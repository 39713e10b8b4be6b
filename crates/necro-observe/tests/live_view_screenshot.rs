//! The live view in headless Chromium: a real screenshot, and the rendered DOM shows the
//! run's numbers. Runs when `/usr/bin/chromium` exists; under `CI=true` a missing browser
//! is a failure, not a skip.
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium_or_skip() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {CHROMIUM} is missing (apt-get install -y chromium)"
    );
    eprintln!("SKIPPED live_view_screenshot: {CHROMIUM} not installed");
    None
}

fn chromium(bin: &str, profile: &Path, mode: &str, url: &str) -> std::process::Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("chromium starts")
}

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

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live_view_screenshot");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("live_view.png");
    let (profile, png2, url2) = (dir.join("profile"), png.clone(), url.clone());
    let shot = tokio::task::spawn_blocking(move || {
        chromium(
            bin,
            &profile,
            &format!("--screenshot={}", png2.display()),
            &url2,
        )
    })
    .await
    .unwrap();
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 900));
    assert!(
        bytes.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());

    let profile = dir.join("profile-dom");
    let dom = tokio::task::spawn_blocking(move || chromium(bin, &profile, "--dump-dom", &url))
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
