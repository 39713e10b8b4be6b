//! Log subscribers: JSON lines with the spine's span fields flattened at top level
//! ([`JsonLogs`]), or plain human-readable lines ([`PlainLogs`]).

use std::fmt;
use std::io;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::ObserveError;

/// The field name that is dropped from every line unless payload logging is switched on.
pub const PAYLOAD_FIELD: &str = "payload";

/// The filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info";

enum Sink {
    Stderr,
    Stdout,
    Make(BoxMakeWriter),
    NonBlocking(Box<dyn io::Write + Send + 'static>),
}

/// What both log builders share: the filter, where lines go, whether payloads are kept.
struct Settings {
    default_filter: String,
    filter: Option<String>,
    sink: Sink,
    payloads: bool,
}

impl Settings {
    fn new(default_filter: &str) -> Self {
        Self {
            default_filter: default_filter.to_owned(),
            filter: None,
            sink: Sink::Stderr,
            payloads: false,
        }
    }

    fn env_filter(&self) -> Result<EnvFilter, ObserveError> {
        let text = match &self.filter {
            Some(f) => f.clone(),
            None => std::env::var(EnvFilter::DEFAULT_ENV)
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| self.default_filter.clone()),
        };
        EnvFilter::builder()
            .parse(&text)
            .map_err(|source| ObserveError::InvalidFilter {
                filter: text,
                source,
            })
    }

    /// The writer lines go to, and the guard of its background thread if it has one.
    fn writer(sink: Sink) -> (BoxMakeWriter, LogGuard) {
        let (writer, guard) = match sink {
            Sink::Stderr => (BoxMakeWriter::new(io::stderr), None),
            Sink::Stdout => (BoxMakeWriter::new(io::stdout), None),
            Sink::Make(w) => (w, None),
            Sink::NonBlocking(w) => {
                let (nb, guard) = tracing_appender::non_blocking(w);
                (BoxMakeWriter::new(nb), Some(guard))
            }
        };
        (writer, LogGuard { _worker: guard })
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("default_filter", &self.default_filter)
            .field("filter", &self.filter)
            .field("payloads", &self.payloads)
            .finish_non_exhaustive()
    }
}

/// Builder for the JSON log subscriber: one JSON object per line.
///
/// The level comes from `RUST_LOG` when it is set, from [`JsonLogs::default_filter`]
/// (`info` unless changed) otherwise.
#[must_use]
pub struct JsonLogs {
    settings: Settings,
}

impl fmt::Debug for JsonLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.debug("JsonLogs", f)
    }
}

impl Default for JsonLogs {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps a non-blocking writer's background thread alive; dropping it flushes the lines
/// still queued. Hold it until the application exits.
#[derive(Debug, Default)]
#[must_use = "dropping the guard stops (and flushes) the non-blocking log writer"]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

/// The builder methods both log builders share.
macro_rules! settings_methods {
    () => {
        /// The filter (`EnvFilter` syntax, e.g. `info,necro_spine=debug`) used when
        /// `RUST_LOG` is not set.
        pub fn default_filter(mut self, filter: impl Into<String>) -> Self {
            self.settings.default_filter = filter.into();
            self
        }

        /// A filter that wins over `RUST_LOG`.
        pub fn filter(mut self, filter: impl Into<String>) -> Self {
            self.settings.filter = Some(filter.into());
            self
        }

        /// Lines go to stdout instead of stderr.
        pub fn stdout(mut self) -> Self {
            self.settings.sink = Sink::Stdout;
            self
        }

        /// Lines go to `writer` (anything `tracing-subscriber` can write to), on the calling
        /// thread.
        pub fn writer<W>(mut self, writer: W) -> Self
        where
            W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
        {
            self.settings.sink = Sink::Make(BoxMakeWriter::new(writer));
            self
        }

        /// Lines go to `writer` through a background thread, so logging never blocks a
        /// handler. Hold the returned [`LogGuard`] until exit: dropping it flushes what is
        /// queued.
        pub fn non_blocking_writer(mut self, writer: impl io::Write + Send + 'static) -> Self {
            self.settings.sink = Sink::NonBlocking(Box::new(writer));
            self
        }

        /// Opt in to logging payloads: fields named `payload` (which NecroStack itself never
        /// records, but an application's organ may) are kept instead of dropped. Payloads may
        /// hold personal data; switch this on only where that is allowed.
        pub fn log_payloads(mut self, yes: bool) -> Self {
            self.settings.payloads = yes;
            self
        }

        /// Installs this log subscriber as the process's global default.
        ///
        /// # Errors
        /// [`ObserveError::InvalidFilter`], or [`ObserveError::SubscriberAlreadyInstalled`]
        /// when another global subscriber exists.
        pub fn install(self) -> Result<LogGuard, ObserveError> {
            let (layer, guard) = self.layer()?;
            tracing_subscriber::registry()
                .with(layer)
                .try_init()
                .map_err(ObserveError::SubscriberAlreadyInstalled)?;
            Ok(guard)
        }
    };
}

impl JsonLogs {
    /// JSON lines on stderr, level from `RUST_LOG` or `info`, payloads never logged.
    pub fn new() -> Self {
        Self {
            settings: Settings::new(DEFAULT_FILTER),
        }
    }

    settings_methods!();

