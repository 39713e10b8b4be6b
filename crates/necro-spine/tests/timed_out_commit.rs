//! The log line of a batch commit that timed out. Its own test binary: a `tracing`
//! subscriber set for one thread is not reliably seen by callsites that tests on other
//! threads of the same binary registered first.
mod support;

use std::time::Duration;

use necro_spine::{RunError, Spine};
use necro_testkit::fault::FaultError;
use support::{Captured, emits_b, ev, faulty, partition};

// Issue 10 item 8: a commit that timed out may still apply when the backend answers; the log
// says the outcome is unknown instead of promising a redelivery.
#[tokio::test(start_paused = true)]
async fn a_timed_out_commit_is_logged_as_of_unknown_outcome() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let backend = faulty();
    partition(
        backend.faults(),
        &FaultError::timeout(Duration::from_secs(2)),
    );
    let spine = Spine::builder(backend).organ(emits_b()).build().unwrap();
    spine.send(ev("A")).await.unwrap();
    let err = spine.run_until_drained().await.unwrap_err();
    assert!(matches!(err, RunError::Unsettled { .. }), "{err}");
    let text = logs.text();
    assert!(text.contains("batch commit timed out"), "{text}");
    assert!(text.contains("outcome is unknown"), "{text}");
    assert!(text.contains("appear twice"), "{text}");
    assert!(!text.contains("will be redelivered"), "{text}");
}
