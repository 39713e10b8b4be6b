//! The notification organs on the spine `build_spine` makes, in process, every event recorded
//! by the testkit's harness: a valid request fans out to its channels and completes, invalid
//! requests fail with their reason, the blocked number is dead-lettered, and email's
//! transient failures are retried (or, when every attempt fails, dead-lettered).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

use example_notifications::organs::{
    ChannelDelivered, DeliveryCompleted, Latency, NotificationFailed, NotificationRequested,
    NotificationValidated, SendEmail,
};
use example_notifications::{Handles, NotificationsConfig, build_spine};
use necro_core::{DeadLetterKind, Event};
use necro_testkit::harness::{Harness, RecordingBackend};

/// The pipeline on a recording backend, no latency, email failing at `email_failure_rate`.
fn harness(email_failure_rate: f64, concurrency: usize) -> (Harness, Handles) {
    let config = NotificationsConfig {
        latency: Latency::from_ms(0),
        email_failure_rate,
        concurrency,
        ..NotificationsConfig::default()
    };
    let (spine, handles) = build_spine(RecordingBackend::new(), &config).unwrap();
    (Harness::from_spine(spine), handles)
}

fn request(id: u64, user: &str, channels: &[&str]) -> NotificationRequested {
    NotificationRequested {
        request_id: id,
        user_id: user.into(),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        message: "Your order shipped!".into(),
        priority: "high".into(),
    }
}

fn event(req: &NotificationRequested) -> Event {
    Event::from_payload(req).unwrap()
}

#[tokio::test]
async fn a_valid_request_fans_out_to_its_channels_and_completes() {
    // One event at a time: the queue order is fixed.
    let (harness, handles) = harness(0.0, 1);
    let root = event(&request(1, "user_001", &["email", "sms", "push"]));
    let stats = harness.send(root.clone()).await.unwrap();
    harness.assert_event_types(&[
        "NOTIFICATION_REQUESTED",
        "NOTIFICATION_VALIDATED",
        "SEND_EMAIL",
        "SEND_SMS",
        "SEND_PUSH",
        "CHANNEL_DELIVERED",
        "CHANNEL_DELIVERED",
        "CHANNEL_DELIVERED",
        "DELIVERY_COMPLETED",
        "DELIVERY_COMPLETED",
        "DELIVERY_COMPLETED",
    ]);
    assert_eq!(stats.processed, 11);
    let sms = harness.assert_emitted_where(|d: &ChannelDelivered| d.channel == "sms");
    assert_eq!((sms.to.as_str(), sms.attempts), ("+1-555-0101", 1));
    let completed = harness.assert_emitted::<DeliveryCompleted>(3);
    let mut seqs: Vec<u64> = completed.iter().map(|c| c.audit_seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3]);

    // Every event descends from the request: validated by it, routed from the validation
    // to one send per channel, each delivered, each delivery completed.
    assert_eq!(harness.chain_of(&root).len(), 11);
    let validated = harness.caused_by(&root);
    assert_eq!(validated.len(), 1);
    let sends = harness.caused_by(&validated[0]);
    assert_eq!(
        sends
            .iter()
            .map(|e| e.event_type().as_str())
            .collect::<Vec<_>>(),
        ["SEND_EMAIL", "SEND_SMS", "SEND_PUSH"]
    );
    for send in &sends {
        let delivered = harness.caused_by(send);
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].event_type(), "CHANNEL_DELIVERED");
        assert_eq!(
            harness.caused_by(&delivered[0])[0].event_type(),
            "DELIVERY_COMPLETED"
        );
    }
    harness.assert_no_dead_letters();
    harness.assert_no_handler_errors();
    harness.assert_emitted::<NotificationFailed>(0);
    assert_eq!(handles.outcomes.lock().unwrap().delivered_total(), 3);
    assert_eq!(handles.trail.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn an_invalid_request_fails_with_its_reason_and_is_not_routed() {
    let (harness, handles) = harness(0.0, 1);
    let good = request(1, "user_001", &["email"]);
    let cases = [
        (
            NotificationRequested {
                priority: "urgent".into(),
                ..good.clone()
            },
            "unknown priority \"urgent\" (use low, normal, high, critical)",
        ),
        (
            request(1, "user_002", &["email", "fax"]),
            "unknown channel \"fax\" (use email, sms, push)",
        ),
        (
            NotificationRequested {
                message: "  ".into(),
                ..good.clone()
            },
            "empty message",
        ),
        (
            request(1, "user_001", &["sms", "sms"]),
            "a channel is requested twice",
        ),
        (request(1, "user_001", &[]), "no channels requested"),
        (request(1, " ", &["email"]), "empty user id"),
    ];
    for (req, reason) in cases {
        harness.send_payload(&req).await.unwrap();
        let failed = harness.assert_emitted::<NotificationFailed>(1).remove(0);
        assert_eq!(failed.reason, format!("invalid request: {reason}"));
        assert_eq!((failed.request_id, &failed.channels), (1, &req.channels));
        harness.assert_emitted::<NotificationValidated>(0);
        harness.assert_emitted_of_type("SEND_EMAIL", 0);
        harness.clear();
    }
    harness.assert_no_handler_errors();
    assert_eq!(handles.outcomes.lock().unwrap().delivered_total(), 0);
}

#[tokio::test]
async fn the_router_fails_an_unknown_user_and_a_channel_with_no_address() {
    let (harness, handles) = harness(0.0, 1);
    harness
        .send_payload(&request(1, "user_999", &["email"]))
        .await
        .unwrap();
    let failed = harness.assert_emitted::<NotificationFailed>(1).remove(0);
    assert_eq!(failed.reason, "unknown user user_999");
    harness.clear();

    // user_004 has an email address but no push token: email goes out, push fails alone.
    harness
        .send_payload(&request(2, "user_004", &["email", "push"]))
        .await
        .unwrap();
    let failed = harness.assert_emitted::<NotificationFailed>(1).remove(0);
    assert_eq!(failed.channels, ["push"]);
    assert_eq!(failed.reason, "no push address on file for user_004");
    let email = harness.assert_emitted::<SendEmail>(1).remove(0).0;
    assert_eq!(email.to, "barbara@example.com");
    harness.assert_emitted::<DeliveryCompleted>(1);
    let outcomes = handles.outcomes.lock().unwrap().clone();
    assert_eq!(
        (outcomes.delivered_total(), outcomes.failed_total()),
        (1, 2)
    );
}

#[tokio::test]
async fn the_blocked_number_ends_in_the_dead_letters_with_its_reason() {
    let (harness, _) = harness(0.0, 1);
    let stats = harness
        .send_payload(&request(3, "user_003", &["sms", "push"]))
        .await
        .unwrap();
    assert_eq!(stats.handler_errors.get("SmsSender"), Some(&1));
    assert_eq!(stats.retries, 0, "a blocked number is a permanent failure");
    let letters = harness.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::HandlerFailed);
    assert_eq!(letters[0].event.event_type(), "SEND_SMS");
    assert!(
        letters[0]
            .reason
            .contains("carrier refused +1-555-0666: number is blocked"),
        "{}",
        letters[0].reason
    );
    // The other channel is unaffected.
    let delivered = harness.assert_emitted::<ChannelDelivered>(1).remove(0);
    assert_eq!(delivered.channel, "push");
}

