//! Runs the ETL chain end to end on the built-in sample, on a dirty CSV (quoted commas,
//! bad rows), on a missing file (dead-lettered), and on Redis.
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

#[test]
fn a_missing_file_is_dead_lettered() {
    let out = stdout(&["--file", "/nonexistent/orders.csv"]);
    assert!(out.contains("failed runs: 1"), "{out}");
    assert!(out.contains("DLQ ETL_START"), "{out}");
    assert!(out.contains("cannot read /nonexistent/orders.csv"), "{out}");
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
