//! Allocator timings on Mesos's benchmark grid (after
//! `hierarchical_allocator_benchmarks.cpp` and MESOS-4694): agents in
//! {1k, 5k, 10k, 20k, 50k} x frameworks in {1, 100, 1k}; a quota grid with
//! 2,000 roles; the random sorter; and the allocator's resident memory at
//! 50,000 agents.
//!
//! Run with `cargo bench -p strata-master-allocator`. Plain wall-clock
//! timing; every figure is the best of a few runs on fresh allocators
//! (fewer for the largest cells). Agents have
//! `cpus:16;mem:65536;disk:100000;ports:[31000-32000]`.
//!
//! Columns:
//! * `setup`: adding every agent and framework;
//! * `full cycle`: the first `allocate`, which offers every agent;
//! * `add agent`, `decline`, `revive`: one event on the fully allocated
//!   cluster, then the allocation cycle it triggers (the master allocates
//!   after every batch of events); shown as `event + cycle`;
//! * `idle cycle`: an `allocate` with nothing free.
//!
//! Memory is measured in a child process (this binary re-run with
//! `STRATA_ALLOCATOR_BENCH_RSS` set), so that earlier cells do not inflate
//! it: `VmRSS` from `/proc/self/status` before and after building the
//! allocator, and after its first cycle with the returned offers still held.

use std::hint::black_box;
use std::time::{Duration, Instant};

use strata_api::{AgentId, FrameworkId, Resources};
use strata_master_allocator::{Allocation, Allocator, AllocatorConfig, SorterKind};

const RSS_ENV: &str = "STRATA_ALLOCATOR_BENCH_RSS";

fn agent_total() -> Resources {
    "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"
        .parse()
        .expect("valid resources")
}

fn agent_id(i: usize) -> AgentId {
    AgentId(format!("agent-{i:06}"))
}

