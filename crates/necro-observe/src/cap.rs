//! [`CapLabelsLayer`]: a `metrics-util` layer that bounds the values one label may take.
//!
//! Organ names, streams and failure kinds are fixed by the application's code, but event
//! types arrive from the wire: on Redis, a producer that invents event types would create a
//! new series per type. Installed for the `event_type` label, past `max` distinct values
//! further event types are recorded as [`OVERFLOW`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::layers::Layer;

/// The label value used once the cap is reached.
pub(crate) const OVERFLOW: &str = "_other";

/// Caps the distinct values of one label at `max`; wraps a recorder in [`CapLabels`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapLabelsLayer {
    label: &'static str,
    max: usize,
}

impl CapLabelsLayer {
    /// At most `max` distinct values of `label`; later values are recorded as [`OVERFLOW`].
    pub(crate) fn new(label: &'static str, max: usize) -> Self {
        Self { label, max }
    }
}

impl<R> Layer<R> for CapLabelsLayer {
    type Output = CapLabels<R>;

    fn layer(&self, inner: R) -> CapLabels<R> {
        CapLabels {
            inner,
            label: self.label,
            max: self.max,
            seen: RwLock::new(HashSet::new()),
        }
    }
}

/// The recorder [`CapLabelsLayer`] makes: `inner` sees the first `max` values of `label`
/// as they are and every later one as [`OVERFLOW`].
#[derive(Debug)]
pub(crate) struct CapLabels<R> {
    inner: R,
    label: &'static str,
    max: usize,
    seen: RwLock<HashSet<String>>,
}

impl<R> CapLabels<R> {
    fn key<'k>(&self, key: &'k Key) -> Cow<'k, Key> {
        let Some(value) = key
            .labels()
            .find(|l| l.key() == self.label)
            .map(Label::value)
        else {
            return Cow::Borrowed(key);
        };
        if self
            .seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(value)
        {
            return Cow::Borrowed(key);
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return Cow::Borrowed(key);
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return Cow::Borrowed(key);
        }
        let labels: Vec<Label> = key
            .labels()
            .map(|l| {
                if l.key() == self.label {
                    Label::new(self.label, OVERFLOW)
                } else {
                    l.clone()
                }
            })
            .collect();
        Cow::Owned(Key::from_parts(key.name_shared(), labels))
    }
}

impl<R: Recorder> Recorder for CapLabels<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(&self.key(key), metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(&self.key(key), metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(&self.key(key), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use metrics_util::layers::Stack;

    #[test]
    fn event_types_past_the_cap_are_folded_into_overflow() {
        let prom = PrometheusBuilder::new().build_recorder();
        let handle = prom.handle();
        let capped = Stack::new(prom).push(CapLabelsLayer::new("event_type", 2));
        metrics::with_local_recorder(&capped, || {
            for t in ["A", "B", "C", "D", "A"] {
                metrics::counter!("necro_events_processed_total", "event_type" => t).increment(1);
            }
            metrics::counter!("necro_handler_retries_total", "organ" => "x").increment(1);
        });
        let text = handle.render();
        assert!(
            text.contains("necro_events_processed_total{event_type=\"A\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("necro_events_processed_total{event_type=\"B\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("necro_events_processed_total{event_type=\"_other\"} 2"),
            "{text}"
        );
        assert!(!text.contains("event_type=\"C\""), "{text}");
        assert!(
            text.contains("necro_handler_retries_total{organ=\"x\"} 1"),
            "{text}"
        );
    }
}
