//! Scenario tests written as data: a scenario is a list of events in a small
//! language, the expected outcome is the transcript of every decision and
//! every refusal, as text. The bookkeeping invariants are checked after
//! every line.
//!
//! ```text
//! config sorter random 42            # before anything else
//! config min-allocatable cpus:1|gpus:1
//! agent a1 cpus:4;mem:4096;cpus(eng):1     # add_agent_with_reservations
//! remove-agent a1 | deactivate-agent a1 | activate-agent a1
//! framework f1                       # add_framework, role *
//! framework f1 roles eng ml          # add_framework_with_roles
//! remove-framework f1 | deactivate-framework f1 | activate-framework f1
//! role eng weight 2
//! quota eng cpus:2                   # guarantee
//! quota eng cpus:2 limit cpus:4      # guarantee and limit ("-" for no guarantee)
//! remove-quota eng
//! reserve a1 eng cpus:1 | unreserve a1 eng cpus:1
//! reserve-offered a1 f1 eng cpus:1 | unreserve-offered a1 f1 eng cpus:1
//! suppress f1 [roles..] | revive f1 [roles..]
//! decline f1 a1 [role] 5s            # everything f1 holds there; 5s | none | 1e12s | -1s
//! recover f1 a1 cpus:1               # the untyped recover, no filter
//! used a1 f1 eng cpus:1              # allocate_used_role
//! allocate @5s                       # prints the offers
//! starvation @10s                    # prints who waits how long
//! ```
//!
//! Offers print as `framework agent role resources`, reserved parts tagged
//! `cpus(eng):1`. Durations take `ms`, `s`, `m`, `h` and `d`.

use std::time::Duration;

use strata_api::{AgentId, FrameworkId, Resources, RoleResources};

use crate::{parse_min_allocatable, Allocator, AllocatorConfig, SorterKind, Starving, Time};

fn duration(s: &str) -> Duration {
    let number = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = match &s[number.len()..] {
        "" => "s",
        u => u,
    };
    let n: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("bad duration {s}"));
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => panic!("bad duration unit in {s}"),
    };
    Duration::from_secs_f64(n * scale)
}

fn at(word: &str) -> Time {
    duration(word.strip_prefix('@').unwrap_or(word))
}

