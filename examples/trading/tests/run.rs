//! Runs the trading example end to end: the demo's fills, final books, positions and
//! dead-lettered settlement; both file formats; stress invariants; the prompt driven through
//! standard input with bad lines; and the same organs on Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use std::process::Command;

use example_support::testing::{redis_url_or_skip, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_example-trading");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

fn stdout(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(BIN, args).stdout).into_owned()
}

fn summary(out: &str) -> &str {
    &out[out.find("--- summary ---").expect("a summary")..]
}

fn assert_demo(out: &str) {
    let s = summary(out);
    assert!(
        s.contains("orders submitted: 13, rejected: 2, filled: 5, partially filled: 0, queued: 6, cancelled: 1"),
        "{out}"
    );
    assert!(
        s.contains("trades executed: 5, settled: 4, settlement dead-lettered: 1, risk alerts: 2"),
        "{out}"
    );
    assert!(
        s.contains("accepted 1805 = filled 1350 + resting 255 + cancelled 200: conserved"),
        "{out}"
    );
    assert!(s.contains("crossed books: none"), "{out}");
    assert!(
        s.contains("AAPL   bids: 25 @ 149.50 (1)  |  asks: 30 @ 150.50 (1), 200 @ 151.00 (1)"),
        "{out}"
    );
    assert!(
        s.contains("grace      TSLA      +500 shares  cash -124000.00"),
        "{out}"
    );
    assert!(
        s.contains("alice      AAPL       +75 shares  cash -11212.50"),
        "{out}"
    );
    assert!(s.contains("RISK grace POSITION_LIMIT TSLA"), "{out}");
    assert!(s.contains("DLQ TRADE_EXECUTED"), "{out}");
    assert!(s.contains("account mallory is frozen"), "{out}");
    assert!(
        s.contains("unknown symbol \"NFLX\"") || out.contains("unknown symbol \"NFLX\""),
        "{out}"
    );
}

#[test]
fn demo_matches_settles_and_reports() {
    let out = stdout(&["--fast"]);
    assert_demo(&out);
    assert!(
        out.contains("TRADE_EXECUTED         trade 1 50 AAPL @ 150.50 buyer charlie seller bob"),
        "{out}"
    );
}

#[test]
fn transient_settlement_failures_are_retried_and_a_seed_reproduces_the_run() {
    let args = ["--fast", "--seed", "3", "--settlement-failure-rate", "0.5"];
    let a = stdout(&args);
    let b = stdout(&args);
    assert_demo(&a);
    assert_eq!(summary(&a), summary(&b));
    assert!(!summary(&a).contains("retries 0,"), "{a}");
}

#[test]
fn reads_csv_and_json_files() {
    for file in ["sample_orders.csv", "sample_orders.json"] {
        let out = stdout(&["--fast", "--file", &format!("{DATA}/{file}")]);
        let s = summary(&out);
        assert!(
            s.contains(
                "orders submitted: 10, rejected: 0, filled: 4, partially filled: 0, queued: 6"
            ),
            "{file}: {out}"
        );
        assert!(
            s.contains("trades executed: 4, settled: 4"),
            "{file}: {out}"
        );
        assert!(s.contains("conserved"), "{file}: {out}");
    }
}

#[test]
fn stress_keeps_the_books_sound_under_concurrency() {
    let out = stdout(&["--fast", "--stress", "2000", "--concurrency", "16"]);
    assert!(out.contains("stress: 2000 orders"), "{out}");
    assert!(out.contains("orders/s"), "{out}");
    let s = summary(&out);
    assert!(s.contains(": conserved"), "{out}");
    assert!(s.contains("crossed books: none"), "{out}");
    assert!(s.contains("orders submitted: 2000"), "{out}");
}

#[test]
fn interactive_prompt_survives_bad_lines() {
    let out = example_support::testing::run_with_stdin(
        BIN,
        &["--fast", "--interactive"],
        b"SELL 100 AAPL @ 150.50\n\
              HODL 5 AAPL\n\
              BUY ten AAPL\n\
              BUY 10 AAPL @ 1.234\n\
              trader bob\n\
              BUY 40 AAPL MKT\n\
              BUY 10 NFLX @ 5\n\
              cancel 1\n\
              trader you\n\
              cancel 99\n\
              book AAPL\n\
              positions\n\
              stats\n\
              cancel 1\n\
              quit\n\
              BUY 1 AAPL @ 1\n",
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("error: unknown command \"HODL\""), "{out}");
    assert!(
        out.contains("error: quantity \"ten\" is not a whole number"),
        "{out}"
    );
    assert!(
        out.contains("error: \"1.234\" is not a price like 150.50"),
        "{out}"
    );
    assert!(
        out.contains("ORDER_FILLED           #2 bob BUY AAPL: filled 40"),
        "{out}"
    );
    assert!(out.contains("unknown symbol \"NFLX\""), "{out}");
    assert!(
        out.contains("cancel refused: order 1 belongs to another trader"),
        "{out}"
    );
    assert!(out.contains("cancel refused: order 99 is unknown"), "{out}");
    assert!(
        out.contains("AAPL   bids: -  |  asks: 60 @ 150.50 (1)"),
        "{out}"
    );
    assert!(out.contains("bob        AAPL       +40 shares"), "{out}");
    assert!(
        out.contains("ORDER_CANCELLED        #1 you 60 shares: cancelled by trader"),
        "{out}"
    );
    let s = summary(&out);
    // The line after quit is never read.
    assert!(s.contains("orders submitted: 3, rejected: 3"), "{out}");
    assert!(s.contains("conserved"), "{out}");
}

