//! Parsing an event from JSON (`Event::from_json_slice`, what a pull does with an entry's
//! `event` field): never panics, and what parses survives a round trip through `to_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    necro_backend_redis::fuzzing::event_json(data);
});
