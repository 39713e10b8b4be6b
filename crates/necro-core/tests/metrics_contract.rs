//! `docs/metrics-contract.md` and `necro_core::telemetry` say the same: every metric the code
//! declares has its row (same kind, same labels), and every row names a declared metric.

use std::collections::BTreeMap;

use necro_core::telemetry::{self, MetricDef};

const CONTRACT: &str = include_str!("../../../docs/metrics-contract.md");

/// The table rows of the contract whose first cell is a metric name: name → (type, labels).
fn rows(text: &str) -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if let [name, kind, labels] = cells[..]
            && name.starts_with("necro_")
        {
            let old = rows.insert(name.to_owned(), (kind.to_owned(), labels.to_owned()));
            assert!(old.is_none(), "{name} has two rows in the contract");
        }
    }
    rows
}

fn check(rows: &BTreeMap<String, (String, String)>, defs: &[&MetricDef]) -> Vec<String> {
    let mut problems = Vec::new();
    for def in defs {
        let Some((kind, labels)) = rows.get(def.name) else {
            problems.push(format!("{} is declared in code but has no row", def.name));
            continue;
        };
        if !kind.contains(def.kind.as_str()) {
            problems.push(format!(
                "{}: the row says {kind:?}, the code {}",
                def.name,
                def.kind.as_str()
            ));
        }
        if def.labels.is_empty() && !labels.starts_with("(none") && !labels.starts_with("(0 ") {
            problems.push(format!(
                "{}: the row lists labels {labels:?}, the code none",
                def.name
            ));
        }
        for label in def.labels {
            let named = labels
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == *label);
            if !named {
                problems.push(format!("{}: the row does not list label {label}", def.name));
            }
        }
    }
    for name in rows.keys() {
        if !defs.iter().any(|d| d.name == name) {
            problems.push(format!(
                "{name} has a row but the code declares no such metric"
            ));
        }
    }
    problems
}

#[test]
fn the_contract_lists_every_declared_metric_and_nothing_else() {
    let defs: Vec<&MetricDef> = telemetry::all().collect();
    let problems = check(&rows(CONTRACT), &defs);
    assert!(
        problems.is_empty(),
        "docs/metrics-contract.md disagrees with the code:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_disagreement_is_caught() {
    let defs: Vec<&MetricDef> = telemetry::all().collect();
    // A row dropped, a kind changed, a label dropped, a row the code does not declare.
    let doctored = CONTRACT
        .replace(
            "| necro_events_unrouted_total | counter | event_type |\n",
            "",
        )
        .replace(
            "| necro_events_in_flight | gauge |",
            "| necro_events_in_flight | counter |",
        )
        .replace(
            "| necro_handler_retries_total | counter | organ |",
            "| necro_handler_retries_total | counter | (none) |",
        )
        + "| necro_not_a_metric_total | counter | (none) |\n";
    let problems = check(&rows(&doctored), &defs);
    for expected in [
        "necro_events_unrouted_total is declared in code but has no row",
        "necro_events_in_flight: the row says",
        "necro_handler_retries_total: the row does not list label organ",
        "necro_not_a_metric_total has a row",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "not caught: {expected}\n{problems:?}"
        );
    }
}
