//! Property tests: random sequences of events over a handful of agents and
//! frameworks (so ids collide, repeat and go unknown), checking after every
//! step that the bookkeeping adds up and that every offer respects
//! suppression, activation and unexpired filters.

use std::time::Duration;

use proptest::prelude::*;
use strata_api::{AgentId, FrameworkId, Range, Resources};

use crate::{Allocation, Allocator, AllocatorConfig, Time};

const AGENTS: u8 = 5;
const FRAMEWORKS: u8 = 5;

#[derive(Debug, Clone)]
enum Op {
    AddAgent(u8, Resources, Vec<(u8, Resources)>),
    RemoveAgent(u8),
    DeactivateAgent(u8),
    ActivateAgent(u8),
    AddFramework(u8, Vec<(u8, Resources)>),
    RemoveFramework(u8),
    DeactivateFramework(u8),
    ActivateFramework(u8),
    Suppress(u8),
    Revive(u8),
    /// Recovers part of an earlier allocation: its resources minus the
    /// second field (the part the framework keeps for tasks).
    RecoverOffer(prop::sample::Index, Resources, Option<u64>),
    /// Recovers arbitrary resources for any ids, known or not.
    RecoverAny(u8, u8, Resources, Option<u64>),
    AllocateUsed(u8, u8, Resources),
    /// Advances the clock by this many milliseconds and allocates.
    Allocate(u64),
}

fn agent(i: u8) -> AgentId {
    AgentId(format!("a{i}"))
}

fn fw(i: u8) -> FrameworkId {
    FrameworkId(format!("f{i}"))
}

fn arb_resources() -> impl Strategy<Value = Resources> {
    (
        0u32..=8,
        0u32..=4,
        prop::option::of((0u64..40, 0u64..20)),
        prop::option::of(0u32..3),
    )
        .prop_map(|(half_cpus, gb, ports, gpus)| {
            let mut r = Resources::new()
                .with_scalar("cpus", f64::from(half_cpus) / 2.0)
                .with_scalar("mem", f64::from(gb) * 1024.0);
            if let Some((begin, len)) = ports {
                r.add_range(
                    "ports",
                    Range {
                        begin,
                        end: begin + len,
                    },
                );
            }
            if let Some(g) = gpus {
                r.add_scalar("gpus", f64::from(g));
            }
            r
        })
}

fn arb_refuse() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(0u64..3000)
}

fn arb_op() -> impl Strategy<Value = Op> {
    let a = || 0..AGENTS;
    let f = || 0..FRAMEWORKS;
    prop_oneof![
        3 => (a(), arb_resources(), prop::collection::vec((f(), arb_resources()), 0..3))
            .prop_map(|(a, t, u)| Op::AddAgent(a, t, u)),
        1 => a().prop_map(Op::RemoveAgent),
        1 => a().prop_map(Op::DeactivateAgent),
        1 => a().prop_map(Op::ActivateAgent),
        3 => (f(), prop::collection::vec((a(), arb_resources()), 0..3))
            .prop_map(|(f, u)| Op::AddFramework(f, u)),
        1 => f().prop_map(Op::RemoveFramework),
        1 => f().prop_map(Op::DeactivateFramework),
        1 => f().prop_map(Op::ActivateFramework),
        1 => f().prop_map(Op::Suppress),
        1 => f().prop_map(Op::Revive),
        5 => (any::<prop::sample::Index>(), arb_resources(), arb_refuse())
            .prop_map(|(i, k, r)| Op::RecoverOffer(i, k, r)),
        1 => (a(), f(), arb_resources(), arb_refuse())
            .prop_map(|(a, f, r, t)| Op::RecoverAny(a, f, r, t)),
        1 => (a(), f(), arb_resources()).prop_map(|(a, f, r)| Op::AllocateUsed(a, f, r)),
        5 => (0u64..2000).prop_map(Op::Allocate),
    ]
}

/// What the test believes about filters, kept independently of the allocator:
/// `(agent, framework, refused, until)`, dropped only by the events that are
/// documented to drop them.
#[derive(Default)]
struct Model {
    now: Time,
    filters: Vec<(AgentId, FrameworkId, Resources, Time)>,
    /// Every allocation made so far, for `RecoverOffer` to pick from.
    offers: Vec<Allocation>,
}

impl Model {
    fn refused(&self, agent: &AgentId, framework: &FrameworkId, offer: &Resources) -> bool {
        self.filters.iter().any(|(a, f, r, until)| {
            a == agent && f == framework && self.now < *until && r.contains(offer)
        })
    }

    fn drop_framework_filters(&mut self, framework: &FrameworkId) {
        self.filters.retain(|(_, f, _, _)| f != framework);
    }

    fn recover(
        &mut self,
        alloc: &mut Allocator,
        agent: &AgentId,
        framework: &FrameworkId,
        resources: &Resources,
        refuse_ms: Option<u64>,
    ) {
        let until = refuse_ms.map(|ms| self.now + Duration::from_millis(ms));
        if let Some(until) = until {
            if alloc.accepts_filters(agent, framework) {
                self.filters
                    .push((agent.clone(), framework.clone(), resources.clone(), until));
            }
        }
        alloc.recover(agent, framework, resources, until);
    }
}

