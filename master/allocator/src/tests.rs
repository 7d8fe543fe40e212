//! Event-by-event unit tests. Each drives the allocator through its public
//! API and compares the offers of `allocate` as text, checking the internal
//! bookkeeping after every decision.

use std::time::Duration;

use strata_api::{AgentId, FrameworkId, Resources};

use crate::{Allocation, Allocator, AllocatorConfig, Time};

fn res(s: &str) -> Resources {
    s.parse().unwrap()
}

fn agent(s: &str) -> AgentId {
    AgentId::from(s)
}

fn fw(s: &str) -> FrameworkId {
    FrameworkId::from(s)
}

fn secs(s: u64) -> Time {
    Duration::from_secs(s)
}

fn allocator() -> Allocator {
    Allocator::new(AllocatorConfig::default())
}

/// Runs `allocate(now)` and renders each allocation as
/// `"agent -> framework: resources"`.
fn offers(a: &mut Allocator, now: Time) -> Vec<String> {
    let out = a.allocate(now);
    a.assert_consistent();
    assert_eq!(a.expired_filters(now), 0, "expired filters kept");
    out.iter()
        .map(
            |Allocation {
                 framework_id,
                 agent_id,
                 resources,
                 ..
             }| { format!("{agent_id} -> {framework_id}: {resources}") },
        )
        .collect()
}

/// An allocator with `agents` agents `a0..` of `cpus:4;mem:4096` and the
/// given frameworks, all subscribed.
fn cluster(agents: usize, frameworks: &[&str]) -> Allocator {
    let mut a = allocator();
    for i in 0..agents {
        a.add_agent(agent(&format!("a{i}")), res("cpus:4;mem:4096"), &[]);
    }
    for f in frameworks {
        a.add_framework(fw(f), &[]);
    }
    a
}

// === allocation and DRF ===

#[test]
fn an_agent_goes_wholly_to_the_only_framework() {
    let mut a = cluster(1, &["f1"]);
    assert_eq!(offers(&mut a, secs(0)), ["a0 -> f1: cpus:4;mem:4096"]);
    assert_eq!(a.agent_free(&agent("a0")), Some(Resources::new()));
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:4;mem:4096"));
    assert_eq!(a.framework_share(&fw("f1")), 1.0);
    // Nothing is left to offer.
    assert!(offers(&mut a, secs(1)).is_empty());
}

#[test]
fn no_frameworks_means_no_offers_and_nothing_allocated() {
    let mut a = cluster(3, &[]);
    assert!(offers(&mut a, secs(0)).is_empty());
    assert_eq!(a.allocated(), Resources::new());
    assert_eq!(a.total(), res("cpus:12;mem:12288"));
}

#[test]
fn frameworks_with_equal_demand_alternate() {
    let mut a = cluster(6, &["f2", "f1"]);
    assert_eq!(
        offers(&mut a, secs(0)),
        [
            "a0 -> f1: cpus:4;mem:4096",
            "a1 -> f2: cpus:4;mem:4096",
            "a2 -> f1: cpus:4;mem:4096",
            "a3 -> f2: cpus:4;mem:4096",
            "a4 -> f1: cpus:4;mem:4096",
            "a5 -> f2: cpus:4;mem:4096",
        ]
    );
    assert_eq!(a.framework_share(&fw("f1")), 0.5);
    assert_eq!(a.framework_share(&fw("f2")), 0.5);
}

#[test]
fn many_frameworks_over_many_agents_end_with_equal_shares() {
    let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut a = cluster(100, &refs);
    assert_eq!(offers(&mut a, secs(0)).len(), 100);
    for f in &refs {
        assert_eq!(a.framework_share(&fw(f)), 0.1, "{f}");
        assert_eq!(
            a.framework_allocated(&fw(f)),
            res("cpus:40;mem:40960"),
            "{f}"
        );
    }
}

