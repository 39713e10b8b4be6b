//! `--json-logs`, `--metrics-addr` and `--otlp-endpoint`: the examples' observability flags, backed by
//! `necro-observe`.

use std::net::SocketAddr;

use necro_observe::{
    AdminToken, JsonLogs, LogGuard, Metrics, MetricsServer, ObserveError, Otel, OtelGuard,
    PlainLogs,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The level of the plain log lines on stderr when `RUST_LOG` is not set: warnings and errors
/// only (a failing organ, a retry, a lost backend), never a line per event. The Redis
/// client's own warnings (internal bookkeeping, such as quitting a client that never
/// connected) are left out; NecroStack reports what matters of them itself.
pub const PLAIN_DEFAULT_FILTER: &str = "warn,fred=error";

/// The environment variable that, when set, enables the live page's dead-letter actions
/// (replay, purge) with its value as the admin token (16 to 256 visible ASCII characters).
/// Unset: the page's dead-letter section is read-only.
pub const ADMIN_TOKEN_ENV: &str = "NECRO_ADMIN_TOKEN";

/// `--json-logs`, `--metrics-addr ADDR` and `--otlp-endpoint URL`, flattened into each
/// example's command line.
///
/// ```
/// use clap::Parser;
/// use example_support::ObserveArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     observe: ObserveArgs,
/// }
/// let cli = Cli::parse_from(["demo", "--json-logs", "--metrics-addr", "127.0.0.1:9464"]);
/// assert!(cli.observe.json_logs);
/// assert_eq!(cli.observe.metrics_addr.unwrap().port(), 9464);
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ObserveArgs {
    /// Log JSON lines on stderr (level from RUST_LOG, `info` otherwise) instead of the default
    /// plain lines (level from RUST_LOG, `warn` otherwise); stdout keeps the example's own
    /// output either way.
    #[arg(long)]
    pub json_logs: bool,
    /// Serve Prometheus text at http://ADDR/metrics and the live view at http://ADDR/
    /// (HOST:PORT, e.g. 127.0.0.1:9464 or localhost:9464; port 0 picks a free one); after the run, keep serving until
    /// Ctrl-C or SIGTERM. The page lists the backend's dead letters, read-only unless
    /// NECRO_ADMIN_TOKEN is set (then replay and purge need that token).
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    pub metrics_addr: Option<SocketAddr>,
    /// Export traces (one per event chain) over OTLP/HTTP to the collector at this base URL
    /// (e.g. http://localhost:4318; `/v1/traces` is appended). Without it (and without
    /// OTEL_EXPORTER_OTLP_ENDPOINT), nothing is exported.
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// Parses `HOST:PORT`, resolving a host name (`localhost:9464`) to its first address.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("{s} is not a HOST:PORT address that resolves ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{s} resolves to no address"))
}

impl ObserveArgs {
    /// Installs what the flags ask for. Call it first thing in `main`, inside the Tokio
    /// runtime, and keep the guard until the end.
    ///
    /// # Errors
    /// A log subscriber or metrics recorder already installed, an invalid `RUST_LOG`, a
    /// metrics address that cannot be bound (for instance one already in use), or an
    /// invalid [`ADMIN_TOKEN_ENV`].
    pub fn install(&self) -> Result<ObserveGuard, ObserveError> {
        let (log_layer, logs) = if self.json_logs {
            JsonLogs::new().layer()?
        } else {
            PlainLogs::new()
                .default_filter(PLAIN_DEFAULT_FILTER)
                .layer()?
        };
        // The other OTEL_* variables (OTEL_SERVICE_NAME, the sampler, the traces endpoint)
        // are read as the SDK reads them; the flag wins over OTEL_EXPORTER_OTLP_ENDPOINT.
        let service = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "necrostack-example".to_owned());
        let (otel_layer, otel) = Otel::from_env()
            .endpoint(self.otlp_endpoint.as_deref())
            .default_service_name(service)
            .layer()?;
        tracing_subscriber::registry()
            .with(log_layer)
            .with(otel_layer)
            .try_init()
            .map_err(ObserveError::SubscriberAlreadyInstalled)?;
        let metrics = match self.metrics_addr {
            Some(addr) => {
                let mut metrics = Metrics::new().listen(addr);
                if let Some(token) = std::env::var_os(ADMIN_TOKEN_ENV) {
                    let token = token
                        .into_string()
                        .map_err(|_| ObserveError::InvalidAdminToken)?;
                    metrics = metrics.dead_letter_actions(AdminToken::new(token)?);
                }
                Some(metrics.install()?)
            }
            None => None,
        };
        Ok(ObserveGuard {
            _otel: otel,
            _logs: logs,
            metrics,
            json: self.json_logs,
        })
    }
}

