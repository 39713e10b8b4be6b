//! The live page's dead-letter section over real HTTP with the memory backend: listing,
//! filters, paging, payload opt-in, escaping, the token-guarded replay and purge, and the
//! listener's security headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use necro_backend_memory::MemoryBackend;
use necro_core::{
    DeadLetter, DeadLetterKind, DeadLetterQueue, DeadLetterStore, Emit, Event, Failure, Metadata,
    organ_fn,
};
use necro_observe::{AdminToken, Metrics, MetricsServer};
use necro_spine::Spine;
use support::{HttpResponse, http};

const TOKEN: &str = "s3cret-admin-token-for-tests";

fn letter(event_type: &str, organ: &str, reason: &str, kind: DeadLetterKind) -> DeadLetter {
    let event = Event::new(event_type, serde_json::json!({"card": "4111-1111"})).unwrap();
    let mut l = DeadLetter::new(
        event,
        Metadata::default(),
        kind,
        vec![Failure::new(Some(organ.to_owned()), reason)],
        3,
    );
    l.kind = kind;
    l
}

/// A server on a free loopback port for `metrics` (its recorder not installed: each test
/// has its own).
fn serve(metrics: Metrics) -> MetricsServer {
    let metrics = metrics.listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    let (_recorder, handle) = metrics.build();
    metrics.serve(handle).unwrap()
}

async fn get(server: &MetricsServer, path: &str) -> HttpResponse {
    http(server.local_addr(), "GET", path, &[], "").await
}

async fn post(
    server: &MetricsServer,
    path: &str,
    headers: &[(&str, &str)],
    form: &str,
) -> HttpResponse {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    http(server.local_addr(), "POST", path, &h, form).await
}

