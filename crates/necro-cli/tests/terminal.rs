//! `necro dlq purge` and `replay` on a real terminal: run under `script(1)`, which gives the
//! binary a pseudo-terminal, it asks before acting, draws its progress bar while it works and
//! ends with the count; an answer other than yes changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::Ctx;

/// Runs `necro --stream <stream> <args>` on a pseudo-terminal, typing `answer` at it; returns
/// whether it exited 0 and what the terminal showed. `None` when `script` is missing (a failure
/// under `CI=true`).
fn on_a_terminal(ctx: &Ctx, args: &str, answer: &str) -> Option<(bool, String)> {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no script(1) (util-linux): failing instead of skipping"
        );
        eprintln!("SKIPPED: no script(1) to give necro a terminal");
        return None;
    }
    let command = format!(
        "{} --stream {} {args}",
        env!("CARGO_BIN_EXE_necro"),
        ctx.stream
    );
    let mut child = Command::new("timeout")
        .args(["30", "script", "-qec", &command, "/dev/null"])
        .env("NECRO_REDIS_URL", &ctx.url)
        .env_remove("NECRO_STREAM")
        .env_remove("NECRO_GROUP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // `script -e` exits with necro's status; 124 is `timeout` giving up on a hang.
    assert_ne!(out.status.code(), Some(124), "necro hung on the terminal");
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn letters(ctx: &mut Ctx, n: usize) {
    for i in 0..n {
        ctx.rust_dead_letter(
            "ORDER_PLACED",
            &format!("Mailer{i}"),
            "handler_failed",
            "2024-01-15T10:30:45.123456+00:00",
        );
    }
}

#[test]
fn purge_asks_shows_its_progress_and_counts_on_a_terminal() {
    let Some(mut ctx) = Ctx::shared("terminal-purge") else {
        return;
    };
    letters(&mut ctx, 3);
    let Some((ok, screen)) = on_a_terminal(&ctx, "dlq purge --all", "y\n") else {
        return;
    };
    assert!(ok, "{screen}");
    let dlq = ctx.dlq();
    assert!(
        screen.contains(&format!(
            "Delete 3 dead letter(s) from {dlq} for good? [y/N]"
        )),
        "{screen}"
    );
    assert!(screen.contains("purging ["), "no progress bar: {screen}");
    assert!(
        screen.contains("3/3"),
        "the bar never reached the end: {screen}"
    );
    assert!(
        screen.contains(&format!("purged 3 dead letter(s) from {dlq}")),
        "{screen}"
    );
    assert_eq!(ctx.xlen(&dlq), 0);
}

#[test]
fn an_answer_other_than_yes_changes_nothing() {
    let Some(mut ctx) = Ctx::shared("terminal-no") else {
        return;
    };
    letters(&mut ctx, 2);
    let Some((ok, screen)) = on_a_terminal(&ctx, "dlq replay --all", "n\n") else {
        return;
    };
    assert!(!ok, "an aborted replay exits non-zero: {screen}");
    assert!(screen.contains("error: "), "{screen}");
    let dlq = ctx.dlq();
    assert!(
        screen.contains(&format!(
            "Replay 2 dead letter(s) from {dlq} onto {}? [y/N]",
            ctx.stream
        )),
        "{screen}"
    );
    assert!(!screen.contains("replaying ["), "{screen}");
    assert_eq!(ctx.xlen(&dlq), 2, "nothing was replayed");
    assert_eq!(
        ctx.xlen(&ctx.stream.clone()),
        0,
        "nothing reached the stream"
    );
}
