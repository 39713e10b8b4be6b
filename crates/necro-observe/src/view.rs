//! The live view: one [`Snapshot`] of the recorded values, rendered as one HTML page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use necro_core::telemetry::{memory, redis, spine};

use crate::html::{esc, num};
use crate::snapshot::{Snapshot, label};
use crate::spark::sparkline;

// The metrics the page reads, by their names in the contract (`necro_core::telemetry`).
/// The counter the throughput is computed from.
pub(crate) const PROCESSED: &str = spine::EVENTS_PROCESSED.name;
const EMITTED: &str = spine::EVENTS_EMITTED.name;
const HANDLER_ERRORS: &str = spine::HANDLER_ERRORS.name;
const HANDLER_RETRIES: &str = spine::HANDLER_RETRIES.name;
const CIRCUIT_STATE: &str = spine::CIRCUIT_STATE.name;
const HANDLER_DURATION: &str = spine::HANDLER_DURATION.name;
const DEAD_LETTERS: &str = spine::DEAD_LETTERS.name;
const IN_FLIGHT: &str = spine::EVENTS_IN_FLIGHT.name;
const QUEUE_DEPTH: &str = memory::QUEUE_DEPTH.name;
const BACKEND_CIRCUIT_STATE: &str = spine::BACKEND_CIRCUIT_STATE.name;
const UNROUTED: &str = spine::EVENTS_UNROUTED.name;
const ENQUEUE_FAILURES: &str = spine::ENQUEUE_FAILURES.name;
const MEMORY_DEAD_LETTERS: &str = memory::DEAD_LETTERS_HELD.name;
const BACKEND_ERRORS: &str = spine::BACKEND_ERRORS.name;
const REDIS_ENQUEUED: &str = redis::ENQUEUED.name;
const REDIS_PULLED: &str = redis::PULLED.name;
const REDIS_ACKED: &str = redis::ACKED.name;
const REDIS_DEAD_LETTERED: &str = redis::DEAD_LETTERED.name;
const REDIS_RECOVERED: &str = redis::RECOVERED.name;
const REDIS_RECONNECTIONS: &str = redis::RECONNECTIONS.name;
const REDIS_PENDING: &str = redis::PENDING.name;
const REDIS_STREAM_LENGTH: &str = redis::STREAM_LENGTH.name;

/// Per-organ row of the live view.
#[derive(Debug, Default)]
struct OrganRow {
    calls: f64,
    sum_seconds: f64,
    /// `None` when no call fell in the page's rolling window (by default the last 40 to 60 s).
    p50: Option<f64>,
    p99: Option<f64>,
    errors: BTreeMap<String, f64>,
    retries: f64,
    circuit: Option<f64>,
}

/// What the page shows, computed from one snapshot and the throughput samples.
#[derive(Debug)]
pub(crate) struct View {
    snapshot: Snapshot,
    rate: f64,
    history: Vec<f64>,
}

impl View {
    pub(crate) fn new(snapshot: Snapshot, totals: &[f64]) -> Self {
        // events/s per second from consecutive totals (the sampler ticks every second).
        let history: Vec<f64> = totals.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
        let recent = &history[history.len().saturating_sub(10)..];
        let rate = if recent.is_empty() {
            0.0
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        Self {
            snapshot,
            rate,
            history,
        }
    }

    fn organs(&self) -> BTreeMap<String, OrganRow> {
        let s = &self.snapshot;
        let mut rows: BTreeMap<String, OrganRow> = BTreeMap::new();
        for (key, v) in &s.counters {
            let Some(r) = organ_row(&mut rows, key) else {
                continue;
            };
            match key.name() {
                HANDLER_ERRORS => {
                    *r.errors
                        .entry(label(key, "kind").unwrap_or("error").to_owned())
                        .or_insert(0.0) += v;
                }
                HANDLER_RETRIES => r.retries += v,
                _ => {}
            }
        }
        for (key, v) in &s.gauges {
            let Some(r) = organ_row(&mut rows, key) else {
                continue;
            };
            if key.name() == CIRCUIT_STATE {
                r.circuit = Some(*v);
            }
        }
        for (key, h) in &s.histograms {
            let Some(r) = organ_row(&mut rows, key) else {
                continue;
            };
            if key.name() == HANDLER_DURATION {
                r.calls += h.count;
                r.sum_seconds += h.sum;
                r.p50 = h.p50;
                r.p99 = h.p99;
            }
        }
        rows
    }
}

/// The row of the organ `key` is labelled with, if it is.
fn organ_row<'r>(
    rows: &'r mut BTreeMap<String, OrganRow>,
    key: &metrics::Key,
) -> Option<&'r mut OrganRow> {
    label(key, "organ").map(|organ| rows.entry(organ.to_owned()).or_default())
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |s| format!("{:.3}", s * 1000.0))
}

