//! Construction: defaults, validation, the builder.

use necro_backend_memory::{
    DEFAULT_MAX_DELIVERIES, MemoryBackend, MemoryBuildError, MemoryDeadLetters,
};

#[test]
fn new_and_default_are_unbounded_with_default_settings() {
    for backend in [MemoryBackend::new(), MemoryBackend::default()] {
        assert_eq!(backend.capacity(), None);
        assert_eq!(backend.max_deliveries(), DEFAULT_MAX_DELIVERIES);
        assert_eq!(backend.max_deliveries(), 3);
        assert_eq!(backend.dead_letters().capacity(), 10_000);
        assert!(backend.is_idle());
        assert!(backend.is_empty());
        assert!(!backend.is_closed());
    }
}

#[test]
fn bounded_sets_the_capacity_and_refuses_zero() {
    assert_eq!(MemoryBackend::bounded(7).unwrap().capacity(), Some(7));
    assert_eq!(
        MemoryBackend::bounded(0).unwrap_err(),
        MemoryBuildError::ZeroCapacity
    );
}

#[test]
fn the_builder_validates_at_build() {
    assert_eq!(
        MemoryBackend::builder().capacity(0).build().unwrap_err(),
        MemoryBuildError::ZeroCapacity
    );
    assert_eq!(
        MemoryBackend::builder()
            .max_deliveries(0)
            .build()
            .unwrap_err(),
        MemoryBuildError::ZeroMaxDeliveries
    );
    let store = MemoryDeadLetters::new(4).unwrap();
    let backend = MemoryBackend::builder()
        .capacity(10)
        .max_deliveries(5)
        .dead_letters(store.clone())
        .build()
        .unwrap();
    assert_eq!(backend.capacity(), Some(10));
    assert_eq!(backend.max_deliveries(), 5);
    assert_eq!(backend.dead_letters().capacity(), 4);
}

#[test]
fn clones_share_one_queue() {
    let backend = MemoryBackend::new();
    let clone = backend.clone();
    clone.close();
    assert!(backend.is_closed());
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        MemoryBuildError::ZeroCapacity.to_string(),
        "queue capacity must be at least 1"
    );
    let debug = format!("{:?}", MemoryBackend::bounded(3).unwrap());
    assert!(debug.contains("capacity: Some(3)"), "{debug}");
}
