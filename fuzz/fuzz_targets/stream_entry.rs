//! Decoding a main-stream entry into a delivery or a dead-letter record, and reading that
//! dead letter back. Input: the first byte is the delivery count (mod 8), then the fields as
//! `name NUL value NUL name NUL value …` (see `necro_backend_redis::fuzzing::split_fields`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    necro_backend_redis::fuzzing::stream_entry_bytes(data);
});
