//! HELP texts (`describe_*`) for every metric NecroStack's crates record, read from the one
//! contract in `necro_core::telemetry`.
//!
//! necro-observe records no metric of its own; the spine and the backends record theirs
//! through the `metrics` facade under the names that contract declares, and this describes
//! each of them to the recorder necro-observe installs, so `/metrics` carries `# HELP` lines.

use metrics::Unit;
use necro_core::telemetry::{self, MetricDef, MetricKind, MetricUnit};

/// Describes every metric of the contract to the installed recorder.
pub(crate) fn describe_all() {
    for def in telemetry::all() {
        describe(def);
    }
}

fn describe(def: &MetricDef) {
    let unit = match def.unit {
        MetricUnit::Count => Some(Unit::Count),
        MetricUnit::Seconds => Some(Unit::Seconds),
        _ => None,
    };
    let name = def.name;
    let help = def.help;
    match (def.kind, unit) {
        (MetricKind::Counter, Some(u)) => metrics::describe_counter!(name, u, help),
        (MetricKind::Counter, None) => metrics::describe_counter!(name, help),
        (MetricKind::Gauge, Some(u)) => metrics::describe_gauge!(name, u, help),
        (MetricKind::Gauge, None) => metrics::describe_gauge!(name, help),
        (MetricKind::Histogram, Some(u)) => metrics::describe_histogram!(name, u, help),
        (MetricKind::Histogram, None) => metrics::describe_histogram!(name, help),
        // A kind added to the contract later: described once this crate knows how.
        _ => {}
    }
}
