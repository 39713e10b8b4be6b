//! Runs the séance end to end: the question reaches the last organ; an empty one is
//! dead-lettered with its reason; a seed reproduces a reading.
use example_support::testing::{redis_url_or_skip, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_example-seance");

fn stdout(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(BIN, args).stdout).into_owned()
}

#[test]
fn the_question_travels_to_the_omen() {
    let out = stdout(&["--question", "Is the bridge safe?"]);
    assert!(
        out.contains("📜 Reading — question: \"Is the bridge safe?\""),
        "{out}"
    );
    assert!(
        out.contains("readings completed: 1, rituals failed: 0"),
        "{out}"
    );
    assert!(out.contains("processed 4, emitted 3"), "{out}");
    assert!(out.contains("dead-letter queue: 0"), "{out}");
}

#[test]
fn a_seed_reproduces_the_reading() {
    let a = stdout(&["--seed", "42", "--question", "Again?"]);
    let b = stdout(&["--seed", "42", "--question", "Again?"]);
    assert_eq!(a, b);
}

#[test]
fn an_empty_question_is_dead_lettered() {
    let out = stdout(&["--question", "   "]);
    assert!(
        out.contains("readings completed: 0, rituals failed: 1"),
        "{out}"
    );
    assert!(out.contains("DLQ SUMMON_RITUAL"), "{out}");
    assert!(out.contains("no spirit answers silence"), "{out}");
}

#[test]
fn runs_on_redis() {
    let Some(url) = redis_url_or_skip("seance on redis") else {
        return;
    };
    let out = stdout(&[
        "--backend",
        "redis",
        "--redis-url",
        &url,
        "--question",
        "Redis?",
    ]);
    assert!(out.contains("question: \"Redis?\""), "{out}");
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `cargo run -p example-seance | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(
        BIN,
        &["--question", "Is the bridge safe?"],
    );
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &[]);
}

/// With no flag and no `RUST_LOG`, a failing organ still leaves a trace: a plain,
/// human-readable WARN/ERROR line on stderr (and no per-event INFO lines).
#[test]
fn a_failing_organ_is_logged_in_plain_text_by_default() {
    let out = std::process::Command::new(BIN)
        .args(["--question", "   "])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let failure = err
        .lines()
        .find(|l| l.contains("no spirit answers silence"))
        .unwrap_or_else(|| panic!("the organ's failure is not logged: {err:?}"));
    assert!(
        failure.contains("ERROR") || failure.contains("WARN"),
        "{failure}"
    );
    assert!(failure.contains("Medium"), "{failure}");
    assert!(!failure.starts_with('{'), "plain text, not JSON: {failure}");
    assert!(
        !err.contains(" INFO "),
        "only WARN and above by default: {err}"
    );
}

/// `RUST_LOG` overrides the default level.
#[test]
fn rust_log_overrides_the_default_level() {
    let out = std::process::Command::new(BIN)
        .env("RUST_LOG", "necro_spine=debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("event handled")),
        "{err}"
    );
}

/// The README's sample is what the example prints for the command it names.
#[test]
fn the_readme_sample_matches_the_real_output() {
    let args = [
        "--question",
        "Will the release ship on Friday?",
        "--seed",
        "42",
    ];
    example_support::testing::assert_readme_sample_matches(
        concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"),
        "Output of `cargo run -p example-seance",
        &stdout(&args),
    );
}
