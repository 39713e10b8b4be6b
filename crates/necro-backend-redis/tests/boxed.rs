//! The Redis backend behind a `BoxBackend` (necro-core's erased backend): it passes the
//! dead-letter queue conformance suite of `necro-testkit` boxed, and a service that chooses
//! its backend from a configuration value with one `match` runs the same spine on memory and
//! on Redis. Skipped without a Redis (failed under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use necro_backend_memory::MemoryBackend;
use necro_backend_redis::EntryId;
use necro_core::{
    Backend, BackendError, BoxBackend, DeadLetterQueue, Emit, Event, Health, Organ, OrganError,
};
use necro_spine::Spine;
use necro_testkit::dead_letter_queue_conformance;
use serde_json::{Value, json};
use support::Ctx;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_boxed_redis_backend_passes_the_dead_letter_queue_conformance_suite() {
    if Ctx::shared("boxed_conformance").is_none() {
        return;
    }
    // Every scenario's streams live until the end of the test, then are deleted.
    let contexts: Arc<Mutex<Vec<Ctx>>> = Arc::default();
    dead_letter_queue_conformance(|| {
        let contexts = Arc::clone(&contexts);
        async move { BoxBackend::new(Ctx::for_conformance("boxed_conformance", &contexts).await) }
    })
    .await
    .unwrap();
}

/// The backend a service would pick from its configuration (`NECRO_BACKEND`, say): one
/// `match`, one type.
async fn pick(kind: &str, ctx: &Ctx) -> Result<BoxBackend, Box<dyn std::error::Error>> {
    Ok(match kind {
        "memory" => BoxBackend::new(MemoryBackend::new()),
        "redis" => BoxBackend::new(ctx.builder().connect().await?),
        other => return Err(format!("unknown backend {other:?}").into()),
    })
}

/// START → STEP2, each step adding its name to the payload's trail; STEP2 payloads land in
/// the shared list.
struct Start;
impl Organ for Start {
    fn listens_to(&self) -> &[&str] {
        &["START"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        let n = event.get("n").cloned().unwrap_or(Value::Null);
        Ok(Event::new("STEP2", json!({"n": n, "trail": ["START"]}))?.into())
    }
}

struct Step2(Arc<Mutex<Vec<Value>>>);
impl Organ for Step2 {
    fn listens_to(&self) -> &[&str] {
        &["STEP2"]
    }
    async fn handle(&self, event: &Event) -> Result<Emit, OrganError> {
        self.0
            .lock()
            .unwrap()
            .push(Value::Object(event.payload().clone()));
        Ok(Emit::none())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_match_chooses_the_backend_and_the_same_spine_runs_on_both() {
    let Some(ctx) = Ctx::shared("boxed_pick") else {
        return;
    };
    assert!(pick("carrier pigeon", &ctx).await.is_err());
    let mut picked = Vec::new();
    for kind in ["memory", "redis"] {
        let backend = pick(kind, &ctx).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spine = Spine::builder(backend.clone())
            .organ(Start)
            .organ(Step2(Arc::clone(&seen)))
            .build()
            .unwrap();
        for n in 0..10 {
            let start = Event::new("START", json!({"n": n})).unwrap();
            spine.send(start).await.unwrap();
        }
        let stats = spine.run_until_drained().await.unwrap();
        assert_eq!((stats.processed, stats.emitted), (20, 10), "{kind}");
        let mut ns: Vec<u64> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|p| p["n"].as_u64().unwrap())
            .collect();
        ns.sort_unstable();
        assert_eq!(ns, (0..10).collect::<Vec<u64>>(), "{kind}");
        assert!(backend.health().await.healthy, "{kind}");
        assert_eq!(backend.dead_letter_count().await.unwrap(), 0, "{kind}");
        assert!(
            backend.atomic_commit(),
            "{kind}: both shipped backends commit atomically"
        );
        picked.push(backend);
    }
    assert!(picked[0].backend_type_name().contains("MemoryBackend"));
    assert!(picked[1].backend_type_name().contains("RedisBackend"));

    // A delivery of the memory backend acked on the Redis one: a typed error, and the
    // memory delivery is still there to be acked where it came from.
    let (memory, redis) = (&picked[0], &picked[1]);
    memory
        .send(Event::new("START", json!({"n": 99})).unwrap())
        .await
        .unwrap();
    let batch = memory.pull(1, Duration::ZERO).await.unwrap();
    let err = redis.ack(vec![batch[0].token.clone()]).await.unwrap_err();
    let BackendError::UnknownToken(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains(std::any::type_name::<EntryId>()), "{msg}");
    memory.ack(vec![batch[0].token.clone()]).await.unwrap();

    for backend in picked {
        backend.close().await.unwrap();
    }
}

/// Exactly what the README's example does: the backend from `NECRO_BACKEND`, one `match`.
async fn backend_from_env() -> Result<BoxBackend, Box<dyn std::error::Error>> {
    Ok(match std::env::var("NECRO_BACKEND").as_deref() {
        Ok("redis") => BoxBackend::new(
            necro_backend_redis::RedisBackend::builder_from_env()?
                .connect()
                .await?,
        ),
        Ok("memory") | Err(_) => BoxBackend::new(MemoryBackend::new()),
        Ok(other) => {
            return Err(format!("NECRO_BACKEND={other:?}: expected memory or redis").into());
        }
    })
}

/// The child half: picks the backend from the environment the parent set, runs a chain on
/// it, and says which backend it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the_backend_is_chosen_from_an_environment_variable"]
async fn backend_from_env_child() {
    let backend = match backend_from_env().await {
        Ok(backend) => backend,
        Err(err) => panic!("refused: {err}"),
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spine = Spine::builder(backend.clone())
        .organ(Start)
        .organ(Step2(Arc::clone(&seen)))
        .build()
        .unwrap();
    let stats = spine
        .run_event(Event::new("START", json!({"n": 1})).unwrap())
        .await
        .unwrap();
    assert_eq!(stats.processed, 2);
    println!("picked {}", backend.backend_type_name());
    backend.close().await.unwrap();
}

#[test]
fn the_backend_is_chosen_from_an_environment_variable() {
    let Some(ctx) = Ctx::shared("boxed_env") else {
        return;
    };
    let child = |backend: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "backend_from_env_child",
            "--ignored",
            "--nocapture",
        ])
        .env("NECRO_REDIS_URL", &ctx.url)
        .env("NECRO_STREAM", &ctx.stream)
        .env_remove("NECRO_BACKEND");
        if let Some(value) = backend {
            cmd.env("NECRO_BACKEND", value);
        }
        let out = cmd.output().expect("the test binary runs again");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    for (value, expect) in [
        (None, "MemoryBackend"),
        (Some("memory"), "MemoryBackend"),
        (Some("redis"), "RedisBackend"),
    ] {
        let (ok, stdout) = child(value);
        assert!(ok, "NECRO_BACKEND={value:?}: {stdout}");
        let picked = stdout
            .lines()
            .find_map(|l| l.strip_prefix("picked "))
            .unwrap_or_else(|| panic!("the child did not say: {stdout}"));
        assert!(
            picked.ends_with(expect),
            "NECRO_BACKEND={value:?}: {picked}"
        );
    }
    let (ok, stdout) = child(Some("carrier-pigeon"));
    assert!(!ok, "an unknown backend is refused: {stdout}");
    assert!(stdout.contains("expected memory or redis"), "{stdout}");
}
