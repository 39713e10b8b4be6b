//! Shared helpers for the integration tests: finding the shared Redis (or skipping — failing
//! under `CI=true`), per-test stream keys that clean up after themselves, a private
//! `redis-server` that can be killed and restarted, and small Redis admin calls.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{ClientLike, StreamsInterface};
use fred::types::{CustomCommand, Value};
use necro_backend_redis::{EntryId, RedisBackend, RedisConfigBuilder};
use necro_core::{Backend, Delivery, Event};
use serde_json::json;

/// The shared server: `NECRO_REDIS_URL` or the local default.
pub(crate) fn shared_url() -> String {
    std::env::var("NECRO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub(crate) mod tls;

pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips the calling test with a printed line, or fails it under `CI=true`.
fn skip(what: &str) {
    assert!(
        !under_ci(),
        "CI=true and {what}: failing instead of skipping"
    );
    eprintln!("SKIPPED: {what} (set CI=true to make this a failure)");
}

struct Addr {
    host_port: String,
    user: Option<String>,
    password: Option<String>,
    db: Option<String>,
}

fn addr(url: &str) -> Addr {
    let u = url::Url::parse(url).expect("test URL parses");
    let host = u.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = u.port().unwrap_or(6379);
    let db = u.path().trim_start_matches('/');
    Addr {
        host_port: format!("{host}:{port}"),
        user: Some(u.username().to_owned()).filter(|s| !s.is_empty()),
        password: u.password().map(str::to_owned),
        db: Some(db.to_owned()).filter(|s| !s.is_empty()),
    }
}

/// Sends one command over a fresh plain connection and returns the first reply line
/// (`+PONG`, `:3`, `-ERR …`). Synchronous, so it also works from `Drop`.
pub(crate) fn raw_command(url: &str, args: &[&str]) -> std::io::Result<String> {
    let a = addr(url);
    let sock: std::net::SocketAddr = match a.host_port.parse() {
        Ok(s) => s,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&a.host_port)?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?,
    };
    let stream = TcpStream::connect_timeout(&sock, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut send = |args: &[&str]| -> std::io::Result<String> {
        let mut buf = format!("*{}\r\n", args.len());
        for arg in args {
            buf.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        writer.write_all(buf.as_bytes())?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    };
    if let Some(pw) = &a.password {
        match &a.user {
            Some(user) => send(&["AUTH", user, pw])?,
            None => send(&["AUTH", pw])?,
        };
    }
    if let Some(db) = &a.db {
        send(&["SELECT", db])?;
    }
    send(args)
}

fn answers_ping(url: &str) -> bool {
    raw_command(url, &["PING"]).is_ok_and(|r| r == "+PONG")
}

/// A unique key prefix for one test.
pub(crate) fn unique_key(test: &str) -> String {
    let suffix: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(10)
        .collect();
    format!("necro-test:{test}:{suffix}")
}

/// One test's view of a Redis server: its URL and its own stream key, whose stream,
/// dead-letter stream and trim lease are deleted when this is dropped (even on panic).
pub(crate) struct Ctx {
    pub(crate) url: String,
    pub(crate) stream: String,
}

impl Ctx {
    /// The shared server with a fresh stream key, or `None` (test skipped) if nothing answers.
    pub(crate) fn shared(test: &str) -> Option<Self> {
        let url = shared_url();
        if !answers_ping(&url) {
            skip(&format!(
                "no Redis answers at {}",
                necro_backend_redis::mask_url(&url)
            ));
            return None;
        }
        Some(Self {
            url,
            stream: unique_key(test),
        })
    }

    /// A fresh stream key on the given server.
    pub(crate) fn on(server: &RedisServer, test: &str) -> Self {
        Self {
            url: server.url(),
            stream: unique_key(test),
        }
    }

    pub(crate) fn dlq(&self) -> String {
        format!("{}:dlq", self.stream)
    }

    /// A builder on this stream with test-friendly sizes (small pool, short blocking).
    pub(crate) fn builder(&self) -> RedisConfigBuilder {
        RedisBackend::builder(self.url.clone())
            .stream_key(self.stream.clone())
            .pool_size(2)
            .block_timeout(Duration::from_millis(200))
    }

    pub(crate) async fn backend(&self) -> RedisBackend {
        self.builder().connect().await.expect("connect")
    }

    /// A backend for one conformance scenario: a fresh stream and its own group on the shared
    /// server. Its context is kept in `keep`, so the streams live until the test ends (and
    /// are deleted then).
    #[allow(dead_code)] // Not every test binary runs a conformance suite.
    pub(crate) async fn for_conformance(
        test: &str,
        keep: &std::sync::Mutex<Vec<Ctx>>,
    ) -> RedisBackend {
        let ctx = Ctx::shared(test).expect("Redis answered a moment ago");
        let backend = ctx
            .builder()
            .consumer_group(unique_key("group"))
            .connect()
            .await
            .expect("connect");
        keep.lock().unwrap().push(ctx);
        backend
    }

    /// A plain fred client for inspecting and writing raw entries.
    pub(crate) async fn admin(&self) -> Client {
        admin(&self.url).await
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let dlq = self.dlq();
        let lease = format!("{}:trim-lease", self.stream);
        let _ = raw_command(&self.url, &["DEL", &self.stream, &dlq, &lease]);
    }
}

pub(crate) async fn admin(url: &str) -> Client {
    let config = fred::types::config::Config::from_url(url).expect("admin URL");
    let client = fred::types::Builder::from_config(config)
        .build()
        .expect("admin client");
    client.init().await.expect("admin connects");
    client
}

/// Any command, through fred: `cmd(&client, "XPENDING", &[...])`.
pub(crate) async fn cmd(client: &Client, name: &'static str, args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    client
        .custom::<Value, _>(CustomCommand::new_static(name, None::<u16>, false), args)
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

/// Raw `XADD stream * field value ...`, as another producer (e.g. Python) would write it.
pub(crate) async fn raw_xadd(client: &Client, stream: &str, fields: &[(&str, &str)]) -> String {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let id: String = client
        .xadd(stream, false, None::<()>, "*", fields)
        .await
        .expect("raw XADD");
    id
}

/// The number of pending (delivered, not acked) entries of the group.
pub(crate) async fn pending_count(client: &Client, stream: &str, group: &str) -> u64 {
    match cmd(client, "XPENDING", &[stream, group]).await {
        Value::Array(parts) => parts.first().and_then(Value::as_u64).unwrap_or(0),
        _ => 0,
    }
}

/// The fields of every entry of a stream, oldest first.
pub(crate) async fn entries(client: &Client, stream: &str) -> Vec<(String, Vec<(String, String)>)> {
    let reply = cmd(client, "XRANGE", &[stream, "-", "+"]).await;
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else {
                return None;
            };
            let fields = parts.pop()?;
            let id = parts.pop()?.as_string()?;
            let Value::Array(flat) = fields else {
                return Some((id, Vec::new()));
            };
            let pairs = flat
                .chunks(2)
                .map(|kv| {
                    (
                        kv[0].as_string().unwrap_or_default(),
                        kv.get(1).and_then(Value::as_string).unwrap_or_default(),
                    )
                })
                .collect();
            Some((id, pairs))
        })
        .collect()
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A numbered test event.
pub(crate) fn event(i: usize) -> Event {
    Event::new("TEST", json!({ "i": i })).expect("valid event")
}

/// Pulls (acking nothing) until `n` deliveries arrived or `within` ran out.
pub(crate) async fn pull_n(
    backend: &RedisBackend,
    n: usize,
    within: Duration,
) -> Vec<Delivery<EntryId>> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let batch = backend
            .pull(n - got.len(), Duration::from_millis(100))
            .await
            .expect("pull");
        got.extend(batch);
    }
    got
}

/// Pulls and acks until `n` deliveries arrived or `within` ran out.
pub(crate) async fn drain(
    backend: &RedisBackend,
    n: usize,
    within: Duration,
) -> Vec<Delivery<EntryId>> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let batch = backend
            .pull(100, Duration::from_millis(100))
            .await
            .expect("pull");
        backend
            .ack(batch.iter().map(|d| d.token.clone()).collect())
            .await
            .expect("ack");
        got.extend(batch);
    }
    got
}