fn res(s: &str) -> Resources {
    if s == "-" {
        return Resources::new();
    }
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn show(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 86400.0 && s % 86400.0 == 0.0 {
        format!("{}d", s / 86400.0)
    } else {
        format!("{s}s")
    }
}

/// Runs `scenario` and returns its transcript.
fn run(scenario: &str) -> String {
    let mut config = AllocatorConfig::default();
    let mut alloc: Option<Allocator> = None;
    let mut now = Time::ZERO;
    let mut out: Vec<String> = Vec::new();
    for line in scenario.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0] == "config" {
            assert!(alloc.is_none(), "config after the first event: {line}");
            match &words[1..] {
                ["sorter", "random", seed] => {
                    config.sorter = SorterKind::Random {
                        seed: seed.parse().unwrap(),
                    }
                }
                ["min-allocatable", spec] => {
                    config.min_allocatable_resources = parse_min_allocatable(spec).unwrap()
                }
                _ => panic!("bad config line: {line}"),
            }
            continue;
        }
        let a = alloc.get_or_insert_with(|| Allocator::new(config.clone()));
        let agent = |i: usize| AgentId::from(words[i]);
        let fw = |i: usize| FrameworkId::from(words[i]);
        let roles =
            |from: usize| -> Vec<String> { words[from..].iter().map(|w| w.to_string()).collect() };
        let result: Result<(), String> = match words.as_slice() {
            ["agent", id, total] => match total.parse::<RoleResources>() {
                Ok(total) => a
                    .add_agent_with_reservations(AgentId::from(*id), &total, &[])
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            ["remove-agent", _] => {
                a.remove_agent(&agent(1));
                Ok(())
            }
            ["deactivate-agent", _] => {
                a.deactivate_agent(&agent(1));
                Ok(())
            }
            ["activate-agent", _] => {
                a.activate_agent(&agent(1));
                Ok(())
            }
            ["framework", _] => {
                a.add_framework(fw(1), &[]);
                Ok(())
            }
            ["framework", _, "roles", ..] => a
                .add_framework_with_roles(fw(1), &roles(3), &[])
                .map_err(|e| e.to_string()),
            ["remove-framework", _] => {
                a.remove_framework(&fw(1));
                Ok(())
            }
            ["deactivate-framework", _] => {
                a.deactivate_framework(&fw(1));
                Ok(())
            }
            ["activate-framework", _] => {
                a.activate_framework(&fw(1));
                Ok(())
            }
            ["role", role, "weight", w] => a
                .set_weight(role, w.parse().unwrap())
                .map_err(|e| e.to_string()),
            ["quota", role, g] => a.set_quota(role, res(g), None).map_err(|e| e.to_string()),
            ["quota", role, g, "limit", l] => a
                .set_quota(role, res(g), Some(res(l)))
                .map_err(|e| e.to_string()),
            ["remove-quota", role] => a.remove_quota(role).map_err(|e| e.to_string()),
            ["reserve", _, role, r] => a
                .reserve(&agent(1), role, &res(r))
                .map_err(|e| e.to_string()),
            ["unreserve", _, role, r] => a
                .unreserve(&agent(1), role, &res(r))
                .map_err(|e| e.to_string()),
            ["reserve-offered", _, _, role, r] => a
                .reserve_allocated(&agent(1), &fw(2), role, &res(r))
                .map_err(|e| e.to_string()),
            ["unreserve-offered", _, _, role, r] => a
                .unreserve_allocated(&agent(1), &fw(2), role, &res(r))
                .map_err(|e| e.to_string()),
            ["suppress", _] => {
                a.suppress(&fw(1));
                Ok(())
            }
            ["suppress", _, ..] => a
                .suppress_roles(&fw(1), &roles(2))
                .map_err(|e| e.to_string()),
            ["revive", _] => {
                a.revive(&fw(1));
                Ok(())
            }
            ["revive", _, ..] => a.revive_roles(&fw(1), &roles(2)).map_err(|e| e.to_string()),
            ["decline", _, _, rest @ ..] => {
                let (role, refuse) = match rest {
                    [refuse] => (None, *refuse),
                    [role, refuse] => (Some(*role), *refuse),
                    _ => panic!("bad decline: {line}"),
                };
                let refuse =
                    match refuse {
                        "none" => None,
                        "nan" => Some(f64::NAN),
                        r => Some(r.strip_prefix('-').map_or_else(
                            || duration(r).as_secs_f64(),
                            |r| -duration(r).as_secs_f64(),
                        )),
                    };
                for (r, held) in a.holdings_of(&agent(2), &fw(1)) {
                    if role.is_none_or(|x| x == r) {
                        a.decline(&agent(2), &fw(1), &r, &held, refuse, now);
                    }
                }
                Ok(())
            }
            ["recover", _, _, r] => {
                a.recover(&agent(2), &fw(1), &res(r), None);
                Ok(())
            }
            ["used", _, _, role, r] => a
                .allocate_used_role(&agent(1), &fw(2), role, &res(r))
                .map_err(|e| e.to_string()),
            ["allocate", t] => {
                now = at(t);
                let offers = a.allocate(now);
                out.push(format!("{line}:"));
                if offers.is_empty() {
                    out.push("  (none)".into());
                }
                for o in offers {
                    out.push(format!(
                        "  {} {} {} {}",
                        o.framework_id,
                        o.agent_id,
                        o.role,
                        o.tagged()
                    ));
                }
                Ok(())
            }
            ["starvation", t] => {
                now = at(t);
                out.push(format!("{line}:"));
                for (who, d) in a.starvation(now) {
                    let who = match who {
                        Starving::Framework(f) => format!("framework {f}"),
                        Starving::Role(r) => format!("role {r}"),
                    };
                    out.push(format!("  {who} {}", show(d)));
                }
                Ok(())
            }
            _ => panic!("bad scenario line: {line}"),
        };
        if let Err(e) = result {
            out.push(format!("{line}: error: {e}"));
        }
        a.assert_consistent();
    }
    out.join("\n")
}

