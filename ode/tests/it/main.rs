//! ode's integration tests, one module per file, built as one test binary: the
//! library's generic code is compiled and linked once instead of once per file, which keeps
//! the release-mode test build (`cargo test --workspace --release`) inside CI's time budget.
//! Run one file's tests with its module name as the filter, e.g. `cargo test --release -p
//! ode --test it checkpoints::`.

mod common;
mod stiff_zoo;

mod bdf_checkpoints;
mod checkpoints;
mod convergence;
mod custom_vjp;
mod ensemble;
mod equilibrium;
mod errors;
mod events;
mod linear_expm;
mod reproducible;
mod second_order;
mod sensitivities;
mod sparse_vjp;
mod stepper;
mod stiff_bdf;
mod stiff_discrete;
mod stiff_methods;
mod stiff_sensitivity;
mod stiff_sparse;
mod upwind;
mod w3;