pub(crate) fn ids(deliveries: &[Delivery<EntryId>]) -> HashSet<uuid::Uuid> {
    deliveries.iter().map(|d| d.event.id()).collect()
}

/// A private `redis-server` on a free loopback port in a temporary directory, killed (and its
/// directory removed) on drop. For tests that kill, restart or `CLIENT KILL` Redis.
pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server; `appendonly` turns on the AOF with fsync on every write, so a
    /// `kill -9` loses nothing acknowledged. `None` (test skipped) without `redis-server`.
    pub(crate) fn start(appendonly: bool) -> Option<Self> {
        Self::start_with(appendonly, &[])
    }

    /// Like [`start`](Self::start), with extra `redis-server` arguments.
    pub(crate) fn start_with(appendonly: bool, extra: &[&str]) -> Option<Self> {
        Self::try_start_with(appendonly, extra).map(|r| r.unwrap_or_else(|e| panic!("{e}")))
    }

    /// Like [`start_with`](Self::start_with), but a server that does not come up is an
    /// `Err` saying why (the end of its log), so a caller can try again on other ports.
    pub(crate) fn try_start_with(appendonly: bool, extra: &[&str]) -> Option<Result<Self, String>> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            skip("no redis-server binary on PATH");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(unique_key("redis").replace(':', "-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.to_str().expect("utf-8 temp dir"),
            "--save",
            "",
            "--appendonly",
            if appendonly { "yes" } else { "no" },
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut server = Self {
            child: None,
            port,
            dir,
            args,
        };
        Some(server.try_spawn().map(|()| server))
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!("{e}");
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if raw_command(&self.url(), &["PING"])
                .is_ok_and(|r| r == "+PONG" || r.starts_with("-NOAUTH"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        Err(format!(
            "redis-server on port {} did not come up; its log ends:\n{}",
            self.port,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `kill -9` the server.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`kill`](Self::kill), on the same port and directory.
    pub(crate) fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// `kill -9`, then start again on the same port and directory (the AOF, if on, is replayed).
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
