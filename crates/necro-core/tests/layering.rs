//! The crate layering promised in docs/architecture.md: backends and the spine depend on
//! necro-core and not on each other, nor does the conformance suite (necro-testkit) depend on
//! a backend (its `harness` feature adds the spine and the in-memory backend only); necro-core
//! pulls no async runtime and no Redis client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use std::process::Command;

fn normal_deps(package: &str) -> Vec<String> {
    normal_deps_with(package, &[])
}

fn normal_deps_with(package: &str, extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree", "-q", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", package,
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn necro_core_has_no_runtime_and_no_redis_client() {
    let deps = normal_deps("necro-core");
    for banned in [
        "tokio",
        "fred",
        "tracing-subscriber",
        "necro-spine",
        "metrics-exporter-prometheus",
    ] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "necro-core depends on {banned}: {deps:?}"
        );
    }
}

#[test]
fn the_spine_the_backends_and_the_testkit_do_not_depend_on_each_other() {
    let spine = normal_deps("necro-spine");
    assert!(spine.iter().any(|d| d == "necro-core"), "{spine:?}");
    for banned in [
        "necro-backend-memory",
        "necro-backend-redis",
        "necro-observe",
        "fred",
    ] {
        assert!(
            !spine.iter().any(|d| d == banned),
            "necro-spine depends on {banned}"
        );
    }
    let memory = normal_deps("necro-backend-memory");
    for banned in [
        "necro-spine",
        "necro-backend-redis",
        "fred",
        "necro-observe",
    ] {
        assert!(
            !memory.iter().any(|d| d == banned),
            "necro-backend-memory depends on {banned}"
        );
    }
    let testkit = normal_deps("necro-testkit");
    assert!(testkit.iter().any(|d| d == "necro-core"), "{testkit:?}");
    for banned in [
        "necro-backend-memory",
        "necro-backend-redis",
        "necro-spine",
        "necro-observe",
        "fred",
    ] {
        assert!(
            !testkit.iter().any(|d| d == banned),
            "necro-testkit depends on {banned}: the conformance suite knows no backend"
        );
    }
    // The organ harness (feature `harness`) runs organs on the spine over the in-memory
    // backend, and nothing more.
    let harness = normal_deps_with("necro-testkit", &["--features", "harness"]);
    for needed in ["necro-spine", "necro-backend-memory"] {
        assert!(harness.iter().any(|d| d == needed), "{harness:?}");
    }
    for banned in ["necro-backend-redis", "necro-observe", "fred"] {
        assert!(
            !harness.iter().any(|d| d == banned),
            "necro-testkit's harness depends on {banned}"
        );
    }
    let redis = normal_deps("necro-backend-redis");
    for banned in ["necro-spine", "necro-backend-memory", "necro-observe"] {
        assert!(
            !redis.iter().any(|d| d == banned),
            "necro-backend-redis depends on {banned}"
        );
    }
}

#[test]
fn only_necro_observe_depends_on_opentelemetry_and_only_behind_its_feature() {
    let is_otel = |d: &String| d.starts_with("opentelemetry") || d == "tracing-opentelemetry";
    for package in [
        "necro-core",
        "necro-spine",
        "necro-backend-memory",
        "necro-backend-redis",
        "necro-testkit",
    ] {
        let deps = normal_deps_with(package, &["--all-features"]);
        let otel: Vec<&String> = deps.iter().filter(|d| is_otel(d)).collect();
        assert!(otel.is_empty(), "{package} depends on {otel:?}");
    }
    let observe = normal_deps("necro-observe");
    assert!(
        !observe.iter().any(is_otel),
        "necro-observe without `otel` depends on OpenTelemetry: {observe:?}"
    );
    let with_otel = normal_deps_with("necro-observe", &["--features", "otel"]);
    for needed in ["opentelemetry-otlp", "tracing-opentelemetry"] {
        assert!(with_otel.iter().any(|d| d == needed), "{with_otel:?}");
    }
    // The exporter's transport is async (hyper), never a blocking client.
    assert!(
        !with_otel.iter().any(|d| d == "reqwest"),
        "the OTLP exporter pulls reqwest: {with_otel:?}"
    );
}
