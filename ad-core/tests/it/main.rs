//! ad-core's integration tests, one module per file, built as one test binary: the
//! library's generic code is compiled and linked once instead of once per file, which keeps
//! the release-mode test build (`cargo test --workspace --release`) inside CI's time budget.
//! Run one file's tests with its module name as the filter, e.g. `cargo test --release -p
//! ad-core --test it array::`.

mod common;

mod array;
mod array_map;
mod blocks;
mod checkpointing;
mod derivative_table;
mod drivers;
mod fallible;
mod ordinary_code;
mod reentrance;
mod second_order;
mod sparsity;
mod trace;
mod trace_programs;
