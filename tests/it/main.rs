//! The facade's (wengert) integration tests, one module per file, built as one test binary: the
//! library's generic code is compiled and linked once instead of once per file, which keeps
//! the release-mode test build (`cargo test --workspace --release`) inside CI's time budget.
//! Run one file's tests with its module name as the filter, e.g. `cargo test --release -p
//! wengert --test it bad_input::`.

mod bad_input;
/// The tests of `examples/ordinary_code.rs` (gradient by reverse mode, forward mode and finite
/// differences agree; the run exercises step rejection and the end stops), which
/// `cargo test --workspace` would not run: examples' own tests are not run by default.
#[allow(dead_code)]
#[path = "../../examples/ordinary_code.rs"]
mod ordinary_code_example;
