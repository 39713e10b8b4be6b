//! Address handling: loopback by default, a typed error for an address in use or no runtime.
use std::net::{SocketAddr, TcpListener};

use necro_observe::{DEFAULT_ADDR, Metrics, ObserveError};

#[test]
fn default_address_is_loopback() {
    assert!(DEFAULT_ADDR.ip().is_loopback());
}

#[tokio::test]
async fn address_in_use_is_a_typed_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let metrics = Metrics::new().listen(addr);
    let (_recorder, handle) = metrics.build();
    let err = metrics.serve(handle).unwrap_err();
    match err {
        ObserveError::AddrInUse { addr: a, .. } => assert_eq!(a, addr),
        other => panic!("expected AddrInUse, got {other:?}"),
    }
}

#[test]
fn serving_outside_a_runtime_is_a_typed_error() {
    let metrics = Metrics::new().listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    let (_recorder, handle) = metrics.build();
    let err = metrics.serve(handle).unwrap_err();
    assert!(matches!(err, ObserveError::NoRuntime(_)), "{err:?}");
}