/// Runs `scenario` and compares its transcript with `expect` (leading
/// indentation and blank lines aside).
#[track_caller]
fn check(scenario: &str, expect: &str) {
    let actual = run(scenario);
    let normalise = |s: &str| -> Vec<String> {
        let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
        let indent = lines
            .iter()
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        lines
            .iter()
            .map(|l| l[indent..].trim_end().to_owned())
            .collect()
    };
    let (a, e) = (normalise(&actual), normalise(expect));
    assert!(
        a == e,
        "transcript differs\n--- expected\n{}\n--- actual\n{}\n",
        e.join("\n"),
        a.join("\n")
    );
}

// === weights and hierarchy ===

#[test]
fn weights_divide_shares_between_sibling_roles() {
    // eng (weight 2) is offered until its share is twice ml's.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        agent a4 cpus:4;mem:4096
        agent a5 cpus:4;mem:4096
        role eng weight 2
        framework f1 roles eng
        framework f2 roles ml
        allocate @0s
        ",
        "
        allocate @0s:
          f1 a0 eng cpus:4;mem:4096
          f2 a1 ml cpus:4;mem:4096
          f1 a2 eng cpus:4;mem:4096
          f1 a3 eng cpus:4;mem:4096
          f2 a4 ml cpus:4;mem:4096
          f1 a5 eng cpus:4;mem:4096
        ",
    );
}

#[test]
fn hierarchical_drf_shares_between_subtrees_first() {
    // Flat DRF would give three frameworks a third each; hierarchically eng
    // and ml split the cluster, and eng's half is split again.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        framework f1 roles eng/backend
        framework f2 roles eng/frontend
        framework f3 roles ml
        allocate @0s
        ",
        "
        allocate @0s:
          f1 a0 eng/backend cpus:4;mem:4096
          f3 a1 ml cpus:4;mem:4096
          f2 a2 eng/frontend cpus:4;mem:4096
          f3 a3 ml cpus:4;mem:4096
        ",
    );
}

#[test]
fn a_roles_own_frameworks_compete_with_its_children() {
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        framework f1 roles eng
        framework f2 roles eng/batch
        framework f3 roles eng/batch
        allocate @0s
        ",
        "
        allocate @0s:
          f1 a0 eng cpus:4;mem:4096
          f2 a1 eng/batch cpus:4;mem:4096
          f1 a2 eng cpus:4;mem:4096
          f3 a3 eng/batch cpus:4;mem:4096
        ",
    );
}

// === multi-role frameworks and per-role suppression ===

#[test]
fn a_multi_role_framework_is_offered_in_each_role() {
    // f1 competes in eng against f2 and in ml alone; each offer names the
    // role it is for.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        framework f1 roles eng ml
        framework f2 roles eng
        allocate @0s
        ",
        "
        allocate @0s:
          f1 a0 eng cpus:4;mem:4096
          f1 a1 ml cpus:4;mem:4096
          f2 a2 eng cpus:4;mem:4096
          f1 a3 ml cpus:4;mem:4096
        ",
    );
}

#[test]
fn suppress_and_revive_per_role() {
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        framework f1 roles eng ml
        suppress f1 eng
        allocate @0s
        decline f1 a0 100s
        decline f1 a1 100s
        revive f1 eng       # clears eng's filters only; ml's stay
        allocate @1s
        suppress f1 eng ml
        decline f1 a0 0s
        decline f1 a1 0s
        allocate @2s
        revive f1
        allocate @3s
        suppress f1 nope     # roles the framework does not hold are ignored
        suppress f1 bad//role
        ",
        "
        allocate @0s:
          f1 a0 ml cpus:4;mem:4096
          f1 a1 ml cpus:4;mem:4096
        allocate @1s:
          f1 a0 eng cpus:4;mem:4096
          f1 a1 eng cpus:4;mem:4096
        allocate @2s:
          (none)
        allocate @3s:
          f1 a0 eng cpus:4;mem:4096
          f1 a1 ml cpus:4;mem:4096
        suppress f1 bad//role: error: invalid role \"bad//role\": a role name cannot contain an empty segment ('//')
        ",
    );
}