#[test]
fn the_lowest_dominant_share_goes_first_whatever_the_resource() {
    // f1 already runs a cpu-heavy task (cpu share 0.5), f2 a memory-heavy one
    // (mem share 0.25): f2's dominant share is lower, so it is offered first,
    // and at 3996/8192 mem it is still below f1, so it gets a1 as well.
    let mut a = allocator();
    a.add_agent(agent("a0"), res("cpus:4;mem:4096"), &[]);
    a.add_agent(agent("a1"), res("cpus:4;mem:4096"), &[]);
    a.add_framework(fw("f1"), &[(agent("a0"), res("cpus:4;mem:100"))]);
    a.add_framework(fw("f2"), &[(agent("a0"), res("mem:2048"))]);
    assert_eq!(a.framework_share(&fw("f1")), 0.5);
    assert_eq!(a.framework_share(&fw("f2")), 0.25);
    assert_eq!(
        offers(&mut a, secs(0)),
        ["a0 -> f2: mem:1948", "a1 -> f2: cpus:4;mem:4096"]
    );
}

#[test]
fn shares_update_within_one_allocate_call() {
    // f1 starts ahead with half an agent; after f2 is given a0 it leads, so
    // f1 gets a1.
    let mut a = cluster(2, &["f1", "f2"]);
    a.recover(&agent("a0"), &fw("f1"), &res("cpus:1"), None);
    a.allocate_used(&agent("a0"), &fw("f1"), &res("cpus:1;mem:1024"));
    assert_eq!(
        offers(&mut a, secs(0)),
        ["a0 -> f2: cpus:3;mem:3072", "a1 -> f1: cpus:4;mem:4096"]
    );
}

#[test]
fn ports_are_offered_and_count_towards_shares_per_agent() {
    let mut a = allocator();
    for name in ["a0", "a1"] {
        a.add_agent(agent(name), res("cpus:1;mem:64;ports:[31000-31099]"), &[]);
    }
    a.add_framework(fw("f1"), &[]);
    assert_eq!(
        offers(&mut a, secs(0)),
        [
            "a0 -> f1: cpus:1;mem:64;ports:[31000-31099]",
            "a1 -> f1: cpus:1;mem:64;ports:[31000-31099]",
        ]
    );
    a.recover(&agent("a1"), &fw("f1"), &res("cpus:1;mem:64"), None);
    // f1 holds 100 of the 200 ports in the cluster, though both agents'
    // ports merge into one range set in the totals.
    assert_eq!(a.framework_share(&fw("f1")), 1.0);
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:1;mem:64;ports:[31000-31049]"),
        None,
    );
    assert_eq!(a.framework_share(&fw("f1")), 0.75);
    assert_eq!(a.total(), res("cpus:2;mem:128;ports:[31000-31099]"));
}

#[test]
fn agents_below_the_minimum_are_not_offered() {
    let mut a = allocator();
    a.add_agent(agent("tiny"), res("cpus:0.005;mem:31;disk:1000"), &[]);
    a.add_agent(agent("cpu"), res("cpus:0.01"), &[]);
    a.add_agent(agent("mem"), res("mem:32"), &[]);
    a.add_agent(agent("ports"), res("ports:[1-1000]"), &[]);
    a.add_framework(fw("f1"), &[]);
    assert_eq!(
        offers(&mut a, secs(0)),
        ["cpu -> f1: cpus:0.01", "mem -> f1: mem:32"]
    );

    let mut zero = Allocator::new(AllocatorConfig {
        min_allocatable_cpus: 0.0,
        min_allocatable_mem: 0.0,
        ..AllocatorConfig::default()
    });
    zero.add_agent(agent("empty"), Resources::new(), &[]);
    zero.add_agent(agent("ports"), res("ports:[1-10]"), &[]);
    zero.add_framework(fw("f1"), &[]);
    // With no minimum anything non-empty is offered, but never nothing.
    assert_eq!(offers(&mut zero, secs(0)), ["ports -> f1: ports:[1-10]"]);
}

