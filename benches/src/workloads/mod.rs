//! The workloads of BENCHMARKS.md. Each module defines the problem once (generic over
//! `S: ad_core::Real` where the method is ours) and lists its methods.

mod lv;
pub mod w1;
pub mod w2;
pub mod w3;
pub mod w4;
pub mod w6;
pub mod w7;

use crate::Workload;

/// Every implemented workload, in suite order.
pub fn all() -> Vec<Workload> {
    vec![
        w1::workload(),
        w2::workload(),
        w2::workload_sparse(),
        w3::workload(),
        w4::workload(),
        w6::workload(),
        w7::workload(),
    ]
}

/// The workload called `name` (case-insensitive), if implemented.
pub fn find(name: &str) -> Option<Workload> {
    all()
        .into_iter()
        .find(|w| w.name.eq_ignore_ascii_case(name))
}