fn framework_id(i: usize) -> FrameworkId {
    FrameworkId(format!("framework-{i:05}"))
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// How frameworks are placed in roles.
#[derive(Clone, Copy)]
enum Layout {
    /// All in `*`, no quota.
    Default,
    /// One role per framework, each with a guarantee of a quarter agent's
    /// cpus and a limit of twice that.
    Quota,
    /// One role per framework, no quota.
    Roles,
}

struct Cell {
    setup: Duration,
    cycle: Duration,
    offers: usize,
    add_agent: (Duration, Duration),
    decline: (Duration, Duration),
    revive: (Duration, Duration),
    idle: Duration,
}

fn build(
    agents: usize,
    frameworks: usize,
    layout: Layout,
    sorter: SorterKind,
) -> (Allocator, Duration) {
    let total = agent_total();
    let mut alloc = Allocator::new(AllocatorConfig {
        sorter,
        ..AllocatorConfig::default()
    });
    let (setup, ()) = time(|| {
        for i in 0..agents {
            alloc.add_agent(agent_id(i), total.clone(), &[]);
        }
        for i in 0..frameworks {
            match layout {
                Layout::Default => alloc.add_framework(framework_id(i), &[]),
                Layout::Quota | Layout::Roles => {
                    let role = format!("role-{i:05}");
                    if let Layout::Quota = layout {
                        alloc
                            .set_quota(
                                &role,
                                "cpus:4".parse().expect("valid"),
                                Some("cpus:8".parse().expect("valid")),
                            )
                            .expect("quota fits the cluster");
                    }
                    alloc
                        .add_framework_with_roles(framework_id(i), &[role], &[])
                        .expect("valid role");
                }
            }
        }
    });
    (alloc, setup)
}

fn run(agents: usize, frameworks: usize, layout: Layout, sorter: SorterKind) -> Cell {
    let (mut alloc, setup) = build(agents, frameworks, layout, sorter);
    let mut now = Duration::from_secs(1);
    let (cycle, offers): (Duration, Vec<Allocation>) = time(|| alloc.allocate(now));

    // One new agent: the event, then the cycle that offers it.
    now += Duration::from_secs(1);
    let (event, ()) = time(|| alloc.add_agent(agent_id(agents), agent_total(), &[]));
    let (after, _) = time(|| black_box(alloc.allocate(now)));
    let add_agent = (event, after);

    // One framework declines one offer with the default filter; the cycle
    // offers it to somebody else.
    now += Duration::from_secs(1);
    let o = &offers[offers.len() / 2];
    let (event, ()) = time(|| {
        alloc.decline(
            &o.agent_id,
            &o.framework_id,
            &o.role,
            &o.tagged(),
            None,
            now,
        )
    });
    let (after, _) = time(|| black_box(alloc.allocate(now)));
    let decline = (event, after);

    // A framework with filters everywhere revives: its filters go and the
    // cycle has nothing free to offer it (the cost is the revive itself).
    now += Duration::from_secs(1);
    let fw = &offers[0].framework_id;
    let (event, ()) = time(|| alloc.revive(fw));
    let (after, _) = time(|| black_box(alloc.allocate(now)));
    let revive = (event, after);

    now += Duration::from_secs(1);
    let (idle, _) = time(|| black_box(alloc.allocate(now)));
    Cell {
        setup,
        cycle,
        offers: offers.len(),
        add_agent,
        decline,
        revive,
        idle,
    }
}

fn best(runs: usize, agents: usize, frameworks: usize, layout: Layout, sorter: SorterKind) -> Cell {
    let mut best = run(agents, frameworks, layout, sorter.clone());
    for _ in 1..runs {
        let c = run(agents, frameworks, layout, sorter.clone());
        let min2 = |a: (Duration, Duration), b: (Duration, Duration)| (a.0.min(b.0), a.1.min(b.1));
        best.setup = best.setup.min(c.setup);
        best.cycle = best.cycle.min(c.cycle);
        best.add_agent = min2(best.add_agent, c.add_agent);
        best.decline = min2(best.decline, c.decline);
        best.revive = min2(best.revive, c.revive);
        best.idle = best.idle.min(c.idle);
    }
    best
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn event(e: (Duration, Duration)) -> String {
    format!("{:.0} us + {}", e.0.as_secs_f64() * 1e6, ms(e.1))
}

fn row(name: &str, c: &Cell) {
    println!(
        "| {name} | {} | {} ({} offers) | {} | {} | {} | {} |",
        ms(c.setup),
        ms(c.cycle),
        c.offers,
        event(c.add_agent),
        event(c.decline),
        event(c.revive),
        ms(c.idle),
    );
}

fn header(first: &str) {
    println!(
        "| {first} | setup | full cycle | add agent (event + cycle) | decline (event + cycle) | revive (event + cycle) | idle cycle |"
    );
    println!("|---|---|---|---|---|---|---|");
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs in the child process: builds 50,000 agents x 1,000 frameworks and
/// prints the resident set at each step.
fn measure_rss() {
    let base = rss_kb();
    let (mut alloc, _) = build(50_000, 1_000, Layout::Default, SorterKind::Drf);
    let built = rss_kb();
    let offers = alloc.allocate(Duration::from_secs(1));
    let allocated = rss_kb();
    println!(
        "{} {} {} {}",
        base,
        built,
        allocated,
        black_box(offers).len()
    );
}

fn main() {
    if std::env::var_os(RSS_ENV).is_some() {
        measure_rss();
        return;
    }
    println!("## Allocator: one cycle and one event, agents x frameworks (weighted DRF, role *)\n");
    header("agents x frameworks");
    for agents in [1_000, 5_000, 10_000, 20_000, 50_000] {
        for frameworks in [1, 100, 1_000] {
            let runs = if agents >= 20_000 { 2 } else { 3 };
            let c = best(runs, agents, frameworks, Layout::Default, SorterKind::Drf);
            row(&format!("{agents} x {frameworks}"), &c);
        }
    }

    println!("\n## 2,000 roles (one framework each)\n");
    header("agents, roles");
    for agents in [1_000, 10_000, 20_000] {
        let c = best(2, agents, 2_000, Layout::Roles, SorterKind::Drf);
        row(&format!("{agents}, 2000 roles, no quota"), &c);
        let c = best(2, agents, 2_000, Layout::Quota, SorterKind::Drf);
        row(&format!("{agents}, 2000 roles with quota"), &c);
    }

    println!("\n## Random sorter\n");
    header("agents x frameworks");
    let c = best(
        3,
        10_000,
        1_000,
        Layout::Default,
        SorterKind::Random { seed: 42 },
    );
    row("10000 x 1000 (random)", &c);

    println!("\n## Resident memory at 50,000 agents x 1,000 frameworks\n");
    let child = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).env(RSS_ENV, "1").output());
    match child {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let v: Vec<u64> = text
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [base, built, allocated, offers] = v.as_slice() {
                let mb = |kb: u64| kb as f64 / 1024.0;
                println!("| step | VmRSS | allocator's share |");
                println!("|---|---|---|");
                println!("| process start | {:.1} MB | |", mb(*base));
                println!(
                    "| 50,000 agents and 1,000 frameworks added | {:.1} MB | {:.1} MB |",
                    mb(*built),
                    mb(built - base)
                );
                println!(
                    "| after the first cycle, {offers} offers still held | {:.1} MB | {:.1} MB |",
                    mb(*allocated),
                    mb(allocated - base)
                );
            } else {
                println!("memory measurement failed: {text}");
            }
        }
        Err(e) => println!("memory measurement failed: {e}"),
    }
}