// === quota ===

#[test]
fn quota_guarantees_are_offered_before_fair_shares() {
    // By DRF, a and b would alternate; a's guarantee of 8 cpus comes first.
    // Memory, which the guarantee does not name, comes along.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        framework f1 roles b
        framework f2 roles a
        quota a cpus:8
        allocate @0s
        ",
        "
        allocate @0s:
          f2 a0 a cpus:4;mem:4096
          f2 a1 a cpus:4;mem:4096
          f1 a2 b cpus:4;mem:4096
          f1 a3 b cpus:4;mem:4096
        ",
    );
}

#[test]
fn an_offer_toward_a_guarantee_is_cut_to_what_is_missing() {
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        framework f1 roles a
        framework f2 roles b
        quota a cpus:1
        allocate @0s
        ",
        "
        allocate @0s:
          f1 a0 a cpus:1;mem:4096
          f2 a0 b cpus:3
          f2 a1 b cpus:4;mem:4096
        ",
    );
}

#[test]
fn unused_guarantees_are_held_back_from_other_roles() {
    // a's framework is suppressed: b may not take the 8 cpus a is
    // guaranteed; it gets their memory only. Revived, a takes them.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        framework f1 roles a
        framework f2 roles b
        quota a cpus:8
        suppress f1
        allocate @0s
        revive f1
        allocate @1s
        ",
        "
        allocate @0s:
          f2 a0 b cpus:4;mem:4096
          f2 a1 b cpus:4;mem:4096
          f2 a2 b mem:4096
          f2 a3 b mem:4096
        allocate @1s:
          f1 a2 a cpus:4
          f1 a3 a cpus:4
        ",
    );
}

#[test]
fn quota_limits_are_never_exceeded() {
    // a may hold 6 cpus: its second offer is cut to 2, after that it gets
    // memory only and b the remaining cpus.
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        framework f1 roles a
        quota a - limit cpus:6
        allocate @0s
        framework f2 roles b
        allocate @1s
        ",
        "
        allocate @0s:
          f1 a0 a cpus:4;mem:4096
          f1 a1 a cpus:2;mem:4096
          f1 a2 a mem:4096
        allocate @1s:
          f2 a1 b cpus:2
          f2 a2 b cpus:4
        ",
    );
}

#[test]
fn nested_guarantees_cover_their_children() {
    // eng's guarantee of 8 covers eng/db's 4. Toward eng's guarantee web
    // gets only the 4 that db does not need; beyond that everyone shares
    // the surplus, and db's 4 cpus wait for db (suppressed at first).
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        agent a2 cpus:4;mem:4096
        agent a3 cpus:4;mem:4096
        quota eng cpus:8
        quota eng/db cpus:4
        framework web roles eng/web
        framework db roles eng/db
        framework ml roles ml
        suppress db
        allocate @0s
        revive db
        allocate @1s
        ",
        "
        allocate @0s:
          web a0 eng/web cpus:4;mem:4096
          ml a1 ml cpus:4;mem:4096
          web a2 eng/web cpus:4;mem:4096
          ml a3 ml mem:4096
        allocate @1s:
          db a3 eng/db cpus:4
        ",
    );
}

#[test]
fn a_reservation_taken_toward_a_guarantee_frees_headroom_within_the_cycle() {
    // a/b is guaranteed 4 cpus; a may use at most 4, all of them reserved
    // on x1. On x0 nobody may take cpus (a is at its limit, o would eat
    // a/b's headroom). On x1 a/b takes a's reservation, which meets its
    // guarantee: the headroom is no longer needed and o gets x2.
    check(
        "
        agent x0 cpus:2
        agent x1 cpus(a):4
        agent x2 cpus:2
        quota a - limit cpus:4
        quota a/b cpus:4
        framework fb roles a/b
        framework fo roles o
        allocate @0s
        ",
        "
        allocate @0s:
          fb x1 a/b cpus(a):4
          fo x2 o cpus:2
        ",
    );
}

