//! Runs the chain example end to end, in memory and on Redis.
use example_support::testing::{redis_url_or_skip, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_example-chain");
const EXPECTED: &str =
    "Step1: processing 5\nStep2: transforming 10\nStep3: complete, result = 11\n";

#[test]
fn runs_the_chain_in_memory() {
    let out = run_ok(BIN, &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
    assert!(String::from_utf8_lossy(&out.stderr).contains("processed 3 events, emitted 2"));
}

#[test]
fn runs_the_same_organs_on_redis() {
    let Some(url) = redis_url_or_skip("chain on redis") else {
        return;
    };
    let out = run_ok(BIN, &["--backend", "redis", "--redis-url", &url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `cargo run -p example-chain | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(BIN, &[]);
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &[]);
}
