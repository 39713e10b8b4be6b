//! The Grafana dashboard and the Prometheus alert rules under `deploy/` use only metrics of the
//! contract (`necro_core::telemetry`), and group or filter only by labels those metrics carry
//! (plus Prometheus' own `job`, `instance` and a histogram's `le`). Every alert has an
//! expression, a `for:`, a severity and a summary; the dashboard is valid JSON whose every
//! panel queries something.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use std::collections::BTreeSet;

use necro_core::telemetry::{self, MetricKind};

const ALERTS: &str = include_str!("../../../deploy/prometheus/necrostack-alerts.yml");
const DASHBOARD: &str = include_str!("../../../deploy/grafana/necrostack.json");

/// Labels every series has, or a histogram's buckets.
const PROMETHEUS_LABELS: &[&str] = &["job", "instance", "le"];

/// The contract's metric a series name refers to: itself, or a histogram's `_bucket`, `_sum`
/// or `_count`.
fn contract_metric(series: &str) -> Option<&'static telemetry::MetricDef> {
    telemetry::all().find(|m| m.name == series).or_else(|| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| series.strip_suffix(s))?;
        telemetry::all().find(|m| m.name == base && m.kind == MetricKind::Histogram)
    })
}

/// Every `necro_…` identifier in a PromQL expression.
fn series_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("necro_") {
        let start = i + pos;
        let boundary = start == 0 || !is_ident(bytes[start - 1]);
        let mut end = start;
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        if boundary {
            out.push(expr[start..end].to_owned());
        }
        i = end.max(start + 1);
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The labels an expression groups by (`by (a, b)`, `on (a)`) or matches on (`{a="…"}`).
fn labels_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for keyword in ["by (", "by(", "on (", "on(", "without ("] {
        let mut rest = expr;
        while let Some(pos) = rest.find(keyword) {
            let after = &rest[pos + keyword.len()..];
            let list = after.split(')').next().unwrap_or_default();
            out.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
            rest = after;
        }
    }
    let mut rest = expr;
    while let Some(pos) = rest.find('{') {
        let after = &rest[pos + 1..];
        let inside = after.split('}').next().unwrap_or_default();
        for matcher in inside.split(',') {
            let name: String = matcher
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        rest = after;
    }
    out
}

/// Checks one expression against the contract; returns what is wrong with it.
fn check_expr(expr: &str, place: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let series = series_in(expr);
    if series.is_empty() {
        problems.push(format!("{place}: uses no necro_ metric: {expr}"));
    }
    let mut allowed: BTreeSet<&str> = PROMETHEUS_LABELS.iter().copied().collect();
    for name in &series {
        match contract_metric(name) {
            Some(m) => allowed.extend(m.labels.iter().copied()),
            None => problems.push(format!("{place}: {name} is not in the metric contract")),
        }
    }
    for label in labels_in(expr) {
        if !allowed.contains(label.as_str()) {
            problems.push(format!(
                "{place}: label {label:?} is on none of {series:?} (allowed: {allowed:?})"
            ));
        }
    }
    problems
}

/// One alert rule, as far as the test reads it.
#[derive(Debug, Default)]
struct Rule {
    alert: String,
    expr: String,
    has_for: bool,
    severity: Option<String>,
    has_summary: bool,
}

/// A line-based reading of the rule file: `- alert:` starts a rule; `expr:` is inline or a
/// `|` block of the lines indented deeper than it.
fn rules(text: &str) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.push(Rule {
                alert: name.trim().to_owned(),
                ..Rule::default()
            });
            continue;
        }
        let Some(rule) = rules.last_mut() else {
            continue;
        };
        if let Some(expr) = trimmed.strip_prefix("expr:") {
            let expr = expr.trim();
            if expr == "|" {
                let mut block = Vec::new();
                while let Some(next) = lines.peek() {
                    let next_indent = next.len() - next.trim_start().len();
                    if next.trim().is_empty() || next_indent <= indent {
                        break;
                    }
                    block.push(next.trim());
                    lines.next();
                }
                rule.expr = block.join(" ");
            } else {
                rule.expr = expr.to_owned();
            }
        } else if trimmed.starts_with("for:") {
            rule.has_for = true;
        } else if let Some(s) = trimmed.strip_prefix("severity:") {
            rule.severity = Some(s.trim().to_owned());
        } else if trimmed.starts_with("summary:") {
            rule.has_summary = true;
        }
    }
    rules
}

#[test]
fn the_alert_rules_use_only_the_contract() {
    let rules = rules(ALERTS);
    assert!(rules.len() >= 6, "too few rules read: {rules:?}");
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for rule in &rules {
        let place = format!("alert {}", rule.alert);
        assert!(names.insert(rule.alert.clone()), "{place} twice");
        problems.extend(check_expr(&rule.expr, &place));
        if !rule.has_for {
            problems.push(format!("{place}: no `for:`"));
        }
        match rule.severity.as_deref() {
            Some("warning" | "critical") => {}
            other => problems.push(format!("{place}: severity {other:?}")),
        }
        if !rule.has_summary {
            problems.push(format!("{place}: no summary"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // What the issue asks the rules to watch.
    for watched in [
        "necro_dead_letters_total",
        "necro_circuit_state",
        "necro_redis_pending",
        "necro_events_processed_total",
    ] {
        assert!(
            rules
                .iter()
                .any(|r| series_in(&r.expr).iter().any(|s| s == watched)),
            "no alert watches {watched}"
        );
    }
}

#[test]
fn the_dashboard_uses_only_the_contract() {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut problems = Vec::new();
    let mut queried = BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("?");
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("panel {title:?} queries nothing"));
        }
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            problems.extend(check_expr(expr, &format!("panel {title:?}")));
            queried.extend(
                series_in(expr)
                    .into_iter()
                    .filter_map(|s| contract_metric(&s))
                    .map(|m| m.name),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The dashboard shows every metric of the contract.
    let missing: Vec<&str> = telemetry::all()
        .filter(|m| !queried.contains(m.name))
        .map(|m| m.name)
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard shows none of {missing:?}"
    );
}

#[test]
fn the_checks_catch_a_metric_or_label_outside_the_contract() {
    assert!(check_expr("rate(necro_events_processed_total[5m])", "ok").is_empty());
    assert!(
        check_expr(
            "histogram_quantile(0.99, sum by (organ, le) (rate(necro_handler_duration_seconds_bucket[5m])))",
            "ok"
        )
        .is_empty()
    );
    let typo = check_expr("rate(necro_events_procesed_total[5m])", "typo");
    assert!(typo[0].contains("not in the metric contract"), "{typo:?}");
    let label = check_expr(
        "sum by (organ) (rate(necro_events_processed_total[5m]))",
        "label",
    );
    assert!(label[0].contains("label \"organ\""), "{label:?}");
    let selector = check_expr("necro_redis_pending{queue=\"x\"}", "selector");
    assert!(selector[0].contains("label \"queue\""), "{selector:?}");
}
