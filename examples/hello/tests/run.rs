//! Runs the hello example end to end.
use example_support::testing::run_ok;

const BIN: &str = env!("CARGO_BIN_EXE_example-hello");

#[test]
fn prints_the_greeting() {
    let out = run_ok(BIN, &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("processed 2 events, emitted 1"));
}

#[test]
fn greets_by_name() {
    let out = run_ok(BIN, &["--name", "Ada"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, Ada!\n");
}

#[test]
fn a_reader_that_stops_early_is_not_a_panic() {
    // `cargo run -p example-hello | head`: the pipe closes before the output ends.
    example_support::testing::assert_quiet_on_broken_pipe(BIN, &[]);
}

#[test]
fn bad_setup_is_an_error_in_display_form_and_a_failure() {
    example_support::testing::assert_bad_setup_fails_cleanly(BIN, &[]);
}

/// The top-level README shows what `cargo run -p example-hello` prints: exactly that.
#[test]
fn the_readme_sample_is_what_the_example_prints() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let out = std::process::Command::new(BIN)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sample = example_support::testing::readme_sample(readme, "What the first command prints");
    assert_eq!(printed.lines().collect::<Vec<_>>(), sample, "{printed}");
}

/// `--help` says what the example shows, not which slide of a talk it came from.
#[test]
fn help_says_what_the_example_shows() {
    let help = String::from_utf8_lossy(&run_ok(BIN, &["--help"]).stdout).into_owned();
    assert!(help.contains("Greeter"), "{help}");
    assert!(!help.to_lowercase().contains("slide"), "{help}");
}
