//! Runs the hello example end to end.
use std::process::Command;

#[test]
fn prints_the_greeting() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-hello"))
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("processed 2 events, emitted 1"));
}

#[test]
fn greets_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-hello"))
        .args(["--name", "Ada"])
        .output()
        .expect("the example runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, Ada!\n");
}
