//! Paginated, server-side-filtered views for the web UI
//! (`/api/v1/ui/...`): a page of tasks, agents, frameworks, offers or roles
//! costs the size of the page (and one pass over what it filters), never a
//! whole-state download. The overview is a fixed-size summary.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use strata_api::{AgentId, FrameworkId, Resources, TaskState};
use strata_master_allocator::Starving;

use crate::core::{framework_roles, AgentLink, Framework, FrameworkConn, MasterCore, Offer, Task};
use crate::events::RoleSample;
use crate::state_json::{resources, task_json};

/// Largest page served.
pub const MAX_LIMIT: usize = 500;
/// Frameworks the overview lists (largest DRF share first); the frameworks
/// page pages through all of them.
pub const OVERVIEW_FRAMEWORKS: usize = 20;
/// How long a rendered overview serves every reader: however many browsers
/// watch, the master renders it at most once per this period.
pub const OVERVIEW_TTL: Duration = Duration::from_secs(1);
/// Frameworks the roles page lists by starvation time.
const STARVING_FRAMEWORKS: usize = 50;

/// Filters and paging for the `/api/v1/ui/...` lists.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Task state name, e.g. `TASK_RUNNING` (tasks); `completed` for removed
    /// frameworks (frameworks).
    pub state: Option<String>,
    /// Framework id (tasks, offers).
    pub framework: Option<String>,
    /// Agent id (tasks, offers).
    pub agent: Option<String>,
    /// Case-insensitive substring of the id or name (of the role, for roles).
    pub q: Option<String>,
    /// Exact id (agents, frameworks): the detail page of one.
    pub id: Option<String>,
    /// First item (0-based).
    #[serde(default)]
    pub offset: usize,
    /// Page size (default 50, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

impl PageQuery {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, MAX_LIMIT)
    }

    /// A filter given and not empty.
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The text filter, lower-cased once for the whole pass.
    fn text(&self) -> TextFilter {
        TextFilter(Self::given(&self.q).map(str::to_lowercase))
    }
}

/// A case-insensitive substring filter (no filter: everything matches).
struct TextFilter(Option<String>);

impl TextFilter {
    fn matches(&self, fields: &[&str]) -> bool {
        let Some(q) = &self.0 else { return true };
        fields.iter().any(|f| {
            if f.is_ascii() && q.is_ascii() {
                // No allocation per item: this runs over every task.
                f.len() >= q.len()
                    && f.as_bytes()
                        .windows(q.len())
                        .any(|w| w.eq_ignore_ascii_case(q.as_bytes()))
            } else {
                f.to_lowercase().contains(q.as_str())
            }
        })
    }
}

/// The items `offset..offset + limit` of `items` in the order of `cmp`,
/// selected without sorting everything: linear in the number of items.
fn page_of<T>(
    items: &mut [T],
    offset: usize,
    limit: usize,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> &mut [T] {
    if offset >= items.len() {
        return &mut [];
    }
    if offset > 0 {
        items.select_nth_unstable_by(offset, &cmp);
    }
    let rest = &mut items[offset..];
    let n = limit.min(rest.len());
    if n < rest.len() {
        rest.select_nth_unstable_by(n, &cmp);
    }
    let page = &mut rest[..n];
    page.sort_unstable_by(&cmp);
    page
}

fn page_json(total: usize, q: &PageQuery, items: Vec<Value>) -> Value {
    json!({"total": total, "offset": q.offset, "limit": q.limit(), "items": items})
}

/// Unix seconds of a master time.
fn unix(core: &MasterCore, t: Duration) -> f64 {
    core.config.start_unix + t.as_secs_f64()
}

// === sums ===

/// The sum of many bundles of resources, without building a [`Resources`]
/// per addition (which copies every name): scalars by name in a short list
/// (bundles name few resources), ports as a count per bundle, because port
/// ranges of different agents overlap and merging them would count each
/// port once for the whole cluster.
#[derive(Default)]
struct Sum<'a> {
    scalars: Vec<(&'a str, f64)>,
    ports: u64,
}

impl<'a> Sum<'a> {
    fn add(&mut self, r: &'a Resources) {
        for (name, v) in r.scalars() {
            match self.scalars.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += v,
                None => self.scalars.push((name, v)),
            }
        }
        self.ports += r.range_set("ports").map_or(0, |s| s.count());
    }

    /// The scalars as a bundle (rounded to Resources' thousandths, which
    /// also absorbs the floating-point error of long sums).
    fn resources(&self) -> Resources {
        self.scalars
            .iter()
            .fold(Resources::new(), |r, (name, v)| r.with_scalar(name, *v))
    }
}

// === overview ===

/// What one framework uses: resources of its live tasks and executors.
struct Usage {
    used: Resources,
    tasks: usize,
}

