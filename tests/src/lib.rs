//! End-to-end test harness for Strata: real `strata master` / `strata agent` processes on
//! loopback ports, driven by real clients (the pymesos scenario scripts under `tests/python/`)
//! and by plain HTTP.
//!
//! This crate owns process orchestration for tests ([`TestCluster`]), a tiny blocking HTTP/1.1
//! client ([`http`]), the pymesos scenario runner ([`python`]) and the skip-or-fail policy for
//! missing prerequisites ([`prereq`]). It deliberately depends on no strata crate: it sees the
//! system only through its binary and its public protocols, exactly as an operator or a
//! third-party framework does. The suites live in one test binary, `tests/e2e/`.

pub mod cluster;
pub mod http;
pub mod paths;
pub mod prereq;
pub mod python;

pub use cluster::{ClusterConfig, TestCluster};
