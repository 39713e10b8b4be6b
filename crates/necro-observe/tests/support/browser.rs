//! Headless Chromium for the live-view tests: `/usr/bin/chromium` (Debian's `chromium`
//! package), a screenshot check and a layout probe.

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (test skipped) when it is not installed outside CI.
pub fn chromium_or_skip() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {CHROMIUM} is missing (apt-get install -y chromium)"
    );
    eprintln!("SKIPPED: {CHROMIUM} not installed");
    None
}

/// Runs headless Chromium on `url` in a window of `size` pixels with `mode`
/// (`--screenshot=FILE` or `--dump-dom`), giving scripts 5 s of virtual time.
pub fn chromium(
    bin: &str,
    (width, height): (u32, u32),
    profile: &Path,
    mode: &str,
    url: &str,
) -> std::process::Output {
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
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("chromium starts")
}

/// An empty directory for one test's files under Cargo's scratch directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots `url` in a window of `size` pixels into `dir/name` (off the async runtime:
/// Chromium takes seconds), asserts it is a real PNG of that size, and returns its path.
pub async fn screenshot(
    bin: &'static str,
    size: (u32, u32),
    dir: &Path,
    name: &str,
    url: &str,
) -> PathBuf {
    let png = dir.join(name);
    let (profile, out, url) = (dir.join("profile"), png.clone(), url.to_owned());
    let shot = tokio::task::spawn_blocking(move || {
        chromium(
            bin,
            size,
            &profile,
            &format!("--screenshot={}", out.display()),
            &url,
        )
    })
    .await
    .unwrap();
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert_png(&png, size);
    png
}

/// `png` is a PNG of `size` pixels with something drawn in it.
pub fn assert_png(png: &Path, size: (u32, u32)) {
    let bytes = std::fs::read(png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), size);
    assert!(
        bytes.len() > 20_000,
        "suspiciously small screenshot: {} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}

/// A page that loads `html` in an iframe `width` px wide (Chromium will not make a
/// window narrower than 500 px) and, once it has loaded, reports in `<pre id="probe">` the
/// frame's document scroll width, its viewport width, and the elements that stick out past
/// the viewport's right edge.
pub fn layout_probe(html: &str, width: u32) -> String {
    let srcdoc = html.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        r#"<!doctype html><html><body style="margin:0">
<iframe id="f" style="width:{width}px;height:4000px;border:0" srcdoc="{srcdoc}"></iframe>
<script>
var f = document.getElementById('f'), done = false;
function probe() {{
  if (done) return;
  done = true;
  var w = f.contentWindow, d = f.contentDocument, out = [];
  d.querySelectorAll('body *').forEach(function (e) {{
    if (e.getBoundingClientRect().right > w.innerWidth + 0.5) {{
      out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
    }}
  }});
  var p = document.createElement('pre');
  p.id = 'probe';
  p.textContent = 'scrollWidth=' + d.documentElement.scrollWidth + ' innerWidth=' + w.innerWidth + ' past=' + out.slice(0, 8).join(',');
  document.body.appendChild(p);
}}
f.addEventListener('load', probe);
if (f.contentDocument && f.contentDocument.readyState === 'complete' && f.contentDocument.body && f.contentDocument.body.children.length) probe();
</script></body></html>"#
    )
}

/// The value of `key=` in the probe's report.
pub fn probe_value<'a>(dom: &'a str, key: &str) -> &'a str {
    let probe = &dom[dom.find(r#"<pre id="probe">"#).expect("the probe ran")..];
    let at = probe.find(&format!("{key}=")).expect("key in probe") + key.len() + 1;
    let rest = &probe[at..];
    &rest[..rest.find([' ', '<']).unwrap_or(rest.len())]
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The browser and its WebDriver (`/usr/bin/chromedriver`, Debian's `chromium-driver`), or
/// `None` (test skipped) when either is missing outside CI.
pub fn chromium_and_driver_or_skip() -> Option<(&'static str, &'static str)> {
    let bin = chromium_or_skip()?;
    if Path::new(CHROMEDRIVER).exists() {
        return Some((bin, CHROMEDRIVER));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {CHROMEDRIVER} is missing (apt-get install -y chromium-driver)"
    );
    eprintln!("SKIPPED: {CHROMEDRIVER} not installed");
    None
}

/// The command-line flags every headless Chromium of these tests starts with (plus a fresh
/// `--user-data-dir`).
pub const HEADLESS_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