fn usage(f: &Framework) -> Usage {
    let mut used = Sum::default();
    let mut tasks = 0;
    for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
        used.add(&t.resources);
        tasks += 1;
    }
    for e in f.executors.values() {
        used.add(&e.resources);
    }
    Usage {
        used: used.resources(),
        tasks,
    }
}

/// One framework as the overview and the frameworks page show it.
fn framework_json(core: &MasterCore, f: &Framework, now: Duration, u: &Usage) -> Value {
    let c = core
        .events
        .offer_counts
        .get(f.id.as_str())
        .copied()
        .unwrap_or_default();
    let mut offered = Resources::new();
    for o in f.offers.iter().filter_map(|id| core.offers.get(id)) {
        offered.add(&o.resources);
    }
    let failover_in = match f.conn {
        FrameworkConn::Disconnected {
            failover_deadline, ..
        } => json!(failover_deadline.saturating_sub(now).as_secs_f64()),
        FrameworkConn::Connected { .. } => Value::Null,
    };
    json!({
        "id": f.id.as_str(),
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "principal": f.info.principal,
        "role": f.info.role.clone().unwrap_or_else(|| "*".into()),
        "roles": framework_roles(&f.info),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
        "failover_in_secs": failover_in,
        "registered_time": f.registered_time,
        "reregistered_time": f.reregistered_time,
        "unregistered_time": f.unregistered_time,
        "connected": f.connected(),
        "suppressed": f.suppressed,
        "share": core.allocator.framework_share(&f.id),
        "tasks": u.tasks,
        "completed_tasks": f.completed_tasks.len(),
        "used": resources(&u.used),
        "offered": resources(&offered),
        "outstanding_offers": f.offers.len(),
        "offers": {"received": c.received, "accepted": c.accepted, "declined": c.declined, "rescinded": c.rescinded},
    })
}

/// `/api/v1/ui/overview`: totals, counts, the offer flow, and the
/// frameworks with the largest shares. One pass over the tasks.
pub fn overview(core: &MasterCore, now: Duration) -> Value {
    let mut total = Sum::default();
    let mut used = Sum::default();
    let mut offered = Sum::default();
    let mut active_agents = 0usize;
    let mut unreachable = 0usize;
    let mut inactive: HashSet<&AgentId> = HashSet::new();
    for a in core.agents.values() {
        if a.active() {
            active_agents += 1;
            total.add(&a.total);
        } else {
            inactive.insert(&a.id);
            if matches!(a.link, AgentLink::Unreachable { .. }) {
                unreachable += 1;
            }
        }
    }
    let mut counts: BTreeMap<TaskState, usize> = BTreeMap::new();
    let mut shares: Vec<(f64, &Framework, Usage)> = Vec::with_capacity(core.frameworks.len());
    for f in core.frameworks.values() {
        let mut fw_used = Sum::default();
        let mut live = 0usize;
        for t in f.tasks.values() {
            *counts.entry(t.state).or_default() += 1;
            if t.state.is_terminal() {
                continue;
            }
            fw_used.add(&t.resources);
            live += 1;
            if inactive.is_empty() || !inactive.contains(&t.agent_id) {
                used.add(&t.resources);
            }
        }
        for e in f.executors.values() {
            fw_used.add(&e.resources);
            used.add(&e.resources);
        }
        for t in &f.completed_tasks {
            *counts.entry(t.state).or_default() += 1;
        }
        let share = core.allocator.framework_share(&f.id);
        shares.push((
            share,
            f,
            Usage {
                used: fw_used.resources(),
                tasks: live,
            },
        ));
    }
    for t in core
        .completed_frameworks
        .iter()
        .flat_map(|f| f.tasks.iter())
    {
        *counts.entry(t.state).or_default() += 1;
    }
    for o in core.offers.values() {
        offered.add(&o.resources);
    }
    let (ports_total, ports_used, ports_offered) = (total.ports, used.ports, offered.ports);
    let (total, used, offered) = (total.resources(), used.resources(), offered.resources());
    let idle = total.minus(&used).minus(&offered);
    let by_state: serde_json::Map<String, Value> = counts
        .into_iter()
        .map(|(st, n)| (st.as_mesos_str().to_owned(), json!(n)))
        .collect();
    let connected = shares.iter().filter(|(_, f, _)| f.connected()).count();
    let frameworks_total = shares.len();
    let top = page_of(&mut shares, 0, OVERVIEW_FRAMEWORKS, |a, b| {
        b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id))
    });
    let frameworks: Vec<Value> = top
        .iter()
        .map(|(_, f, u)| framework_json(core, f, now, u))
        .collect();
    let completed_frameworks: Vec<Value> = core
        .completed_frameworks
        .iter()
        .rev()
        .take(OVERVIEW_FRAMEWORKS)
        .map(completed_json)
        .collect();
    json!({
        "uptime_secs": now.as_secs_f64(),
        "master": {"id": core.config.master_id, "hostname": core.config.hostname, "port": core.config.port},
        "resources": {
            "total": resources(&total),
            "used": resources(&used),
            "offered": resources(&offered),
            "idle": resources(&idle),
            "ports": {"total": ports_total, "used": ports_used, "offered": ports_offered},
        },
        "agents": {
            "active": active_agents,
            "unreachable": unreachable,
            "total": core.agents.len(),
        },
        "frameworks": frameworks,
        "frameworks_total": frameworks_total,
        "frameworks_connected": connected,
        "completed_frameworks": completed_frameworks,
        "completed_frameworks_total": core.completed_frameworks.len(),
        "tasks_by_state": by_state,
        "outstanding_offers": core.offers.len(),
    })
}