/// What [`ObserveArgs::install`] set up; hold it until the example ends.
#[derive(Debug)]
#[must_use = "dropping the guard stops the metrics endpoint"]
pub struct ObserveGuard {
    // Declared first, so dropped first: the last spans are exported while logs still work.
    _otel: OtelGuard,
    _logs: LogGuard,
    metrics: Option<MetricsServer>,
    json: bool,
}

impl ObserveGuard {
    /// Whether log lines are JSON (then stderr carries nothing else).
    #[must_use]
    pub fn json_logs(&self) -> bool {
        self.json
    }

    /// The live view's URL, when `--metrics-addr` was given.
    #[must_use]
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics.as_ref().map(MetricsServer::url)
    }

    /// Gives the live page (when `--metrics-addr` was given) the backend's dead letters:
    /// read-only, or with replay and purge when [`ADMIN_TOKEN_ENV`] is set.
    pub fn attach_dead_letters(&self, backend: &necro_core::BoxBackend) {
        if let Some(server) = &self.metrics {
            server.attach_dead_letters(backend.clone());
        }
    }

    /// Prints the run's one-line summary on stderr: a JSON log line under `--json-logs`, plain
    /// text otherwise.
    pub fn summary(&self, stats: &necro_spine::Stats) {
        let line = format!(
            "processed {} events, emitted {}, handler errors {}",
            stats.processed,
            stats.emitted,
            stats.total_handler_errors()
        );
        self.say(&line);
    }

    /// One line for the user on stderr: a JSON log line under `--json-logs`, plain text
    /// otherwise.
    pub fn say(&self, line: &str) {
        if self.json {
            tracing::info!(target: "example", "{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// With `--metrics-addr`: says where the endpoint is, then keeps serving until the process
    /// is asked to stop ([`necro_spine::shutdown_signal`]: SIGINT, i.e. Ctrl-C, or SIGTERM).
    /// Without it: returns at once.
    pub async fn serve_until_shutdown(&self) {
        let Some(server) = &self.metrics else {
            return;
        };
        // Armed before saying so: a signal sent as soon as the line is read is not missed.
        let mut stop = std::pin::pin!(necro_spine::shutdown_signal());
        tokio::select! {
            biased;
            () = &mut stop => return,
            () = std::future::ready(()) => {}
        }
        let url = server.url();
        if self.json {
            tracing::info!(
                target: "example",
                metrics_url = %format!("{url}metrics"),
                live_view_url = %url,
                "serving metrics until Ctrl-C or SIGTERM"
            );
        } else {
            eprintln!("serving {url}metrics and the live view at {url} until Ctrl-C or SIGTERM");
        }
        stop.await;
    }
}

/// Test helpers for `--json-logs` and `--metrics-addr`.
pub(crate) mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a panic fails the test.

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use serde_json::Value;

    /// Parses every non-empty line of `output` as one JSON object.
    ///
    /// # Panics
    /// On a line that is not a JSON object.
    #[must_use]
    pub fn json_lines(output: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(output)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert!(v.is_object(), "not a JSON object: {l}");
                v
            })
            .collect()
    }

    /// An example started with `--json-logs --metrics-addr 127.0.0.1:0`, serving after its run.
    #[derive(Debug)]
    pub struct ServingExample {
        child: Child,
        /// Where it serves `/metrics` and the live view.
        pub addr: SocketAddr,
        /// The JSON log lines it wrote up to the line waited for, inclusive.
        pub lines: Vec<Value>,
        /// Its later stderr lines.
        rest: mpsc::Receiver<String>,
    }

    impl ServingExample {
        /// Starts `bin` with `args` plus `--json-logs --metrics-addr 127.0.0.1:0` and waits (up
        /// to 60 s) until it logs where it serves.
        ///
        /// # Panics
        /// When the binary does not start, exits, or never says where it serves.
        #[must_use]
        pub fn start(bin: &str, args: &[&str]) -> Self {
            Self::start_until(bin, args, |line| line["live_view_url"].is_string())
        }

        /// Starts `bin` like [`start`](Self::start), but returns as soon as it logs a line
        /// for which `until` is true (e.g. mid-run, to signal it before it serves).
        ///
        /// # Panics
        /// When the binary does not start, exits, or never logs such a line within 60 s.
        #[must_use]
        pub fn start_until(bin: &str, args: &[&str], until: impl Fn(&Value) -> bool) -> Self {
            let mut child = Command::new(bin)
                .args(args)
                .args(["--json-logs", "--metrics-addr", "127.0.0.1:0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{bin} did not start: {e}"));
            let stderr = child.stderr.take().expect("piped stderr");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            // Owned by `this` from here on, so a panic below still kills and reaps it.
            let mut this = Self {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                lines: Vec::new(),
                rest: rx,
            };
            loop {
                let line = this
                    .rest
                    .recv_timeout(Duration::from_secs(60))
                    .unwrap_or_else(|_| {
                        panic!("{bin} never logged the line waited for: {:?}", this.lines)
                    });
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if let Some(url) = v["live_view_url"].as_str() {
                    this.addr = url
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .parse()
                        .unwrap_or_else(|e| panic!("bad url {url}: {e}"));
                }
                let done = until(&v);
                this.lines.push(v);
                if done {
                    return this;
                }
            }
        }

        /// The throwaway Redis stream key the run logged (`--backend redis` without
        /// `--stream`), if it logged one.
        #[must_use]
        pub fn stream_key(&self) -> Option<String> {
            self.lines
                .iter()
                .find_map(|l| l["stream"].as_str().map(str::to_owned))
        }

        /// `GET path` over a real TCP connection: (status code, body).
        ///
        /// # Panics
        /// When the request fails.
        #[must_use]
        pub fn get(&self, path: &str) -> (u16, String) {
            let mut stream = TcpStream::connect(self.addr).expect("connect");
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            )
            .expect("send request");
            let mut text = String::new();
            stream.read_to_string(&mut text).expect("read response");
            let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("status code");
            (status, body.to_owned())
        }

        /// Sends SIGINT (Ctrl-C) and waits (up to 20 s) for the example to exit: its exit
        /// status and every JSON line it logged.
        ///
        /// # Panics
        /// When the signal cannot be sent or the example does not exit in time.
        #[must_use]
        pub fn interrupt(self) -> (ExitStatus, Vec<Value>) {
            self.signal("INT")
        }

        /// Sends SIGTERM (what service managers and container orchestrators send) and waits
        /// (up to 20 s) for the example to exit: its exit status and every JSON line it logged.
        ///
        /// # Panics
        /// When the signal cannot be sent or the example does not exit in time.
        #[must_use]
        pub fn terminate(self) -> (ExitStatus, Vec<Value>) {
            self.signal("TERM")
        }

        fn signal(mut self, name: &str) -> (ExitStatus, Vec<Value>) {
            let ok = Command::new("kill")
                .args([&format!("-{name}"), &self.child.id().to_string()])
                .status()
                .expect("kill");
            assert!(ok.success(), "kill -{name} failed");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = self.child.try_wait().expect("wait") {
                    // What it logged after the line waited for, for the caller's checks.
                    while let Ok(line) = self.rest.recv_timeout(Duration::from_secs(5)) {
                        if let Ok(v) = serde_json::from_str(&line) {
                            self.lines.push(v);
                        }
                    }
                    return (status, std::mem::take(&mut self.lines));
                }
                assert!(
                    Instant::now() < deadline,
                    "still running 20 s after SIG{name}: {:?}",
                    self.lines
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    impl Drop for ServingExample {
        fn drop(&mut self) {
            // Never leave a serving example behind when a test fails; the exit status does
            // not matter here.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ObserveArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        observe: ObserveArgs,
    }

    #[test]
    fn metrics_addr_accepts_a_host_name() {
        let cli = Cli::try_parse_from(["demo", "--metrics-addr", "localhost:9464"])
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = cli.observe.metrics_addr.unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 9464);
    }

    #[test]
    fn metrics_addr_refuses_what_does_not_resolve() {
        for bad in ["localhost", "no-such-host.invalid:9464", "127.0.0.1:99999"] {
            let err = Cli::try_parse_from(["demo", "--metrics-addr", bad])
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"))
                .to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
