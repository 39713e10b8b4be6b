//! The exporter on a free port: `/metrics` over real HTTP equals the run's stats, and `/`
//! renders the organs by name.
mod support;

use std::net::SocketAddr;

use support::metric;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_stats_and_the_live_view_names_the_organs() {
    let server = necro_observe::Metrics::new()
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .install()
        .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let (spine, _backend, _root) = support::run_chain().await;
    let stats = spine.stats();
    assert_eq!(stats.processed, 3);

    let (status, text) = support::http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("# HELP necro_events_processed_total"),
        "{text}"
    );
    let processed = metric(&text, "necro_events_processed_total", &[]);
    assert_eq!(processed, stats.processed as f64, "{text}");
    assert_eq!(
        metric(
            &text,
            "necro_events_processed_total",
            &[("event_type", "STEP2")]
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "necro_events_emitted_total", &[]),
        stats.emitted as f64
    );
    assert_eq!(
        metric(
            &text,
            "necro_handler_errors_total",
            &[("organ", "reporter")]
        ),
        stats.handler_errors["reporter"] as f64
    );
    assert_eq!(
        metric(&text, "necro_handler_errors_total", &[]),
        stats.total_handler_errors() as f64
    );
    assert_eq!(
        metric(
            &text,
            "necro_dead_letters_total",
            &[("kind", "handler_failed")]
        ),
        stats.dead_lettered as f64
    );
    for organ in ["step1", "step2", "step3", "reporter"] {
        assert_eq!(
            metric(
                &text,
                "necro_handler_duration_seconds_count",
                &[("organ", organ)]
            ),
            1.0,
            "{organ}: {text}"
        );
    }

    // Durations are histograms with the documented buckets (DURATION_BUCKETS), _sum and
    // _count, and no quantile series: they add up across workers.
    assert!(
        text.contains("# TYPE necro_handler_duration_seconds histogram"),
        "{text}"
    );
    for le in necro_observe::DURATION_BUCKETS
        .iter()
        .map(f64::to_string)
        .chain(["+Inf".to_owned()])
    {
        assert!(
            text.contains(&format!(
                "necro_handler_duration_seconds_bucket{{organ=\"step1\",le=\"{le}\"}} "
            )),
            "le {le}: {text}"
        );
    }
    assert_eq!(
        metric(
            &text,
            "necro_handler_duration_seconds_bucket",
            &[("organ", "step1"), ("le", "+Inf")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("necro_handler_duration_seconds_sum{organ=\"step1\"} "),
        "{text}"
    );
    assert!(!text.contains("quantile="), "{text}");
    // The spine's batch commits are timed too, as a histogram without labels.
    assert!(
        text.contains("# TYPE necro_commit_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("necro_commit_duration_seconds_bucket{le=\"+Inf\"} "),
        "{text}"
    );

    let (status, html) = support::http_get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(html.starts_with("<!doctype html>"));
    for organ in ["step1", "step2", "step3", "reporter"] {
        assert!(
            html.contains(&format!("data-organ=\"{organ}\"")),
            "{organ} missing"
        );
    }
    assert!(html.contains(r#"id="processed">3<"#), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external asset"
    );

    let (status, fragment) = support::http_get(addr, "/view").await;
    assert_eq!(status, 200);
    assert!(fragment.contains("data-organ=\"reporter\""));
    assert_eq!(support::http_get(addr, "/nope").await.0, 404);
}