/// `/api/v1/ui/overview` as every reader gets it: rendered at most once per
/// [`OVERVIEW_TTL`], and numbered with the last event it includes
/// (`as_of_event`), so that a browser which has seen a later event on its
/// stream asks again (after its own throttle) instead of showing a stale
/// picture.
pub fn overview_cached(core: &mut MasterCore, now: Duration) -> Value {
    if let Some(c) = &core.events.overview {
        if now.saturating_sub(c.at) < OVERVIEW_TTL {
            return c.value.clone();
        }
    }
    let mut value = overview(core, now);
    value["as_of_event"] = json!(core.events.seq());
    core.events.overview = Some(crate::events::Cached {
        at: now,
        value: value.clone(),
    });
    value
}

/// The overview with the recent offer events: the first event of a
/// browser's stream, so its offer timeline starts filled. (Refreshes of the
/// overview do not repeat them; the stream carries what follows.) Always
/// fresh: the stream continues from exactly this point.
pub fn subscribed_overview(core: &MasterCore, now: Duration) -> Value {
    let mut v = overview(core, now);
    v["as_of_event"] = json!(core.events.seq());
    v["recent_offer_events"] = Value::Array(core.events.recent_offers());
    v
}

fn completed_json(f: &crate::core::CompletedFramework) -> Value {
    json!({
        "id": f.id.as_str(),
        "name": f.info.name,
        "role": f.info.role.clone().unwrap_or_else(|| "*".into()),
        "removed_time": f.removed_time,
        "tasks": f.tasks.len(),
    })
}

// === tasks ===

/// `/api/v1/ui/tasks`: running and completed tasks, filtered and paged,
/// newest launch first (ties by id), so pages are stable between refreshes.
pub fn tasks(core: &MasterCore, q: &PageQuery) -> Value {
    let state = PageQuery::given(&q.state);
    let framework = PageQuery::given(&q.framework);
    let agent = PageQuery::given(&q.agent);
    let text = q.text();
    let matches = |t: &&Task| {
        state.is_none_or(|s| t.state.as_mesos_str() == s)
            && framework.is_none_or(|f| t.framework_id.as_str() == f)
            && agent.is_none_or(|a| t.agent_id.as_str() == a)
            && text.matches(&[t.id.as_str(), &t.info.name])
    };
    // Tasks of removed frameworks too (bounded by the completed-frameworks
    // history): a torn-down framework's tasks stay inspectable. One
    // framework's tasks only, when filtered by framework.
    // With its launch time beside each task, the selection compares
    // numbers instead of reaching into every task.
    let launched = |t: &Task| t.statuses.first().map(|(_, ts)| *ts).unwrap_or(0.0);
    let mut found: Vec<(f64, &Task)> = core
        .frameworks
        .values()
        .filter(|f| framework.is_none_or(|id| f.id.as_str() == id))
        .flat_map(|f| f.tasks.values().chain(f.completed_tasks.iter()))
        .chain(
            core.completed_frameworks
                .iter()
                .filter(|f| framework.is_none_or(|id| f.id.as_str() == id))
                .flat_map(|f| f.tasks.iter()),
        )
        .filter(matches)
        .map(|t| (launched(t), t))
        .collect();
    let total = found.len();
    let newest_first = |(la, a): &(f64, &Task), (lb, b): &(f64, &Task)| {
        lb.total_cmp(la)
            .then_with(|| a.id.as_str().cmp(b.id.as_str()))
            .then_with(|| a.framework_id.as_str().cmp(b.framework_id.as_str()))
    };
    let items: Vec<Value> = page_of(&mut found, q.offset, q.limit(), newest_first)
        .iter()
        .map(|(_, t)| {
            let mut v = task_json(t);
            v["framework_name"] = json!(framework_name(core, &t.framework_id));
            v["agent_hostname"] = json!(core.agents.get(&t.agent_id).map(|a| &a.info.hostname));
            v
        })
        .collect();
    page_json(total, q, items)
}

