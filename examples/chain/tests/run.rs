//! Runs the chain example end to end, in memory and on Redis.
use std::process::Command;

const EXPECTED: &str =
    "Step1: processing 5\nStep2: transforming 10\nStep3: complete, result = 11\n";

#[test]
fn runs_the_chain_in_memory() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-chain"))
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
    assert!(String::from_utf8_lossy(&out.stderr).contains("processed 3 events, emitted 2"));
}

fn redis_url() -> String {
    std::env::var("NECRO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_up(url: &str) -> bool {
    let addr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    std::net::TcpStream::connect(addr).is_ok()
}

#[test]
fn runs_the_same_organs_on_redis() {
    let url = redis_url();
    if !redis_up(&url) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no Redis at {url}, and CI=true forbids skipping"
        );
        eprintln!("SKIPPED: no Redis at {url}");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_example-chain"))
        .args(["--backend", "redis", "--redis-url", &url])
        .output()
        .expect("the example runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED);
}