#[test]
fn bad_quota_is_refused_and_changes_nothing() {
    check(
        "
        agent a0 cpus:4;mem:4096
        quota eng cpus:5
        quota eng gpus:1
        quota eng cpus:2 limit cpus:1
        quota eng ports:[1-2]
        quota * cpus:1
        quota /eng cpus:1
        quota eng cpus:1 limit cpus:2
        quota eng/x cpus:3            # eng's limit covers its children's guarantees
        quota eng/x cpus:2
        quota ml cpus:2
        quota ml cpus:3               # eng (covering eng/x) 2 + 3 > 4
        remove-quota eng//x
        framework f1 roles eng/x
        allocate @0s
        ",
        "
        quota eng cpus:5: error: quota guarantees (cpus:5) would exceed the cluster's total resources (cpus:4;mem:4096)
        quota eng gpus:1: error: quota guarantees (gpus:1) would exceed the cluster's total resources (cpus:4;mem:4096)
        quota eng cpus:2 limit cpus:1: error: quota guarantee of role eng (cpus:2) exceeds its limit (cpus:1)
        quota eng ports:[1-2]: error: quota for role eng names non-scalar resources (ports:[1-2]); only scalars can be guaranteed or limited
        quota * cpus:1: error: quota cannot be set for the default role '*'
        quota /eng cpus:1: error: invalid role \"/eng\": a role name cannot start with '/'
        quota eng/x cpus:3: error: guarantees within role eng (cpus:3) would exceed its limit (cpus:2)
        quota ml cpus:3: error: quota guarantees (cpus:5) would exceed the cluster's total resources (cpus:4;mem:4096)
        remove-quota eng//x: error: invalid role \"eng//x\": a role name cannot contain an empty segment ('//')
        allocate @0s:
          f1 a0 eng/x cpus:2;mem:4096
        ",
    );
}

// === reservations ===

#[test]
fn static_reservations_go_only_to_their_role_and_below() {
    check(
        "
        agent a0 cpus:4;mem:4096;cpus(analytics):2;mem(analytics):1024
        framework f1
        framework f2 roles analytics/etl
        framework f3 roles web
        allocate @0s
        ",
        "
        allocate @0s:
          f2 a0 analytics/etl cpus(analytics):2;mem(analytics):1024
          f1 a0 * cpus:4;mem:4096
        ",
    );
}

#[test]
fn reservations_wait_for_their_role() {
    check(
        "
        agent a0 cpus:4;mem:4096;cpus(analytics):2
        framework f1
        allocate @0s
        framework f2 roles analytics
        allocate @1s
        ",
        "
        allocate @0s:
          f1 a0 * cpus:4;mem:4096
        allocate @1s:
          f2 a0 analytics cpus(analytics):2
        ",
    );
}

#[test]
fn dynamic_reservations_are_checked_and_offered_to_their_role() {
    check(
        "
        agent a0 cpus:4;mem:4096
        reserve a0 eng cpus:1;mem:1024
        reserve a0 eng cpus:4                  # only 3 unreserved cpus are free
        reserve a0 * cpus:1
        reserve a0 eng -
        reserve ghost eng cpus:1
        reserve a0 eng gpus:1
        framework f1 roles ml
        framework f2 roles eng
        allocate @0s
        unreserve a0 eng cpus:1                # allocated to f2: not free
        decline f2 a0 none
        unreserve a0 eng cpus:2
        unreserve a0 ml cpus:1
        unreserve a0 eng cpus:1;mem:1024
        decline f1 a0 none
        allocate @6s
        ",
        "
        reserve a0 eng cpus:4: error: cannot reserve cpus:4 on agent a0: only cpus:3;mem:3072 is available unreserved
        reserve a0 * cpus:1: error: resources cannot be reserved for the default role '*'
        reserve a0 eng -: error: no resources to reserve or unreserve
        reserve ghost eng cpus:1: error: unknown agent ghost
        reserve a0 eng gpus:1: error: cannot reserve gpus:1 on agent a0: only nothing is available unreserved
        allocate @0s:
          f2 a0 eng cpus(eng):1;mem(eng):1024
          f1 a0 ml cpus:3;mem:3072
        unreserve a0 eng cpus:1: error: cannot unreserve cpus:1 for role eng on agent a0: only nothing is reserved and available
        unreserve a0 eng cpus:2: error: cannot unreserve cpus:2 for role eng on agent a0: only cpus:1;mem:1024 is reserved and available
        unreserve a0 ml cpus:1: error: cannot unreserve cpus:1 for role ml on agent a0: only nothing is reserved and available
        allocate @6s:
          f2 a0 eng cpus:4;mem:4096
        ",
    );
}