#[tokio::test]
async fn transient_email_failures_are_retried_until_delivered() {
    let (harness, _) = harness(0.5, 1);
    let requests = (1..=12).map(|id| event(&request(id, "user_001", &["email"])));
    let stats = harness.send_all(requests).await.unwrap();
    harness.assert_no_dead_letters();
    harness.assert_no_handler_errors();
    let delivered = harness.assert_emitted::<ChannelDelivered>(12);
    // Every retry is one more attempt of some delivery, and the seed made some.
    let extra: u64 = delivered.iter().map(|d| u64::from(d.attempts - 1)).sum();
    assert!(extra > 0, "{delivered:?}");
    assert_eq!(harness.retries(), extra);
    assert_eq!(stats.retries, extra);
    // Each attempt was one SEND_EMAIL handling: the spine retried in place, not re-emitted.
    harness.assert_emitted_of_type("SEND_EMAIL", 12);
}

#[tokio::test]
async fn email_failing_every_attempt_is_dead_lettered_after_five_retries() {
    let (harness, _) = harness(1.0, 1);
    let stats = harness
        .send_payload(&request(1, "user_002", &["email", "push"]))
        .await
        .unwrap();
    assert_eq!(stats.retries, 5);
    assert_eq!(stats.handler_errors.get("EmailSender"), Some(&1));
    let letters = harness.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event.event_type(), "SEND_EMAIL");
    assert!(
        letters[0].reason.contains(
            "SMTP relay answered 451 (try again later) for grace@example.com on attempt 6"
        ),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        harness.assert_emitted::<ChannelDelivered>(1)[0].channel,
        "push"
    );
}

/// The failures are decided per request and attempt from the seed, so eight events in flight
/// at once give the same outcome as one at a time, run after run.
#[tokio::test]
async fn a_seed_decides_the_outcome_whatever_the_concurrency() {
    async fn attempts(concurrency: usize) -> (Vec<(u64, u32)>, u64) {
        let (harness, _) = harness(0.6, concurrency);
        let requests = (1..=20).map(|id| event(&request(id, "user_002", &["email", "push"])));
        harness.send_all(requests).await.unwrap();
        let mut emails: Vec<(u64, u32)> = harness
            .emitted::<ChannelDelivered>()
            .unwrap()
            .into_iter()
            .filter(|d| d.channel == "email")
            .map(|d| (d.request_id, d.attempts))
            .collect();
        emails.sort_unstable();
        (emails, harness.dead_letters().len() as u64)
    }
    let one = attempts(1).await;
    assert!(one.0.iter().any(|(_, a)| *a > 1), "{one:?}");
    assert_eq!(attempts(8).await, one);
    assert_eq!(attempts(8).await, one);
}
