//! [`MetricsHandle`], what reads a recorder of `Metrics::build`: the Prometheus text and the
//! live view's snapshot; and the throughput samples the server keeps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::PrometheusHandle;

use crate::snapshot::{Snapshot, SnapshotHandle};

/// Reads what a [`MetricsRecorder`](crate::MetricsRecorder) recorded: the Prometheus text, and the values the live
/// view shows.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    pub(crate) prometheus: PrometheusHandle,
    pub(crate) snapshot: SnapshotHandle,
}

impl MetricsHandle {
    /// The Prometheus recorder's handle.
    #[must_use]
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.prometheus
    }

    /// The Prometheus text `/metrics` serves.
    #[must_use]
    pub fn render(&self) -> String {
        self.prometheus.render()
    }

    /// What the live view shows now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.snapshot.snapshot()
    }

    /// Upkeep for both recorders: moves recorded histogram samples into their histograms and
    /// summaries.
    pub(crate) fn upkeep(&self) {
        self.prometheus.run_upkeep();
        self.snapshot.upkeep();
    }
}

/// Per-second totals of processed events, for the live view's throughput.
pub(crate) type Samples = Arc<Mutex<VecDeque<f64>>>;
