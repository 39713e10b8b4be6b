//! Compile-fail cases of `#[derive(Payload)]`: each mistake is refused with a message that
//! points at the offending token (the expected output is in `tests/ui/*.stderr`).
//! Regenerate after an intended message change with `TRYBUILD=overwrite cargo test -p
//! necro-macros --test ui`.

#[test]
fn mistakes_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
