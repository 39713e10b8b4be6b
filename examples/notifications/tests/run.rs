//! Runs the notification binary end to end: its files, prompt, stress mode and Redis backend,
//! every requested channel accounted for (delivered + failed + dead-lettered = requested), the
//! README samples against real output, and clean failures. What the organs decide (failure
//! reasons, dead letters, retries, a seed's outcome) is tested in process in tests/organs.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use std::process::Command;

use example_support::testing::{
    ServingExample, assert_signal_mid_run_leaves_no_key, redis_keys, redis_url_or_skip, run_ok,
};

const BIN: &str = env!("CARGO_BIN_EXE_example-notifications");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

fn stdout(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(BIN, args).stdout).into_owned()
}

/// The number after `key` in the summary part of `out`.
fn num(out: &str, key: &str) -> u64 {
    let out = &out[out.find("--- summary ---").expect("a summary")..];
    let at = out
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {out}"))
        + key.len();
    out[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {out}"))
}

/// delivered + failed + dead-lettered = requested channels.
fn assert_accounted(out: &str) -> (u64, u64, u64) {
    let requested = num(out, "requested channels:");
    let (d, f, x) = (
        num(out, "delivered:"),
        num(out, "failed:"),
        num(out, "dead-lettered:"),
    );
    assert_eq!(d + f + x, requested, "{out}");
    (d, f, x)
}

#[test]
fn reads_csv_and_json_files() {
    for file in ["sample_notifications.csv", "sample_notifications.json"] {
        let out = stdout(&["--fast", "--file", &format!("{DATA}/{file}")]);
        assert!(out.contains("requests: 5, requested channels: 9"), "{out}");
        assert_eq!(assert_accounted(&out), (8, 0, 1), "{file}: {out}");
    }
}

#[test]
fn stress_reports_throughput_and_accounts_for_everything() {
    let out = stdout(&["--fast", "--stress", "300"]);
    assert!(out.contains("stress: 300 requests"), "{out}");
    assert!(out.contains("requests/s"), "{out}");
    assert_accounted(&out);
}

#[test]
fn interactive_prompt_survives_bad_lines() {
    let out = example_support::testing::run_with_stdin(
        BIN,
        &["--fast", "--interactive"],
        b"send\n\
              user_001 email,sms 'Your order shipped!' high\n\
              this is not a request at all\n\
              user_002 email 'unterminated\n\
              user_003 sms,push \"Security alert\" critical\n\
              user_002 fax 'Hello'\n\
              stats\n\
              send\n\
              user_001 push 'never sent'\n\
              quit\n",
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("nothing to send"), "{out}");
    assert!(out.contains("error: expected 3 or 4 words, got 7"), "{out}");
    assert!(out.contains("error: unterminated ' quote"), "{out}");
    assert!(out.contains("sent 3 request(s)"), "{out}");
    assert!(out.contains("discarding 1 unsent request(s)"), "{out}");
    assert!(out.contains("requests: 3, requested channels: 5"), "{out}");
    assert_eq!(assert_accounted(&out), (3, 1, 1), "{out}");
}

#[test]
fn runs_on_redis_with_the_blocked_number_in_its_dead_letter_stream() {
    let Some(url) = redis_url_or_skip("notifications on redis") else {
        return;
    };
    let out = stdout(&["--fast", "--backend", "redis", "--redis-url", &url]);
    assert_eq!(assert_accounted(&out), (9, 2, 1), "{out}");
    assert!(out.contains("DLQ SEND_SMS"), "{out}");
    assert!(out.contains("number is blocked"), "{out}");
}

#[test]
fn stress_on_redis_accounts_for_everything() {
    let Some(url) = redis_url_or_skip("notifications stress on redis") else {
        return;
    };
    let out = stdout(&[
        "--fast",
        "--stress",
        "200",
        "--backend",
        "redis",
        "--redis-url",
        &url,
    ]);
    assert!(out.contains("stress: 200 requests"), "{out}");
    assert_accounted(&out);
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
    // `cargo run -p example-notifications | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(BIN, &["--fast"]);
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &["--fast"]);
}

/// While the live page is served, the run's stream and its dead-letter stream stay in Redis
/// (the counts on the page can be inspected there); stopping the example removes both.
#[test]
fn serving_on_redis_keeps_the_stream_and_dlq_until_stopped() {
    let Some(url) = redis_url_or_skip("notifications serving on redis") else {
        return;
    };
    let example =
        ServingExample::start(BIN, &["--fast", "--backend", "redis", "--redis-url", &url]);
    let stream = example.stream_key().expect("the run logs its stream");
    assert_eq!(
        redis_keys(&url, &format!("{stream}*")),
        [stream.clone(), format!("{stream}:dlq")]
    );
    let (status, lines) = example.terminate();
    assert_eq!(status.code(), Some(0), "{status:?} {lines:#?}");
    assert_eq!(
        redis_keys(&url, &format!("{stream}*")),
        Vec::<String>::new()
    );
}

/// Ctrl-C in the middle of a Redis stress run: the example stops and removes its stream.
#[test]
fn sigint_mid_stress_on_redis_leaves_no_key() {
    let Some(url) = redis_url_or_skip("notifications sigint mid-stress") else {
        return;
    };
    assert_signal_mid_run_leaves_no_key(BIN, &["--fast", "--stress", "50000"], &url, "INT");
}

/// The README's sample summary is what the demo prints with `--fast`.
#[test]
fn the_readme_sample_matches_the_real_output() {
    example_support::testing::assert_readme_sample_matches(
        concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
        "## Sample output",
        &stdout(&["--fast"]),
    );
}

/// The README's description of the stress mix is what a seeded stress run does.
#[test]
fn the_readme_stress_mix_matches_a_real_run() {
    example_support::testing::assert_readme_sample_matches(
        concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
        "## The stress mix",
        &stdout(&["--fast", "--stress", "2000"]),
    );
}

/// `--help` gives the `--stress` range, not only the error message.
#[test]
fn help_gives_the_stress_maximum() {
    let help = stdout(&["--help"]);
    assert!(help.contains("1 to 50,000"), "{help}");
    assert!(!help.to_lowercase().contains("slide"), "{help}");
}

/// Progress when stderr is not a terminal: plain lines, rates rounded, with an ETA, the last
/// one at 100 %; none under `--json-logs` (stderr stays JSON).
#[test]
fn stress_progress_is_plain_rounded_lines_off_a_terminal() {
    let out = run_ok(BIN, &["--fast", "--stress", "300"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    let last = progress
        .last()
        .unwrap_or_else(|| panic!("no progress line: {err}"));
    let total = String::from_utf8_lossy(&out.stdout)
        .split("requested channels: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        last.starts_with(&format!("progress: {total}/{total} channels (100 %)")),
        "{last}"
    );
    for line in &progress {
        assert!(line.contains("ETA"), "{line}");
        let rate = line.split(", ").nth(1).unwrap_or_default();
        assert!(
            rate.ends_with(" channels/s") && !rate.contains('.'),
            "{line}"
        );
    }
    let json = run_ok(BIN, &["--fast", "--stress", "300", "--json-logs"]);
    let _ = example_support::testing::json_lines(&json.stderr);
}
