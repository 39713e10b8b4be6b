//! The shape of a telemetry contract: what a crate declares about each metric it records.
//!
//! Every crate that records metrics (the spine, each backend) exports its metrics as
//! [`MetricDef`] constants and one list of them, so each name is written once, in code: the
//! recording sites, the HELP texts an exporter shows and the documented contract
//! (`docs/metrics-contract.md`, checked against these lists by a test) all read it from there.
//!
//! ```
//! use necro_core::telemetry::{MetricDef, MetricKind};
//!
//! const PROCESSED: MetricDef = MetricDef::counter(
//!     "necro_events_processed_total",
//!     &["event_type"],
//!     "Events the spine handled, by event type.",
//! );
//! assert_eq!(PROCESSED.kind, MetricKind::Counter);
//! assert_eq!(PROCESSED.name, "necro_events_processed_total");
//! ```

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic count (`metrics::counter!`).
    Counter,
    /// A value that goes up and down (`metrics::gauge!`).
    Gauge,
    /// A distribution of observations (`metrics::histogram!`), e.g. durations in seconds.
    Histogram,
}

impl MetricKind {
    /// The kind's name as the contract writes it: `counter`, `gauge` or `histogram`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric a crate records: its name, kind, label names and HELP text.
///
/// Built with [`MetricDef::counter`], [`MetricDef::gauge`] or [`MetricDef::histogram`] in a
/// `const`, and used by name at the recording site (`metrics::counter!(DEF.name, ...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MetricDef {
    /// The metric's name, e.g. `necro_events_processed_total`.
    pub name: &'static str,
    /// Its kind.
    pub kind: MetricKind,
    /// The names of the labels it is recorded with, in the order the contract lists them.
    pub labels: &'static [&'static str],
    /// The HELP text an exporter shows.
    pub help: &'static str,
}

impl MetricDef {
    /// A counter.
    #[must_use]
    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Counter,
            labels,
            help,
        }
    }

    /// A gauge.
    #[must_use]
    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Gauge,
            labels,
            help,
        }
    }

    /// A histogram.
    #[must_use]
    pub const fn histogram(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Self {
        Self {
            name,
            kind: MetricKind::Histogram,
            labels,
            help,
        }
    }
}
