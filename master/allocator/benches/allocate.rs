//! Allocation cycle timings at Mesos's benchmark scales (after
//! `hierarchical_allocator_benchmarks.cpp`): 1k agents x 100 frameworks and
//! 10k agents x 1k frameworks.
//!
//! Run with `cargo bench -p strata-master-allocator`. Plain wall-clock
//! timing; each figure is the best of a few runs on fresh allocators.

use std::hint::black_box;
use std::time::{Duration, Instant};

use strata_api::{AgentId, FrameworkId, Resources};
use strata_master_allocator::{Allocation, Allocator, AllocatorConfig};

const RUNS: usize = 3;

struct Timings {
    setup: Duration,
    first: Duration,
    first_offers: usize,
    recover: Duration,
    second: Duration,
    second_offers: usize,
    idle: Duration,
}

fn run(agents: usize, frameworks: usize) -> Timings {
    let total: Resources = "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
        .parse()
        .expect("valid resources");
    let mut alloc = Allocator::new(AllocatorConfig::default());

    let start = Instant::now();
    for i in 0..agents {
        alloc.add_agent(AgentId(format!("agent-{i:05}")), total.clone(), &[]);
    }
    for i in 0..frameworks {
        alloc.add_framework(FrameworkId(format!("framework-{i:04}")), &[]);
    }
    let setup = start.elapsed();

    let start = Instant::now();
    let offers: Vec<Allocation> = alloc.allocate(Duration::from_secs(1));
    let first = start.elapsed();
    let first_offers = offers.len();

    // Every other offer is declined with a 5 s filter, as a busy framework
    // with refuse_seconds would.
    let start = Instant::now();
    for offer in offers.iter().step_by(2) {
        alloc.recover(
            &offer.agent_id,
            &offer.framework_id,
            &offer.resources,
            Some(Duration::from_secs(6)),
        );
    }
    let recover = start.elapsed();

    let start = Instant::now();
    let second_offers = black_box(alloc.allocate(Duration::from_secs(2))).len();
    let second = start.elapsed();

    // Nothing free: the cost of a cycle that has nothing to do.
    let start = Instant::now();
    black_box(alloc.allocate(Duration::from_secs(3)));
    let idle = start.elapsed();

    Timings {
        setup,
        first,
        first_offers,
        recover,
        second,
        second_offers,
        idle,
    }
}

fn best(agents: usize, frameworks: usize) -> Timings {
    let mut best = run(agents, frameworks);
    for _ in 1..RUNS {
        let t = run(agents, frameworks);
        best.setup = best.setup.min(t.setup);
        best.first = best.first.min(t.first);
        best.recover = best.recover.min(t.recover);
        best.second = best.second.min(t.second);
        best.idle = best.idle.min(t.idle);
    }
    best
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    println!(
        "{:<22} {:>11} {:>20} {:>22} {:>20} {:>11}",
        "scenario",
        "setup",
        "first allocate",
        "recover half (filter)",
        "allocate after",
        "idle cycle"
    );
    for (agents, frameworks) in [(1_000, 100), (10_000, 1_000)] {
        let t = best(agents, frameworks);
        println!(
            "{:<22} {:>11} {:>20} {:>22} {:>20} {:>11}",
            format!("{agents} agents x {frameworks} fw"),
            ms(t.setup),
            format!("{} ({} offers)", ms(t.first), t.first_offers),
            ms(t.recover),
            format!("{} ({} offers)", ms(t.second), t.second_offers),
            ms(t.idle),
        );
    }
}