#[test]
fn static_reservations_cannot_be_unreserved() {
    check(
        "
        agent a0 cpus:4;cpus(eng):2
        reserve a0 eng cpus:1
        unreserve a0 eng cpus:2
        unreserve a0 eng cpus:1
        ",
        "
        unreserve a0 eng cpus:2: error: cannot unreserve cpus:2 for role eng on agent a0: static reservations cannot be unreserved (dynamically reserved: cpus:1)
        ",
    );
}

#[test]
fn reservations_count_against_limits() {
    check(
        "
        agent a0 cpus:4;mem:4096
        quota eng - limit cpus:2
        reserve a0 eng cpus:3
        reserve a0 eng cpus:2
        framework f1 roles eng
        allocate @0s
        ",
        "
        reserve a0 eng cpus:3: error: reservation would bring role eng to cpus:3, beyond its quota limit cpus:2
        allocate @0s:
          f1 a0 eng mem:4096;cpus(eng):2
        ",
    );
}

#[test]
fn offer_operations_reserve_and_unreserve_what_was_offered() {
    check(
        "
        agent a0 cpus:4;mem:4096
        framework f1 roles eng
        framework f2 roles ml
        allocate @0s
        reserve-offered a0 f1 eng cpus:2
        reserve-offered a0 f1 ml cpus:1        # f1 holds nothing in ml
        reserve-offered a0 f2 eng cpus:1        # f2 holds nothing at all
        reserve-offered a0 f1 eng cpus:5
        decline f1 a0 none
        decline f1 a0 none
        allocate @6s
        decline f1 a0 none
        framework f3 roles eng
        unreserve-offered a0 f1 eng cpus:1
        allocate @7s
        unreserve-offered a0 f3 eng cpus:1
        unreserve-offered a0 f3 eng cpus:2
        decline f3 a0 none
        allocate @13s
        ",
        "
        allocate @0s:
          f1 a0 eng cpus:4;mem:4096
        reserve-offered a0 f1 ml cpus:1: error: framework f1 holds no resources in role ml on agent a0
        reserve-offered a0 f2 eng cpus:1: error: framework f2 holds no resources in role eng on agent a0
        reserve-offered a0 f1 eng cpus:5: error: cannot reserve cpus:5 on agent a0: only cpus:2;mem:4096 is available unreserved
        allocate @6s:
          f1 a0 eng cpus(eng):2
          f2 a0 ml cpus:2;mem:4096
        unreserve-offered a0 f1 eng cpus:1: error: framework f1 holds no resources in role eng on agent a0
        allocate @7s:
          f3 a0 eng cpus(eng):2
        unreserve-offered a0 f3 eng cpus:2: error: cannot unreserve cpus:2 for role eng on agent a0: only cpus:1 is reserved and available
        allocate @13s:
          f1 a0 eng cpus(eng):1
          f3 a0 eng cpus:1
        ",
    );
}

// === filters ===