/// The name of a framework, subscribed or removed.
fn framework_name<'a>(core: &'a MasterCore, id: &FrameworkId) -> Option<&'a str> {
    core.frameworks
        .get(id)
        .map(|f| f.info.name.as_str())
        .or_else(|| {
            core.completed_frameworks
                .iter()
                .find(|f| f.id == *id)
                .map(|f| f.info.name.as_str())
        })
}

// === agents ===

/// `/api/v1/ui/agents`: agents in id order, filtered by id or hostname, paged.
pub fn agents(core: &MasterCore, q: &PageQuery) -> Value {
    let mut total = 0usize;
    let mut items = Vec::new();
    let (offset, limit) = (q.offset, q.limit());
    let text = q.text();
    let id = PageQuery::given(&q.id);
    let selected: Box<dyn Iterator<Item = &crate::core::Agent>> = match id {
        // The detail page of one agent: a lookup, not a scan.
        Some(id) => Box::new(core.agents.get(&AgentId(id.to_owned())).into_iter()),
        None => Box::new(core.agents.values()),
    };
    for a in selected.filter(|a| text.matches(&[a.id.as_str(), &a.info.hostname])) {
        if total >= offset && items.len() < limit {
            items.push(json!({
                "id": a.id.as_str(),
                "hostname": a.info.hostname,
                "endpoint": a.endpoint,
                "active": a.active(),
                "unreachable": matches!(a.link, AgentLink::Unreachable { .. }),
                "resources": resources(&a.total),
                "free": core.allocator.agent_free(&a.id).map(|r| resources(&r)),
                "isolation": a.isolation,
                "version": a.version,
                "registered_time": a.registered_time,
                "tasks": a.tasks.len(),
                "attributes": a.info.attributes.iter().map(|x| serde_json::to_value(x).unwrap_or_default()).collect::<Vec<_>>(),
            }));
        }
        total += 1;
    }
    page_json(total, q, items)
}

// === frameworks ===

/// `/api/v1/ui/frameworks`: subscribed frameworks in id order (or, with
/// `state=completed`, removed ones, newest first), filtered by id, name or
/// role, paged.
pub fn frameworks(core: &MasterCore, now: Duration, q: &PageQuery) -> Value {
    let text = q.text();
    let id = PageQuery::given(&q.id);
    let counts =
        json!({"active": core.frameworks.len(), "completed": core.completed_frameworks.len()});
    let mut total = 0usize;
    let mut items = Vec::new();
    let (offset, limit) = (q.offset, q.limit());
    let mut take = |v: &dyn Fn() -> Value| {
        if total >= offset && items.len() < limit {
            items.push(v());
        }
        total += 1;
    };
    if PageQuery::given(&q.state) == Some("completed") {
        for f in core.completed_frameworks.iter().rev().filter(|f| {
            id.is_none_or(|id| f.id.as_str() == id)
                && text.matches(&[
                    f.id.as_str(),
                    &f.info.name,
                    f.info.role.as_deref().unwrap_or("*"),
                ])
        }) {
            take(&|| completed_json(f));
        }
    } else {
        for f in core.frameworks.values().filter(|f| {
            id.is_none_or(|id| f.id.as_str() == id)
                && (text.matches(&[f.id.as_str(), &f.info.name])
                    || framework_roles(&f.info).iter().any(|r| text.matches(&[r])))
        }) {
            take(&|| framework_json(core, f, now, &usage(f)));
        }
    }
    let mut v = page_json(total, q, items);
    v["counts"] = counts;
    v
}

// === offers ===

/// `/api/v1/ui/offers`: outstanding offers, newest first, filtered by
/// framework, agent, or offer id / hostname, paged; with their age.
pub fn offers(core: &MasterCore, now: Duration, q: &PageQuery) -> Value {
    let framework = PageQuery::given(&q.framework);
    let agent = PageQuery::given(&q.agent);
    let text = q.text();
    let hostname = |o: &Offer| {
        core.agents
            .get(&o.agent_id)
            .map(|a| a.info.hostname.as_str())
            .unwrap_or("")
    };
    let mut found: Vec<&Offer> = core
        .offers
        .values()
        .filter(|o| {
            framework.is_none_or(|f| o.framework_id.as_str() == f)
                && agent.is_none_or(|a| o.agent_id.as_str() == a)
                && text.matches(&[o.id.as_str(), hostname(o)])
        })
        .collect();
    let total = found.len();
    let newest_first = |a: &&Offer, b: &&Offer| {
        b.made_at
            .cmp(&a.made_at)
            .then_with(|| b.id.as_str().cmp(a.id.as_str()))
    };
    let items: Vec<Value> = page_of(&mut found, q.offset, q.limit(), newest_first)
        .iter()
        .map(|o| {
            json!({
                "id": o.id.as_str(),
                "framework_id": o.framework_id.as_str(),
                "framework_name": core.frameworks.get(&o.framework_id).map(|f| f.info.name.clone()),
                "agent_id": o.agent_id.as_str(),
                "hostname": core.agents.get(&o.agent_id).map(|a| a.info.hostname.clone()),
                "role": o.role,
                "resources": resources(&o.resources),
                "made_at": unix(core, o.made_at),
                "age_secs": now.saturating_sub(o.made_at).as_secs_f64(),
                "expires_in_secs": o.expires_at.map(|t| t.saturating_sub(now).as_secs_f64()),
            })
        })
        .collect();
    page_json(total, q, items)
}

