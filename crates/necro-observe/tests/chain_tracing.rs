//! A chain of three events shares one correlation id, each causation id names the parent;
//! the metadata travels with the events in the memory backend (seen on the dead letter).
mod support;

use std::collections::HashMap;

use serde_json::Value;

#[tokio::test]
async fn three_events_share_the_root_correlation_id_and_name_their_parent() {
    let capture = support::install_capture();
    let (_spine, backend, root) = support::run_chain().await;
    let lines = capture.lines();
    let handled: HashMap<String, &Value> = lines
        .iter()
        .filter(|l| l["message"] == "event handled")
        .map(|l| (l["event_type"].as_str().unwrap().to_owned(), l))
        .collect();
    let (start, step2, step3) = (&handled["START"], &handled["STEP2"], &handled["STEP3"]);
    let root_id = root.id().to_string();

    for line in [start, step2, step3] {
        assert_eq!(line["correlation_id"], root_id, "{line}");
    }
    // The root is its own correlation and has no cause.
    assert_eq!(start["event_id"], root_id);
    assert!(start.get("causation_id").is_none(), "{start}");
    // Each child names its parent.
    assert_eq!(step2["causation_id"], start["event_id"]);
    assert_eq!(step3["causation_id"], step2["event_id"]);
    assert_ne!(step2["event_id"], step3["event_id"]);

    // Every line emitted while handling an event of the chain carries its correlation id,
    // so one query on correlation_id shows the whole chain (failures included).
    let chain: Vec<&Value> = lines
        .iter()
        .filter(|l| l["correlation_id"] == root_id)
        .collect();
    assert!(chain.iter().any(|l| l["message"] == "organ failed"));

    // The memory backend kept the metadata alongside STEP2: the dead letter has it.
    let letters = backend.dead_letters().list();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        letter.event.id().to_string(),
        step2["event_id"].as_str().unwrap()
    );
    assert_eq!(letter.meta.correlation_id, Some(root.id()));
    assert_eq!(letter.meta.causation_id, Some(root.id()));
    // The event's own JSON stays the four fields.
    let json: Value = serde_json::from_str(&letter.event.to_json()).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["event_type", "id", "payload", "timestamp"]);
}