#[test]
fn allocation_is_deterministic() {
    let run = || {
        let mut a = cluster(20, &["x", "b", "m", "c"]);
        let first = offers(&mut a, secs(0));
        assert_eq!(a.allocate(secs(0)), []);
        a.recover(
            &agent("a3"),
            &fw("b"),
            &res("cpus:4;mem:4096"),
            Some(secs(5)),
        );
        a.recover(&agent("a7"), &fw("m"), &res("cpus:2"), None);
        (first, offers(&mut a, secs(1)))
    };
    assert_eq!(run(), run());
}

// === suppress and revive ===

#[test]
fn a_suppressed_framework_is_not_offered_until_revived() {
    let mut a = cluster(2, &["f1", "f2"]);
    a.suppress(&fw("f1"));
    assert_eq!(
        offers(&mut a, secs(0)),
        ["a0 -> f2: cpus:4;mem:4096", "a1 -> f2: cpus:4;mem:4096"]
    );
    a.recover(&agent("a0"), &fw("f2"), &res("cpus:4;mem:4096"), None);
    a.suppress(&fw("f2"));
    assert!(offers(&mut a, secs(1)).is_empty());
    a.revive(&fw("f1"));
    assert_eq!(offers(&mut a, secs(2)), ["a0 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn suppression_keeps_the_allocation() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.suppress(&fw("f1"));
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:4;mem:4096"));
    assert_eq!(a.framework_share(&fw("f1")), 1.0);
}

#[test]
fn revive_clears_filters() {
    let mut a = cluster(2, &["f1"]);
    assert_eq!(offers(&mut a, secs(0)).len(), 2);
    for name in ["a0", "a1"] {
        a.recover(
            &agent(name),
            &fw("f1"),
            &res("cpus:4;mem:4096"),
            Some(secs(100)),
        );
    }
    assert!(offers(&mut a, secs(1)).is_empty());
    a.revive(&fw("f1"));
    assert_eq!(
        offers(&mut a, secs(2)),
        ["a0 -> f1: cpus:4;mem:4096", "a1 -> f1: cpus:4;mem:4096"]
    );
}

#[test]
fn revive_clears_only_that_frameworks_filters() {
    let mut a = cluster(1, &["f1", "f2"]);
    assert_eq!(offers(&mut a, secs(0)), ["a0 -> f1: cpus:4;mem:4096"]);
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(100)),
    );
    a.revive(&fw("f2"));
    assert_eq!(offers(&mut a, secs(1)), ["a0 -> f2: cpus:4;mem:4096"]);
    a.recover(&agent("a0"), &fw("f2"), &res("cpus:4;mem:4096"), None);
    // Reviving an unsuppressed framework still clears its filters: f1 wins
    // the tie at share 0 by id.
    a.revive(&fw("f1"));
    assert_eq!(offers(&mut a, secs(2)), ["a0 -> f1: cpus:4;mem:4096"]);
}

// === filters ===

#[test]
fn a_filter_holds_until_it_expires() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(5)),
    );
    assert!(offers(&mut a, secs(1)).is_empty());
    assert!(offers(&mut a, Duration::from_millis(4999)).is_empty());
    // Expiry is exclusive: at `until` the filter no longer applies.
    assert_eq!(offers(&mut a, secs(5)), ["a0 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn expired_filters_are_dropped() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(5)),
    );
    a.suppress(&fw("f1"));
    // Nothing is offered (suppressed), but the filter is dropped at 6s...
    assert!(offers(&mut a, secs(6)).is_empty());
    a.revive(&fw("f1"));
    // ...so an allocate at an earlier `now` cannot resurrect it.
    a.suppress(&fw("f1"));
    a.activate_framework(&fw("f1"));
    a.revive(&fw("f1"));
    assert_eq!(offers(&mut a, secs(6)).len(), 1);
}