#[test]
fn filters_default_to_five_seconds_and_are_capped_at_a_year() {
    check(
        "
        agent a0 cpus:4;mem:4096
        framework f1
        allocate @0s
        decline f1 a0 none
        allocate @4.9s
        allocate @5s
        decline f1 a0 -3s        # negative: the default
        allocate @9.9s
        allocate @10s
        decline f1 a0 1e12s      # capped at 365 days
        allocate @364d
        allocate @375d
        decline f1 a0 0s         # no filter
        allocate @375d
        ",
        "
        allocate @0s:
          f1 a0 * cpus:4;mem:4096
        allocate @4.9s:
          (none)
        allocate @5s:
          f1 a0 * cpus:4;mem:4096
        allocate @9.9s:
          (none)
        allocate @10s:
          f1 a0 * cpus:4;mem:4096
        allocate @364d:
          (none)
        allocate @375d:
          f1 a0 * cpus:4;mem:4096
        allocate @375d:
          f1 a0 * cpus:4;mem:4096
        ",
    );
}

#[test]
fn a_filter_is_per_role() {
    // f1 declines in eng; it is still offered the agent in ml.
    check(
        "
        agent a0 cpus:4;mem:4096
        framework f1 roles eng ml
        allocate @0s
        decline f1 a0 eng 60s
        allocate @1s
        decline f1 a0 ml 60s
        allocate @2s
        revive f1 ml
        allocate @3s
        ",
        "
        allocate @0s:
          f1 a0 eng cpus:4;mem:4096
        allocate @1s:
          f1 a0 ml cpus:4;mem:4096
        allocate @2s:
          (none)
        allocate @3s:
          f1 a0 ml cpus:4;mem:4096
        ",
    );
}

#[test]
fn deactivated_agents_and_frameworks_are_not_offered() {
    check(
        "
        agent a0 cpus:4;mem:4096
        agent a1 cpus:4;mem:4096
        framework f1 roles eng
        deactivate-agent a0
        allocate @0s
        decline f1 a1 none
        deactivate-framework f1
        activate-agent a0
        allocate @10s
        activate-framework f1
        allocate @11s
        ",
        "
        allocate @0s:
          f1 a1 eng cpus:4;mem:4096
        allocate @10s:
          (none)
        allocate @11s:
          f1 a0 eng cpus:4;mem:4096
          f1 a1 eng cpus:4;mem:4096
        ",
    );
}

// === policies and minimums ===

const RANDOM: &str = "
    config sorter random 42
    agent a0 cpus:4;mem:4096
    agent a1 cpus:4;mem:4096
    agent a2 cpus:4;mem:4096
    agent a3 cpus:4;mem:4096
    agent a4 cpus:4;mem:4096
    agent a5 cpus:4;mem:4096
    framework f1
    framework f2
    framework f3
    allocate @0s
    ";

#[test]
fn the_random_sorter_is_deterministic_for_a_seed() {
    check(
        RANDOM,
        "
        allocate @0s:
          f1 a0 * cpus:4;mem:4096
          f2 a1 * cpus:4;mem:4096
          f1 a2 * cpus:4;mem:4096
          f2 a3 * cpus:4;mem:4096
          f2 a4 * cpus:4;mem:4096
          f3 a5 * cpus:4;mem:4096
        ",
    );
    let other = run(&RANDOM.replace("random 42", "random 43"));
    assert_ne!(
        run(RANDOM),
        other,
        "a different seed gives a different order"
    );
}

#[test]
fn min_allocatable_resources_take_alternatives() {
    check(
        "
        config min-allocatable cpus:2|gpus:1
        agent small cpus:1;mem:65536
        agent big cpus:2
        agent gpu gpus:1;mem:64
        framework f1
        allocate @0s
        ",
        "
        allocate @0s:
          f1 big * cpus:2
          f1 gpu * gpus:1;mem:64
        ",
    );
}

// === starvation ===

#[test]
fn starvation_shows_how_long_everyone_has_waited() {
    check(
        "
        framework f1 roles eng/web
        framework f2 roles ml
        framework f3 roles ml
        suppress f3
        allocate @0s
        starvation @10s
        agent a0 cpus:4;mem:4096
        allocate @12s
        starvation @20s
        deactivate-framework f2
        starvation @21s
        ",
        "
        allocate @0s:
          (none)
        starvation @10s:
          framework f1 10s
          framework f2 10s
          role eng 10s
          role eng/web 10s
          role ml 10s
        allocate @12s:
          f1 a0 eng/web cpus:4;mem:4096
        starvation @20s:
          framework f1 8s
          framework f2 20s
          role eng 8s
          role eng/web 8s
          role ml 20s
        starvation @21s:
          framework f1 9s
          role eng 9s
          role eng/web 9s
        ",
    );
}

