//! Runs the tests of `examples/ordinary_code.rs` (gradient by reverse mode, forward mode and
//! finite differences agree; the run exercises step rejection and the end stops) as part of
//! `cargo test --workspace`, which does not run examples' own tests.

#[allow(dead_code)]
#[path = "../examples/ordinary_code.rs"]
mod ordinary_code;