#[test]
fn a_filter_refuses_only_subsets_of_what_was_declined() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    // f1 keeps one cpu and 1 GB for a task and declines the rest for 10s.
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:3;mem:3072"),
        Some(secs(10)),
    );
    assert!(offers(&mut a, secs(1)).is_empty());
    // The task finishes: the free pool is now larger than what was declined.
    a.recover(&agent("a0"), &fw("f1"), &res("cpus:1;mem:1024"), None);
    assert_eq!(offers(&mut a, secs(2)), ["a0 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn a_filter_is_per_framework_and_agent() {
    let mut a = cluster(2, &["f1", "f2"]);
    assert_eq!(
        offers(&mut a, secs(0)),
        ["a0 -> f1: cpus:4;mem:4096", "a1 -> f2: cpus:4;mem:4096"]
    );
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(10)),
    );
    // f1 now has the lower share but is filtered on a0: f2 gets it.
    assert_eq!(offers(&mut a, secs(1)), ["a0 -> f2: cpus:4;mem:4096"]);
    a.recover(&agent("a1"), &fw("f2"), &res("cpus:4;mem:4096"), None);
    // f1 is not filtered on a1.
    assert_eq!(offers(&mut a, secs(2)), ["a1 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn repeated_declines_extend_the_filter() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(5)),
    );
    assert_eq!(offers(&mut a, secs(5)).len(), 1);
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(20)),
    );
    assert!(offers(&mut a, secs(19)).is_empty());
    assert_eq!(offers(&mut a, secs(20)).len(), 1);
}

#[test]
fn deactivation_drops_a_frameworks_filters() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(100)),
    );
    a.deactivate_framework(&fw("f1"));
    a.activate_framework(&fw("f1"));
    assert_eq!(offers(&mut a, secs(1)).len(), 1);
}

// === activation ===

#[test]
fn a_deactivated_framework_keeps_its_allocation_and_gets_nothing() {
    let mut a = cluster(2, &["f1", "f2"]);
    assert_eq!(offers(&mut a, secs(0)).len(), 2);
    a.deactivate_framework(&fw("f1"));
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:4;mem:4096"));
    a.recover(&agent("a1"), &fw("f2"), &res("cpus:4;mem:4096"), None);
    a.add_agent(agent("a2"), res("cpus:4;mem:4096"), &[]);
    assert_eq!(
        offers(&mut a, secs(1)),
        ["a1 -> f2: cpus:4;mem:4096", "a2 -> f2: cpus:4;mem:4096"]
    );
    a.activate_framework(&fw("f1"));
    a.recover(&agent("a2"), &fw("f2"), &res("cpus:4;mem:4096"), None);
    assert_eq!(offers(&mut a, secs(2)), ["a2 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn a_deactivated_agent_keeps_its_accounting_and_is_not_offered() {
    let mut a = cluster(2, &["f1"]);
    a.deactivate_agent(&agent("a0"));
    assert_eq!(offers(&mut a, secs(0)), ["a1 -> f1: cpus:4;mem:4096"]);
    assert_eq!(a.total(), res("cpus:8;mem:8192"));
    assert_eq!(a.framework_share(&fw("f1")), 0.5);
    a.activate_agent(&agent("a0"));
    assert_eq!(offers(&mut a, secs(1)), ["a0 -> f1: cpus:4;mem:4096"]);
}

#[test]
fn add_framework_is_idempotent_and_reactivates() {
    let mut a = cluster(1, &["f1"]);
    let used = [(agent("a0"), res("cpus:1;mem:1024"))];
    a.add_framework(fw("f1"), &used);
    a.add_framework(fw("f1"), &used);
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:1;mem:1024"));
    a.deactivate_framework(&fw("f1"));
    a.add_framework(fw("f1"), &used);
    assert_eq!(offers(&mut a, secs(0)), ["a0 -> f1: cpus:3;mem:3072"]);
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:4;mem:4096"));
}

#[test]
fn re_adding_a_framework_keeps_it_suppressed() {
    let mut a = cluster(1, &["f1"]);
    a.suppress(&fw("f1"));
    a.add_framework(fw("f1"), &[]);
    assert!(offers(&mut a, secs(0)).is_empty());
}

// === removal ===

#[test]
fn remove_agent_shrinks_allocations_and_the_total() {
    let mut a = cluster(4, &["f1", "f2"]);
    assert_eq!(offers(&mut a, secs(0)).len(), 4);
    assert_eq!(a.framework_share(&fw("f1")), 0.5);
    a.remove_agent(&agent("a0"));
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:4;mem:4096"));
    assert_eq!(a.total(), res("cpus:12;mem:12288"));
    assert_eq!(a.allocated(), res("cpus:12;mem:12288"));
    assert_eq!(a.agent_free(&agent("a0")), None);
    assert_eq!(a.framework_share(&fw("f1")), 1.0 / 3.0);
    assert_eq!(a.framework_share(&fw("f2")), 2.0 / 3.0);
    // A later recover on the removed agent is a no-op.
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(9)),
    );
    assert!(offers(&mut a, secs(1)).is_empty());
}