// === bad input ===

#[test]
fn invalid_role_names_are_refused() {
    check(
        "
        framework f1 roles eng/
        framework f1 roles ./x
        framework f1 roles a/../b
        framework f1 roles ok bad//x    # all or nothing: ok is not added either
        role eng weight 0
        role eng weight NaN
        role eng weight -1
        role eng/.. weight 2
        used a0 f1 eng// cpus:1
        agent a0 cpus:1;cpus(eng//x):1
        agent a1 cpus:1
        framework f2 roles ok
        allocate @0s
        ",
        "
        framework f1 roles eng/: error: invalid role \"eng/\": a role name cannot end with '/'
        framework f1 roles ./x: error: invalid role \"./x\": a role segment cannot be '.' or '..'
        framework f1 roles a/../b: error: invalid role \"a/../b\": a role segment cannot be '.' or '..'
        framework f1 roles ok bad//x: error: invalid role \"bad//x\": a role name cannot contain an empty segment ('//')
        role eng weight 0: error: invalid weight 0 for role eng: weights must be finite and positive
        role eng weight NaN: error: invalid weight NaN for role eng: weights must be finite and positive
        role eng weight -1: error: invalid weight -1 for role eng: weights must be finite and positive
        role eng/.. weight 2: error: invalid role \"eng/..\": a role segment cannot be '.' or '..'
        used a0 f1 eng// cpus:1: error: invalid role \"eng//\": a role name cannot end with '/'
        agent a0 cpus:1;cpus(eng//x):1: error: invalid resource \"cpus(eng//x):1\": invalid role \"eng//x\": a role name cannot contain an empty segment ('//')
        allocate @0s:
          f2 a1 ok cpus:1
        ",
    );
}

#[test]
fn whitespace_and_control_characters_in_roles_are_refused() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(AgentId::from("a0"), res("cpus:1"), &[]);
    for bad in ["my role", "tab\there", "new\nline", " eng", "\u{7}bell"] {
        let e = a
            .add_framework_with_roles(FrameworkId::from("f1"), &[bad.to_owned()], &[])
            .unwrap_err();
        assert!(e.to_string().starts_with("invalid role"), "{bad:?}: {e}");
        assert!(a.set_weight(bad, 2.0).is_err(), "{bad:?}");
        assert!(a.set_quota(bad, res("cpus:1"), None).is_err(), "{bad:?}");
        assert!(
            a.reserve(&AgentId::from("a0"), bad, &res("cpus:1"))
                .is_err(),
            "{bad:?}"
        );
        assert!(a
            .suppress_roles(&FrameworkId::from("f1"), &[bad.to_owned()])
            .is_err());
        a.assert_consistent();
    }
    assert!(
        a.roles().is_empty(),
        "refused calls left roles behind: {:?}",
        a.roles()
    );
    assert!(a.allocate(Time::ZERO).is_empty());
}

#[test]
fn negative_or_nan_quantities_cannot_reach_quota_or_reservations() {
    // Resources refuse them in the text form and floor them at zero when
    // built: a NaN or negative guarantee is no guarantee.
    assert!("cpus:-1".parse::<Resources>().is_err());
    assert!("cpus:NaN".parse::<Resources>().is_err());
    let nan = Resources::new()
        .with_scalar("cpus", f64::NAN)
        .with_scalar("mem", -5.0);
    assert!(nan.is_empty());
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(AgentId::from("a0"), res("cpus:4"), &[]);
    a.set_quota("eng", nan.clone(), None).unwrap();
    assert_eq!(a.quota("eng"), None);
    assert!(a.reserve(&AgentId::from("a0"), "eng", &nan).is_err());
    a.assert_consistent();
}
