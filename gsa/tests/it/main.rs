//! gsa's integration tests, one module per file, built as one test binary: the
//! library's generic code is compiled and linked once instead of once per file, which keeps
//! the release-mode test build (`cargo test --workspace --release`) inside CI's time budget.
//! Run one file's tests with its module name as the filter, e.g. `cargo test --release -p
//! gsa --test it dgsm_morris::`.

mod dgsm_morris;
mod efast;
mod ode_model;
mod properties;
mod sobol_analytic;