#[test]
fn remove_framework_frees_everything_it_held() {
    let mut a = cluster(2, &["f1", "f2"]);
    offers(&mut a, secs(0));
    a.remove_framework(&fw("f1"));
    assert_eq!(a.agent_free(&agent("a0")), Some(res("cpus:4;mem:4096")));
    assert_eq!(a.framework_allocated(&fw("f1")), Resources::new());
    assert_eq!(a.framework_share(&fw("f1")), 0.0);
    assert_eq!(offers(&mut a, secs(1)), ["a0 -> f2: cpus:4;mem:4096"]);
}

#[test]
fn a_removed_framework_can_subscribe_afresh() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:4;mem:4096"),
        Some(secs(100)),
    );
    a.suppress(&fw("f1"));
    a.remove_framework(&fw("f1"));
    a.add_framework(fw("f1"), &[]);
    // Neither suppression nor the filter survived removal.
    assert_eq!(offers(&mut a, secs(1)).len(), 1);
}

// === recovery and used resources ===

#[test]
fn recover_returns_only_what_the_framework_holds() {
    let mut a = cluster(1, &["f1", "f2"]);
    a.allocate_used(&agent("a0"), &fw("f1"), &res("cpus:1;mem:1024"));
    a.allocate_used(&agent("a0"), &fw("f2"), &res("cpus:1;mem:1024"));
    // f1 claims back more than it holds, and a resource that does not exist.
    a.recover(
        &agent("a0"),
        &fw("f1"),
        &res("cpus:3;mem:9999;gpus:1"),
        None,
    );
    a.assert_consistent();
    assert_eq!(a.agent_free(&agent("a0")), Some(res("cpus:3;mem:3072")));
    assert_eq!(a.framework_allocated(&fw("f2")), res("cpus:1;mem:1024"));
}

#[test]
fn allocate_used_counts_only_what_is_free() {
    let mut a = cluster(1, &["f1", "f2"]);
    a.allocate_used(&agent("a0"), &fw("f1"), &res("cpus:3;mem:1024"));
    a.allocate_used(&agent("a0"), &fw("f2"), &res("cpus:3;mem:1024"));
    a.assert_consistent();
    assert_eq!(a.framework_allocated(&fw("f2")), res("cpus:1;mem:1024"));
    assert_eq!(a.agent_free(&agent("a0")), Some(res("mem:2048")));
}

#[test]
fn used_resources_of_a_framework_not_yet_subscribed_count_and_are_not_offered() {
    let mut a = allocator();
    a.add_agent(
        agent("a0"),
        res("cpus:4;mem:4096"),
        &[
            (fw("old"), res("cpus:1;mem:512")),
            (fw("old"), res("cpus:1;mem:512")),
        ],
    );
    a.assert_consistent();
    assert_eq!(a.framework_allocated(&fw("old")), res("cpus:2;mem:1024"));
    assert!(offers(&mut a, secs(0)).is_empty());
    // Re-subscribing with the same tasks does not count them twice.
    a.add_framework(fw("old"), &[(agent("a0"), res("cpus:2;mem:1024"))]);
    assert_eq!(a.framework_allocated(&fw("old")), res("cpus:2;mem:1024"));
    assert_eq!(offers(&mut a, secs(1)), ["a0 -> old: cpus:2;mem:3072"]);
}