// === roles ===

/// Samples every role's DRF share for the roles page's chart when a sample
/// is due (every [`crate::events::ROLE_SAMPLE_EVERY`]); called on the
/// actor's tick.
pub fn sample_roles(core: &mut MasterCore, now: Duration) {
    if !core.events.role_sample_due(now) {
        return;
    }
    let shares = core
        .allocator
        .roles()
        .into_iter()
        .map(|r| {
            let share = core.allocator.role_share(&r);
            (r, share)
        })
        .collect();
    let at = unix(core, now);
    core.events
        .record_role_sample(now, RoleSample { at, shares });
}

/// What the master holds for one role.
#[derive(Default)]
struct RoleUse<'a> {
    used: Sum<'a>,
    offered: Sum<'a>,
    tasks: usize,
}

/// `/api/v1/ui/roles`: per role (name order, filtered by `q`, paged) its
/// weight, quota, what counts against the quota, what is allocated (used by
/// tasks and offered), its DRF share and how long it has been starving;
/// the frameworks waiting longest for offers; and the shares of the page's
/// roles over the last minutes.
pub fn roles(core: &MasterCore, now: Duration, q: &PageQuery) -> Value {
    let alloc = &core.allocator;
    let mut by_role: HashMap<&str, RoleUse> = HashMap::new();
    let mut subscribed: HashMap<String, usize> = HashMap::new();
    for f in core.frameworks.values() {
        for r in framework_roles(&f.info) {
            *subscribed.entry(r).or_default() += 1;
        }
        for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
            let u = by_role.entry(t.role.as_str()).or_default();
            u.used.add(&t.resources);
            u.tasks += 1;
        }
        for e in f.executors.values() {
            by_role
                .entry(e.role.as_str())
                .or_default()
                .used
                .add(&e.resources);
        }
    }
    for o in core.offers.values() {
        by_role
            .entry(o.role.as_str())
            .or_default()
            .offered
            .add(&o.resources);
    }
    let mut names: BTreeSet<String> = alloc.roles().into_iter().collect();
    names.extend(by_role.keys().map(|r| (*r).to_owned()));
    names.extend(subscribed.keys().cloned());
    let mut starving_roles: HashMap<String, f64> = HashMap::new();
    let mut starving_frameworks: Vec<(FrameworkId, f64)> = Vec::new();
    for (who, waited) in alloc.starvation(now) {
        match who {
            Starving::Role(r) => {
                starving_roles.insert(r, waited.as_secs_f64());
            }
            Starving::Framework(f) => starving_frameworks.push((f, waited.as_secs_f64())),
        }
    }
    let text = q.text();
    let mut total = 0usize;
    let mut page: Vec<&str> = Vec::new();
    for name in names.iter().filter(|r| text.matches(&[r.as_str()])) {
        if total >= q.offset && page.len() < q.limit() {
            page.push(name);
        }
        total += 1;
    }
    let empty = RoleUse::default();
    let items: Vec<Value> = page
        .iter()
        .map(|&r| {
            let u = by_role.get(r).unwrap_or(&empty);
            let (used, offered) = (u.used.resources(), u.offered.resources());
            json!({
                "role": r,
                "weight": alloc.weight(r),
                "share": alloc.role_share(r),
                "quota": alloc.quota(r).map(|q| json!({
                    "guarantee": resources(&q.guarantee),
                    "limit": q.limit.as_ref().map(resources),
                })),
                "consumed": resources(&alloc.quota_consumed(r)),
                "allocated": resources(&used.plus(&offered)),
                "used": resources(&used),
                "offered": resources(&offered),
                "tasks": u.tasks,
                "frameworks": subscribed.get(r).copied().unwrap_or(0),
                "starving_secs": starving_roles.get(r),
            })
        })
        .collect();
    let starving_total = starving_frameworks.len();
    let longest = page_of(&mut starving_frameworks, 0, STARVING_FRAMEWORKS, |a, b| {
        b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
    });
    let frameworks: Vec<Value> = longest
        .iter()
        .map(|(id, secs)| {
            let f = core.frameworks.get(id);
            json!({
                "id": id.as_str(),
                "name": f.map(|f| f.info.name.as_str()),
                "roles": f.map(|f| framework_roles(&f.info)).unwrap_or_default(),
                "share": alloc.framework_share(id),
                "starving_secs": secs,
            })
        })
        .collect();
    let samples: Vec<Value> = core
        .events
        .role_samples()
        .map(|s| {
            let shares: serde_json::Map<String, Value> = s
                .shares
                .iter()
                .filter(|(r, _)| page.contains(&r.as_str()))
                .map(|(r, share)| (r.clone(), json!(share)))
                .collect();
            json!({"at": s.at, "shares": shares})
        })
        .collect();
    let mut v = page_json(total, q, items);
    v["cluster"] = resources(&alloc.total());
    v["starving_frameworks"] = json!({"total": starving_total, "items": frameworks});
    v["history"] = json!({
        "every_secs": crate::events::ROLE_SAMPLE_EVERY.as_secs_f64(),
        "samples": samples,
    });
    v
}

