//! Runs the ETL chain end to end on the built-in sample, on a dirty CSV (quoted commas,
//! bad rows), on an empty file, on a missing or unreadable file (an error), and on Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use example_support::testing::{redis_url_or_skip, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_example-etl");
const DIRTY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/dirty_orders.csv");

fn stdout(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(BIN, args).stdout).into_owned()
}

#[test]
fn summarises_the_built_in_sample() {
    let out = stdout(&[]);
    assert!(out.contains("loaded 10 rows"), "{out}");
    assert!(
        out.contains("chunks: 1, rows valid: 10, rows rejected: 0, failed runs: 0"),
        "{out}"
    );
    assert!(
        out.contains("AAPL   orders   6  buy   350  sell   375"),
        "{out}"
    );
    assert!(out.contains("processed 4, emitted 3"), "{out}");
}

#[test]
fn cleans_a_dirty_file_in_chunks() {
    let out = stdout(&["--file", DIRTY, "--chunk-size", "2"]);
    assert!(
        out.contains("chunks: 5, rows valid: 3, rows rejected: 6"),
        "{out}"
    );
    // The quoted "bob, jr." row is one field, not two.
    assert!(
        out.contains("AAPL   orders   2  buy   100  sell    40"),
        "{out}"
    );
    for reason in [
        "rejected line 5: side \"HOLD\" is not BUY or SELL",
        "rejected line 6: empty symbol",
        "rejected line 7: quantity \"-5\" is not a positive integer",
        "rejected line 8: quantity \"five\"",
        "rejected line 9: expected 6 fields, got 5",
        "rejected line 10: price 0 is not valid for a LIMIT order",
    ] {
        assert!(out.contains(reason), "missing {reason:?} in {out}");
    }
}

/// A file of its own under the temp dir holding `bytes`, removed when dropped.
struct TempFile(std::path::PathBuf);
impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("example-etl-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A zero-byte CSV is an empty table: every stage runs and the report says 0 rows.
#[test]
fn an_empty_file_runs_every_stage_and_reports_0_rows() {
    let empty = TempFile::new("empty.csv", b"");
    let out = stdout(&["--file", empty.path()]);
    assert!(out.contains("loaded 0 rows"), "{out}");
    assert!(out.contains("chunk 1/1 transformed"), "{out}");
    assert!(
        out.contains("chunks: 1, rows valid: 0, rows rejected: 0, failed runs: 0"),
        "{out}"
    );
    assert!(out.contains("processed 4, emitted 3"), "{out}");
}

/// A script must see that the input could not be read: `error: …`, non-zero exit.
#[test]
fn a_missing_file_is_an_error() {
    let err = example_support::testing::run_failing(BIN, &["--file", "/nonexistent/orders.csv"]);
    assert!(err.contains("cannot read /nonexistent/orders.csv"), "{err}");
    example_support::testing::assert_no_debug_text(&err);
}

/// A file that opens but is not text fails in the Loader: the run is reported (the start
/// event in the dead-letter queue), then the example fails.
#[test]
fn a_file_that_is_not_text_fails_the_run() {
    let binary = TempFile::new("binary.csv", b"trader_id,symbol\n\xff\xfe\n");
    let out = std::process::Command::new(BIN)
        .args(["--file", binary.path()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    assert!(stdout.contains("DLQ ETL_START"), "{stdout}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(last.contains("cannot read"), "{stderr}");
}

#[test]
fn runs_on_redis() {
    let Some(url) = redis_url_or_skip("etl on redis") else {
        return;
    };
    let out = stdout(&["--backend", "redis", "--redis-url", &url]);
    assert!(out.contains("rows valid: 10"), "{out}");
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `cargo run -p example-etl | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(BIN, &[]);
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &[]);
}

/// The README's sample is what the example prints for the command it names (run from the
/// repository root, as the README says).
#[test]
fn the_readme_sample_matches_the_real_output() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = std::process::Command::new(BIN)
        .args([
            "--file",
            "examples/etl/data/dirty_orders.csv",
            "--chunk-size",
            "4",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success());
    example_support::testing::assert_readme_sample_matches(
        concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
        "Output of `cargo run -p example-etl",
        &String::from_utf8_lossy(&out.stdout),
    );
}

/// `--chunk-size 0` is refused, not silently treated as 1.
#[test]
fn a_zero_chunk_size_is_refused() {
    let err = example_support::testing::run_failing(BIN, &["--chunk-size", "0"]);
    assert!(err.contains("--chunk-size"), "{err}");
}

/// A run that fails on Redis still removes its throwaway stream and dead-letter stream.
#[test]
fn a_failed_run_on_redis_leaves_no_key() {
    let Some(url) = redis_url_or_skip("etl failed run on redis") else {
        return;
    };
    let binary = TempFile::new("binary-redis.csv", b"trader_id,symbol\n\xff\xfe\n");
    let out = std::process::Command::new(BIN)
        .args(["--file", binary.path(), "--json-logs"])
        .args(["--backend", "redis", "--redis-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stream = stderr
        .split_once("\"stream\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(key, _)| key.to_owned())
        .unwrap_or_else(|| panic!("the run logs its stream: {stderr}"));
    assert_eq!(
        example_support::testing::redis_keys(&url, &format!("{stream}*")),
        Vec::<String>::new()
    );
}