#[test]
fn a_framework_known_only_by_its_tasks_is_forgotten_when_they_end() {
    let mut a = allocator();
    a.add_agent(
        agent("a0"),
        res("cpus:4;mem:4096"),
        &[(fw("old"), res("cpus:1"))],
    );
    a.recover(&agent("a0"), &fw("old"), &res("cpus:1"), Some(secs(10)));
    a.assert_consistent();
    assert_eq!(a.framework_allocated(&fw("old")), Resources::new());
    // Forgotten: it is unknown again, so allocate_used ignores it.
    a.allocate_used(&agent("a0"), &fw("old"), &res("cpus:1"));
    assert_eq!(a.agent_free(&agent("a0")), Some(res("cpus:4;mem:4096")));
    // Subscribing is unaffected by the recover's refuse_until.
    a.add_framework(fw("old"), &[]);
    assert_eq!(offers(&mut a, secs(1)).len(), 1);
}

#[test]
fn used_beyond_the_total_is_not_counted() {
    let mut a = allocator();
    a.add_agent(
        agent("a0"),
        res("cpus:2;mem:1024;ports:[1-10]"),
        &[
            (fw("f1"), res("cpus:3;ports:[5-20]")),
            (fw("f2"), res("mem:100;ports:[1-6]")),
        ],
    );
    a.assert_consistent();
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:2;ports:[5-10]"));
    assert_eq!(a.framework_allocated(&fw("f2")), res("mem:100;ports:[1-4]"));
}

#[test]
fn re_adding_an_agent_replaces_its_total_and_trims_allocations() {
    let mut a = cluster(1, &["f1", "f2"]);
    a.allocate_used(&agent("a0"), &fw("f1"), &res("cpus:2;mem:1024"));
    a.allocate_used(&agent("a0"), &fw("f2"), &res("cpus:2;mem:1024"));
    a.deactivate_agent(&agent("a0"));
    a.add_agent(agent("a0"), res("cpus:3;mem:4096"), &[]);
    a.assert_consistent();
    assert_eq!(a.total(), res("cpus:3;mem:4096"));
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:2;mem:1024"));
    assert_eq!(a.framework_allocated(&fw("f2")), res("cpus:1;mem:1024"));
    // Re-adding activates the agent.
    assert_eq!(offers(&mut a, secs(0)), ["a0 -> f2: mem:2048"]);
}

#[test]
fn re_adding_an_agent_merges_used_without_double_counting() {
    let mut a = cluster(1, &["f1"]);
    a.allocate_used(&agent("a0"), &fw("f1"), &res("cpus:1;mem:1024"));
    a.add_agent(
        agent("a0"),
        res("cpus:4;mem:4096"),
        &[(fw("f1"), res("cpus:2;mem:1024"))],
    );
    a.assert_consistent();
    assert_eq!(a.framework_allocated(&fw("f1")), res("cpus:2;mem:1024"));
}

#[test]
fn unknown_ids_are_no_ops() {
    let mut a = cluster(1, &["f1"]);
    offers(&mut a, secs(0));
    let before = format!("{a:?}");
    let (ga, gf) = (agent("ghost"), fw("ghost"));
    let r = res("cpus:1;mem:1");
    a.remove_agent(&ga);
    a.deactivate_agent(&ga);
    a.activate_agent(&ga);
    a.remove_framework(&gf);
    a.deactivate_framework(&gf);
    a.activate_framework(&gf);
    a.suppress(&gf);
    a.revive(&gf);
    a.recover(&ga, &fw("f1"), &r, Some(secs(1)));
    a.recover(&agent("a0"), &gf, &r, Some(secs(1)));
    a.recover(&ga, &gf, &r, None);
    a.allocate_used(&ga, &fw("f1"), &r);
    a.allocate_used(&agent("a0"), &gf, &r);
    a.add_framework(fw("f1"), &[(ga.clone(), r.clone())]);
    assert_eq!(format!("{a:?}"), before);
    assert_eq!(a.framework_allocated(&gf), Resources::new());
    assert_eq!(a.framework_share(&gf), 0.0);
    assert_eq!(a.agent_free(&ga), None);
    a.assert_consistent();
}