#[test]
fn runs_on_redis() {
    let Some(url) = redis_url_or_skip("trading on redis") else {
        return;
    };
    let out = stdout(&["--fast", "--backend", "redis", "--redis-url", &url]);
    assert_demo(&out);
}

#[test]
fn stress_on_redis_keeps_the_books_sound() {
    let Some(url) = redis_url_or_skip("trading stress on redis") else {
        return;
    };
    let out = stdout(&[
        "--fast",
        "--stress",
        "300",
        "--backend",
        "redis",
        "--redis-url",
        &url,
    ]);
    let s = summary(&out);
    assert!(s.contains("orders submitted: 300"), "{out}");
    assert!(s.contains(": conserved"), "{out}");
    assert!(s.contains("crossed books: none"), "{out}");
}

#[test]
fn a_bad_file_is_a_clear_error_not_a_panic() {
    for file in [
        "/nonexistent/input.json",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
    ] {
        let out = Command::new(BIN)
            .args(["--fast", "--file", file])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `cargo run -p example-trading | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(BIN, &["--fast"]);
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &["--fast"]);
}

/// SIGTERM in the middle of a Redis stress run: the example stops and removes its stream.
#[test]
fn sigterm_mid_stress_on_redis_leaves_no_key() {
    let Some(url) = example_support::testing::redis_url_or_skip("trading sigterm mid-stress")
    else {
        return;
    };
    example_support::testing::assert_signal_mid_run_leaves_no_key(
        BIN,
        &["--fast", "--stress", "200000"],
        &url,
        "TERM",
    );
}

/// The README's sample summary is what the demo prints with `--fast`.
#[test]
fn the_readme_sample_matches_the_real_output() {
    let out = run_ok(BIN, &["--fast"]);
    example_support::testing::assert_readme_sample_matches(
        concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
        "## Sample output",
        &String::from_utf8_lossy(&out.stdout),
    );
}

/// The audit trail's lines keep one column for the event type, however long it is
/// (`ORDER_CANCEL_REQUESTED` included): every description starts at the same column.
#[test]
fn the_audit_trail_is_aligned() {
    let out = run_ok(BIN, &["--fast"]);
    let out = String::from_utf8_lossy(&out.stdout);
    let columns: std::collections::BTreeSet<(usize, &str)> = out
        .lines()
        .filter(|l| l.starts_with("ORDER_") || l.starts_with("TRADE_") || l.starts_with("RISK_"))
        .map(|l| {
            let ty = l.split_whitespace().next().unwrap_or_default();
            let col = ty.len() + l[ty.len()..].len() - l[ty.len()..].trim_start().len();
            (col, ty)
        })
        .collect();
    assert!(
        columns.iter().any(|(_, t)| *t == "ORDER_CANCEL_REQUESTED"),
        "{out}"
    );
    let distinct: std::collections::BTreeSet<usize> = columns.iter().map(|(c, _)| *c).collect();
    assert_eq!(distinct.len(), 1, "{columns:?}");
}

/// `--help` gives the `--stress` range, not only the error message.
#[test]
fn help_gives_the_stress_maximum() {
    let help = String::from_utf8_lossy(&run_ok(BIN, &["--help"]).stdout).into_owned();
    assert!(help.contains("1 to 1,000,000"), "{help}");
    assert!(!help.to_lowercase().contains("slide"), "{help}");
}

/// Progress when stderr is not a terminal: plain lines, rates rounded, with an ETA.
#[test]
fn stress_progress_is_plain_rounded_lines_off_a_terminal() {
    let out = run_ok(BIN, &["--fast", "--stress", "300"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rfind(|l| l.starts_with("progress: "))
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    assert!(
        last.starts_with("progress: 300/300 orders (100 %), "),
        "{last}"
    );
    assert!(last.contains(" orders/s, ETA "), "{last}");
}

/// Ctrl-C at the prompt stops the example at once, though its input is still open.
#[test]
fn ctrl_c_at_the_prompt_stops_the_example() {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(["--fast", "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    // Kept open until the end: a closed stdout would end the example on its own.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("trading prompt"), "{first}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still waiting for input 10 s after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");
    drop(stdout);
}
