//! `--json-logs` and `--metrics-addr` on the hello example.
use example_support::testing::{PER_EVENT_LOGS, ServingExample, json_lines, run_ok_with_env};

const BIN: &str = env!("CARGO_BIN_EXE_example-hello");

/// At the default level (`info`) a run logs no line per handled event: those are DEBUG, so a
/// busy service is not flooded (a `--stress 2000` run once wrote 12,370 INFO lines).
#[test]
fn the_default_level_logs_no_line_per_event() {
    let out = run_ok_with_env(BIN, &["--json-logs"], &[]);
    let lines = json_lines(&out.stderr);
    assert!(
        !lines.iter().any(|l| l["message"] == "event handled"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "processed 2 events, emitted 1, handler errors 0")
    );
}

#[test]
fn json_logs_go_to_stderr_and_the_greeting_stays_on_stdout() {
    let out = run_ok_with_env(BIN, &["--json-logs"], PER_EVENT_LOGS);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!\n");
    let lines = json_lines(&out.stderr);
    let handled: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "event handled")
        .collect();
    assert_eq!(handled.len(), 2, "{lines:#?}");
    let greeter = handled.iter().find(|l| l["event_type"] == "HELLO").unwrap();
    assert_eq!(greeter["emitted"], serde_json::json!(["GREETED"]));
    assert_eq!(greeter["level"], "DEBUG");
    let printer = handled
        .iter()
        .find(|l| l["event_type"] == "GREETED")
        .unwrap();
    assert_eq!(printer["organ"], "Printer");
    assert_eq!(printer["correlation_id"], greeter["event_id"]);
    assert_eq!(printer["causation_id"], greeter["event_id"]);
    assert!(printer["duration_ms"].is_f64());
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "processed 2 events, emitted 1, handler errors 0")
    );
}

#[test]
fn metrics_addr_serves_after_the_run_until_ctrl_c() {
    let example = ServingExample::start(BIN, &["--name", "Ada"]);
    let (status, text) = example.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("necro_events_processed_total{event_type=\"HELLO\"} 1"),
        "{text}"
    );
    let (status, html) = example.get("/");
    assert_eq!(status, 200);
    assert!(html.contains("data-organ=\"Printer\""), "{html}");
    assert!(example.interrupt().0.success());
}

/// A service manager stops a process with SIGTERM: the example stops serving and exits 0
/// (not 143, killed by the signal).
#[test]
fn sigterm_while_serving_exits_0() {
    let example = ServingExample::start(BIN, &[]);
    let (status, lines) = example.terminate();
    assert_eq!(status.code(), Some(0), "{status:?} {lines:#?}");
}

/// `--otlp-endpoint URL`: the run's spans reach the collector as OTLP/HTTP protobuf, on
/// `/v1/traces` under the base URL (the exporter flushes before the process exits).
#[test]
fn otlp_endpoint_sends_the_chains_spans_to_the_collector() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    type Request = (Vec<String>, Vec<u8>); // head lines, body
    let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
    let seen = Arc::clone(&requests);
    // Accepts for as long as the test runs; one request per connection is enough here.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                head.push(line.trim_end().to_owned());
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push((head, body));
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let endpoint = format!("http://{addr}");
    let out = run_ok_with_env(BIN, &["--otlp-endpoint", &endpoint], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!\n");
    let requests = requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "no export reached the collector");
    let mut all = String::new();
    for (head, body) in &requests {
        assert_eq!(head[0], "POST /v1/traces HTTP/1.1", "{head:?}");
        assert!(
            head.iter()
                .any(|h| h.eq_ignore_ascii_case("content-type: application/x-protobuf")),
            "{head:?}"
        );
        all.push_str(&String::from_utf8_lossy(body));
    }
    for name in [
        "publish HELLO",
        "process HELLO",
        "process GREETED",
        "example-hello",
    ] {
        assert!(all.contains(name), "{name:?} not in the export");
    }
}
