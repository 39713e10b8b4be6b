//! The live page's query string (`GET /?dlq_organ=…&dlq_kind=…&dlq_after=…`, the dead-letter
//! section's filters, cursor and status line): never panics, and a query the page accepts
//! gives a link the page reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    necro_observe::fuzzing::live_query(data);
});
