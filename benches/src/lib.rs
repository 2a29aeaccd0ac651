//! Shared pieces of Wengert's benchmark suite: workload definitions and measurement helpers.