/// The ids of the rows the section lists, in order.
fn row_ids(html: &str) -> Vec<String> {
    html.split(r#"<tr data-dlq-id=""#)
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

async fn held(backend: &MemoryBackend) -> Vec<String> {
    let page = backend
        .dead_letter_page(&necro_core::DeadLetterQuery::new(100))
        .await
        .unwrap();
    page.entries.iter().map(|e| e.id.to_string()).collect()
}

#[tokio::test]
async fn the_section_lists_an_entry_with_its_fields() {
    let backend = MemoryBackend::new();
    backend
        .store(letter(
            "ORDER_PLACED",
            "Mailer",
            "smtp refused",
            DeadLetterKind::HandlerFailed,
        ))
        .await
        .unwrap();
    let server = serve(Metrics::new().dead_letters(backend.clone()));
    let res = get(&server, "/").await;
    assert_eq!(res.status, 200);
    let html = &res.body;
    assert!(html.contains(r#"id="dead-letter-queue""#), "{html}");
    assert!(html.contains(r#"<span id="dlq-count">1</span>"#), "{html}");
    assert_eq!(row_ids(html), held(&backend).await);
    for text in [
        "ORDER_PLACED",
        "Mailer",
        "handler_failed",
        "Mailer: smtp refused",
        "<td>3</td>",
        " s</td>",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    // Read-only without an admin token: no form, no buttons.
    assert!(html.contains("read-only"), "{html}");
    assert!(
        !html.contains("dlq-actions") && !html.contains("<button type=\"submit\" name=\"one\""),
        "{html}"
    );
    // The refreshing part is still there, and unchanged by the section.
    assert!(html.contains(r#"<main id="live">"#), "{html}");
    assert!(
        get(&server, "/view")
            .await
            .body
            .find("dead-letter-queue")
            .is_none()
    );
}

#[tokio::test]
async fn without_a_source_the_page_has_no_section_and_no_action_paths() {
    let server = serve(Metrics::new());
    let res = get(&server, "/?dlq_kind=whatever").await;
    assert_eq!(res.status, 200);
    assert!(
        !res.body.contains(r#"id="dead-letter-queue""#),
        "{}",
        res.body
    );
    assert!(res.body.contains(r#"<main id="live">"#));
    assert_eq!(
        post(&server, "/dead-letters/replay", &[], "id=1")
            .await
            .status,
        404
    );
    assert_eq!(get(&server, "/dead-letters/purge").await.status, 404);
}

#[tokio::test]
async fn a_source_attached_later_shows_up() {
    let server = serve(Metrics::new());
    let backend = MemoryBackend::new();
    backend
        .store(letter(
            "LATE",
            "Late",
            "late",
            DeadLetterKind::HandlerFailed,
        ))
        .await
        .unwrap();
    server.attach_dead_letters(backend.clone());
    let html = get(&server, "/").await.body;
    assert_eq!(row_ids(&html), held(&backend).await, "{html}");
}

#[tokio::test]
async fn filters_by_organ_kind_and_event_type() {
    let backend = MemoryBackend::new();
    for (t, organ, kind) in [
        ("A", "Mailer", DeadLetterKind::HandlerFailed),
        ("B", "Billing", DeadLetterKind::HandlerFailed),
        ("C", "Billing", DeadLetterKind::MaxDeliveries),
    ] {
        backend.store(letter(t, organ, "boom", kind)).await.unwrap();
    }
    let server = serve(Metrics::new().dead_letters(backend.clone()));
    let ids = held(&backend).await;
    let all = row_ids(&get(&server, "/").await.body);
    // Newest first.
    assert_eq!(all, ids.iter().rev().cloned().collect::<Vec<_>>());
    let billing = get(&server, "/?dlq_organ=Billing").await;
    assert_eq!(row_ids(&billing.body), [ids[2].clone(), ids[1].clone()]);
    // The filter form keeps what was asked.
    assert!(
        billing
            .body
            .contains(r#"name="dlq_organ" maxlength="128" value="Billing""#)
    );
    let max = get(&server, "/?dlq_organ=Billing&dlq_kind=max_deliveries").await;
    assert_eq!(row_ids(&max.body), [ids[2].clone()]);
    assert!(
        max.body
            .contains(r#"<option value="max_deliveries" selected>"#)
    );
    assert_eq!(
        row_ids(&get(&server, "/?dlq_type=A").await.body),
        [ids[0].clone()]
    );
    let none = get(&server, "/?dlq_organ=Nobody").await.body;
    assert!(row_ids(&none).is_empty() && none.contains("no dead letters match"));
}

#[tokio::test]
async fn bad_queries_get_a_fixed_400() {
    let backend = MemoryBackend::new();
    let server = serve(Metrics::new().dead_letters(backend));
    let long = format!("/?dlq_organ={}", "x".repeat(129));
    for path in [
        "/?dlq_kind=%3Cscript%3Ealert(1)%3C/script%3E",
        "/?evil=%3Cscript%3E",
        "/?dlq_after=%3Cb%3E",
        "/?dlq_organ=a&dlq_organ=b",
        long.as_str(),
        // A cursor of a form the memory queue never issues.
        "/?dlq_after=12-0",
    ] {
        let res = get(&server, path).await;
        assert_eq!(res.status, 400, "{path}");
        assert_eq!(
            res.body, "bad request: invalid dead-letter query\n",
            "{path}"
        );
    }
}

#[tokio::test]
async fn payloads_are_hidden_unless_opted_in() {
    let backend = MemoryBackend::new();
    backend
        .store(letter(
            "PAY",
            "Billing",
            "declined",
            DeadLetterKind::HandlerFailed,
        ))
        .await
        .unwrap();
    let hidden = serve(Metrics::new().dead_letters(backend.clone()));
    let html = get(&hidden, "/").await.body;
    assert!(
        !html.contains("4111-1111") && !html.contains("<th>payload</th>"),
        "{html}"
    );
    let shown = serve(Metrics::new().dead_letters(backend).show_payloads(true));
    let html = get(&shown, "/").await.body;
    assert!(html.contains("<th>payload</th>"), "{html}");
    assert!(
        html.contains("{&quot;card&quot;:&quot;4111-1111&quot;}"),
        "{html}"
    );
}

#[tokio::test]
async fn pages_of_twenty_newest_first() {
    let backend = MemoryBackend::new();
    for i in 0..25 {
        backend
            .store(letter(
                &format!("T{i}"),
                "Mailer",
                "boom",
                DeadLetterKind::HandlerFailed,
            ))
            .await
            .unwrap();
    }
    let server = serve(Metrics::new().dead_letters(backend.clone()));
    let ids: Vec<String> = held(&backend).await.into_iter().rev().collect();
    let first = get(&server, "/?dlq_organ=Mailer").await.body;
    assert!(first.contains(r#"<span id="dlq-count">25</span>"#));
    assert_eq!(row_ids(&first), ids[..20]);
    let key = r#"id="dlq-older" href=""#;
    let at = first.find(key).expect("an older link") + key.len();
    let href = first[at..at + first[at..].find('"').unwrap()].replace("&amp;", "&");
    assert!(href.starts_with("/?dlq_organ=Mailer&dlq_after="), "{href}");
    let second = get(&server, &href).await.body;
    assert_eq!(row_ids(&second), ids[20..]);
    assert!(second.contains(r#"id="dlq-newest""#) && !second.contains("dlq-older"));
}

#[tokio::test]
async fn hostile_reasons_and_organs_are_escaped() {
    let backend = MemoryBackend::new();
    let organ = r#"<script>alert("organ")</script>"#;
    let reason = r#""><img src=x onerror=alert(1)>"#;
    backend
        .store(letter("X", organ, reason, DeadLetterKind::HandlerFailed))
        .await
        .unwrap();
    let server = serve(
        Metrics::new()
            .dead_letters(backend)
            .dead_letter_actions(AdminToken::new(TOKEN).unwrap()),
    );
    let html = get(&server, "/").await.body;
    assert!(
        !html.contains("<script>alert") && !html.contains("<img src=x"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&quot;organ&quot;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    // The token is never in the page, and its input is empty.
    assert!(!html.contains(TOKEN));
    assert!(html.contains(
        r#"<input type="password" name="token" id="dlq-token" autocomplete="off" required>"#
    ));
}

fn actions_server(backend: &MemoryBackend) -> MetricsServer {
    serve(
        Metrics::new()
            .dead_letters(backend.clone())
            .dead_letter_actions(AdminToken::new(TOKEN).unwrap()),
    )
}

#[tokio::test]
async fn actions_without_the_right_token_are_refused_and_change_nothing() {
    let backend = MemoryBackend::new();
    backend
        .store(letter("A", "Mailer", "boom", DeadLetterKind::HandlerFailed))
        .await
        .unwrap();
    let ids = held(&backend).await;
    let form = format!("id={}", ids[0]);
    let server = actions_server(&backend);
    let wrong_form = format!("{form}&token=not-the-token-at-all");
    let short = format!("{form}&token={}", &TOKEN[..TOKEN.len() - 1]);
    for path in ["/dead-letters/replay", "/dead-letters/purge"] {
        for (headers, body) in [
            (vec![], form.as_str()),
            (vec![], wrong_form.as_str()),
            (vec![], short.as_str()),
            (
                vec![("Authorization", "Bearer wrong-wrong-wrong-wrong")],
                form.as_str(),
            ),
            (
                vec![("X-Necro-Token", "wrong-wrong-wrong-wrong")],
                form.as_str(),
            ),
            // A header that is present decides, even beside a right form field.
            (
                vec![("X-Necro-Token", "wrong-wrong-wrong-wrong")],
                &*format!("{form}&token={TOKEN}"),
            ),
            (
                vec![("Authorization", &*format!("Basic {TOKEN}"))],
                form.as_str(),
            ),
        ] {
            let res = post(&server, path, &headers, body).await;
            assert_eq!(res.status, 403, "{path} {headers:?} {body}");
            assert_eq!(res.body, "forbidden\n");
        }
    }
    assert_eq!(held(&backend).await, ids);
    assert!(backend.is_empty());
    // A read-only page refuses even the right token.
    let read_only = serve(Metrics::new().dead_letters(backend.clone()));
    let res = post(
        &read_only,
        "/dead-letters/purge",
        &[("X-Necro-Token", TOKEN)],
        &form,
    )
    .await;
    assert_eq!(res.status, 403);
    assert_eq!(held(&backend).await, ids);
}

#[tokio::test]
async fn get_on_an_action_path_is_405() {
    let backend = MemoryBackend::new();
    let server = actions_server(&backend);
    for path in ["/dead-letters/replay", "/dead-letters/purge"] {
        let res = get(&server, path).await;
        assert_eq!(res.status, 405, "{path}");
        assert_eq!(res.header("allow"), Some("POST"));
    }
    let res = post(&server, "/metrics", &[], "").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn replay_with_the_token_puts_the_event_back_for_a_spine() {
    let backend = MemoryBackend::new();
    backend
        .store(letter(
            "REPLAY_ME",
            "Mailer",
            "smtp down",
            DeadLetterKind::HandlerFailed,
        ))
        .await
        .unwrap();
    backend
        .store(letter(
            "STAYS",
            "Mailer",
            "smtp down",
            DeadLetterKind::HandlerFailed,
        ))
        .await
        .unwrap();
    let ids = held(&backend).await;
    let server = actions_server(&backend);
    let bearer = format!("Bearer {TOKEN}");
    let res = post(
        &server,
        "/dead-letters/replay",
        &[("Authorization", &bearer)],
        &format!("id={}", ids[0]),
    )
    .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        "/?dlq_done=replayed&dlq_n=1&dlq_missing=0&dlq_skipped=0"
    );
    assert_eq!(held(&backend).await, [ids[1].clone()]);
    assert_eq!(backend.len(), 1);
    let page = get(&server, &location).await.body;
    assert!(
        page.contains(r#"<p id="dlq-status" class="ok">replayed 1</p>"#),
        "{page}"
    );
    assert_eq!(row_ids(&page), [ids[1].clone()]);

    // A spine handles the replayed event.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let saw = Arc::clone(&seen);
    let spine = Spine::builder(backend.clone())
        .organ(organ_fn("Mailer", ["REPLAY_ME"], move |e: Event| {
            let saw = Arc::clone(&saw);
            async move {
                saw.lock().unwrap().push(e.event_type().as_str().to_owned());
                Ok(Emit::none())
            }
        }))
        .build()
        .unwrap();
    let stats = spine.run_until_drained().await.unwrap();
    assert_eq!(stats.processed, 1);
    assert_eq!(*seen.lock().unwrap(), ["REPLAY_ME"]);

    // Replaying it again: it is no longer held.
    let res = post(
        &server,
        "/dead-letters/replay",
        &[("X-Necro-Token", TOKEN)],
        &format!("one={}", ids[0]),
    )
    .await;
    assert_eq!(res.status, 303);
    let page = get(&server, res.header("location").unwrap()).await.body;
    assert!(page.contains("replayed 0 · 1 no longer held"), "{page}");
}

#[tokio::test]
async fn purge_with_the_form_token_deletes_the_selection() {
    let backend = MemoryBackend::new();
    for t in ["A", "B", "C"] {
        backend
            .store(letter(t, "Mailer", "boom", DeadLetterKind::HandlerFailed))
            .await
            .unwrap();
    }
    let ids = held(&backend).await;
    let server = actions_server(&backend);
    let form = format!("token={TOKEN}&id={}&id={}", ids[0], ids[2]);
    let res = post(&server, "/dead-letters/purge", &[], &form).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        res.header("location"),
        Some("/?dlq_done=purged&dlq_n=2&dlq_missing=0&dlq_skipped=0")
    );
    assert_eq!(held(&backend).await, [ids[1].clone()]);
    assert!(backend.is_empty(), "a purge enqueues nothing");
    // Nothing selected, or a bad id: 400, nothing changes.
    let empty = post(
        &server,
        "/dead-letters/purge",
        &[],
        &format!("token={TOKEN}"),
    )
    .await;
    assert_eq!(
        (empty.status, empty.body.as_str()),
        (400, "no dead letter selected\n")
    );
    let bad = post(
        &server,
        "/dead-letters/purge",
        &[],
        &format!("token={TOKEN}&id=%3Cb%3E"),
    )
    .await;
    assert_eq!((bad.status, bad.body.as_str()), (400, "bad request\n"));
    assert_eq!(held(&backend).await, [ids[1].clone()]);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let backend = MemoryBackend::new();
    let server = actions_server(&backend);
    let responses = [
        get(&server, "/").await,
        get(&server, "/metrics").await,
        get(&server, "/view").await,
        get(&server, "/live.js").await,
        get(&server, "/nope/%3Cscript%3E").await,
        get(&server, "/dead-letters/replay").await,
        post(&server, "/dead-letters/purge", &[], "id=1").await,
        get(&server, "/?dlq_kind=bad").await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 404, 405, 403, 400]);
    for res in &responses {
        let csp = res.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{res:?}");
        assert!(csp.contains("form-action 'self'"), "{res:?}");
        assert!(!csp.contains("script-src 'unsafe-inline'"), "{res:?}");
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{res:?}"
        );
        assert_eq!(res.header("cache-control"), Some("no-store"), "{res:?}");
    }
    // Neither the 404 nor the 405 echoes what was asked.
    assert_eq!(responses[4].body, "not found\n");
    assert_eq!(responses[5].body, "method not allowed\n");
    // The page has no inline script (the CSP would block it): it loads /live.js.
    assert!(
        responses[0]
            .body
            .contains(r#"<script src="/live.js"></script>"#)
    );
    assert!(!responses[0].body.contains("<script>"));
}

/// The warnings `serve` logs for `metrics`.
fn warnings_of(metrics: Metrics) -> Vec<serde_json::Value> {
    use tracing_subscriber::layer::SubscriberExt;
    let capture = support::Capture::default();
    let sink = capture.clone();
    let (layer, _guard) = necro_observe::JsonLogs::new()
        .filter("warn")
        .writer(move || sink.clone())
        .layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let server = tracing::subscriber::with_default(subscriber, || {
        let (_recorder, handle) = metrics.build();
        metrics.serve(handle).unwrap()
    });
    drop(server);
    capture.lines()
}

#[tokio::test]
async fn a_listener_off_loopback_warns_what_it_exposes() {
    let anywhere = SocketAddr::from(([0, 0, 0, 0], 0));
    let lines = warnings_of(
        Metrics::new()
            .listen(anywhere)
            .dead_letters(MemoryBackend::new())
            .dead_letter_actions(AdminToken::new(TOKEN).unwrap()),
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    let message = lines[0]["message"].as_str().unwrap();
    assert!(message.contains("not on loopback"), "{message}");
    assert!(message.contains("replay and purge"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    let plain = warnings_of(Metrics::new().listen(anywhere));
    let message = plain[0]["message"].as_str().unwrap();
    assert!(
        message.contains("/metrics and the live view are reachable"),
        "{message}"
    );
    assert!(warnings_of(Metrics::new().listen(SocketAddr::from(([127, 0, 0, 1], 0)))).is_empty());
}
