//! Shared helpers: an in-memory log sink, a three-step chain with a failing organ, and a
//! minimal HTTP GET over a real socket.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use necro_backend_memory::MemoryBackend;
use necro_core::{BoxedOrgan, Emit, Event, OrganError, organ_fn};
use necro_spine::{HandlerFailureMode, Spine};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub mod browser;

/// Log lines written into memory.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8 log output")
    }

    /// Every line, each parsed as one JSON object (panics on a line that is not).
    pub fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8 log output");
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert!(v.is_object(), "not an object: {l}");
                v
            })
            .collect()
    }
}

/// Installs the JSON log subscriber globally (once per test binary), writing into memory.
pub fn install_capture() -> Capture {
    let capture = Capture::default();
    let sink = capture.clone();
    let guard = necro_observe::JsonLogs::new()
        // The spine logs one line per handled event at DEBUG.
        .filter("info,necro_spine=debug")
        .writer(move || sink.clone())
        .install()
        .expect("install JSON logs");
    drop(guard); // blocking writer: the guard holds nothing
    capture
}

/// The cause of the failing organ's error, so the log shows a cause chain.
#[derive(Debug)]
pub struct DiskFull;
impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}
impl std::error::Error for DiskFull {}

/// The failing organ's error: "could not write the report" caused by "disk full".
#[derive(Debug)]
pub struct ReportFailed(DiskFull);
impl std::fmt::Display for ReportFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not write the report")
    }
}
impl std::error::Error for ReportFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn ev(t: &str) -> Event {
    Event::new(t, serde_json::json!({"secret": "do-not-log"})).unwrap()
}

fn organs() -> Vec<BoxedOrgan> {
    vec![
        organ_fn("step1", ["START"], |_e: Event| async {
            Ok(Emit::from(ev("STEP2")))
        }),
        organ_fn("step2", ["STEP2"], |_e: Event| async {
            Ok(Emit::from(ev("STEP3")))
        }),
        organ_fn("step3", ["STEP3"], |_e: Event| async { Ok(Emit::none()) }),
        organ_fn("reporter", ["STEP2"], |_e: Event| async {
            Err(OrganError::permanent(ReportFailed(DiskFull)))
        }),
    ]
}

/// START → step1 → STEP2 → step2 → STEP3 → step3, with `reporter` failing on STEP2 under
/// the STORE handler failure mode. Returns the spine, its backend and the root event.
pub async fn run_chain() -> (Spine<MemoryBackend>, MemoryBackend, Event) {
    let backend = MemoryBackend::new();
    let mut builder =
        Spine::builder(backend.clone()).handler_failure_mode(HandlerFailureMode::Store);
    for organ in organs() {
        builder = builder.organ(organ);
    }
    let spine = builder.build().unwrap();
    let root = ev("START");
    spine.run_event(root.clone()).await.unwrap();
    (spine, backend, root)
}

/// `GET path` over a real TCP connection: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Sum of every sample of `name` in Prometheus text whose labels contain all of `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// A response read off a real socket.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpResponse {
    /// The value of header `name` (lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `method path` with extra `headers` and `body` over a real TCP connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}