    /// The filtered JSON layer, to compose with other layers on a registry, and its guard.
    ///
    /// # Errors
    /// [`ObserveError::InvalidFilter`] when the filter does not parse.
    pub fn layer<S>(
        self,
    ) -> Result<(Box<dyn Layer<S> + Send + Sync + 'static>, LogGuard), ObserveError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let filter = self.settings.env_filter()?;
        let format = FlatJson {
            payloads: self.settings.payloads,
        };
        let (writer, guard) = Settings::writer(self.settings.sink);
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(format)
            .with_writer(writer);
        Ok((Box::new(layer.with_filter(filter)), guard))
    }
}

/// Builder for the plain log subscriber: one human-readable line per event, as
/// `tracing-subscriber`'s `fmt` writes them (time, level, the enclosing spans with their
/// fields, target, message, fields), without colours.
///
/// ```text
/// 2026-12-02T14:50:01.123456Z ERROR necro.event{event_id=… event_type=SUMMON_RITUAL …}:necro.organ{organ=Medium}: necro_spine: organ failed; dead-lettered error=…
/// ```
///
/// The level comes from `RUST_LOG` when it is set, from [`PlainLogs::default_filter`]
/// (`info` unless changed) otherwise; it selects the events written, while the enclosing
/// spans are always shown, so a `warn` line still names its event and organ. Fields named `payload` are dropped unless
/// [`PlainLogs::log_payloads`] is on, as in [`JsonLogs`].
#[must_use]
pub struct PlainLogs {
    settings: Settings,
}

impl fmt::Debug for PlainLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.debug("PlainLogs", f)
    }
}

impl Default for PlainLogs {
    fn default() -> Self {
        Self::new()
    }
}

impl PlainLogs {
    /// Plain lines on stderr, level from `RUST_LOG` or `info`, payloads never logged.
    pub fn new() -> Self {
        Self {
            settings: Settings::new(DEFAULT_FILTER),
        }
    }

    settings_methods!();

    /// The filtered plain layer, to compose with other layers on a registry, and its guard.
    ///
    /// # Errors
    /// [`ObserveError::InvalidFilter`] when the filter does not parse.
    pub fn layer<S>(
        self,
    ) -> Result<(Box<dyn Layer<S> + Send + Sync + 'static>, LogGuard), ObserveError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let filter = self.settings.env_filter()?;
        let fields = PlainFields {
            payloads: self.settings.payloads,
        };
        let (writer, guard) = Settings::writer(self.settings.sink);
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(fields)
            .with_writer(writer);
        // Spans pass whatever the level, so a WARN line still names its event and organ
        // (the spine's spans are INFO); the filter decides which events are written.
        let filter = filter.or(filter_fn(|meta| meta.is_span()));
        Ok((Box::new(layer.with_filter(filter)), guard))
    }
}

/// Formats fields as `name=value` separated by spaces (the message bare, strings unquoted,
/// errors with their causes), dropping `payload` unless payloads are logged.
struct PlainFields {
    payloads: bool,
}

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            payloads: self.payloads,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: Writer<'w>,
    payloads: bool,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        // `log.*` fields are where `tracing-log` keeps a `log` record's origin; the line's
        // target already says where it comes from.
        if self.result.is_err()
            || (!self.payloads && field.name() == PAYLOAD_FIELD)
            || field.name().starts_with("log.")
        {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{sep}{value}")
        } else {
            write!(self.writer, "{sep}{}={value}", field.name())
        };
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, format_args!("{value}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = error_chain(value);
        self.write(field, format_args!("{text}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Installs JSON logs on stderr with the defaults (`RUST_LOG` or `info`, no payloads).
///
/// # Errors
/// As [`JsonLogs::install`].
pub fn init_json_logs() -> Result<LogGuard, ObserveError> {
    JsonLogs::new().install()
}

/// Formats one event as a flat JSON object: timestamp, level, target, message, then every
/// field of every enclosing span (outermost first), then the event's own fields.
struct FlatJson {
    payloads: bool,
}

/// An insertion-ordered object where a later key replaces an earlier one in place.
#[derive(Default)]
struct Line(Vec<(String, Value)>);

impl Line {
    fn insert(&mut self, key: &str, value: Value) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.0.push((key.to_owned(), value));
        }
    }
}

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Line::default();
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .map_err(|_| fmt::Error)?;
        line.insert("timestamp", Value::String(now));
        line.insert("level", Value::String(meta.level().as_str().to_owned()));
        line.insert("target", Value::String(meta.target().to_owned()));
        line.insert("message", Value::String(String::new()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&fields.fields) {
                    for (k, v) in map {
                        line.insert(&k, v);
                    }
                }
            }
        }
        let mut visitor = Visitor { line: &mut line };
        event.record(&mut visitor);
        if !self.payloads {
            line.0.retain(|(k, _)| k != PAYLOAD_FIELD);
        }
        let mut out = String::with_capacity(256);
        out.push('{');
        for (i, (k, v)) in line.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
        writeln!(writer, "{out}")
    }
}

struct Visitor<'a> {
    line: &'a mut Line,
}

impl Visit for Visitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.line.insert(field.name(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.line.insert(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.line.insert(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.line.insert(field.name(), Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.line
            .insert(field.name(), Value::String(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.line
            .insert(field.name(), Value::String(error_chain(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        // `emitted = ?vec` arrives as Debug text; keep it a JSON list when it reads as one.
        if field.name() != "message"
            && text.starts_with('[')
            && let Ok(list @ Value::Array(_)) = serde_json::from_str::<Value>(&text)
        {
            self.line.insert(field.name(), list);
            return;
        }
        self.line.insert(field.name(), Value::String(text));
    }
}
