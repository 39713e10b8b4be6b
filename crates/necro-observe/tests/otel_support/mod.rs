//! Spans as plain values, from the in-memory exporter or from OTLP requests, and a textual
//! waterfall of them.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One finished span, as the tests look at it.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root.
    pub parent_id: String,
    pub name: String,
    pub kind: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `trace_id/span_id` of each link.
    pub links: Vec<String>,
    pub attrs: BTreeMap<String, String>,
    pub service: String,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }

    pub fn context(&self) -> String {
        format!("{}/{}", self.trace_id, self.span_id)
    }
}

/// From the SDK's in-memory exporter.
pub fn from_sdk(spans: &[opentelemetry_sdk::trace::SpanData]) -> Vec<Span> {
    use opentelemetry::trace::SpanId;
    let ns = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    };
    spans
        .iter()
        .map(|s| Span {
            trace_id: s.span_context.trace_id().to_string(),
            span_id: s.span_context.span_id().to_string(),
            parent_id: if s.parent_span_id == SpanId::INVALID {
                String::new()
            } else {
                s.parent_span_id.to_string()
            },
            name: s.name.to_string(),
            kind: format!("{:?}", s.span_kind).to_lowercase(),
            start_ns: ns(s.start_time),
            end_ns: ns(s.end_time),
            links: s
                .links
                .iter()
                .map(|l| format!("{}/{}", l.span_context.trace_id(), l.span_context.span_id()))
                .collect(),
            attrs: s
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect(),
            service: String::new(),
        })
        .collect()
}

/// The spans of `trace_id`, as an indented waterfall: each span under its parent, with its
/// offset from the trace's start and its duration; links after `~>`.
pub fn waterfall(spans: &[Span], trace_id: &str) -> String {
    let mut in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    in_trace.sort_by_key(|s| s.start_ns);
    let t0 = in_trace.first().map_or(0, |s| s.start_ns);
    let mut out = String::new();
    let roots: Vec<&Span> = in_trace
        .iter()
        .copied()
        .filter(|s| !in_trace.iter().any(|p| p.span_id == s.parent_id))
        .collect();
    for root in roots {
        render(&in_trace, root, 0, t0, &mut out);
    }
    out
}

fn render(spans: &[&Span], span: &Span, depth: usize, t0: u64, out: &mut String) {
    let offset = (span.start_ns.saturating_sub(t0)) as f64 / 1e6;
    let dur = (span.end_ns.saturating_sub(span.start_ns)) as f64 / 1e6;
    let label = format!("{}{} [{}]", "  ".repeat(depth), span.name, span.kind);
    let service = if span.service.is_empty() {
        String::new()
    } else {
        format!(" {}", span.service)
    };
    let _ = write!(out, "{label:<44} +{offset:>8.3} ms {dur:>8.3} ms{service}");
    for link in &span.links {
        let _ = write!(out, " ~> {}", &link[link.len() - 16..]);
    }
    out.push('\n');
    for child in spans.iter().filter(|c| c.parent_id == span.span_id) {
        render(spans, child, depth + 1, t0, out);
    }
}

pub mod receiver;
