//! SIGTERM sent to a worker process that runs `run_until(shutdown_signal())`: it finishes the
//! event it is handling, gives back what it pulled but had not started, and exits 0.
#![cfg(unix)]
mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

use necro_backend_memory::MemoryBackend;
use necro_core::{Emit, Event, organ_fn};
use necro_spine::Spine;
use support::ev_n;

/// Set in the environment of the worker process.
const WORKER_ENV: &str = "NECRO_SPINE_SIGTERM_WORKER";

/// The worker process: this test binary again, running only this test with `WORKER_ENV` set
/// (`a_sigterm_stops_a_worker_process_gracefully` starts it). Without the variable it does
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process of a_sigterm_stops_a_worker_process_gracefully, which runs it"]
async fn sigterm_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    let backend = MemoryBackend::new();
    let organ = organ_fn("Slow", ["JOB"], |ev: Event| async move {
        let n = ev.payload()["n"].clone();
        println!("started {n}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("finished {n}");
        Ok(Emit::none())
    });
    let spine = Spine::builder(backend.clone())
        .organ(organ)
        .build()
        .unwrap();
    for n in 0..3 {
        spine.send(ev_n("JOB", n)).await.unwrap();
    }
    // One poll installs the signal handlers; only then may a SIGTERM come (before that it
    // would kill the process outright).
    let mut signal = Box::pin(necro_spine::shutdown_signal());
    let first = std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx))).await;
    assert!(first.is_pending());
    let stats = spine.run_until(signal).await.unwrap();
    println!(
        "stopped: processed {}, released {}, queued {}, in flight {}",
        stats.processed,
        stats.released,
        backend.len(),
        backend.in_flight()
    );
}

// Issue 10 item 9: under SIGTERM (what container orchestrators send) a worker neither dies at
// once (exit 143) nor drops what it holds: the event in flight finishes and is acked, the rest
// of its batch goes back to the queue, and the process exits 0.
#[test]
fn a_sigterm_stops_a_worker_process_gracefully() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigterm_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut seen = Vec::new();
    let started = Instant::now();
    // libtest's own "test sigterm_worker ... " may start the first line.
    while !seen.iter().any(|l: &String| l.ends_with("started 0")) {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("the worker never started an event ({e}): {seen:?}");
            }
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the worker did not exit after SIGTERM: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    seen.extend(lines.iter());
    let stderr = stderr.join().unwrap();
    assert!(
        status.success(),
        "exit {status} (143 or signal 15: killed by SIGTERM)\nstdout: {seen:#?}\nstderr: {stderr}"
    );
    // Every event it started, it finished (a slow machine may start a second before the
    // signal lands); the rest went back to the queue and nothing is left in flight.
    for n in 0..3 {
        if seen.iter().any(|l| l.ends_with(&format!("started {n}"))) {
            assert!(
                seen.iter().any(|l| l.ends_with(&format!("finished {n}"))),
                "{seen:#?}"
            );
        }
    }
    let stopped = seen
        .iter()
        .find_map(|l| l.split_once("stopped: ").map(|(_, s)| s.to_owned()))
        .unwrap_or_else(|| panic!("no stats line: {seen:#?}"));
    let figures: Vec<u64> = stopped
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let [processed, released, queued, in_flight] = figures[..] else {
        panic!("{stopped}");
    };
    assert!(processed >= 1, "{stopped}");
    // Not all three handled: what was pulled but not started went back on shutdown.
    assert!(released >= 1, "{stopped}");
    assert_eq!(processed + released, 3, "{stopped}");
    assert_eq!(queued, released, "{stopped}");
    assert_eq!(in_flight, 0, "{stopped}");
}
