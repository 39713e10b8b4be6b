//! Shared helpers for the command line's tests: finding the shared Redis (or skipping —
//! failing under `CI=true`), a per-test stream key whose streams are deleted afterwards, a
//! tiny synchronous Redis client for writing raw entries, and running the built `necro`.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The shared server: `NECRO_REDIS_URL` or the local default.
pub(crate) fn shared_url() -> String {
    std::env::var("NECRO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A Redis reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

impl Reply {
    pub(crate) fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }
    pub(crate) fn text(&self) -> String {
        match self {
            Reply::Bulk(Some(s)) | Reply::Status(s) => s.clone(),
            other => panic!("not text: {other:?}"),
        }
    }
    pub(crate) fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(items) => items.clone(),
            other => panic!("not an array: {other:?}"),
        }
    }
}

/// `redis://[user:password@]host:port[/db]`, read without a URL crate.
struct Addr {
    host_port: String,
    auth: Vec<String>,
    db: Option<String>,
}

fn addr(url: &str) -> Addr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host_port, db) = match hostpart.split_once('/') {
        Some((h, d)) if !d.is_empty() => (h.to_owned(), Some(d.to_owned())),
        Some((h, _)) => (h.to_owned(), None),
        None => (hostpart.to_owned(), None),
    };
    let auth = match userinfo.map(|u| u.split_once(':')) {
        Some(Some(("", pw))) => vec![pw.to_owned()],
        Some(Some((user, pw))) => vec![user.to_owned(), pw.to_owned()],
        _ => Vec::new(),
    };
    let host_port = if host_port.contains(':') {
        host_port
    } else {
        format!("{host_port}:6379")
    };
    Addr {
        host_port,
        auth,
        db,
    }
}

/// One connection to the shared server.
pub(crate) struct Redis {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Redis {
    /// Connects, or `None` when nothing answers.
    pub(crate) fn connect(url: &str) -> Option<Self> {
        let a = addr(url);
        let sock = std::net::ToSocketAddrs::to_socket_addrs(&a.host_port)
            .ok()?
            .next()?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_millis(500)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut redis = Self {
            reader: BufReader::new(stream.try_clone().ok()?),
            writer: stream,
        };
        if !a.auth.is_empty() {
            let mut args = vec!["AUTH"];
            args.extend(a.auth.iter().map(String::as_str));
            redis.cmd(&args);
        }
        if let Some(db) = &a.db {
            redis.cmd(&["SELECT", db]);
        }
        (redis.cmd(&["PING"]) == Reply::Status("PONG".to_owned())).then_some(redis)
    }

    /// Sends one command and reads its reply.
    pub(crate) fn cmd(&mut self, args: &[&str]) -> Reply {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            buf.extend_from_slice(arg.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&buf).expect("send to Redis");
        self.read()
    }

    fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read from Redis");
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(rest.parse().expect("an integer reply")),
            "$" => {
                let n: i64 = rest.parse().expect("a bulk length");
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut data = vec![0; usize::try_from(n).unwrap() + 2];
                self.reader
                    .read_exact(&mut data)
                    .expect("read a bulk reply");
                data.truncate(data.len() - 2);
                Reply::Bulk(Some(String::from_utf8(data).expect("UTF-8 reply")))
            }
            "*" => {
                let n: i64 = rest.parse().expect("an array length");
                Reply::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            other => panic!("unexpected reply type {other:?} in {line:?}"),
        }
    }
}

/// One test's stream on the shared server: its key, deleted (with its dead-letter stream)
/// when this is dropped, even on panic.
pub(crate) struct Ctx {
    pub(crate) url: String,
    pub(crate) stream: String,
    pub(crate) redis: Redis,
}

impl Ctx {
    /// The shared server with a fresh stream key, or `None` (the test is skipped, with a
    /// `SKIPPED` line) when nothing answers; under `CI=true` that is a failure instead.
    pub(crate) fn shared(test: &str) -> Option<Self> {
        let url = shared_url();
        let Some(redis) = Redis::connect(&url) else {
            assert!(
                !under_ci(),
                "CI=true and no Redis answers: failing instead of skipping"
            );
            eprintln!("SKIPPED: no Redis answers (set CI=true to make this a failure)");
            return None;
        };
        let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(10)
            .collect();
        Some(Self {
            url,
            stream: format!("necro-test:cli-{test}:{suffix}"),
            redis,
        })
    }