/// A circuit gauge is only set when a breaker changes state: no gauge means closed, or no
/// breaker at all.
fn circuit(state: Option<f64>) -> (&'static str, &'static str) {
    match state {
        None => ("closed", "muted"),
        Some(s) if s < 0.5 => ("closed", "ok"),
        Some(s) if s < 1.5 => ("open", "bad"),
        Some(_) => ("half-open", "warn"),
    }
}

/// The refreshing part of the page.
pub(crate) fn fragment(view: &View) -> String {
    let s = &view.snapshot;
    let mut o = String::with_capacity(4096);
    let processed = s.sum(PROCESSED);
    let emitted = s.sum(EMITTED);
    let handler_errors = s.sum(HANDLER_ERRORS);
    let dead = s.sum(DEAD_LETTERS);
    let in_flight = s.sum(IN_FLIGHT);
    let depth = s.sum(QUEUE_DEPTH);
    let (backend_state, backend_class) = circuit(s.first(BACKEND_CIRCUIT_STATE));
    let _ = write!(
        o,
        r#"<section class="cards">
<div class="card"><h2>Throughput</h2><p class="big" id="throughput">{rate:.1}</p><p>events/s (last 10 s)</p></div>
<div class="card"><h2>Processed</h2><p class="big" id="processed">{processed}</p><p>events</p></div>
<div class="card"><h2>Emitted</h2><p class="big" id="emitted">{emitted}</p><p>events</p></div>
<div class="card"><h2>Handler errors</h2><p class="big {err_class}" id="handler-errors">{handler_errors}</p><p>after retries</p></div>
<div class="card"><h2>Dead letters</h2><p class="big {dead_class}" id="dead-letters">{dead}</p><p>stored</p></div>
<div class="card"><h2>In flight / queued</h2><p class="big">{in_flight} / {depth}</p><p>backend circuit: <span class="{backend_class}">{backend_state}</span></p></div>
</section>
<section><h2>Throughput, {secs}</h2>{spark}</section>
"#,
        rate = view.rate,
        processed = num(processed),
        emitted = num(emitted),
        handler_errors = num(handler_errors),
        err_class = if handler_errors > 0.0 { "bad" } else { "" },
        dead = num(dead),
        dead_class = if dead > 0.0 { "warn" } else { "" },
        in_flight = num(in_flight),
        depth = num(depth),
        secs = if view.history.is_empty() {
            "collecting samples…".to_owned()
        } else {
            format!("last {} s", view.history.len())
        },
        spark = sparkline(&view.history),
    );
    o.push_str(r#"<section><h2>Organs</h2><div class="scroll"><table id="organs"><thead><tr><th>organ</th><th>calls</th><th>mean ms</th><th>p50 ms</th><th>p99 ms</th><th>errors</th><th>retries</th><th>circuit</th></tr></thead><tbody>"#);
    let organs = view.organs();
    if organs.is_empty() {
        o.push_str(r#"<tr><td colspan="8" class="muted">no organ has run yet</td></tr>"#);
    }
    for (name, r) in &organs {
        let total_errors: f64 = r.errors.values().sum();
        let kinds = r
            .errors
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| format!("{} {}", esc(k), num(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        let mean = (r.calls > 0.0).then(|| r.sum_seconds / r.calls);
        let (state, class) = circuit(r.circuit);
        let _ = write!(
            o,
            r#"<tr data-organ="{n}"><td class="name">{n}</td><td>{calls}</td><td>{mean}</td><td>{p50}</td><td>{p99}</td><td class="{ec}">{errs}{kinds}</td><td>{retries}</td><td class="{class}">{state}</td></tr>"#,
            n = esc(name),
            calls = num(r.calls),
            mean = ms(mean),
            p50 = ms(r.p50),
            p99 = ms(r.p99),
            ec = if total_errors > 0.0 { "bad" } else { "" },
            errs = num(total_errors),
            kinds = if kinds.is_empty() {
                String::new()
            } else {
                format!(" <small>({kinds})</small>")
            },
            retries = num(r.retries),
        );
    }
    o.push_str(r#"</tbody></table></div><p class="note">calls and mean: since start · p50 and p99: the calls of the recorder's rolling window (the last 40 to 60 s by default); – when none fell in it</p></section>"#);
    o.push_str(r#"<section><h2>Event types</h2><div class="scroll"><table id="event-types"><thead><tr><th>event type</th><th>processed</th><th>emitted</th><th>unrouted</th><th>enqueue failures</th><th>dead-lettered</th></tr></thead><tbody>"#);
    let processed_by = s.by(PROCESSED, "event_type");
    let emitted_by = s.by(EMITTED, "event_type");
    let unrouted_by = s.by(UNROUTED, "event_type");
    let failures_by = s.by(ENQUEUE_FAILURES, "event_type");
    let dead_by = s.by(DEAD_LETTERS, "event_type");
    let mut types: Vec<&String> = processed_by
        .keys()
        .chain(emitted_by.keys())
        .chain(dead_by.keys())
        .chain(failures_by.keys())
        .collect();
    types.sort();
    types.dedup();
    for t in types {
        let get = |m: &BTreeMap<String, f64>| num(m.get(t).copied().unwrap_or(0.0));
        let _ = write!(
            o,
            "<tr><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if t.is_empty() {
                "(none)".to_owned()
            } else {
                esc(t)
            },
            get(&processed_by),
            get(&emitted_by),
            get(&unrouted_by),
            get(&failures_by),
            get(&dead_by),
        );
    }
    o.push_str("</tbody></table></div></section>");
    o.push_str(r#"<section class="two"><div><h2>Dead letters by reason</h2><div class="scroll"><table id="dead-letter-kinds"><tbody>"#);
    let dead_kinds = s.by(DEAD_LETTERS, "kind");
    if dead_kinds.is_empty() {
        o.push_str(r#"<tr><td class="muted">none</td></tr>"#);
    }
    for (k, v) in &dead_kinds {
        let _ = write!(
            o,
            "<tr><td class=\"name\">{}</td><td>{}</td></tr>",
            esc(k),
            num(*v)
        );
    }
    let _ = write!(
        o,
        r#"</tbody></table></div><p class="note">held by the in-memory store: {}</p></div><div><h2>Backend errors</h2><div class="scroll"><table id="backend-errors"><tbody>"#,
        num(s.sum(MEMORY_DEAD_LETTERS))
    );
    let ops = s.by(BACKEND_ERRORS, "op");
    if ops.is_empty() {
        o.push_str(r#"<tr><td class="muted">none</td></tr>"#);
    }
    for (k, v) in &ops {
        let _ = write!(
            o,
            "<tr><td class=\"name\">{}</td><td>{}</td></tr>",
            esc(k),
            num(*v)
        );
    }
    o.push_str("</tbody></table></div></div></section>");
    let streams = s.by(REDIS_PULLED, "stream");
    if !streams.is_empty() {
        o.push_str(r#"<section><h2>Redis streams</h2><div class="scroll"><table id="redis"><thead><tr><th>stream</th><th>enqueued</th><th>pulled</th><th>acked</th><th>dead-lettered</th><th>recovered</th><th>reconnections</th><th>pending</th><th>length</th></tr></thead><tbody>"#);
        let cols = [
            REDIS_ENQUEUED,
            REDIS_PULLED,
            REDIS_ACKED,
            REDIS_DEAD_LETTERED,
            REDIS_RECOVERED,
            REDIS_RECONNECTIONS,
            REDIS_PENDING,
            REDIS_STREAM_LENGTH,
        ];
        for stream in streams.keys() {
            let _ = write!(o, "<tr><td class=\"name\">{}</td>", esc(stream));
            for c in cols {
                let v = s.by(c, "stream").get(stream).copied().unwrap_or(0.0);
                let _ = write!(o, "<td>{}</td>", num(v));
            }
            o.push_str("</tr>");
        }
        o.push_str("</tbody></table></div></section>");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::{Window, recorder};

    /// A snapshot of what `record` records, through the live view's own recorder.
    fn recorded(window: Window, record: impl FnOnce()) -> crate::snapshot::SnapshotHandle {
        let (rec, handle) = recorder(window);
        metrics::with_local_recorder(&rec, record);
        handle
    }

    #[test]
    fn escapes_organ_names() {
        let s = recorded(Window::DEFAULT, || {
            metrics::counter!("necro_handler_retries_total", "organ" => "<b>").increment(1);
        })
        .snapshot();
        let html = fragment(&View::new(s, &[]));
        assert!(html.contains("&lt;b&gt;"));
        assert!(!html.contains("<b>"));
    }

    /// The `<svg class="spark">` element of a rendered fragment.
    fn spark_svg(html: &str) -> &str {
        let start = html.find("<svg class=\"spark\"").expect("a sparkline");
        let end = html[start..].find("</svg>").expect("a closed svg") + start;
        &html[start..end]
    }

    /// The value of attribute `name` on the first element `tag` in `html`.
    fn attr<'a>(html: &'a str, tag: &str, name: &str) -> &'a str {
        let start = html
            .find(&format!("<{tag} "))
            .unwrap_or_else(|| panic!("no <{tag}>"));
        let elem = &html[start..start + html[start..].find('>').expect("closed tag")];
        let key = format!(" {name}=\"");
        let at = elem
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} on {elem}"))
            + key.len();
        &elem[at..at + elem[at..].find('"').expect("closed attribute")]
    }

    /// The height above the box's floor of every point of the throughput line, as a
    /// fraction of the box's height.
    fn line_heights(html: &str) -> Vec<f64> {
        let svg = spark_svg(html);
        let view_box: Vec<f64> = attr(svg, "svg", "viewBox")
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let h = view_box[3];
        attr(svg, "polyline", "points")
            .split_whitespace()
            .map(|xy| {
                let y: f64 = xy.split_once(',').unwrap().1.parse().unwrap();
                (h - y) / h
            })
            .collect()
    }

    /// The text of every cell of the organ row `organ`, tags stripped.
    fn organ_cells(html: &str, organ: &str) -> Vec<String> {
        let start = html
            .find(&format!("<tr data-organ=\"{organ}\">"))
            .unwrap_or_else(|| panic!("no row for {organ}: {html}"));
        let row = &html[start..start + html[start..].find("</tr>").unwrap()];
        row.split("<td")
            .skip(1)
            .map(|cell| {
                let mut text = String::new();
                let mut in_tag = true; // the rest of the opening <td ...>
                for c in cell.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag => text.push(c),
                        _ => {}
                    }
                }
                text
            })
            .collect()
    }

    fn totals(rates: &[f64]) -> Vec<f64> {
        let mut total = 0.0;
        let mut out = vec![0.0];
        for r in rates {
            total += r;
            out.push(total);
        }
        out
    }

    #[test]
    fn the_sparkline_stretches_over_its_whole_box() {
        let html = fragment(&View::new(Snapshot::default(), &totals(&[5.0, 7.0, 6.0])));
        let svg = spark_svg(&html);
        assert_eq!(attr(svg, "svg", "preserveAspectRatio"), "none", "{svg}");
        // Stretched, the line keeps its width.
        assert_eq!(
            attr(svg, "polyline", "vector-effect"),
            "non-scaling-stroke",
            "{svg}"
        );
        let xs: Vec<f64> = attr(svg, "polyline", "points")
            .split_whitespace()
            .map(|xy| xy.split_once(',').unwrap().0.parse().unwrap())
            .collect();
        let width: f64 = attr(svg, "svg", "viewBox")
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            xs[0].abs() < 1e-9 && (xs[xs.len() - 1] - width).abs() < 1e-9,
            "{xs:?}"
        );
    }

    #[test]
    fn the_sparkline_has_a_labelled_scale() {
        let html = fragment(&View::new(
            Snapshot::default(),
            &totals(&[40.0, 80.0, 60.0]),
        ));
        // The top of the scale and a gridline half way up, each with its events/s value.
        assert!(
            html.contains(r#"<span class="scale-top">100/s</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"class="scale-mid""#), "{html}");
        let mid = &html[html.find(r#"class="scale-mid""#).unwrap()..];
        let mid = &mid[mid.find('>').unwrap() + 1..mid.find("</span>").unwrap()];
        assert!(mid.ends_with("/s"), "{mid}");
        assert!(spark_svg(&html).contains(r#"class="grid""#), "{html}");
        // The page says which scale it uses.
        assert!(html.contains("log scale"), "{html}");
        assert!(html.contains("peak 80/s"), "{html}");
    }

    #[test]
    fn a_first_burst_does_not_flatten_the_steady_rate() {
        // One second at 50,000 events/s, then a steady 200 events/s.
        let mut rates = vec![50_000.0];
        rates.extend([200.0; 30]);
        let heights = line_heights(&fragment(&View::new(Snapshot::default(), &totals(&rates))));
        assert_eq!(heights.len(), 31);
        assert!(heights[0] > 0.9, "the burst reaches the top: {heights:?}");
        for h in &heights[1..] {
            assert!(*h > 0.25, "steady rate drawn too low: {heights:?}");
        }
        // An idle second still sits on the floor.
        let heights = line_heights(&fragment(&View::new(
            Snapshot::default(),
            &totals(&[50_000.0, 200.0, 0.0]),
        )));
        assert!(heights[2].abs() < 0.05, "{heights:?}");
    }

    /// Renders, through the live view's recorder whose summary window is 150 ms, one
    /// organ call of 2 ms; `wait` is how long to let pass before rendering.
    fn one_call_rendered_after(wait: std::time::Duration) -> Vec<String> {
        let window = Window::new(
            std::time::Duration::from_millis(50),
            std::num::NonZeroU32::MIN.saturating_add(2),
        );
        let handle = recorded(window, || {
            metrics::histogram!("necro_handler_duration_seconds", "organ" => "a").record(0.002);
        });
        std::thread::sleep(wait);
        let html = fragment(&View::new(handle.snapshot(), &[]));
        organ_cells(&html, "a")
    }

    #[test]
    fn quantiles_of_an_empty_window_show_a_dash() {
        // columns: organ, calls, mean, p50, p99, ...
        let fresh = one_call_rendered_after(std::time::Duration::ZERO);
        assert_eq!(fresh[1], "1");
        assert_eq!(fresh[2], "2.000");
        assert!(
            fresh[3].starts_with("2.0") || fresh[3].starts_with("1.9"),
            "{fresh:?}"
        );
        assert!(
            fresh[4].starts_with("2.0") || fresh[4].starts_with("1.9"),
            "{fresh:?}"
        );
        // The window has passed: no quantile; sum and count stay.
        let old = one_call_rendered_after(std::time::Duration::from_millis(300));
        assert_eq!(old[1], "1");
        assert_eq!(old[2], "2.000");
        assert_eq!((old[3].as_str(), old[4].as_str()), ("–", "–"), "{old:?}");
    }

    #[test]
    fn throughput_is_the_mean_of_the_last_ten_seconds() {
        let v = View::new(Snapshot::default(), &[0.0, 10.0, 30.0]);
        assert!((v.rate - 15.0).abs() < 1e-9);
    }
}