// === one task, one agent ===

/// `/api/v1/ui/tasks/{framework}/{task}`: one task with its history and
/// where its sandbox lives.
pub fn task_detail(core: &MasterCore, framework: &str, task: &str) -> Option<Value> {
    let (t, framework_name) = match core.frameworks.get(&framework.into()) {
        Some(f) => (
            f.tasks.get(&task.into()).or_else(|| {
                f.completed_tasks
                    .iter()
                    .rev()
                    .find(|t| t.id.as_str() == task)
            })?,
            &f.info.name,
        ),
        None => {
            let f = core
                .completed_frameworks
                .iter()
                .rev()
                .find(|f| f.id.as_str() == framework)?;
            (
                f.tasks.iter().find(|t| t.id.as_str() == task)?,
                &f.info.name,
            )
        }
    };
    let mut v = task_json(t);
    v["framework_name"] = json!(framework_name);
    v["agent_endpoint"] = json!(core.agents.get(&t.agent_id).map(|a| a.endpoint.clone()));
    v["last_status"] = t
        .last_status
        .as_ref()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .unwrap_or_default();
    v["info"] = serde_json::to_value(&t.info).unwrap_or_default();
    Some(v)
}

/// The HTTP endpoint of an agent, for proxying its `/files` and `/state`.
pub fn agent_endpoint(core: &MasterCore, agent: &str) -> Option<String> {
    core.agents.get(&agent.into()).map(|a| a.endpoint.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet, VecDeque};

    use strata_api::{AgentId, TaskId};
    use strata_proto::convert::resources_to_wire;
    use strata_proto::{internal, v1};
    use tokio::sync::mpsc;

    use super::*;
    use crate::core::{CompletedFramework, CoreConfig, Framework};

    fn add_agent(core: &mut MasterCore, res: &str) -> AgentId {
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        let session = core.new_session();
        let reg = internal::Register {
            agent_info: Some(v1::AgentInfo {
                hostname: "127.0.0.1".into(),
                resources: resources_to_wire(&res.parse().unwrap()),
                ..Default::default()
            }),
            http_endpoint: "http://127.0.0.1:5051".into(),
            ..Default::default()
        };
        core.register_agent(Duration::ZERO, reg, session, tx)
            .unwrap()
    }

    fn task(fw: &FrameworkId, agent: &AgentId, id: &str, state: TaskState, launched: f64) -> Task {
        Task {
            id: TaskId(id.into()),
            framework_id: fw.clone(),
            agent_id: agent.clone(),
            executor_id: None,
            info: v1::TaskInfo {
                name: id.into(),
                ..Default::default()
            },
            resources: "cpus:0.1;mem:32".parse().unwrap(),
            state,
            status_update_state: None,
            statuses: vec![(state, launched)],
            last_status: None,
            unacked: Vec::new(),
            role: "*".into(),
        }
    }

    /// A framework that has been disconnected since the start, with a
    /// minute to fail over.
    fn add_framework(core: &mut MasterCore, id: &str, name: &str, tasks: HashMap<TaskId, Task>) {
        let fid = FrameworkId(id.into());
        core.frameworks.insert(
            fid.clone(),
            Framework {
                id: fid,
                info: v1::FrameworkInfo {
                    name: name.into(),
                    ..Default::default()
                },
                conn: FrameworkConn::Disconnected {
                    since: Duration::ZERO,
                    failover_deadline: Duration::from_secs(60),
                },
                registered_time: 1.0,
                reregistered_time: None,
                unregistered_time: None,
                tasks,
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashMap::new(),
                suppressed: false,
            },
        );
    }

    /// Two agents, a framework with 120 running tasks launched one second
    /// apart, and a removed framework with one finished task.
    fn cluster() -> (MasterCore, AgentId) {
        let mut core = MasterCore::new(CoreConfig::default());
        let a = add_agent(&mut core, "cpus:4;mem:4096;ports:[31000-32000]");
        add_agent(&mut core, "cpus:4;mem:4096;ports:[31000-32000]");
        let fid = FrameworkId("fw".into());
        let mut tasks = HashMap::new();
        for i in 0..120 {
            let t = task(
                &fid,
                &a,
                &format!("t{i}"),
                TaskState::Running,
                1000.0 + i as f64,
            );
            tasks.insert(t.id.clone(), t);
        }
        add_framework(&mut core, "fw", "web", tasks);
        let gone = FrameworkId("gone".into());
        core.completed_frameworks.push_back(CompletedFramework {
            id: gone.clone(),
            info: v1::FrameworkInfo {
                name: "old".into(),
                ..Default::default()
            },
            removed_time: 2.0,
            tasks: vec![task(&gone, &a, "done", TaskState::Finished, 10.0)],
        });
        (core, a)
    }

    fn page(core: &MasterCore, q: PageQuery) -> (u64, Vec<String>) {
        let v = tasks(core, &q);
        let ids = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        (v["total"].as_u64().unwrap(), ids)
    }

    #[test]
    fn task_pages_are_disjoint_newest_first_and_include_removed_frameworks() {
        let (core, _) = cluster();
        let q = |offset| PageQuery {
            offset,
            limit: Some(50),
            ..Default::default()
        };
        let (total, first) = page(&core, q(0));
        assert_eq!(total, 121);
        assert_eq!(first[0], "t119");
        assert_eq!(first[49], "t70");
        let (_, second) = page(&core, q(50));
        assert_eq!(second[0], "t69");
        let (_, last) = page(&core, q(100));
        assert_eq!(last.len(), 21);
        assert_eq!(last.last().unwrap(), "done", "the removed framework's task");
        assert_eq!(page(&core, q(500)).1.len(), 0);
        let finished = PageQuery {
            state: Some("TASK_FINISHED".into()),
            ..Default::default()
        };
        assert_eq!(page(&core, finished), (1, vec!["done".to_owned()]));
        let v = tasks(&core, &q(0));
        assert_eq!(v["items"][0]["framework_name"], "web");
        assert_eq!(v["items"][0]["agent_hostname"], "127.0.0.1");
        let detail = task_detail(&core, "gone", "done").expect("a removed framework's task");
        assert_eq!(detail["framework_name"], "old");
    }

    #[test]
    fn the_overview_counts_ports_per_agent_and_tasks_by_state() {
        let (core, a) = cluster();
        let v = overview(&core, Duration::from_secs(5));
        assert_eq!(v["resources"]["ports"]["total"], 2002);
        assert_eq!(v["resources"]["total"]["cpus"], 8.0);
        assert_eq!(v["tasks_by_state"]["TASK_RUNNING"], 120);
        assert_eq!(v["tasks_by_state"]["TASK_FINISHED"], 1);
        assert_eq!(v["frameworks"][0]["name"], "web");
        assert_eq!(v["frameworks"][0]["failover_in_secs"], 55.0);
        assert_eq!(v["completed_frameworks"][0]["name"], "old");
        let one = agents(
            &core,
            &PageQuery {
                id: Some(a.as_str().to_owned()),
                ..Default::default()
            },
        );
        assert_eq!(one["total"], 1);
        assert_eq!(one["items"][0]["id"], a.as_str());
    }

    fn ids(v: &Value) -> Vec<&str> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn offers_are_paged_newest_first_with_their_age() {
        let (mut core, a) = cluster();
        for i in 0..7u64 {
            let id = strata_api::OfferId(format!("o{i}"));
            let fw = if i % 2 == 0 { "fw" } else { "other" };
            core.offers.insert(
                id.clone(),
                Offer {
                    id,
                    framework_id: FrameworkId(fw.into()),
                    agent_id: a.clone(),
                    resources: "cpus:1".parse().unwrap(),
                    expires_at: None,
                    role: "eng".into(),
                    made_at: Duration::from_secs(i),
                },
            );
        }
        let now = Duration::from_secs(10);
        let q = |framework: Option<&str>, offset, limit| PageQuery {
            framework: framework.map(str::to_owned),
            offset,
            limit: Some(limit),
            ..Default::default()
        };
        let v = offers(&core, now, &q(None, 0, 3));
        assert_eq!(v["total"], 7);
        assert_eq!(ids(&v), ["o6", "o5", "o4"]);
        assert_eq!(v["items"][0]["age_secs"], 4.0);
        assert_eq!(v["items"][0]["made_at"], core.config.start_unix + 6.0);
        assert_eq!(v["items"][0]["role"], "eng");
        assert_eq!(v["items"][0]["hostname"], "127.0.0.1");
        let v = offers(&core, now, &q(Some("fw"), 2, 3));
        assert_eq!(v["total"], 4);
        assert_eq!(ids(&v), ["o2", "o0"]);
        let by_text = PageQuery {
            q: Some("O3".into()),
            ..Default::default()
        };
        assert_eq!(ids(&offers(&core, now, &by_text)), ["o3"]);
    }

    #[test]
    fn frameworks_are_paged_and_the_overview_lists_only_the_largest() {
        let (mut core, _) = cluster();
        for i in 0..30 {
            add_framework(
                &mut core,
                &format!("f{i:02}"),
                &format!("batch-{i}"),
                HashMap::new(),
            );
        }
        let ov = overview(&core, Duration::from_secs(1));
        assert_eq!(
            ov["frameworks"].as_array().unwrap().len(),
            OVERVIEW_FRAMEWORKS
        );
        assert_eq!(ov["frameworks_total"], 31);
        assert!(
            ov.get("recent_offer_events").is_none(),
            "only the stream's snapshot has them"
        );
        assert!(
            subscribed_overview(&core, Duration::from_secs(1))["recent_offer_events"].is_array()
        );
        let page = |q: PageQuery| frameworks(&core, Duration::from_secs(1), &q);
        let v = page(PageQuery {
            offset: 25,
            limit: Some(10),
            ..Default::default()
        });
        assert_eq!(v["total"], 31);
        assert_eq!(ids(&v), ["f25", "f26", "f27", "f28", "f29", "fw"]);
        assert_eq!(v["counts"]["completed"], 1);
        assert_eq!(v["items"][5]["tasks"], 120);
        let v = page(PageQuery {
            q: Some("BATCH-1".into()),
            ..Default::default()
        });
        assert_eq!(v["total"], 11, "batch-1 and batch-10..19");
        let v = page(PageQuery {
            id: Some("fw".into()),
            ..Default::default()
        });
        assert_eq!(v["items"][0]["name"], "web");
        let v = page(PageQuery {
            state: Some("completed".into()),
            ..Default::default()
        });
        assert_eq!(ids(&v), ["gone"]);
    }

    #[test]
    fn roles_show_weights_quota_use_starvation_and_history() {
        let (mut core, _) = cluster();
        core.set_weights(&[("eng".into(), 2.0)]).unwrap();
        core.set_quota(
            "eng",
            "cpus:1".parse().unwrap(),
            Some("cpus:2".parse().unwrap()),
        )
        .unwrap();
        sample_roles(&mut core, Duration::ZERO);
        sample_roles(&mut core, Duration::from_secs(1));
        sample_roles(&mut core, crate::events::ROLE_SAMPLE_EVERY);
        let v = roles(&core, Duration::from_secs(6), &PageQuery::default());
        let by_name = |name: &str| {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["role"] == name)
                .unwrap_or_else(|| panic!("no role {name} in {v}"))
                .clone()
        };
        let eng = by_name("eng");
        assert_eq!(eng["weight"], 2.0);
        assert_eq!(eng["quota"]["guarantee"]["cpus"], 1.0);
        assert_eq!(eng["quota"]["limit"]["cpus"], 2.0);
        let star = by_name("*");
        assert_eq!(star["tasks"], 120);
        assert_eq!(star["used"]["cpus"], 12.0);
        assert_eq!(star["frameworks"], 1);
        let samples = v["history"]["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "a sample every five seconds: {samples:?}");
        assert!(samples[1]["shares"]["eng"].is_number(), "{samples:?}");
        let v = roles(
            &core,
            Duration::from_secs(6),
            &PageQuery {
                q: Some("en".into()),
                ..Default::default()
            },
        );
        assert_eq!(v["total"], 1);
        assert_eq!(v["items"][0]["role"], "eng");
    }

    #[test]
    fn the_overview_is_rendered_once_per_period_and_says_which_event_it_includes() {
        let (mut core, _) = cluster();
        let mut rx = core.events.subscribe();
        let first = overview_cached(&mut core, Duration::from_secs(10));
        assert_eq!(first["as_of_event"], 0);
        core.events.emit("TASK_ADDED", json!({}));
        assert_eq!(rx.try_recv().unwrap().seq(), 1);
        let again = overview_cached(&mut core, Duration::from_millis(10_500));
        assert_eq!(again["as_of_event"], 0, "served from the cache: {again}");
        let later = overview_cached(&mut core, Duration::from_secs(11));
        assert_eq!(later["as_of_event"], 1, "rendered anew: {later}");
        assert_eq!(
            subscribed_overview(&core, Duration::from_secs(11))["as_of_event"],
            1
        );
    }
}
