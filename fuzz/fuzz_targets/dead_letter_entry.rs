//! Reading an entry of the dead-letter stream, whoever wrote it (Python, an older version, an
//! attacker), as `necro dlq` does. Input: `name NUL value NUL …`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    necro_backend_redis::fuzzing::dead_letter_entry_bytes(data);
});