    /// The dead-letter stream's key.
    pub(crate) fn dlq(&self) -> String {
        format!("{}:dlq", self.stream)
    }

    /// Runs `necro --stream <this stream> <args>` against this server.
    pub(crate) fn necro(&self, args: &[&str]) -> Output {
        let mut full = vec!["--stream", self.stream.as_str()];
        full.extend_from_slice(args);
        necro(&self.url, &full)
    }

    /// Adds a dead letter the way the Python original writes one (`XADD <stream>:dlq *
    /// original_id … event … reason … failed_at …`); returns its id.
    pub(crate) fn python_dead_letter(&mut self, event_type: &str, reason: &str) -> String {
        let event = event_json(event_type);
        let dlq = self.dlq();
        self.redis
            .cmd(&[
                "XADD",
                &dlq,
                "*",
                "original_id",
                "1705314645000-0",
                "event",
                &event,
                "reason",
                reason,
                "failed_at",
                "2024-01-15T10:30:45.123456+00:00",
            ])
            .text()
    }

    /// Adds a dead letter with the fields the Rust backend writes (kind, organ, attempts),
    /// failed at `failed_at`; returns its id.
    pub(crate) fn rust_dead_letter(
        &mut self,
        event_type: &str,
        organ: &str,
        kind: &str,
        failed_at: &str,
    ) -> String {
        let event = event_json(event_type);
        let dlq = self.dlq();
        self.redis
            .cmd(&[
                "XADD",
                &dlq,
                "*",
                "original_id",
                "",
                "event",
                &event,
                "reason",
                &format!("{organ}: boom"),
                "failed_at",
                failed_at,
                "kind",
                kind,
                "attempts",
                "3",
                "consumer",
                "worker-1",
                "organ",
                organ,
            ])
            .text()
    }

    /// The entries of a stream: `(id, [field, value, …])`.
    pub(crate) fn entries(&mut self, key: &str) -> Vec<(String, Vec<String>)> {
        self.redis
            .cmd(&["XRANGE", key, "-", "+"])
            .items()
            .into_iter()
            .map(|e| {
                let parts = e.items();
                (
                    parts[0].text(),
                    parts[1].items().iter().map(Reply::text).collect(),
                )
            })
            .collect()
    }

    pub(crate) fn xlen(&mut self, key: &str) -> i64 {
        self.redis.cmd(&["XLEN", key]).int()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let dlq = self.dlq();
        let stream = self.stream.clone();
        let _ = self.redis.cmd(&["DEL", &stream, &dlq]);
    }
}

/// The four-field event JSON as Python's `json.dumps` writes it (spaces after separators,
/// non-ASCII escaped), with a fresh UUID v4.
pub(crate) fn event_json(event_type: &str) -> String {
    let hex: String = std::iter::repeat_with(|| fastrand::u8(0..16))
        .take(32)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap())
        .collect();
    let id = format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    );
    format!(
        r#"{{"id": "{id}", "timestamp": "2024-01-15T10:30:45.123456+00:00", "event_type": "{event_type}", "payload": {{"order_id": 123, "note": "caf\u00e9"}}}}"#
    )
}

/// Runs the built `necro` with `args`, `NECRO_REDIS_URL` set to `url`, standard input closed
/// (not a terminal).
pub(crate) fn necro(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_necro"))
        .args(args)
        .env("NECRO_REDIS_URL", url)
        .env_remove("NECRO_STREAM")
        .env_remove("NECRO_GROUP")
        .stdin(Stdio::null())
        .output()
        .expect("run necro")
}

/// Standard output as text.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns standard output.
#[track_caller]
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "necro failed ({:?}): {}{}",
        out.status.code(),
        stderr(out),
        stdout(out)
    );
    stdout(out)
}

/// Asserts the failure shape every error has (exit 1, exactly one `error:` line on standard
/// error, nothing on standard output) and returns the line.
#[track_caller]
pub(crate) fn fails(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err:?}");
    assert!(lines[0].starts_with("error: "), "{err:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    lines[0].to_owned()
}

/// Parses standard output as JSON.
#[track_caller]
pub(crate) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}