fn apply(alloc: &mut Allocator, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::AddAgent(a, total, used) => {
            let used: Vec<_> = used.iter().map(|(f, r)| (fw(*f), r.clone())).collect();
            alloc.add_agent(agent(*a), total.clone(), &used);
            prop_assert!(alloc.is_agent_active(&agent(*a)));
        }
        Op::RemoveAgent(a) => {
            alloc.remove_agent(&agent(*a));
            model.filters.retain(|(x, _, _, _)| *x != agent(*a));
            prop_assert_eq!(alloc.agent_free(&agent(*a)), None);
        }
        Op::DeactivateAgent(a) => alloc.deactivate_agent(&agent(*a)),
        Op::ActivateAgent(a) => alloc.activate_agent(&agent(*a)),
        Op::AddFramework(f, used) => {
            let used: Vec<_> = used.iter().map(|(a, r)| (agent(*a), r.clone())).collect();
            alloc.add_framework(fw(*f), &used);
        }
        Op::RemoveFramework(f) => {
            alloc.remove_framework(&fw(*f));
            model.drop_framework_filters(&fw(*f));
            prop_assert_eq!(alloc.framework_allocated(&fw(*f)), Resources::new());
        }
        Op::DeactivateFramework(f) => {
            alloc.deactivate_framework(&fw(*f));
            model.drop_framework_filters(&fw(*f));
            prop_assert!(!alloc.is_offerable(&fw(*f)));
        }
        Op::ActivateFramework(f) => alloc.activate_framework(&fw(*f)),
        Op::Suppress(f) => {
            alloc.suppress(&fw(*f));
            prop_assert!(!alloc.is_offerable(&fw(*f)));
        }
        Op::Revive(f) => {
            alloc.revive(&fw(*f));
            model.drop_framework_filters(&fw(*f));
        }
        Op::RecoverOffer(index, kept, refuse) => {
            if !model.offers.is_empty() {
                let offer = index.get(&model.offers).clone();
                let back = offer.resources.minus(kept);
                model.recover(alloc, &offer.agent_id, &offer.framework_id, &back, *refuse);
            }
        }
        Op::RecoverAny(a, f, r, refuse) => model.recover(alloc, &agent(*a), &fw(*f), r, *refuse),
        Op::AllocateUsed(a, f, r) => alloc.allocate_used(&agent(*a), &fw(*f), r),
        Op::Allocate(advance_ms) => {
            model.now += Duration::from_millis(*advance_ms);
            let now = model.now;
            let offerable: Vec<bool> = (0..FRAMEWORKS)
                .map(|f| alloc.is_offerable(&fw(f)))
                .collect();
            let active: Vec<bool> = (0..AGENTS)
                .map(|a| alloc.is_agent_active(&agent(a)))
                .collect();
            let free_before: Vec<Option<Resources>> =
                (0..AGENTS).map(|a| alloc.agent_free(&agent(a))).collect();
            let out = alloc.allocate(now);
            prop_assert_eq!(alloc.expired_filters(now), 0, "expired filters kept");
            let mut seen = Vec::new();
            for o in &out {
                let a: u8 = o.agent_id.as_str()[1..].parse().unwrap();
                let f: u8 = o.framework_id.as_str()[1..].parse().unwrap();
                prop_assert!(
                    offerable[f as usize],
                    "offered to unofferable {}",
                    o.framework_id
                );
                prop_assert!(active[a as usize], "offered inactive {}", o.agent_id);
                prop_assert!(!seen.contains(&a), "{} offered twice", o.agent_id);
                seen.push(a);
                prop_assert!(!o.resources.is_empty());
                prop_assert!(
                    o.resources.cpus() >= 0.01 || o.resources.mem() >= 32.0,
                    "below the minimum: {}",
                    o.resources
                );
                prop_assert_eq!(Some(&o.resources), free_before[a as usize].as_ref());
                prop_assert!(
                    !model.refused(&o.agent_id, &o.framework_id, &o.resources),
                    "{} offered {} on {} despite a filter",
                    o.framework_id,
                    o.resources,
                    o.agent_id
                );
            }
            // Nothing offerable is left behind: an active agent with enough
            // free resources is refused by every offerable framework.
            for a in 0..AGENTS {
                let Some(free) = alloc.agent_free(&agent(a)) else {
                    continue;
                };
                if !active[a as usize] || !(free.cpus() >= 0.01 || free.mem() >= 32.0) {
                    continue;
                }
                for f in 0..FRAMEWORKS {
                    prop_assert!(
                        !offerable[f as usize] || model.refused(&agent(a), &fw(f), &free),
                        "a{} left with {} though f{} could take it",
                        a,
                        free,
                        f
                    );
                }
            }
            model.offers.extend(out);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_events_keep_the_books_and_respect_filters(ops in prop::collection::vec(arb_op(), 1..80)) {
        let mut alloc = Allocator::new(AllocatorConfig::default());
        let mut model = Model::default();
        for op in &ops {
            apply(&mut alloc, &mut model, op)?;
            alloc.assert_consistent();
            // Views agree with the books.
            let mut sum = Resources::new();
            for f in 0..FRAMEWORKS {
                let share = alloc.framework_share(&fw(f));
                prop_assert!((0.0..=1.0).contains(&share), "share {}", share);
                sum.add(&alloc.framework_allocated(&fw(f)));
            }
            prop_assert_eq!(sum, alloc.allocated());
            prop_assert!(alloc.total().contains(&alloc.allocated()));
        }
    }
}
